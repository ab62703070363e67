/**
 * A saved model is a folder of two files:
 *   model.json          the topology (layers and their options), the input
 *                       shape, class names, input normalisation, and the
 *                       name, size and CRC-32 of the weights file it belongs with;
 *   weights file        every parameter and buffer under its dotted name
 *                       (weights.safetensors here and in older folders; each
 *                       save in Node gives its version a fresh name, see
 *                       src/node/files.ts). The CRC-32 keeps a model.json
 *                       from silently pairing with another model's weights.
 * Loading validates everything it reads and throws ModelFileError naming the
 * file and the problem.
 */
import { Tensor, formatShape, sameShape, shapeSize, withAllocationLimit } from "../tensor.js";
import { withoutInit } from "../layers/init.js";
import { Layer } from "../layers/layer.js";
import { toSpec, fromSpec, type LayerSpec } from "../models/registry.js";
import { namedParams, namedBuffers } from "../models/named.js";
import { flattenModel } from "../models/summary.js";
// The zoo's own layers (MaskedConv2d, ShortcutPad, …) register themselves for loading when imported.
import "../models/zoo/layers.js";
import { ModelFileError, decodeSafetensors, encodeSafetensors, toFloat32Tensor } from "./safetensors.js";
import { quoteValue } from "../stride-error.js";

export { ModelFileError };

/** A model to save or load: any layer, usually a Sequential or Graph. */
export type Model = Layer;

export const MODEL_JSON = "model.json";
export const WEIGHTS_FILE = "weights.safetensors";
const FORMAT = "stride-model";
const VERSION = 1;

/** What a saved model carries besides its weights. */
export interface ModelInfo {
  /** One example's shape, [C, H, W] (or [C, L] / [L] for sequences). */
  inputShape?: number[];
  classes?: string[];
  /** Per-channel normalisation the model expects its inputs in. */
  normalization?: { mean: number[]; std: number[] };
  /** Anything else worth keeping (dataset, accuracy, …); JSON values. */
  extra?: Record<string, unknown>;
}

interface ModelJson extends ModelInfo {
  format: string;
  version: number;
  topology: LayerSpec;
  weights: { file: string; bytes: number; crc32: string };
}

/** Default cap on one example's size in model.json's "inputShape": 2^26 elements (256 MB as float32). */
export const DEFAULT_MAX_INPUT_ELEMENTS = 2 ** 26;

/** Limits decodeModel and loadModelWithInfo apply to what a model file claims. */
export interface DecodeModelOptions {
  /** Largest single example "inputShape" may describe, in elements; default DEFAULT_MAX_INPUT_ELEMENTS. Raise it for very large inputs. */
  maxInputElements?: number;
}

// Building a layer allocates its parameters twice (values and gradients) and a
// few small buffers the file does not hold; this slack covers those.
const BUILD_SLACK_FLOATS = 2 ** 20;

/** The two files of a saved model, in memory (what the browser downloads and uploads). */
export interface EncodedModel {
  json: string;
  weights: Uint8Array;
}

/** The two files of a saved model (model.json and the safetensors weights) in memory, for the browser or any storage. */
export function encodeModel(model: Model, info: ModelInfo = {}): EncodedModel {
  const tensors = new Map<string, Tensor>();
  for (const [name, p] of namedParams(model)) tensors.set(name, p.value);
  for (const [name, b] of namedBuffers(model)) tensors.set(name, b.value);
  const weights = encodeSafetensors(tensors, { format: "stride" });
  const json: ModelJson = {
    format: FORMAT,
    version: VERSION,
    ...info,
    topology: toSpec(model),
    weights: { file: WEIGHTS_FILE, bytes: weights.length, crc32: crc32Hex(weights) },
  };
  return { json: JSON.stringify(json, null, 1), weights };
}

/**
 * Rebuilds a model from the two files' contents; `where` names the source in errors.
 * No layer may allocate more than the weights file accounts for, and "inputShape"
 * is capped by `options.maxInputElements` (see docs/reliability.md).
 */
