/**
 * Learning-rate schedules against PyTorch 1.13's lr sequences (fixtures from
 * scripts/gen_optim_fixtures.py), resuming from stateDict(), and clear errors.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Tensor } from "../src/tensor.js";
import { makeParam } from "../src/layers/layer.js";
import { SGD, Adam } from "../src/train/optimizers.js";
import {
  StepLR, MultiStepLR, CosineAnnealingLR, ReduceLROnPlateau, LinearWarmup,
  type Schedule, type ScheduleState, type ReduceLROnPlateauOptions,
} from "../src/train/schedules.js";

const FIXTURE = fileURLToPath(new URL("../../test/fixtures/optim.json", import.meta.url));

interface ScheduleArgs {
  stepSize?: number;
  gamma?: number;
  milestones?: number[];
  tMax?: number;
  etaMin?: number;
  options?: Partial<ReduceLROnPlateauOptions>;
  warmupSteps?: number;
  startFactor?: number;
  then?: ScheduleArgs & { schedule: string };
}

interface ScheduleCase {
  name: string;
  schedule: string;
  args: ScheduleArgs;
  groupLrs: number[];
  metrics?: number[];
  /** lrs[k][group]: after construction (k = 0), then after each step. */
  lrs: number[][];
}

const fixtures = JSON.parse(readFileSync(FIXTURE, "utf8")) as { schedules: ScheduleCase[] };

function optimizerWith(groupLrs: number[]): SGD {
  return new SGD(groupLrs.map((lr, i) => ({ params: [makeParam(`w${i}`, Tensor.zeros([1]))], lr })), { lr: groupLrs[0] });
}

function makeSchedule(kind: string, opt: SGD, a: ScheduleArgs): Schedule {
  switch (kind) {
    case "StepLR":
      return new StepLR(opt, a.stepSize!, a.gamma);
    case "MultiStepLR":
      return new MultiStepLR(opt, a.milestones!, a.gamma);
    case "CosineAnnealingLR":
      return new CosineAnnealingLR(opt, a.tMax!, a.etaMin);
    case "ReduceLROnPlateau":
      return new ReduceLROnPlateau(opt, a.options);
    case "LinearWarmup": {
      const then = a.then ? makeSchedule(a.then.schedule, opt, a.then) : undefined;
      return new LinearWarmup(opt, a.warmupSteps!, a.startFactor!, then);
    }
    default:
      throw new Error(`unknown schedule ${kind} in the fixtures`);
  }
}

function groupLrs(opt: SGD): number[] {
  return opt.paramGroups.map((g) => g.options.lr);
}

function assertLrs(actual: number[], expected: number[], what: string): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((lr, g) => {
    assert.ok(Math.abs(lr - expected[g]) <= 1e-12 * Math.abs(expected[g]) + 1e-15, `${what}, group ${g}: lr ${lr}, PyTorch ${expected[g]}`);
  });
}

for (const c of fixtures.schedules) {
  test(`${c.schedule} (${c.name}) gives PyTorch's lr sequence`, () => {
    const opt = optimizerWith(c.groupLrs);
    const schedule = makeSchedule(c.schedule, opt, c.args);
    assertLrs(groupLrs(opt), c.lrs[0], "after construction");
    for (let k = 1; k < c.lrs.length; k++) {
      opt.step();
      schedule.step(c.metrics?.[k - 1]);
      assertLrs(groupLrs(opt), c.lrs[k], `after step ${k}`);
      assert.equal(schedule.lr, opt.paramGroups[0].options.lr);
      assert.deepEqual(schedule.lrs, groupLrs(opt));
    }
  });

  test(`${c.schedule} (${c.name}) resumes from stateDict() halfway`, () => {
    const half = Math.floor(c.lrs.length / 2);
    const opt = optimizerWith(c.groupLrs);
    const schedule = makeSchedule(c.schedule, opt, c.args);
    for (let k = 1; k <= half; k++) schedule.step(c.metrics?.[k - 1]);
    const saved = JSON.parse(JSON.stringify(schedule.stateDict())) as ScheduleState;
    // A new process: a new optimiser at its initial lrs and a new schedule, then the state.
    const opt2 = optimizerWith(c.groupLrs);
    const schedule2 = makeSchedule(c.schedule, opt2, c.args);
    schedule2.loadStateDict(saved);
    assertLrs(groupLrs(opt2), c.lrs[half], "right after loading");
    for (let k = half + 1; k < c.lrs.length; k++) {
      schedule2.step(c.metrics?.[k - 1]);
      assertLrs(groupLrs(opt2), c.lrs[k], `after step ${k} (resumed)`);
    }
  });
}

