/**
 * Optimisers with PyTorch 1.13's exact update rules and defaults: SGD (with
 * momentum, dampening, Nesterov), Adagrad, RMSprop (momentum, centered), Adam
 * and AdamW (both with AMSGrad). Parameters come as a list or as PyTorch-style
 * param groups, so weight decay can leave biases and batch-norm alone.
 *
 * An optimiser reads each trainable Param's `grad`, updates `value.data` in
 * place and keeps its per-parameter state (moment buffers, step counts) in
 * float32, like PyTorch. Arithmetic inside one element's update runs in
 * double precision and is rounded once when stored, so the trajectories agree
 * with PyTorch's float32 ones to rounding, and a run restored from
 * stateDict() continues bit for bit.
 */
import { Tensor, formatShape, sameShape } from "../tensor.js";
import { getBackend } from "../kernels/index.js";
import { touchParam, type Module, type Param } from "../layers/layer.js";
import { pinParams, isPinned } from "../layers/param-memory.js";
import { StrideError } from "../stride-error.js";
import type { Backend } from "../kernels/backend.js";

/** A PyTorch param group: its own parameters and any option overrides. */
export type ParamGroup<O> = { params: Param[] } & Partial<O>;

/** What every optimiser's options have. */
export interface BaseOptions {
  lr: number;
  weightDecay: number;
}

/** One param group as the optimiser holds it: parameters and resolved options. */
export interface GroupState<O extends BaseOptions> {
  readonly params: Param[];
  readonly options: O;
}

/** What stateDict() returns: JSON-able metadata and the state tensors by name. */
export interface OptimizerState {
  meta: OptimizerMeta;
  tensors: Map<string, Tensor>;
}

/** The JSON part of an optimizer's saved state: its type, groups and step counts. */
export interface OptimizerMeta {
  type: string;
  /** Options of each group and the global indices of its parameters. */
  groups: { options: Record<string, number | boolean | number[]>; params: number[] }[];
  /** Per-parameter step counts, keyed by global parameter index (parameters never stepped are absent). */
  steps: Record<string, number>;
}

/**
 * The shared machinery: param groups, option validation, the settable lr,
 * zeroGrad, state (de)serialisation. Subclasses implement updateParam().
 */
export abstract class Optimizer<O extends BaseOptions> {
  /** "SGD", "Adam", …: names the optimiser in errors and in stateDict(). */
  readonly type: string;
  readonly paramGroups: GroupState<O>[];
  /** Every parameter in group order; a parameter's position here is its index in stateDict(). */
  private readonly allParams: Param[];
  /** Per-parameter step counts (0 until the parameter's first update). */
  protected readonly steps: number[];
  /** Per-parameter state tensors, keyed by buffer name ("momentumBuffer", "expAvg", …). */
  protected readonly buffers: Map<string, Float32Array>[];

  protected constructor(
    name: string,
    params: Param[] | ParamGroup<O>[],
    options: Partial<O> | undefined,
    defaults: O,
  ) {
    this.type = name;
    if (!Array.isArray(params)) {
      throw new Error(`${name}: the first argument must be an array of Params or of param groups { params, ...options }, got ${describe(params)}`);
    }
    if (params.length === 0) {
      throw new Error(`${name}: got an empty parameter list; pass model.params() or param groups`);
    }
    const shared = { ...defaults, ...checkKeys(name, "options", options ?? {}, defaults) } as O;
    const rawGroups: ParamGroup<O>[] = isGroupList(params) ? params : [{ params } as ParamGroup<O>];
    const seen = new Set<Param>();
    this.paramGroups = rawGroups.map((group, g) => {
      if (!group || typeof group !== "object" || !Array.isArray(group.params)) {
        throw new Error(`${name}: param group ${g} must be an object { params: Param[], ...options }, got ${describe(group)}`);
      }
      const { params: groupParams, ...overrides } = group;
      const merged = { ...shared, ...checkKeys(name, `param group ${g}`, overrides, defaults) } as O;
      this.validate(merged, rawGroups === params ? ` (param group ${g})` : "");
      groupParams.forEach((p, i) => {
        checkParam(name, p, g, i);
        if (seen.has(p)) {
          throw new Error(`${name}: parameter "${p.name}" appears more than once (param group ${g}); each parameter may be in one group only, once`);
        }
        seen.add(p);
      });
      return { params: groupParams.slice(), options: merged };
    });
    this.allParams = this.paramGroups.flatMap((group) => group.params);
    this.steps = this.allParams.map(() => 0);
    this.buffers = this.allParams.map(() => new Map());
    this.pin();
  }

