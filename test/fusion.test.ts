/**
 * Fused layer chains (models/fusion.ts) against the same model run layer by
 * layer: Conv2d + BatchNorm2d (+ ReLU) folded into one convolution in
 * inference, BatchNorm + ReLU and Add + ReLU in training, on the js backend and on wasm with
 * one and two threads.
 */
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import * as s from "../src/index.js";
import type { Backend } from "../src/kernels/backend.js";
import type { Module } from "../src/layers/layer.js";

type Config = { backend: string; threads: number };
const configs: Config[] = [{ backend: "js", threads: 1 }];
if (s.listBackends().includes("wasm")) configs.push({ backend: "wasm", threads: 1 }, { backend: "wasm", threads: 2 });

const initialBackend = s.getBackend().name;
after(() => {
  if (s.listBackends().includes("wasm")) (s.setBackend("wasm") as unknown as { setThreads(n: number): void }).setThreads(1);
  s.setBackend(initialBackend);
});

function use(c: Config): Backend {
  const be = s.setBackend(c.backend);
  if (c.backend === "wasm") (be as unknown as { setThreads(n: number): void }).setThreads(c.threads);
  return be;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol = 2e-5): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    assert.ok(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)), `${what}[${i}]: ${a} fused vs ${e} unfused`);
  }
}

/** Sets fuse on a model and every container inside it. */
function setFuse(m: Module, on: boolean): void {
  if ("fuse" in m) (m as unknown as { fuse: boolean }).fuse = on;
  for (const c of m.children()) setFuse(c, on);
}

/**
 * Gives every batch norm running statistics and affine parameters other than
 * the initial 0, 1, 1, 0, and every convolution's bias values other than 0.
 */
function randomizeNorms(m: Module, seed: number): void {
  const rng = new s.Rng(seed);
  const visit = (l: Module) => {
    if (l instanceof s.Conv2d && l.bias) l.bias.value.data.forEach((_, i, b) => (b[i] = rng.uniform() - 0.5));
    if (l instanceof s.BatchNorm2d || l instanceof s.BatchNorm1d) {
      for (let i = 0; i < l.numFeatures; i++) {
        l.runningMean.data[i] = rng.uniform() - 0.5;
        l.runningVar.data[i] = 0.2 + rng.uniform();
        if (l.weight) l.weight.value.data[i] = 2 * rng.uniform() - 1;
        if (l.bias) l.bias.value.data[i] = rng.uniform() - 0.5;
      }
    }
    for (const c of l.children()) visit(c);
  };
  visit(m);
}

/** Counts the backend calls made while fn runs, by method. */
function countCalls(be: Backend, methods: string[], fn: () => void): Record<string, number> {
  const counts: Record<string, number> = {};
  const target = be as unknown as Record<string, (...a: unknown[]) => unknown>;
  const saved = methods.map((m) => [m, Object.getOwnPropertyDescriptor(target, m)] as const);
  for (const m of methods) {
    counts[m] = 0;
    const orig = target[m];
    target[m] = function (this: unknown, ...a: unknown[]) {
      counts[m]++;
      return orig.apply(this, a);
    };
  }
  try {
    fn();
  } finally {
    for (const [m, d] of saved) {
      if (d) Object.defineProperty(target, m, d);
      else delete target[m];
    }
  }
  return counts;
}

/** A Sequential with every inference chain: conv+bn+relu, conv (bias) + bn, conv+relu, a lone bn. */
function chainNet(seed: number): s.Sequential {
  const rng = new s.Rng(seed);
  return new s.Sequential([
    new s.Conv2d({ inChannels: 3, outChannels: 8, kernelSize: 3, padding: 1, bias: false, rng }),
    new s.BatchNorm2d({ numFeatures: 8 }), new s.ReLU(),
    new s.Conv2d({ inChannels: 8, outChannels: 6, kernelSize: 1, rng }), new s.BatchNorm2d({ numFeatures: 6 }),
    new s.Conv2d({ inChannels: 6, outChannels: 5, kernelSize: 3, stride: 2, rng }), new s.ReLU(),
    new s.MaxPool2d({ kernelSize: 2 }), new s.BatchNorm2d({ numFeatures: 5 }),
    new s.Flatten(), new s.Linear({ inFeatures: 5 * 2 * 2, outFeatures: 4, rng }),
  ]);
}

