/**
 * The only runtime-specific part of the wasm backend: how to count cores,
 * start a worker thread, describe the CPU and keep a tuning result. Node uses worker_threads (unref'd, so idle workers
 * never keep a finished program alive); a browser uses Web Workers, which
 * can share a WebAssembly.Memory only when the page is cross-origin isolated.
 */
import { envVar, isNode, nodeProcess } from "../../env.js";

export interface WorkerHandle {
  terminate(): void;
}

/** The CPU as the runtime reports it; cache sizes in bytes (L1d and L2 per core), absent where unknown. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  caches: { l1d?: number; l2?: number; l3?: number };
}

/** A `stride tune` result as saved for one machine. */
export interface SavedTuning {
  blocking: { mc: number; kc: number; nc: number; chunksPerThread: number };
  /** ISO date of the run. */
  date: string;
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
  /** The CPU's model, cores and cache sizes, as far as the runtime tells. */
  machine(): MachineInfo;
  /** A saved tuning for the machine key, or null (none, or nowhere to keep one). */
  loadTuning(key: string): SavedTuning | null;
  /** Saves a tuning for the machine key; returns where, or null where nothing can be kept. */
  saveTuning(key: string, tuning: SavedTuning | null): string | null;
}

// The little of node:worker_threads, node:os and node:v8 used here, typed locally so
// that the core needs no Node type definitions.
interface NodeWorkerThreads {
  Worker: new (source: string, options: { eval: boolean; workerData: unknown }) => { unref(): void; terminate(): Promise<number> };
}
interface NodeOs {
  availableParallelism?: () => number;
  cpus(): { model?: string }[];
  homedir(): string;
}
interface NodeFs {
  readFileSync(path: string, encoding: "utf8"): string;
  writeFileSync(path: string, data: string): void;
  renameSync(from: string, to: string): void;
  mkdirSync(path: string, options: { recursive: boolean }): void;
  readdirSync(path: string): string[];
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
  const fs = builtin<NodeFs>("node:fs");
  const cores = () => (typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length) || 1;
  // STRIDE_CACHE_DIR, else $XDG_CACHE_HOME/stride, else ~/.cache/stride.
  const cacheDir = () => envVar("STRIDE_CACHE_DIR") || `${envVar("XDG_CACHE_HOME") || `${os.homedir()}/.cache`}/stride`;
  const tuningFile = () => `${cacheDir()}/tuning.json`;
  const readEntries = (): Record<string, SavedTuning> => {
    try {
      const parsed = JSON.parse(fs.readFileSync(tuningFile(), "utf8")) as { entries?: Record<string, SavedTuning> };
      return parsed && typeof parsed.entries === "object" && parsed.entries !== null ? parsed.entries : {};
    } catch {
      return {}; // none yet, or unreadable: tuning falls back to the cache sizes
    }
  };
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
    cores,
    machine() {
      return { cpu: (os.cpus()[0]?.model ?? "unknown CPU").trim(), cores: cores(), caches: linuxCaches(fs) };
    },
    loadTuning(key) {
      const e = readEntries()[key];
      return e && typeof e.date === "string" && e.blocking && typeof e.blocking === "object" ? e : null;
    },
    saveTuning(key, tuning) {
      const entries = readEntries();
      if (tuning) entries[key] = tuning;
      else delete entries[key];
      fs.mkdirSync(cacheDir(), { recursive: true });
      // Written aside and renamed in, so that a reader never sees half a file.
      const tmp = `${tuningFile()}.${Date.now()}-${Math.random().toString(36).slice(2)}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify({ version: 1, entries }, null, 2) + "\n");
      fs.renameSync(tmp, tuningFile());
      return tuningFile();
    },
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

/** Cache sizes from Linux's sysfs (cpu0's view); empty elsewhere or when unreadable. */
function linuxCaches(fs: NodeFs): MachineInfo["caches"] {
  const out: MachineInfo["caches"] = {};
  const dir = "/sys/devices/system/cpu/cpu0/cache";
  try {
    for (const entry of fs.readdirSync(dir)) {
      if (!/^index\d+$/.test(entry)) continue;
      const read = (f: string) => fs.readFileSync(`${dir}/${entry}/${f}`, "utf8").trim();
      const level = read("level"), type = read("type");
      const m = /^(\d+)([KMG]?)$/.exec(read("size"));
      if (!m) continue;
      const bytes = Number(m[1]) * ({ "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as Record<string, number>)[m[2]];
      if (level === "1" && type === "Data") out.l1d = bytes;
      else if (level === "2" && type !== "Instruction") out.l2 = bytes;
      else if (level === "3" && type !== "Instruction") out.l3 = bytes;
    }
  } catch {
    // Not Linux, or sysfs hidden: the caller falls back to the built-in blocking.
  }
  return out;
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
    // A page learns neither the CPU's model nor its caches, and keeps no tuning file.
    machine: () => ({ cpu: "unknown CPU (browser)", cores: g.navigator?.hardwareConcurrency ?? 1, caches: {} }),
    loadTuning: () => null,
    saveTuning: () => null,
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
