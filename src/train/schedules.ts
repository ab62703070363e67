/**
 * Learning-rate schedules with PyTorch 1.13's semantics (torch.optim.lr_scheduler):
 * StepLR, MultiStepLR, CosineAnnealingLR, ReduceLROnPlateau ("divide the
 * learning rate by 10 when validation accuracy stops improving", as AlexNet
 * did), LinearWarmup (LinearLR, optionally followed by another schedule as
 * SequentialLR does) and OneCycleLR (stepped per batch, with momentum cycling).
 *
 * A schedule drives an optimiser's lr, param group by param group. Creating
 * one sets the lr for step 0 (as PyTorch's initial step does); call step()
 * once per epoch (or per iteration, as you choose) after the optimiser's
 * step(), and ReduceLROnPlateau's step(metric) with the validation metric.
 * The update rules are PyTorch's chainable (recursive) forms, so an lr changed
 * from outside between steps is followed the way PyTorch follows it.
 */

import { StrideError } from "../stride-error.js";

/** What a schedule needs from an optimiser: the groups' lrs and a way to set them. */
export interface ScheduledOptimizer {
  readonly type: string;
  readonly paramGroups: readonly { readonly options: { lr: number } }[];
  /** Sets the learning rate of one parameter group. */
  setGroupLr(group: number, lr: number): void;
}

/** JSON-able state of a schedule: counters, hyper-parameters, the lrs it last set. */
export interface ScheduleState {
  type: string;
  lastEpoch: number;
  baseLrs: number[];
  lastLrs: number[];
  [key: string]: unknown;
}

/**
 * A learning-rate schedule: fit steps it once per epoch (or once per batch when
 * its `interval` is "batch") and it sets the optimizer's learning rates.
 */
export abstract class Schedule {
  readonly type: string;
  /** When fit steps it: after every epoch (all schedules but OneCycleLR) or after every batch. */
  readonly interval: "epoch" | "batch" = "epoch";
  readonly optimizer: ScheduledOptimizer;
  /** The lr of each param group when the schedule was made (PyTorch's initial_lr). */
  baseLrs: number[];
  /** How many times step() has been called since the initial step (PyTorch's last_epoch). */
  lastEpoch = -1;
  protected lastLrs: number[];

  protected constructor(type: string, optimizer: ScheduledOptimizer) {
    this.type = type;
    if (!optimizer || typeof optimizer !== "object" || !Array.isArray(optimizer.paramGroups) || typeof optimizer.setGroupLr !== "function") {
      throw new Error(`${type}: the first argument must be an optimiser (SGD, Adam, …), got ${describe(optimizer)}`);
    }
    this.optimizer = optimizer;
    this.baseLrs = this.currentLrs();
    this.lastLrs = this.baseLrs.slice();
  }

  /** The learning rate this schedule last set (of the first param group). */
  get lr(): number {
    return this.lastLrs[0];
  }

  /** The learning rate of every param group, as last set. */
  get lrs(): number[] {
    return this.lastLrs.slice();
  }

  /** Advances one epoch (or iteration) and sets the optimiser's lr. `metric` is used by ReduceLROnPlateau only. */
  step(_metric?: number): void {
    this.lastEpoch += 1;
    this.apply(this.nextLrs());
  }

  /** The lrs for the new lastEpoch, from the current ones (PyTorch's chainable get_lr). */
  protected abstract nextLrs(): number[];

  /** The lrs at lastEpoch from the base lrs alone (PyTorch's _get_closed_form_lr). */
  protected abstract closedFormLrs(): number[];

  /** Starts the schedule over at epoch 0 from its base lrs (what SequentialLR does at a milestone). */
  restart(): void {
    this.lastEpoch = 0;
    this.apply(this.closedFormLrs());
  }

  /** PyTorch's initial step; subclasses call it once their fields are set. */
  protected start(): void {
    this.step();
  }

  protected currentLrs(): number[] {
    return this.optimizer.paramGroups.map((group) => group.options.lr);
  }

  protected apply(lrs: number[]): void {
    lrs.forEach((lr, g) => this.optimizer.setGroupLr(g, lr));
    this.lastLrs = this.currentLrs();
  }

  /** The schedule's state, for checkpoints; loadStateDict restores it. */
  stateDict(): ScheduleState {
    return { type: this.type, lastEpoch: this.lastEpoch, baseLrs: this.baseLrs.slice(), lastLrs: this.lastLrs.slice(), ...this.extraState() };
  }

  /** Hyper-parameters and counters of the subclass (JSON-able). */
  protected abstract extraState(): Record<string, unknown>;

