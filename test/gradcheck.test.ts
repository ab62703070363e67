/**
 * A central-difference gradient check, in float64, for every layer with a
 * backward pass and for the containers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as s from "../src/index.js";
import { gradcheck, randomTensor } from "./helpers/gradcheck.js";

const cases: [string, () => s.Layer | s.MergeLayer, number[][], Parameters<typeof gradcheck>[2]?][] = [
  ["Conv2d stride 2, padding 1", () => new s.Conv2d({ inChannels: 2, outChannels: 3, kernelSize: 3, stride: 2, padding: 1 }), [[2, 2, 7, 6]]],
  ["Conv2d asymmetric padding, non-square kernel", () => new s.Conv2d({ inChannels: 2, outChannels: 2, kernelSize: [2, 3], padding: [0, 1, 2, 1] }), [[1, 2, 5, 4]]],
  ["Conv2d same, even kernel", () => new s.Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 4, padding: "same" }), [[2, 1, 5, 5]]],
  ["Conv2d dilation 2", () => new s.Conv2d({ inChannels: 2, outChannels: 2, kernelSize: 3, dilation: 2, padding: 2 }), [[1, 2, 6, 6]]],
  ["Conv2d groups 2, no bias", () => new s.Conv2d({ inChannels: 4, outChannels: 6, kernelSize: 3, groups: 2, bias: false }), [[2, 4, 5, 5]]],
  ["Conv2d depthwise", () => new s.Conv2d({ inChannels: 3, outChannels: 6, kernelSize: 3, groups: 3, padding: 1 }), [[1, 3, 4, 4]]],
  ["Conv2d 1x1", () => new s.Conv2d({ inChannels: 3, outChannels: 2, kernelSize: 1 }), [[2, 3, 3, 4]]],
  ["Conv2d unbatched", () => new s.Conv2d({ inChannels: 2, outChannels: 2, kernelSize: 2 }), [[2, 4, 4]]],
  ["Conv2d stride 3 inexact fit", () => new s.Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3, stride: 3 }), [[1, 1, 7, 7]]],
  ["Conv1d padding, dilation", () => new s.Conv1d({ inChannels: 3, outChannels: 4, kernelSize: 3, padding: 2, dilation: 2 }), [[2, 3, 7]]],
  ["Conv1d groups, stride", () => new s.Conv1d({ inChannels: 4, outChannels: 2, kernelSize: 2, stride: 2, groups: 2 }), [[1, 4, 9]]],
  ["Conv1d same", () => new s.Conv1d({ inChannels: 2, outChannels: 2, kernelSize: 4, padding: "same" }), [[1, 2, 6]]],
  ["LocallyConnected2d", () => new s.LocallyConnected2d({ inChannels: 2, outChannels: 3, inputSize: [5, 4], kernelSize: 3, stride: 1, padding: 1 }), [[2, 2, 5, 4]]],
  ["LocallyConnected2d stride 2, no bias", () => new s.LocallyConnected2d({ inChannels: 1, outChannels: 2, inputSize: 6, kernelSize: 2, stride: 2, bias: false }), [[1, 1, 6, 6]]],
  ["MaxPool2d 3/2 overlapping", () => new s.MaxPool2d({ kernelSize: 3, stride: 2 }), [[2, 2, 7, 7]]],
  ["MaxPool2d padding, dilation, ceil", () => new s.MaxPool2d({ kernelSize: 2, stride: 2, padding: 1, dilation: 2, ceilMode: true }), [[1, 2, 7, 6]]],
  ["AvgPool2d padding, no pad count, ceil", () => new s.AvgPool2d({ kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false }), [[1, 2, 6, 7]]],
  ["AvgPool2d padding counted", () => new s.AvgPool2d({ kernelSize: 2, stride: 1, padding: 1 }), [[2, 1, 4, 4]]],
  ["LPPool2d p=2", () => new s.LPPool2d({ normType: 2, kernelSize: 2, stride: 2 }), [[1, 2, 4, 6]]],
  ["LPPool2d p=3 ceil", () => new s.LPPool2d({ normType: 3, kernelSize: 3, stride: 2, ceilMode: true }), [[1, 1, 6, 6]], {
    // x^(p-1) for odd p needs positive inputs (PyTorch gives NaN on negative window sums too).
    inputs: [s.Tensor.rand([1, 1, 6, 6], 3, 0.5, 2)],
  }],
  ["GlobalAvgPool2d", () => new s.GlobalAvgPool2d(), [[2, 3, 3, 2]]],
  ["GlobalMaxPool1d", () => new s.GlobalMaxPool1d(), [[2, 3, 5]]],
  ["Linear", () => new s.Linear({ inFeatures: 5, outFeatures: 3 }), [[4, 5]]],
  ["Linear 3-D input, no bias", () => new s.Linear({ inFeatures: 4, outFeatures: 2, bias: false }), [[2, 3, 4]]],
  ["BatchNorm2d training", () => new s.BatchNorm2d({ numFeatures: 3 }), [[3, 3, 2, 2]], { training: true }],
  ["BatchNorm2d evaluation", () => {
    const bn = new s.BatchNorm2d({ numFeatures: 2 });
    bn.runningMean.data.set([0.5, -0.3]);
    bn.runningVar.data.set([2, 0.7]);
    return bn;
  }, [[2, 2, 3, 3]]],
  ["BatchNorm1d [N, C] training", () => new s.BatchNorm1d({ numFeatures: 4 }), [[5, 4]], { training: true }],
  ["BatchNorm1d [N, C, L] training, not affine", () => new s.BatchNorm1d({ numFeatures: 2, affine: false }), [[3, 2, 4]], { training: true }],
  ["LocalResponseNorm size 5", () => new s.LocalResponseNorm({ size: 5, alpha: 0.1, beta: 0.75, k: 2 }), [[2, 7, 2, 2]]],
  ["LocalResponseNorm even size", () => new s.LocalResponseNorm({ size: 4, alpha: 0.5, beta: 0.6, k: 1 }), [[1, 5, 3]]],
  ["ReLU", () => new s.ReLU(), [[3, 7]]],
  ["LeakyReLU", () => new s.LeakyReLU({ negativeSlope: 0.2 }), [[3, 7]]],
  ["ELU", () => new s.ELU({ alpha: 1.5 }), [[3, 7]]],
  ["Tanh", () => new s.Tanh(), [[3, 7]]],
  ["Sigmoid", () => new s.Sigmoid(), [[3, 7]]],
  ["Softmax [N, C]", () => new s.Softmax(), [[3, 5]]],
  ["Softmax [N, C, H, W]", () => new s.Softmax(), [[2, 3, 2, 2]]],
  ["Flatten", () => new s.Flatten(), [[2, 3, 2, 2]]],
  ["Concat", () => new s.Concat({ axis: 1 }), [[2, 1, 3], [2, 3, 3], [2, 2, 3]]],
  ["Concat last axis", () => new s.Concat({ axis: -1 }), [[2, 2], [2, 3]]],
  ["Add", () => new s.Add(), [[2, 3], [2, 3], [2, 3]]],
  ["Sequential conv-relu-pool-fc", () => new s.Sequential([
    new s.Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3, padding: 1 }),
    new s.ReLU(),
    new s.MaxPool2d({ kernelSize: 2 }),
    new s.Flatten(),
    new s.Linear({ inFeatures: 8, outFeatures: 3 }),
  ]), [[2, 1, 4, 4]]],
  ["Graph residual block (fan-out and Add)", () => new s.Graph()
    .add("conv1", new s.Conv2d({ inChannels: 2, outChannels: 2, kernelSize: 3, padding: 1 }), "input")
    .add("bn1", new s.BatchNorm2d({ numFeatures: 2 }), "conv1")
    .add("relu1", new s.Tanh(), "bn1")
    .add("conv2", new s.Conv2d({ inChannels: 2, outChannels: 2, kernelSize: 3, padding: 1 }), "relu1")
    .add("sum", new s.Add(), ["conv2", "input"])
    .add("out", new s.Sigmoid(), "sum"), [[2, 2, 3, 3]], { training: true }],
  // The fused chains (models/fusion.ts): batch norm + ReLU and Add + ReLU, each run as one kernel.
  ["Graph ResNet basic block (fused BN+ReLU, Add+ReLU)", () => new s.Graph()
    .add("conv1", new s.Conv2d({ inChannels: 2, outChannels: 2, kernelSize: 3, padding: 1 }), "input")
    .add("bn1", new s.BatchNorm2d({ numFeatures: 2 }), "conv1")
    .add("relu1", new s.ReLU(), "bn1")
    .add("conv2", new s.Conv2d({ inChannels: 2, outChannels: 2, kernelSize: 3, padding: 1 }), "relu1")
    .add("bn2", new s.BatchNorm2d({ numFeatures: 2 }), "conv2")
    .add("sum", new s.Add(), ["bn2", "input"])
    .add("relu", new s.ReLU(), "sum"), [[2, 2, 3, 3]], { training: true }],
  ["Graph inception-style concat", () => new s.Graph()
    .add("b1", new s.Conv2d({ inChannels: 2, outChannels: 1, kernelSize: 1 }), "input")
    .add("b2a", new s.Conv2d({ inChannels: 2, outChannels: 1, kernelSize: 1 }), "input")
    .add("b2", new s.Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3, padding: 1 }), "b2a")
    .add("b3", new s.MaxPool2d({ kernelSize: 3, stride: 1, padding: 1 }), "input")
    .add("cat", new s.Concat(), ["b1", "b2", "b3"]), [[1, 2, 4, 4]]],
];

for (const [name, make, shapes, opts] of cases) {
  test(`gradcheck: ${name}`, () => gradcheck(make, shapes, opts));
}

test("gradcheck: Dropout in training (the mask fixed by reseeding its generator)", () => {
  const rng = new s.Rng(1);
  gradcheck(() => new s.Dropout({ p: 0.3, rng }), [[4, 6]], { training: true, beforeForward: () => rng.seed(11) });
});

test("gradcheck: Embedding (the table's gradient)", () => {
  const ids = new s.Tensor([2, 4], [0, 3, 3, 1, 2, 0, 4, 4]);
  gradcheck(() => new s.Embedding({ numEmbeddings: 5, embeddingDim: 3, layout: "NCL" }), [[2, 4]], { inputs: [ids], skipInputGrad: true });
});

test("gradcheck: the losses' gradients w.r.t. the logits", () => {
  s.withFloat64(() => {
    const rng = new s.Rng(5);
    const logits = randomTensor([4, 5], rng);
    const labels = [0, 3, 4, 1];
    for (const [name, fn] of [
      ["softmaxCrossEntropy", (x: s.Tensor) => s.softmaxCrossEntropy(x, labels)],
      ["multiClassHinge", (x: s.Tensor) => s.multiClassHinge(x, labels, 0.7)],
    ] as const) {
      const { grad } = fn(logits);
      for (let i = 0; i < logits.size; i++) {
        const orig = logits.data[i];
        logits.data[i] = orig + 1e-6;
        const lp = fn(logits).loss;
        logits.data[i] = orig - 1e-6;
        const lm = fn(logits).loss;
        logits.data[i] = orig;
        const numeric = (lp - lm) / 2e-6;
        assert.ok(Math.abs(numeric - grad.data[i]) < 1e-6, `${name} d logits[${i}]: ${grad.data[i]} vs ${numeric}`);
      }
    }
  });
});

test("gradcheck catches a wrong gradient (the check itself can fail)", () => {
  class WrongScale extends s.ReLU {
    override backward(dy: s.Tensor): s.Tensor {
      const dx = super.backward(dy);
      dx.data[0] *= 1.001;
      return dx;
    }
  }
  assert.throws(() => gradcheck(() => new WrongScale(), [[2, 3]], { inputs: [s.Tensor.full([2, 3], 1)] }), /relative error/);
});

test("a frozen parameter gets no gradient and the others still do", () => {
  const conv = new s.Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 2 });
  conv.weight.trainable = false;
  const y = conv.forward(s.Tensor.randn([1, 1, 3, 3], 1));
  conv.backward(s.Tensor.full(y.shape, 1));
  assert.ok(conv.weight.grad.data.every((v) => v === 0));
  assert.deepEqual(Array.from(conv.bias!.grad.data), [4, 4]);
});
