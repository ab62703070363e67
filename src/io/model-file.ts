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
// The zoo's own layers (MaskedConv2d, ShortcutPad, …) register themselves for loading when imported.
import "../models/zoo/layers.js";
import { ModelFileError, decodeSafetensors, encodeSafetensors, toFloat32Tensor } from "./safetensors.js";

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
  let parsed: unknown;
  try {
    parsed = JSON.parse(jsonText);
  } catch (e) {
    throw new ModelFileError(jsonPath, `is not valid JSON (${(e as Error).message}); the file is damaged: restore it from a backup or save the model again`);
  }
  const meta = checkModelJson(parsed, jsonPath, options.maxInputElements ?? DEFAULT_MAX_INPUT_ELEMENTS);
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
    throw new ModelFileError(jsonPath, `its topology cannot be rebuilt: ${(e as Error).message}`);
  }
  const expected = [...namedParams(model).map(([n, p]) => [n, p.value] as const), ...namedBuffers(model).map(([n, b]) => [n, b.value] as const)];
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
    target.data.set(t.data);
    seen.add(name);
  }
  const extra = [...contents.tensors.keys()].filter((n) => !seen.has(n));
  if (extra.length) {
    throw new ModelFileError(weightsPath, `has tensors the topology does not use (${extra.slice(0, 5).join(", ")}${extra.length > 5 ? ", …" : ""}); the weights belong to another model`);
  }
  const { inputShape, classes, normalization, extra: more } = meta;
  return { model, info: { inputShape, classes, normalization, extra: more } };
}

function checkModelJson(v: unknown, path: string, maxInputElements: number): ModelJson {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ModelFileError(path, "must hold a JSON object");
  const o = v as Record<string, any>;
  if (o.format !== FORMAT) throw new ModelFileError(path, `is not a stride model file (format is ${JSON.stringify(o.format)}, expected "${FORMAT}")`);
  if (o.version !== VERSION) throw new ModelFileError(path, `has format version ${JSON.stringify(o.version)}; this stride reads version ${VERSION}`);
  const w = o.weights;
  if (typeof w !== "object" || w === null || !Number.isInteger(w.bytes) || typeof w.crc32 !== "string") {
    throw new ModelFileError(path, `"weights" must be { file, bytes, crc32 }, got ${JSON.stringify(w)}`);
  }
  if (o.inputShape !== undefined && (!Array.isArray(o.inputShape) || !o.inputShape.every((d: unknown) => Number.isInteger(d) && (d as number) > 0))) {
    throw new ModelFileError(path, `"inputShape" must be an array of positive whole numbers, got ${JSON.stringify(o.inputShape)}`);
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
  const n = o.normalization;
  if (n !== undefined && (typeof n !== "object" || !Array.isArray(n.mean) || !Array.isArray(n.std) || n.mean.length !== n.std.length ||
    ![...n.mean, ...n.std].every((x: unknown) => typeof x === "number" && Number.isFinite(x)) || n.std.some((x: number) => x <= 0))) {
    throw new ModelFileError(path, `"normalization" must be { mean: number[], std: number[] } of equal lengths with std > 0`);
  }
  return o as ModelJson;
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
