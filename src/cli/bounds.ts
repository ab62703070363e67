/**
 * The limits on what the command line accepts. A number past them would not
 * give a slow run but a crash deep inside (a V8 out-of-memory abort for
 * 10000 threads, a RangeError for a 20000x20000 input): each flag is checked
 * up front, and the message names the flag, the limit and what to use instead.
 * docs/reliability.md lists them.
 */
import { availableParallelism } from "node:os";
import { withAllocationLimit, TensorError } from "../tensor.js";
import { CliError } from "./errors.js";

/** Threads of the wasm backend: four per core, at most 64 (each is a worker with its own memory). */
export function maxThreads(): number {
  return Math.min(64, 4 * Math.max(1, availableParallelism()));
}

export const LIMITS = {
  /** --model-width scales every hidden width; 8 makes resnet110 about 110 million parameters. */
  modelWidth: 8,
  batchSize: 65_536,
  epochs: 1_000_000,
  /** --image-size of a folder dataset (pixels per side). */
  imageSize: 4096,
  /** One example's values (--input, --image-size): 2^26, the same cap loading puts on model.json's inputShape. */
  inputElements: 2 ** 26,
  /** One dimension of --input. */
  inputDimension: 65_536,
  /**
   * Values of every tensor made while building a model on the command line
   * (parameters and their gradients): 2^29 float32 values, 2 GiB, so about
   * 268 million parameters; VGG-16 has 138 million.
   */
  buildValues: 2 ** 29,
  k: 100_000,
} as const;

/** What a numeric flag must be. */
export interface NumberRule {
  integer?: boolean;
  /** Inclusive lower bound, or exclusive with `above`. */
  min?: number;
  above?: number;
  /** Inclusive upper bound, or exclusive with `below`. */
  max?: number;
  below?: number;
  /** Why the upper limit is there, or what to use instead. */
  hint?: string;
}

/** The rule in words: "a whole number from 1 to 64", "a number > 0 and at most 8". */
function describeRule(r: NumberRule): string {
  const kind = r.integer ? "a whole number" : "a number";
  if (r.min !== undefined && r.max !== undefined) return `${kind} from ${r.min} to ${r.max}`;
  const parts = [
    r.above !== undefined ? `> ${r.above}` : r.min !== undefined ? `>= ${r.min}` : "",
    r.below !== undefined ? `below ${r.below}` : r.max !== undefined ? `at most ${r.max}` : "",
  ].filter(Boolean);
  return parts.length ? `${kind} ${parts.join(" and ")}` : `a finite ${kind.slice(2)}`;
}

/** Reads a numeric flag (undefined gives `fallback`); a value outside `rule` is a CliError that says what to give. */
export function flagNumber(flag: string, text: string | undefined, fallback: number, rule: NumberRule = {}): number {
  if (text === undefined) return fallback;
  const x = Number(text);
  const ok = text.trim() !== "" && Number.isFinite(x) && (!rule.integer || Number.isInteger(x)) &&
    (rule.min === undefined || x >= rule.min) && (rule.above === undefined || x > rule.above) && (rule.max === undefined || x <= rule.max) && (rule.below === undefined || x < rule.below);
  if (!ok) {
    const tooBig = Number.isFinite(x) && rule.max !== undefined && x > rule.max;
    throw new CliError(`--${flag} ${text} is ${tooBig ? "too large" : "not valid"}: give ${describeRule(rule)}${tooBig && rule.hint ? ` (${rule.hint})` : ""}`);
  }
  return x;
}

/** Checks one example's shape given on the command line (--input CxHxW). */
export function checkInputShape(flag: string, dims: number[]): number[] {
  const text = dims.join("x");
  const big = dims.find((d) => d > LIMITS.inputDimension);
  if (big !== undefined) throw new CliError(`${flag} ${text}: a dimension of ${big} is more than the limit of ${LIMITS.inputDimension}; give a smaller shape`);
  const size = dims.reduce((a, b) => a * b, 1);
  if (size > LIMITS.inputElements) {
    throw new CliError(`${flag} ${text} is ${size} values per example, more than the limit of ${LIMITS.inputElements} (e.g. 3x4096x4096); give a smaller shape`);
  }
  return dims;
}

/**
 * Builds a model with its tensors capped at LIMITS.buildValues: a width or
 * input that would need more gives a CliError naming `what` instead of an
 * out-of-memory crash.
 */
export function buildWithinLimit<T>(what: string, build: () => T): T {
  const refuse = (shape: number[], size: number) =>
    `${what} needs a tensor of shape [${shape.join(", ")}] (${size} values), more than the ${LIMITS.buildValues} values (parameters and gradients) a model built here may hold; ` +
    `use a smaller --model-width or input size`;
  try {
    return withAllocationLimit(LIMITS.buildValues, refuse, build);
  } catch (e) {
    if (e instanceof TensorError && e.message.startsWith(what)) throw new CliError(e.message);
    throw e;
  }
}
