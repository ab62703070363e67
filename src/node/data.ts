/**
 * Dataset and image files (Node only): IDX (MNIST, Fashion-MNIST), CIFAR-10
 * binary batches, image folders and single PNG/JPEG files. The parsers in
 * src/data/ take bytes and run anywhere; these read the files and decode
 * PNG (pngjs) and JPEG (jpeg-js).
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { PNG } from "pngjs";
import jpeg from "jpeg-js";
import { Tensor } from "../tensor.js";
import { createDataset, type Dataset } from "../data/dataset.js";
import { FASHION_MNIST_CLASSES, IdxFormatError, parseIdx, type IdxArray, type IdxLimits } from "../data/idx.js";
import { CIFAR10_CLASSES, CifarFormatError, parseCifar10Batch } from "../data/cifar.js";
import { DEFAULT_MAX_IMAGE_PIXELS, ImageReadError, checkChannels, checkImageHeader, prepareImage, resolveSize, type DecodedImage, type ImageOptions } from "../data/image-folder.js";
import { readRegularFile } from "./files.js";

/** Reads an IDX file from disk (gzipped or not); `limits` caps its decompressed size (see parseIdx). */
export function readIdxFile(path: string, limits: IdxLimits = {}): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readRegularFile(path);
  } catch (e) {
    throw new IdxFormatError(path, `cannot be read (${(e as Error).message})`);
  }
  return parseIdx(bytes, path, limits);
}

/** Which IDX image and label files make a dataset, and how to name it. */
export interface IdxDatasetOptions extends IdxLimits {
  /** Class names; labels must be below their count. Default: the digits "0".."9". */
  classes?: string[];
  name?: string;
}

/**
 * An image file (ubyte, [n, h, w]) and a label file (ubyte, [n]) as a
 * 1 x h x w dataset with values in [0, 1].
 */
export function loadIdxDataset(imagesPath: string, labelsPath: string, options: IdxDatasetOptions = {}): Dataset {
  const classes = options.classes ?? ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
  const images = readIdxFile(imagesPath, options);
  const labels = readIdxFile(labelsPath, options);
  if (images.dtype !== "ubyte") {
    throw new IdxFormatError(imagesPath, `magic number: images must be ubyte (0x08), the file holds ${images.dtype}`);
  }
  if (images.dims.length !== 3) {
    throw new IdxFormatError(
      imagesPath,
      `dimension count: images must have 3 dimensions [count, rows, columns], the file has ${images.dims.length} [${images.dims.join(", ")}]`,
    );
  }
  if (labels.dtype !== "ubyte") {
    throw new IdxFormatError(labelsPath, `magic number: labels must be ubyte (0x08), the file holds ${labels.dtype}`);
  }
  if (labels.dims.length !== 1) {
    throw new IdxFormatError(labelsPath, `dimension count: labels must have 1 dimension [count], the file has ${labels.dims.length} [${labels.dims.join(", ")}]`);
  }
  const [n, h, w] = images.dims;
  if (labels.dims[0] !== n) {
    throw new IdxFormatError(labelsPath, `count: holds ${labels.dims[0]} labels but ${imagesPath} holds ${n} images; the two files must come from the same set`);
  }
  if (h < 1 || w < 1) throw new IdxFormatError(imagesPath, `sizes: images are ${h}x${w}; rows and columns must be at least 1`);
  const labelData = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = labels.data[i];
    if (label >= classes.length) {
      throw new IdxFormatError(labelsPath, `labels: label ${label} of example ${i} is out of range; there are ${classes.length} classes (0..${classes.length - 1})`);
    }
    labelData[i] = label;
  }
  const pixels = new Float32Array(n * h * w);
  const src = images.data as Uint8Array;
  for (let i = 0; i < pixels.length; i++) pixels[i] = src[i] / 255;
  return createDataset({ name: options.name ?? imagesPath, images: pixels, labels: labelData, shape: [1, h, w], classes });
}

/** Where Debian's dataset-fashion-mnist package installs the files. */
export const FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

/** Which split of an IDX dataset folder (MNIST or Fashion-MNIST layout) to read. */
export interface IdxSplitOptions {
  split?: "train" | "test";
  /** The folder holding train-images-idx3-ubyte[.gz] and friends. */
  dir?: string;
}

/** Finds `base` or `base.gz` in a folder. */
function findIdx(dir: string, base: string): string {
  for (const name of [base, `${base}.gz`]) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new Error(`${join(dir, base)}[.gz] does not exist; point \`dir\` at the folder holding the IDX files`);
}

function loadSplit(dir: string, split: "train" | "test", classes: string[], name: string): Dataset {
  if (split !== "train" && split !== "test") throw new Error(`split = ${JSON.stringify(split)} is not valid; use "train" or "test"`);
  const prefix = split === "train" ? "train" : "t10k";
  return loadIdxDataset(findIdx(dir, `${prefix}-images-idx3-ubyte`), findIdx(dir, `${prefix}-labels-idx1-ubyte`), {
    classes,
    name: `${name} (${split})`,
  });
}

/** Fashion-MNIST (60,000 train / 10,000 test, 1x28x28) from its IDX files. */
export function loadFashionMnist(options: IdxSplitOptions = {}): Dataset {
  return loadSplit(options.dir ?? FASHION_MNIST_DIR, options.split ?? "train", FASHION_MNIST_CLASSES, "fashion-mnist");
}

/** The full MNIST (60,000 / 10,000) from a folder of its original IDX files. */
export function loadMnistIdx(options: IdxSplitOptions & { dir: string }): Dataset {
  return loadSplit(options.dir, options.split ?? "train", ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], "mnist");
}

