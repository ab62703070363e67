/**
 * The output-size arithmetic of the course notes, in one place. Every
 * layer asks this module for its output volume before it computes anything,
 * and every shape error is raised here with the formula and its numbers.
 *
 *   out = floor((W + P1 + P2 - D(F - 1) - 1) / S) + 1      (PyTorch)
 *
 * which for D = 1 and symmetric padding is the notes' (W - F + 2P)/S + 1.
 */
import { formatShape } from "./tensor.js";
import { StrideError } from "./stride-error.js";

/** A shape that does not fit a layer: names the layer and shows the formula with its numbers. */
export class ShapeError extends StrideError {
  readonly layer: string;
  readonly inputShape?: number[];

  constructor(layer: string, message: string, inputShape?: readonly number[]) {
    super(`${layer}: ${message}`);
    this.name = "ShapeError";
    this.layer = layer;
    if (inputShape) this.inputShape = inputShape.slice();
  }
}

/** [height, width] (or [vertical, horizontal]). */
export type Pair = [number, number];
/** One number for both axes, or a Pair. */
export type IntOrPair = number | Pair;

/** How one axis of a sliding window is laid out. */
export interface WindowAxis {
  /** "W", "H" or "L": the letter used for the input size in the formula. */
  label: string;
  input: number;
  kernel: number;
  stride: number;
  padBefore: number;
  padAfter: number;
  dilation: number;
  ceilMode?: boolean;
}

export interface AxisFit {
  size: number;
  exact: boolean;
  /** The formula with its numbers, e.g. "(W - F + 2P)/S + 1 = (10 - 3 + 0)/2 + 1 = 4.5". */
  readonly formula: string;
}

/** The formula with its numbers for one axis. */
export function axisFormula(a: WindowAxis): { text: string; value: number } {
  const { label, input: w, kernel: f, stride: s, padBefore: p1, padAfter: p2, dilation: d } = a;
  const numerator = w + p1 + p2 - d * (f - 1) - 1;
  const value = numerator / s + 1;
  const shown = Number.isInteger(value) ? String(value) : String(Math.round(value * 1e4) / 1e4);
  const wrap = (body: string) => (a.ceilMode ? `ceil(${body})` : body);
  let symbolic: string;
  let numbers: string;
  if (d === 1) {
    const padSym = p1 === p2 ? "2P" : "P1 + P2";
    const padNum = p1 === p2 ? String(2 * p1) : `${p1} + ${p2}`;
    symbolic = `${wrap(`(${label} - F + ${padSym})/S`)} + 1`;
    numbers = `${wrap(`(${w} - ${f} + ${padNum})/${s}`)} + 1`;
  } else {
    const padSym = p1 === p2 ? "2P" : "P1 + P2";
    const padNum = p1 === p2 ? String(2 * p1) : `${p1} + ${p2}`;
    symbolic = `${wrap(`(${label} + ${padSym} - D(F - 1) - 1)/S`)} + 1`;
    numbers = `${wrap(`(${w} + ${padNum} - ${d}*(${f} - 1) - 1)/${s}`)} + 1`;
  }
  return { text: `${symbolic} = ${numbers} = ${shown}`, value };
}

/**
 * The output length of a sliding window along one axis, exactly as PyTorch
 * computes it (floor, or ceil with ceilMode, where a window may not start in
 * the right padding). Throws when the output would be empty, or when the fit
 * is inexact and strict is set.
 */
export function windowOutput(layer: string, inputShape: readonly number[], a: WindowAxis, strict = false): AxisFit {
  // The formula's text only when it is shown: every forward pass of a windowed layer comes here.
  const formula = () => axisFormula(a).text;
  const numerator = a.input + a.padBefore + a.padAfter - a.dilation * (a.kernel - 1) - 1;
  let size: number;
  if (a.ceilMode) {
    size = Math.ceil(numerator / a.stride) + 1;
    // PyTorch: the last window must start inside the input or the left padding.
    if (numerator >= 0 && (size - 1) * a.stride >= a.input + a.padBefore) size--;
  } else {
    size = Math.floor(numerator / a.stride) + 1;
  }
  const exact = numerator >= 0 && numerator % a.stride === 0;
  if (numerator < 0 || size < 1) {
    throw new ShapeError(
      layer,
      `${formula()} gives an output ${axisName(a.label)} below 1 (input ${formatShape(inputShape)}): ` +
        `the window (kernel ${a.kernel}, dilation ${a.dilation}) is larger than the padded input ` +
        `(${a.input} + ${a.padBefore + a.padAfter}); use a smaller kernel, more padding or a larger input`,
      inputShape,
    );
  }
  if (strict && !exact) {
    throw new ShapeError(
      layer,
      `${formula()} is not a whole number (input ${formatShape(inputShape)}, ${axisName(a.label)}); ` +
        `strict mode refuses inexact fits: change the padding, stride or input size so the division is exact, or drop strict`,
      inputShape,
    );
  }
  return {
    size, exact,
    get formula() {
      return formula();
    },
  };
}