  /** Restores the subclass's part of a state (already known to be of this type); throws if invalid. */
  protected abstract loadExtraState(state: ScheduleState): void;

  /**
   * Restores what stateDict() returned, and sets the optimiser's lrs to the
   * ones the schedule last set, so the order of loading optimiser and
   * schedule does not matter.
   */
  loadStateDict(state: ScheduleState): void {
    const where = `${this.type}.loadStateDict`;
    if (!state || typeof state !== "object") throw new Error(`${where}: expected the object stateDict() returned, got ${describe(state)}`);
    if (state.type !== this.type) {
      throw new Error(`${where}: the state is from a ${String(state.type)} schedule; load it into a ${String(state.type)}`);
    }
    const groups = this.optimizer.paramGroups.length;
    if (!Number.isInteger(state.lastEpoch) || state.lastEpoch < -1) {
      throw new Error(`${where}: lastEpoch = ${JSON.stringify(state.lastEpoch)} is invalid; it must be a whole number >= -1`);
    }
    for (const key of ["baseLrs", "lastLrs"] as const) {
      const lrs = state[key];
      if (!Array.isArray(lrs) || lrs.length !== groups || !lrs.every((lr) => typeof lr === "number" && lr >= 0 && Number.isFinite(lr))) {
        throw new Error(`${where}: ${key} = ${JSON.stringify(lrs)} is invalid; expected ${groups} learning rates (one per param group), each >= 0`);
      }
    }
    this.loadExtraState(state);
    this.lastEpoch = state.lastEpoch;
    this.baseLrs = state.baseLrs.slice();
    this.apply(state.lastLrs);
  }
}

/** Multiplies the lr by gamma every stepSize steps (torch.optim.lr_scheduler.StepLR). */
export class StepLR extends Schedule {
  stepSize: number;
  gamma: number;

  constructor(optimizer: ScheduledOptimizer, stepSize: number, gamma = 0.1) {
    super("StepLR", optimizer);
    this.stepSize = positiveInt("StepLR", "stepSize", stepSize);
    this.gamma = nonNegative("StepLR", "gamma", gamma);
    this.start();
  }

  protected nextLrs(): number[] {
    const lrs = this.currentLrs();
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return lrs;
    return lrs.map((lr) => lr * this.gamma);
  }

  protected closedFormLrs(): number[] {
    return this.baseLrs.map((lr) => lr * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
  }

  protected extraState(): Record<string, unknown> {
    return { stepSize: this.stepSize, gamma: this.gamma };
  }

  protected loadExtraState(state: ScheduleState): void {
    const stepSize = positiveInt("StepLR.loadStateDict", "stepSize", state.stepSize as number);
    this.gamma = nonNegative("StepLR.loadStateDict", "gamma", state.gamma as number);
    this.stepSize = stepSize;
  }
}

/**
 * Multiplies the lr by gamma at each milestone (torch.optim.lr_scheduler.MultiStepLR);
 * a milestone listed twice multiplies by gamma twice, as in PyTorch.
 */
export class MultiStepLR extends Schedule {
  milestones: number[];
  gamma: number;

  constructor(optimizer: ScheduledOptimizer, milestones: number[], gamma = 0.1) {
    super("MultiStepLR", optimizer);
    this.milestones = checkMilestones("MultiStepLR", milestones);
    this.gamma = nonNegative("MultiStepLR", "gamma", gamma);
    this.start();
  }

  protected nextLrs(): number[] {
    const hits = this.milestones.filter((m) => m === this.lastEpoch).length;
    const lrs = this.currentLrs();
    return hits === 0 ? lrs : lrs.map((lr) => lr * this.gamma ** hits);
  }

  protected closedFormLrs(): number[] {
    const passed = this.milestones.filter((m) => m <= this.lastEpoch).length;
    return this.baseLrs.map((lr) => lr * this.gamma ** passed);
  }

  protected extraState(): Record<string, unknown> {
    return { milestones: this.milestones.slice(), gamma: this.gamma };
  }

  protected loadExtraState(state: ScheduleState): void {
    const milestones = checkMilestones("MultiStepLR.loadStateDict", state.milestones as number[]);
    this.gamma = nonNegative("MultiStepLR.loadStateDict", "gamma", state.gamma as number);
    this.milestones = milestones;
  }
}

/** A schedule whose length fit can set from a time budget's plan (setHorizon). */
export interface HorizonSchedule {
  /** Sets the schedule's length to `epochs` epochs of `stepsPerEpoch` batches, keeping the steps already taken. */
  setHorizon(epochs: number, stepsPerEpoch: number): void;
}

/** Whether fit can set this schedule's length from a plan (CosineAnnealingLR, OneCycleLR). */
export function hasHorizon(schedule: Schedule): schedule is Schedule & HorizonSchedule {
  return typeof (schedule as Partial<HorizonSchedule>).setHorizon === "function";
}

/**
 * Cosine annealing from the base lr to etaMin over tMax steps
 * (torch.optim.lr_scheduler.CosineAnnealingLR); past tMax the cosine goes on,
 * back up towards the base lr, as in PyTorch.
 */
export class CosineAnnealingLR extends Schedule {
  tMax: number;
  etaMin: number;

