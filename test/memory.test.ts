/** estimateMemory and fitBatchSize on networks small enough to count by hand, and on VGG-16. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Conv2d } from "../src/layers/conv.js";
import { Linear } from "../src/layers/dense.js";
import { ReLU } from "../src/layers/activation.js";
import { Flatten } from "../src/layers/reshape.js";
import { Dropout } from "../src/layers/dropout.js";
import { BatchNorm2d } from "../src/layers/norm.js";
import { Concat } from "../src/layers/merge.js";
import { Sequential } from "../src/models/sequential.js";
import { Graph } from "../src/models/graph.js";
import * as models from "../src/models/zoo/index.js";
import { estimateMemory, fitBatchSize } from "../src/models/memory.js";

/** conv 3->2 3x3 pad 1 on 4x4, ReLU, Flatten, Dropout, FC 32->3. */
function tiny(): Sequential {
  return new Sequential([
    new Conv2d({ inChannels: 3, outChannels: 2, kernelSize: 3, padding: 1 }),
    new ReLU(),
    new Flatten(),
    new Dropout({ p: 0.5 }),
    new Linear({ inFeatures: 32, outFeatures: 3 }),
  ]);
}

test("training memory: activations and their gradients, parameters, gradients, optimiser state and the input", () => {
  const e = estimateMemory(tiny(), [3, 4, 4], { batchSize: 2, optimizer: "adam" });
  // Per example: conv 2*4*4 = 32, ReLU 32 (a new tensor), Flatten a view, Dropout 32 (training copies), FC 3.
  const acts = 32 + 32 + 32 + 3;
  const params = (2 * 27 + 2) + (32 * 3 + 3);
  assert.equal(e.activationsPerExample, acts);
  assert.equal(e.params, params);
  assert.equal(e.training.input, 2 * 48 * 4);
  assert.equal(e.training.activations, 2 * acts * 4);
  assert.equal(e.training.activationGradients, 2 * acts * 4);
  assert.equal(e.training.parameters, params * 4);
  assert.equal(e.training.parameterGradients, params * 4);
  assert.equal(e.training.optimizerState, 2 * params * 4, "Adam keeps two copies");
  assert.equal(e.training.total, (2 * 48 + 4 * acts + 4 * params) * 4);
});

test("inference memory keeps only the live activations", () => {
  const e = estimateMemory(tiny(), [3, 4, 4], { batchSize: 3 });
  // conv out (32) -> ReLU out (32) alive together = 64; then conv's is dropped; Flatten and Dropout are views; FC: 32 + 3.
  assert.equal(e.peakActivationsPerExample, 64);
  assert.equal(e.inference.activations, 3 * 64 * 4);
  assert.equal(e.inference.total, (3 * 48 + 3 * 64 + e.params) * 4);
});

test("a graph's branches keep their input alive until the last branch has read it", () => {
  const g = new Graph();
  g.add("a", new Conv2d({ inChannels: 1, outChannels: 4, kernelSize: 1 }), "input"); // 4*8*8 = 256
  g.add("b1", new Conv2d({ inChannels: 4, outChannels: 2, kernelSize: 1 }), "a"); // 128
  g.add("b2", new Conv2d({ inChannels: 4, outChannels: 2, kernelSize: 1 }), "a"); // 128
  g.add("cat", new Concat(), ["b1", "b2"]); // 256
  const e = estimateMemory(g, [1, 8, 8]);
  // At b2: a (256) + b1 (128) + b2 (128) = 512; at cat: b1 + b2 + cat = 512 (a is gone).
  assert.equal(e.peakActivationsPerExample, 512);
  assert.equal(e.activationsPerExample, 256 + 128 + 128 + 256);
});

test("momentum keeps one more copy of the parameters (the notes' x3); buffers count", () => {
  const m = models.vgg16({ init: false });
  const sgd = estimateMemory(m, [3, 224, 224], { optimizer: "sgd" });
  const mom = estimateMemory(m, [3, 224, 224], { optimizer: "momentum" });
  assert.equal(mom.training.parameters + mom.training.parameterGradients + mom.training.optimizerState, 3 * 138_357_544 * 4);
  assert.equal(mom.training.total - sgd.training.total, 138_357_544 * 4);
  const bn = estimateMemory(new Sequential([new Conv2d({ inChannels: 1, outChannels: 5, kernelSize: 1 }), new BatchNorm2d({ numFeatures: 5 })]), [1, 2, 2]);
  assert.equal(bn.training.buffers, 10 * 4, "running mean and variance");
  const half = estimateMemory(m, [3, 224, 224], { dtype: "float16" });
  assert.equal(half.training.total * 2, sgd.training.total);
  assert.match(mom.toString(), /optimizer state \(1 copy of the parameters\)/);
  assert.match(mom.human.training, /MB|GB/);
});

test("fitBatchSize finds the largest batch that fits", () => {
  const m = models.vgg16({ init: false });
  const budget = 8e9;
  const b = fitBatchSize(m, [3, 224, 224], budget, { optimizer: "momentum" });
  assert.ok(b >= 1);
  assert.ok(estimateMemory(m, [3, 224, 224], { batchSize: b, optimizer: "momentum" }).training.total <= budget);
  assert.ok(estimateMemory(m, [3, 224, 224], { batchSize: b + 1, optimizer: "momentum" }).training.total > budget);
  const inf = fitBatchSize(m, [3, 224, 224], budget, { mode: "inference" });
  assert.ok(inf > b, "inference fits a larger batch");
  assert.equal(fitBatchSize(m, [3, 224, 224], 1e9), 0, "the parameters, gradients alone do not fit in 1 GB");
  assert.throws(() => fitBatchSize(m, [3, 224, 224], -5), /bytes = -5 is not valid/);
});

test("bad options are refused with a clear message", () => {
  assert.throws(() => estimateMemory(tiny(), [3, 4, 4], { batchSize: 0 }), /batchSize = 0 is not valid/);
  assert.throws(() => estimateMemory(tiny(), [3, 4, 4], { optimizer: "lbfgs" as any }), /optimizer = "lbfgs" is not valid; use one of sgd, momentum/);
});
