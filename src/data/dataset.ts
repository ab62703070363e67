/**
 * The in-memory dataset every trainer consumes: all images in one NCHW
 * Float32Array (values in [0, 1] as loaded; see normalize.ts for mean/std),
 * integer labels, and the class names. Small enough datasets (MNIST, CIFAR,
 * a folder of images) fit in memory, which keeps shuffling and augmentation
 * simple and deterministic.
 */
import { Rng } from "../random.js";
import { Tensor } from "../tensor.js";

/** Labelled images in memory: what every loader returns and fit, evaluate and DataLoader take. */
export interface Dataset {
  name: string;
  /** n * c * h * w values, example after example, each CHW. */
  images: Float32Array;
  labels: Int32Array;
  /** One example's shape: [channels, height, width]. */
  shape: [number, number, number];
  classes: string[];
  /** The number of examples. */
  length: number;
}

/** The parts createDataset checks and assembles into a Dataset. */
export interface DatasetParts {
  name: string;
  images: Float32Array;
  labels: Int32Array;
  shape: [number, number, number];
  classes: string[];
}

/** Builds a Dataset after checking that its parts agree with each other. */
export function createDataset(parts: DatasetParts): Dataset {
  const { name, images, labels, shape, classes } = parts;
  const where = `dataset "${name}"`;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new Error(`${where}: shape ${JSON.stringify(shape)} must be [channels, height, width] of whole numbers >= 1`);
  }
  if (!(images instanceof Float32Array)) throw new Error(`${where}: images must be a Float32Array`);
  if (!(labels instanceof Int32Array)) throw new Error(`${where}: labels must be an Int32Array`);
  if (!Array.isArray(classes) || classes.length === 0) throw new Error(`${where}: classes must be a non-empty array of names`);
  const perExample = shape[0] * shape[1] * shape[2];
  if (images.length !== labels.length * perExample) {
    throw new Error(
      `${where}: ${labels.length} labels need ${labels.length} x ${shape.join("x")} = ${labels.length * perExample} ` +
        `image values, but there are ${images.length}`,
    );
  }
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] < 0 || labels[i] >= classes.length) {
      throw new Error(`${where}: label ${labels[i]} of example ${i} is outside [0, ${classes.length - 1}] (${classes.length} classes)`);
    }
  }
  return { name, images, labels, shape: [shape[0], shape[1], shape[2]], classes: classes.slice(), length: labels.length };
}

/** The number of values in one example. */
export function exampleSize(ds: Dataset): number {
  return ds.shape[0] * ds.shape[1] * ds.shape[2];
}

/** One example's pixels, as a view into the dataset (no copy). */
export function exampleView(ds: Dataset, index: number): Float32Array {
  checkIndex(ds, index);
  const size = exampleSize(ds);
  return ds.images.subarray(index * size, (index + 1) * size);
}

/** The given examples stacked into a [B, C, H, W] tensor (a copy). */
export function batchTensor(ds: Dataset, indices: ArrayLike<number>): Tensor {
  const size = exampleSize(ds);
  const x = new Tensor([indices.length, ...ds.shape]);
  for (let b = 0; b < indices.length; b++) {
    checkIndex(ds, indices[b]);
    x.data.set(ds.images.subarray(indices[b] * size, (indices[b] + 1) * size), b * size);
  }
  return x;
}

/** A new dataset of the given examples, in the given order (the pixels are copied). */
export function subset(ds: Dataset, indices: ArrayLike<number>, name = `${ds.name} (subset)`): Dataset {
  const size = exampleSize(ds);
  const images = new Float32Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i];
    checkIndex(ds, j);
    images.set(ds.images.subarray(j * size, (j + 1) * size), i * size);
    labels[i] = ds.labels[j];
  }
  return { name, images, labels, shape: [...ds.shape], classes: ds.classes.slice(), length: indices.length };
}

