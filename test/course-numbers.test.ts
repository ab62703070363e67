/** The course material's own numbers, as tests. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as s from "../src/index.js";

const paramCount = (l: s.Layer) => l.params().reduce((n, p) => n + p.value.size, 0);

test("32x32x3 input, ten 5x5 filters, stride 1, pad 2: 32x32x10 with 760 parameters", () => {
  const conv = new s.Conv2d({ inChannels: 3, outChannels: 10, kernelSize: 5, stride: 1, padding: 2 });
  assert.deepEqual(conv.outputShape([1, 3, 32, 32]), [1, 10, 32, 32]);
  assert.equal(paramCount(conv), 760); // (5*5*3)*10 + 10
  assert.deepEqual(conv.forward(s.Tensor.randn([1, 3, 32, 32], 1)).shape, [1, 10, 32, 32]);
});

test("AlexNet conv1 on 227x227x3: 55x55x96, 34,944 parameters; 3x3/2 pooling gives 27x27x96", () => {
  const conv1 = new s.Conv2d({ inChannels: 3, outChannels: 96, kernelSize: 11, stride: 4 });
  assert.deepEqual(conv1.outputShape([3, 227, 227]), [96, 55, 55]);
  assert.equal(paramCount(conv1), 34944); // (11*11*3)*96 + 96
  const pool1 = new s.MaxPool2d({ kernelSize: 3, stride: 2 });
  assert.deepEqual(pool1.outputShape([96, 55, 55]), [96, 27, 27]);
  // The fit is exact at 227 (no note) and inexact at the paper's 224.
  assert.deepEqual(conv1.shapeInfo([3, 227, 227]).notes, []);
  const notes = conv1.shapeInfo([3, 224, 224]).notes.join("; ");
  assert.match(notes, /\(224 - 11 \+ 0\)\/4 \+ 1 = 54\.25/);
});

test("a 7x7 input with a 3x3 filter at stride 3 is refused under strict, with the formula", () => {
  const conv = new s.Conv2d({ name: "conv1", inChannels: 1, outChannels: 1, kernelSize: 3, stride: 3, strict: true });
  assert.throws(
    () => conv.outputShape([1, 1, 7, 7]),
    (e: unknown) => e instanceof s.ShapeError &&
      e.message.startsWith("conv1: (W - F + 2P)/S + 1 = (7 - 3 + 0)/3 + 1 = 2.3333 is not a whole number") &&
      e.message.includes("[1, 1, 7, 7]"),
  );
  // Without strict it floors, as PyTorch does.
  const lax = new s.Conv2d({ inChannels: 1, outChannels: 1, kernelSize: 3, stride: 3 });
  assert.deepEqual(lax.outputShape([1, 1, 7, 7]), [1, 1, 2, 2]);
});

test("the notes' 1-D example: [2,4,6,1,5,3,2] with [2,-1,0.1] gives [0.6, 2.1, 11.5, -2.7, 7.2]; padding 1 gives 7 outputs", () => {
  const x = new s.Tensor([1, 1, 7], [2, 4, 6, 1, 5, 3, 2]);
  const conv = new s.Conv1d({ inChannels: 1, outChannels: 1, kernelSize: 3, bias: false });
  conv.weight.value.data.set([2, -1, 0.1]); // applied without flipping, as the notes do
  const y = conv.forward(x);
  const expected = [0.6, 2.1, 11.5, -2.7, 7.2];
  assert.deepEqual(y.shape, [1, 1, 5]);
  y.data.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-5, `output ${i}: ${v} vs ${expected[i]}`));
  const padded = new s.Conv1d({ inChannels: 1, outChannels: 1, kernelSize: 3, padding: 1, bias: false });
  padded.weight.value.data.set([2, -1, 0.1]);
  const yp = padded.forward(x);
  assert.deepEqual(yp.shape, [1, 1, 7]);
  assert.ok(Math.abs(yp.data[0] - (0 * 2 + 2 * -1 + 4 * 0.1)) < 1e-5);
  assert.ok(Math.abs(yp.data[1] - 0.6) < 1e-5);
});

test("the notes' example of a stride-2 convolution on a padded 5x5x3 volume: 3x3x2 output", () => {
  // W = 5, F = 3, P = 1, S = 2: (5 - 3 + 2)/2 + 1 = 3.
  const conv = new s.Conv2d({ inChannels: 3, outChannels: 2, kernelSize: 3, stride: 2, padding: 1 });
  assert.deepEqual(conv.outputShape([1, 3, 5, 5]), [1, 2, 3, 3]);
  assert.equal(paramCount(conv), 3 * 3 * 3 * 2 + 2);
});

test("a 1x1 convolution is a dot product through the depth at every position", () => {
  const conv = new s.Conv2d({ inChannels: 3, outChannels: 1, kernelSize: 1, bias: false });
  conv.weight.value.data.set([1, 2, 3]);
  const x = s.Tensor.randn([1, 3, 2, 2], 4);
  const y = conv.forward(x);
  for (let p = 0; p < 4; p++) {
    const expected = x.data[p] + 2 * x.data[4 + p] + 3 * x.data[8 + p];
    assert.ok(Math.abs(y.data[p] - expected) < 1e-5);
  }
});

test("LocallyConnected2d with the same filter at every position equals Conv2d (it only unties the weights)", () => {
  const conv = new s.Conv2d({ inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1 });
  const local = new s.LocallyConnected2d({ inChannels: 2, outChannels: 3, inputSize: [4, 5], kernelSize: 3, padding: 1 });
  const positions = 4 * 5;
  for (let p = 0; p < positions; p++) local.weight.value.data.set(conv.weight.value.data, p * conv.weight.value.size);
  for (let k = 0; k < 3; k++) local.bias!.value.data.fill(conv.bias!.value.data[k], k * positions, (k + 1) * positions);
  const x = s.Tensor.randn([2, 2, 4, 5], 9);
  const a = conv.forward(x), b = local.forward(x);
  a.data.forEach((v, i) => assert.ok(Math.abs(v - b.data[i]) < 1e-5));
  // It has positions x the parameters of the convolution.
  assert.equal(paramCount(local), positions * conv.weight.value.size + 3 * positions);
});
