/**
 * FC -> CONV: one pass of the converted network over a larger image equals
 * the original network on every crop at the network's stride (the notes'
 * 384x384 vs 224x224 at stride 32, scaled down to 18x18 vs 12x12 at stride 2).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Tensor } from "../src/tensor.js";
import { Rng } from "../src/random.js";
import { Conv2d } from "../src/layers/conv.js";
import { MaxPool2d } from "../src/layers/pool.js";
import { Linear } from "../src/layers/dense.js";
import { ReLU } from "../src/layers/activation.js";
import { Flatten } from "../src/layers/reshape.js";
import { Dropout } from "../src/layers/dropout.js";
import { Sequential } from "../src/models/sequential.js";
import * as models from "../src/models/zoo/index.js";
import { toFullyConvolutional } from "../src/models/fully-conv.js";

function smallNet(): Sequential {
  const rng = new Rng(11);
  return new Sequential([
    new Conv2d({ inChannels: 2, outChannels: 4, kernelSize: 3, rng, init: "pytorch" }), // 12 -> 10
    new ReLU(),
    new MaxPool2d({ kernelSize: 2 }), // 10 -> 5: the network's stride is 2
    new Conv2d({ inChannels: 4, outChannels: 6, kernelSize: 3, rng, init: "pytorch" }), // 5 -> 3
    new ReLU(),
    new Flatten(),
    new Linear({ inFeatures: 6 * 3 * 3, outFeatures: 8, rng, init: "pytorch" }),
    new ReLU(),
    new Dropout({ p: 0.5 }),
    new Linear({ inFeatures: 8, outFeatures: 5, rng, init: "pytorch" }),
  ]);
}

function crop(x: Tensor, top: number, left: number, size: number): Tensor {
  const [n, c, h, w] = x.shape;
  const out = new Tensor([n, c, size, size]);
  for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) {
    out.data[((b * c + ch) * size + i) * size + j] = x.data[((b * c + ch) * h + top + i) * w + left + j];
  }
  return out;
}

test("one pass over a larger image equals the original network on every crop at its stride", () => {
  const net = smallNet();
  const fc = toFullyConvolutional(net, { inputShape: [2, 12, 12] });
  const big = Tensor.randn([2, 2, 18, 18], 3);
  const scores = fc.forward(big);
  assert.deepEqual(scores.shape, [2, 5, 4, 4]); // (18 - 12)/2 + 1 = 4 positions per axis
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      const y = net.forward(crop(big, 2 * i, 2 * j, 12));
      for (let b = 0; b < 2; b++) {
        for (let k = 0; k < 5; k++) {
          const got = scores.get(b, k, i, j), want = y.get(b, k);
          assert.ok(Math.abs(got - want) <= 1e-5 * (1 + Math.abs(want)), `crop (${2 * i}, ${2 * j}) class ${k}: ${got} vs ${want}`);
        }
      }
    }
  }
  // At the base size it is the original network, with a 1x1 map.
  const x = Tensor.randn([1, 2, 12, 12], 4);
  const a = fc.forward(x), b = net.forward(x);
  assert.deepEqual(a.shape, [1, 5, 1, 1]);
  a.data.forEach((v, i) => assert.ok(Math.abs(v - b.data[i]) <= 1e-5 * (1 + Math.abs(b.data[i]))));
});

test("the converted layers are convolutions with the FC weights reshaped; the volume is inferred when square", () => {
  const net = smallNet();
  const fc = toFullyConvolutional(net);
  const convs = fc.layers.filter((l) => l instanceof Conv2d) as Conv2d[];
  assert.equal(convs.length, 4);
  assert.deepEqual(convs[2].weight.value.shape, [8, 6, 3, 3]);
  assert.deepEqual(convs[3].weight.value.shape, [5, 8, 1, 1]);
  assert.equal(fc.params().reduce((a, p) => a + p.value.size, 0), net.params().reduce((a, p) => a + p.value.size, 0));
  assert.equal(net.layers[0].name, fc.layers[0].name);
  assert.ok(!fc.layers.some((l) => l.type === "Flatten"));
});

test("AlexNet (torchvision, reduced width): adaptive pooling that is the identity at the base size is dropped", () => {
  const m = models.alexnet({ variant: "torchvision", widthMultiplier: 1 / 16, inputShape: [3, 224, 224], seed: 2 });
  assert.throws(() => toFullyConvolutional(m), /pass \{ inputShape \} at the base size/);
  const fc = toFullyConvolutional(m, { inputShape: [3, 224, 224] });
  assert.ok(!fc.layers.some((l) => l.type === "AdaptiveAvgPool2d"));
  // 256x256 instead of 224x224 at the network's stride 32: 2x2 score maps (the notes' 384 gives 6x6).
  assert.deepEqual(fc.outputShape([1, 3, 256, 256]), [1, 1000, 2, 2]);
  assert.deepEqual(fc.outputShape([1, 3, 384, 384]), [1, 1000, 6, 6]);
});

test("what cannot be converted is refused with the reason", () => {
  assert.throws(() => toFullyConvolutional(new Sequential([new Conv2d({ inChannels: 1, outChannels: 1, kernelSize: 1 })])), /has no Linear \(FC\) layer/);
  assert.throws(() => toFullyConvolutional(new Sequential([new Linear({ inFeatures: 4, outFeatures: 2 })])), /does not follow a Flatten/);
  const odd = new Sequential([new Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 1 }), new Flatten(), new Linear({ inFeatures: 2 * 2 * 3, outFeatures: 2 })]);
  assert.throws(() => toFullyConvolutional(odd), /is not a square\); pass \{ inputShape \}/);
  assert.deepEqual(toFullyConvolutional(odd, { inputShape: [1, 2, 3] }).outputShape([1, 1, 2, 3]), [1, 2, 1, 1]);
});
