/**
 * The only runtime-specific part of the wasm backend: how to count cores and
 * start a worker thread. Node uses worker_threads (unref'd, so idle workers
 * never keep a finished program alive); a browser uses Web Workers, which
 * can share a WebAssembly.Memory only when the page is cross-origin isolated.
 */
import { envVar, isNode, nodeProcess } from "../../env.js";

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
  /**
   * Turns on relaxed SIMD where the runtime has it behind a flag (Node 20's
   * V8 11.3 implements it completely but ships it flagged; Node 22 and
   * Chromium 114+ have it on). Returns whether a flag was set.
   */
  enableRelaxedSimd(): boolean;
  /**
   * Starts `count` workers for `source` ahead of time and resolves once they
   * have loaded; spawn() then hands them out. Needed in a browser, where a
   * worker's own workers load through its event loop, which is blocked while
   * the backend waits for them. Resolves to the number started.
   */
  preload(source: string, count: number): Promise<number>;
}

// The little of node:worker_threads, node:os and node:v8 used here, typed locally so
// that the core needs no Node type definitions.
interface NodeWorkerThreads {
  Worker: new (source: string, options: { eval: boolean; workerData: unknown }) => { unref(): void; terminate(): Promise<number> };
}
interface NodeOs {
  availableParallelism?: () => number;
  cpus(): unknown[];
}
interface NodeV8 {
  setFlagsFromString?: (flags: string) => void;
}

/**
 * Node's built-ins without an import statement (process.getBuiltinModule,
 * Node 20.16+): a bundler building for the browser then has nothing to
 * resolve or stub, and the module needs no top-level await, which some
 * bundles (classic workers) cannot hold.
 */
function builtin<T>(name: string): T {
  const get = nodeProcess?.getBuiltinModule;
  if (!get) throw new Error(`stride needs Node 20.16 or newer (process.getBuiltinModule); this is Node ${nodeProcess?.versions?.node}: upgrade Node`);
  return get(name) as T;
}

function nodePlatform(): Platform {
  const wt = builtin<NodeWorkerThreads>("node:worker_threads");
  const os = builtin<NodeOs>("node:os");
  const v8 = builtin<NodeV8>("node:v8");
  return {
    name: "node",
    canBlock: true,
    enableRelaxedSimd() {
      // The fused multiply-add makes GEMM about 1.35x faster (bench/kernels.mjs);
      // STRIDE_RELAXED_SIMD=0 keeps the process's V8 flags untouched.
      if (envVar("STRIDE_RELAXED_SIMD") === "0" || typeof v8.setFlagsFromString !== "function") return false;
      v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
      return true;
    },
    cores: () => (typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length) || 1,
    spawn(source, data) {
      // Eval'd worker scripts are CommonJS: `require` is there.
      const w = new wt.Worker(`${source}\nentry(require("node:worker_threads").workerData);`, { eval: true, workerData: data });
      w.unref();
      return { terminate: () => void w.terminate() };
    },
    // Node starts worker threads without the caller's event loop: nothing to prepare.
    preload: async () => 0,
  };
}

function browserPlatform(): Platform {
  const g = globalThis as unknown as {
    crossOriginIsolated?: boolean;
    navigator?: { hardwareConcurrency?: number };
    Worker?: new (url: string) => unknown;
    document?: unknown;
  };
  type BrowserWorker = { postMessage(d: unknown): void; terminate(): void; onmessage: ((e: unknown) => void) | null; onerror: ((e: unknown) => void) | null };
  const loaded: { source: string; worker: BrowserWorker }[] = [];
  const script = (source: string, announce: boolean) =>
    URL.createObjectURL(new Blob([`${source}\nonmessage = (e) => entry(e.data);${announce ? '\npostMessage("loaded");' : ""}`], { type: "text/javascript" }));
  return {
    name: "browser",
    // A page's main thread must not block; a worker may.
    canBlock: g.document === undefined,
    enableRelaxedSimd: () => false,
    cores: () => g.navigator?.hardwareConcurrency ?? 1,
    spawn(source, data) {
      if (!g.Worker || !g.crossOriginIsolated) return null;
      const ready = loaded.findIndex((l) => l.source === source);
      // A preloaded worker needs nothing from this thread's event loop to receive its start message.
      const w = ready >= 0 ? loaded.splice(ready, 1)[0].worker : (new g.Worker(script(source, false)) as BrowserWorker);
      w.onmessage = null;
      w.postMessage(data);
      return { terminate: () => w.terminate() };
    },
    async preload(source, count) {
      if (!g.Worker || !g.crossOriginIsolated || count < 1) return 0;
      const url = script(source, true);
      const workers = await Promise.all(Array.from({ length: count }, () => new Promise<BrowserWorker | null>((resolve) => {
        const w = new g.Worker!(url) as BrowserWorker;
        w.onmessage = () => resolve(w);
        w.onerror = () => resolve(null);
      })));
      URL.revokeObjectURL(url);
      for (const worker of workers) if (worker) loaded.push({ source, worker });
      return workers.filter(Boolean).length;
    },
  };
}


export const platform: Platform = isNode ? nodePlatform() : browserPlatform();
