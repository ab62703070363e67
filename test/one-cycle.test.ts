/**
 * OneCycleLR against PyTorch 1.13's OneCycleLR lr and momentum trajectories
 * (test/fixtures/recipe.json, from scripts/gen_recipe_fixtures.py), resuming
 * from its state, per-batch stepping in fit, and clear errors.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Tensor } from "../src/tensor.js";
import { Rng } from "../src/random.js";
import { StrideError } from "../src/stride-error.js";
import { makeParam } from "../src/layers/layer.js";
import { SGD, Adam, Adagrad } from "../src/train/optimizers.js";
import { OneCycleLR, type OneCycleLROptions } from "../src/train/schedules.js";
import { createDataset } from "../src/data/dataset.js";
import { fit } from "../src/train/trainer.js";
import { Sequential } from "../src/models/sequential.js";
import { Linear } from "../src/layers/dense.js";
import { Flatten } from "../src/layers/reshape.js";

const FIXTURE = fileURLToPath(new URL("../../test/fixtures/recipe.json", import.meta.url));

interface OneCycleCase {
  name: string;
  optimizer: "SGD" | "Adam";
  groupLrs: number[];
  momentum: number;
  args: OneCycleLROptions;
  /** [k][group], after construction (k = 0) and after each step. */
  lrs: number[][];
  momenta: number[][];
}

const cases = (JSON.parse(readFileSync(FIXTURE, "utf8")) as { oneCycle: OneCycleCase[] }).oneCycle;

function optimizerFor(c: Pick<OneCycleCase, "optimizer" | "groupLrs" | "momentum">): SGD | Adam {
  const groups = c.groupLrs.map((lr, i) => ({ params: [makeParam(`w${i}`, Tensor.zeros([1]))], lr }));
  return c.optimizer === "SGD" ? new SGD(groups, { lr: c.groupLrs[0], momentum: c.momentum }) : new Adam(groups, { lr: c.groupLrs[0] });
}

function momentaOf(opt: SGD | Adam): number[] {
  return opt.paramGroups.map((g) => ("betas" in g.options ? g.options.betas[0] : (g.options as { momentum: number }).momentum));
}

function close(actual: number[], expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((v, g) => assert.ok(Math.abs(v - expected[g]) <= 1e-12 * Math.abs(expected[g]) + 1e-15, `${what}, group ${g}: ${v}, PyTorch ${expected[g]}`));
}

for (const c of cases) {
  test(`OneCycleLR (${c.name}) gives PyTorch's lr and momentum at every step`, () => {
    const opt = optimizerFor(c);
    const schedule = new OneCycleLR(opt, c.args);
    assert.equal(schedule.interval, "batch");
    for (let k = 0; k < c.lrs.length; k++) {
      if (k > 0) schedule.step();
      // Past the end PyTorch's linear cycle goes below 0, where stride's stops at 0 (an optimiser refuses a negative lr).
      close(opt.paramGroups.map((g) => g.options.lr), c.lrs[k].map((lr) => Math.max(0, lr)), `lr after ${k} steps`);
      close(momentaOf(opt), c.momenta[k], `momentum after ${k} steps`);
    }
  });
}

test("OneCycleLR resumes mid-cycle from its state: the same lrs and momenta as an uninterrupted run", () => {
  const c = cases.find((x) => x.name === "three phases")!;
  const opt = optimizerFor(c);
  const first = new OneCycleLR(opt, c.args);
  for (let k = 0; k < 11; k++) first.step();
  const saved = JSON.parse(JSON.stringify(first.stateDict()));
  // A fresh optimiser and schedule, built with other settings, then loaded.
  const opt2 = optimizerFor(c);
  const second = new OneCycleLR(opt2, { maxLr: 0.9, totalSteps: 100 });
  second.loadStateDict(saved);
  close(momentaOf(opt2), c.momenta[11], "momentum after loading");
  for (let k = 12; k < c.lrs.length; k++) {
    second.step();
    close(opt2.paramGroups.map((g) => g.options.lr), c.lrs[k], `lr after ${k} steps (resumed)`);
    close(momentaOf(opt2), c.momenta[k], `momentum after ${k} steps (resumed)`);
  }
  assert.throws(() => second.loadStateDict({ ...saved, pctStart: 2 }), /pctStart = 2 is invalid/);
});

