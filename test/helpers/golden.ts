/**
 * Reading the PyTorch golden fixtures (test/fixtures/*.json, written by
 * scripts/gen_fixtures.py) and comparing stride's numbers with them.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

export interface TensorJson {
  shape: number[];
  data: number[];
}

/** One layer run through PyTorch: inputs, parameters, dy, and PyTorch's answers. */
export interface LayerCase {
  name: string;
  kind: "layer";
  /** The stride class, exported from the package root. */
  class: string;
  /** The options exactly as the stride constructor takes them. */
  options: Record<string, unknown>;
  training: boolean;
  inputs: TensorJson[];
  params: Record<string, TensorJson>;
  buffers: Record<string, TensorJson>;
  /** The upstream gradient: PyTorch differentiated sum(output * dy). */
  dy: TensorJson;
  expected: {
    output: TensorJson;
    inputGrads: TensorJson[];
    paramGrads: Record<string, TensorJson>;
    /** The buffers after the forward pass (batch-norm running statistics). */
    buffers: Record<string, TensorJson>;
  };
}

/** One loss function run through PyTorch. */
export interface LossCase {
  name: string;
  kind: "loss";
  /** The stride function, exported from the package root. */
  function: string;
  options: { margin?: number };
  logits: TensorJson;
  labels: number[];
  expected: { loss: number; grad: TensorJson };
}

export type GoldenCase = LayerCase | LossCase;

export interface FixtureFile {
  /** The file name, e.g. "conv.json". */
  file: string;
  family: string;
  torch: string;
  cases: GoldenCase[];
}

/** Relative and absolute tolerance: |actual - expected| <= ATOL + RTOL * |expected|. */
export const RTOL = 1e-4;
export const ATOL = 1e-5;

/** The generator whose files these are; other scripts keep their own fixtures in the same folder. */
export const GENERATOR = "scripts/gen_fixtures.py";

/**
 * Every golden fixture file in dir (those written by GENERATOR), sorted by
 * name, checked enough to fail clearly when one is damaged.
 */
export function loadFixtures(dir: string): FixtureFile[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
  } catch (e) {
    throw new Error(`cannot read the golden fixtures in ${dir} (${(e as Error).message}); run /usr/bin/python3 scripts/gen_fixtures.py`);
  }
  if (names.length === 0) throw new Error(`no fixtures in ${dir}; run /usr/bin/python3 scripts/gen_fixtures.py`);
  const files: FixtureFile[] = [];
  for (const file of names) {
    const path = join(dir, file);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, "utf8"));
    } catch (e) {
      throw new Error(`${path} is not valid JSON (${(e as Error).message}); regenerate it with ${GENERATOR}`);
    }
    const f = parsed as Partial<FixtureFile> & { generator?: unknown };
    if (f.generator !== GENERATOR) continue;
    if (typeof f.family !== "string" || !Array.isArray(f.cases)) {
      throw new Error(`${path} has no "family" or "cases"; regenerate it with ${GENERATOR}`);
    }
    for (const c of f.cases) checkCase(path, c);
    files.push({ file, family: f.family, torch: String(f.torch), cases: f.cases });
  }
  if (files.length === 0) throw new Error(`no fixtures from ${GENERATOR} in ${dir}; run /usr/bin/python3 ${GENERATOR}`);
  return files;
}

function checkCase(path: string, c: GoldenCase): void {
  const where = `${path}, case "${c?.name}"`;
  const tensors: [string, unknown][] = [];
  if (c.kind === "layer") {
    tensors.push(["dy", c.dy], ["expected.output", c.expected?.output]);
    c.inputs.forEach((t, i) => tensors.push([`inputs[${i}]`, t]));
    c.expected.inputGrads.forEach((t, i) => tensors.push([`expected.inputGrads[${i}]`, t]));
    for (const [k, t] of Object.entries(c.params)) tensors.push([`params.${k}`, t]);
    for (const [k, t] of Object.entries(c.expected.paramGrads)) tensors.push([`expected.paramGrads.${k}`, t]);
  } else if (c.kind === "loss") {
    tensors.push(["logits", c.logits], ["expected.grad", c.expected?.grad]);
  } else {
    throw new Error(`${where}: unknown kind ${JSON.stringify((c as { kind?: unknown }).kind)}`);
  }
  for (const [what, t] of tensors) {
    const tj = t as TensorJson | undefined;
    if (!tj || !Array.isArray(tj.shape) || !Array.isArray(tj.data) || tj.data.length !== tj.shape.reduce((a, b) => a * b, 1)) {
      throw new Error(`${where}: ${what} is not a tensor {shape, data} whose data has product(shape) values`);
    }
  }
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** The multi-index of a flat position, for messages: "[0, 2, 1, 3]". */
export function multiIndex(shape: readonly number[], flat: number): string {
  const idx: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(flat % shape[d]);
    flat = Math.floor(flat / shape[d]);
  }
  return fmtShape(idx);
}

/** Throws unless the shapes agree; the message names the case and the quantity. */
export function checkShape(label: string, actual: readonly number[], expected: readonly number[]): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw new Error(`${label}: shape ${fmtShape(actual)}, PyTorch ${fmtShape(expected)}`);
  }
}

/**
 * Throws unless every element is within tolerance. The message names the
 * quantity, how many elements are off, and the worst one (by how many
 * tolerances it misses), with its index and both values.
 */
export function checkValues(label: string, actual: ArrayLike<number>, expected: TensorJson): void {
  const e = expected.data;
  if (actual.length !== e.length) {
    throw new Error(`${label}: ${actual.length} values, PyTorch ${e.length} (shape ${fmtShape(expected.shape)})`);
  }
  let bad = 0;
  let worst = -1;
  let worstRatio = 0;
  for (let i = 0; i < e.length; i++) {
    const a = actual[i];
    const tol = ATOL + RTOL * Math.abs(e[i]);
    const err = Math.abs(a - e[i]);
    // NaN compares false: count it as the worst possible miss.
    const ratio = Number.isNaN(err) ? Infinity : err / tol;
    if (!(err <= tol)) {
      bad++;
      if (ratio > worstRatio || worst < 0) {
        worstRatio = ratio;
        worst = i;
      }
    }
  }
  if (bad > 0) {
    const a = actual[worst];
    throw new Error(
      `${label}: ${bad} of ${e.length} values differ from PyTorch beyond ${RTOL} relative + ${ATOL} absolute; ` +
        `worst at ${multiIndex(expected.shape, worst)}: stride ${a}, PyTorch ${e[worst]} ` +
        `(difference ${Math.abs(a - e[worst]).toExponential(3)})`,
    );
  }
}

/** Compares one number (a loss). */
export function checkScalar(label: string, actual: number, expected: number): void {
  const tol = ATOL + RTOL * Math.abs(expected);
  if (typeof actual !== "number" || !(Math.abs(actual - expected) <= tol)) {
    throw new Error(`${label}: stride ${actual}, PyTorch ${expected} (tolerance ${tol.toExponential(3)})`);
  }
}
