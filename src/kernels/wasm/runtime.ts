/**
 * One shared WebAssembly.Memory, the kernel module instantiated on it by the
 * calling thread and by every worker, a resident heap for arrays that live in
 * wasm memory (trained parameters, step arenas), a bump arena for the
 * operands of one call, and the dispatch of one job to all threads.
 *
 * Memory layout: [module data | job block | resident heap | arena]; the job
 * block's layout and the jobs' arguments are generated from one table
 * (scripts/wasm-abi/kernels.mjs) for both sides.
 * The arena starts where the resident heap ends; resident arrays are only
 * allocated or freed between kernel calls (JavaScript is single-threaded and
 * every call is synchronous), so moving the arena's start then is safe.
 */
import { SIMD_WASM_BASE64, RELAXED_WASM_BASE64 } from "./generated/kernels.js";
import { JOB_ARGS_BYTE, JOB_BLOCK_BYTES, JOB_BLOCKING_BYTE, JOB_COUNTER_BYTE, KERNEL_EXPORT_ARITY, type KernelExports } from "./generated/abi.js";
import { followTuning, type GemmBlocking } from "./tuning.js";
import { platform, type WorkerHandle } from "./platform.js";
import { StrideError } from "../../stride-error.js";
import {
  workerSource, SLOT_GEN, SLOT_PENDING, SLOT_JOB, SLOT_NTH, SLOT_ERROR, SLOT_READY, SLOT_EPOCH, BUSY_F64, BUSY_THREADS,
} from "./worker.js";

const PAGE = 65536;
/** The wasm32 limit, as declared by the module (--maximumMemory). */
const MAX_PAGES = 65536;
const INITIAL_PAGES = 32;
/**
 * At most this much of the 4 GiB is resident arrays (VGG-16's weights are
 * 553 MB); the rest stays for the operands and workspaces of calls.
 */
const RESIDENT_LIMIT_BYTES = 1536 * 1024 * 1024;
/** How long a thread spins on an atomic before sleeping (loop iterations). */
const SPIN = 10000;

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A module that uses one v128 instruction: tells whether this runtime has 128-bit SIMD. */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);
/** A module that uses f32x4.relaxed_madd (0xfd 0x85 0x02). */
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 19, 1, 17, 0,
  65, 0, 253, 15, 65, 0, 253, 15, 65, 0, 253, 15, 253, 133, 2, 11,
]);

function validates(bytes: Uint8Array<ArrayBuffer>): boolean {
  try {
    return WebAssembly.validate(bytes);
  } catch {
    return false;
  }
}

/**
 * Whether this runtime can run the wasm backend at all: WebAssembly with
 * 128-bit SIMD. Threads need shared memory too (threadsUnavailableReason);
 * without it the backend runs on one thread.
 */
export function wasmSupported(): boolean {
  return typeof WebAssembly === "object" && typeof Atomics === "object" && validates(SIMD_PROBE);
}

/**
 * Why the wasm backend cannot use worker threads here, with what to do about
 * it, or null if it can. STRIDE_WASM_SHARED=0 (Node) forces one thread on
 * non-shared memory, as a page that is not cross-origin isolated gets it.
 */
export function threadsUnavailableReason(): string | null {
  const g = globalThis as { crossOriginIsolated?: boolean; document?: unknown; process?: { env?: Record<string, string | undefined> } };
  if (g.process?.env?.STRIDE_WASM_SHARED === "0") return "STRIDE_WASM_SHARED=0 turned shared memory off";
  if (g.crossOriginIsolated === false || typeof SharedArrayBuffer !== "function") {
    return "the page is not cross-origin isolated, so it has no SharedArrayBuffer: serve it with the headers " +
      "Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp to use every core";
  }
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch {
    return "this runtime cannot create a shared WebAssembly.Memory";
  }
  return null;
}

/**
 * The kernel module is built to import a shared memory; on one thread it must
 * import an ordinary one. The memory import's limits flag says which (0x03:
 * shared with a maximum, 0x01: a maximum), so that one byte is rewritten.
 */