  /** The backend the parameters were last pinned for, and one of them to tell whether they still are. */
  private pinnedFor: Backend | null = null;
  private pinnedProbe: Tensor | null = null;
  private wasDisposed = false;

  /**
   * Moves the trained parameters into the backend's own memory (wasm), where
   * the kernels of each step read and update them in place instead of copying
   * them in and out (layers/param-memory.ts); again after a change of backend,
   * or after fit() has moved them back out.
   */
  private pin(): void {
    const backend = getBackend();
    if (backend === this.pinnedFor && this.pinnedProbe !== null && isPinned(this.pinnedProbe)) return;
    this.pinnedFor = backend;
    const trained = this.allParams.filter((p) => p.trainable !== false);
    pinParams(trained);
    this.pinnedProbe = trained.length > 0 ? trained[0].value : null;
  }

  /**
   * Gives back now the memory of this optimiser's state (moment buffers,
   * kept in wasm memory on the wasm backend) instead of when it is collected.
   * The optimiser cannot step afterwards. fit() does this for the optimiser
   * it makes itself; the parameters belong to the model (see Module.dispose).
   */
  dispose(): void {
    if (this.wasDisposed) return;
    this.wasDisposed = true;
    const backend = getBackend();
    for (const map of this.buffers) {
      for (const buf of map.values()) backend.freeResident?.(buf);
      map.clear();
    }
  }

  /** Throws a clear error for impossible hyper-parameters. `where` names the param group. */
  protected abstract validate(options: O, where: string): void;

  /** Updates one parameter in place from its gradient; `index` is its global index. */
  protected abstract updateParam(p: Param, index: number, options: O, step: number): void;

  /** The learning rate of the first param group. */
  get lr(): number {
    return this.paramGroups[0].options.lr;
  }

  /** Sets the learning rate of every param group (schedules that scale groups separately use setGroupLr). */
  set lr(value: number) {
    checkLr(this.type, value, "");
    for (const group of this.paramGroups) group.options.lr = value;
  }

  /** Sets one group's learning rate (what a schedule does, group by group). */
  setGroupLr(group: number, value: number): void {
    if (!Number.isInteger(group) || group < 0 || group >= this.paramGroups.length) {
      throw new Error(`${this.type}: there is no param group ${group} (the optimiser has ${this.paramGroups.length})`);
    }
    checkLr(this.type, value, ` (param group ${group})`);
    this.paramGroups[group].options.lr = value;
  }

