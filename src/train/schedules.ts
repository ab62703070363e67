/**
 * Learning-rate schedules with PyTorch 1.13's semantics (torch.optim.lr_scheduler):
 * StepLR, MultiStepLR, CosineAnnealingLR, ReduceLROnPlateau ("divide the
 * learning rate by 10 when validation accuracy stops improving", as AlexNet
 * did) and LinearWarmup (LinearLR, optionally followed by another schedule as
 * SequentialLR does).
 *
 * A schedule drives an optimiser's lr, param group by param group. Creating
 * one sets the lr for step 0 (as PyTorch's initial step does); call step()
 * once per epoch (or per iteration, as you choose) after the optimiser's
 * step(), and ReduceLROnPlateau's step(metric) with the validation metric.
 * The update rules are PyTorch's chainable (recursive) forms, so an lr changed
 * from outside between steps is followed the way PyTorch follows it.
 */

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

/** A learning-rate schedule: fit steps it once per epoch and it sets the optimizer's learning rates. */
export abstract class Schedule {
  readonly type: string;
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
  if (!o || typeof o !== "object") throw new Error(`ReduceLROnPlateau: options must be an object, got ${describe(o)}`);
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function positiveInt(name: string, option: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${name}: ${option} = ${String(value)} is invalid; it must be a whole number >= 1`);
  }
  return value;
}

function wholeNumber(name: string, option: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`${name}: ${option} = ${String(value)} is invalid; it must be a whole number >= 0`);
  }
  return value;
}

function nonNegative(name: string, option: string, value: number): number {
  if (typeof value !== "number" || !(value >= 0) || !Number.isFinite(value)) {
    throw new Error(`${name}: ${option} = ${String(value)} is invalid; it must be a finite number >= 0`);
  }
  return value;
}

function checkStartFactor(name: string, value: number): number {
  if (typeof value !== "number" || !(value > 0 && value <= 1)) {
    throw new Error(`${name}: startFactor = ${String(value)} is invalid; it must be in (0, 1] (the first lr is startFactor * base lr)`);
  }
  return value;
}

function checkMilestones(name: string, milestones: number[]): number[] {
  if (!Array.isArray(milestones) || !milestones.every((m) => Number.isInteger(m) && m >= 0)) {
    throw new Error(`${name}: milestones = ${JSON.stringify(milestones)} is invalid; pass an array of step numbers (whole numbers >= 0)`);
  }
  return milestones.slice().sort((a, b) => a - b);
}

function checkPlateauOptions(name: string, o: ReduceLROnPlateauOptions, groups: number): ReduceLROnPlateauOptions {
  for (const key of Object.keys(o)) {
    if (!(key in PLATEAU_DEFAULTS)) {
      throw new Error(`${name}: unknown option "${key}"; the options are ${Object.keys(PLATEAU_DEFAULTS).join(", ")}`);
    }
  }
  if (o.mode !== "min" && o.mode !== "max") {
    throw new Error(`${name}: mode = ${JSON.stringify(o.mode)} is invalid; use "max" for accuracy-like metrics or "min" for losses`);
  }
  if (o.thresholdMode !== "rel" && o.thresholdMode !== "abs") {
    throw new Error(`${name}: thresholdMode = ${JSON.stringify(o.thresholdMode)} is invalid; use "rel" or "abs"`);
  }
  if (typeof o.factor !== "number" || !(o.factor >= 0 && o.factor < 1)) {
    throw new Error(`${name}: factor = ${String(o.factor)} is invalid; it must be in [0, 1) (new lr = lr * factor)`);
  }
  wholeNumber(name, "patience", o.patience);
  wholeNumber(name, "cooldown", o.cooldown);
  nonNegative(name, "threshold", o.threshold);
  nonNegative(name, "eps", o.eps);
  if (Array.isArray(o.minLr)) {
    if (o.minLr.length !== groups) {
      throw new Error(`${name}: minLr has ${o.minLr.length} values but the optimiser has ${groups} param groups; give one per group or a single number`);
    }
    o.minLr.forEach((v, g) => nonNegative(name, `minLr[${g}]`, v));
    o = { ...o, minLr: o.minLr.slice() };
  } else {
    nonNegative(name, "minLr", o.minLr);
  }
  return o;
}
