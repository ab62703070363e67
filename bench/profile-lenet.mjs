#!/usr/bin/env node
// Where a training step's time goes: a per-kernel profile of one LeNet-5 and
// one ConvNetJS CIFAR-10 demo-net training step (batch 64, SGD with momentum)
// on the wasm backend, one thread and two. Every Backend call is timed (by
// kernel and shape), and inside it the copies into and out of wasm memory;
// "outside the backend" is the rest of the step (losses, optimiser, the
// layers' own loops and allocations).
//
// Run after `npm run build`:
//   node bench/profile-lenet.mjs [--steps 30] [--threads 1,2] [--net lenet5,cifar,lenet5-fused,cifar-fused,resnet20,vgg16,resnet50] [--js] [--nofuse]
// (vgg16 and resnet50: inference of one 224x224 image; the others: a training step at batch 64)
// The "-fused" nets set Conv2d.fusedRelu and drop the ReLU layer after each
// convolution: what a Sequential-level Conv+ReLU fusion would gain.
// The machine's load average is printed with the results: on a shared machine
// the two-thread column is only meaningful when the load is below 1.
import os from "node:os";
import { setBackend, getBackend } from "../dist/src/kernels/index.js";
import { createWasmBackend } from "../dist/src/kernels/wasm/index.js";
import { Tensor } from "../dist/src/tensor.js";
import { Conv2d } from "../dist/src/layers/conv.js";
import { ReLU } from "../dist/src/layers/activation.js";
import { MaxPool2d } from "../dist/src/layers/pool.js";
import { Flatten } from "../dist/src/layers/reshape.js";
import { Linear } from "../dist/src/layers/dense.js";
import { softmaxCrossEntropy } from "../dist/src/layers/loss.js";
import { Sequential } from "../dist/src/models/sequential.js";
import { SGD } from "../dist/src/train/optimizers.js";
import { models } from "../dist/src/index.js";
import { buildModel } from "../dist/src/cli/models.js";

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const steps = Number(option("steps", "30"));
const threadCounts = option("threads", "1,2").split(",").map(Number);
const nets = option("net", "lenet5,cifar").split(",");
const withJs = process.argv.includes("--js");
// --nofuse: containers run every layer on its own (models/fusion.ts off), for before/after comparisons.
const noFuse = process.argv.includes("--nofuse");

/** Turns fusion off in a model and every container inside it. */
function unfuse(m) {
  if ("fuse" in m) m.fuse = false;
  for (const c of m.children()) unfuse(c);
}
const batch = 64;

function rand(n, seed = 1) {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = s / 4294967296;
  }
  return a;
}

/** The nets of bench/workloads.mjs, from stride's layers (fixed seeds come from the global generator). */
const NETS = {
  lenet5: {
    input: [1, 28, 28],
    build: () => new Sequential([
      new Conv2d({ inChannels: 1, outChannels: 6, kernelSize: 5, padding: 2, name: "c1" }), new ReLU(), new MaxPool2d({ kernelSize: 2 }),
      new Conv2d({ inChannels: 6, outChannels: 16, kernelSize: 5, name: "c3" }), new ReLU(), new MaxPool2d({ kernelSize: 2 }),
      new Flatten(), new Linear({ inFeatures: 400, outFeatures: 120 }), new ReLU(),
      new Linear({ inFeatures: 120, outFeatures: 84 }), new ReLU(), new Linear({ inFeatures: 84, outFeatures: 10 }),
    ]),
  },
  cifar: {
    input: [3, 32, 32],
    build: () => new Sequential([
      new Conv2d({ inChannels: 3, outChannels: 16, kernelSize: 5, padding: 2 }), new ReLU(), new MaxPool2d({ kernelSize: 2 }),
      new Conv2d({ inChannels: 16, outChannels: 20, kernelSize: 5, padding: 2 }), new ReLU(), new MaxPool2d({ kernelSize: 2 }),
      new Conv2d({ inChannels: 20, outChannels: 20, kernelSize: 5, padding: 2 }), new ReLU(), new MaxPool2d({ kernelSize: 2 }),
      new Flatten(), new Linear({ inFeatures: 320, outFeatures: 10 }),
    ]),
  },
};