/** How many examples each class has. */
export function classCounts(ds: Dataset): number[] {
  const counts = new Array<number>(ds.classes.length).fill(0);
  for (let i = 0; i < ds.length; i++) counts[ds.labels[i]]++;
  return counts;
}

/** Options of splitDataset. */
export interface SplitOptions {
  /**
   * Stratified (default): every class is split in the same proportion, so
   * both parts keep the class balance. Otherwise a plain seeded shuffle.
   */
  stratify?: boolean;
}

/** Two disjoint parts of a dataset, and which examples went where. */
export interface Split {
  train: Dataset;
  test: Dataset;
  /** The dataset indices of each part, ascending. */
  trainIndices: Int32Array;
  testIndices: Int32Array;
}

/**
 * Splits a dataset into two disjoint parts that together hold every example.
 * `test` is a fraction in (0, 1) or a whole number of examples >= 1 for the
 * second part. The same dataset, test size and seed always give the same
 * split. Each part keeps the dataset's order (a loader shuffles it later).
 */
export function splitDataset(ds: Dataset, test: number, seed = 0, options: SplitOptions = {}): Split {
  const testCount = resolveTestCount(ds, test);
  const rng = new Rng(seed);
  const inTest = new Uint8Array(ds.length);
  if (options.stratify ?? true) {
    const byClass: number[][] = ds.classes.map(() => []);
    for (let i = 0; i < ds.length; i++) byClass[ds.labels[i]].push(i);
    const quotas = proportionalQuotas(byClass.map((c) => c.length), testCount);
    byClass.forEach((members, c) => {
      const shuffled = rng.shuffle(members.slice());
      for (let k = 0; k < quotas[c]; k++) inTest[shuffled[k]] = 1;
    });
  } else {
    const order = rng.permutation(ds.length);
    for (let k = 0; k < testCount; k++) inTest[order[k]] = 1;
  }
  const testIndices = new Int32Array(testCount);
  const trainIndices = new Int32Array(ds.length - testCount);
  let t = 0;
  let r = 0;
  for (let i = 0; i < ds.length; i++) {
    if (inTest[i]) testIndices[t++] = i;
    else trainIndices[r++] = i;
  }
  return {
    train: subset(ds, trainIndices, `${ds.name} (train)`),
    test: subset(ds, testIndices, `${ds.name} (test)`),
    trainIndices,
    testIndices,
  };
}

function resolveTestCount(ds: Dataset, test: number): number {
  const fail = (why: string) =>
    new Error(`splitDataset: test = ${test} ${why}; pass a fraction in (0, 1) or a whole number of examples in [1, ${ds.length - 1}]`);
  if (typeof test !== "number" || !Number.isFinite(test) || test <= 0) throw fail("is not valid");
  const count = test < 1 ? Math.round(test * ds.length) : test;
  if (!Number.isInteger(count)) throw fail("is neither a fraction below 1 nor a whole number");
  if (count < 1 || count >= ds.length) throw fail(`leaves an empty part (${ds.length} examples)`);
  return count;
}

/**
 * Divides `total` among groups in proportion to their sizes, rounding by
 * largest remainder so that the quotas add up to exactly `total`.
 */
function proportionalQuotas(sizes: number[], total: number): number[] {
  const n = sizes.reduce((a, b) => a + b, 0);
  const exact = sizes.map((s) => (s * total) / n);
  const quotas = exact.map(Math.floor);
  let left = total - quotas.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((e, i) => i).sort((a, b) => exact[b] - quotas[b] - (exact[a] - quotas[a]) || a - b);
  for (const i of byRemainder) {
    if (left === 0) break;
    if (quotas[i] < sizes[i]) {
      quotas[i]++;
      left--;
    }
  }
  return quotas;
}

function checkIndex(ds: Dataset, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= ds.length) {
    throw new Error(`dataset "${ds.name}": index ${index} is outside [0, ${ds.length - 1}]`);
  }
}