  constructor(optimizer: ScheduledOptimizer, tMax: number, etaMin = 0) {
    super("CosineAnnealingLR", optimizer);
    this.tMax = positiveInt("CosineAnnealingLR", "tMax", tMax);
    this.etaMin = nonNegative("CosineAnnealingLR", "etaMin", etaMin);
    this.start();
  }

  protected nextLrs(): number[] {
    const { lastEpoch: t, tMax, etaMin } = this;
    const lrs = this.currentLrs();
    if (t === 0) return lrs;
    if ((((t - 1 - tMax) % (2 * tMax)) + 2 * tMax) % (2 * tMax) === 0) {
      // The recursive ratio below would divide by zero here (at the bottom of the cosine).
      return lrs.map((lr, g) => lr + ((this.baseLrs[g] - etaMin) * (1 - Math.cos(Math.PI / tMax))) / 2);
    }
    const ratio = (1 + Math.cos((Math.PI * t) / tMax)) / (1 + Math.cos((Math.PI * (t - 1)) / tMax));
    return lrs.map((lr) => ratio * (lr - etaMin) + etaMin);
  }

  protected closedFormLrs(): number[] {
    const c = (1 + Math.cos((Math.PI * this.lastEpoch) / this.tMax)) / 2;
    return this.baseLrs.map((lr) => this.etaMin + (lr - this.etaMin) * c);
  }

  /**
   * Sets tMax to `epochs` (it is stepped per epoch) and moves the lr to the
   * closed form at the current epoch, so the cosine now ends with the plan.
   */
  setHorizon(epochs: number, _stepsPerEpoch: number): void {
    this.tMax = positiveInt("CosineAnnealingLR.setHorizon", "epochs", epochs);
    if (this.lastEpoch >= 0) this.apply(this.closedFormLrs());
  }

  protected extraState(): Record<string, unknown> {
    return { tMax: this.tMax, etaMin: this.etaMin };
  }

  protected loadExtraState(state: ScheduleState): void {
    const tMax = positiveInt("CosineAnnealingLR.loadStateDict", "tMax", state.tMax as number);
    this.etaMin = nonNegative("CosineAnnealingLR.loadStateDict", "etaMin", state.etaMin as number);
    this.tMax = tMax;
  }
}

/** Options of ReduceLROnPlateau, as PyTorch's. */
export interface ReduceLROnPlateauOptions {
  /** "max" for a metric that should rise (accuracy, the default here), "min" for one that should fall (loss). */
  mode: "max" | "min";
  /** new lr = lr * factor. */
  factor: number;
  /** Steps without improvement to tolerate; the lr drops on the next one. */
  patience: number;
  /** How much better than the best a metric must be to count as an improvement. */
  threshold: number;
  /** "rel": better than best * (1 ± threshold); "abs": better than best ± threshold. */
  thresholdMode: "rel" | "abs";
  /** Steps to wait after a reduction before counting bad steps again. */
  cooldown: number;
  /** Lower bound of the lr, one for all groups or one per group. */
  minLr: number | number[];
  /** A reduction smaller than this is skipped. */
  eps: number;
}

const PLATEAU_DEFAULTS: ReduceLROnPlateauOptions = {
  mode: "max", factor: 0.1, patience: 10, threshold: 1e-4, thresholdMode: "rel", cooldown: 0, minLr: 0, eps: 1e-8,
};

/**
 * Multiplies the lr by `factor` once the metric has not improved for more
 * than `patience` steps (torch.optim.lr_scheduler.ReduceLROnPlateau, same
 * rules and defaults except `mode`, which defaults to "max" here because the
 * classic use is validation accuracy; pass mode: "min" for a loss).
 */
export class ReduceLROnPlateau extends Schedule {
  readonly options: ReduceLROnPlateauOptions;
  /** The best metric so far (null before the first step). */
  best: number | null = null;
  numBadEpochs = 0;
  cooldownCounter = 0;