  /** One update of every trainable parameter from its current gradient. */
  step(): void {
    if (this.wasDisposed) throw new StrideError(`${this.type}: this optimiser was disposed; make a new one to go on training`);
    this.pin();
    let index = 0;
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (p.trainable !== false) {
          // A Param built by hand without `trainable` (API.md omits it) counts as trainable.
          this.steps[index] += 1;
          this.updateParam(p, index, group.options, this.steps[index]);
          touchParam(p);
        }
        index++;
      }
    }
  }

  /** Sets every parameter's gradient to zero (layers add into it). */
  zeroGrad(): void {
    for (const p of this.allParams) p.grad.data.fill(0);
  }

  /** The state buffer `key` of parameter `index`, created (filled with `init`) on first use. */
  protected buffer(index: number, key: string, init = 0): Float32Array {
    const map = this.buffers[index];
    let buf = map.get(key);
    if (buf === undefined) {
      const n = this.allParams[index].value.size;
      // In the backend's memory when it has some (zeroed), so that its update kernels work in place.
      buf = getBackend().allocResident?.(n) ?? new Float32Array(n);
      if (init !== 0) buf.fill(init);
      map.set(key, buf);
    }
    return buf;
  }

  /** Which state buffers may exist for a group's options (what loadStateDict accepts). */
  protected abstract bufferNames(options: O): string[];

  /**
   * Step counts, hyper-parameters and state tensors ("state.<index>.<buffer>"),
   * everything needed for a resumed run to continue exactly.
   */
  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    const steps: Record<string, number> = {};
    this.allParams.forEach((p, i) => {
      if (this.steps[i] > 0) steps[String(i)] = this.steps[i];
      for (const [key, buf] of this.buffers[i]) {
        tensors.set(`state.${i}.${key}`, new Tensor(p.value.shape, buf.slice()));
      }
    });
    let next = 0;
    const groups = this.paramGroups.map((group) => ({
      options: cloneOptions(group.options),
      params: group.params.map(() => next++),
    }));
    return { meta: { type: this.type, groups, steps }, tensors };
  }

  /**
   * Restores what stateDict() returned, after checking that it fits this
   * optimiser: same type, same groups and parameter counts, valid options,
   * state tensors of the parameters' shapes. Nothing changes if a check fails.
   */
  loadStateDict(state: OptimizerState): void {
    const name = this.type;
    if (!state || typeof state !== "object" || !state.meta || !(state.tensors instanceof Map)) {
      throw new Error(`${name}.loadStateDict: expected { meta, tensors: Map } as returned by stateDict(), got ${describe(state)}`);
    }
    const { meta, tensors } = state;
    if (meta.type !== name) {
      throw new Error(`${name}.loadStateDict: the state is from a ${String(meta.type)} optimiser; load it into a ${String(meta.type)}`);
    }
    if (!Array.isArray(meta.groups) || meta.groups.length !== this.paramGroups.length) {
      throw new Error(
        `${name}.loadStateDict: the state has ${Array.isArray(meta.groups) ? meta.groups.length : "no"} param groups, this optimiser ${this.paramGroups.length}; ` +
          `build the optimiser with the same param groups as the saved one`,
      );
    }
    const defaults = this.paramGroups[0].options;
    const newOptions: O[] = meta.groups.map((saved, g) => {
      const count = this.paramGroups[g].params.length;
      if (!saved || !Array.isArray(saved.params) || saved.params.length !== count) {
        throw new Error(
          `${name}.loadStateDict: param group ${g} has ${saved && Array.isArray(saved.params) ? saved.params.length : "no"} parameters in the state and ${count} here; ` +
            `the model or the grouping differs from the saved one`,
        );
      }
      if (!saved.options || typeof saved.options !== "object") {
        throw new Error(`${name}.loadStateDict: param group ${g} has no options in the state`);
      }
      const options = { ...this.paramGroups[g].options, ...checkKeys(`${name}.loadStateDict`, `param group ${g}`, saved.options, defaults) } as O;
      for (const key of Object.keys(defaults) as (keyof O)[]) {
        if (typeof options[key] !== typeof defaults[key] || Array.isArray(options[key]) !== Array.isArray(defaults[key])) {
          throw new Error(`${name}.loadStateDict: option ${String(key)} of param group ${g} is ${JSON.stringify(options[key])}, of the wrong type`);
        }
      }
      this.validate(options, ` (param group ${g}, loaded state)`);
      return options;
    });
    if (!meta.steps || typeof meta.steps !== "object") {
      throw new Error(`${name}.loadStateDict: the state has no steps record`);
    }
    const total = this.allParams.length;
    const newSteps = this.allParams.map(() => 0);
    for (const [key, value] of Object.entries(meta.steps)) {
      const i = Number(key);
      if (!Number.isInteger(i) || i < 0 || i >= total) {
        throw new Error(`${name}.loadStateDict: a step count is for parameter ${key}, but there are ${total} parameters (0..${total - 1})`);
      }
      if (!Number.isInteger(value) || value < 1) {
        throw new Error(`${name}.loadStateDict: parameter ${key} has step count ${JSON.stringify(value)}; step counts are whole numbers >= 1`);
      }
      newSteps[i] = value;
    }
    const newBuffers = this.allParams.map(() => new Map<string, Float32Array>());
    const groupOf = this.paramGroups.flatMap((group, g) => group.params.map(() => g));
    for (const [key, tensor] of tensors) {
      const match = /^state\.(\d+)\.([A-Za-z]+)$/.exec(key);
      const i = match ? Number(match[1]) : -1;
      if (!match || i >= total) {
        throw new Error(`${name}.loadStateDict: unexpected state tensor "${key}"; expected "state.<index>.<buffer>" with index below ${total}`);
      }
      const allowed = this.bufferNames(newOptions[groupOf[i]]);
      if (!allowed.includes(match[2])) {
        throw new Error(
          `${name}.loadStateDict: state tensor "${key}" is not used with these options (expected one of: ${allowed.join(", ") || "none"})`,
        );
      }
      const p = this.allParams[i];
      if (!(tensor instanceof Tensor) || !sameShape(tensor.shape, p.value.shape)) {
        throw new Error(
          `${name}.loadStateDict: state tensor "${key}" has shape ${tensor instanceof Tensor ? formatShape(tensor.shape) : describe(tensor)} ` +
            `but parameter ${i} ("${p.name}") has shape ${formatShape(p.value.shape)}; the model differs from the saved one`,
        );
      }
      if (newSteps[i] === 0) {
        throw new Error(`${name}.loadStateDict: parameter ${i} has state tensor "${key}" but no step count`);
      }
      // Where buffer() would have put it (the backend's memory), so resumed steps run the same kernel.
      const restored = getBackend().allocResident?.(tensor.size) ?? new Float32Array(tensor.size);
      restored.set(tensor.data);
      newBuffers[i].set(match[2], restored);
    }
    // Everything checked: commit.
    newOptions.forEach((options, g) => Object.assign(this.paramGroups[g].options, options));
    newSteps.forEach((s, i) => (this.steps[i] = s));
    newBuffers.forEach((map, i) => (this.buffers[i] = map));
  }
}

