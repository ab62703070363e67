/**
 * CIFAR-10 in its binary distribution (cifar-10-batches-bin): each record is
 * one label byte followed by 3072 pixel bytes, 1024 red, 1024 green, 1024
 * blue, each plane row-major 32x32, which is already CHW. The training set
 * is data_batch_1.bin … data_batch_5.bin, the test set test_batch.bin, and
 * batches.meta.txt holds the class names one per line.
 */
import { createDataset, type Dataset } from "./dataset.js";
import { StrideError } from "../stride-error.js";

/** CIFAR-10's class names in label order. */
export const CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

const SIDE = 32;
const PIXELS = 3 * SIDE * SIDE;
const RECORD = 1 + PIXELS;

/** A CIFAR batch file that is not what the binary format says (size, labels); names the file. */
export class CifarFormatError extends StrideError {
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