  constructor(optimizer: ScheduledOptimizer, options: Partial<ReduceLROnPlateauOptions> = {}) {
    super("ReduceLROnPlateau", optimizer);
    this.options = checkPlateauOptions("ReduceLROnPlateau", { ...PLATEAU_DEFAULTS, ...definedOnly(options) }, optimizer.paramGroups.length);
    // PyTorch's plateau schedule makes no initial step: the lr is left as it is.
    this.lastEpoch = 0;
  }

  /** Records the metric of this epoch and reduces the lr if it has stopped improving. */
  override step(metric?: number): void {
    if (typeof metric !== "number") {
      throw new Error(
        `ReduceLROnPlateau: step(metric) needs the monitored value (e.g. validation accuracy), got ${describe(metric)}`,
      );
    }
    this.lastEpoch += 1;
    if (this.isBetter(metric)) {
      this.best = metric;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs += 1;
    }
    if (this.cooldownCounter > 0) {
      this.cooldownCounter -= 1;
      this.numBadEpochs = 0; // bad epochs during the cooldown do not count
    }
    if (this.numBadEpochs > this.options.patience) {
      this.reduce();
      this.cooldownCounter = this.options.cooldown;
      this.numBadEpochs = 0;
    }
    this.lastLrs = this.currentLrs();
  }

  private isBetter(metric: number): boolean {
    if (this.best === null) return this.options.mode === "max" ? metric > -Infinity : metric < Infinity;
    const { mode, threshold, thresholdMode } = this.options;
    const best = this.best;
    if (mode === "min") return thresholdMode === "rel" ? metric < best * (1 - threshold) : metric < best - threshold;
    return thresholdMode === "rel" ? metric > best * (threshold + 1) : metric > best + threshold;
  }

  private reduce(): void {
    const { factor, minLr, eps } = this.options;
    this.currentLrs().forEach((old, g) => {
      const floor = Array.isArray(minLr) ? minLr[g] : minLr;
      const lr = Math.max(old * factor, floor);
      if (old - lr > eps) this.optimizer.setGroupLr(g, lr);
    });
  }

  protected nextLrs(): number[] {
    return this.currentLrs();
  }

  protected closedFormLrs(): number[] {
    return this.baseLrs.slice();
  }

  /** Back to the base lrs with a fresh best and counters (used after a warmup). */
  override restart(): void {
    this.best = null;
    this.numBadEpochs = 0;
    this.cooldownCounter = 0;
    super.restart();
  }

  protected extraState(): Record<string, unknown> {
    const o = this.options;
    return {
      ...o,
      minLr: Array.isArray(o.minLr) ? o.minLr.slice() : o.minLr,
      best: this.best,
      numBadEpochs: this.numBadEpochs,
      cooldownCounter: this.cooldownCounter,
    };
  }

  protected loadExtraState(state: ScheduleState): void {
    const where = "ReduceLROnPlateau.loadStateDict";
    const picked: Record<string, unknown> = {};
    for (const key of Object.keys(PLATEAU_DEFAULTS)) picked[key] = state[key];
    const options = checkPlateauOptions(where, picked as unknown as ReduceLROnPlateauOptions, this.optimizer.paramGroups.length);
    const best = state.best;
    if (best !== null && (typeof best !== "number" || Number.isNaN(best))) {
      throw new Error(`${where}: best = ${JSON.stringify(best)} is invalid; it must be a number or null`);
    }
    const numBadEpochs = wholeNumber(where, "numBadEpochs", state.numBadEpochs as number);
    const cooldownCounter = wholeNumber(where, "cooldownCounter", state.cooldownCounter as number);
    Object.assign(this.options, options);
    this.best = best as number | null;
    this.numBadEpochs = numBadEpochs;
    this.cooldownCounter = cooldownCounter;
  }
}

/**
 * Warmup: the lr rises linearly from startFactor * base to base over
 * warmupSteps steps (torch's LinearLR with endFactor 1), then `then` takes
 * over from the base lr as if newly started (torch's SequentialLR with the
 * milestone at warmupSteps). Make `then` on the same optimiser just before.
 * With a ReduceLROnPlateau as `then`, metrics passed during the warmup are ignored.
 */
export class LinearWarmup extends Schedule {
  warmupSteps: number;
  startFactor: number;
  readonly then: Schedule | null;