// ---------------------------------------------------------------------------
// SGD

export interface SGDOptions extends BaseOptions {
  momentum: number;
  dampening: number;
  nesterov: boolean;
}

const SGD_DEFAULTS: SGDOptions = { lr: NaN, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 };

/**
 * torch.optim.SGD: g = grad + weightDecay * p; with momentum, buf = g on the
 * first step and buf = momentum * buf + (1 - dampening) * g after; the step
 * uses buf, or g + momentum * buf with Nesterov; p -= lr * step.
 */
export class SGD extends Optimizer<SGDOptions> {
  /** `lr` has no default (as in PyTorch): give it in the options or in every param group. */
  constructor(params: Param[] | ParamGroup<SGDOptions>[], options: Partial<SGDOptions>) {
    super("SGD", params, options, SGD_DEFAULTS);
  }

  protected validate(o: SGDOptions, where: string): void {
    if (Number.isNaN(o.lr)) {
      throw new Error(`SGD: the learning rate has no default${where}; pass options with lr, e.g. new SGD(params, { lr: 0.01, momentum: 0.9 })`);
    }
    checkLr("SGD", o.lr, where);
    checkRange("SGD", "momentum", o.momentum, 0, 1, where);
    checkRange("SGD", "dampening", o.dampening, 0, 1, where, true);
    checkNonNegative("SGD", "weightDecay", o.weightDecay, where);
    checkBoolean("SGD", "nesterov", o.nesterov, where);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
      throw new Error(
        `SGD: nesterov = true needs a momentum above 0 and dampening = 0, got momentum = ${o.momentum}, dampening = ${o.dampening}${where}`,
      );
    }
  }

  protected bufferNames(o: SGDOptions): string[] {
    return o.momentum !== 0 ? ["momentumBuffer"] : [];
  }

  protected updateParam(p: Param, index: number, o: SGDOptions): void {
    const w = p.value.data;
    const g = p.grad.data;
    const n = w.length;
    const { lr, momentum, dampening, nesterov, weightDecay } = o;
    if (momentum === 0) {
      for (let i = 0; i < n; i++) w[i] -= lr * (g[i] + weightDecay * w[i]);
      return;
    }
    // PyTorch starts the buffer at the first gradient itself (no dampening on that step).
    const first = !this.buffers[index].has("momentumBuffer");
    const buf = this.buffer(index, "momentumBuffer");
    const keep = first ? 0 : momentum;
    const take = first ? 1 : 1 - dampening;
    if (!nesterov && weightDecay === 0) {
      // The common case: a backend kernel (measured: 0.15 ms of JavaScript per LeNet-5 step), else a loop free of branches.
      if (getBackend().sgdMomentum?.(w, g, buf, lr, keep, take)) return;
      // The kernel's float32 arithmetic, operation by operation (fround of a
      // double product or sum of floats is the float32 result), so that a step
      // gives the same bits whichever of the two runs it (the kernel only
      // takes arrays in wasm memory).
      const f = Math.fround, lr32 = f(lr), keep32 = f(keep), take32 = f(take);
      for (let i = 0; i < n; i++) {
        const b = f(f(keep32 * buf[i]) + f(take32 * g[i]));
        buf[i] = b;
        w[i] = f(w[i] - f(lr32 * b));
      }
      return;
    }
    for (let i = 0; i < n; i++) {
      const d = weightDecay !== 0 ? Math.fround(g[i] + weightDecay * w[i]) : g[i];
      buf[i] = keep * buf[i] + take * d;
      w[i] -= lr * (nesterov ? d + momentum * buf[i] : buf[i]);
    }
  }
}

