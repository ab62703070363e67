/**
 * The only runtime-specific part of the wasm backend: how to count cores and
 * start a worker thread. Node uses worker_threads (unref'd, so idle workers
 * never keep a finished program alive); a browser uses Web Workers, which
 * can share a WebAssembly.Memory only when the page is cross-origin isolated.
 */

export interface WorkerHandle {
  terminate(): void;
}

export interface Platform {
  readonly name: "node" | "browser" | "none";
  /** Logical cores available to this process. */
  cores(): number;
  /** Starts a worker that runs `source` (a script calling its entry with `data`), or null if impossible. */
  spawn(source: string, data: unknown): WorkerHandle | null;
  /** Whether this thread may block in Atomics.wait (not a browser's main thread). */
  readonly canBlock: boolean;
}

type NodeWorkerThreads = typeof import("node:worker_threads");
type NodeOs = typeof import("node:os");

async function nodePlatform(): Promise<Platform> {
  const wt: NodeWorkerThreads = await import("node:worker_threads");
  const os: NodeOs = await import("node:os");
  return {
    name: "node",
    canBlock: true,
    cores: () => (typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length) || 1,
    spawn(source, data) {
      // Eval'd worker scripts are CommonJS: `require` is there.
      const w = new wt.Worker(`${source}\nentry(require("node:worker_threads").workerData);`, { eval: true, workerData: data });
      w.unref();
      return { terminate: () => void w.terminate() };
    },
  };
}

function browserPlatform(): Platform {
  const g = globalThis as unknown as {
    crossOriginIsolated?: boolean;
    navigator?: { hardwareConcurrency?: number };
    Worker?: new (url: string) => { postMessage(d: unknown): void; terminate(): void };
    document?: unknown;
  };
  return {
    name: "browser",
    // A page's main thread must not block; a worker may.
    canBlock: g.document === undefined,
    cores: () => g.navigator?.hardwareConcurrency ?? 1,
    spawn(source, data) {
      if (!g.Worker || !g.crossOriginIsolated) return null;
      const url = URL.createObjectURL(new Blob([`${source}\nonmessage = (e) => entry(e.data);`], { type: "text/javascript" }));
      const w = new g.Worker(url);
      w.postMessage(data);
      return { terminate: () => w.terminate() };
    },
  };
}

const isNode = typeof process !== "undefined" && typeof process.versions?.node === "string";

export const platform: Platform = isNode ? await nodePlatform() : browserPlatform();
