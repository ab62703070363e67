/** The trainer: learning, exact resume, the NaN guard, freezing, saving and loading models. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import * as s from "../src/index.js";
import { createDataset, type Dataset } from "../src/data/dataset.js";
import { randomCrop } from "../src/data/augment.js";
import { fit, evaluate, predict, TrainingDivergedError } from "../src/train/trainer.js";
import { SGD, Adam, AdamW, RMSprop, Adagrad } from "../src/train/optimizers.js";
import { StepLR } from "../src/train/schedules.js";
import { ModelFileError, MODEL_JSON, WEIGHTS_FILE } from "../src/io/model-file.js";
import { saveModel, loadModel, loadModelWithInfo } from "../src/node/files.js";
import { weightsFileOf } from "./helpers/model-folder.js";
import { freeze } from "../src/models/named.js";

const tmp = () => mkdtempSync(join(tmpdir(), "stride-test-"));

/** Four classes of 1x6x6 images: a bright quadrant per class, plus noise. */
function quadrants(n: number, seed: number): Dataset {
  const rng = new s.Rng(seed);
  const images = new Float32Array(n * 36);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    labels[i] = c;
    for (let h = 0; h < 6; h++) {
      for (let w = 0; w < 6; w++) {
        const inQuadrant = (h < 3 ? 0 : 2) + (w < 3 ? 0 : 1) === c;
        images[i * 36 + h * 6 + w] = (inQuadrant ? 0.8 : 0.1) + 0.1 * rng.normal();
      }
    }
  }
  return createDataset({ name: "quadrants", images, labels, shape: [1, 6, 6], classes: ["tl", "tr", "bl", "br"] });
}

function smallNet(seed = 3, dropout = 0): s.Sequential {
  const rng = new s.Rng(seed);
  return new s.Sequential([
    new s.Conv2d({ inChannels: 1, outChannels: 4, kernelSize: 3, padding: 1, rng }), new s.ReLU(),
    new s.MaxPool2d({ kernelSize: 2 }), new s.Flatten(),
    ...(dropout > 0 ? [new s.Dropout({ p: dropout })] : []),
    new s.Linear({ inFeatures: 36, outFeatures: 4, rng }),
  ]);
}

test("a tiny network overfits a small batch to near-zero loss with every optimiser", async () => {
  const data = quadrants(16, 1);
  const makers: [string, (p: s.Param[]) => { step(): void; zeroGrad(): void; lr: number }][] = [
    ["SGD", (p) => new SGD(p, { lr: 0.1 })],
    ["SGD momentum", (p) => new SGD(p, { lr: 0.05, momentum: 0.9 })],
    ["SGD nesterov", (p) => new SGD(p, { lr: 0.05, momentum: 0.9, nesterov: true })],
    ["Adagrad", (p) => new Adagrad(p, { lr: 0.1 })],
    ["RMSprop", (p) => new RMSprop(p, { lr: 0.01 })],
    ["Adam", (p) => new Adam(p, { lr: 0.02 })],
    ["AdamW", (p) => new AdamW(p, { lr: 0.02 })],
  ];
  for (const [name, make] of makers) {
    const model = smallNet();
    const h = await fit(model, data, { epochs: 150, batchSize: 16, optimizer: make(model.params()) as any, progress: "none" });
    const final = h.batchLosses[h.batchLosses.length - 1];
    assert.ok(final < 0.02, `${name}: the loss only fell from ${h.batchLosses[0].toFixed(3)} to ${final.toFixed(4)}`);
  }
});