const SIDE = 32;
const PIXELS = 3 * SIDE * SIDE;

function readBytes(path: string): Uint8Array {
  try {
    return readRegularFile(path);
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

/** Where the CIFAR-10 binary batches are and which split to read. */
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

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Decodes PNG or JPEG bytes to RGBA. `source` names the file in errors. The
 * header's width and height are checked first: zero, or more than `maxPixels`
 * (default DEFAULT_MAX_IMAGE_PIXELS), throws ImageReadError before decoding.
 */
export function decodeImage(bytes: Uint8Array, source = "<image bytes>", maxPixels = DEFAULT_MAX_IMAGE_PIXELS): DecodedImage {
  checkImageHeader(bytes, source, maxPixels);
  const isPng = PNG_SIGNATURE.every((b, i) => bytes[i] === b);
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  try {
    if (isPng) {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, rgba: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
    }
    if (isJpeg) {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024, maxResolutionInMP: maxPixels / 1e6 });
      return { width: img.width, height: img.height, rgba: img.data };
    }
  } catch (e) {
    throw new ImageReadError(source, `cannot be decoded as ${isPng ? "PNG" : "JPEG"} (${decoderProblem(e)}); the file is damaged or truncated`);
  }
  throw new ImageReadError(source, "is neither a PNG nor a JPEG (its first bytes match neither signature)");
}

/** The decoders' own words, except where they are an internal state rather than a problem with the file. */
function decoderProblem(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  // pngjs, when the image data stops before the image is complete.
  if (/read requests waitng/.test(message)) return "its data ends before the image is complete";
  if (e instanceof RangeError || e instanceof TypeError) return "its data is inconsistent";
  return message.length > 200 ? `${message.slice(0, 200)}…` : message;
}

function readImageFile(path: string, maxPixels?: number): DecodedImage {
  let bytes: Uint8Array;
  try {
    bytes = readRegularFile(path);
  } catch (e) {
    throw new ImageReadError(path, `cannot be read (${(e as Error).message})`);
  }
  return decodeImage(bytes, path, maxPixels);
}

/** One image file as a [1, C, H, W] tensor, ready for a model's forward pass. */
export function loadImage(path: string, options: ImageOptions = {}): Tensor {
  const { data, shape } = prepareImage(readImageFile(path, options.maxPixels), options);
  const x = new Tensor([1, ...shape]);
  x.data.set(data);
  return x;
}

export interface ImageFolderOptions extends ImageOptions {
  /** Every image is resized to this size (required: a dataset's examples share one shape). */
  size: number | [number, number];
  /** File extensions to read, lower case. Default .png, .jpg, .jpeg. */
  extensions?: string[];
  /** "throw" (default) stops at the first unreadable file; "skip" leaves it out and lists it in `skipped`. */
  onError?: "throw" | "skip";
  name?: string;
}

export interface ImageFolderDataset extends Dataset {
  /** The file of each example, in dataset order. */
  files: string[];
  /** Files that could not be read (only with onError: "skip"), with the reason. */
  skipped: { path: string; error: string }[];
}

/**
 * A folder with one sub-folder per class: the classes are the sub-folder
 * names in sorted order, the examples each class's image files in sorted
 * order (so the dataset is the same on every machine).
 */
export function loadImageFolder(root: string, options: ImageFolderOptions): ImageFolderDataset {
  const where = `loadImageFolder(${root})`;
  const channels = checkChannels(options.channels ?? 3, where);
  const [h, w] = resolveSize(options.size, [NaN, NaN], where);
  const extensions = (options.extensions ?? [".png", ".jpg", ".jpeg"]).map((e) => e.toLowerCase());
  const onError = options.onError ?? "throw";
  let entries: string[];
  try {
    entries = readdirSync(root).sort();
  } catch (e) {
    throw new ImageReadError(root, `cannot be listed (${(e as Error).message})`);
  }
  const classes = entries.filter((name) => !name.startsWith(".") && statSync(join(root, name)).isDirectory());
  if (classes.length === 0) throw new ImageReadError(root, "has no sub-folders; put each class's images in a sub-folder named after the class");
  const files: string[] = [];
  const labelList: number[] = [];
  classes.forEach((cls, label) => {
    for (const name of readdirSync(join(root, cls)).sort()) {
      if (name.startsWith(".") || !extensions.includes(extname(name).toLowerCase())) continue;
      files.push(join(root, cls, name));
      labelList.push(label);
    }
  });
  if (files.length === 0) throw new ImageReadError(root, `holds no image files (${extensions.join(", ")}) in its class sub-folders`);
  const size = channels * h * w;
  const images = new Float32Array(files.length * size);
  const kept: string[] = [];
  const labels: number[] = [];
  const skipped: { path: string; error: string }[] = [];
  files.forEach((path, i) => {
    let pixels: Float32Array;
    try {
      pixels = prepareImage(readImageFile(path, options.maxPixels), { size: [h, w], channels, fit: options.fit }).data;
    } catch (e) {
      if (onError === "throw") throw e;
      skipped.push({ path, error: (e as Error).message });
      return;
    }
    images.set(pixels, kept.length * size);
    kept.push(path);
    labels.push(labelList[i]);
  });
  if (kept.length === 0) throw new ImageReadError(root, `none of its ${files.length} image files could be read; the first: ${skipped[0]?.error}`);
  const dataset = createDataset({
    name: options.name ?? root,
    images: kept.length === files.length ? images : images.slice(0, kept.length * size),
    labels: Int32Array.from(labels),
    shape: [channels, h, w],
    classes,
  });
  return { ...dataset, files: kept, skipped };
}

