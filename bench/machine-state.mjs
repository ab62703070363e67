#!/usr/bin/env node
/**
 * Is this machine itself right now, or is something slowing it that the load
 * average does not show? One thread measures the FMA ceiling (registers only,
 * bench/fma-peak.mjs) and then stride's sgemm 256^3, whose operands stay in
 * L2: on a quiet machine the product runs near the ceiling (97% on an Intel
 * Xeon family 6 model 167 on 2026-12-03 04:36Z). When another guest runs on the
 * core's sibling hyper-thread, the load average and the steal time stay low,
 * the register-only probe still reads its full speed, but the product, which
 * needs the core's caches and load ports, falls to half (58% on that machine
 * at 10:00Z the same day, with load average 0.5 and no steal time): every
 * figure measured then is low, and not by one factor for every library. The
 * likeliest cause is another guest on the same physical core; this probe
 * cannot tell, it only measures the effect.
 *
 *   node bench/machine-state.mjs [--dist DIR]    prints the two rates and the share
 *   node bench/machine-state.mjs --json          prints BENCH_RESULT {json} (bench/run.mjs runs it so)
 *
 * Run it before comparing builds or libraries; a share well under 90% means
 * measure later.
 */
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const N = 256;
/** Below this share of the FMA ceiling the report calls the machine disturbed. */
export const DISTURBED_SHARE = 0.8;

/** Best GFLOP/s of a few timed batches of stride's wasm sgemm N^3 on one thread (best: the least disturbed). */
async function sgemmRate(dist) {
  const { createWasmBackend } = await import(pathToFileURL(resolve(dist, "src/kernels/wasm/index.js")).href);
  const backend = await createWasmBackend();
  backend.setThreads(1);
  const a = new Float32Array(N * N).fill(0.5), b = new Float32Array(N * N).fill(0.25), c = new Float32Array(N * N);
  const reps = 20;
  for (let i = 0; i < reps; i++) backend.matmul(a, b, c, N, N, N); // tier-up and warm caches
  let best = 0;
  for (let r = 0; r < 8; r++) {
    const t = performance.now();
    for (let i = 0; i < reps; i++) backend.matmul(a, b, c, N, N, N);
    best = Math.max(best, (2 * N ** 3 * reps) / ((performance.now() - t) / 1000) / 1e9);
  }
  backend.dispose?.();
  return best;
}

/** { fma, sgemm, share, fused }: the FMA ceiling and the cache-resident product, GFLOP/s on one thread. */
export async function machineState(dist) {
  // Imported here: fma-peak.mjs sets a V8 flag, which only the probe's own process should get.
  const { measurePeak } = await import("./fma-peak.mjs");
  const peak = measurePeak();
  const sgemm = await sgemmRate(dist);
  return { fma: peak.gflops, sgemm, share: sgemm / peak.gflops, fused: peak.fused };
}

/** One sentence for a report: "sgemm 256^3 at 20.1 GFLOP/s = 58% of the 34.4 GFLOP/s FMA probe". */
export function describeState(s) {
  return `sgemm ${N}³ at ${s.sgemm.toFixed(1)} GFLOP/s = ${Math.round(100 * s.share)}% of the ${s.fma.toFixed(1)} GFLOP/s FMA probe`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf("--dist");
  const dist = i >= 0 ? process.argv[i + 1] : fileURLToPath(new URL("../dist", import.meta.url));
  const s = await machineState(dist);
  if (process.argv.includes("--json")) {
    console.log(`BENCH_RESULT ${JSON.stringify(s)}`);
  } else {
    console.log(`one thread: ${describeState(s)}`);
    console.log(s.share < DISTURBED_SHARE
      ? "disturbed: cache-bound code runs far below the ceiling, from something the load average does not show; measure later"
      : "quiet enough: the cache-resident product runs near the ceiling");
  }
  process.exit(0);
}
