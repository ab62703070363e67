/**
 * meta: true builds models with parameter shapes and no storage, as PyTorch's
 * meta device: the counts are those of the real model, nothing is allocated,
 * and running or saving it gives a clear error.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Tensor, MetaTensorError } from "../src/tensor.js";
import { Linear } from "../src/layers/dense.js";
import { Conv2d } from "../src/layers/conv.js";
import { BatchNorm2d } from "../src/layers/norm.js";
import { Sequential } from "../src/models/sequential.js";
import * as models from "../src/models/zoo/index.js";
import { summary } from "../src/models/summary.js";
import { estimateMemory } from "../src/models/memory.js";
import { encodeModel } from "../src/io/model-file.js";
import { summaryCommand } from "../src/cli/commands/summary.js";

test("a meta model has the real model's counts: every zoo builder", () => {
  const cases: [string, (o: object) => unknown, number[]][] = [
    ["lenet5", (o) => models.lenet5(o), [1, 32, 32]],
    ["lenet5 partial C3", (o) => models.lenet5({ ...o, c3: "partial" }), [1, 32, 32]],
    ["alexnet", (o) => models.alexnet(o), [3, 227, 227]],
    ["googlenet", (o) => models.googlenet(o), [3, 224, 224]],
    ["resnet18", (o) => models.resnet(18, o), [3, 224, 224]],
    ["resnet20", (o) => models.resnetCifar(20, o), [3, 32, 32]],
    ["allconv", (o) => models.allConv(o), [3, 32, 32]],
    ["alphago", (o) => models.alphagoPolicy(o), [48, 19, 19]],
    ["textcnn", (o) => models.textCnn(o), [7]],
  ];
  for (const [name, build, input] of cases) {
    const real = summary(build({ init: false }) as Sequential, input);
    const meta = summary(build({ meta: true }) as Sequential, input);
    assert.equal(meta.totalParams, real.totalParams, name);
    assert.equal(meta.totalMacs, real.totalMacs, name);
    assert.deepEqual(meta.rows.map((r) => r.volume), real.rows.map((r) => r.volume), name);
  }
});

test("VGG-16 counted with meta: true allocates no weights (its 138M parameters would be 553 MB)", () => {
  const before = process.memoryUsage();
  const model = models.vgg16({ meta: true });
  const s = summary(model, [3, 224, 224]);
  const m = estimateMemory(model, [3, 224, 224], { batchSize: 64 });
  const after = process.memoryUsage();
  assert.equal(s.totalParams, 138_357_544);
  assert.ok(m.toString().length > 0);
  const grown = after.arrayBuffers - before.arrayBuffers + (after.heapUsed - before.heapUsed);
  assert.ok(grown < 50e6, `building and counting VGG-16 took ${(grown / 1e6).toFixed(1)} MB`);
});

test("a layer of 3 billion parameters is counted without allocating them", () => {
  const fc = new Linear({ inFeatures: 224 * 224 * 3, outFeatures: 20000, meta: true });
  assert.equal(fc.weight.value.size, 150528 * 20000);
  const s = summary(new Sequential([fc]), [224 * 224 * 3]);
  assert.equal(s.totalParams, 150528 * 20000 + 20000);
});

test("running, reading or saving a meta model throws MetaTensorError saying what to do", () => {
  const net = new Sequential([new Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3, meta: true }), new BatchNorm2d({ numFeatures: 2, meta: true })]);
  assert.ok(net.params().every((p) => p.value.isMeta && p.grad.isMeta));
  assert.throws(() => net.forward(Tensor.zeros([1, 1, 5, 5])), (e: unknown) => e instanceof MetaTensorError && /meta: true/.test(e.message) && /without meta/.test(e.message));
  assert.throws(() => net.params()[0].value.toArray(), MetaTensorError);
  assert.throws(() => encodeModel(net), MetaTensorError);
  // Without meta, nothing changes.
  const real = new Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3 });
  assert.equal(real.weight.value.isMeta, false);
  assert.equal(real.forward(Tensor.zeros([1, 1, 5, 5])).shape.join(), "1,2,3,3");
});

test("meta must be a boolean", () => {
  assert.throws(() => models.lenet5({ meta: "yes" as unknown as boolean }), /meta = "yes" is not valid/);
});

test("stride summary vgg16 builds the model as meta: no weights allocated", async () => {
  const out: string[] = [];
  const before = process.memoryUsage();
  const code = await summaryCommand(["vgg16"], { out: (t) => out.push(t), err: (t) => out.push(t) });
  const after = process.memoryUsage();
  assert.equal(code, 0, out.join("\n"));
  assert.match(out.join("\n"), /params: 138,357,544/);
  const grown = after.arrayBuffers - before.arrayBuffers + (after.heapUsed - before.heapUsed);
  assert.ok(grown < 50e6, `stride summary vgg16 took ${(grown / 1e6).toFixed(1)} MB`);
});
