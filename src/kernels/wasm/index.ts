/**
 * The wasm backend: AssemblyScript kernels with 128-bit SIMD (relaxed SIMD
 * when the runtime has it) and worker threads over one shared memory.
 *
 *   import { createWasmBackend, wasmSupported } from "./wasm/index.js";
 *   if (wasmSupported()) registerBackend(createWasmBackend());
 */
import { envVar } from "../../env.js";
import { platform } from "./platform.js";
import { WasmBackend } from "./backend.js";
import { wasmSupported, relaxedSimdSupported, threadsUnavailableReason } from "./runtime.js";
import { workerSource } from "./worker.js";
import { tuneBlockingOn, type TuneOptions, type TuneResult } from "./autotune.js";

export { WasmBackend, wasmSupported, relaxedSimdSupported, threadsUnavailableReason };
export { getTuning, setTuning, saveMachineTuning, blockingFromCaches, TuningError, BUILT_IN_BLOCKING } from "./tuning.js";
export type { GemmBlocking, KernelTuning } from "./tuning.js";
export type { MachineInfo } from "./platform.js";
export type { TuneOptions, TuneResult, TunedCandidate } from "./autotune.js";

let shared: WasmBackend | null = null;

/** The process-wide wasm backend (one shared memory and one thread pool), created on first use. */
export function createWasmBackend(): WasmBackend {
  if (!shared) {
    if (!wasmSupported()) {
      throw new Error(
        "wasm backend: this runtime lacks WebAssembly 128-bit SIMD (Chrome 91+, Firefox 89+, Safari 16.4+, Node 16.4+); " +
          "use the js backend (setBackend(\"js\"))",
      );
    }
    shared = new WasmBackend(defaultThreads());
  }
  return shared;
}

/** All cores by default (one without shared memory); the STRIDE_THREADS environment variable overrides it in Node. */
export function defaultThreads(): number {
  if (threadsUnavailableReason() !== null) return 1;
  const env = envVar("STRIDE_THREADS");
  const n = env !== undefined ? Number(env) : platform.cores();
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

/** Sets the number of threads of the wasm backend (1 = no workers). */
export function setThreads(n: number): void {
  createWasmBackend().setThreads(n);
}

/** The number of threads the wasm backend uses (or will use once created). */
export function getThreads(): number {
  return shared ? shared.threads : defaultThreads();
}

/**
 * In a browser's Web Worker, starts the wasm backend's threads before any
 * compute and resolves when they are ready (await it once before training).
 * A worker's own workers load through its event loop, which the backend
 * blocks while it computes, so they must be started ahead. A no-op in Node.
 */
export async function prepareThreads(): Promise<number> {
  const want = getThreads() - 1;
  if (want < 1) return 0;
  const started = await platform.preload(workerSource(), want);
  // Hand the workers their start message now, while this thread is free, rather than in the first job.
  if (started > 0) await createWasmBackend().startThreads();
  return started;
}

/**
 * A short self-tuning run (about a minute; `quick`: seconds) of the GEMM's
 * cache blocking on the process's wasm backend: a few products shaped like
 * convolutions, timed for blockings around the one in use, one parameter at
 * a time. The fastest is in use afterwards; saveMachineTuning(result.best.blocking)
 * keeps it for later processes (what `stride tune` does). Timings on a busy
 * machine are noise: tune when it is quiet.
 */
export function tuneBlocking(options: TuneOptions = {}): TuneResult {
  return tuneBlockingOn(createWasmBackend(), options);
}