test("a run resumed from a checkpoint reproduces the uninterrupted run's losses exactly", async () => {
  const data = quadrants(40, 2);
  const val = quadrants(12, 3);
  const options = (model: s.Sequential, dir: string) => {
    const optimizer = new SGD(model.params(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-3 });
    return {
      batchSize: 8, optimizer, schedule: new StepLR(optimizer, 2, 0.5), validation: val, progress: "none" as const,
      augment: randomCrop({ size: 6, padding: 1 }), checkpointDir: dir, seed: 5,
    };
  };
  s.manualSeed(9);
  const full = smallNet(4, 0.3);
  const uninterrupted = await fit(full, data, { epochs: 4, ...options(full, tmp()) });

  s.manualSeed(9);
  const dir = tmp();
  const first = smallNet(4, 0.3);
  await fit(first, data, { epochs: 2, ...options(first, dir) });
  s.manualSeed(12345); // whatever happens in between must not matter
  const second = smallNet(77, 0.3); // a different initialisation: the checkpoint must overwrite it
  const resumed = await fit(second, data, { epochs: 4, ...options(second, dir), resume: dir });

  assert.equal(resumed.batchLosses.length, uninterrupted.batchLosses.length);
  assert.deepEqual(resumed.batchLosses, uninterrupted.batchLosses);
  assert.deepEqual(resumed.epochs.map((e) => e.valAccuracy), uninterrupted.epochs.map((e) => e.valAccuracy));
  full.params().forEach((p, i) => assert.deepEqual(second.params()[i].value.data, p.value.data));
});

test("a NaN loss stops training with the step and a hint, and keeps the last good checkpoint", async () => {
  const data = quadrants(32, 4);
  const dir = tmp();
  const model = smallNet();
  let step = 0;
  const poison = { onBatchEnd: () => { if (++step === 6) (model.layers[4] as s.Linear).weight.value.data[0] = NaN; } };
  await assert.rejects(
    fit(model, data, { epochs: 5, batchSize: 8, optimizer: new SGD(model.params(), { lr: 0.01 }), checkpointDir: dir, callbacks: [poison], progress: "none" }),
    (e: unknown) => e instanceof TrainingDivergedError &&
      /the loss became NaN at epoch 2, step 3 \(learning rate 0\.01\)/.test(e.message) &&
      /Lower the learning rate \(try 0\.001\)/.test(e.message) && e.message.includes(dir),
  );
  const latest = JSON.parse(readFileSync(join(dir, "latest.json"), "utf8"));
  assert.equal(latest.epoch, 1);
  const good = loadModel(join(dir, latest.folder));
  assert.ok(good.params().every((p) => p.value.data.every(Number.isFinite)));
});

test("frozen parameters stay bit-identical through training while the rest learns", async () => {
  const model = smallNet();
  const conv = model.layers[0] as s.Conv2d;
  freeze(model, { until: "fc1" });
  const before = Float32Array.from(conv.weight.value.data);
  const fcBefore = Float32Array.from((model.layers[4] as s.Linear).weight.value.data);
  await fit(model, quadrants(16, 5), { epochs: 3, batchSize: 8, optimizer: new SGD(model.params(), { lr: 0.1, momentum: 0.9, weightDecay: 0.01 }), progress: "none" });
  assert.deepEqual(conv.weight.value.data, before);
  assert.notDeepEqual((model.layers[4] as s.Linear).weight.value.data, fcBefore);
});

test("evaluate counts top-1, top-5 and the confusion matrix; predict gives labelled probabilities", async () => {
  const data = quadrants(40, 6);
  const model = smallNet();
  await fit(model, data, { epochs: 20, batchSize: 8, optimizer: new SGD(model.params(), { lr: 0.05, momentum: 0.9 }), progress: "none" });
  const r = evaluate(model, data);
  assert.equal(r.count, 40);
  assert.equal(r.confusion.flat().reduce((a, b) => a + b, 0), 40);
  const diagonal = r.confusion.reduce((a, row, i) => a + row[i], 0);
  assert.equal(diagonal / 40, r.accuracy);
  assert.equal(r.top5, 1); // four classes: the true one is always in the top 5
  assert.ok(r.accuracy > 0.9, `accuracy ${r.accuracy}`);
  const x = new s.Tensor([1, 6, 6], data.images.slice(36, 72)); // example 1: class "tr"
  const [top] = predict(model, x, { classes: data.classes, k: 3 });
  assert.equal(top.length, 3);
  assert.equal(top[0].label, "tr");
  assert.ok(top[0].probability >= top[1].probability && top[1].probability >= top[2].probability);
});

test("fit refuses a model whose output does not match the classes, before computing", async () => {
  const model = new s.Sequential([new s.Flatten(), new s.Linear({ inFeatures: 36, outFeatures: 3 })]);
  await assert.rejects(fit(model, quadrants(8, 1), { epochs: 1, progress: "none" }), /outputs \[1, 3\] \(3 scores\) per example, but "quadrants" has 4 classes/);
});

