/**
 * The body of every worker thread. It is shipped as source text
 * (workerSource()), so it must not refer to anything outside itself.
 *
 * Protocol over the job block (Int32 slots from jobBase): the caller writes a
 * job, sets PENDING to the number of workers and bumps GEN; each worker runs
 * its share, decrements PENDING and wakes the caller when it reaches zero.
 */

export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  jobBase: number;
  tid: number;
  /** The pool generation this worker belongs to; it exits once the pool is rebuilt. */
  epoch: number;
  spin: number;
}

/** Slot indices (Int32) inside the job block; the kernels read the job id and thread count from the same block. */
export const SLOT_GEN = 0, SLOT_PENDING = 1, SLOT_JOB = 2, SLOT_NTH = 3, SLOT_ERROR = 4, SLOT_READY = 5, SLOT_EPOCH = 6;
/**
 * Float64 slot (index into a Float64Array over the job block) where thread tid
 * adds the milliseconds it spent computing jobs: BUSY_F64 + tid. A separate
 * cache line from the control slots, so the tallies never slow the handshake.
 */
export const BUSY_F64 = 32;
/** Threads whose busy time is tallied (the job block has room for this many). */
export const BUSY_THREADS = 32;

function workerMain(init: WorkerInit): void {
  const GEN = 0, PENDING = 1, NTH = 3, ERROR = 4, READY = 5, EPOCH = 6, BUSY = 32, BUSY_THREADS = 32;
  const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
  const runJob = instance.exports.runJob as (job: number, tid: number) => void;
  // The job block sits below every later growth of memory, so this view stays valid.
  const slots = new Int32Array(init.memory.buffer, init.jobBase, 16);
  const busy = new Float64Array(init.memory.buffer, init.jobBase, BUSY + BUSY_THREADS);
  let seen = Atomics.load(slots, GEN);
  if (Atomics.load(slots, EPOCH) !== init.epoch) return;
  Atomics.add(slots, READY, 1);
  Atomics.notify(slots, READY);
  for (;;) {
    // Spin briefly (the next kernel usually follows within microseconds), then sleep.
    let gen = Atomics.load(slots, GEN);
    for (let i = 0; gen === seen && i < init.spin; i++) gen = Atomics.load(slots, GEN);
    while (gen === seen) {
      Atomics.wait(slots, GEN, seen);
      gen = Atomics.load(slots, GEN);
    }
    seen = gen;
    if (Atomics.load(slots, EPOCH) !== init.epoch) return;
    if (init.tid < Atomics.load(slots, NTH)) {
      const t0 = performance.now();
      try {
        runJob(init.jobBase, init.tid);
      } catch {
        Atomics.store(slots, ERROR, 1);
      }
      if (init.tid < BUSY_THREADS) busy[BUSY + init.tid] += performance.now() - t0;
    }
    if (Atomics.sub(slots, PENDING, 1) === 1) Atomics.notify(slots, PENDING);
  }
}

/** The worker script: defines `entry(init)`; the platform appends the call. */
export function workerSource(): string {
  return `"use strict";\nconst entry = ${workerMain.toString()};`;
}
