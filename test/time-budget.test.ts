/**
 * Training to a time budget: the plan's arithmetic, and fit's planning with an
 * injected clock that advances by a fixed cost per training batch and per
 * evaluated example (never real time: the machine is shared and noisy).
 * Also test-time flips in evaluate.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Tensor } from "../src/tensor.js";
import { Rng } from "../src/random.js";
import { StrideError } from "../src/stride-error.js";
import { createDataset, type Dataset } from "../src/data/dataset.js";
import { fit, evaluate, type FitOptions } from "../src/train/trainer.js";
import { SGD } from "../src/train/optimizers.js";
import { OneCycleLR, CosineAnnealingLR } from "../src/train/schedules.js";
import { planEpochs, parseDuration, type PlanInput } from "../src/train/time-budget.js";
import { Sequential } from "../src/models/sequential.js";
import { Linear } from "../src/layers/dense.js";
import { Flatten } from "../src/layers/reshape.js";
import { tenCropBatch } from "../src/data/augment.js";
import { ReLU } from "../src/layers/activation.js";
import type { ForwardContext } from "../src/layers/layer.js";

test("parseDuration reads 60m, 90s, 1.5h and bare seconds, and refuses anything else clearly", () => {
  assert.equal(parseDuration("60m"), 3600);
  assert.equal(parseDuration("90s"), 90);
  assert.equal(parseDuration("1.5h"), 5400);
  assert.equal(parseDuration("45"), 45);
  for (const bad of ["1h30", "-5m", "0s", "abc", "", "5d"]) {
    assert.throws(() => parseDuration(bad, "--time-budget"), (e: Error) => e instanceof StrideError && /--time-budget .* is not a duration; .* 90s, 60m or 1.5h/.test(e.message), bad);
  }
});

const base: PlanInput = {
  budgetSeconds: 100, elapsedSeconds: 0, epochsDone: 0, maxEpochs: 1000, batchesPerEpoch: 10,
  secondsPerBatch: 1, secondsPerEvalExample: 0.01, validationExamples: 100, finalEvalExamples: 500,
};

test("planEpochs: whole epochs of training and validation in what is left after the final evaluation's reserve", () => {
  // Each epoch: 10 s of training + 1 s of validation; the final test takes 5 s: (100 - 5) / 11 = 8.6.
  assert.equal(planEpochs(base), 8);
  // Time already spent counts, from the epochs already done.
  assert.equal(planEpochs({ ...base, elapsedSeconds: 33, epochsDone: 3 }), 3 + Math.floor((100 - 33 - 5) / 11));
  // Capped by the epochs option, and never below the epochs done or 1.
  assert.equal(planEpochs({ ...base, maxEpochs: 4 }), 4);
  assert.equal(planEpochs({ ...base, budgetSeconds: 3 }), 1);
  assert.equal(planEpochs({ ...base, elapsedSeconds: 120, epochsDone: 9 }), 9);
});

/** A fake clock: training batches and evaluated examples cost fixed amounts of its time. */
class FakeClock {
  t = 1000;
  now = () => this.t;
}

/** ReLU that charges the clock for every example evaluated (forward passes outside training). */
class EvalCost extends ReLU {
  constructor(private clock: FakeClock, private perExample: number) {
    super();
  }
  override forward(x: Tensor, ctx?: ForwardContext): Tensor {
    if (!ctx?.training) this.clock.t += this.perExample * x.shape[0];
    return super.forward(x, ctx);
  }
}

function blobs(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const images = Float32Array.from({ length: n * 4 }, (_, i) => (Math.floor(i / 4) % 2) + 0.3 * rng.normal());
  const labels = Int32Array.from({ length: n }, (_, i) => i % 2);
  return createDataset({ name: "blobs", images, labels, shape: [1, 2, 2], classes: ["a", "b"] });
}

function budgetRun(clock: FakeClock, evalCost: number, batchCost: (batch: number) => number) {
  const model = new Sequential([new Flatten(), new EvalCost(clock, evalCost), new Linear({ inFeatures: 4, outFeatures: 2, rng: new Rng(1) })]);
  const optimizer = new SGD(model.params(), { lr: 0.1, momentum: 0.9 });
  let batches = 0;
  const options = (seconds: number, extra: Partial<FitOptions> = {}, finalEvalExamples = 0): FitOptions => ({
    epochs: 1000, batchSize: 8, optimizer, progress: "none",
    timeBudget: { seconds, clock: clock.now, finalEvalExamples },
    callbacks: [{ onBatchEnd: () => void (clock.t += batchCost(++batches)) }],
    ...extra,
  });
  return { model, optimizer, options };
}

