/**
 * CIFAR-10 in its binary distribution (cifar-10-batches-bin): each record is
 * one label byte followed by 3072 pixel bytes, 1024 red, 1024 green, 1024
 * blue, each plane row-major 32x32, which is already CHW. The training set
 * is data_batch_1.bin … data_batch_5.bin, the test set test_batch.bin, and
 * batches.meta.txt holds the class names one per line.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createDataset, type Dataset } from "./dataset.js";

/** CIFAR-10's class names in label order. */
export const CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

const SIDE = 32;
const PIXELS = 3 * SIDE * SIDE;
const RECORD = 1 + PIXELS;

/** A CIFAR batch file that is not what the binary format says (size, labels); names the file. */
export class CifarFormatError extends Error {
  constructor(readonly path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "CifarFormatError";
  }
}

interface Parsed {
  images: Float32Array;
  labels: Int32Array;
}

/** Parses the bytes of one batch file; `source` names it in errors. */
export function parseCifar10Batch(bytes: Uint8Array, numClasses = 10, source = "<cifar bytes>"): Parsed {
  if (bytes.length === 0 || bytes.length % RECORD !== 0) {
    const whole = Math.floor(bytes.length / RECORD);
    throw new CifarFormatError(
      source,
      `length ${bytes.length} bytes is not a multiple of the ${RECORD}-byte record (1 label byte + 3072 pixels): ` +
        `${whole} whole record(s) and ${bytes.length - whole * RECORD} bytes left over; the file is truncated or not a CIFAR-10 binary batch`,
    );
  }
  const n = bytes.length / RECORD;
  const images = new Float32Array(n * PIXELS);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const at = i * RECORD;
    const label = bytes[at];
    if (label >= numClasses) {
      throw new CifarFormatError(
        source,
        `record ${i} (byte ${at}) has label ${label}, out of range for ${numClasses} classes (0..${numClasses - 1}); ` +
          `this may be a CIFAR-100 file (2 label bytes per record) or a damaged one`,
      );
    }
    labels[i] = label;
    const out = i * PIXELS;
    for (let p = 0; p < PIXELS; p++) images[out + p] = bytes[at + 1 + p] / 255;
  }
  return { images, labels };
}

function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new CifarFormatError(path, `cannot be read (${(e as Error).message})`);
  }
}

/** Reads class names from batches.meta.txt (one per line; blank lines ignored). */
export function readCifarClassNames(path: string): string[] {
  const names = new TextDecoder()
    .decode(readBytes(path))
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new CifarFormatError(path, "holds no class names; expected one name per line");
  return names;
}

/** One or more batch files as a 3x32x32 dataset with values in [0, 1]. */
export function loadCifar10Files(paths: string[], options: { classes?: string[]; name?: string } = {}): Dataset {
  if (paths.length === 0) throw new Error("loadCifar10Files: give at least one batch file");
  const classes = options.classes ?? CIFAR10_CLASSES;
  const parts = paths.map((p) => parseCifar10Batch(readBytes(p), classes.length, p));
  const total = parts.reduce((n, p) => n + p.labels.length, 0);
  const images = new Float32Array(total * PIXELS);
  const labels = new Int32Array(total);
  let at = 0;
  for (const part of parts) {
    images.set(part.images, at * PIXELS);
    labels.set(part.labels, at);
    at += part.labels.length;
  }
  return createDataset({ name: options.name ?? paths.join(", "), images, labels, shape: [3, SIDE, SIDE], classes });
}

/** Where loadCifar10 reads from, and which split. */
export interface CifarOptions {
  /** The cifar-10-batches-bin folder. */
  dir: string;
  split?: "train" | "test";
}

/** CIFAR-10's training (50,000) or test (10,000) set from the binary folder. */
export function loadCifar10(options: CifarOptions): Dataset {
  const { dir, split = "train" } = options;
  if (split !== "train" && split !== "test") throw new Error(`loadCifar10: split = ${JSON.stringify(split)} is not valid; use "train" or "test"`);
  const names = split === "train" ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ["test_batch.bin"];
  const paths = names.map((n) => join(dir, n));
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length > 0) {
    throw new Error(`loadCifar10: ${missing.join(", ")} not found; \`dir\` must be the extracted cifar-10-batches-bin folder`);
  }
  const meta = join(dir, "batches.meta.txt");
  const classes = existsSync(meta) ? readCifarClassNames(meta) : CIFAR10_CLASSES;
  return loadCifar10Files(paths, { classes, name: `cifar-10 (${split})` });
}
