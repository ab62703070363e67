/**
 * receptiveField(): the notes' figures (three 3x3 layers see 7x7, the Theano
 * LeNet's 5, dilation's exponential growth), the well-known fields of VGG-16
 * and ResNet-50, and, for small nets, a probe: the input pixels whose
 * gradient reaches one output unit are exactly the field that was computed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Tensor } from "../src/tensor.js";
import { Conv2d, Conv1d } from "../src/layers/conv.js";
import { AvgPool2d, MaxPool2d } from "../src/layers/pool.js";
import { Add } from "../src/layers/merge.js";
import { Sequential } from "../src/models/sequential.js";
import { Graph } from "../src/models/graph.js";
import * as models from "../src/models/zoo/index.js";
import { receptiveField } from "../src/models/receptive-field.js";
import { summary } from "../src/models/summary.js";
import { setBackend, getBackend } from "../src/kernels/index.js";

const conv = (k: number, o: { stride?: number; padding?: number; dilation?: number; name?: string } = {}) =>
  new Conv2d({ inChannels: 1, outChannels: 1, kernelSize: k, ...o });

test("three stacked 3x3 convolutions see 7x7 (the notes' VGG argument)", () => {
  const net = new Sequential([conv(3, { padding: 1, name: "a" }), conv(3, { padding: 1, name: "b" }), conv(3, { padding: 1, name: "c" })]);
  const rf = receptiveField(net, [1, 32, 32]);
  assert.deepEqual(rf.rows.map((r) => r.size[0]), [1, 3, 5, 7]);
  assert.deepEqual(rf.rows.at(-1)!.jump, [1, 1]);
});

test("dilated 3x3 convolutions with dilation 1, 2, 4 grow the field exponentially: 3, 7, 15", () => {
  const net = new Sequential([conv(3, { dilation: 1, padding: 1, name: "d1" }), conv(3, { dilation: 2, padding: 2, name: "d2" }), conv(3, { dilation: 4, padding: 4, name: "d4" })]);
  assert.deepEqual(receptiveField(net, [1, 32, 32]).rows.slice(1).map((r) => r.size), [[3, 3], [7, 7], [15, 15]]);
});

test("the Theano tutorial's LeNet: the first convolution's units see 5x5, and a 2x2 pooling doubles the jump", () => {
  const net = new Sequential([conv(5, { name: "c1" }), new MaxPool2d({ kernelSize: 2, name: "p1" }), conv(5, { name: "c2" })]);
  const [, c1, p1, c2] = receptiveField(net, [1, 28, 28]).rows;
  assert.deepEqual([c1.size, c1.jump, c1.start], [[5, 5], [1, 1], [2, 2]]);
  assert.deepEqual([p1.size, p1.jump, p1.start], [[6, 6], [2, 2], [2.5, 2.5]]);
  assert.deepEqual([c2.size, c2.jump], [[14, 14], [2, 2]]);
});

test("VGG-16's pool5 sees 212x212 and ResNet-50's last block 427x427 (the published figures); the classifiers see the whole input", () => {
  const vgg = receptiveField(models.vgg16({ meta: true }), [3, 224, 224]).rows;
  assert.deepEqual(vgg.find((r) => r.name === "pool5")!.size, [212, 212]);
  assert.deepEqual(vgg.find((r) => r.name === "pool5")!.jump, [32, 32]);
  const fc8 = vgg.at(-1)!;
  assert.equal(fc8.global, true);
  assert.deepEqual(fc8.size, [224, 224]);
  const resnet = receptiveField(models.resnet(50, { meta: true }), [3, 224, 224]).rows;
  const lastAdd = resnet.filter((r) => r.type === "Add").at(-1)!;
  assert.deepEqual(lastAdd.size, [427, 427]);
  assert.deepEqual(lastAdd.jump, [32, 32]);
});

test("a 1-D convolution of k words sees k words; 1-max pooling sees the sentence", () => {
  const rows = receptiveField(models.textCnn({ meta: true, regionSizes: [3] }), [7]).rows;
  assert.deepEqual(rows.find((r) => r.type === "Conv1d")!.size, [1, 3]);
  assert.deepEqual(rows.find((r) => r.type === "GlobalMaxPool1d")!.size, [1, 7]);
  const direct = receptiveField(new Conv1d({ inChannels: 2, outChannels: 1, kernelSize: 3, dilation: 2, stride: 2 }), [2, 20]).rows[1];
  assert.deepEqual([direct.size, direct.jump, direct.start], [[1, 5], [1, 2], [0, 2]]);
});

/** The input pixels (row, col) whose gradient reaches output unit (i, j): the field a probe finds. */
function probe(net: Sequential | Graph, input: number[], unit: [number, number]): { rows: [number, number]; cols: [number, number] } {
  const x = Tensor.full([1, ...input], 1);
  const y = net.forward(x);
  const dy = Tensor.zeros(y.shape);
  const [, c, h, w] = y.shape;
  for (let ch = 0; ch < c; ch++) dy.data[(ch * h + unit[0]) * w + unit[1]] = 1;
  const dx = net.backward(dy);
  const [, , H, W] = dx.shape;
  let r0 = Infinity, r1 = -Infinity, c0 = Infinity, c1 = -Infinity;
  for (let r = 0; r < H; r++) {
    for (let col = 0; col < W; col++) {
      if (dx.data[r * W + col] !== 0) {
        r0 = Math.min(r0, r); r1 = Math.max(r1, r); c0 = Math.min(c0, col); c1 = Math.max(c1, col);
      }
    }
  }
  return { rows: [r0, r1], cols: [c0, c1] };
}

