/**
 * Files for models and tensors (Node only): safetensors files written
 * atomically, saved model folders. The formats themselves are encoded and
 * decoded in src/io/, which runs anywhere.
 */
import { closeSync, constants, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Layer } from "../layers/layer.js";
import { ModelFileError, decodeSafetensors, encodeSafetensors, type SafetensorsContents, type SafetensorsEntry } from "../io/safetensors.js";
import { MODEL_JSON, WEIGHTS_FILE, decodeModel, encodeModel, type DecodeModelOptions, type Model, type ModelInfo } from "../io/model-file.js";
import { quoteValue } from "../stride-error.js";

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

// A saved model folder is always one whole version. model.json is the commit
// point: each save writes its weights to a fresh file (weights-<stamp>.safetensors),
// then renames a new model.json, which names that file, over the old one. A
// rename replaces a file in one step, so a reader opens the old model.json or
// the new one, and either names a complete weights file. The superseded weights
// file is deleted after the swap; a reader that read the old model.json just
// before finds its weights gone and reads model.json again. Folders of older
// stride (model.json naming weights.safetensors) load the same way.

const VERSIONED_WEIGHTS = /^weights-[0-9a-z]+-(\d+)-\d+\.safetensors$/;
const TEMPORARY = /^\..+\.(\d+)\.[0-9a-z]+\.\d+\.tmp$/;
let versionCounter = 0;

/** Whether a process with this id runs on this machine (a file stamped with a dead one is a leftover of a killed save). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The weights file a folder's model.json names, or null when there is no readable model.json. */
function committedWeights(dir: string): string | null {
  try {
    return weightsFileNamed(readRegularFile(join(dir, MODEL_JSON)).toString("utf8"), join(dir, MODEL_JSON));
  } catch {
    return null;
  }
}

/**
 * The weights file a model.json names: a plain name of a .safetensors file in
 * the same folder (so a crafted model.json cannot make a load read elsewhere).
 * Null for unparsable JSON, which decodeModel reports.
 */
function weightsFileNamed(json: string, jsonPath: string): string | null {
  let file: unknown;
  try {
    file = (JSON.parse(json) as { weights?: { file?: unknown } })?.weights?.file;
  } catch {
    return null;
  }
  if (file === undefined) return WEIGHTS_FILE;
  if (typeof file !== "string" || !/^[^/\\\0]+\.safetensors$/.test(file) || file.startsWith(".")) {
    throw new ModelFileError(jsonPath, `"weights.file" must name a .safetensors file in the same folder, got ${quoteValue(file)}; restore model.json or save the model again`);
  }
  return file;
}

/**
 * Deletes what killed saves left in a folder: temporary files and uncommitted
 * weights files stamped with the id of a process that no longer runs, or with
 * this process's own id: saves are synchronous, so none of ours is under way
 * when this runs (a save killed between its swap and its clean-up leaves the
 * old weights of whoever wrote them, often a process that still runs). Files
 * of other live processes are left alone: another save may be under way.
 * (Worker threads share the process id: two threads saving into one folder at
 * once are not supported.)
 */
export function removeStaleTemporaries(dir: string, keep: ReadonlySet<string> = new Set()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (keep.has(name)) continue;
    const m = TEMPORARY.exec(name) ?? VERSIONED_WEIGHTS.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && processAlive(pid)) continue;
    try {
      unlinkSync(join(dir, name));
      removed.push(name);
    } catch {
      // Gone already, or not ours to delete: the next save tries again.
    }
  }
  return removed;
}

