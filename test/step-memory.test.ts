// The step arena (models/step-memory.ts): containers run their layers on
// arrays in wasm memory and must hand back ordinary arrays that later steps
// cannot overwrite, compute what the js backend computes, and reuse the
// same memory from step to step.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  Tensor, Sequential, Graph, Conv2d, BatchNorm2d, ReLU, MaxPool2d, Flatten, Linear, Add, SGD, Concat, AvgPool2d, Tanh,
  softmaxCrossEntropy, setBackend, getBackend, manualSeed,
} from "../src/index.js";
import { wasmSupported, WasmBackend } from "../src/kernels/wasm/index.js";
import { WasmStepArena } from "../src/kernels/wasm/step-arena.js";

const supported = wasmSupported();

function buildNet(seed: number): Sequential {
  manualSeed(seed);
  const block = new Graph()
    .add("conv", new Conv2d({ inChannels: 4, outChannels: 4, kernelSize: 3, padding: 1 }), "input")
    .add("bn", new BatchNorm2d({ numFeatures: 4 }), "conv")
    .add("relu", new ReLU(), "bn")
    .add("sum", new Add(), ["relu", "input"]);
  return new Sequential([
    new Conv2d({ inChannels: 2, outChannels: 4, kernelSize: 3, padding: 1 }), new ReLU(), block,
    new MaxPool2d({ kernelSize: 2 }), new Flatten(), new Linear({ inFeatures: 4 * 4 * 4, outFeatures: 5 }),
  ]);
}

/**
 * Every layer whose output comes from the arena without zeroing (Tensor.empty):
 * convolution, ReLU and Tanh, batch norm, Add, Concat, both poolings, Linear,
 * and a Graph node read by two branches (its gradients are summed).
 */
function buildWideNet(seed: number): Sequential {
  manualSeed(seed);
  const block = new Graph()
    .add("conv", new Conv2d({ inChannels: 4, outChannels: 4, kernelSize: 3, padding: 1 }), "input")
    .add("bn", new BatchNorm2d({ numFeatures: 4 }), "conv")
    .add("relu", new ReLU(), "bn")
    .add("tanh", new Tanh(), "input")
    .add("sum", new Add(), ["relu", "tanh"])
    .add("cat", new Concat(), ["sum", "relu"]);
  return new Sequential([
    new Conv2d({ inChannels: 2, outChannels: 4, kernelSize: 3, padding: 1 }), new ReLU(), block,
    new AvgPool2d({ kernelSize: 2 }), new MaxPool2d({ kernelSize: 2 }), new Flatten(),
    new Linear({ inFeatures: 8 * 2 * 2, outFeatures: 5 }),
  ]);
}

function train(backend: string, steps: number, build = buildNet): { losses: number[]; weights: Float32Array[]; inference: Float32Array } {
  const previous = getBackend().name;
  setBackend(backend);
  try {
    const model = build(3);
    const opt = new SGD(model.params(), { lr: 0.05, momentum: 0.9 });
    const x = Tensor.randn([6, 2, 8, 8], 11);
    const labels = [0, 1, 2, 3, 4, 0];
    const losses: number[] = [];
    for (let i = 0; i < steps; i++) {
      opt.zeroGrad();
      const { loss, grad } = softmaxCrossEntropy(model.forward(x, { training: true }), labels);
      model.backward(grad);
      opt.step();
      losses.push(loss);
    }
    const inference = model.forward(x, { noGrad: true }).data;
    return { losses, weights: model.params().map((p) => p.value.data.slice()), inference };
  } finally {
    setBackend(previous);
  }
}

/** Runs fn with the wasm backend selected, then puts the previous backend back. */
function onWasm(fn: (backend: WasmBackend) => void): void {
  const previous = getBackend().name;
  try {
    fn(setBackend("wasm") as WasmBackend);
  } finally {
    setBackend(previous);
  }
}

