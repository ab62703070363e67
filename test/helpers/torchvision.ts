/**
 * Reading the torchvision fixtures (test/fixtures/torchvision/ and, when
 * generated, torchvision-full/, written by scripts/gen_torchvision_fixtures.py)
 * and comparing stride's logits with PyTorch's.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Tensor } from "../../src/tensor.js";
import type { Module } from "../../src/layers/layer.js";
import * as zoo from "../../src/models/zoo/index.js";
import { googlenetTransformInput } from "../../src/models/zoo/torchvision-names.js";

// dist/test/helpers/ -> the repository's test/fixtures.
export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "test", "fixtures");
export const SMALL = join(FIXTURES, "torchvision");
export const FULL = join(FIXTURES, "torchvision-full");

export interface FixtureModel {
  builder: string;
  args: unknown[];
  options: Record<string, unknown>;
  transform_input: boolean;
  aux_logits: boolean;
  input_shape: number[];
  logits_shape: number[];
  aux_logits_shape: number[] | null;
  files: Record<string, string>;
}

export const readIndex = (dir: string) => JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as { models: Record<string, FixtureModel> };

export function readF32(path: string, shape: number[]): Tensor {
  const bytes = readFileSync(path);
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return new Tensor(shape, data);
}

/** The stride zoo model the fixture was made for. */
export function build(e: FixtureModel, extra: Record<string, unknown> = {}): Module {
  const fn = (zoo as unknown as Record<string, (...a: unknown[]) => Module>)[e.builder];
  return fn(...e.args, { ...e.options, seed: 7, ...extra });
}

/** The zoo model's logits for x, with GoogLeNet's transform_input where the fixture had it on. */
export function run(model: Module, e: FixtureModel, x: Tensor): Tensor {
  const input = e.transform_input ? googlenetTransformInput(x) : x;
  return (model as unknown as { forward(x: Tensor, ctx: object): Tensor }).forward(input, { noGrad: true });
}

/** PyTorch's logits to 1e-4 absolute + 1e-3 relative. */
export function assertClose(got: Tensor, want: Tensor, what: string, atol = 1e-4, rtol = 1e-3): void {
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  let worst = 0, at = -1;
  for (let i = 0; i < want.size; i++) {
    const excess = Math.abs(got.data[i] - want.data[i]) - (atol + rtol * Math.abs(want.data[i]));
    if (!(excess <= worst)) {
      worst = Number.isNaN(excess) ? Infinity : excess;
      at = i;
    }
  }
  assert.ok(at < 0, `${what}: element ${at} is ${got.data[at]}, PyTorch's ${want.data[at]}`);
}