export function decodeModel(jsonText: string, weights: Uint8Array, where = "model", options: DecodeModelOptions = {}): { model: Model; info: ModelInfo } {
  // Plain concatenation (not node:path) keeps decodeModel usable in a browser.
  const jsonPath = `${where}/${MODEL_JSON}`;
  let weightsPath = `${where}/${WEIGHTS_FILE}`;
  const meta = checkModelJson(parseModelJson(jsonText, jsonPath), jsonPath, options.maxInputElements ?? DEFAULT_MAX_INPUT_ELEMENTS);
  // Errors name the weights file this model.json names (saveModel gives each version its own).
  if (typeof meta.weights.file === "string" && /^[^/\\]+$/.test(meta.weights.file)) weightsPath = `${where}/${meta.weights.file}`;
  if (weights.length !== meta.weights.bytes || crc32Hex(weights) !== meta.weights.crc32) {
    throw new ModelFileError(
      weightsPath,
      `does not match ${MODEL_JSON}: expected ${meta.weights.bytes} bytes with CRC-32 ${meta.weights.crc32}, ` +
        `found ${weights.length} bytes with CRC-32 ${crc32Hex(weights)}; the weights are damaged or belong to another model`,
    );
  }
  // The weights file is read first (its header is validated against its size),
  // so the topology can be held to what the file holds before any layer allocates.
  const contents = decodeSafetensors(weights, weightsPath);
  let fileFloats = 0;
  for (const entry of contents.tensors.values()) fileFloats += shapeSize(entry.shape);
  const budget = 2 * fileFloats + BUILD_SLACK_FLOATS;
  const refuse = (shape: number[], size: number): string =>
    `asks for a tensor of shape ${formatShape(shape)} (${size} values), more than ${WEIGHTS_FILE} holds (${fileFloats} values in all); ` +
    `a number in the topology is damaged: restore ${MODEL_JSON} from a backup or save the model again`;
  let model: Layer;
  try {
    const built = withAllocationLimit(budget, refuse, () => withoutInit(() => fromSpec(meta.topology)));
    if (!(built instanceof Layer)) throw new Error(`the top layer is a ${built.type}, which takes several inputs`);
    model = built;
  } catch (e) {
    throw new ModelFileError(jsonPath, `its topology cannot be rebuilt: ${shorten((e as Error).message)}`);
  }
  const expected = [...namedParams(model).map(([n, p]) => [n, p.value] as const), ...namedBuffers(model).map(([n, b]) => [n, b.value] as const)];
  // Two layers under one name would read the same tensor and silently share weights.
  const names = new Set<string>();
  for (const [name] of expected) {
    if (names.has(name)) {
      throw new ModelFileError(jsonPath, `two layers hold a tensor named "${name}" (duplicated or repeated layer names); the topology is damaged: restore ${MODEL_JSON} from a backup or save the model again`);
    }
    names.add(name);
  }
  const seen = new Set<string>();
  for (const [name, target] of expected) {
    const entry = contents.tensors.get(name);
    if (!entry) throw new ModelFileError(weightsPath, `has no tensor "${name}", which the topology needs; the weights belong to another model`);
    let t: Tensor;
    try {
      t = toFloat32Tensor(entry);
    } catch (e) {
      throw new ModelFileError(weightsPath, `tensor "${name}": ${(e as Error).message}`);
    }
    if (!sameShape(t.shape, target.shape)) {
      throw new ModelFileError(weightsPath, `tensor "${name}" has shape ${formatShape(t.shape)} but the topology needs ${formatShape(target.shape)}`);
    }
    const bad = t.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new ModelFileError(weightsPath, `tensor "${name}" holds ${t.data[bad]} at index ${bad}; the weights are damaged (or were saved after training diverged)`);
    // A negative running variance has no square root: batch norm would output NaN.
    if (name.endsWith(".runningVar")) {
      const negative = t.data.findIndex((v) => v < 0);
      if (negative >= 0) throw new ModelFileError(weightsPath, `tensor "${name}" holds the variance ${t.data[negative]} at index ${negative}; a variance cannot be negative: the weights are damaged`);
    }
    target.data.set(t.data);
    seen.add(name);
  }
  const extra = [...contents.tensors.keys()].filter((n) => !seen.has(n));
  if (extra.length) {
    throw new ModelFileError(weightsPath, `has tensors the topology does not use (${extra.slice(0, 5).join(", ")}${extra.length > 5 ? ", …" : ""}); the weights belong to another model`);
  }
  // After the rebuild, whose allocation budget explains a huge layer size better; a huge stride or padding allocates nothing.
  const huge = findHugeNumber(meta.topology, "topology");
  if (huge) {
    throw new ModelFileError(jsonPath, `${huge.at} is ${huge.value}, beyond ${MAX_TOPOLOGY_NUMBER} (2^31 - 1), more than any layer size, stride or padding can be; the file is damaged: restore it from a backup or save the model again`);
  }
  checkRuns(model, meta, jsonPath, 16 * (options.maxInputElements ?? DEFAULT_MAX_INPUT_ELEMENTS));
  const { inputShape, classes, normalization, extra: more } = meta;
  return { model, info: { inputShape, classes, normalization, extra: more } };
}

