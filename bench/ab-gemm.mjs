#!/usr/bin/env node
// Before/after of matrix products between builds (or blockings) of stride:
// each variant runs in its own child process, started once and kept, and the
// parent asks them in turn for a block of timings, alternating the order
// every round (A B, then B A) so that both see the same machine load. Two
// variants in one process were unfair to each other: the one loaded first ran
// up to 6% faster on one thread whichever it was, and on two threads their
// worker pools slowed each other unevenly.
//
//   node bench/ab-gemm.mjs VARIANT VARIANT [...] -- MxNxK [...]
//
// A VARIANT is a compiled dist/ folder, optionally with a blocking after a
// "|": 'dist|{"mc":606,"kc":432,"nc":4096}'. Environment: THREADS (default
// 1), ROUNDS (default 10). Prints, per product, each variant's best and
// median GFLOP/s and the median over the rounds of the first variant's time
// divided by each one's (above 1: faster than the first).
import { fork } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** The child: one backend on one build; times `reps` products of a shape whenever asked. */
async function child(dist, blocking, threads) {
  const wasm = await import(pathToFileURL(resolve(dist, "src/kernels/wasm/index.js")).href);
  const backend = wasm.createWasmBackend();
  backend.setThreads(threads);
  if (blocking) wasm.setTuning(JSON.parse(blocking));
  const operands = new Map();
  process.on("message", ({ m, n, k, reps }) => {
    const key = `${m}x${n}x${k}`;
    if (!operands.has(key)) {
      const a = backend.allocResident(m * k), b = backend.allocResident(k * n), c = backend.allocResident(m * n);
      for (let i = 0; i < m * k; i++) a[i] = Math.sin(i * 0.37);
      for (let i = 0; i < k * n; i++) b[i] = Math.cos(i * 0.11);
      backend.matmul(a, b, c, m, n, k); // warm: packing buffers, code tiers
      operands.set(key, [a, b, c]);
    }
    const [a, b, c] = operands.get(key);
    const times = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      backend.matmul(a, b, c, m, n, k);
      times.push(performance.now() - t0);
    }
    process.send(times);
  });
  process.send("ready");
}

if (process.argv[2] === "--child") {
  const [, , , dist, blocking, threads] = process.argv;
  await child(dist, blocking, Number(threads));
} else {
  const args = process.argv.slice(2);
  const sep = args.indexOf("--");
  const variants = sep > 0 ? args.slice(0, sep) : [];
  const shapes = sep > 0 ? args.slice(sep + 1).map((s) => s.split("x").map(Number)) : [];
  if (variants.length < 2 || shapes.length === 0 || shapes.some((s) => s.length !== 3 || s.some((v) => !(v > 0)))) {
    console.error("usage: node bench/ab-gemm.mjs DIST[|BLOCKING_JSON] DIST[|BLOCKING_JSON] [...] -- MxNxK [...]");
    process.exit(2);
  }
  const threads = process.env.THREADS ?? "1", rounds = Number(process.env.ROUNDS ?? 10);
  const kids = await Promise.all(variants.map((v) => new Promise((ready) => {
    const [dist, blocking = ""] = v.split("|");
    const proc = fork(fileURLToPath(import.meta.url), ["--child", resolve(dist), blocking, threads]);
    proc.once("message", () => ready(proc));
  })));
  const ask = (proc, msg) => new Promise((done) => { proc.once("message", done); proc.send(msg); });
  for (const [m, n, k] of shapes) {
    const flop = 2 * m * n * k, reps = Math.max(2, Math.round(2e9 / flop));
    const times = kids.map(() => []);
    for (let r = 0; r < rounds; r++) {
      const order = kids.map((_, j) => (r % 2 ? kids.length - 1 - j : j));
      for (const j of order) times[j].push(median(await ask(kids[j], { m, n, k, reps })));
    }
    const gflops = (ms) => (flop / (ms * 1e6)).toFixed(1);
    console.log(
      `${m}x${n}x${k}, ${threads} thread(s): best ${times.map((t) => gflops(Math.min(...t))).join(" / ")} GFLOP/s; ` +
        `median ${times.map((t) => gflops(median(t))).join(" / ")}; ` +
        `first's time / each: ${times.map((t) => median(times[0].map((x, i) => x / t[i])).toFixed(3)).join(" / ")}`,
    );
  }
  for (const proc of kids) proc.kill();
}