test("saveModel/loadModel round-trip the topology, weights, buffers and info", () => {
  const model = new s.Sequential([
    new s.Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3 }), new s.BatchNorm2d({ numFeatures: 2 }), new s.ReLU(),
    new s.Flatten(), new s.Linear({ inFeatures: 32, outFeatures: 3 }),
  ]);
  model.forward(s.Tensor.randn([4, 1, 6, 6], 1), { training: true }); // moves the running statistics
  const dir = join(tmp(), "model");
  saveModel(model, dir, { inputShape: [1, 6, 6], classes: ["a", "b", "c"], normalization: { mean: [0.5], std: [0.25] } });
  const { model: copy, info } = loadModelWithInfo(dir);
  assert.deepEqual(info.classes, ["a", "b", "c"]);
  assert.deepEqual(info.inputShape, [1, 6, 6]);
  const x = s.Tensor.randn([2, 1, 6, 6], 2);
  assert.deepEqual(copy.forward(x).data, model.forward(x).data);
  // Only model.json and the weights file it names: no temporary files left behind.
  assert.deepEqual(readdirSync(dir).sort(), [MODEL_JSON, basename(weightsFileOf(dir))].sort());
  assert.match(basename(weightsFileOf(dir)), /^weights-.+\.safetensors$/);
});

test("a truncated, corrupted or mismatched model file gives a ModelFileError naming the problem", () => {
  const make = (out: number) => new s.Sequential([new s.Flatten(), new s.Linear({ inFeatures: 4, outFeatures: out })]);
  const base = tmp();
  const a = join(base, "a"), b = join(base, "b");
  saveModel(make(3), a);
  saveModel(make(5), b);
  const expectError = (dir: string, pattern: RegExp) =>
    assert.throws(() => loadModel(dir), (e: unknown) => e instanceof ModelFileError && pattern.test(e.message), `expected ${pattern}`);

  const json = readFileSync(join(a, MODEL_JSON), "utf8");
  // Truncated weights.
  const t1 = join(base, "truncated");
  saveModel(make(3), t1);
  const w1 = weightsFileOf(t1);
  const weights = readFileSync(w1);
  writeFileSync(w1, weights.subarray(0, weights.length - 7));
  expectError(t1, /weights-[^/]+\.safetensors: does not match model\.json: expected \d+ bytes/);
  // A flipped byte in the weights.
  const t2 = join(base, "flipped");
  saveModel(make(3), t2);
  const w2 = weightsFileOf(t2);
  const flipped = readFileSync(w2);
  flipped[flipped.length - 1] ^= 0xff;
  writeFileSync(w2, flipped);
  expectError(t2, /CRC-32/);
  // Damaged JSON.
  const t3 = join(base, "badjson");
  saveModel(make(3), t3);
  writeFileSync(join(t3, MODEL_JSON), json.slice(0, json.length / 2));
  expectError(t3, /model\.json: is not valid JSON/);
  // Another model's weights with a consistent header: shapes do not match the topology.
  const t4 = join(base, "mismatch");
  saveModel(make(3), t4);
  const other = readFileSync(weightsFileOf(b));
  const patched = JSON.parse(readFileSync(join(t4, MODEL_JSON), "utf8"));
  patched.weights = { ...JSON.parse(readFileSync(join(b, MODEL_JSON), "utf8")).weights, file: patched.weights.file };
  writeFileSync(weightsFileOf(t4), other);
  writeFileSync(join(t4, MODEL_JSON), JSON.stringify(patched));
  expectError(t4, /tensor "fc1\.weight" has shape \[5, 4\] but the topology needs \[3, 4\]/);
  // Missing files and folders.
  expectError(join(base, "nothing-here"), /does not exist/);
  const t5 = join(base, "noweights");
  saveModel(make(3), t5);
  writeFileSync(weightsFileOf(t5), "");
  expectError(t5, /does not match model\.json/);
  // A topology that cannot be rebuilt.
  const t6 = join(base, "badtopology");
  saveModel(make(3), t6);
  const broken = JSON.parse(readFileSync(join(t6, MODEL_JSON), "utf8"));
  broken.topology.layers[1].config.inFeatures = -4;
  writeFileSync(join(t6, MODEL_JSON), JSON.stringify(broken));
  expectError(t6, /topology cannot be rebuilt: .*inFeatures = -4/);
  // A model.json naming a file outside its folder is refused, never followed.
  const t7 = join(base, "outside");
  saveModel(make(3), t7);
  const escaping = JSON.parse(readFileSync(join(t7, MODEL_JSON), "utf8"));
  escaping.weights.file = "../a/" + basename(weightsFileOf(a));
  writeFileSync(join(t7, MODEL_JSON), JSON.stringify(escaping));
  expectError(t7, /"weights\.file" must name a \.safetensors file in the same folder/);
  // A model folder saved by an older stride (model.json naming weights.safetensors) still loads.
  const legacy = join(base, "legacy");
  mkdirSync(legacy);
  const old = JSON.parse(json);
  old.weights.file = WEIGHTS_FILE;
  writeFileSync(join(legacy, MODEL_JSON), JSON.stringify(old));
  writeFileSync(join(legacy, WEIGHTS_FILE), readFileSync(weightsFileOf(a)));
  assert.deepEqual(loadModel(legacy).params().map((p) => Array.from(p.value.data)), loadModel(a).params().map((p) => Array.from(p.value.data)));
  // Saving over it replaces the old pair with a versioned one.
  saveModel(make(3), legacy);
  assert.deepEqual(readdirSync(legacy).sort(), [MODEL_JSON, basename(weightsFileOf(legacy))].sort());
  assert.ok(existsSync(weightsFileOf(a)));
});