/**
 * A model is accepted only if it can run on what model.json says it takes:
 * its layers' shapes chain from "inputShape" (a reversed or repeated layer
 * breaks the chain), one output per class name, one mean and std per channel.
 * Shape inference allocates nothing, so this is cheap even for large models.
 */
function checkRuns(model: Layer, meta: ModelJson, jsonPath: string, maxActivation: number): void {
  const { inputShape, classes, normalization } = meta;
  if (classes !== undefined && new Set(classes).size !== classes.length) {
    throw new ModelFileError(jsonPath, `"classes" names a class twice; each class needs its own name`);
  }
  if (inputShape === undefined) return;
  const cannotRun = (problem: string) =>
    new ModelFileError(jsonPath, `the topology cannot run on its "inputShape" ${formatShape(inputShape)}: ${problem}; the file is damaged: restore it from a backup or save the model again`);
  let output: number[];
  try {
    output = model.outputShape([1, ...inputShape]);
    // Every layer's output too: a huge padding can blow up a shape that a later pooling shrinks again.
    for (const node of flattenModel(model, [1, ...inputShape]).nodes) {
      const shape = node.outputShape;
      if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`${node.name} would output shape ${formatShape(shape)}, which is not a size`);
      if (shapeSize(shape) > maxActivation) {
        throw new Error(`${node.name} would output shape ${formatShape(shape)}, more than the ${maxActivation} values per example allowed (16 x maxInputElements)`);
      }
    }
  } catch (e) {
    throw cannotRun(shorten((e as Error).message));
  }
  const outputs = shapeSize(output.slice(1));
  if (classes !== undefined && classes.length !== outputs) {
    throw new ModelFileError(
      jsonPath,
      `"classes" names ${classes.length} classes but the model gives ${outputs} outputs (shape ${formatShape(output)}); predictions would mix names and indices: the file is damaged`,
    );
  }
  if (normalization !== undefined && normalization.mean.length !== inputShape[0]) {
    throw new ModelFileError(
      jsonPath,
      `"normalization" has ${normalization.mean.length} means and stds but "inputShape" ${formatShape(inputShape)} has ${inputShape[0]} channels; give one per channel`,
    );
  }
}

/** Deeper than any saved model nests (a Graph in a Sequential in a Graph is 10 levels); stops stack overflows. */
const MAX_JSON_DEPTH = 64;

/**
 * JSON.parse with two guards: nesting is limited before parsing (deep arrays
 * overflow the stack of later code), and a syntax error is reported by
 * position only, never quoting the text (model.json may be a symlink to a
 * file whose contents must not end up in a log).
 */
function parseModelJson(text: string, path: string): unknown {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_JSON_DEPTH) throw new ModelFileError(path, `nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels (at character ${i}); the file is damaged or not a model file`);
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    const at = /position (\d+)/.exec((e as Error).message)?.[1];
    throw new ModelFileError(
      path,
      `is not valid JSON${at !== undefined ? ` (the error is at character ${at})` : text.trim() === "" ? " (it is empty)" : ""}; ` +
        `the file is damaged or not a model file: restore it from a backup or save the model again`,
    );
  }
}