for (const cfg of configs) {
  describe(`fusion on ${cfg.backend}, ${cfg.threads} thread${cfg.threads > 1 ? "s" : ""}`, () => {
    test("inference: Conv2d + BatchNorm2d (+ ReLU) in a Sequential run as one convolution with the unfused numbers", () => {
      const be = use(cfg);
      const net = chainNet(3);
      randomizeNorms(net, 4);
      const x = s.Tensor.randn([3, 3, 11, 10], 5);
      const ctx = { training: false, noGrad: true };
      setFuse(net, false);
      const plain = net.forward(x, ctx);
      setFuse(net, true);
      let fused!: s.Tensor;
      const calls = countCalls(be, ["batchNormApply", "relu", "conv2d"], () => (fused = net.forward(x, ctx)));
      assertClose(fused.data, plain.data, "output");
      // Only the lone batch norm (after pooling) ran on its own; every ReLU ran inside a convolution.
      assert.deepEqual(calls, { batchNormApply: 1, relu: 0, conv2d: 3 });
      // A folded batch norm is still a plain batch norm on its own afterwards.
      const bn = net.layers[1] as s.BatchNorm2d;
      const h = s.Tensor.randn([2, 8, 3, 3], 6);
      const y = bn.forward(h, { training: false });
      const inv = 1 / Math.sqrt(bn.runningVar.data[2] + bn.eps);
      const i = 2 * 9 + 4; // image 0, channel 2, pixel 4
      const expected = (h.data[i] - bn.runningMean.data[2]) * inv * bn.weight!.value.data[2] + bn.bias!.value.data[2];
      assert.ok(Math.abs(y.data[i] - expected) < 1e-5, `${y.data[i]} vs ${expected}`);
    });

    test("inference: ResNet blocks (Graphs) fold their batch norms and give the unfused numbers", () => {
      use(cfg);
      const net = s.models.resnetCifar(20, { shortcut: "B", widthMultiplier: 0.5, inputShape: [3, 16, 16], rng: new s.Rng(7) });
      randomizeNorms(net, 8);
      const x = s.Tensor.randn([2, 3, 16, 16], 9);
      const ctx = { training: false, noGrad: true };
      setFuse(net, false);
      const plain = net.forward(x, ctx);
      setFuse(net, true);
      const fused = net.forward(x, ctx);
      assertClose(fused.data, plain.data, "logits", 1e-4);
      const bottleneck = s.models.resnet(50, { widthMultiplier: 0.125, numClasses: 5, inputShape: [3, 32, 32], rng: new s.Rng(10) });
      randomizeNorms(bottleneck, 11);
      const xb = s.Tensor.randn([1, 3, 32, 32], 12);
      setFuse(bottleneck, false);
      const plainB = bottleneck.forward(xb, ctx);
      setFuse(bottleneck, true);
      const be = s.getBackend();
      let fusedB!: s.Tensor;
      const calls = countCalls(be, ["batchNormApply"], () => (fusedB = bottleneck.forward(xb, ctx)));
      assertClose(fusedB.data, plainB.data, "resnet50 logits", 1e-4);
      assert.equal(calls.batchNormApply, 0, "every batch norm of ResNet-50 follows a convolution");
    });

    test("inference: a residual sum in the convolution's epilogue gives the bits of the convolution followed by add, on every algorithm", () => {
      const be = use(cfg);
      const algorithms = cfg.backend === "wasm" ? ["gemm", "direct", "winograd", "winograd4"] : ["auto"];
      const wasm = be as unknown as { convAlgorithm: string };
      const saved = wasm.convAlgorithm;
      const rng = new s.Rng(50);
      // 1x1 (the GEMM reads the input in place), 3x3 stride 1 (every algorithm), 3x3 stride 2 (im2col),
      // and 4x4 maps at batch 5 (several images per GEMM).
      const cases = [
        { conv: new s.Conv2d({ inChannels: 16, outChannels: 20, kernelSize: 1, bias: false, rng }), x: [2, 16, 9, 7] },
        { conv: new s.Conv2d({ inChannels: 16, outChannels: 16, kernelSize: 3, padding: 1, rng }), x: [2, 16, 10, 9] },
        { conv: new s.Conv2d({ inChannels: 8, outChannels: 12, kernelSize: 3, stride: 2, padding: 1, rng }), x: [2, 8, 9, 9] },
        { conv: new s.Conv2d({ inChannels: 16, outChannels: 24, kernelSize: 1, rng }), x: [5, 16, 4, 4] },
      ];
      try {
        for (const algorithm of algorithms) {
          if (cfg.backend === "wasm") wasm.convAlgorithm = algorithm;
          for (const [i, { conv, x: shape }] of cases.entries()) {
            const x = s.Tensor.randn(shape, 51 + i);
            const outShape = conv.shapeInfo(shape).shape;
            const residual = s.Tensor.randn(outShape, 61 + i);
            const scale = Float32Array.from({ length: conv.outChannels }, (_, k) => 0.5 + 0.1 * k);
            const shift = Float32Array.from({ length: conv.outChannels }, (_, k) => 0.2 * k - 1);
            const ctx = { training: false, noGrad: true, foldAffine: { scale, shift } };
            for (const relu of [false, true]) {
              const fused = conv.forward(x, { ...ctx, residual, fuseRelu: relu });
              const alone = conv.forward(x, ctx);
              const expected = new Float32Array(alone.size);
              be.add(alone.data, residual.data, expected, relu);
              assert.deepEqual(fused.data, expected, `${algorithm}, case ${i}, relu ${relu}`);
              if (relu) assert.ok(fused.data.some((v) => v === 0) && fused.data.some((v) => v > 0), "the ReLU clamps some outputs");
            }
          }
        }
      } finally {
        if (cfg.backend === "wasm") wasm.convAlgorithm = saved;
      }
    });

    test("inference: ResNet-50's blocks add their shortcut inside the last convolution (or the shortcut's), with the unfused numbers", () => {
      const be = use(cfg);
      const net = s.models.resnet(50, { widthMultiplier: 0.125, numClasses: 5, inputShape: [3, 32, 32], rng: new s.Rng(70) });
      randomizeNorms(net, 71);
      const x = s.Tensor.randn([2, 3, 32, 32], 72);
      const ctx = { training: false, noGrad: true };
      setFuse(net, false);
      let plain!: s.Tensor;
      const plainCalls = countCalls(be, ["add", "relu"], () => (plain = net.forward(x, ctx)));
      setFuse(net, true);
      let fused!: s.Tensor;
      let residuals = 0;
      const target = be as unknown as Record<string, (...a: unknown[]) => unknown>;
      const own = Object.getOwnPropertyDescriptor(target, "conv2d");
      const conv2d = target.conv2d;
      target.conv2d = function (this: unknown, ...a: unknown[]) {
        if (a[8]) residuals++;
        return conv2d.apply(this, a);
      };
      let calls!: Record<string, number>;
      try {
        calls = countCalls(be, ["add", "relu"], () => (fused = net.forward(x, ctx)));
      } finally {
        if (own) Object.defineProperty(target, "conv2d", own);
        else delete target.conv2d;
      }
      assertClose(fused.data, plain.data, "logits", 1e-4);
      assert.equal(plainCalls.add, 16);
      // Every block's sum runs in a convolution: the last one's, or in the four
      // blocks whose projection shortcut comes later in the graph, the projection's.
      assert.equal(residuals, 16);
      assert.equal(calls.add, 0);
      assert.equal(calls.relu, 0);
    });

    test("training: BatchNorm + ReLU and Add + ReLU in one pass each way give the unfused outputs, gradients and running statistics", () => {
      const be = use(cfg);
      const run = (fuse: boolean) => {
        const net = s.models.resnetCifar(20, { shortcut: "B", widthMultiplier: 0.5, inputShape: [3, 12, 12], rng: new s.Rng(20) });
        randomizeNorms(net, 21);
        setFuse(net, fuse);
        const x = s.Tensor.randn([3, 3, 12, 12], 22);
        let y!: s.Tensor, dx!: s.Tensor;
        const calls = countCalls(be, ["relu", "reluBackward", "batchNormTrain", "batchNormBackward"], () => {
          y = net.forward(x, { training: true });
          dx = net.backward(s.Tensor.randn(y.shape, 23));
        });
        const stats: Float32Array[] = [];
        const visit = (l: Module) => {
          if (l instanceof s.BatchNorm2d) stats.push(l.runningMean.data, l.runningVar.data);
          l.children().forEach(visit);
        };
        visit(net);
        return { y: y.data, dx: dx.data, grads: net.params().map((p) => p.grad.data), stats, calls };
      };
      const fused = run(true), plain = run(false);
      assertClose(fused.y, plain.y, "output", 1e-4);
      assertClose(fused.dx, plain.dx, "input gradient", 1e-4);
      fused.grads.forEach((g, i) => assertClose(g, plain.grads[i], `parameter ${i} gradient`, 1e-4));
      fused.stats.forEach((v, i) => assertClose(v, plain.stats[i], `running statistics ${i}`));
      // The stem's and every block's first ReLU run inside the batch norm before them, the blocks' last inside the Add.
      assert.equal(plain.calls.relu, 1 + 2 * 9);
      assert.equal(fused.calls.relu, 0);
      assert.equal(fused.calls.reluBackward, 9, "only the Add's fused ReLU masks its gradient in a call of its own");
      assert.equal(fused.calls.batchNormTrain, plain.calls.batchNormTrain);
      assert.equal(fused.calls.batchNormBackward, plain.calls.batchNormBackward);
    });

    test("a Sequential's BatchNorm1d + ReLU fuse too, and the batch norm alone is plain afterwards", () => {
      use(cfg);
      const run = (fuse: boolean) => {
        const rng = new s.Rng(30);
        const net = new s.Sequential([
          new s.Linear({ inFeatures: 6, outFeatures: 9, rng }), new s.BatchNorm1d({ numFeatures: 9 }), new s.ReLU(),
          new s.Linear({ inFeatures: 9, outFeatures: 3, rng }),
        ]);
        randomizeNorms(net, 31);
        setFuse(net, fuse);
        const y = net.forward(s.Tensor.randn([5, 6], 32), { training: true });
        const dx = net.backward(s.Tensor.randn(y.shape, 33));
        return { net, y: y.data, dx: dx.data, grads: net.params().map((p) => p.grad.data) };
      };
      const fused = run(true), plain = run(false);
      assertClose(fused.y, plain.y, "output");
      assertClose(fused.dx, plain.dx, "input gradient");
      fused.grads.forEach((g, i) => assertClose(g, plain.grads[i], `parameter ${i} gradient`));
      // The ReLU never ran, and the batch norm called alone has no ReLU in it.
      assert.throws(() => fused.net.layers[2].backward(s.Tensor.zeros([5, 9])), /without a forward pass/);
      const alone = (fused.net.layers[1] as s.BatchNorm1d).forward(s.Tensor.randn([4, 9], 34), { training: true });
      assert.ok(alone.data.some((v) => v < 0));
    });

    test("evaluation with gradients wanted does not fold: outputs, input and parameter gradients as unfused", () => {
      use(cfg);
      const run = (fuse: boolean) => {
        const net = chainNet(13);
        randomizeNorms(net, 14);
        setFuse(net, fuse);
        const y = net.forward(s.Tensor.randn([2, 3, 11, 10], 15), { training: false });
        const dx = net.backward(s.Tensor.randn(y.shape, 16));
        return { y: y.data, dx: dx.data, grads: net.params().map((p) => p.grad.data) };
      };
      const fused = run(true), plain = run(false);
      assertClose(fused.y, plain.y, "output");
      assertClose(fused.dx, plain.dx, "input gradient");
      fused.grads.forEach((g, i) => assertClose(g, plain.grads[i], `parameter ${i} gradient`));
    });
  });
}