/** Flushes a folder's entries (the rename) to disk where the platform allows opening a folder. */
function syncFolder(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Windows cannot open a folder; its renames are flushed by the file system.
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** Writes a new file (failing if it exists) and flushes it to disk. */
function writeNewFile(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, "wx");
  try {
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Saves a model (topology JSON + safetensors weights) into a folder, creating
 * it if needed. The folder holds the old model or the new one at every moment,
 * even if the process is killed mid-save (see docs/reliability.md).
 */
export function saveModel(model: Model, path: string, info: ModelInfo = {}): void {
  if (!(model instanceof Layer)) throw new Error(`saveModel: the first argument must be a model (a Layer such as Sequential or Graph), got ${String(model)}`);
  if (existsSync(path) && !statSync(path).isDirectory()) {
    throw new ModelFileError(path, "is a file; a model is saved as a folder (model.json + its weights file): give a folder path");
  }
  mkdirSync(path, { recursive: true });
  const { json, weights } = encodeModel(model, info);
  const previous = committedWeights(path);
  removeStaleTemporaries(path, new Set(previous ? [previous] : []));
  const file = `weights-${Date.now().toString(36)}-${process.pid}-${versionCounter++}.safetensors`;
  const meta = JSON.parse(json) as { weights: { file: string } };
  meta.weights.file = file;
  try {
    writeNewFile(join(path, file), weights);
    writeFileAtomic(join(path, MODEL_JSON), new TextEncoder().encode(JSON.stringify(meta, null, 1)));
  } catch (e) {
    try {
      unlinkSync(join(path, file));
    } catch {
      // Never created.
    }
    throw e instanceof ModelFileError ? e : new ModelFileError(join(path, file), `cannot be written (${(e as Error).message})`);
  }
  syncFolder(path);
  // The old version is gone only once the new one is current.
  if (previous !== null && previous !== file) {
    try {
      unlinkSync(join(path, previous));
    } catch {
      // Already removed by another save, or held open on Windows: a later save removes it.
    }
  }
}

/** Loads a model saved by saveModel; throws ModelFileError for anything missing, damaged or mismatched. */
export function loadModel(path: string): Model {
  return loadModelWithInfo(path).model;
}

/** How often a load re-reads model.json when a save replaced the version it was reading. */
const LOAD_ATTEMPTS = 8;

/** Loads a saved model folder with what model.json records about it (input shape, classes, normalisation, extra); `options` as decodeModel's. */
export function loadModelWithInfo(path: string, options: DecodeModelOptions = {}): { model: Model; info: ModelInfo } {
  const dir = path.endsWith(MODEL_JSON) ? path.slice(0, -MODEL_JSON.length) || "." : path;
  if (!existsSync(dir)) throw new ModelFileError(dir, "does not exist; give the folder saveModel (or stride train --out) wrote");
  if (!statSync(dir).isDirectory()) throw new ModelFileError(dir, "is not a folder; a saved model is a folder with model.json and its weights file");
  const jsonPath = join(dir, MODEL_JSON);
  const readJson = (): string => {
    if (!existsSync(jsonPath)) throw new ModelFileError(jsonPath, `is missing; a saved model needs ${MODEL_JSON} and the weights file it names`);
    try {
      return readRegularFile(jsonPath).toString("utf8");
    } catch (e) {
      throw new ModelFileError(jsonPath, `cannot be read (${(e as Error).message})`);
    }
  };
  for (let attempt = 1; ; attempt++) {
    const json = readJson();
    const file = weightsFileNamed(json, jsonPath);
    if (file === null) return decodeModel(json, new Uint8Array(0), dir, options); // throws: model.json is not valid JSON
    const weightsPath = join(dir, file);
    let weights: Buffer;
    try {
      weights = readRegularFile(weightsPath);
    } catch (e) {
      const missing = (e as NodeJS.ErrnoException).code === "ENOENT";
      // A save swapped in a new version and removed this one's weights: read the new one.
      if (missing && attempt < LOAD_ATTEMPTS && readJson() !== json) continue;
      throw new ModelFileError(weightsPath, missing ? `is missing; ${MODEL_JSON} names it as the model's weights: restore it or save the model again` : `cannot be read (${(e as Error).message})`);
    }
    return decodeModel(json, new Uint8Array(weights.buffer, weights.byteOffset, weights.length), dir, options);
  }
}
