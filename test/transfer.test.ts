/** Transfer learning: replacing the head, fine-tuning with frozen layers, features of a named layer, linear probes. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as s from "../src/index.js";
import { createDataset, type Dataset } from "../src/data/dataset.js";
import { fit, evaluate } from "../src/train/trainer.js";
import { SGD } from "../src/train/optimizers.js";
import { resnetCifar } from "../src/models/zoo/resnet.js";
import { namedParams } from "../src/models/named.js";
import { replaceHead, fineTune, extractFeatures, featureDataset, linearProbe, linearClassifier } from "../src/train/transfer.js";

/** Four classes of 1x6x6 images, a bright quadrant each, plus noise; `classes` keeps the first few. */
function quadrants(n: number, seed: number, classes = 4): Dataset {
  const rng = new s.Rng(seed);
  const images = new Float32Array(n * 36);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % classes;
    labels[i] = c;
    for (let h = 0; h < 6; h++) {
      for (let w = 0; w < 6; w++) {
        const inQuadrant = (h < 3 ? 0 : 2) + (w < 3 ? 0 : 1) === c;
        images[i * 36 + h * 6 + w] = (inQuadrant ? 0.8 : 0.1) + 0.1 * rng.normal();
      }
    }
  }
  return createDataset({ name: "quadrants", images, labels, shape: [1, 6, 6], classes: ["tl", "tr", "bl", "br"].slice(0, classes) });
}

function smallNet(seed = 3, classes = 4): s.Sequential {
  const rng = new s.Rng(seed);
  return new s.Sequential([
    new s.Conv2d({ inChannels: 1, outChannels: 4, kernelSize: 3, padding: 1, rng, name: "conv1" }), new s.ReLU({ name: "relu1" }),
    new s.MaxPool2d({ kernelSize: 2, name: "pool1" }), new s.Flatten({ name: "flatten" }),
    new s.Linear({ inFeatures: 36, outFeatures: 8, rng, name: "fc1" }), new s.ReLU({ name: "relu2" }),
    new s.Linear({ inFeatures: 8, outFeatures: classes, rng, name: "fc2" }),
  ]);
}

const snapshot = (ps: [string, s.Param][]) => new Map(ps.map(([n, p]) => [n, p.value.data.slice()]));

test("replaceHead swaps the last Linear for a fresh one with the new number of classes and leaves the rest alone", () => {
  const model = smallNet();
  const before = snapshot(namedParams(model));
  const oldHead = model.layers[6] as s.Linear;
  const head = replaceHead(model, { numClasses: 3, seed: 5 });
  assert.equal(model.layers[6], head);
  assert.notEqual(head, oldHead);
  assert.equal(head.name, "fc2");
  assert.deepEqual(head.weight.value.shape, [3, 8]);
  assert.deepEqual(model.outputShape([2, 1, 6, 6]), [2, 3]);
  for (const [name, p] of namedParams(model)) {
    if (name.startsWith("fc2.")) continue;
    assert.deepEqual(p.value.data, before.get(name), `${name} changed`);
  }
  // A fresh head, not a copy of the old one's first rows.
  assert.notDeepEqual(head.weight.value.data, oldHead.weight.value.data.slice(0, 24));
  assert.equal(model.forward(s.Tensor.randn([2, 1, 6, 6], 1)).shape[1], 3);
});

test("replaceHead finds a named head inside a Graph and inside a nested ResNet", () => {
  const rng = new s.Rng(1);
  const g = new s.Graph()
    .add("conv", new s.Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3, padding: 1, rng }), "input")
    .add("flat", new s.Flatten(), "conv")
    .add("fc", new s.Linear({ inFeatures: 72, outFeatures: 4, rng }), "flat");
  const head = replaceHead(g, { numClasses: 7 });
  assert.equal(g.node("fc")!.layer, head);
  assert.deepEqual(g.outputShape([1, 1, 6, 6]), [1, 7]);
  assert.deepEqual(g.forward(s.Tensor.randn([2, 1, 6, 6], 2)).shape, [2, 7]);

  const net = resnetCifar(20, { widthMultiplier: 0.25, inputShape: [3, 8, 8], numClasses: 10, seed: 1 });
  replaceHead(net, { numClasses: 2, layer: "fc" });
  assert.deepEqual(net.outputShape([1, 3, 8, 8]), [1, 2]);
  assert.throws(() => replaceHead(net, { numClasses: 2, layer: "avgpool" }), /avgpool.*GlobalAvgPool2d.*Linear/);
  assert.throws(() => replaceHead(net, { numClasses: 0 }), /numClasses = 0/);
  assert.throws(() => replaceHead(net, { numClasses: 2, layer: "nope" }), /no layer "nope"/);
});

