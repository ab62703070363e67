/**
 * TensorFlow.js with one backend per process: `node libs/tfjs.mjs --backend cpu|wasm --workload ID`.
 * The nets are built from tfjs-core ops in NHWC, tfjs's native layout, with
 * its fused conv/matmul + bias + ReLU where the spec allows (what tfjs's own
 * layers and converter do). tfjs-node is not here: its install downloads
 * libtensorflow from outside the npm registry.
 */
import { createRequire } from "node:module";
import * as tf from "@tensorflow/tfjs-core";
// The @tensorflow/tfjs bundle registers the gradients (tfjs-core alone has
// none, and its per-gradient ES modules do not load in Node) and the cpu backend.
import "@tensorflow/tfjs";
import * as tfwasm from "@tensorflow/tfjs-backend-wasm";
import { runChild, measure, toUnit, randomFloats, randomLabels } from "../harness.mjs";
import { NETS, SGD as SGD_SETTINGS, iterationFlops, SGEMM_SIZE } from "../workloads.mjs";

const require = createRequire(import.meta.url);

/** Kernels a training step needs beyond the forward ones (checked before trying). */
const TRAINING_KERNELS = ["Conv2DBackpropFilter", "Conv2DBackpropInput", "MaxPoolGrad"];

/** He-normal weights; the values only need to be sane. */
function weight(shape, fanIn, seed) {
  return tf.variable(tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), "float32", seed));
}

/** Turns a spec into { forward(x, training), trainable: Variable[] }. */
function buildFromSpec(spec) {
  const trainable = [];
  let seed = 1;
  function build(layers, shape) {
    let [c, h, w] = shape;
    const fns = [];
    for (let i = 0; i < layers.length; i++) {
      const l = layers[i];
      const nextIsRelu = layers[i + 1]?.type === "relu";
      switch (l.type) {
        case "conv": {
          const filter = weight([l.k, l.k, c, l.out], l.k * l.k * c, seed++);
          const bias = l.bias ? tf.variable(tf.zeros([l.out])) : null;
          trainable.push(filter, ...(bias ? [bias] : []));
          const activation = nextIsRelu ? "relu" : "linear";
          const { stride, pad } = l;
          fns.push((x) => tf.fused.conv2d({ x, filter, strides: stride, pad, bias: bias ?? undefined, activation }));
          if (nextIsRelu) i++;
          h = Math.floor((h + 2 * l.pad - l.k) / l.stride) + 1;
          w = Math.floor((w + 2 * l.pad - l.k) / l.stride) + 1;
          c = l.out;
          break;
        }
        case "bn": {
          const gamma = tf.variable(tf.ones([c])), beta = tf.variable(tf.zeros([c]));
          const runMean = tf.variable(tf.zeros([c]), false), runVar = tf.variable(tf.ones([c]), false);
          trainable.push(gamma, beta);
          const m = 0.1;
          fns.push((x, training) => {
            if (!training) return tf.batchNorm(x, runMean, runVar, beta, gamma, 1e-5);
            const { mean, variance } = tf.moments(x, [0, 1, 2]);
            // The running estimates, as PyTorch keeps them (unbiased variance).
            const count = x.size / c;
            runMean.assign(tf.add(tf.mul(runMean, 1 - m), tf.mul(mean, m)));
            runVar.assign(tf.add(tf.mul(runVar, 1 - m), tf.mul(variance, (m * count) / (count - 1))));
            return tf.batchNorm(x, mean, variance, beta, gamma, 1e-5);
          });
          break;
        }
        case "relu": fns.push((x) => tf.relu(x)); break;
        case "maxpool": {
          const { k, stride, pad } = l;
          fns.push((x) => tf.maxPool(x, k, stride, pad));
          h = Math.floor((h + 2 * l.pad - l.k) / l.stride) + 1;
          w = Math.floor((w + 2 * l.pad - l.k) / l.stride) + 1;
          break;
        }
        case "gap": fns.push((x) => tf.mean(x, [1, 2], true)); h = w = 1; break;
        case "flatten": fns.push((x) => tf.reshape(x, [x.shape[0], -1])); [c, h, w] = [c * h * w, 1, 1]; break;
        case "fc": {
          const wt = weight([c, l.out], c, seed++), b = tf.variable(tf.zeros([l.out]));
          trainable.push(wt, b);
          const activation = nextIsRelu ? "relu" : "linear";
          fns.push((x) => tf.fused.matMul({ a: x, b: wt, bias: b, activation }));
          if (nextIsRelu) i++;
          c = l.out;
          break;
        }
        case "residual": {
          const body = build(l.body, [c, h, w]);
          const shortcut = build(l.shortcut, [c, h, w]);
          fns.push((x, training) => tf.add(body.run(x, training), shortcut.run(x, training)));
          [c, h, w] = body.shape;
          break;
        }
        default: throw new Error(`spec: unknown layer type "${l.type}"`);
      }
    }
    return { run: (x, training) => fns.reduce((y, f) => f(y, training), x), shape: [c, h, w] };
  }
  const net = build(spec.layers, spec.input);
  return { forward: net.run, trainable };
}

