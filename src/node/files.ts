/**
 * Files for models and tensors (Node only): safetensors files written
 * atomically, saved model folders. The formats themselves are encoded and
 * decoded in src/io/, which runs anywhere.
 */
import { closeSync, constants, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Layer } from "../layers/layer.js";
import { ModelFileError, decodeSafetensors, encodeSafetensors, type SafetensorsContents, type SafetensorsEntry } from "../io/safetensors.js";
import { MODEL_JSON, WEIGHTS_FILE, decodeModel, encodeModel, type DecodeModelOptions, type Model, type ModelInfo } from "../io/model-file.js";

/**
 * Reads a whole file, refusing anything but a regular file: a FIFO would block
 * forever and /dev/zero never ends. Opening without blocking, then checking the
 * open descriptor, leaves no gap for the path to be swapped in between.
 */
export function readRegularFile(path: string): Buffer {
  const fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      const kind = st.isDirectory() ? "a folder" : st.isFIFO() ? "a FIFO (named pipe)" : st.isCharacterDevice() || st.isBlockDevice() ? "a device" : st.isSocket() ? "a socket" : "not a regular file";
      throw new Error(`it is ${kind}, not a regular file; give the path of a file on disk`);
    }
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Reads and validates a safetensors file. */
export function loadSafetensors(path: string): SafetensorsContents {
  let bytes: Uint8Array;
  try {
    bytes = readRegularFile(path);
  } catch (e) {
    throw new ModelFileError(path, `cannot be read (${(e as Error).message})`);
  }
  return decodeSafetensors(bytes, path);
}

/**
 * Writes a safetensors file atomically: the bytes go to a temporary file in
 * the same folder, are flushed to disk, and the file is renamed into place.
 */
export function saveSafetensors(path: string, tensors: Map<string, SafetensorsEntry>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** Writes bytes to a temporary file next to `path`, then renames it into place. */
let tmpCounter = 0;

export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.${tmpCounter++}.tmp`);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, "wx");
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // The temporary file was never created or is already gone.
    }
    throw new ModelFileError(path, `cannot be written (${(e as Error).message})`);
  }
}

/** Saves a model (topology JSON + safetensors weights) into a folder, creating it if needed. */
export function saveModel(model: Model, path: string, info: ModelInfo = {}): void {
  if (!(model instanceof Layer)) throw new Error(`saveModel: the first argument must be a model (a Layer such as Sequential or Graph), got ${String(model)}`);
  if (existsSync(path) && !statSync(path).isDirectory()) {
    throw new Error(`saveModel: ${path} is a file; a model is saved as a folder (model.json + weights.safetensors): give a folder path`);
  }
  mkdirSync(path, { recursive: true });
  const { json, weights } = encodeModel(model, info);
  writeFileAtomic(join(path, WEIGHTS_FILE), weights);
  writeFileAtomic(join(path, MODEL_JSON), new TextEncoder().encode(json));
}

/** Loads a model saved by saveModel; throws ModelFileError for anything missing, damaged or mismatched. */
export function loadModel(path: string): Model {
  return loadModelWithInfo(path).model;
}

/** Loads a saved model folder with what model.json records about it (input shape, classes, normalisation, extra); `options` as decodeModel's. */
export function loadModelWithInfo(path: string, options: DecodeModelOptions = {}): { model: Model; info: ModelInfo } {
  const dir = path.endsWith(MODEL_JSON) ? path.slice(0, -MODEL_JSON.length) || "." : path;
  if (!existsSync(dir)) throw new ModelFileError(dir, "does not exist; give the folder saveModel (or stride train --out) wrote");
  if (!statSync(dir).isDirectory()) throw new ModelFileError(dir, "is not a folder; a saved model is a folder with model.json and weights.safetensors");
  const read = (file: string): Buffer => {
    const p = join(dir, file);
    if (!existsSync(p)) throw new ModelFileError(p, `is missing; a saved model needs both ${MODEL_JSON} and ${WEIGHTS_FILE}`);
    try {
      return readRegularFile(p);
    } catch (e) {
      throw new ModelFileError(p, `cannot be read (${(e as Error).message})`);
    }
  };
  const json = read(MODEL_JSON).toString("utf8");
  const weights = read(WEIGHTS_FILE);
  return decodeModel(json, new Uint8Array(weights.buffer, weights.byteOffset, weights.length), dir, options);
}

