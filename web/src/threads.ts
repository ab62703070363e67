/**
 * Worker threads for the wasm backend inside this training worker.
 *
 * The backend starts its threads on the first job that wants them and then
 * blocks (Atomics.wait) until they report ready. In Chromium a worker started
 * from a worker is loaded through its parent's event loop, so while the
 * parent blocks the child never starts: the backend waits its 20 s and falls
 * back to one thread. (Reported to the lead: src/kernels/wasm/runtime.ts
 * waitReady() after startWorkers().)
 *
 * So the threads are started here, before any compute, with the backend's
 * own worker script, and the platform's spawn() hands them out already
 * loaded: posting the start message to a running worker needs nothing from
 * the parent's event loop.
 */
import { platform, type WorkerHandle } from "../../src/kernels/wasm/platform.js";
import { workerSource } from "../../src/kernels/wasm/worker.js";

const started: Worker[] = [];

/** Starts `count` backend workers and resolves once each has loaded its script. */
export async function prestartWasmThreads(count: number): Promise<number> {
  if (platform.name !== "browser" || !(self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated || count < 1) return 0;
  const source = workerSource();
  const url = URL.createObjectURL(new Blob([`${source}\nonmessage = (e) => entry(e.data);\npostMessage("loaded");`], { type: "text/javascript" }));
  const loads = Array.from({ length: count }, () => new Promise<Worker | null>((resolve) => {
    const w = new Worker(url);
    w.onmessage = () => resolve(w);
    w.onerror = () => resolve(null);
  }));
  const workers = (await Promise.all(loads)).filter((w): w is Worker => w !== null);
  URL.revokeObjectURL(url);
  started.push(...workers);
  const spawn = platform.spawn.bind(platform);
  (platform as { spawn: typeof platform.spawn }).spawn = (src: string, data: unknown): WorkerHandle | null => {
    const w = src === source ? started.shift() : undefined;
    if (!w) return spawn(src, data);
    w.onmessage = null;
    w.postMessage(data);
    return { terminate: () => w.terminate() };
  };
  return workers.length;
}