test("ReduceLROnPlateau monitors accuracy by default and divides by 10 after `patience` bad epochs", () => {
  const opt = optimizerWith([0.1]);
  const plateau = new ReduceLROnPlateau(opt, { patience: 2 });
  assert.equal(plateau.options.mode, "max");
  assert.equal(plateau.lr, 0.1);
  for (const acc of [0.5, 0.6, 0.6, 0.59]) plateau.step(acc);
  assert.equal(opt.lr, 0.1); // two bad epochs: still patient
  plateau.step(0.6);
  assert.ok(Math.abs(opt.lr - 0.01) < 1e-15, `lr ${opt.lr}`);
  assert.throws(() => plateau.step(), /ReduceLROnPlateau: step\(metric\) needs the monitored value/);
});

test("LinearWarmup works with any optimiser and hands over to a plateau schedule after the warmup", () => {
  const opt = new Adam([makeParam("w", Tensor.zeros([2]))], { lr: 0.01 });
  const warm = new LinearWarmup(opt, 2, 0.5, new ReduceLROnPlateau(opt, { patience: 0, mode: "min" }));
  assert.equal(opt.lr, 0.005);
  warm.step(9); // warmup: the metric is ignored
  assert.ok(Math.abs(opt.lr - 0.0075) < 1e-15);
  warm.step(1.0); // the plateau takes over at the base lr, seeing its first metric
  assert.equal(opt.lr, 0.01);
  warm.step(0.5); // better: unchanged
  assert.equal(opt.lr, 0.01);
  warm.step(0.7); // worse, patience 0: reduced
  assert.ok(Math.abs(opt.lr - 0.001) < 1e-15);
});

test("schedules reject impossible settings with errors naming the option and value", () => {
  const opt = optimizerWith([0.1]);
  const cases: [() => unknown, RegExp][] = [
    [() => new StepLR(opt, 0), /StepLR: stepSize = 0 is invalid; it must be a whole number >= 1/],
    [() => new StepLR(opt, 2.5), /stepSize = 2\.5 is invalid/],
    [() => new StepLR(opt, 3, -0.1), /StepLR: gamma = -0\.1 is invalid/],
    [() => new MultiStepLR(opt, [3, -1]), /MultiStepLR: milestones = \[3,-1\] is invalid/],
    [() => new CosineAnnealingLR(opt, 0), /CosineAnnealingLR: tMax = 0 is invalid/],
    [() => new CosineAnnealingLR(opt, 10, -1), /etaMin = -1 is invalid/],
    [() => new ReduceLROnPlateau(opt, { mode: "maximum" as never }), /mode = "maximum" is invalid; use "max" for accuracy-like metrics or "min" for losses/],
    [() => new ReduceLROnPlateau(opt, { factor: 1 }), /factor = 1 is invalid; it must be in \[0, 1\)/],
    [() => new ReduceLROnPlateau(opt, { patience: -1 }), /patience = -1 is invalid/],
    [() => new ReduceLROnPlateau(opt, { thresholdMode: "relative" as never }), /thresholdMode = "relative" is invalid/],
    [() => new ReduceLROnPlateau(opt, { minLr: [0, 0] }), /minLr has 2 values but the optimiser has 1 param groups/],
    [() => new ReduceLROnPlateau(opt, { min_lr: 0 } as never), /unknown option "min_lr"/],
    [() => new LinearWarmup(opt, 0, 0.1), /LinearWarmup: warmupSteps = 0 is invalid/],
    [() => new LinearWarmup(opt, 5, 0), /startFactor = 0 is invalid; it must be in \(0, 1\]/],
    [() => new LinearWarmup(opt, 5, 0.1, new StepLR(optimizerWith([0.1]), 2)), /drives another optimiser/],
    [() => new StepLR({} as never, 2), /StepLR: the first argument must be an optimiser/],
  ];
  for (const [make, pattern] of cases) assert.throws(make, pattern);
});

test("loadStateDict rejects a state that does not fit", () => {
  const opt = optimizerWith([0.1, 0.01]);
  const step = new StepLR(opt, 3);
  const state = step.stateDict();
  assert.throws(() => new CosineAnnealingLR(opt, 5).loadStateDict(state), /the state is from a StepLR schedule/);
  assert.throws(() => new StepLR(optimizerWith([0.1]), 3).loadStateDict(state), /baseLrs = \[0\.1,0\.01\] is invalid; expected 1 learning rates/);
  assert.throws(() => step.loadStateDict({ ...state, lastEpoch: 1.5 }), /lastEpoch = 1\.5 is invalid/);
  assert.throws(() => step.loadStateDict({ ...state, stepSize: 0 }), /stepSize = 0 is invalid/);
  assert.throws(() => step.loadStateDict({ ...state, lastLrs: [-1, 0] }), /lastLrs = \[-1,0\] is invalid/);
  const plateau = new ReduceLROnPlateau(opt);
  assert.throws(() => plateau.loadStateDict({ ...plateau.stateDict(), best: "high" }), /best = "high" is invalid/);
  const warm = new LinearWarmup(opt, 2, 0.5);
  const withThen = new LinearWarmup(opt, 2, 0.5, new StepLR(opt, 2));
  assert.throws(() => warm.loadStateDict(withThen.stateDict()), /the state has schedule after the warmup but this LinearWarmup has none/);
});
