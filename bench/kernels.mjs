#!/usr/bin/env node
// Kernel micro-benchmarks of the wasm backend (and the js reference):
// sgemm GFLOP/s; where the threads' time goes in a 2-thread sgemm (each
// thread's busy time, the job's wall time, the process's CPU time); every
// convolution pass of LeNet-5's, the CIFAR demo net's, ResNet-20's, ResNet-50's
// and VGG-16's layers with each algorithm (im2col + GEMM, direct, Winograd) in
// CPU time on one thread, which the algorithm choice is based on; and a
// LeNet-5 training step through the real layers with the share of it spent
// copying into and out of wasm memory. docs/performance.md has the results.
// Run after `npm run build`: node bench/kernels.mjs [--quick] [--no-js]
import { JsBackend } from "../dist/src/kernels/js/index.js";
import { WasmBackend } from "../dist/src/kernels/wasm/index.js";

const quick = process.argv.includes("--quick");
const withJs = !process.argv.includes("--no-js");
const js = new JsBackend();
const wasm = new WasmBackend(1);
const threadCounts = [1, 2];

function rand(n, seed = 1) {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = s / 2147483648 - 1;
  }
  return a;
}

/** Median milliseconds per call over enough repetitions to fill `budgetMs`. */
function time(fn, budgetMs = quick ? 150 : 600, maxReps = 200) {
  fn();
  const t0 = performance.now();
  fn();
  const once = Math.max(performance.now() - t0, 0.001);
  const reps = Math.max(1, Math.min(maxReps, Math.floor(budgetMs / once)));
  const times = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  for (const r of rows) console.log(r.map((c, i) => String(c).padStart(widths[i])).join("  "));
  console.log();
}

console.log(`wasm backend: ${wasm.relaxedSimd ? "relaxed SIMD (fused multiply-add)" : "128-bit SIMD"}\n`);

// ---- sgemm -------------------------------------------------------------------
{
  const rows = [["sgemm n", ...(withJs ? ["js GFLOP/s"] : []), ...threadCounts.map((t) => `wasm ${t}T GFLOP/s`)]];
  for (const n of [256, 512, 1024]) {
    const a = rand(n * n, 1), b = rand(n * n, 2), c = new Float32Array(n * n);
    const flop = 2 * n * n * n;
    const row = [n];
    if (withJs) row.push((flop / time(() => js.matmul(a, b, c, n, n, n), quick || n === 1024 ? 1 : 600, n === 1024 ? 1 : 20) / 1e6).toFixed(2));
    for (const t of threadCounts) {
      wasm.setThreads(t);
      row.push((flop / time(() => wasm.matmul(a, b, c, n, n, n)) / 1e6).toFixed(1));
    }
    rows.push(row);
  }
  table(rows);
}

// ---- where the second thread's time goes ------------------------------------
// Each thread tallies the milliseconds it spends inside kernels; a job's wall
// time beyond its busiest thread is hand-off and waiting for a thread that the
// OS had not scheduled. Process CPU time tells spinning from sleeping.
{
  const n = 1024;
  const a = rand(n * n, 1), b = rand(n * n, 2), c = new Float32Array(n * n);
  const rows = [["sgemm 1024 (ms/call)", "wall", "thread 0 busy", "thread 1 busy", "wall - busiest", "process CPU", "load avg"]];
  for (const t of threadCounts) {
    wasm.setThreads(t);
    wasm.matmul(a, b, c, n, n, n);
    const reps = quick ? 3 : 8;
    wasm.rt.resetThreadStats();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) wasm.matmul(a, b, c, n, n, n);
    const wall = (performance.now() - t0) / reps;
    const cpu = process.cpuUsage(cpu0);
    const st = wasm.rt.threadStats();
    const busy = t > 1 ? st.busyMs.map((x) => x / reps) : [wall];
    rows.push([`${t} thread${t > 1 ? "s" : ""}`, wall.toFixed(1), busy[0].toFixed(1), t > 1 ? busy[1].toFixed(1) : "-",
      (wall - Math.max(...busy)).toFixed(1), ((cpu.user + cpu.system) / 1000 / reps).toFixed(1), (await import("node:os")).loadavg()[0].toFixed(2)]);
  }
  table(rows);
}