function checkModelJson(v: unknown, path: string, maxInputElements: number): ModelJson {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ModelFileError(path, "must hold a JSON object");
  const o = { ...(v as Record<string, any>) };
  // null in an optional field (what Python's json writes for None) means the field is absent.
  for (const key of ["inputShape", "classes", "normalization", "extra"]) if (o[key] === null) o[key] = undefined;
  if (o.format !== FORMAT) throw new ModelFileError(path, `is not a stride model file (format is ${quote(o.format)}, expected "${FORMAT}")`);
  if (o.version !== VERSION) throw new ModelFileError(path, `has format version ${quote(o.version)}; this stride reads version ${VERSION}`);
  const w = o.weights;
  if (typeof w !== "object" || w === null || !Number.isInteger(w.bytes) || typeof w.crc32 !== "string") {
    throw new ModelFileError(path, `"weights" must be { file, bytes, crc32 }, got ${quote(w)}`);
  }
  if (o.inputShape !== undefined && (!Array.isArray(o.inputShape) || !o.inputShape.every((d: unknown) => Number.isInteger(d) && (d as number) > 0))) {
    throw new ModelFileError(path, `"inputShape" must be an array of positive whole numbers, got ${quote(o.inputShape)}`);
  }
  if (o.inputShape !== undefined && shapeSize(o.inputShape) > maxInputElements) {
    throw new ModelFileError(
      path,
      `"inputShape" ${formatShape(o.inputShape)} describes ${shapeSize(o.inputShape)} values per example, more than the limit of ${maxInputElements}; ` +
        `the file is damaged, or pass a larger maxInputElements to load a model this large`,
    );
  }
  if (o.classes !== undefined && (!Array.isArray(o.classes) || !o.classes.every((c: unknown) => typeof c === "string"))) {
    throw new ModelFileError(path, `"classes" must be an array of strings`);
  }
  if (typeof o.topology !== "object" || o.topology === null || Array.isArray(o.topology)) {
    throw new ModelFileError(path, `"topology" must be a layer object { type, name, config }, got ${o.topology === null ? "null" : Array.isArray(o.topology) ? "an array" : typeof o.topology}`);
  }
  const n = o.normalization;
  if (n !== undefined && (typeof n !== "object" || n === null || !Array.isArray(n.mean) || !Array.isArray(n.std) || n.mean.length !== n.std.length ||
    ![...n.mean, ...n.std].every((x: unknown) => typeof x === "number" && Number.isFinite(x)) || n.std.some((x: number) => x <= 0))) {
    throw new ModelFileError(path, `"normalization" must be { mean: number[], std: number[] } of equal lengths with std > 0`);
  }
  return o as ModelJson;
}

/** Kernels index with 32-bit integers: a larger size, stride or padding would wrap around (to 0: a division by zero). */
const MAX_TOPOLOGY_NUMBER = 2 ** 31 - 1;

/** The first number in the topology whose magnitude is beyond MAX_TOPOLOGY_NUMBER, with where it is. */
function findHugeNumber(v: unknown, at: string): { at: string; value: number } | null {
  if (typeof v === "number") return Math.abs(v) > MAX_TOPOLOGY_NUMBER ? { at, value: v } : null;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const found = findHugeNumber(v[i], `${at}[${i}]`);
      if (found) return found;
    }
  } else if (typeof v === "object" && v !== null) {
    for (const [k, x] of Object.entries(v)) {
      const found = findHugeNumber(x, `${at}.${k}`);
      if (found) return found;
    }
  }
  return null;
}

/** Cuts a message from a layer's checks, which may quote a whole damaged subtree of the file. */
function shorten(message: string, most = 400): string {
  return message.length > most ? `${message.slice(0, most)}…` : message;
}

/** A value from the file, short: errors show what was found without copying the file into a log. */
function quote(v: unknown): string {
  return quoteValue(v, 40);
}

// CRC-32 (IEEE 802.3), to tie model.json to its weights file.
let crcTable: Uint32Array | null = null;

export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function crc32Hex(bytes: Uint8Array): string {
  return crc32(bytes).toString(16).padStart(8, "0");
}