await runChild((args) => `tfjs-${args.backend ?? "cpu"}`, async (w, timing, args) => {
  const backendName = args.backend ?? "cpu";
  await tf.setBackend(backendName);
  await tf.ready();
  const threads = backendName === "wasm" ? tfwasm.getThreadsCount() : 1;
  const simd = backendName !== "wasm" ? "" :
    `, ${tf.env().getBool("WASM_HAS_SIMD_SUPPORT") ? "SIMD" : "no SIMD"}, ` +
    (tf.env().getBool("WASM_HAS_MULTITHREAD_SUPPORT") ? "threaded build" : "single-threaded build (tfjs reports no multithread support in Node)");
  const version = require("@tensorflow/tfjs-core/package.json").version;
  const base = { lib: `tfjs-${backendName}`, version, threads };
  const flops = iterationFlops(w);

  let step;
  let params;
  if (w.kind === "sgemm") {
    const n = SGEMM_SIZE;
    const a = tf.tensor2d(randomFloats(n * n, 1), [n, n]), b = tf.tensor2d(randomFloats(n * n, 2), [n, n]);
    step = () => {
      const c = tf.matMul(a, b);
      c.dataSync();
      c.dispose();
    };
  } else {
    const spec = NETS[w.net]();
    if (w.kind === "train") {
      const missing = TRAINING_KERNELS.filter((k) => !tf.getKernel(k, backendName));
      if (missing.length) {
        return { ...base, status: "unsupported", note: `cannot train: ${missing.join(", ")} ${missing.length > 1 ? "are" : "is"} not registered in the ${backendName} backend` };
      }
    }
    const net = buildFromSpec(spec);
    params = net.trainable.reduce((n, v) => n + v.size, 0);
    const [c, h, wd] = spec.input;
    const x = tf.tensor4d(randomFloats(w.batch * c * h * wd), [w.batch, h, wd, c]);
    if (w.kind === "infer") {
      step = () => {
        const y = tf.tidy(() => net.forward(x, false));
        y.dataSync();
        y.dispose();
      };
    } else {
      const labels = tf.oneHot(tf.tensor1d(randomLabels(w.batch, spec.classes), "int32"), spec.classes);
      const optimizer = tf.train.momentum(SGD_SETTINGS.lr, SGD_SETTINGS.momentum);
      step = () => {
        const cost = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(labels, net.forward(x, true)), true, net.trainable);
        cost.dataSync();
        cost.dispose();
      };
    }
  }
  const m = await measure(step, timing);
  if (process.env.BENCH_DEBUG) console.error(`tensors alive after the runs: ${tf.memory().numTensors}`);
  const details = [`fused conv/matmul + bias + ReLU, NHWC${simd}`];
  if (m.status !== "ok") return { ...base, ...m, params, details };
  return {
    ...base, status: "ok", params, unit: w.unit, value: toUnit(w, m.median, flops),
    runs: m.secPerIter.length, itersPerRun: m.itersPerRun, coldSec: m.coldSec, details,
  };
});
