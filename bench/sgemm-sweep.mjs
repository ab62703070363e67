#!/usr/bin/env node
// stride's sgemm from 128^3 to 2048^3 on one and two threads, each as a share
// of the machine's multiply-add ceiling (fmaCeiling: twelve independent
// four-lane FMA chains per core, no memory traffic) and of the best size, with
// the blocking in use and where it came from. Wall time, fastest of at least
// five timings and 0.6 s (noise on a shared machine only adds time).
//
//   node bench/sgemm-sweep.mjs [--dist DIR] [--quick] [--json]
//
// Also imported by bench/run.mjs, which puts the table in BENCHMARKS.md.
import { pathToFileURL, fileURLToPath } from "node:url";
import { resolve, dirname } from "node:path";
import { existsSync } from "node:fs";

const here = dirname(fileURLToPath(import.meta.url));
export const SWEEP_SIZES = [128, 256, 384, 512, 768, 1024, 1536, 2048];

/** Runs the sweep against the build in `dist` (default ../dist); returns rows and the ceiling. */
export async function sgemmSweep({ dist = resolve(here, "../dist"), quick = false, threads = [1, 2] } = {}) {
  // dist is a build (dist/) or its src folder (what run.mjs copies aside).
  const entry = [resolve(dist, "src/kernels/wasm/index.js"), resolve(dist, "kernels/wasm/index.js")].find((f) => existsSync(f));
  if (!entry) throw new Error(`sgemm-sweep: no build in ${dist}; run npm run build first`);
  const wasmIndex = await import(pathToFileURL(entry).href);
  const backend = wasmIndex.createWasmBackend();
  const before = backend.threads;
  const ceilingPerCore = Math.max(wasmIndex.fmaCeiling(), wasmIndex.fmaCeiling());
  const tuning = wasmIndex.getTuning();
  const rows = [];
  for (const n of quick ? [128, 512, 1024] : SWEEP_SIZES) {
    const a = backend.allocResident(n * n), b = backend.allocResident(n * n), c = backend.allocResident(n * n);
    for (let i = 0; i < n * n; i++) {
      a[i] = Math.sin(i * 0.37) * 0.5;
      b[i] = Math.cos(i * 0.11) * 0.5;
    }
    const row = { n, gflops: {} };
    for (const t of threads) {
      backend.setThreads(t);
      backend.matmul(a, b, c, n, n, n);
      // At least five timings of every size: a time budget alone gave 2048^3 one or two, so the
      // big sizes had far fewer chances than the small ones to meet a quiet moment on a shared machine.
      const budget = quick ? 150 : 600, minTimings = quick ? 2 : 5;
      let best = Infinity;
      const start = performance.now();
      for (let timed = 0; timed < minTimings || performance.now() - start < budget; timed++) {
        const t0 = performance.now();
        backend.matmul(a, b, c, n, n, n);
        best = Math.min(best, performance.now() - t0);
      }
      row.gflops[t] = (2 * n ** 3) / (best * 1e6);
    }
    for (const arr of [a, b, c]) backend.freeResident(arr);
    rows.push(row);
  }
  backend.setThreads(before);
  return { rows, threads, ceilingPerCore, tuning };
}

/** The sweep as a markdown table with each size's share of the ceiling and of the best size. */
export function sweepMarkdown({ rows, threads, ceilingPerCore, tuning }) {
  const best = Object.fromEntries(threads.map((t) => [t, Math.max(...rows.map((r) => r.gflops[t]))]));
  const lines = [];
  lines.push(
    `Multiply-add ceiling: ${ceilingPerCore.toFixed(1)} GFLOP/s per core as the kernels reach it (fmaCeiling()), ` +
      `so ${threads.map((t) => `${(ceilingPerCore * t).toFixed(0)} on ${t} thread${t > 1 ? "s" : ""}`).join(", ")}. ` +
      `Blocking: mc ${tuning.mc}, kc ${tuning.kc}, nc ${tuning.nc}, ${tuning.chunksPerThread} work items per thread (from ${tuning.source}). ` +
      `Each cell is the fastest of at least five timings and 0.6 s of them.`,
  );
  lines.push("");
  lines.push(`| n (n x n x n) | ${threads.map((t) => `${t} thread${t > 1 ? "s" : ""}: GFLOP/s | of ceiling | of best size`).join(" | ")} |`);
  lines.push(`|---:|${threads.map(() => "---:|---:|---:").join("|")}|`);
  for (const r of rows) {
    const cells = threads.map((t) => {
      const g = r.gflops[t];
      return `${g.toFixed(1)} | ${Math.round((100 * g) / (ceilingPerCore * t))}% | ${Math.round((100 * g) / best[t])}%`;
    });
    lines.push(`| ${r.n} | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const distAt = args.indexOf("--dist");
  const result = await sgemmSweep({ dist: distAt >= 0 ? resolve(args[distAt + 1]) : undefined, quick: args.includes("--quick") });
  if (args.includes("--json")) console.log(JSON.stringify(result, null, 2));
  else console.log(sweepMarkdown(result));
  process.exit(0);
}