test("OneCycleLR refuses to step past its cycle and explains bad options", () => {
  const opt = optimizerFor({ optimizer: "SGD", groupLrs: [0.1], momentum: 0.9 });
  const schedule = new OneCycleLR(opt, { maxLr: 1, totalSteps: 3 });
  for (let k = 0; k < 3; k++) schedule.step();
  assert.throws(() => schedule.step(), (e: Error) => e instanceof StrideError && /stepped 5 times but the cycle has totalSteps = 3/.test(e.message));
  const bad: [Partial<OneCycleLROptions>, RegExp][] = [
    [{ maxLr: 1 }, /give the cycle's length/],
    [{ maxLr: 0, totalSteps: 5 }, /maxLr = 0 is invalid/],
    [{ maxLr: [1, 2], totalSteps: 5 }, /maxLr has 2 values but the optimiser has 1 param groups/],
    [{ maxLr: 1, totalSteps: 5, pctStart: 1.5 }, /pctStart = 1.5/],
    [{ maxLr: 1, totalSteps: 5, annealStrategy: "exp" as "cos" }, /annealStrategy = "exp" is invalid; use "cos" or "linear"/],
    [{ maxLr: 1, epochs: 2, stepsPerEpoch: 0 }, /stepsPerEpoch = 0 is invalid/],
  ];
  for (const [options, message] of bad) {
    assert.throws(() => new OneCycleLR(optimizerFor({ optimizer: "SGD", groupLrs: [0.1], momentum: 0.9 }), options as OneCycleLROptions), message);
  }
  const adagrad = new Adagrad([makeParam("w", Tensor.zeros([1]))], { lr: 0.1 });
  assert.throws(() => new OneCycleLR(adagrad, { maxLr: 1, totalSteps: 5 }), /Adagrad optimiser has no momentum to cycle; pass cycleMomentum: false/);
  assert.doesNotThrow(() => new OneCycleLR(adagrad, { maxLr: 1, totalSteps: 5, cycleMomentum: false }));
});

test("setHorizon re-times the cycle: the lr at each later step is that of a cycle built with the new length", () => {
  const build = (totalSteps: number) => {
    const opt = optimizerFor({ optimizer: "SGD", groupLrs: [0.1], momentum: 0.9 });
    return { opt, schedule: new OneCycleLR(opt, { maxLr: 1, totalSteps }) };
  };
  const a = build(100), b = build(30);
  for (let k = 0; k < 4; k++) a.schedule.step(), b.schedule.step();
  a.schedule.setHorizon(6, 5);
  assert.equal(a.schedule.totalSteps, 30);
  for (let k = 4; k < 30; k++) {
    assert.equal(a.opt.lr, b.opt.lr, `step ${k}`);
    assert.deepEqual(momentaOf(a.opt), momentaOf(b.opt));
    a.schedule.step(), b.schedule.step();
  }
  assert.throws(() => a.schedule.setHorizon(1, 5), /shorter than the 30 steps already taken/);
});

test("fit steps a one-cycle schedule after every batch: the last batch trains at maxLr / divFactor / finalDivFactor", async () => {
  const rng = new Rng(2);
  const images = Float32Array.from({ length: 40 * 4 }, () => rng.next());
  const labels = Int32Array.from({ length: 40 }, (_, i) => i % 2);
  const data = createDataset({ name: "noise", images, labels, shape: [1, 2, 2], classes: ["a", "b"] });
  const model = new Sequential([new Flatten(), new Linear({ inFeatures: 4, outFeatures: 2, rng: new Rng(1) })]);
  const optimizer = new SGD(model.params(), { lr: 0.1, momentum: 0.9 });
  const epochs = 3, batchSize = 8, steps = epochs * (40 / batchSize);
  const schedule = new OneCycleLR(optimizer, { maxLr: 0.5, totalSteps: steps });
  const lrs: number[] = [];
  await fit(model, data, { epochs, batchSize, optimizer, schedule, progress: "none", callbacks: [{ onBatchEnd: () => void lrs.push(optimizer.lr) }] });
  assert.equal(schedule.lastEpoch, steps);
  assert.equal(lrs.length, steps);
  // The reference: the same cycle stepped by hand once per batch.
  const ref = new OneCycleLR(new SGD([makeParam("w", Tensor.zeros([1]))], { lr: 0.1, momentum: 0.9 }), { maxLr: 0.5, totalSteps: steps });
  lrs.forEach((lr, k) => {
    ref.step();
    assert.equal(lr, ref.lr, `lr after batch ${k + 1}`);
  });
  // lrs[k] is read after batch k + 1 and its step: the last batch ran with lrs[steps - 2].
  assert.ok(Math.abs(lrs[steps - 2] - 0.5 / 25 / 1e4) < 1e-15, `last lr ${lrs[steps - 2]}`);
});

test("a run with one-cycle, label smoothing and random erasing resumes from a checkpoint to the same batch losses", async () => {
  // Random erasing draws from the loader's per-batch generator, which checkpoints carry; the
  // one-cycle's step count and momentum are in the schedule's state.
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  await import("../src/node/train.js"); // the file-system checkpoint store
  const { randomErasing, compose, randomCrop } = await import("../src/data/augment.js");
  const rng = new Rng(6);
  const images = Float32Array.from({ length: 48 * 36 }, () => rng.next());
  const labels = Int32Array.from({ length: 48 }, (_, i) => i % 3);
  const data = createDataset({ name: "noise", images, labels, shape: [1, 6, 6], classes: ["a", "b", "c"] });
  const run = async (epochs: number, dir: string, resume?: string) => {
    const model = new Sequential([new Flatten(), new Linear({ inFeatures: 36, outFeatures: 3, rng: new Rng(resume ? 99 : 1) })]);
    const optimizer = new SGD(model.params(), { lr: 0.1, momentum: 0.9 });
    const schedule = new OneCycleLR(optimizer, { maxLr: 0.3, totalSteps: 4 * 6 });
    const augment = compose(randomCrop({ size: 6, padding: 1 }), randomErasing({ p: 0.7, value: "random" }));
    return fit(model, data, { epochs, batchSize: 8, optimizer, schedule, augment, labelSmoothing: 0.1, seed: 3, progress: "none", checkpointDir: dir, resume });
  };
  const tmp = () => mkdtempSync(join(tmpdir(), "stride-onecycle-"));
  const straight = await run(4, tmp());
  const dir = tmp();
  await run(2, dir);
  const resumed = await run(4, dir, dir);
  assert.deepEqual(resumed.batchLosses, straight.batchLosses);
});