describe("fusion, general", () => {
  test("a value read twice is not fused away, and mismatched layers still report their own errors", () => {
    use({ backend: "js", threads: 1 });
    const rng = new s.Rng(40);
    // conv's output feeds both the batch norm and the sum: the batch norm cannot fold into it.
    const g = new s.Graph()
      .add("conv", new s.Conv2d({ inChannels: 2, outChannels: 4, kernelSize: 3, padding: 1, rng }), "input")
      .add("bn", new s.BatchNorm2d({ numFeatures: 4 }), "conv")
      .add("relu", new s.ReLU(), "bn")
      .add("sum", new s.Add(), ["relu", "conv"]);
    randomizeNorms(g, 41);
    const x = s.Tensor.randn([2, 2, 5, 5], 42);
    const ctx = { training: false, noGrad: true };
    g.fuse = false;
    const plain = g.forward(x, ctx);
    g.fuse = true;
    const be = s.getBackend();
    let fused!: s.Tensor;
    const calls = countCalls(be, ["batchNormApply", "relu"], () => (fused = g.forward(x, ctx)));
    assertClose(fused.data, plain.data, "output");
    assert.deepEqual(calls, { batchNormApply: 1, relu: 0 }, "the batch norm runs on its own, with its ReLU fused");
    // A batch norm whose feature count does not match the convolution is not folded: it throws as it would unfused.
    const bad = new s.Sequential([
      new s.Conv2d({ inChannels: 2, outChannels: 4, kernelSize: 3, rng }), new s.BatchNorm2d({ numFeatures: 5 }), new s.ReLU(),
    ]);
    assert.throws(() => bad.forward(x, ctx), (e: unknown) => e instanceof s.ShapeError && /expects 5 features/.test(String(e)));
  });

  test("a residual sum stays in the Add when its other input comes later, is the same value, or has another shape", () => {
    const be = use({ backend: "js", threads: 1 });
    const rng = new s.Rng(80);
    const conv = (cin: number, cout: number, stride = 1) => new s.Conv2d({ inChannels: cin, outChannels: cout, kernelSize: 1, stride, bias: false, rng });
    const ctx = { training: false, noGrad: true };
    const x = s.Tensor.randn([2, 4, 6, 6], 81);
    // The shortcut's convolution comes after the main branch: the shortcut's convolution takes the sum instead.
    const later = new s.Graph()
      .add("conv", conv(4, 4), "input").add("bn", new s.BatchNorm2d({ numFeatures: 4 }), "conv")
      .add("shortConv", conv(4, 4), "input").add("shortBn", new s.BatchNorm2d({ numFeatures: 4 }), "shortConv")
      .add("sum", new s.Add(), ["bn", "shortBn"]).add("relu", new s.ReLU(), "sum");
    // The same batch norm's output twice: nothing to add it to yet.
    const twice = new s.Graph()
      .add("conv", conv(4, 4), "input").add("bn", new s.BatchNorm2d({ numFeatures: 4 }), "conv")
      .add("sum", new s.Add(), ["bn", "bn"]);
    for (const [name, g, adds] of [["later", later, 0], ["twice", twice, 1]] as const) {
      randomizeNorms(g, 82);
      g.fuse = false;
      const plain = g.forward(x, ctx);
      g.fuse = true;
      let fused!: s.Tensor;
      const calls = countCalls(be, ["add"], () => (fused = g.forward(x, ctx)));
      assertClose(fused.data, plain.data, name);
      assert.equal(calls.add, adds, `${name}: adds run on their own`);
    }
    // A strided convolution's output does not match the shortcut: the Add reports it, as unfused.
    const mismatch = new s.Graph()
      .add("conv", conv(4, 4, 2), "input").add("bn", new s.BatchNorm2d({ numFeatures: 4 }), "conv")
      .add("sum", new s.Add(), ["bn", "input"]).add("relu", new s.ReLU(), "sum");
    for (const fuse of [false, true]) {
      mismatch.fuse = fuse;
      assert.throws(() => mismatch.forward(x, ctx), (e: unknown) => e instanceof s.ShapeError && /a residual sum needs equal shapes/.test(String(e)));
    }
  });
});