// ---------------------------------------------------------------------------
// Adagrad

export interface AdagradOptions extends BaseOptions {
  lrDecay: number;
  initialAccumulatorValue: number;
  eps: number;
}

const ADAGRAD_DEFAULTS: AdagradOptions = { lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10 };

/**
 * torch.optim.Adagrad: sum += g^2; p -= clr * g / (sqrt(sum) + eps) with
 * clr = lr / (1 + (step - 1) * lrDecay).
 */
export class Adagrad extends Optimizer<AdagradOptions> {
  constructor(params: Param[] | ParamGroup<AdagradOptions>[], options?: Partial<AdagradOptions>) {
    super("Adagrad", params, options, ADAGRAD_DEFAULTS);
  }

  protected validate(o: AdagradOptions, where: string): void {
    checkLr("Adagrad", o.lr, where);
    checkNonNegative("Adagrad", "lrDecay", o.lrDecay, where);
    checkNonNegative("Adagrad", "weightDecay", o.weightDecay, where);
    checkNonNegative("Adagrad", "initialAccumulatorValue", o.initialAccumulatorValue, where);
    checkNonNegative("Adagrad", "eps", o.eps, where);
  }

  protected bufferNames(): string[] {
    return ["sum"];
  }

  protected updateParam(p: Param, index: number, o: AdagradOptions, step: number): void {
    const w = p.value.data;
    const g = p.grad.data;
    const sum = this.buffer(index, "sum", o.initialAccumulatorValue);
    const clr = o.lr / (1 + (step - 1) * o.lrDecay);
    const { weightDecay, eps } = o;
    for (let i = 0, n = w.length; i < n; i++) {
      const d = weightDecay !== 0 ? Math.fround(g[i] + weightDecay * w[i]) : g[i];
      sum[i] += d * d;
      w[i] -= (clr * d) / (Math.fround(Math.sqrt(sum[i])) + eps);
    }
  }
}

