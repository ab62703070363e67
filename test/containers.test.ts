/** Sequential and Graph: the same numbers as chaining by hand, release under noGrad, and topology round trips. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as s from "../src/index.js";

const close = (a: Float32Array, b: Float32Array, tol = 1e-6) =>
  a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) <= tol * Math.max(1, Math.abs(b[i])));

function smallNet(): s.Sequential {
  return new s.Sequential([
    new s.Conv2d({ inChannels: 1, outChannels: 3, kernelSize: 3, padding: 1 }), new s.BatchNorm2d({ numFeatures: 3 }), new s.ReLU(),
    new s.MaxPool2d({ kernelSize: 2 }), new s.Flatten(), new s.Dropout({ p: 0.5 }), new s.Linear({ inFeatures: 12, outFeatures: 2 }),
  ]);
}

test("Sequential forward and backward equal chaining the layers by hand", () => {
  const net = smallNet();
  const x = s.Tensor.randn([2, 1, 4, 4], 3);
  const y = net.forward(x);
  let h = x;
  for (const l of net.layers) h = l.forward(h);
  assert.ok(close(y.data, h.data));
  const dy = s.Tensor.randn(y.shape, 4);
  const dx = net.backward(dy);
  assert.deepEqual(dx.shape, x.shape);
  assert.ok(dx.data.some((v) => v !== 0));
});

test("under noGrad nothing is kept for a backward pass", () => {
  const net = smallNet();
  net.forward(s.Tensor.randn([2, 1, 4, 4], 3), { noGrad: true });
  assert.throws(() => net.backward(s.Tensor.zeros([2, 2])), /without a forward pass/);
  const g = new s.Graph().add("a", new s.Conv2d({ inChannels: 1, outChannels: 1, kernelSize: 1 }), "input").add("b", new s.Add(), ["a", "input"]);
  const y = g.forward(s.Tensor.randn([1, 1, 2, 2], 1), { noGrad: true });
  assert.deepEqual(y.shape, [1, 1, 2, 2]);
  assert.throws(() => g.backward(y), /without a forward pass/);
});

test("Graph fan-out sums the gradients of its branches", () => {
  // y = relu(x) + x: dy/dx = 1 + (x > 0).
  const g = new s.Graph().add("r", new s.ReLU(), "input").add("sum", new s.Add(), ["r", "input"]);
  const x = new s.Tensor([1, 4], [-1, 2, -3, 4]);
  const y = g.forward(x);
  assert.deepEqual(Array.from(y.data), [-1, 4, -3, 8]);
  assert.deepEqual(Array.from(g.backward(s.Tensor.full([1, 4], 1)).data), [1, 2, 1, 2]);
});

test("a Graph's output can be any node; nodes that do not reach it get no gradient", () => {
  const g = new s.Graph()
    .add("a", new s.Linear({ inFeatures: 3, outFeatures: 2 }), "input")
    .add("dead", new s.Linear({ inFeatures: 3, outFeatures: 2 }), "input")
    .setOutput("a");
  const y = g.forward(s.Tensor.randn([2, 3], 1));
  g.backward(s.Tensor.full(y.shape, 1));
  const dead = g.node("dead")!.layer as s.Linear;
  assert.ok(dead.weight.grad.data.every((v) => v === 0));
  assert.ok((g.node("a")!.layer as s.Linear).weight.grad.data.some((v) => v !== 0));
});

test("a topology survives toSpec -> JSON -> fromSpec, and with the weights copied gives the same output", () => {
  const block = new s.Graph()
    .add("conv", new s.Conv2d({ inChannels: 2, outChannels: 2, kernelSize: 3, padding: "same", groups: 2 }), "input")
    .add("bn", new s.BatchNorm2d({ numFeatures: 2, momentum: 0.2 }), "conv")
    .add("sum", new s.Add(), ["bn", "input"]);
  const net = new s.Sequential([
    new s.Conv2d({ inChannels: 1, outChannels: 2, kernelSize: [3, 2], padding: [1, 1, 0, 1] }), block, new s.LocalResponseNorm({ size: 3 }),
    new s.AvgPool2d({ kernelSize: 2, countIncludePad: false }), new s.Flatten(), new s.Linear({ inFeatures: 2 * 2 * 2, outFeatures: 3 }),
  ]);
  const json = JSON.stringify(s.toSpec(net));
  const copy = s.fromSpec(JSON.parse(json)) as s.Sequential;
  assert.equal(JSON.stringify(s.toSpec(copy)), json);
  const src = net.params(), dst = copy.params();
  assert.equal(src.length, dst.length);
  src.forEach((p, i) => dst[i].value.data.set(p.value.data));
  const x = s.Tensor.randn([2, 1, 4, 4], 2);
  assert.ok(close(net.forward(x).data, copy.forward(x).data));
});

test("fromSpec refuses damaged topologies with the place and the problem", () => {
  assert.throws(() => s.fromSpec({ type: "Conv9d", name: "x", config: {} }), /model\/x: unknown layer type "Conv9d"/);
  assert.throws(() => s.fromSpec({ type: "Sequential", name: "net", config: {}, layers: [{ type: "ReLU", name: 3, config: {} }] }), /model\/net\[0\]: "name" must be a string/);
  assert.throws(() => s.fromSpec({ type: "Conv2d", name: "c", config: { inChannels: 1, outChannels: 2, kernelSize: -3 } }), /model\/c: cannot rebuild the Conv2d: c: kernelSize = -3/);
  assert.throws(() => s.fromSpec(null), /expected a layer object/);
});

test("inputGrad: false skips the first layer's input gradient and changes no parameter gradient", () => {
  const grads = (inputGrad: boolean) => {
    const net = new s.Sequential([
      new s.Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3, rng: new s.Rng(1) }), new s.ReLU(),
      new s.Conv2d({ inChannels: 2, outChannels: 2, kernelSize: 2, rng: new s.Rng(2) }),
      new s.Flatten(), new s.Linear({ inFeatures: 8, outFeatures: 3, rng: new s.Rng(3) }),
    ]);
    const y = net.forward(s.Tensor.randn([2, 1, 5, 5], 4), { training: true, inputGrad });
    const dx = net.backward(s.Tensor.randn(y.shape, 5));
    return { dx, params: net.params().map((p) => Array.from(p.grad.data)) };
  };
  const full = grads(true), skipped = grads(false);
  assert.deepEqual(skipped.params, full.params);
  assert.ok(full.dx.data.some((v) => v !== 0));
  assert.ok(skipped.dx.data.every((v) => v === 0));
  // Only the first layer skips: the second convolution still passes its input gradient down.
  const g = new s.Graph()
    .add("a", new s.Linear({ inFeatures: 2, outFeatures: 2 }), "input")
    .add("b", new s.Linear({ inFeatures: 2, outFeatures: 2 }), "a");
  g.forward(s.Tensor.randn([1, 2], 1), { inputGrad: false });
  const b = g.node("b")!.layer as s.Linear;
  g.backward(s.Tensor.full([1, 2], 1));
  assert.ok((g.node("a")!.layer as s.Linear).weight.grad.data.some((v) => v !== 0), "the first layer's weights still get gradients");
  assert.ok(b.weight.grad.data.some((v) => v !== 0));
});

test("a Conv2d followed by a ReLU runs fused in a Sequential, with the same outputs and gradients as unfused", () => {
  const run = (fuse: boolean) => {
    const rng = new s.Rng(8);
    const net = new s.Sequential([
      new s.Conv2d({ inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1, rng }), new s.ReLU(),
      new s.Conv2d({ inChannels: 3, outChannels: 2, kernelSize: 3, rng }), new s.ReLU(),
      new s.Flatten(), new s.Linear({ inFeatures: 8, outFeatures: 2, rng }),
    ]);
    net.fuseConvRelu = fuse;
    const y = net.forward(s.Tensor.randn([2, 2, 4, 4], 9), { training: true });
    const dx = net.backward(s.Tensor.randn(y.shape, 10));
    return { net, y: Array.from(y.data), dx: Array.from(dx.data), grads: net.params().map((p) => Array.from(p.grad.data)) };
  };
  const fused = run(true), plain = run(false);
  // Fused, the ReLU layers never ran: they kept nothing for a backward pass.
  assert.throws(() => fused.net.layers[1].backward(s.Tensor.zeros([2, 3, 4, 4])), /without a forward pass/);
  assert.doesNotThrow(() => plain.net.layers[1].backward(s.Tensor.zeros([2, 3, 4, 4])));
  // The convolution alone is still a plain convolution afterwards.
  const conv = fused.net.layers[0] as s.Conv2d;
  conv.weight.value.data.fill(-1);
  conv.bias!.value.data.fill(0);
  assert.ok(conv.forward(s.Tensor.full([1, 2, 4, 4], 1)).data.every((v) => v < 0));
  assert.deepEqual(fused.y, plain.y);
  assert.deepEqual(fused.dx, plain.dx);
  assert.deepEqual(fused.grads, plain.grads);
  assert.ok(fused.y.some((v) => v !== 0));
});
