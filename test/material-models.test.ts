/**
 * The material's models and initialisations that stride did not have: the
 * Theano tutorial's LeNet, the paper's plain CIFAR nets and its ResNet v1,
 * LeCun / Caffe-xavier initialisation and the Theano fan-out.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Tensor } from "../src/tensor.js";
import { Rng } from "../src/random.js";
import { Conv2d } from "../src/layers/conv.js";
import { Linear } from "../src/layers/dense.js";
import { initWeight, theanoFanOut, INIT_NAMES } from "../src/layers/init.js";
import * as models from "../src/models/zoo/index.js";
import { summary } from "../src/models/summary.js";
import { receptiveField } from "../src/models/receptive-field.js";
import { namedModules } from "../src/models/named.js";

test("the Theano LeNet: 20 and 50 filters, 500 hidden units, 431,080 parameters; its first layer sees 5x5", () => {
  const net = models.lenetTheano({ seed: 1 });
  const s = summary(net, [1, 28, 28]);
  assert.deepEqual(s.rows.filter((r) => r.type.startsWith("Conv2d") || r.type.startsWith("MaxPool")).map((r) => r.volume), ["24x24x20", "12x12x20", "8x8x50", "4x4x50"]);
  assert.equal(s.totalParams, 20 * 25 + 20 + 50 * 20 * 25 + 50 + 800 * 500 + 500 + 500 * 10 + 10);
  assert.equal(s.totalParams, 431_080);
  assert.deepEqual(receptiveField(net, [1, 28, 28]).rows.find((r) => r.name === "conv1")!.size, [5, 5]);
  assert.equal(net.forward(Tensor.randn([2, 1, 28, 28], 3)).shape.join(), "2,10");
});

test("the Theano LeNet is initialised as the tutorial does: fan-out divided by the pooling area, a zero softmax layer", () => {
  const net = models.lenetTheano({ seed: 2 });
  const layers = new Map(namedModules(net));
  const conv1 = layers.get("conv1") as Conv2d, conv2 = layers.get("conv2") as Conv2d;
  const hidden = layers.get("hidden") as Linear, logistic = layers.get("logistic") as Linear;
  const maxAbs = (t: Tensor) => t.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const bound1 = Math.sqrt(6 / (25 + (20 * 25) / 4)), bound2 = Math.sqrt(6 / (20 * 25 + (50 * 25) / 4));
  // The largest of many uniform draws comes close to the bound and never passes it.
  assert.ok(maxAbs(conv1.weight.value) <= bound1 && maxAbs(conv1.weight.value) > 0.95 * bound1);
  assert.ok(maxAbs(conv2.weight.value) <= bound2 && maxAbs(conv2.weight.value) > 0.99 * bound2);
  assert.ok(maxAbs(hidden.weight.value) <= Math.sqrt(6 / 1300) && maxAbs(hidden.weight.value) > 0.99 * Math.sqrt(6 / 1300));
  assert.equal(maxAbs(logistic.weight.value), 0);
  assert.equal(maxAbs(conv1.bias!.value), 0);
  assert.equal(theanoFanOut(20, 5, 5, 2, 2), 125);
});

test("plain CIFAR nets are the residual nets without shortcuts: same layers and counts, no Add", () => {
  for (const d of [20, 56] as const) {
    const plain = summary(models.plainCifar(d, { meta: true }), [3, 32, 32]);
    const res = summary(models.resnetCifar(d, { meta: true }), [3, 32, 32]);
    assert.equal(plain.totalParams, res.totalParams);
    assert.equal(plain.totalMacs, res.totalMacs);
    assert.equal(plain.rows.filter((r) => r.type.startsWith("Add")).length, 0);
    assert.equal(res.rows.filter((r) => r.type.startsWith("Add")).length, (d - 2) / 2);
    assert.equal(plain.rows.filter((r) => r.type.startsWith("Conv2d")).length, d - 1);
  }
  const x = Tensor.randn([1, 3, 32, 32], 4);
  assert.equal(models.plainCifar(20, { seed: 1 }).forward(x).shape.join(), "1,10");
});

test("ResNet v1 (the paper's) costs the multiply-adds of its Table 1; v1.5 strides on the 3x3 and costs more", () => {
  const paper: [18 | 34 | 50 | 101 | 152, number][] = [[18, 1.8e9], [34, 3.6e9], [50, 3.8e9], [101, 7.6e9], [152, 11.3e9]];
  for (const [depth, macs] of paper) {
    const v1 = summary(models.resnet(depth, { meta: true, variant: "v1" }), [3, 224, 224]);
    assert.ok(Math.abs(v1.totalMacs - macs) / macs < 0.02, `resnet${depth} v1: ${v1.totalMacs} multiply-adds against the paper's ${macs}`);
  }
  const v1 = models.resnet(50, { meta: true, variant: "v1" }), v15 = models.resnet(50, { meta: true });
  const stride = (m: typeof v1, name: string) => (new Map(namedModules(m)).get(name) as Conv2d).stride.join();
  assert.equal(stride(v1, "layer2.0.conv1"), "2,2");
  assert.equal(stride(v1, "layer2.0.conv2"), "1,1");
  assert.equal(stride(v15, "layer2.0.conv1"), "1,1");
  assert.equal(stride(v15, "layer2.0.conv2"), "2,2");
  assert.ok(summary(v15, [3, 224, 224]).totalMacs > summary(v1, [3, 224, 224]).totalMacs);
  assert.throws(() => models.resnet(50, { variant: "v2" as "v1" }), /variant = "v2" is not valid; use one of "v1", "v1.5"/);
});

test("lecun and caffe-xavier draw Var(W) = 1/fanIn; caffe-xavier uniformly within sqrt(3/fanIn)", () => {
  assert.ok(INIT_NAMES.includes("lecun") && INIT_NAMES.includes("caffe-xavier"));
  const fanIn = 50;
  for (const name of ["lecun", "caffe-xavier"] as const) {
    const t = new Tensor([200_000]);
    initWeight(t, name, fanIn, 10, new Rng(7));
    const mean = t.data.reduce((a, v) => a + v, 0) / t.size;
    const variance = t.data.reduce((a, v) => a + (v - mean) ** 2, 0) / t.size;
    assert.ok(Math.abs(variance * fanIn - 1) < 0.02, `${name}: Var(W) * fanIn = ${variance * fanIn}`);
    if (name === "caffe-xavier") assert.ok(t.data.every((v) => Math.abs(v) <= Math.sqrt(3 / fanIn)));
    else assert.ok(t.data.some((v) => Math.abs(v) > Math.sqrt(3 / fanIn)), "a normal draw has tails past the uniform bound");
  }
  const conv = new Conv2d({ inChannels: 3, outChannels: 4, kernelSize: 3, init: "lecun" });
  assert.equal(conv.init, "lecun");
});

test("summary counts AlexNet's neurons as the paper does: about 650,000 (its conv and FC units)", () => {
  const s = summary(models.alexnet({ meta: true }), [3, 227, 227]);
  // 55*55*96 + 27*27*256 + 13*13*384 * 2 + 13*13*256 + 4096 * 2 + 1000
  assert.equal(s.neurons, 290_400 + 186_624 + 64_896 * 2 + 43_264 + 4096 * 2 + 1000);
  assert.ok(Math.abs(s.neurons - 650_000) / 650_000 < 0.02);
  assert.match(s.toString(), /multiply-adds \(MACs\) per example: 724,406,816 \(724M\), the papers' "FLOPs"; 1\.45G floating-point operations/);
});