/** The same net with each Conv2d + ReLU pair fused into the convolution's kernel. */
function fused(build) {
  return () => {
    const layers = build().layers;
    const out = [];
    for (let i = 0; i < layers.length; i++) {
      if (layers[i] instanceof Conv2d && layers[i + 1] instanceof ReLU) {
        layers[i].fusedRelu = true;
        out.push(layers[i]);
        i++;
      } else out.push(layers[i]);
    }
    return new Sequential(out);
  };
}
// ResNet-20 (CIFAR, option-B shortcuts) from the zoo, as bench/libs/stride.mjs runs it.
NETS.resnet20 = { input: [3, 32, 32], build: () => models.resnetCifar(20, { numClasses: 10, inputShape: [3, 32, 32], shortcut: "B" }) };
// The Fashion-MNIST time-to-accuracy recipe's network (issue 17), at its batch of 128.
NETS["resnet8-wide"] = { input: [1, 28, 28], batch: 128, build: () => buildModel("resnet8-wide", { numClasses: 10, inputShape: [1, 28, 28] }) };
// Inference at batch 1 (forward only), as the bench's VGG-16 and ResNet-50 workloads.
NETS.vgg16 = { input: [3, 224, 224], batch: 1, infer: true, build: () => models.vgg16({ numClasses: 1000, inputShape: [3, 224, 224] }) };
NETS.resnet50 = { input: [3, 224, 224], batch: 1, infer: true, build: () => models.resnet(50, { numClasses: 1000, inputShape: [3, 224, 224] }) };
NETS["lenet5-fused"] = { input: NETS.lenet5.input, build: fused(NETS.lenet5.build) };
NETS["cifar-fused"] = { input: NETS.cifar.input, build: fused(NETS.cifar.build) };

/** A short name for one kernel call: the method and the shape it ran on. */
function label(method, args) {
  const g = args.find((a) => a && typeof a === "object" && "batch" in a && !(a instanceof Float32Array));
  if (method.startsWith("conv2d") && g) {
    return `${method} ${g.inChannels}->${g.outChannels} ${g.kH}x${g.kW} on ${g.inH}x${g.inW}`;
  }
  if (method.startsWith("maxPool") || method.startsWith("avgPool")) return `${method} ${g.channels}x${g.inH}x${g.inW}`;
  if (method === "matmul") {
    const [, , , m, n, k, o = {}] = args;
    return `matmul ${m}x${n}x${k}${o.transA ? " tA" : ""}${o.transB ? " tB" : ""}${o.accumulate ? " acc" : ""}`;
  }
  if (method === "relu" || method === "reluBackward") return `${method} n=${args[0].length}`;
  if (method === "add") return `add${args[3] ? "+relu" : ""} n=${args[2].length}`;
  return method;
}

const METHODS = [
  "matmul", "conv2d", "conv2dBackwardData", "conv2dBackwardFilter", "maxPool2d", "maxPool2dBackward",
  "avgPool2d", "avgPool2dBackward", "batchNormTrain", "batchNormApply", "batchNormBackward", "relu", "reluBackward", "add",
];

/** Wraps every kernel of a backend (own properties shadow the prototype's) and its runtime's copies. */
function instrument(be) {
  const stats = new Map();
  let copyMs = 0;
  let current = null;
  for (const m of METHODS) {
    const orig = be[m];
    be[m] = function (...args) {
      const key = label(m, args);
      const copyBefore = copyMs;
      const c0 = process.cpuUsage();
      const t = performance.now();
      current = key;
      const r = orig.apply(this, args);
      const dt = performance.now() - t;
      const c = process.cpuUsage(c0);
      current = null;
      let s = stats.get(key);
      if (!s) stats.set(key, (s = { ms: 0, cpuMs: 0, copyMs: 0, calls: 0 }));
      s.ms += dt;
      s.cpuMs += (c.user + c.system) / 1000;
      s.copyMs += copyMs - copyBefore;
      s.calls++;
      return r;
    };
  }
  const rt = be.rt;
  let copyOutMs = 0;
  if (rt) {
    for (const m of ["put", "getF32", "getI32"]) {
      const orig = rt[m];
      rt[m] = function (...args) {
        const t = performance.now();
        const r = orig.apply(this, args);
        const dt = performance.now() - t;
        copyMs += dt;
        if (m !== "put") copyOutMs += dt;
        return r;
      };
    }
  }
  return {
    stats,
    reset() { stats.clear(); copyMs = 0; copyOutMs = 0; },
    /** Milliseconds copying results out of wasm memory (into the layers' freshly allocated arrays). */
    get copyOutMs() { return copyOutMs; },
    get copyMs() { return copyMs; },
    restore() {
      for (const m of METHODS) delete be[m];
      if (rt) for (const m of ["put", "getF32", "getI32"]) delete rt[m];
    },
    get busy() { return current !== null; },
  };
}