  constructor(optimizer: ScheduledOptimizer, warmupSteps: number, startFactor: number, then?: Schedule) {
    super("LinearWarmup", optimizer);
    this.warmupSteps = positiveInt("LinearWarmup", "warmupSteps", warmupSteps);
    this.startFactor = checkStartFactor("LinearWarmup", startFactor);
    this.then = then ?? null;
    if (this.then !== null) {
      if (!(this.then instanceof Schedule)) {
        throw new Error(`LinearWarmup: then must be a schedule (StepLR, CosineAnnealingLR, …), got ${describe(then)}`);
      }
      if (this.then.optimizer !== optimizer) {
        throw new Error("LinearWarmup: the schedule given as `then` drives another optimiser; make it on the same optimiser");
      }
      // As SequentialLR: back to the base lrs, and undo the initial step of `then`.
      this.baseLrs = this.then.baseLrs.slice();
      this.baseLrs.forEach((lr, g) => optimizer.setGroupLr(g, lr));
      this.then.lastEpoch -= 1;
    }
    this.start();
  }

  override step(metric?: number): void {
    if (this.then === null || this.lastEpoch + 1 < this.warmupSteps) {
      super.step();
      return;
    }
    this.lastEpoch += 1;
    if (this.lastEpoch === this.warmupSteps) {
      this.then.restart();
      if (this.then instanceof ReduceLROnPlateau && metric !== undefined) this.then.step(metric);
    } else {
      this.then.step(metric);
    }
    this.lastLrs = this.currentLrs();
  }

  protected nextLrs(): number[] {
    const { lastEpoch: t, warmupSteps: n, startFactor: s } = this;
    const lrs = this.currentLrs();
    if (t === 0) return lrs.map((lr) => lr * s);
    if (t > n) return lrs;
    return lrs.map((lr) => lr * (1 + (1 - s) / (n * s + (t - 1) * (1 - s))));
  }

  protected closedFormLrs(): number[] {
    const { lastEpoch: t, warmupSteps: n, startFactor: s } = this;
    return this.baseLrs.map((lr) => lr * (s + ((1 - s) * Math.min(n, t)) / n));
  }

  protected extraState(): Record<string, unknown> {
    return { warmupSteps: this.warmupSteps, startFactor: this.startFactor, then: this.then ? this.then.stateDict() : null };
  }

  protected loadExtraState(state: ScheduleState): void {
    const where = "LinearWarmup.loadStateDict";
    const warmupSteps = positiveInt(where, "warmupSteps", state.warmupSteps as number);
    const startFactor = checkStartFactor(where, state.startFactor as number);
    const thenState = state.then as ScheduleState | null | undefined;
    if ((thenState ?? null) === null ? this.then !== null : this.then === null) {
      throw new Error(
        `${where}: the state ${thenState ? "has" : "has no"} schedule after the warmup but this LinearWarmup ${this.then ? "has one" : "has none"}; build it as the saved one was`,
      );
    }
    if (this.then !== null && thenState) this.then.loadStateDict(thenState);
    this.warmupSteps = warmupSteps;
    this.startFactor = startFactor;
  }
}

/** Options of OneCycleLR, PyTorch's parameters in camelCase. */
export interface OneCycleLROptions {
  /** The peak lr, one for all param groups or one per group (PyTorch's max_lr). */
  maxLr: number | number[];
  /** Steps (batches) in the cycle; or give epochs and stepsPerEpoch. */
  totalSteps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  /** Share of the cycle spent raising the lr (default 0.3). */
  pctStart?: number;
  /** "cos" (default) or "linear" interpolation within each phase. */
  annealStrategy?: "cos" | "linear";
  /** Cycle momentum (SGD, RMSprop) or Adam's beta1 inversely to the lr (default true). */
  cycleMomentum?: boolean;
  /** Momentum at the lr's peak (default 0.85). */
  baseMomentum?: number | number[];
  /** Momentum at the start and end (default 0.95). */
  maxMomentum?: number | number[];
  /** The first lr is maxLr / divFactor (default 25). */
  divFactor?: number;
  /** The last lr is maxLr / divFactor / finalDivFactor (default 1e4). */
  finalDivFactor?: number;
  /** Up, back down to the first lr, then down to the last (fast.ai's variant); default false: up, then down to the last. */
  threePhase?: boolean;
}

/** One phase of the cycle: from step `start` to `end`, lr and momentum move between two named levels. */
interface CyclePhase {
  end: number;
  lrFrom: "initial" | "max" | "min";
  lrTo: "initial" | "max" | "min";
  momentumFrom: "base" | "max";
  momentumTo: "base" | "max";
}

/** The momentum-like option of a param group: `momentum`, or beta1 of `betas` (Adam, AdamW). */
type MomentumOptions = { lr: number; momentum?: number; betas?: [number, number] };

/**
 * The one-cycle policy (torch.optim.lr_scheduler.OneCycleLR): the lr rises
 * from maxLr / divFactor to maxLr over pctStart of the steps, then anneals to
 * maxLr / divFactor / finalDivFactor, while the momentum moves the other way
 * between maxMomentum and baseMomentum. It is stepped after every batch
 * (interval "batch"), and like PyTorch's it ignores the optimiser's own lr and,
 * with cycleMomentum, sets the momentum of an SGD even when it was 0.
 */
export class OneCycleLR extends Schedule implements HorizonSchedule {
  override readonly interval = "batch" as const;
  totalSteps: number;
  pctStart: number;
  annealStrategy: "cos" | "linear";
  cycleMomentum: boolean;
  threePhase: boolean;
  divFactor: number;
  finalDivFactor: number;
  /** Per param group. */
  maxLrs: number[];
  baseMomenta: number[];
  maxMomenta: number[];