// ---------------------------------------------------------------------------
// RMSprop

export interface RMSpropOptions extends BaseOptions {
  alpha: number;
  eps: number;
  momentum: number;
  centered: boolean;
}

const RMSPROP_DEFAULTS: RMSpropOptions = { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false };

/**
 * torch.optim.RMSprop: v = alpha v + (1 - alpha) g^2; centered also tracks
 * m = alpha m + (1 - alpha) g and uses v - m^2; avg = sqrt(.) + eps; then
 * p -= lr g / avg, or with momentum buf = momentum buf + g / avg, p -= lr buf.
 */
export class RMSprop extends Optimizer<RMSpropOptions> {
  constructor(params: Param[] | ParamGroup<RMSpropOptions>[], options?: Partial<RMSpropOptions>) {
    super("RMSprop", params, options, RMSPROP_DEFAULTS);
  }

  protected validate(o: RMSpropOptions, where: string): void {
    checkLr("RMSprop", o.lr, where);
    checkRange("RMSprop", "alpha", o.alpha, 0, 1, where);
    checkNonNegative("RMSprop", "eps", o.eps, where);
    checkNonNegative("RMSprop", "weightDecay", o.weightDecay, where);
    checkRange("RMSprop", "momentum", o.momentum, 0, 1, where);
    checkBoolean("RMSprop", "centered", o.centered, where);
  }

  protected bufferNames(o: RMSpropOptions): string[] {
    return ["squareAvg", ...(o.momentum > 0 ? ["momentumBuffer"] : []), ...(o.centered ? ["gradAvg"] : [])];
  }

