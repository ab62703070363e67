/**
 * The built-in digits (1x28x28 grey) as inputs of a model that takes other
 * images, say 3x224x224: each digit goes through prepareImage, the resize
 * `stride predict` applies to an image file, as if it were an opaque 8-bit
 * grey PNG. So the page's answer for a converted digit is Node's answer for
 * that PNG (the end-to-end test checks exactly this).
 */
import { prepareImage, createDataset, exampleView, splitDataset, type Dataset } from "stride";

/** The memory a converted dataset may take (float32 values): the digits of a fine-tune at 224x224 RGB stop at about 160. */
export const CONVERTED_BYTES = 100e6;

/** True when the digits can go in as they are. */
export function takesDigits(shape: readonly number[], digits: readonly number[]): boolean {
  return shape.length === digits.length && shape.every((d, i) => d === digits[i]);
}

/** One grey image (values in [0, 1], row-major) as a [C, H, W] input of `shape`. */
export function greyToInput(grey: Float32Array, height: number, width: number, shape: readonly number[]): Float32Array {
  const [c, h, w] = shape;
  if (shape.length !== 3 || (c !== 1 && c !== 3)) throw new Error(`the model takes ${shape.join("x")} inputs, which are not 1- or 3-channel images, so digits cannot be fed to it`);
  const rgba = new Uint8Array(4 * height * width);
  for (let i = 0; i < height * width; i++) {
    const v = Math.round(255 * Math.min(1, Math.max(0, grey[i])));
    rgba[4 * i] = v;
    rgba[4 * i + 1] = v;
    rgba[4 * i + 2] = v;
    rgba[4 * i + 3] = 255;
  }
  return prepareImage({ width, height, rgba }, { size: [h, w], channels: c as 1 | 3 }).data;
}

/** At most `count` examples of `ds`, every class in proportion (the digits file is sorted by class, so a prefix would not do). */
export function sample(ds: Dataset, count: number, seed: number): Dataset {
  return count >= ds.length ? ds : splitDataset(ds, count, seed).test;
}

/** How many converted examples of `shape` fit in CONVERTED_BYTES. */
export function convertedCapacity(shape: readonly number[]): number {
  return Math.floor(CONVERTED_BYTES / (4 * shape.reduce((a, b) => a * b, 1)));
}

/** A grey digits dataset converted to `shape`. */
export function convertDigits(ds: Dataset, shape: readonly number[]): Dataset {
  if (takesDigits(shape, ds.shape)) return ds;
  const size = shape.reduce((a, b) => a * b, 1);
  const images = new Float32Array(ds.length * size);
  const [, h, w] = ds.shape;
  for (let i = 0; i < ds.length; i++) images.set(greyToInput(exampleView(ds, i), h, w, shape), i * size);
  return createDataset({ name: `${ds.name} as ${shape.join("x")}`, images, labels: ds.labels.slice(), shape: [shape[0], shape[1], shape[2]], classes: ds.classes.slice() });
}