  constructor(optimizer: ScheduledOptimizer, options: OneCycleLROptions) {
    super("OneCycleLR", optimizer);
    const where = "OneCycleLR";
    if (!options || typeof options !== "object") throw new StrideError(`${where}: options must be an object with at least maxLr, got ${describe(options)}`);
    const groups = optimizer.paramGroups.length;
    this.totalSteps = totalStepsOf(where, options);
    this.pctStart = unitInterval(where, "pctStart", options.pctStart ?? 0.3);
    this.annealStrategy = annealStrategyOf(where, options.annealStrategy ?? "cos");
    this.cycleMomentum = booleanOf(where, "cycleMomentum", options.cycleMomentum ?? true);
    this.threePhase = booleanOf(where, "threePhase", options.threePhase ?? false);
    this.divFactor = positiveNumber(where, "divFactor", options.divFactor ?? 25);
    this.finalDivFactor = positiveNumber(where, "finalDivFactor", options.finalDivFactor ?? 1e4);
    this.maxLrs = perGroup(where, "maxLr", options.maxLr, groups, positiveNumber);
    this.baseMomenta = perGroup(where, "baseMomentum", options.baseMomentum ?? 0.85, groups, unitInterval);
    this.maxMomenta = perGroup(where, "maxMomentum", options.maxMomentum ?? 0.95, groups, unitInterval);
    if (this.cycleMomentum) {
      const o = optimizer.paramGroups[0].options as MomentumOptions;
      if (o.momentum === undefined && o.betas === undefined) {
        throw new StrideError(`${where}: the ${optimizer.type} optimiser has no momentum to cycle; pass cycleMomentum: false, or use SGD, RMSprop or Adam`);
      }
    }
    // PyTorch's initial_lr: the cycle starts at maxLr / divFactor whatever the optimiser's lr was.
    this.baseLrs = this.maxLrs.map((lr) => lr / this.divFactor);
    this.start();
  }

  /** The three (or two) phases, with PyTorch's float end steps. */
  private phases(): CyclePhase[] {
    const { pctStart: p, totalSteps: n } = this;
    if (this.threePhase) {
      return [
        { end: p * n - 1, lrFrom: "initial", lrTo: "max", momentumFrom: "max", momentumTo: "base" },
        { end: 2 * p * n - 2, lrFrom: "max", lrTo: "initial", momentumFrom: "base", momentumTo: "max" },
        { end: n - 1, lrFrom: "initial", lrTo: "min", momentumFrom: "max", momentumTo: "max" },
      ];
    }
    return [
      { end: p * n - 1, lrFrom: "initial", lrTo: "max", momentumFrom: "max", momentumTo: "base" },
      { end: n - 1, lrFrom: "max", lrTo: "min", momentumFrom: "base", momentumTo: "max" },
    ];
  }

  /** The lr and momentum of group g at `step` (PyTorch's get_lr). */
  private at(step: number, g: number): { lr: number; momentum: number } {
    const lrLevel = { initial: this.maxLrs[g] / this.divFactor, max: this.maxLrs[g], min: this.maxLrs[g] / this.divFactor / this.finalDivFactor };
    const momentumLevel = { base: this.baseMomenta[g], max: this.maxMomenta[g] };
    const anneal = this.annealStrategy === "cos"
      ? (from: number, to: number, pct: number) => to + ((from - to) / 2) * (Math.cos(Math.PI * pct) + 1)
      : (from: number, to: number, pct: number) => (to - from) * pct + from;
    const phases = this.phases();
    let start = 0;
    for (let i = 0; i < phases.length; i++) {
      const ph = phases[i];
      if (step <= ph.end || i === phases.length - 1) {
        const pct = (step - start) / (ph.end - start);
        return {
          lr: anneal(lrLevel[ph.lrFrom], lrLevel[ph.lrTo], pct),
          momentum: anneal(momentumLevel[ph.momentumFrom], momentumLevel[ph.momentumTo], pct),
        };
      }
      start = ph.end;
    }
    throw new Error("unreachable: the last phase always matches");
  }