test("callbacks: early stopping ends a run that stopped improving; saveBest keeps the best epoch's model; the logger writes a line per epoch", async () => {
  const { earlyStopping, saveBest, jsonLinesLogger } = await import("../src/index.js");
  const data = quadrants(24, 7);
  const model = smallNet();
  const dir = tmp();
  const stop = earlyStopping({ monitor: "valAccuracy", patience: 2 });
  const best = saveBest(model, join(dir, "best"));
  const logPath = join(dir, "log", "epochs.jsonl");
  // lr 0: nothing improves after the first epoch, so the run stops after 1 + 2 + 1 epochs.
  const h = await fit(model, data, {
    epochs: 20, batchSize: 8, optimizer: new SGD(model.params(), { lr: 0 }), validation: data, progress: "none",
    callbacks: [stop, best, jsonLinesLogger(logPath)],
  });
  assert.equal(h.epochs.length, 4);
  assert.ok(h.stoppedEarly);
  assert.match(h.stopReason ?? "", /valAccuracy has not improved for 2 epochs/);
  assert.equal(best.bestEpoch, 1);
  assert.equal(loadModelWithInfo(join(dir, "best")).info.extra?.epoch, 1);
  assert.equal(readFileSync(logPath, "utf8").trim().split("\n").length, 4);
  assert.throws(() => earlyStopping({ monitor: "accuracy" as any }), /monitor = "accuracy" is not valid/);
});

test("an abort signal stops training after the current batch; a promise from onBatchEnd holds the next batch", async () => {
  const data = quadrants(32, 8);
  const model = smallNet();
  const controller = new AbortController();
  const seen: number[] = [];
  let released = false;
  const h = await fit(model, data, {
    epochs: 5, batchSize: 8, optimizer: new SGD(model.params(), { lr: 0.01 }), progress: "none", signal: controller.signal,
    callbacks: [{
      onBatchEnd: async (step) => {
        seen.push(step);
        if (step === 2) {
          // A pause: the next batch waits for this promise.
          await new Promise((r) => setTimeout(r, 20));
          released = true;
        }
        if (step === 3) {
          assert.ok(released, "batch 3 ran before the pause after batch 2 ended");
          controller.abort();
        }
      },
    }],
  });
  assert.deepEqual(seen, [1, 2, 3]);
  assert.equal(h.batchLosses.length, 3);
  assert.ok(h.stoppedEarly);
  assert.match(h.stopReason ?? "", /aborted during epoch 1, after 3 batches/);
});