function unsharedMemoryImport(bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const out = bytes.slice();
  let at = 8;
  const uleb = (): number => {
    let result = 0, shift = 0, b: number;
    do {
      b = out[at++];
      result += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return result;
  };
  while (at < out.length) {
    const id = out[at++];
    const size = uleb();
    const end = at + size;
    if (id === 2) {
      for (let n = uleb(); n > 0; n--) {
        for (let name = 0; name < 2; name++) {
          const length = uleb(); // module name, then field name (uleb moves `at`, so not `at += uleb()`)
          at += length;
        }
        const kind = out[at++];
        if (kind === 2) {
          if (out[at] !== 0x03) throw new Error(`wasm backend: unexpected memory limits flag 0x${out[at].toString(16)} in the kernel module`);
          out[at] = 0x01;
          return out;
        }
        if (kind === 0) uleb();
        else if (kind === 1) { at++; const f = out[at++]; uleb(); if (f & 1) uleb(); }
        else if (kind === 3) at += 2;
        else throw new Error(`wasm backend: unknown import kind ${kind} in the kernel module`);
      }
    }
    at = end;
  }
  throw new Error("wasm backend: the kernel module imports no memory");
}

let relaxedChecked: boolean | null = null;

/**
 * Whether the relaxed-SIMD build can run here, after turning the feature on
 * where the runtime has it behind a flag (Node 20). Decided once per process.
 */
export function relaxedSimdSupported(): boolean {
  if (relaxedChecked === null) {
    relaxedChecked = validates(RELAXED_PROBE);
    if (!relaxedChecked && platform.enableRelaxedSimd()) relaxedChecked = validates(RELAXED_PROBE);
  }
  return relaxedChecked;
}


/** Checks that the module exports every function the loader calls, with the parameters the ABI table gives them. */
export function checkExports(exports: WebAssembly.Exports): KernelExports {
  for (const [name, arity] of Object.entries(KERNEL_EXPORT_ARITY)) {
    const f = exports[name];
    if (typeof f !== "function" || f.length !== arity) {
      throw new StrideError(
        `wasm backend: the kernel module's export ${name} is missing or has the wrong parameters; ` +
          "src/kernels/wasm/generated/kernels.ts is older than the ABI table: run node scripts/build-wasm.mjs --force",
      );
    }
  }
  return exports as unknown as KernelExports;
}

export class WasmRuntime {
  readonly memory: WebAssembly.Memory;
  readonly module: WebAssembly.Module;
  readonly exports: KernelExports;
  readonly relaxed: boolean;
  /**
   * Whether the memory is shared (worker threads possible). An unshared
   * memory's buffer is replaced (the old one detached) when it grows, so then
   * nothing outside the runtime may hold a view of it: no resident arrays.
   */
  readonly shared: boolean;
  /** Why there are no worker threads, when the memory is not shared. */
  readonly threadsOffReason: string | null;
  readonly jobBase: number;
  /** The GEMM blocking the kernels use now (tuning.ts): packs made for the GEMM depend on it. */
  blocking!: GemmBlocking;
  /** The Int32 index of the job's first argument slot (the generated writers store from there). */
  readonly argsIndex: number;
  /** Where the resident heap (and so the arena) currently ends. */
  private heapEnd: number;
  /** Freed resident blocks [address, bytes], sorted by address, adjacent ones merged. */
  private freeBlocks: [number, number][] = [];
  /** Bytes of live resident blocks, and the most there may be (the rest stays for the arena). */
  private liveResidentBytes = 0;
  private readonly residentLimit = RESIDENT_LIMIT_BYTES;
  /** Every ArrayBuffer object this memory has had (one per grow): arrays over them are resident. */
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  /** The block under each live resident array, so that freeResident can give it back (once). */
  private readonly blocks = new WeakMap<Float32Array, ResidentBlock>();
  /** Frees a resident block once the array over it has been collected (unless freeResident did first). */
  private readonly collector = new FinalizationRegistry<ResidentBlock>((block) => this.releaseBlock(block.at, block.bytes));
  private arenaBase: number;
  private top: number;
  /** Views of the whole memory; re-created after every grow. */
  f32!: Float32Array;
  i32!: Int32Array;
  private slots!: Int32Array;
  private busy!: Float64Array;
  /** Wall milliseconds of multi-threaded jobs, from dispatch until the last thread finished, and their count. */
  private parallelWallMs = 0;
  private parallelJobs = 0;
  private workers: WorkerHandle[] = [];
  private threads = 1;
  private ready = false;
  private epoch = 0;

  constructor() {
    this.relaxed = relaxedSimdSupported();
    this.threadsOffReason = threadsUnavailableReason();
    this.shared = this.threadsOffReason === null;
    const bytes = decodeBase64(this.relaxed ? RELAXED_WASM_BASE64 : SIMD_WASM_BASE64);
    this.module = new WebAssembly.Module(this.shared ? bytes : unsharedMemoryImport(bytes));
    this.memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAX_PAGES, shared: this.shared });
    const instance = new WebAssembly.Instance(this.module, { env: { memory: this.memory } });
    this.exports = checkExports(instance.exports);
    this.jobBase = align(this.exports.heapBase(), 64);
    this.argsIndex = (this.jobBase + JOB_ARGS_BYTE) >>> 2;
    this.heapEnd = align(this.jobBase + JOB_BLOCK_BYTES, 64);
    this.arenaBase = this.heapEnd;
    this.top = this.arenaBase;
    this.refreshViews();
    followTuning(this);
  }

  /**
   * Takes a new GEMM blocking (tuning.ts): this thread's instance now, the
   * workers' instances from the job block before their next job.
   */
  applyBlocking(b: GemmBlocking): void {
    this.blocking = { mc: b.mc, kc: b.kc, nc: b.nc, chunksPerThread: b.chunksPerThread };
    const at = (this.jobBase + JOB_BLOCKING_BYTE) >>> 2;
    this.i32[at] = b.mc;
    this.i32[at + 1] = b.kc;
    this.i32[at + 2] = b.nc;
    this.i32[at + 3] = b.chunksPerThread;
    this.exports.setBlocking(b.mc, b.kc, b.nc, b.chunksPerThread);
  }

  /**
   * Where multi-threaded jobs spent their time since the last reset: each
   * thread's milliseconds inside the kernels (index = thread id) and the jobs'
   * wall time. Wall time minus a thread's busy time is what that thread
   * waited, for the slowest thread or for the hand-off.
   */
  threadStats(): { busyMs: number[]; parallelWallMs: number; parallelJobs: number } {
    return {
      busyMs: Array.from(this.busy.subarray(BUSY_F64, BUSY_F64 + this.threads)),
      parallelWallMs: this.parallelWallMs,
      parallelJobs: this.parallelJobs,
    };
  }

  resetThreadStats(): void {
    this.busy.fill(0, BUSY_F64);
    this.parallelWallMs = 0;
    this.parallelJobs = 0;
  }

  private refreshViews(): void {
    const buf = this.memory.buffer;
    this.buffers.add(buf);
    this.f32 = new Float32Array(buf);
    this.i32 = new Int32Array(buf);
    this.slots = new Int32Array(buf, this.jobBase, JOB_ARGS_BYTE >>> 2);
    this.busy = new Float64Array(buf, this.jobBase, BUSY_F64 + BUSY_THREADS);
  }

  // ---- resident arrays ---------------------------------------------------

  /** Whether the array lives in this memory (kernels then read and write it in place). */
  isResident(a: Float32Array | Int32Array): boolean {
    return this.buffers.has(a.buffer);
  }

  /**
   * A zeroed Float32Array of n floats inside wasm memory, so that kernels use
   * it without copying; freed by freeResident, or when the garbage collector
   * collects the array (which may be late: the collector does not count wasm
   * memory as pressure). Null when the resident heap is at its limit (the
   * caller then uses an ordinary array, which kernels copy). Views of the
   * array (subarray) must not outlive it: the block is reused once it is freed.
   */
  allocResident(n: number): Float32Array | null {
    if (!this.shared) return null; // a grow would detach it (see `shared`)
    const bytes = align(Math.max(1, n) * 4, 64);
    if (this.liveResidentBytes + bytes > this.residentLimit) return null;
    let at = -1;
    for (let i = 0; i < this.freeBlocks.length; i++) {
      const [start, size] = this.freeBlocks[i];
      if (size < bytes) continue;
      at = start;
      if (size === bytes) this.freeBlocks.splice(i, 1);
      else this.freeBlocks[i] = [start + bytes, size - bytes];
      break;
    }
    if (at < 0) {
      at = this.heapEnd;
      try {
        this.ensure(at + bytes);
      } catch {
        return null; // the memory cannot grow (4 GiB, or the browser refused): the caller uses an ordinary array
      }
      this.heapEnd = at + bytes;
      this.arenaBase = this.top = this.heapEnd;
    }
    this.liveResidentBytes += bytes;
    const view = new Float32Array(this.memory.buffer, at, n);
    this.exports.zeroBytes(at, bytes); // a reused block holds an old array's numbers
    const block = { at, bytes };
    this.blocks.set(view, block);
    this.collector.register(view, block, block);
    return view;
  }

  /**
   * Gives the block under a resident array back now, without waiting for a
   * collection. Neither the array nor any view of it may be used afterwards
   * (the next allocation reuses the memory). Arrays that allocResident did
   * not return, and a second call, are ignored.
   */
  freeResident(array: Float32Array): void {
    const block = this.blocks.get(array);
    if (!block) return;
    this.blocks.delete(array);
    this.collector.unregister(block);
    this.releaseBlock(block.at, block.bytes);
  }

  /** Bytes of resident arrays not yet freed (64-byte aligned blocks). */
  get residentBytes(): number {
    return this.liveResidentBytes;
  }

  private releaseBlock(at: number, bytes: number): void {
    this.liveResidentBytes -= bytes;
    const blocks = this.freeBlocks;
    let i = 0;
    while (i < blocks.length && blocks[i][0] < at) i++;
    blocks.splice(i, 0, [at, bytes]);
    // Merge with the following and the preceding block.
    if (i + 1 < blocks.length && blocks[i][0] + blocks[i][1] === blocks[i + 1][0]) {
      blocks[i][1] += blocks[i + 1][1];
      blocks.splice(i + 1, 1);
    }
    if (i > 0 && blocks[i - 1][0] + blocks[i - 1][1] === blocks[i][0]) {
      blocks[i - 1][1] += blocks[i][1];
      blocks.splice(i, 1);
      i--;
    }
    // A free block at the end gives its space back to the arena.
    const last = blocks[blocks.length - 1];
    if (last && last[0] + last[1] === this.heapEnd) {
      this.heapEnd = last[0];
      blocks.pop();
      this.arenaBase = this.top = this.heapEnd;
    }
  }

  /** Grows the memory so that it holds `end` bytes. */
  private ensure(end: number): void {
    if (end <= this.memory.buffer.byteLength) return;
    const pages = Math.ceil((end - this.memory.buffer.byteLength) / PAGE);
    // Grow by at least a quarter so that a growing workload does not grow on every call.
    const current = this.memory.buffer.byteLength / PAGE;
    const want = Math.min(MAX_PAGES - current, Math.max(pages, Math.ceil(current / 4)));
    if (want < pages) throw new RangeError(`wasm backend: needs ${end} bytes of memory, over the 4 GiB limit`);
    try {
      this.memory.grow(want);
    } catch (e) {
      throw new RangeError(
        `wasm backend: out of memory: growing its WebAssembly memory to ${(end / 2 ** 20).toFixed(0)} MB failed ` +
          `(${e instanceof Error ? e.message : String(e)}); use a smaller batch or model, or setBackend("js")`,
      );
    }
    this.refreshViews();
  }

  // ---- arena -------------------------------------------------------------

  /** Forgets every allocation; call at the start of each kernel call. */
  reset(): void {
    this.top = this.arenaBase;
  }

  /** Reserves `bytes` (64-byte aligned) and returns the byte address; grows memory as needed. */
  allocBytes(bytes: number): number {
    const at = this.top;
    const end = align(at + bytes, 64);
    this.ensure(end);
    this.top = end;
    return at;
  }

  alloc(floats: number): number {
    return this.allocBytes(floats * 4);
  }

  /**
   * The byte address of `src` in wasm memory: its own for a resident array,
   * otherwise a fresh arena allocation it is copied into.
   */
  put(src: Float32Array | Int32Array): number {
    if (this.buffers.has(src.buffer)) return src.byteOffset;
    const at = this.allocBytes(src.length * 4);
    if (src instanceof Float32Array) this.f32.set(src, at >>> 2);
    else this.i32.set(src, at >>> 2);
    return at;
  }

  /**
   * Where a kernel writes a result destined for `dst`: dst itself when it is
   * resident (the later getF32 is then a no-op), else a fresh arena block.
   */
  out(dst: Float32Array | Int32Array): number {
    if (this.buffers.has(dst.buffer)) return dst.byteOffset;
    return this.allocBytes(dst.length * 4);
  }

  /** Copies floats out of wasm memory (nothing to do when dst is the resident array at that address). */
  getF32(at: number, dst: Float32Array): void {
    if (dst.byteOffset === at && this.buffers.has(dst.buffer)) return;
    dst.set(this.f32.subarray(at >>> 2, (at >>> 2) + dst.length));
  }

  getI32(at: number, dst: Int32Array): void {
    if (dst.byteOffset === at && this.buffers.has(dst.buffer)) return;
    dst.set(this.i32.subarray(at >>> 2, (at >>> 2) + dst.length));
  }

  // ---- threads -----------------------------------------------------------

  get threadCount(): number {
    return this.threads;
  }

  /**
   * Uses n threads (the caller and n - 1 workers); 1 runs everything on the
   * caller. Workers start on the first job that wants them, not here.
   */
  setThreads(n: number): void {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`setThreads: n = ${n} is not valid; pass a whole number >= 1 (1 disables worker threads)`);
    }
    if (!platform.canBlock || !this.shared) n = 1; // a browser's main thread may not wait for workers; no shared memory, no workers
    if (n === this.threads) return;
    this.stopWorkers();
    this.threads = n;
  }

  private startWorkers(): void {
    const n = this.threads;
    this.epoch++;
    Atomics.store(this.slots, SLOT_EPOCH, this.epoch);
    Atomics.store(this.slots, SLOT_READY, 0);
    const source = workerSource();
    for (let tid = 1; tid < n; tid++) {
      const w = platform.spawn(source, {
        module: this.module, memory: this.memory, jobBase: this.jobBase, tid, epoch: this.epoch, spin: SPIN,
      });
      if (!w) break;
      this.workers.push(w);
    }
    this.threads = this.workers.length + 1;
    this.ready = false;
  }

  private stopWorkers(): void {
    if (this.workers.length === 0) return;
    // Old workers exit when they see a new epoch; terminate() makes sure.
    Atomics.store(this.slots, SLOT_EPOCH, ++this.epoch);
    Atomics.add(this.slots, SLOT_GEN, 1);
    Atomics.notify(this.slots, SLOT_GEN);
    for (const w of this.workers) w.terminate();
    this.workers = [];
  }

  /**
   * Starts the workers and waits for them without blocking this thread (a
   * browser worker's own workers may need its event loop to receive their
   * start message; blocking in Atomics.wait before they have it can starve
   * them until the 20 s limit). Resolves to the number of threads.
   */
  async startThreads(): Promise<number> {
    if (this.threads > 1 && this.workers.length !== this.threads - 1) this.startWorkers();
    const deadline = Date.now() + 20000;
    while (!this.ready && this.workers.length > 0 && Atomics.load(this.slots, SLOT_READY) < this.workers.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    if (this.workers.length > 0) this.waitReady();
    return this.threads;
  }

  /** Waits (once) until every worker has instantiated the module; gives up on threads after 20 s. */
  private waitReady(): boolean {
    if (this.ready) return true;
    const want = this.workers.length;
    const deadline = Date.now() + 20000;
    for (;;) {
      const have = Atomics.load(this.slots, SLOT_READY);
      if (have >= want) break;
      const left = deadline - Date.now();
      if (left <= 0) {
        console.warn(`wasm backend: only ${have} of ${want} worker threads started within 20 s; continuing on one thread`);
        this.stopWorkers();
        this.threads = 1;
        return false;
      }
      Atomics.wait(this.slots, SLOT_READY, have, Math.min(left, 100));
    }
    this.ready = true;
    return true;
  }

  /**
   * Runs job `id` (arguments already written by its generated writer, which returns the id) on `nth` threads: the caller
   * takes share 0 and waits for the workers; returns when all are done,
   * with the number of threads that took part.
   */
  run(id: number, nth: number): number {
    const s = this.slots;
    nth = Math.max(1, Math.min(nth, this.threads));
    if (nth > 1 && this.workers.length !== this.threads - 1) this.startWorkers();
    nth = Math.min(nth, this.workers.length + 1);
    if (nth > 1 && !this.waitReady()) nth = 1;
    s[SLOT_JOB] = id;
    s[SLOT_NTH] = nth;
    this.i32[(this.jobBase + JOB_COUNTER_BYTE) >>> 2] = 0; // published to the workers by the Atomics.add on GEN
    if (nth === 1) {
      this.exports.runJob(this.jobBase, 0);
      return 1;
    }
    const workers = this.workers.length;
    const t0 = performance.now();
    Atomics.store(s, SLOT_ERROR, 0);
    Atomics.store(s, SLOT_PENDING, workers);
    Atomics.add(s, SLOT_GEN, 1);
    Atomics.notify(s, SLOT_GEN);
    let failure: unknown = null;
    const t1 = performance.now();
    try {
      this.exports.runJob(this.jobBase, 0);
    } catch (e) {
      failure = e;
    }
    this.busy[BUSY_F64] += performance.now() - t1;
    // Never return (or throw) while a worker still runs this job.
    let pending = Atomics.load(s, SLOT_PENDING);
    for (let i = 0; pending !== 0 && i < SPIN; i++) pending = Atomics.load(s, SLOT_PENDING);
    while (pending !== 0) {
      Atomics.wait(s, SLOT_PENDING, pending);
      pending = Atomics.load(s, SLOT_PENDING);
    }
    this.parallelWallMs += performance.now() - t0;
    this.parallelJobs++;
    if (failure) throw failure;
    if (Atomics.load(s, SLOT_ERROR) !== 0) throw new Error(`wasm backend: a worker thread failed in job ${id}`);
    return nth;
  }
}

/** Where a resident array lives: its byte address and its block's size. */
interface ResidentBlock {
  at: number;
  bytes: number;
}

function align(x: number, to: number): number {
  return Math.ceil(x / to) * to;
}