  override step(): void {
    if (this.lastEpoch + 1 > this.totalSteps) {
      throw new StrideError(
        `OneCycleLR: stepped ${this.lastEpoch + 2} times but the cycle has totalSteps = ${this.totalSteps}; ` +
          `make the cycle as long as the training (epochs x batches per epoch)`,
      );
    }
    super.step();
    this.applyMomentum();
  }

  override restart(): void {
    super.restart();
    this.applyMomentum();
  }

  /**
   * Sets the cycle to `epochs` x `stepsPerEpoch` steps and moves lr and momentum
   * to the new cycle's values at the current step (a time budget's plan).
   */
  setHorizon(epochs: number, stepsPerEpoch: number): void {
    const where = "OneCycleLR.setHorizon";
    const total = positiveInt(where, "epochs", epochs) * positiveInt(where, "stepsPerEpoch", stepsPerEpoch);
    if (total < this.lastEpoch) {
      throw new StrideError(`${where}: a cycle of ${total} steps is shorter than the ${this.lastEpoch} steps already taken`);
    }
    this.totalSteps = total;
    if (this.lastEpoch >= 0) {
      this.apply(this.closedFormLrs());
      this.applyMomentum();
    }
  }

  protected nextLrs(): number[] {
    return this.closedFormLrs();
  }

  /**
   * The step after the last (which PyTorch allows, and fit takes after the last
   * batch) extrapolates the final phase: a linear one goes below 0 there, where
   * PyTorch sets a negative lr; here it stops at 0.
   */
  protected closedFormLrs(): number[] {
    return this.maxLrs.map((_, g) => Math.max(0, this.at(this.lastEpoch, g).lr));
  }

  private applyMomentum(): void {
    if (!this.cycleMomentum) return;
    this.optimizer.paramGroups.forEach((group, g) => {
      const o = group.options as MomentumOptions;
      const m = this.at(this.lastEpoch, g).momentum;
      if (o.betas !== undefined) o.betas = [m, o.betas[1]];
      else o.momentum = m;
    });
  }

  override loadStateDict(state: ScheduleState): void {
    super.loadStateDict(state);
    this.applyMomentum();
  }

  protected extraState(): Record<string, unknown> {
    return {
      totalSteps: this.totalSteps, pctStart: this.pctStart, annealStrategy: this.annealStrategy,
      cycleMomentum: this.cycleMomentum, threePhase: this.threePhase, divFactor: this.divFactor,
      finalDivFactor: this.finalDivFactor, maxLrs: this.maxLrs.slice(), baseMomenta: this.baseMomenta.slice(), maxMomenta: this.maxMomenta.slice(),
    };
  }

  protected loadExtraState(state: ScheduleState): void {
    const where = "OneCycleLR.loadStateDict";
    const groups = this.optimizer.paramGroups.length;
    const loaded = {
      totalSteps: positiveInt(where, "totalSteps", state.totalSteps as number),
      pctStart: unitInterval(where, "pctStart", state.pctStart as number),
      annealStrategy: annealStrategyOf(where, state.annealStrategy as string),
      cycleMomentum: booleanOf(where, "cycleMomentum", state.cycleMomentum),
      threePhase: booleanOf(where, "threePhase", state.threePhase),
      divFactor: positiveNumber(where, "divFactor", state.divFactor as number),
      finalDivFactor: positiveNumber(where, "finalDivFactor", state.finalDivFactor as number),
      maxLrs: perGroup(where, "maxLrs", state.maxLrs as number[], groups, positiveNumber),
      baseMomenta: perGroup(where, "baseMomenta", state.baseMomenta as number[], groups, unitInterval),
      maxMomenta: perGroup(where, "maxMomenta", state.maxMomenta as number[], groups, unitInterval),
    };
    Object.assign(this, loaded);
  }
}

function totalStepsOf(where: string, o: OneCycleLROptions): number {
  if (o.totalSteps !== undefined) return positiveInt(where, "totalSteps", o.totalSteps);
  if (o.epochs === undefined || o.stepsPerEpoch === undefined) {
    throw new StrideError(`${where}: give the cycle's length, as totalSteps or as epochs and stepsPerEpoch (batches per epoch)`);
  }
  return positiveInt(where, "epochs", o.epochs) * positiveInt(where, "stepsPerEpoch", o.stepsPerEpoch);
}

function perGroup(where: string, option: string, value: number | number[], groups: number, check: (w: string, o: string, v: number) => number): number[] {
  if (Array.isArray(value)) {
    if (value.length !== groups) {
      throw new StrideError(`${where}: ${option} has ${value.length} values but the optimiser has ${groups} param groups; give one per group or a single number`);
    }
    return value.map((v, g) => check(where, `${option}[${g}]`, v));
  }
  return new Array(groups).fill(check(where, option, value));
}

function positiveNumber(name: string, option: string, value: number): number {
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw new StrideError(`${name}: ${option} = ${String(value)} is invalid; it must be a finite number > 0`);
  }
  return value;
}