// ---- convolutions ------------------------------------------------------------
// One thread, each algorithm (im2col + GEMM, direct, and Winograd F(2x2, 3x3) and F(4x4, 3x3) where they apply;
// for Winograd the GFLOP/s are effective, counted as the direct convolution's):
// milliseconds of process CPU time per call, which another process's load on
// a shared machine does not inflate the way it does wall time. Then the
// default choice on two threads (wall time).
function geometry(batch, c, h, k, f, pad, stride = 1) {
  const o = Math.floor((h + 2 * pad - f) / stride) + 1;
  return {
    batch, inChannels: c, inH: h, inW: h, outChannels: k, kH: f, kW: f, strideH: stride, strideW: stride,
    padTop: pad, padBottom: pad, padLeft: pad, padRight: pad, dilationH: 1, dilationW: 1, groups: 1, outH: o, outW: o,
  };
}

/** Process CPU milliseconds per call (one thread: the call's own cost). */
function cpuTime(fn, budgetMs = quick ? 150 : 500) {
  fn();
  const t0 = performance.now();
  fn();
  const once = Math.max(performance.now() - t0, 0.001);
  const reps = Math.max(2, Math.min(200, Math.floor(budgetMs / once)));
  const c0 = process.cpuUsage();
  for (let r = 0; r < reps; r++) fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / reps;
}

const layers = [
  ["LeNet c1 N64 1x28x28 5x5 p2 ->6", geometry(64, 1, 28, 6, 5, 2), true],
  ["LeNet c3 N64 6x14x14 5x5 ->16", geometry(64, 6, 14, 16, 5, 0), true],
  ["CIFAR c1 N64 3x32x32 5x5 p2 ->16", geometry(64, 3, 32, 16, 5, 2), true],
  ["CIFAR c2 N64 16x16x16 5x5 p2 ->20", geometry(64, 16, 16, 20, 5, 2), true],
  ["CIFAR c3 N64 20x8x8 5x5 p2 ->20", geometry(64, 20, 8, 20, 5, 2), true],
  ["ResNet-20 N64 16x32x32 3x3 p1 ->16", geometry(64, 16, 32, 16, 3, 1), false],
  ["ResNet-20 N64 32x16x16 3x3 p1 ->32", geometry(64, 32, 16, 32, 3, 1), false],
  ["ResNet-20 N64 64x8x8 3x3 p1 ->64", geometry(64, 64, 8, 64, 3, 1), false],
  ["ResNet-50 N1 64x56x56 3x3 p1 ->64", geometry(1, 64, 56, 64, 3, 1), false],
  ["VGG conv1_2 N1 64x224 3x3 ->64", geometry(1, 64, 224, 64, 3, 1), false],
  ["VGG conv2_2 N1 128x112 3x3 ->128", geometry(1, 128, 112, 128, 3, 1), false],
  ["VGG conv3_2 N1 256x56 3x3 ->256", geometry(1, 256, 56, 256, 3, 1), false],
  ["VGG conv4_2 N1 512x28 3x3 ->512", geometry(1, 512, 28, 512, 3, 1), false],
  ["VGG conv5_2 N1 512x14 3x3 ->512", geometry(1, 512, 14, 512, 3, 1), false],
];
{
  const rows = [["layer", "pass", ...(withJs ? ["js ms"] : []), "gemm 1T cpu ms", "direct 1T cpu ms", "winograd 1T cpu ms", "winograd4 1T cpu ms", "auto picks", "auto 2T wall ms", "GFLOP/s 1T best"]];
  for (const [name, g, small] of layers) {
    if (quick && !small) continue;
    const x = rand(g.batch * g.inChannels * g.inH * g.inW, 3);
    const w = rand(g.outChannels * g.inChannels * g.kH * g.kW, 4);
    const bias = rand(g.outChannels, 5);
    const y = new Float32Array(g.batch * g.outChannels * g.outH * g.outW);
    const dy = rand(y.length, 6), dx = new Float32Array(x.length), dw = new Float32Array(w.length), db = new Float32Array(g.outChannels);
    const flop = 2 * g.batch * g.outChannels * g.outH * g.outW * g.inChannels * g.kH * g.kW;
    const passes = [
      ["forward", (be) => be.conv2d(x, w, bias, y, g, true), "forward"],
      ["backward data", (be) => be.conv2dBackwardData(dy, w, dx, g), "data"],
      ["backward filter", (be) => be.conv2dBackwardFilter(x, dy, dw, db, g), "filter"],
    ];
    for (const [pass, run, kind] of passes) {
      const row = [name, pass];
      if (withJs) row.push(small ? cpuTime(() => run(js), 300).toFixed(2) : "-");
      wasm.setThreads(1);
      const ms = {};
      for (const algo of ["gemm", "direct", "winograd", "winograd4"]) {
        // Winograd (F(2x2, 3x3) and F(4x4, 3x3)) needs 3x3, stride 1.
        if (algo.startsWith("winograd") && (g.kH !== 3 || g.kW !== 3)) {
          ms[algo] = Infinity;
          row.push("-");
          continue;
        }
        wasm.convAlgorithm = algo;
        ms[algo] = cpuTime(() => run(wasm));
        row.push(ms[algo].toFixed(2));
      }
      wasm.convAlgorithm = "auto";
      row.push(wasm.convAlgorithmFor(g, kind));
      wasm.setThreads(2);
      row.push(time(() => run(wasm)).toFixed(2));
      row.push((flop / Math.min(ms.gemm, ms.direct, ms.winograd, ms.winograd4) / 1e6).toFixed(1));
      rows.push(row);
    }
  }
  wasm.setThreads(1);
  table(rows);
}