test("fit plans whole epochs into the budget and gives a one-cycle schedule exactly that length", async () => {
  const clock = new FakeClock();
  const { model, optimizer, options } = budgetRun(clock, 0, () => 0.125);
  const train = blobs(40, 1); // 5 batches of 8: 0.625 s of fake time per epoch
  const schedule = new OneCycleLR(optimizer, { maxLr: 0.5, totalSteps: 1000 });
  const start = clock.t;
  const history = await fit(model, train, options(5.3, { schedule }));
  const epochs = history.epochs.length;
  // Every epoch ran whole within the budget, and one more would not have fitted.
  assert.ok(clock.t - start <= 5.3 && clock.t - start + 0.625 > 5.3, `${epochs} epochs took ${clock.t - start} s of the 5.3 s budget`);
  assert.equal(history.plannedEpochs, epochs);
  assert.ok(history.epochs.every((e) => e.plannedEpochs === epochs));
  // The cycle was re-timed to the plan and finished with the last batch.
  assert.equal(schedule.totalSteps, epochs * 5);
  assert.equal(schedule.lastEpoch, schedule.totalSteps);
});

test("the plan keeps time for validation and the final test, measured from the evaluation passes", async () => {
  const clock = new FakeClock();
  const { model, options } = budgetRun(clock, 0.01, () => 0.125); // 0.01 s per evaluated example
  const train = blobs(40, 1), validation = blobs(16, 2), testSet = blobs(40, 3);
  const start = clock.t;
  const history = await fit(model, train, options(5.3, { validation }, testSet.length));
  evaluate(model, testSet);
  const perEpoch = 0.625 + 16 * 0.01;
  assert.ok(history.epochs.length >= 2, `${history.epochs.length} epochs`);
  assert.ok(clock.t - start <= 5.3, `training, validation and the test took ${clock.t - start} s of fake time, over the 5.3 s budget`);
  assert.ok(clock.t - start + perEpoch > 5.3, `another epoch (${perEpoch} s) would have fitted: ${clock.t - start} s used`);
});

test("a machine that slows down shortens the plan; a large budget stops at the epochs option", async () => {
  const clock = new FakeClock();
  // From the 11th batch on (epoch 3), every batch takes four times as long.
  const { model, options } = budgetRun(clock, 0, (b) => (b > 10 ? 0.5 : 0.125));
  const train = blobs(40, 1);
  const start = clock.t;
  const history = await fit(model, train, options(10));
  const firstPlan = history.epochs[0].plannedEpochs!;
  assert.ok(history.epochs.length < firstPlan, `planned ${firstPlan} at first, ran ${history.epochs.length}`);
  assert.ok(clock.t - start <= 10 + 2.5, `a slowed-down epoch may overrun by at most one epoch: ${clock.t - start} s`);
  const capped = budgetRun(new FakeClock(), 0, () => 0.125);
  const h = await fit(capped.model, train, { ...capped.options(1e6), epochs: 3 });
  assert.equal(h.epochs.length, 3);
});

test("after the second epoch the plan never grows: a machine that speeds up keeps the second epoch's plan", async () => {
  const clock = new FakeClock();
  // The first epoch's 5 batches are twice as slow as the rest.
  const { model, optimizer, options } = budgetRun(clock, 0, (b) => (b <= 5 ? 0.25 : 0.125));
  const schedule = new OneCycleLR(optimizer, { maxLr: 0.5, totalSteps: 1000 });
  const start = clock.t;
  const history = await fit(model, blobs(40, 1), options(6, { schedule }));
  const plans = history.epochs.map((e) => e.plannedEpochs!);
  // The faster second epoch lengthens the plan once; the later ones, faster still on average, do not.
  assert.ok(plans[1] > plans[0] && plans.slice(1).every((p) => p === plans[1]), `plans ${plans.join(", ")}`);
  assert.equal(history.epochs.length, plans[1]);
  assert.equal(schedule.lastEpoch, schedule.totalSteps);
  // A plan that followed the faster pace would have run longer: time was left.
  assert.ok(clock.t - start + 0.625 <= 6, `${clock.t - start} s used`);
});