function axisName(label: string): string {
  return label === "H" ? "height" : label === "W" ? "width" : "length";
}

// ---------------------------------------------------------------------------
// Option parsing shared by every windowed layer.

/** The largest size, stride or count a layer takes: the kernels index with 32-bit integers. */
export const MAX_LAYER_INT = 2 ** 31 - 1;

export function toPair(layer: string, option: string, v: IntOrPair | undefined, fallback: Pair, min = 1): Pair {
  if (v === undefined) return fallback;
  const pair: Pair = typeof v === "number" ? [v, v] : Array.isArray(v) && v.length === 2 ? [v[0], v[1]] : [NaN, NaN];
  for (const x of pair) {
    if (!Number.isInteger(x) || x < min || x > MAX_LAYER_INT) {
      throw new ShapeError(
        layer,
        `${option} = ${JSON.stringify(v)} is not valid; it must be a whole number from ${min} to ${MAX_LAYER_INT.toLocaleString("en-US")} or a pair [h, w] of them`,
      );
    }
  }
  return pair;
}

/**
 * Throws unless every key of opts is one the layer knows: a misspelt option
 * (kernal_size) would otherwise be ignored and surface later as a NaN shape.
 * The message names the unknown keys, a close match and the valid options.
 */
export function checkOptions(layer: string, opts: unknown, allowed: readonly string[]): void {
  if (!opts || typeof opts !== "object") return; // a missing options object is each constructor's own error
  const unknown = Object.keys(opts).filter((k) => !allowed.includes(k));
  if (unknown.length === 0) return;
  const parts = unknown.map((k) => {
    const near = closestName(k, allowed);
    return near ? `${k}: did you mean ${near}?` : k;
  });
  const noun = unknown.length === 1 ? "option" : "options";
  throw new ShapeError(layer, `unknown ${noun} ${parts.join("; ")} (valid options: ${allowed.join(", ")})`);
}

// Compares case-, underscore- and dash-blind, so kernel_size finds kernelSize.
function closestName(key: string, names: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, "");
  const k = norm(key);
  let best: string | undefined;
  let bestDist = Infinity;
  for (const n of names) {
    const d = editDistance(k, norm(n));
    if (d < bestDist) [best, bestDist] = [n, d];
  }
  // Two edits at most, and at most one per three letters: "rate" must not suggest "name".
  if (bestDist <= Math.min(2, Math.floor(k.length / 3))) return best;
  // A shortened name (padd for padding) is a close match too.
  return k.length >= 3 ? names.find((n) => norm(n).startsWith(k)) : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

export function positiveInt(layer: string, option: string, v: unknown, min = 1): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > MAX_LAYER_INT) {
    throw new ShapeError(layer, `${option} = ${JSON.stringify(v)} is not valid; it must be a whole number from ${min} to ${MAX_LAYER_INT.toLocaleString("en-US")}`);
  }
  return v;
}

export function numberIn(
  layer: string,
  option: string,
  v: unknown,
  low: number,
  high: number,
  inclusive: [boolean, boolean] = [true, true],
): number {
  const ok =
    typeof v === "number" &&
    Number.isFinite(v) &&
    (inclusive[0] ? v >= low : v > low) &&
    (inclusive[1] ? v <= high : v < high);
  if (!ok) {
    const lo = inclusive[0] ? "[" : "(";
    const hi = inclusive[1] ? "]" : ")";
    throw new ShapeError(layer, `${option} = ${JSON.stringify(v)} is not valid; it must be a number in ${lo}${low}, ${high}${hi}`);
  }
  return v as number;
}

/** Padding as PyTorch and the notes allow it for convolutions. */
export type Padding2d = number | Pair | [number, number, number, number] | "same" | "valid";