function makeStep(model, x, labels) {
  const opt = new SGD(model.params(), { lr: 0.01, momentum: 0.9 });
  return () => {
    opt.zeroGrad();
    const logits = model.forward(x, { training: true, inputGrad: false }); // as fit() does
    const { grad } = softmaxCrossEntropy(logits, labels);
    model.backward(grad);
    opt.step();
  };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join("  "));
  console.log();
}

const wasm = createWasmBackend();
console.log(`${os.cpus()[0]?.model ?? "cpu"}, ${os.availableParallelism?.() ?? os.cpus().length} cores; node ${process.version}; ` +
  `wasm ${wasm.relaxedSimd ? "relaxed SIMD" : "128-bit SIMD"}; ${steps} steps per cell; load average at start ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}\n`);

const configs = [
  ...(withJs ? [["js", 1]] : []),
  ...threadCounts.map((t) => ["wasm", t]),
];

for (const netName of nets) {
  const net = NETS[netName];
  if (!net) throw new Error(`--net: unknown net "${netName}"; known: ${Object.keys(NETS).join(", ")}`);
  const nb = net.batch ?? batch;
  const x = new Tensor([nb, ...net.input], rand(nb * net.input.reduce((a, b) => a * b), 7));
  const labels = Int32Array.from({ length: nb }, (_, i) => (i * 7) % 10);
  for (const [backendName, threads] of configs) {
    const be = setBackend(backendName);
    if (backendName === "wasm") be.setThreads(threads);
    const model = net.build();
    if (noFuse) unfuse(model);
    const step = net.infer ? () => model.forward(x, { training: false, noGrad: true }) : makeStep(model, x, labels);
    for (let i = 0; i < (net.infer ? 2 : 5); i++) step(); // warm-up: JIT, memory growth, worker start
    // Plain timing first (no wrappers), then the instrumented profile.
    const plain = [];
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    for (let i = 0; i < steps; i++) {
      const t = performance.now();
      step();
      plain.push(performance.now() - t);
    }
    const wallAll = performance.now() - wall0;
    const cpu = process.cpuUsage(cpu0);
    const cpuPerStep = (cpu.user + cpu.system) / 1000 / steps;
    const prof = instrument(getBackend());
    const stepTimes = [];
    for (let i = 0; i < steps; i++) {
      const t = performance.now();
      step();
      stepTimes.push(performance.now() - t);
    }
    prof.restore();
    const total = stepTimes.reduce((a, b) => a + b, 0);
    const ms = median(plain);
    console.log(`== ${netName} ${net.infer ? "inference" : "training step"}, batch ${nb}, ${backendName}${backendName === "wasm" ? ` ${threads} thread${threads > 1 ? "s" : ""}` : ""}: ` +
      `median ${ms.toFixed(2)} ms = ${Math.round((nb * 1000) / ms)} img/s; process CPU ${cpuPerStep.toFixed(2)} ms/step ` +
      `(${(cpuPerStep / (wallAll / steps)).toFixed(2)} cores busy); load ${os.loadavg()[0].toFixed(2)}`);
    const rows = [["kernel (shape)", "calls/step", "wall ms/step", "CPU ms/step", "share of wall", "of which copies"]];
    let inKernels = 0, inCopies = 0, inCpu = 0;
    const entries = [...prof.stats.entries()].sort((a, b) => b[1].ms - a[1].ms);
    for (const [key, s] of entries) {
      inKernels += s.ms;
      inCopies += s.copyMs;
      inCpu += s.cpuMs;
      rows.push([key, (s.calls / steps).toFixed(0), (s.ms / steps).toFixed(3), (s.cpuMs / steps).toFixed(3), `${((100 * s.ms) / total).toFixed(1)}%`,
        s.copyMs > 0 ? `${((100 * s.copyMs) / s.ms).toFixed(0)}%` : "-"]);
    }
    rows.push(["all kernels", "", (inKernels / steps).toFixed(3), (inCpu / steps).toFixed(3), `${((100 * inKernels) / total).toFixed(1)}%`,
      inCopies > 0 ? `${((100 * inCopies) / inKernels).toFixed(0)}%` : "-"]);
    rows.push(["outside the backend", "", ((total - inKernels) / steps).toFixed(3), "", `${((100 * (total - inKernels)) / total).toFixed(1)}%`, ""]);
    rows.push(["step (instrumented)", "", (total / steps).toFixed(3), "", "100%", ""]);
    table(rows);
    if (prof.copyMs > 0) {
      console.log(`copies: ${(prof.copyMs / steps).toFixed(3)} ms/step, of which ${(prof.copyOutMs / steps).toFixed(3)} ms out of wasm ` +
        `(into arrays the layers allocated just before: the first write to fresh memory page-faults)\n`);
    }
  }
}
setBackend("js");
wasm.setThreads(1);