  protected updateParam(p: Param, index: number, o: RMSpropOptions): void {
    const w = p.value.data;
    const g = p.grad.data;
    const { lr, alpha, eps, weightDecay, momentum, centered } = o;
    const sq = this.buffer(index, "squareAvg");
    const gAvg = centered ? this.buffer(index, "gradAvg") : null;
    const buf = momentum > 0 ? this.buffer(index, "momentumBuffer") : null;
    for (let i = 0, n = w.length; i < n; i++) {
      const d = weightDecay !== 0 ? Math.fround(g[i] + weightDecay * w[i]) : g[i];
      sq[i] = alpha * sq[i] + (1 - alpha) * d * d;
      let avg: number;
      if (gAvg !== null) {
        gAvg[i] = alpha * gAvg[i] + (1 - alpha) * d;
        avg = Math.fround(Math.sqrt(Math.fround(sq[i] - gAvg[i] * gAvg[i]))) + eps;
      } else {
        avg = Math.fround(Math.sqrt(sq[i])) + eps;
      }
      avg = Math.fround(avg);
      if (buf !== null) {
        buf[i] = momentum * buf[i] + d / avg;
        w[i] -= lr * buf[i];
      } else {
        w[i] -= (lr * d) / avg;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Adam and AdamW

export interface AdamOptions extends BaseOptions {
  betas: [number, number];
  eps: number;
  amsgrad: boolean;
}

const ADAM_DEFAULTS: AdamOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false };

/** Adam and AdamW share everything but where weight decay enters. */
abstract class AdamBase extends Optimizer<AdamOptions> {
  protected abstract readonly decoupled: boolean;

  protected validate(o: AdamOptions, where: string): void {
    const name = this.type;
    checkLr(name, o.lr, where);
    if (!Array.isArray(o.betas) || o.betas.length !== 2) {
      throw new Error(`${name}: betas must be a pair [beta1, beta2], got ${JSON.stringify(o.betas)}${where}`);
    }
    checkRange(name, "betas[0]", o.betas[0], 0, 1, where);
    checkRange(name, "betas[1]", o.betas[1], 0, 1, where);
    checkNonNegative(name, "eps", o.eps, where);
    checkNonNegative(name, "weightDecay", o.weightDecay, where);
    checkBoolean(name, "amsgrad", o.amsgrad, where);
  }

  protected bufferNames(o: AdamOptions): string[] {
    return ["expAvg", "expAvgSq", ...(o.amsgrad ? ["maxExpAvgSq"] : [])];
  }

  protected updateParam(p: Param, index: number, o: AdamOptions, step: number): void {
    const w = p.value.data;
    const g = p.grad.data;
    const { lr, eps, weightDecay, amsgrad } = o;
    const [beta1, beta2] = o.betas;
    const m = this.buffer(index, "expAvg");
    const v = this.buffer(index, "expAvgSq");
    const vMax = amsgrad ? this.buffer(index, "maxExpAvgSq") : null;
    const stepSize = lr / (1 - beta1 ** step);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** step);
    const decay = this.decoupled ? 1 - lr * weightDecay : 1;
    const l2 = this.decoupled ? 0 : weightDecay;
    for (let i = 0, n = w.length; i < n; i++) {
      if (decay !== 1) w[i] *= decay;
      const d = l2 !== 0 ? Math.fround(g[i] + l2 * w[i]) : g[i];
      m[i] = beta1 * m[i] + (1 - beta1) * d;
      v[i] = beta2 * v[i] + (1 - beta2) * d * d;
      let second = v[i];
      if (vMax !== null) {
        if (v[i] > vMax[i]) vMax[i] = v[i];
        second = vMax[i];
      }
      const denom = Math.fround(Math.fround(Math.sqrt(second)) / bc2Sqrt + eps);
      w[i] -= (stepSize * m[i]) / denom;
    }
  }
}

/** torch.optim.Adam: L2 weight decay added to the gradient (default 0). */
export class Adam extends AdamBase {
  protected readonly decoupled = false;

  constructor(params: Param[] | ParamGroup<AdamOptions>[], options?: Partial<AdamOptions>) {
    super("Adam", params, options, ADAM_DEFAULTS);
  }
}

/** torch.optim.AdamW: decoupled weight decay, p *= 1 - lr * weightDecay before the Adam step (default 0.01). */
export class AdamW extends AdamBase {
  protected readonly decoupled = true;

  constructor(params: Param[] | ParamGroup<AdamOptions>[], options?: Partial<AdamOptions>) {
    super("AdamW", params, options, { ...ADAM_DEFAULTS, weightDecay: 1e-2 });
  }
}

// ---------------------------------------------------------------------------
// Param groups for weight decay

/**
 * Two param groups for a model: weights with `weightDecay`, and biases plus
 * every parameter of batch-norm layers with none (decaying those only pulls
 * shifts and scales towards 0). Pass the result as an optimiser's params.
 * A parameter shared by several layers is listed once.
 */
export function decayGroups(model: Module, weightDecay: number): [ParamGroup<BaseOptions>, ParamGroup<BaseOptions>] {
  if (!model || typeof model !== "object" || typeof (model as Module).params !== "function") {
    throw new Error(`decayGroups: expected a model or layer (with params() and children()), got ${describe(model)}`);
  }
  checkNonNegative("decayGroups", "weightDecay", weightDecay, "");
  const decay: Param[] = [];
  const noDecay: Param[] = [];
  const seen = new Set<Param>();
  const add = (p: Param, exempt: boolean) => {
    if (seen.has(p)) return;
    seen.add(p);
    (exempt || isBiasName(p.name) ? noDecay : decay).push(p);
  };
  const walk = (m: Module) => {
    const children = m.children();
    const batchNorm = typeof m.type === "string" && m.type.startsWith("BatchNorm");
    // A container's params() lists its children's too; visiting the children first
    // classifies each by the layer that owns it, then anything left is the container's own.
    for (const child of children) walk(child);
    for (const p of m.params()) add(p, batchNorm);
  };
  walk(model);
  return [
    { params: decay, weightDecay },
    { params: noDecay, weightDecay: 0 },
  ];
}

function isBiasName(name: string): boolean {
  return name === "bias" || name.endsWith(".bias") || name.endsWith("/bias");
}

// ---------------------------------------------------------------------------
// Validation helpers

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "object") return `an object with keys ${Object.keys(value as object).join(", ") || "(none)"}`;
  return `${typeof value} ${String(value)}`;
}

