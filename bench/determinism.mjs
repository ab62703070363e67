#!/usr/bin/env node
// What the fixed-order filter gradients cost: wasm training steps and
// filter-gradient passes at 2 threads, for one build of stride. Run it for the
// old and the new build back to back (A B A B), so both see the same load:
//
//   node bench/determinism.mjs [--dist DIR] [--rounds N] [--budget MS] [--threads N] [--only TEXT]
//
// DIR is a compiled dist/ folder (default: this checkout's); N threads
// (default 2); --only runs the workloads whose name contains TEXT. Prints
// the median wall and the CPU milliseconds per call of every workload, each
// round, one JSON line each.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const dist = resolve(option("--dist", new URL("../dist", import.meta.url).pathname));
const budgetMs = Number(option("--budget", "2000"));
const load = (p) => import(pathToFileURL(resolve(dist, p)).href);

const { WasmBackend } = await load("src/kernels/wasm/index.js");
const { registerBackend, setBackend } = await load("src/kernels/index.js");
const { lenet5 } = await load("src/models/zoo/lenet.js");
const { resnetCifar } = await load("src/models/zoo/resnet.js");
const { softmaxCrossEntropy } = await load("src/layers/loss.js");
const { SGD } = await load("src/train/optimizers.js");
const { Tensor } = await load("src/tensor.js");

const wasm = new WasmBackend(Number(option("--threads", "2")));
registerBackend(wasm);
setBackend("wasm");

function rand(n, seed) {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = s / 2147483648 - 1;
  }
  return a;
}

/**
 * Median wall milliseconds of fn over about budgetMs (after two warm-up
 * calls), and the CPU milliseconds of all threads per call: on a shared
 * machine the wall time also measures the other programs.
 */
function measure(fn) {
  fn();
  fn();
  const times = [];
  const end = performance.now() + budgetMs;
  const cpu0 = process.cpuUsage();
  while (times.length < 5 || (performance.now() < end && times.length < 200)) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  const cpu = process.cpuUsage(cpu0);
  times.sort((a, b) => a - b);
  return { ms: Number(times[times.length >> 1].toFixed(3)), cpuMs: Number(((cpu.user + cpu.system) / 1000 / times.length).toFixed(3)) };
}

function trainStep(model, shape, classes) {
  const x = new Tensor(shape, rand(shape.reduce((a, b) => a * b, 1), 7));
  const labels = Int32Array.from({ length: shape[0] }, (_, i) => i % classes);
  const opt = new SGD(model.params(), { lr: 0.01, momentum: 0.9 });
  return () => {
    opt.zeroGrad();
    const { grad } = softmaxCrossEntropy(model.forward(x, { training: true }), labels);
    model.backward(grad);
    opt.step();
  };
}

/** One filter-gradient pass of a 3x3, stride-1, padded layer, with the backend's own algorithm choice. */
function filterPass(batch, cin, cout, size) {
  const g = {
    batch, inChannels: cin, inH: size, inW: size, outChannels: cout, kH: 3, kW: 3, strideH: 1, strideW: 1,
    padTop: 1, padBottom: 1, padLeft: 1, padRight: 1, dilationH: 1, dilationW: 1, groups: 1, outH: size, outW: size,
  };
  const x = rand(batch * cin * size * size, 3), dy = rand(batch * cout * size * size, 5);
  const dw = new Float32Array(cout * cin * 9), db = new Float32Array(cout);
  return { fn: () => wasm.conv2dBackwardFilter(x, dy, dw, db, g), algo: wasm.convAlgorithmFor(g, "filter") };
}

const workloads = [
  ["LeNet-5 train step N64", trainStep(lenet5({ inputShape: [1, 28, 28] }), [64, 1, 28, 28], 10)],
  ["ResNet-20 train step N32", trainStep(resnetCifar(20, { numClasses: 10 }), [32, 3, 32, 32], 10)],
];
for (const [b, cin, cout, size, name] of [[16, 64, 64, 32, "ResNet-ish"], [8, 256, 256, 28, "VGG conv3"], [2, 512, 512, 14, "VGG conv5"]]) {
  const { fn, algo } = filterPass(b, cin, cout, size);
  workloads.push([`${name} filter grad N${b} ${cin}->${cout} ${size}x${size} (${algo})`, fn]);
}
const rounds = Number(option("--rounds", "1"));
const only = option("--only", "");
for (let r = 0; r < rounds; r++) {
  for (const [name, fn] of workloads) if (name.includes(only)) console.log(JSON.stringify({ dist, name, ...measure(fn) }));
}
wasm.setThreads(1);
