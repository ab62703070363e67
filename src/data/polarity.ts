/**
 * Light-on-dark or dark-on-light: MNIST digits are white strokes on black,
 * and a model trained on them misreads a digit drawn black on white (the
 * usual photo or scan) without a word. These tell the two apart by the
 * border, which is background in a centred digit, and flip a light one.
 */
import { StrideError } from "../stride-error.js";

/** What the border of an image says about its background. */
export interface Polarity {
  /** Mean of the border pixels, 0 (black) to 1 (white). */
  borderMean: number;
  /** The background is light (borderMean above 0.5): dark strokes on light, the opposite of MNIST. */
  darkOnLight: boolean;
}

/** The message the app and `stride predict` show when they invert an image. */
export const INVERTED_NOTE = "inverted: the digit was dark on light; MNIST digits are light on dark";

/**
 * The polarity of a grey image: `pixels` is height * width values in [0, 1],
 * row by row. The border is the outermost ring of pixels, two wide when the
 * image is at least 8 pixels on each side (one stray stroke touching the
 * edge then moves the mean less).
 */
export function imagePolarity(pixels: ArrayLike<number>, height: number, width: number): Polarity {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new StrideError(`imagePolarity: the size ${height}x${width} must be whole numbers >= 1`);
  }
  if (pixels.length !== height * width) {
    throw new StrideError(`imagePolarity: a ${height}x${width} grey image has ${height * width} pixels, but ${pixels.length} were given (pass one channel)`);
  }
  const ring = height >= 8 && width >= 8 ? 2 : 1;
  let sum = 0;
  let count = 0;
  for (let y = 0; y < height; y++) {
    const edgeRow = y < ring || y >= height - ring;
    for (let x = 0; x < width; x++) {
      if (!edgeRow && x >= ring && x < width - ring) continue;
      sum += pixels[y * width + x];
      count++;
    }
  }
  const borderMean = sum / count;
  return { borderMean, darkOnLight: borderMean > 0.5 };
}

/** 1 - v for every value: a [0, 1] image with light and dark swapped, in place; returns it. */
export function invertPixels<T extends Float32Array | number[]>(pixels: T): T {
  for (let i = 0; i < pixels.length; i++) pixels[i] = 1 - pixels[i];
  return pixels;
}