function unitInterval(name: string, option: string, value: number): number {
  if (typeof value !== "number" || !(value >= 0 && value <= 1)) {
    throw new StrideError(`${name}: ${option} = ${String(value)} is invalid; it must be a number in [0, 1]`);
  }
  return value;
}

function booleanOf(name: string, option: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw new StrideError(`${name}: ${option} = ${JSON.stringify(value)} is invalid; it must be true or false`);
  return value;
}

function annealStrategyOf(name: string, value: string): "cos" | "linear" {
  if (value !== "cos" && value !== "linear") {
    throw new StrideError(`${name}: annealStrategy = ${JSON.stringify(value)} is invalid; use "cos" or "linear"`);
  }
  return value;
}

// ---------------------------------------------------------------------------
// Validation helpers

function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "object") return `an object with keys ${Object.keys(value as object).join(", ") || "(none)"}`;
  return `${typeof value} ${String(value)}`;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  if (!o || typeof o !== "object") throw new StrideError(`ReduceLROnPlateau: options must be an object, got ${describe(o)}`);
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function positiveInt(name: string, option: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new StrideError(`${name}: ${option} = ${String(value)} is invalid; it must be a whole number >= 1`);
  }
  return value;
}

function wholeNumber(name: string, option: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new StrideError(`${name}: ${option} = ${String(value)} is invalid; it must be a whole number >= 0`);
  }
  return value;
}

function nonNegative(name: string, option: string, value: number): number {
  if (typeof value !== "number" || !(value >= 0) || !Number.isFinite(value)) {
    throw new StrideError(`${name}: ${option} = ${String(value)} is invalid; it must be a finite number >= 0`);
  }
  return value;
}

function checkStartFactor(name: string, value: number): number {
  if (typeof value !== "number" || !(value > 0 && value <= 1)) {
    throw new StrideError(`${name}: startFactor = ${String(value)} is invalid; it must be in (0, 1] (the first lr is startFactor * base lr)`);
  }
  return value;
}

function checkMilestones(name: string, milestones: number[]): number[] {
  if (!Array.isArray(milestones) || !milestones.every((m) => Number.isInteger(m) && m >= 0)) {
    throw new StrideError(`${name}: milestones = ${JSON.stringify(milestones)} is invalid; pass an array of step numbers (whole numbers >= 0)`);
  }
  return milestones.slice().sort((a, b) => a - b);
}

function checkPlateauOptions(name: string, o: ReduceLROnPlateauOptions, groups: number): ReduceLROnPlateauOptions {
  for (const key of Object.keys(o)) {
    if (!Object.hasOwn(PLATEAU_DEFAULTS, key)) {
      throw new StrideError(`${name}: unknown option "${key}"; the options are ${Object.keys(PLATEAU_DEFAULTS).join(", ")}`);
    }
  }
  if (o.mode !== "min" && o.mode !== "max") {
    throw new StrideError(`${name}: mode = ${JSON.stringify(o.mode)} is invalid; use "max" for accuracy-like metrics or "min" for losses`);
  }
  if (o.thresholdMode !== "rel" && o.thresholdMode !== "abs") {
    throw new StrideError(`${name}: thresholdMode = ${JSON.stringify(o.thresholdMode)} is invalid; use "rel" or "abs"`);
  }
  if (typeof o.factor !== "number" || !(o.factor >= 0 && o.factor < 1)) {
    throw new StrideError(`${name}: factor = ${String(o.factor)} is invalid; it must be in [0, 1) (new lr = lr * factor)`);
  }
  wholeNumber(name, "patience", o.patience);
  wholeNumber(name, "cooldown", o.cooldown);
  nonNegative(name, "threshold", o.threshold);
  nonNegative(name, "eps", o.eps);
  if (Array.isArray(o.minLr)) {
    if (o.minLr.length !== groups) {
      throw new StrideError(`${name}: minLr has ${o.minLr.length} values but the optimiser has ${groups} param groups; give one per group or a single number`);
    }
    o.minLr.forEach((v, g) => nonNegative(name, `minLr[${g}]`, v));
    o = { ...o, minLr: o.minLr.slice() };
  } else {
    nonNegative(name, "minLr", o.minLr);
  }
  return o;
}
