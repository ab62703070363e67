/** What the zoo builders share: option checking, seeded initialisation and width scaling. */
import { ShapeError } from "../../shape.js";
import { Rng, globalRng } from "../../random.js";
import type { Param } from "../../layers/layer.js";
import { fillNormal, fillUniform, type InitName } from "../../layers/init.js";

/** Options every zoo builder takes. */
export interface ZooOptions {
  /** Number of output classes (the paper's by default). */
  numClasses?: number;
  /** One example's shape, [C, H, W] for images. */
  inputShape?: number[];
  /** Seed for the initial weights (default: the global generator). */
  seed?: number;
  /** Or the generator itself. */
  rng?: Rng;
  /**
   * false: leave every weight at zero instead of drawing the initial values.
   * Building is then fast (VGG-16 in a fraction of a second instead of
   * seconds), for summaries, parameter counts and memory estimates.
   */
  init?: boolean;
  /** Scales every hidden width (channels, hidden units) for small test models; 1 is the paper's network. */
  widthMultiplier?: number;
  /**
   * Build with parameter shapes but no storage (as PyTorch's meta device):
   * summary, estimateMemory and receptiveField then work at any size
   * instantly and allocate nothing; running, training or saving it throws.
   */
  meta?: boolean;
}

export interface Resolved {
  numClasses: number;
  inputShape: number[];
  rng: Rng;
  width: (channels: number) => number;
  /** The initialisation to give a layer: the one asked for, or "zeros" when init is false. */
  init: (name: InitName) => InitName;
  /** Whether to draw initial values at all. */
  initWeights: boolean;
}

export function resolve(model: string, opts: ZooOptions | undefined, defaults: { numClasses: number; inputShape: number[] }): Resolved {
  const o = opts ?? {};
  if (typeof o !== "object") throw new ShapeError(model, `expects an options object { numClasses, inputShape, … }, got ${JSON.stringify(o)}`);
  const numClasses = o.numClasses ?? defaults.numClasses;
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new ShapeError(model, `numClasses = ${JSON.stringify(o.numClasses)} is not valid; it must be a whole number >= 1`);
  }
  const inputShape = o.inputShape ?? defaults.inputShape;
  if (!Array.isArray(inputShape) || inputShape.length !== defaults.inputShape.length || !inputShape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new ShapeError(
      model,
      `inputShape = ${JSON.stringify(o.inputShape)} is not valid; give one example's shape as ${defaults.inputShape.length} whole numbers, e.g. [${defaults.inputShape.join(", ")}]`,
    );
  }
  const m = o.widthMultiplier ?? 1;
  if (typeof m !== "number" || !(m > 0) || !Number.isFinite(m)) {
    throw new ShapeError(model, `widthMultiplier = ${JSON.stringify(o.widthMultiplier)} is not valid; it must be a number > 0 (1 for the paper's widths)`);
  }
  const rng = o.rng ?? (o.seed !== undefined ? new Rng(o.seed) : globalRng);
  if (o.meta !== undefined && typeof o.meta !== "boolean") throw new ShapeError(model, `meta = ${JSON.stringify(o.meta)} is not valid; use true (shapes only, for counting) or false`);
  if (typeof (o.init ?? true) !== "boolean") throw new ShapeError(model, `init = ${JSON.stringify(o.init)} is not valid; use true (draw the paper's initial weights) or false (zeros, fast)`);
  const initWeights = (o.init ?? true) && o.meta !== true; // a meta model has no values to draw
  return {
    numClasses, inputShape: inputShape.slice(), rng, width: (c) => Math.max(1, Math.round(c * m)),
    init: (name) => (initWeights ? name : "zeros"), initWeights,
  };
}

export function oneOf<T extends string | number>(model: string, option: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new ShapeError(model, `${option} = ${JSON.stringify(value)} is not valid; use one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}`);
  }
  return value as T;
}

/** Gaussian weights of a given std (AlexNet's and ZFNet's 0.01). */
export function normalInit(r: Resolved, p: Param, std: number): void {
  if (r.initWeights) fillNormal(p.value.data, std, r.rng);
}

export function uniformInit(r: Resolved, p: Param, bound: number): void {
  if (r.initWeights) fillUniform(p.value.data, bound, r.rng);
}

export function constantInit(p: Param | null, value: number): void {
  if (p && !p.value.isMeta) p.value.data.fill(value);
}