function isGroupList<O>(params: Param[] | ParamGroup<O>[]): params is ParamGroup<O>[] {
  const first = params[0] as unknown;
  return !!first && typeof first === "object" && Array.isArray((first as { params?: unknown }).params);
}

function checkParam(name: string, p: Param, group: number, i: number): void {
  const where = `param group ${group}, parameter ${i}`;
  if (!p || typeof p !== "object" || !(p.value instanceof Tensor) || !(p.grad instanceof Tensor)) {
    throw new Error(`${name}: ${where} is not a Param { name, value: Tensor, grad: Tensor, trainable } (got ${describe(p)})`);
  }
  if (!sameShape(p.value.shape, p.grad.shape)) {
    throw new Error(
      `${name}: parameter "${p.name}" (${where}) has value ${formatShape(p.value.shape)} but grad ${formatShape(p.grad.shape)}; they must have the same shape`,
    );
  }
}

/** Rejects unknown option names (a typo such as weight_decay would otherwise be silently ignored). */
function checkKeys<O extends object>(name: string, where: string, given: object, defaults: O): Partial<O> {
  if (!given || typeof given !== "object") {
    throw new Error(`${name}: ${where} must be an object, got ${describe(given)}`);
  }
  for (const key of Object.keys(given)) {
    if (!Object.hasOwn(defaults, key)) {
      throw new Error(`${name}: unknown option "${key}" in ${where}; the options are ${Object.keys(defaults).join(", ")}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(given)) {
    if (value !== undefined) out[key] = Array.isArray(value) ? value.slice() : value;
  }
  return out as Partial<O>;
}

function cloneOptions(options: object): Record<string, number | boolean | number[]> {
  const out: Record<string, number | boolean | number[]> = {};
  for (const [key, value] of Object.entries(options)) out[key] = Array.isArray(value) ? value.slice() : value;
  return out;
}

function checkLr(name: string, lr: number, where: string): void {
  if (typeof lr !== "number" || !(lr >= 0) || !Number.isFinite(lr)) {
    throw new Error(`${name}: lr = ${String(lr)} is invalid${where}; the learning rate must be a finite number >= 0`);
  }
}

function checkNonNegative(name: string, option: string, value: number, where: string): void {
  if (typeof value !== "number" || !(value >= 0) || !Number.isFinite(value)) {
    throw new Error(`${name}: ${option} = ${String(value)} is invalid${where}; it must be a finite number >= 0`);
  }
}

/** value in [low, high), or [low, high] when `inclusive`. */
function checkRange(name: string, option: string, value: number, low: number, high: number, where: string, inclusive = false): void {
  const ok = typeof value === "number" && value >= low && (inclusive ? value <= high : value < high);
  if (!ok) {
    throw new Error(`${name}: ${option} = ${String(value)} is invalid${where}; it must be in [${low}, ${high}${inclusive ? "]" : ")"}`);
  }
}

function checkBoolean(name: string, option: string, value: unknown, where: string): void {
  if (typeof value !== "boolean") {
    throw new Error(`${name}: ${option} = ${String(value)} is invalid${where}; it must be true or false`);
  }
}