// ---- LeNet-5 training step through the layers ----------------------------------
try {
  const { registerBackend, setBackend } = await import("../dist/src/kernels/index.js");
  const { lenet5 } = await import("../dist/src/models/zoo/lenet.js");
  const { softmaxCrossEntropy } = await import("../dist/src/layers/loss.js");
  const { SGD } = await import("../dist/src/train/optimizers.js");
  const { Tensor } = await import("../dist/src/tensor.js");
  registerBackend(wasm);
  const batch = 64;
  const x = new Tensor([batch, 1, 28, 28], rand(batch * 784, 7).map((v) => (v + 1) / 2));
  const labels = Int32Array.from({ length: batch }, (_, i) => i % 10);
  const rows = [["LeNet-5 train step (N64, 1x28x28)", "activation", "ms/step", "images/s", "copy share"]];
  for (const act of ["relu", "tanh"]) {
    for (const [label, backend, threads] of [["js", "js", 1], ...threadCounts.map((t) => [`wasm ${t}T`, "wasm", t])]) {
      if (backend === "js" && !withJs) continue;
      setBackend(backend);
      if (backend === "wasm") wasm.setThreads(threads);
      const model = lenet5({ inputShape: [1, 28, 28], activation: act, pooling: "max" });
      const opt = new SGD(model.params(), { lr: 0.01, momentum: 0.9 });
      const step = () => {
        opt.zeroGrad();
        const logits = model.forward(x, { training: true });
        const { grad } = softmaxCrossEntropy(logits, labels);
        model.backward(grad);
        opt.step();
      };
      // Time spent in the copies: wrap the runtime's copy helpers.
      let copyMs = 0;
      const rt = wasm.rt;
      const orig = { put: rt.put, getF32: rt.getF32, getI32: rt.getI32 };
      const timed = (f) => function (...args) {
        const t = performance.now();
        const r = f.apply(this, args);
        copyMs += performance.now() - t;
        return r;
      };
      const ms = time(step, quick ? 500 : 2000, 100);
      let share = "-";
      if (backend === "wasm") {
        rt.put = timed(orig.put); rt.getF32 = timed(orig.getF32); rt.getI32 = timed(orig.getI32);
        const reps = 10;
        copyMs = 0;
        const t0 = performance.now();
        for (let i = 0; i < reps; i++) step();
        share = `${((100 * copyMs) / (performance.now() - t0)).toFixed(0)}%`;
        Object.assign(rt, orig);
        delete rt.put; delete rt.getF32; delete rt.getI32;
      }
      rows.push([label, act, ms.toFixed(2), Math.round((batch * 1000) / ms), share]);
    }
  }
  table(rows);
} catch (e) {
  console.log(`(LeNet-5 step skipped: ${e.message})`);
}
wasm.setThreads(1);