describe("step memory", { skip: supported ? false : "no WebAssembly SIMD here" }, () => {
  test("training on the wasm backend (arena) follows the js backend (ordinary arrays) step for step", () => {
    const a = train("wasm", 5), b = train("js", 5);
    for (let i = 0; i < a.losses.length; i++) assert.ok(Math.abs(a.losses[i] - b.losses[i]) < 1e-4 * Math.max(1, Math.abs(b.losses[i])), `step ${i}: ${a.losses[i]} vs ${b.losses[i]}`);
    a.weights.forEach((w, k) => w.forEach((v, i) => assert.ok(Math.abs(v - b.weights[k][i]) < 1e-4, `param ${k}[${i}]`)));
  });

  test("outputs taken from the arena without zeroing are written in full (arena memory poisoned with NaN)", () => {
    WasmStepArena.poisonUninitialized = true;
    try {
      const a = train("wasm", 4, buildWideNet), b = train("js", 4, buildWideNet);
      for (let i = 0; i < a.losses.length; i++) assert.ok(Math.abs(a.losses[i] - b.losses[i]) < 1e-4 * Math.max(1, Math.abs(b.losses[i])), `step ${i}: ${a.losses[i]} vs ${b.losses[i]}`);
      a.weights.forEach((w, k) => w.forEach((v, i) => assert.ok(Math.abs(v - b.weights[k][i]) < 1e-4, `param ${k}[${i}]: ${v} vs ${b.weights[k][i]}`)));
      a.inference.forEach((v, i) => assert.ok(Math.abs(v - b.inference[i]) < 1e-4, `inference output ${i}: ${v} vs ${b.inference[i]}`));
    } finally {
      WasmStepArena.poisonUninitialized = false;
    }
  });

  test("what forward and backward return is an ordinary array that later steps leave alone", () => {
    onWasm((backend) => {
      const model = buildNet(5);
      const x1 = Tensor.randn([2, 2, 8, 8], 1), x2 = Tensor.randn([2, 2, 8, 8], 2);
      const y1 = model.forward(x1, { training: true });
      const dx1 = model.backward(Tensor.ones(y1.shape));
      const y1Copy = y1.data.slice(), dx1Copy = dx1.data.slice();
      assert.equal(backend.rt.isResident(y1.data), false);
      assert.equal(backend.rt.isResident(dx1.data), false);
      const y2 = model.forward(x2, { training: true });
      model.backward(Tensor.ones(y2.shape));
      assert.deepEqual(y1.data, y1Copy, "the first output is unchanged by the second step");
      assert.deepEqual(dx1.data, dx1Copy, "the first input gradient is unchanged by the second step");
      assert.notDeepEqual(y2.data, y1.data);
    });
  });

  test("the arena is reused: memory stops growing after the first steps", () => {
    onWasm((backend) => {
      const model = buildNet(7);
      const x = Tensor.randn([4, 2, 8, 8], 3);
      const heapEnd = () => (backend.rt as unknown as { heapEnd: number }).heapEnd;
      const step = () => model.backward(Tensor.ones(model.forward(x, { training: true }).shape));
      step();
      step();
      const after2 = heapEnd();
      for (let i = 0; i < 10; i++) step();
      assert.equal(heapEnd(), after2);
    });
  });

  test("a layer called on its own still gets ordinary arrays", () => {
    onWasm((backend) => {
      const conv = new Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3 });
      const y = conv.forward(Tensor.randn([1, 1, 5, 5], 4));
      assert.equal(backend.rt.isResident(y.data), false);
      assert.equal(backend.rt.isResident(conv.weight.value.data), false, "its weights stay ordinary until an optimiser pins them");
    });
  });

  test("the arena hands out zeroed, non-overlapping arrays, starts over on reset, and stops at a step's limit", () => {
    const rt = new WasmBackend(1).rt;
    const arena = new WasmStepArena(rt);
    arena.reset();
    const a = arena.floats(100)!, b = arena.floats(3 << 20)!, c = arena.ints(7)!; // b spills into a second chunk
    assert.ok(rt.isResident(a) && rt.isResident(b) && rt.isResident(c));
    const spans = [a, b, c].map((v) => [v.byteOffset, v.byteOffset + v.byteLength]).sort((p, q) => p[0] - q[0]);
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i][0] >= spans[i - 1][1], "arrays do not overlap");
    a.fill(5);
    arena.reset();
    const a2 = arena.floats(100)!;
    assert.ok(a2.every((v) => v === 0), "memory handed out again comes back zeroed");
    arena.floats(3 << 20);
    arena.reset(4096);
    assert.notEqual(arena.floats(512), null);
    assert.equal(arena.floats(1024), null, "past the step's limit the caller gets an ordinary array");
  });
});