/** Resolves padding to [top, bottom, left, right] for a given input size. */
export function resolvePadding2d(
  layer: string,
  padding: Padding2d | undefined,
  inH: number,
  inW: number,
  kernel: Pair,
  stride: Pair,
  dilation: Pair,
): [number, number, number, number] {
  if (padding === undefined || padding === "valid") return [0, 0, 0, 0];
  if (padding === "same") {
    const [ph1, ph2] = samePadding(inH, kernel[0], stride[0], dilation[0]);
    const [pw1, pw2] = samePadding(inW, kernel[1], stride[1], dilation[1]);
    return [ph1, ph2, pw1, pw2];
  }
  if (Array.isArray(padding) && padding.length === 4) {
    for (const p of padding) {
      if (!Number.isInteger(p) || p < 0) {
        throw new ShapeError(
          layer,
          `padding = ${JSON.stringify(padding)} is not valid; [top, bottom, left, right] must be whole numbers >= 0`,
        );
      }
    }
    return [padding[0], padding[1], padding[2], padding[3]];
  }
  const [ph, pw] = toPair(layer, "padding", padding as IntOrPair, [0, 0], 0);
  return [ph, ph, pw, pw];
}

/** Checks a padding option without an input (at construction). */
export function checkPadding2d(layer: string, padding: Padding2d | undefined): void {
  if (typeof padding === "string" && padding !== "same" && padding !== "valid") {
    throw new ShapeError(layer, `padding = "${padding}" is not valid; use a number, [h, w], [top, bottom, left, right], "same" or "valid"`);
  }
  if (typeof padding !== "string") resolvePadding2d(layer, padding, 1, 1, [1, 1], [1, 1], [1, 1]);
}

/**
 * "same" padding: at stride 1 the output has the input's size; at stride S
 * it has ceil(W / S) (TensorFlow's rule). An odd total puts the extra pixel
 * at the bottom/right, as PyTorch and TensorFlow do.
 */
function samePadding(input: number, kernel: number, stride: number, dilation: number): Pair {
  const effective = dilation * (kernel - 1) + 1;
  const out = Math.ceil(input / stride);
  const total = Math.max((out - 1) * stride + effective - input, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

// ---------------------------------------------------------------------------
// Geometry objects handed to the backends: everything a kernel needs, resolved.

/** The sizes of one convolution: batch, channels, input, kernel, stride, padding, dilation and output. */
export interface Conv2dGeometry {
  batch: number;
  inChannels: number;
  inH: number;
  inW: number;
  outChannels: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
  dilationH: number;
  dilationW: number;
  groups: number;
  outH: number;
  outW: number;
}

/** The sizes of one pooling: batch, channels, input, window, stride, padding and output. */
export interface Pool2dGeometry {
  batch: number;
  channels: number;
  inH: number;
  inW: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padLeft: number;
  /** Padding after the input; windows may reach past it in ceil mode. */
  padBottom: number;
  padRight: number;
  dilationH: number;
  dilationW: number;
  outH: number;
  outW: number;
}

/** Both axes of a 2-D window; width is checked first, so a square misfit reports "W". */
export function fit2d(
  layer: string,
  inputShape: readonly number[],
  inH: number,
  inW: number,
  w: { kernel: Pair; stride: Pair; pad: [number, number, number, number]; dilation: Pair; ceilMode?: boolean },
  strict = false,
): { outH: number; outW: number; notes: string[] } {
  const width = windowOutput(layer, inputShape, {
    label: "W", input: inW, kernel: w.kernel[1], stride: w.stride[1],
    padBefore: w.pad[2], padAfter: w.pad[3], dilation: w.dilation[1], ceilMode: w.ceilMode,
  }, strict);
  const height = windowOutput(layer, inputShape, {
    label: "H", input: inH, kernel: w.kernel[0], stride: w.stride[0],
    padBefore: w.pad[0], padAfter: w.pad[1], dilation: w.dilation[0], ceilMode: w.ceilMode,
  }, strict);
  const notes: string[] = [];
  if (!height.exact) notes.push(`height ${height.formula}, ${w.ceilMode ? "rounded up" : "floored"} to ${height.size}`);
  if (!width.exact) notes.push(`width ${width.formula}, ${w.ceilMode ? "rounded up" : "floored"} to ${width.size}`);
  return { outH: height.size, outW: width.size, notes };
}