test("fineTune: new head for 2 classes, frozen layers bit-identical, the unfrozen ones learn", async () => {
  const pretrained = smallNet(7);
  await fit(pretrained, quadrants(64, 1), { epochs: 20, batchSize: 16, optimizer: new SGD(pretrained.params(), { lr: 0.05, momentum: 0.9 }), progress: "none" });
  const before = snapshot(namedParams(pretrained));
  const twoClasses = quadrants(48, 2, 2);
  const { head, frozen, history } = await fineTune(pretrained, twoClasses, {
    epochs: 15, batchSize: 16, freeze: { until: "fc2" }, lr: 0.05, progress: "none", seed: 3,
  });
  assert.ok(head);
  assert.deepEqual(head.weight.value.shape, [2, 8]);
  assert.deepEqual(frozen.map((p) => p.name).sort(), ["bias", "bias", "weight", "weight"]);
  for (const [name, p] of namedParams(pretrained)) {
    if (name.startsWith("fc2.")) continue;
    assert.equal(p.trainable, false, `${name} is not frozen`);
    assert.deepEqual(p.value.data, before.get(name), `frozen ${name} changed`);
  }
  const first = history.epochs[0].trainLoss, last = history.epochs[history.epochs.length - 1].trainLoss;
  assert.ok(last < first * 0.5, `fine-tuning loss went from ${first} to ${last}`);
  assert.ok(evaluate(pretrained, quadrants(40, 9, 2)).accuracy >= 0.9);
});

test("fineTune without freezing keeps the head when the classes already match, and refuses to train nothing", async () => {
  const model = smallNet(4);
  const head = model.layers[6];
  const r = await fineTune(model, quadrants(16, 3), { epochs: 1, batchSize: 8, progress: "none" });
  assert.equal(r.head, null);
  assert.equal(model.layers[6], head);
  assert.deepEqual(r.frozen, []);
  // The new head is replaced before freezing, so naming it freezes it too: nothing is left to train.
  await assert.rejects(
    fineTune(smallNet(4), quadrants(16, 3), { epochs: 1, freeze: ["conv1", "fc1", "fc2"], numClasses: 4, progress: "none" }),
    /every parameter is frozen/,
  );
});

test("extractFeatures of a Sequential is the forward pass of the layers up to the named one, and runs nothing after it", () => {
  const model = smallNet(2);
  const x = s.Tensor.randn([3, 1, 6, 6], 4);
  let manual = x;
  for (const l of model.layers.slice(0, 5)) manual = l.forward(manual);
  // Everything after fc1 must not run: make it throw.
  const after = model.layers[6];
  const original = after.forward;
  after.forward = () => {
    throw new Error("ran a layer after the target");
  };
  try {
    const f = extractFeatures(model, "fc1", x);
    assert.deepEqual(f.shape, [3, 8]);
    assert.deepEqual(f.data, manual.data);
  } finally {
    after.forward = original;
  }
  // One example [C, H, W] is a batch of one.
  assert.deepEqual(extractFeatures(model, "pool1", s.Tensor.randn([1, 6, 6], 1)).shape, [1, 4, 3, 3]);
  assert.throws(() => extractFeatures(model, "fc9", x), /no layer "fc9".*conv1, relu1, pool1/);
});

test("extractFeatures reaches into a ResNet's residual blocks (Graphs inside Sequentials) in inference mode", () => {
  const net = resnetCifar(20, { widthMultiplier: 0.25, inputShape: [3, 8, 8], seed: 2 });
  // Give batch norm non-trivial running statistics so inference mode is visible.
  for (const [name, b] of s.namedBuffers(net)) b.value.data.fill(name.endsWith("runningVar") ? 2 : 0.3);
  const x = s.Tensor.randn([2, 3, 8, 8], 5);
  const ctx = { noGrad: true };
  let h = x;
  for (const l of net.layers.slice(0, 3)) h = l.forward(h, ctx); // conv1, bn1, relu
  const stage = net.layers[3] as s.Sequential;
  h = stage.layers[0].forward(h, ctx); // block layer1.0
  const block = stage.layers[1] as s.Graph;
  let manual = h;
  for (const n of ["conv1", "bn1", "relu1"]) manual = (block.node(n)!.layer as s.Layer).forward(manual, ctx);
  const f = extractFeatures(net, "layer1.1.relu1", x);
  assert.deepEqual(f.shape, manual.shape);
  assert.deepEqual(f.data, manual.data);
  // A whole stage, and the merge node of a block.
  const stageOut = extractFeatures(net, "layer2", x);
  assert.deepEqual(stageOut.shape, [2, 8, 4, 4]);
  assert.deepEqual(extractFeatures(net, "layer2.0.add", x).shape, [2, 8, 4, 4]);
  // Features of the pooled layer are the logits' inputs.
  const pooled = extractFeatures(net, "flatten", x);
  const fc = net.layers[net.layers.length - 1] as s.Linear;
  assert.deepEqual(fc.forward(pooled).data, net.forward(x, ctx).data);
});