test("a cosine schedule gets tMax from the plan; resume with a budget is refused", async () => {
  const clock = new FakeClock();
  const { model, optimizer, options } = budgetRun(clock, 0, () => 0.125);
  const schedule = new CosineAnnealingLR(optimizer, 1000);
  const history = await fit(model, blobs(40, 1), options(3.1, { schedule }));
  assert.equal(schedule.tMax, history.epochs.length);
  assert.ok(optimizer.lr < 1e-12, `the cosine should end at 0, lr ${optimizer.lr}`);
  await assert.rejects(fit(model, blobs(40, 1), { ...options(3), resume: "/nowhere" }), (e: Error) => e instanceof StrideError && /cannot resume/.test(e.message));
  await assert.rejects(fit(model, blobs(40, 1), { ...options(3), timeBudget: { seconds: -1 } }), /timeBudget must be \{ seconds \}/);
});

test("test-time flips average the logits of each image and its mirror", () => {
  // A linear model on 1x1x3 images: the mirror of [a, b, c] is [c, b, a].
  const model = new Sequential([new Flatten(), new Linear({ inFeatures: 3, outFeatures: 2, rng: new Rng(4) })]);
  const images = Float32Array.from([1, 0, 0, 0, 0, 1, 0.2, 0.9, 0.1]);
  const data = createDataset({ name: "rows", images, labels: Int32Array.from([0, 1, 1]), shape: [1, 1, 3], classes: ["l", "r"] });
  const plain = evaluate(model, data), flipped = evaluate(model, data, { flip: true });
  // The expected loss from the averaged logits, computed here from the model's own outputs.
  const logits = (row: number[]) => Array.from(model.forward(new Tensor([1, 1, 1, 3], row), { noGrad: true }).data);
  let loss = 0;
  for (let i = 0; i < 3; i++) {
    const row = Array.from(images.subarray(3 * i, 3 * i + 3));
    const a = logits(row), b = logits(row.slice().reverse());
    const z = a.map((v, j) => (v + b[j]) / 2);
    const logSum = Math.log(z.reduce((s, v) => s + Math.exp(v), 0));
    loss += (logSum - z[data.labels[i]]) / 3;
  }
  assert.ok(Math.abs(flipped.loss - loss) < 1e-5, `flip loss ${flipped.loss}, expected ${loss}`);
  assert.notEqual(flipped.loss, plain.loss);
  assert.throws(() => evaluate(model, data, { flip: true, tenCrop: 1 }), /use either tenCrop or flip/);
});

test("evaluate's ten crops of the padded image average the softmax of views padded with a black pixel's normalised value", () => {
  const model = new Sequential([new Flatten(), new Linear({ inFeatures: 6, outFeatures: 3, rng: new Rng(5) })]);
  const images = Float32Array.from([0.9, 0.1, 0.4, 0.2, 0.8, 0.3, 0.1, 0.7, 0.2, 0.6, 0.3, 0.9]);
  const data = createDataset({ name: "pairs", images, labels: Int32Array.from([2, 0]), shape: [1, 2, 3], classes: ["a", "b", "c"] });
  const normalize = { mean: [0.4], std: [0.25] };
  const r = evaluate(model, data, { normalize, tenCrop: [2, 3], tenCropPadding: 1 });
  // The same views built here: the normalised image padded with (0 - 0.4) / 0.25 = -1.6.
  let loss = 0;
  for (let i = 0; i < 2; i++) {
    const x = new Tensor([1, 1, 2, 3], images.slice(6 * i, 6 * i + 6).map((v) => (v - 0.4) / 0.25));
    const views = tenCropBatch(x, [2, 3], { padding: 1, fill: [-1.6] });
    const logits = model.forward(views, { noGrad: true }).data;
    let p = 0;
    for (let v = 0; v < 10; v++) {
      const z = Array.from(logits.subarray(3 * v, 3 * v + 3));
      const sum = z.reduce((s, t) => s + Math.exp(t), 0);
      p += Math.exp(z[data.labels[i]]) / sum / 10;
    }
    loss -= Math.log(p) / 2;
  }
  assert.ok(Math.abs(r.loss - loss) < 1e-5, `ten-crop loss ${r.loss}, expected ${loss}`);
  const black0 = evaluate(model, data, { tenCrop: [2, 3], tenCropPadding: 1 });
  assert.notEqual(black0.loss, r.loss, "the normalisation moves the padding's value");
  assert.throws(() => evaluate(model, data, { tenCropPadding: 1 }), /tenCropPadding pads the images for tenCrop; give tenCrop too/);
  assert.throws(() => evaluate(model, data, { tenCrop: [2, 3], tenCropPadding: 0.5 }), /tenCropPadding = 0.5 must be a whole number >= 0/);
});