/** The computed field of unit (i, j), clipped to the input: what a probe can see. */
function predicted(size: [number, number], jump: [number, number], start: [number, number], unit: [number, number], input: number[]) {
  const axis = (a: 0 | 1, n: number): [number, number] => {
    const centre = start[a] + unit[a] * jump[a];
    return [Math.max(0, centre - (size[a] - 1) / 2), Math.min(n - 1, centre + (size[a] - 1) / 2)];
  };
  return { rows: axis(0, input[1]), cols: axis(1, input[2]) };
}

test("the computed field is what a gradient probe finds (strides, padding, dilation, average pooling, a residual add)", () => {
  const saved = getBackend();
  setBackend("js");
  try {
    // Positive weights and inputs: nothing cancels, so every pixel in the field gets a gradient.
    const positive = (net: Sequential | Graph) => {
      for (const p of net.params()) p.value.data.fill(0.1);
      return net;
    };
    const chain = positive(new Sequential([
      conv(3, { stride: 2, padding: 1, name: "c1" }),
      conv(3, { dilation: 2, padding: 1, name: "c2" }),
      new AvgPool2d({ kernelSize: 3, stride: 2, name: "p" }),
      conv(2, { name: "c3" }),
    ]));
    const residual = new Graph({ name: "res" });
    residual.add("a", conv(3, { padding: 1, name: "a" }), "input");
    residual.add("b", conv(5, { padding: 2, stride: 1, name: "b" }), "a");
    residual.add("skip", conv(1, { name: "skip" }), "input");
    residual.add("sum", new Add(), ["b", "skip"]);
    positive(residual);
    const input = [1, 33, 31];
    for (const net of [chain, residual]) {
      const last = receptiveField(net, input).rows.at(-1)!;
      const out = summary(net, input).outputShape;
      for (const unit of [[0, 0], [1, 2], [out[1] - 1, out[2] - 1]] as [number, number][]) {
        assert.deepEqual(probe(net, input, unit), predicted(last.size, last.jump, last.start, unit, input), `${net.name} unit ${unit}`);
      }
    }
  } finally {
    setBackend(saved.name);
  }
});