test("featureDataset keeps conv activations as [C, H, W] and flat ones as [D, 1, 1], one example per image", () => {
  const model = smallNet(5);
  const data = quadrants(10, 4);
  const norm = { mean: [0.3], std: [0.5] };
  const conv = featureDataset(model, "relu1", data, { normalize: norm, batchSize: 3 });
  assert.deepEqual(conv.shape, [4, 6, 6]);
  assert.equal(conv.length, 10);
  assert.deepEqual(conv.labels, data.labels);
  const flat = featureDataset(model, "fc1", data, { batchSize: 4 });
  assert.deepEqual(flat.shape, [8, 1, 1]);
  // Example 7 by itself, normalised by hand.
  const x = new s.Tensor([1, 1, 6, 6], data.images.slice(7 * 36, 8 * 36).map((v) => (v - 0.3) / 0.5));
  assert.deepEqual(conv.images.slice(7 * 144, 8 * 144), extractFeatures(model, "relu1", x).data);
});

test("linearProbe trains a linear classifier on a frozen network's features without touching the network", async () => {
  const net = smallNet(11); // random, untrained features are enough for quadrants
  const before = snapshot(namedParams(net));
  const r = await linearProbe(net, "relu1", quadrants(80, 5), { epochs: 30, batchSize: 16, lr: 0.05, test: quadrants(40, 6), progress: "none" });
  assert.ok(r.test, "no test result");
  assert.ok(r.test.accuracy >= 0.9, `probe accuracy ${r.test.accuracy}`);
  assert.equal(r.test.count, 40);
  for (const [name, p] of namedParams(net)) assert.deepEqual(p.value.data, before.get(name), `${name} changed`);
  assert.deepEqual(r.classifier.outputShape([1, ...r.trainFeatures.shape]), [1, 4]);
  assert.equal(linearClassifier([8, 1, 1], 3).params().reduce((n, p) => n + p.value.size, 0), 8 * 3 + 3);
});

test("a frozen prefix is not gone back through: the trainable layers' gradients are the same, the frozen layers' backward never runs", () => {
  for (const freezeUntil of ["fc1", "fc2", "layer3"]) {
    const build = () => {
      const m = freezeUntil === "layer3" ? resnetCifar(20, { widthMultiplier: 0.25, seed: 5 }) : smallNet(7);
      s.freeze(m, { until: freezeUntil });
      return m;
    };
    const shape = freezeUntil === "layer3" ? [4, 3, 32, 32] : [4, 1, 6, 6];
    const x = s.Tensor.randn(shape, 11);
    const labels = [0, 1, 2, 3];
    // The reference: the input's gradient asked for, so the whole network is gone back through.
    const full = build();
    const a = s.softmaxCrossEntropy(full.forward(x, { training: true }), labels);
    full.backward(a.grad);
    // The same step as fit() runs it, without the input's gradient.
    const fast = build();
    const calls: string[] = [];
    for (const [name, m] of s.namedModules(fast)) {
      if (m.children().length > 0 || !(m instanceof s.Layer)) continue;
      const original = m.backward.bind(m);
      m.backward = (dy: s.Tensor) => (calls.push(name), original(dy));
    }
    const b = s.softmaxCrossEntropy(fast.forward(x, { training: true, inputGrad: false }), labels);
    fast.backward(b.grad);
    assert.ok(Math.abs(b.loss - a.loss) <= 1e-6 * Math.abs(a.loss), `${freezeUntil}: the forward pass changed (${b.loss} vs ${a.loss})`);
    const want = new Map(namedParams(full).map(([n, p]) => [n, p]));
    for (const [n, p] of namedParams(fast)) {
      // Equal up to summation order (the wasm backend's threads split reductions as they come).
      if (p.trainable) p.grad.data.forEach((g, i) => assert.ok(Math.abs(g - want.get(n)!.grad.data[i]) <= 1e-6 + 1e-5 * Math.abs(g), `${freezeUntil}: ${n}'s gradient differs at ${i}`));
      else assert.ok(p.grad.data.every((v) => v === 0), `${freezeUntil}: frozen ${n} got a gradient`);
    }
    const frozenLayers = s.namedModules(fast).filter(([, m]) => m.children().length === 0 && m.params().length > 0 && m.params().every((p) => !p.trainable)).map(([n]) => n);
    assert.ok(frozenLayers.length > 0);
    for (const n of frozenLayers) assert.ok(!calls.includes(n), `${freezeUntil}: the frozen ${n} was gone back through`);
    assert.ok(calls.includes(freezeUntil === "layer3" ? "fc" : "fc2"), `${freezeUntil}: the head's backward did not run`);
  }
});
