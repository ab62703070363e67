/**
 * The fuzz targets, one per file format the library reads from disk. Each
 * starts from valid files (written by the library itself or committed
 * fixtures) and damages them, or builds files from scratch with hostile
 * header numbers; then reads them through the public Node entry.
 */
import fc from "fast-check";
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";
import { PNG } from "pngjs";
import jpeg from "jpeg-js";
import * as s from "../../src/index.js";
import { SECRET, type Target } from "./runner.js";
import { applyJsonEdits, byteEdits, editBytes, editJson, jsonEdits, toJsonText, HOSTILE_NUMBERS, concat, type ByteEdit, type JsonEdit } from "./mutate.js";

const FIXTURES = fileURLToPath(new URL("../../../test/fixtures/", import.meta.url));

/** Writes a file holding SECRET (what a symlink in a case may point at) and returns its path. */
function writeSecret(dir: string, seed: number): string {
  const path = join(dir, "secret.txt");
  writeFileSync(path, `${["", "{", "[\"", "PK\u0003\u0004", "\u0089PNG"][seed % 5]}${SECRET} password=hunter2 ${SECRET}\n`);
  return path;
}

/** Special files a path may turn out to be: never a hang, never read to the end. */
const ODD_FILES = ["secret", "dev-zero", "folder", "dangling", "loop"] as const;
type OddFile = (typeof ODD_FILES)[number];

/** Puts something that is not a readable regular file at `path`. */
function placeOdd(kind: OddFile, path: string, dir: string, seed: number): void {
  switch (kind) {
    case "secret":
      symlinkSync(writeSecret(dir, seed), path);
      break;
    case "dev-zero":
      symlinkSync("/dev/zero", path);
      break;
    case "folder":
      mkdirSync(path);
      break;
    case "dangling":
      symlinkSync(join(dir, "no-such-file"), path);
      break;
    case "loop":
      symlinkSync(path, path);
      break;
  }
}

const oddFile = fc.constantFrom(...ODD_FILES);

// ---------------------------------------------------------------------------
// Saved model folders

interface BaseModel {
  json: any;
  weights: Uint8Array;
}

let baseModels: BaseModel[] | null = null;

function models(): BaseModel[] {
  if (baseModels) return baseModels;
  s.manualSeed(7);
  const plain = new s.Sequential([
    new s.Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3, name: "conv1" }),
    new s.BatchNorm2d({ numFeatures: 2, name: "bn1" }),
    new s.ReLU(),
    new s.MaxPool2d({ kernelSize: 2 }),
    new s.Flatten(),
    new s.Linear({ inFeatures: 2 * 2 * 2, outFeatures: 3, name: "fc" }),
  ]);
  const resnet = s.buildModel("resnet8", { numClasses: 2, inputShape: [1, 8, 8], seed: 3, width: 0.25 });
  const encode = (model: s.Layer, info: s.ModelInfo): BaseModel => {
    const e = s.encodeModel(model, info);
    return { json: JSON.parse(e.json), weights: e.weights };
  };
  baseModels = [
    encode(plain, { inputShape: [1, 6, 6], classes: ["cat", "dog", "emu"], normalization: { mean: [0.5], std: [0.25] } }),
    encode(resnet, { inputShape: [1, 8, 8], classes: ["yes", "no"], extra: { note: "fuzz" } }),
  ];
  return baseModels;
}

/** The weights' safetensors header as JSON, to edit, and the data after it. */
function splitSafetensors(bytes: Uint8Array): { header: any; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), data: bytes.subarray(8 + n) };
}

function joinSafetensors(headerText: string, data: Uint8Array): Uint8Array {
  const header = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

type ModelMode = "json" | "json-text" | "weights" | "weights-header" | "both" | "bn-var" | "null-field" | "odd-json" | "odd-weights";

interface ModelCase {
  base: number;
  mode: ModelMode;
  json: JsonEdit[];
  bytes: ByteEdit[];
  /** Whether model.json is updated to the damaged weights' size and CRC (so the damage gets past the CRC check). */
  fixCrc: boolean;
  odd: OddFile;
  field: string;
  seed: number;
}

const modelCase: fc.Arbitrary<ModelCase> = fc.record({
  base: fc.nat({ max: 1 }),
  mode: fc.constantFrom<ModelMode>("json", "json", "json", "json-text", "weights", "weights-header", "weights-header", "both", "bn-var", "null-field", "odd-json", "odd-weights"),
  json: jsonEdits,
  bytes: byteEdits,
  fixCrc: fc.boolean(),
  odd: oddFile,
  field: fc.constantFrom("normalization", "classes", "inputShape", "topology", "weights", "extra", "version"),
  seed: fc.nat(),
});

function writeModelCase(c: ModelCase, dir: string): void {
  const base = models()[c.base];
  let json: any = base.json;
  let jsonText: string | null = null;
  let weights = base.weights;
  switch (c.mode) {
    case "json":
      json = applyJsonEdits(json, c.json);
      break;
    case "json-text":
      jsonText = new TextDecoder().decode(editBytes(new TextEncoder().encode(JSON.stringify(json)), c.bytes));
      break;
    case "weights":
      weights = editBytes(weights, c.bytes);
      break;
    case "weights-header": {
      const { header, data } = splitSafetensors(weights);
      weights = joinSafetensors(editJson(header, c.json), data);
      break;
    }
    case "both": {
      weights = editBytes(weights, c.bytes);
      json = JSON.parse(editJson(json, c.json.filter((e) => e.op === "set" && typeof e.value === "number")));
      break;
    }
    case "bn-var": {
      // One running variance made negative: the model would output NaN.
      const { header, data } = splitSafetensors(weights);
      const vars = Object.keys(header).filter((k) => k.endsWith("runningVar"));
      const entry = header[vars[c.seed % vars.length]];
      const copy = new Uint8Array(data);
      const count = (entry.data_offsets[1] - entry.data_offsets[0]) / 4;
      new DataView(copy.buffer).setFloat32(entry.data_offsets[0] + 4 * (c.seed % count), -0.5 - (c.seed % 7), true);
      weights = joinSafetensors(JSON.stringify(header), copy);
      break;
    }
    case "null-field":
      json = { ...json, [c.field]: null };
      break;
  }
  if (c.fixCrc || c.mode === "bn-var" || c.mode === "weights-header") {
    const o = jsonText === null ? structuredClone(json) : tryParse(jsonText);
    if (o && typeof o === "object" && o.weights && typeof o.weights === "object") {
      o.weights.bytes = weights.length;
      o.weights.crc32 = zlib.crc32(weights).toString(16).padStart(8, "0");
      jsonText = toJsonText(o);
    }
  }
  const jsonPath = join(dir, "model.json");
  const weightsPath = join(dir, "weights.safetensors");
  if (c.mode === "odd-json") placeOdd(c.odd, jsonPath, dir, c.seed);
  else writeFileSync(jsonPath, jsonText ?? toJsonText(json));
  if (c.mode === "odd-weights") placeOdd(c.odd, weightsPath, dir, c.seed);
  else writeFileSync(weightsPath, weights);
}

function tryParse(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Did the case leave the weights as saved (so the outputs must be finite)? */
const weightsIntact = (c: ModelCase) => ["json", "json-text", "null-field", "odd-json", "bn-var"].includes(c.mode);

export const modelFolder: Target<ModelCase, { model: s.Layer; info: s.ModelInfo }> = {
  name: "model-folder",
  arbitrary: modelCase,
  load: (c, dir) => {
    writeModelCase(c, dir);
    return s.loadModelWithInfo(dir);
  },
  use: ({ model, info }, c) => {
    // An accepted model must run on the input it declares and name its classes.
    if (!info.inputShape || s.shapeSize(info.inputShape) > 2 ** 16) return;
    const x = s.Tensor.rand([1, ...info.inputShape], 5);
    const [top] = s.predict(model, x, { classes: info.classes, k: 3, normalize: info.normalization });
    for (const p of top) {
      if (info.classes && !info.classes.includes(p.label)) throw new Error(`predicted label "${p.label}" is not one of the model's classes`);
      if (weightsIntact(c) && !Number.isFinite(p.probability)) throw new Error(`predicted probability ${p.probability} for "${p.label}"`);
    }
  },
};

// ---------------------------------------------------------------------------
// safetensors

let baseSafetensors: Uint8Array[] | null = null;

function safetensorsFiles(): Uint8Array[] {
  if (baseSafetensors) return baseSafetensors;
  const tensors = new Map<string, s.SafetensorsEntry>([
    ["conv.weight", s.Tensor.rand([2, 1, 3, 3], 1)],
    ["steps", { dtype: "I64", shape: [2], data: new BigInt64Array([3n, -4n]) }],
    ["half", { dtype: "F16", shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x7bff]) }],
    ["empty", { dtype: "U8", shape: [0], data: new Uint8Array(0) }],
    ["mask", { dtype: "BOOL", shape: [2, 2], data: new Uint8Array([1, 0, 0, 1]) }],
  ]);
  baseSafetensors = [s.encodeSafetensors(tensors, { format: "pt" }), s.encodeSafetensors(new Map([["w", s.Tensor.rand([4], 2)]]))];
  return baseSafetensors;
}

type SafetensorsMode = "bytes" | "header" | "many-empty" | "scratch" | "odd";

interface SafetensorsCase {
  base: number;
  mode: SafetensorsMode;
  bytes: ByteEdit[];
  json: JsonEdit[];
  count: number;
  headerLength: number;
  tail: number[];
  odd: OddFile;
  seed: number;
}

const safetensorsCase: fc.Arbitrary<SafetensorsCase> = fc.record({
  base: fc.nat({ max: 1 }),
  mode: fc.constantFrom<SafetensorsMode>("bytes", "bytes", "header", "header", "many-empty", "scratch", "odd"),
  bytes: byteEdits,
  json: jsonEdits,
  count: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 1000, max: 20000 })),
  headerLength: fc.oneof(fc.constantFrom(...HOSTILE_NUMBERS.filter((n) => Number.isInteger(n) && n >= 0)), fc.nat({ max: 64 })),
  tail: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }),
  odd: oddFile,
  seed: fc.nat(),
});

function safetensorsBytes(c: SafetensorsCase): Uint8Array {
  const base = safetensorsFiles()[c.base];
  switch (c.mode) {
    case "bytes":
      return editBytes(base, c.bytes);
    case "header": {
      const { header, data } = splitSafetensors(base);
      return joinSafetensors(editJson(header, c.json), data);
    }
    case "many-empty": {
      // Many zero-size tensors: a large header with no data behind it.
      const parts = Array.from({ length: c.count }, (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`);
      return joinSafetensors(`{${parts.join(",")}}`, new Uint8Array(0));
    }
    case "scratch": {
      const out = new Uint8Array(8 + c.tail.length);
      new DataView(out.buffer).setBigUint64(0, BigInt(Math.max(0, Math.floor(c.headerLength))), true);
      out.set(c.tail, 8);
      return out;
    }
    case "odd":
      return base;
  }
}

export const safetensors: Target<SafetensorsCase, s.SafetensorsContents> = {
  name: "safetensors",
  arbitrary: safetensorsCase,
  load: (c, dir) => {
    const path = join(dir, "weights.safetensors");
    if (c.mode === "odd") placeOdd(c.odd, path, dir, c.seed);
    else writeFileSync(path, safetensorsBytes(c));
    return s.loadSafetensors(path);
  },
  use: (contents) => {
    for (const entry of contents.tensors.values()) s.toFloat32Tensor(entry);
  },
};

// ---------------------------------------------------------------------------
// IDX (MNIST's format)

type IdxMode = "images" | "labels" | "scratch" | "gzip-size" | "odd";

interface IdxCase {
  n: number;
  h: number;
  w: number;
  gzip: [boolean, boolean];
  mode: IdxMode;
  bytes: ByteEdit[];
  dtype: number;
  dims: number[];
  tail: number[];
  claimed: number;
  odd: OddFile;
  seed: number;
}

const idxCase: fc.Arbitrary<IdxCase> = fc.record({
  n: fc.integer({ min: 1, max: 4 }),
  h: fc.integer({ min: 1, max: 5 }),
  w: fc.integer({ min: 1, max: 5 }),
  gzip: fc.tuple(fc.boolean(), fc.boolean()),
  mode: fc.constantFrom<IdxMode>("images", "images", "labels", "scratch", "gzip-size", "odd"),
  bytes: byteEdits,
  dtype: fc.constantFrom(0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e, 0x00, 0xff),
  dims: fc.array(fc.oneof(fc.constantFrom(0, 1, 2, 0x7fffffff, 0xffffffff, 0x10000, 60000), fc.nat({ max: 40 })), { minLength: 0, maxLength: 5 }),
  tail: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }),
  claimed: fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff, 0x40000000, 0x10000000),
  odd: oddFile,
  seed: fc.nat(),
});

function idxFiles(c: IdxCase): [Uint8Array, Uint8Array] {
  const pixels = Uint8Array.from({ length: c.n * c.h * c.w }, (_, i) => (i * 37 + c.seed) & 255);
  const labels = Uint8Array.from({ length: c.n }, (_, i) => (i + c.seed) % 10);
  let images = s.encodeIdxUbyte([c.n, c.h, c.w], pixels, { gzip: c.gzip[0] });
  let labelFile = s.encodeIdxUbyte([c.n], labels, { gzip: c.gzip[1] });
  switch (c.mode) {
    case "images":
      images = editBytes(images, c.bytes);
      break;
    case "labels":
      labelFile = editBytes(labelFile, c.bytes);
      break;
    case "scratch": {
      const head = new Uint8Array(4 + 4 * c.dims.length);
      const view = new DataView(head.buffer);
      head[2] = c.dtype;
      head[3] = c.dims.length;
      c.dims.forEach((d, i) => view.setUint32(4 + 4 * i, d >>> 0, false));
      images = concat(head, Uint8Array.from(c.tail));
      if (c.gzip[0]) images = zlib.gzipSync(images);
      break;
    }
    case "gzip-size": {
      // A gzip stream whose trailer claims another decompressed size.
      images = zlib.gzipSync(images);
      new DataView(images.buffer, images.byteOffset).setUint32(images.length - 4, c.claimed >>> 0, true);
      break;
    }
  }
  return [images, labelFile];
}

export const idx: Target<IdxCase, s.Dataset> = {
  name: "idx",
  arbitrary: idxCase,
  load: (c, dir) => {
    const [images, labels] = idxFiles(c);
    const imagesPath = join(dir, "train-images-idx3-ubyte");
    const labelsPath = join(dir, "train-labels-idx1-ubyte");
    if (c.mode === "odd") placeOdd(c.odd, imagesPath, dir, c.seed);
    else writeFileSync(imagesPath, images);
    writeFileSync(labelsPath, labels);
    return s.loadIdxDataset(imagesPath, labelsPath);
  },
  use: (data) => {
    if (data.images.length !== data.length * data.shape[0] * data.shape[1] * data.shape[2]) throw new Error("images do not match the shape");
  },
};

// ---------------------------------------------------------------------------
// CIFAR-10 binary batches

type CifarMode = "bytes" | "classes-file" | "odd";

interface CifarCase {
  records: number;
  mode: CifarMode;
  bytes: ByteEdit[];
  classes: number;
  names: string;
  odd: OddFile;
  seed: number;
}

const cifarCase: fc.Arbitrary<CifarCase> = fc.record({
  records: fc.integer({ min: 1, max: 3 }),
  mode: fc.constantFrom<CifarMode>("bytes", "bytes", "bytes", "classes-file", "odd"),
  bytes: byteEdits,
  classes: fc.constantFrom(10, 10, 1, 2, 100),
  names: fc.string({ maxLength: 40 }),
  odd: oddFile,
  seed: fc.nat(),
});

export const cifar: Target<CifarCase, s.Dataset> = {
  name: "cifar",
  arbitrary: cifarCase,
  load: (c, dir) => {
    const record = 3073;
    const bytes = Uint8Array.from({ length: c.records * record }, (_, i) => (i % record === 0 ? (i / record + c.seed) % 10 : (i * 31) & 255));
    const path = join(dir, "data_batch_1.bin");
    if (c.mode === "odd") placeOdd(c.odd, path, dir, c.seed);
    else writeFileSync(path, c.mode === "bytes" ? editBytes(bytes, c.bytes) : bytes);
    let classes = Array.from({ length: c.classes }, (_, i) => `class${i}`);
    if (c.mode === "classes-file") {
      const meta = join(dir, "batches.meta.txt");
      writeFileSync(meta, c.names);
      classes = s.readCifarClassNames(meta);
    }
    return s.loadCifar10Files([path], { classes });
  },
};

// ---------------------------------------------------------------------------
// Images (PNG, JPEG)

function baseImage(kind: "png" | "jpeg", w: number, h: number, seed: number, colorType: number): Uint8Array {
  const rgba = Uint8Array.from({ length: w * h * 4 }, (_, i) => (i * 53 + seed) & 255);
  if (kind === "jpeg") return jpeg.encode({ data: rgba, width: w, height: h }, 80).data;
  const png = new PNG({ width: w, height: h, colorType: colorType as 0 | 2 | 4 | 6, inputColorType: 6 });
  png.data = Buffer.from(rgba);
  return PNG.sync.write(png, { colorType: colorType as 0 | 2 | 4 | 6, inputColorType: 6 });
}

type ImageMode = "bytes" | "header" | "odd";

interface ImageCase {
  kind: "png" | "jpeg";
  w: number;
  h: number;
  colorType: number;
  mode: ImageMode;
  bytes: ByteEdit[];
  width: number;
  height: number;
  size: [number, number];
  channels: 1 | 3;
  odd: OddFile;
  seed: number;
}

const imageCase: fc.Arbitrary<ImageCase> = fc.record({
  kind: fc.constantFrom("png" as const, "jpeg" as const),
  w: fc.integer({ min: 1, max: 9 }),
  h: fc.integer({ min: 1, max: 9 }),
  colorType: fc.constantFrom(0, 2, 4, 6),
  mode: fc.constantFrom<ImageMode>("bytes", "bytes", "bytes", "header", "odd"),
  bytes: byteEdits,
  width: fc.constantFrom(0, 1, 3, 65535, 0x7fffffff, 0xffffffff, 50000),
  height: fc.constantFrom(0, 1, 3, 65535, 0x7fffffff, 0xffffffff, 50000),
  size: fc.tuple(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 8 })),
  channels: fc.constantFrom(1 as const, 3 as const),
  odd: oddFile,
  seed: fc.nat(),
});

/** Sets the header's width and height (PNG IHDR with its CRC fixed, or the JPEG SOF0 marker). */
function forgeSize(bytes: Uint8Array, kind: "png" | "jpeg", width: number, height: number): Uint8Array {
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  if (kind === "png") {
    view.setUint32(16, width >>> 0);
    view.setUint32(20, height >>> 0);
    view.setUint32(29, zlib.crc32(out.subarray(12, 29)));
    return out;
  }
  for (let i = 2; i + 8 < out.length; ) {
    if (out[i] !== 0xff) break;
    const marker = out[i + 1];
    if (marker === 0xc0 || marker === 0xc2) {
      view.setUint16(i + 5, height & 0xffff);
      view.setUint16(i + 7, width & 0xffff);
      break;
    }
    i += 2 + view.getUint16(i + 2);
  }
  return out;
}

export const image: Target<ImageCase, s.Tensor> = {
  name: "image",
  arbitrary: imageCase,
  load: (c, dir) => {
    const path = join(dir, c.kind === "png" ? "picture.png" : "picture.jpg");
    const bytes = baseImage(c.kind, c.w, c.h, c.seed, c.colorType);
    if (c.mode === "odd") placeOdd(c.odd, path, dir, c.seed);
    else writeFileSync(path, c.mode === "bytes" ? editBytes(bytes, c.bytes) : forgeSize(bytes, c.kind, c.width, c.height));
    return s.loadImage(path, { size: c.size, channels: c.channels });
  },
  use: (x, c) => {
    if (x.size !== c.channels * c.size[0] * c.size[1]) throw new Error(`the image tensor has shape ${s.formatShape(x.shape)}`);
  },
};

// ---------------------------------------------------------------------------
// Image folders (one sub-folder per class)

type Entry = { kind: "image" | "damaged" | "text" | "empty" | "folder" | OddFile; name: string };

interface FolderCase {
  classes: { name: string; entries: Entry[] }[];
  stray: boolean;
  onError: "throw" | "skip";
  images: ImageCase[];
  size: number;
  seed: number;
}

const entryName = fc.oneof(
  fc.constantFrom("a.png", "b.jpg", "C.JPEG", ".hidden.png", "notes.txt", "x.png", "y"),
  fc.stringMatching(/^[a-z0-9_ -]{1,8}\.(png|jpg)$/),
);

const folderCase: fc.Arbitrary<FolderCase> = fc.record({
  classes: fc.uniqueArray(
    fc.record({
      name: fc.oneof(fc.constantFrom("cat", "dog", ".git", "0", "a b"), fc.stringMatching(/^[a-z]{1,6}$/)),
      entries: fc.uniqueArray(
        fc.record({ kind: fc.constantFrom<Entry["kind"]>("image", "image", "image", "damaged", "text", "empty", "folder", ...ODD_FILES), name: entryName }),
        { maxLength: 4, selector: (e) => e.name.toLowerCase() },
      ),
    }),
    { maxLength: 3, selector: (c) => c.name },
  ),
  stray: fc.boolean(),
  onError: fc.constantFrom("throw" as const, "skip" as const),
  images: fc.array(imageCase, { minLength: 1, maxLength: 3 }),
  size: fc.integer({ min: 1, max: 6 }),
  seed: fc.nat(),
});

export const imageFolder: Target<FolderCase, s.ImageFolderDataset> = {
  name: "image-folder",
  arbitrary: folderCase,
  load: (c, dir) => {
    const root = join(dir, "data");
    mkdirSync(root);
    if (c.stray) writeFileSync(join(root, "README.png"), "not a class folder");
    let k = 0;
    for (const cls of c.classes) {
      const folder = join(root, cls.name);
      mkdirSync(folder);
      for (const e of cls.entries) {
        const path = join(folder, e.name);
        const im = c.images[k++ % c.images.length];
        if (e.kind === "image") writeFileSync(path, baseImage(im.kind, im.w, im.h, im.seed, im.colorType));
        else if (e.kind === "damaged") writeFileSync(path, editBytes(baseImage(im.kind, im.w, im.h, im.seed, im.colorType), im.bytes));
        else if (e.kind === "text") writeFileSync(path, "hello");
        else if (e.kind === "empty") writeFileSync(path, "");
        else if (e.kind === "folder") mkdirSync(path);
        else placeOdd(e.kind, path, dir, c.seed + k);
      }
    }
    return s.loadImageFolder(root, { size: c.size, onError: c.onError });
  },
  use: (data) => {
    if (data.length !== data.files.length || data.labels.some((l) => l < 0 || l >= data.classes.length)) throw new Error("labels and files disagree");
  },
};

// ---------------------------------------------------------------------------
// torch.save checkpoints

let baseTorch: Uint8Array[] | null = null;

function torchFiles(): Uint8Array[] {
  if (baseTorch) return baseTorch;
  const dir = join(FIXTURES, "torch");
  const fixtures = readdirSync(dir).filter((f) => f.endsWith(".pt")).sort().map((f) => new Uint8Array(readFileSync(join(dir, f))));
  const own = s.encodeTorchCheckpoint(new Map<string, s.SafetensorsEntry>([["fc.weight", s.Tensor.rand([3, 2], 4)], ["fc.bias", s.Tensor.rand([3], 5)]]));
  baseTorch = [own, ...fixtures.filter((b) => b.length < 64 * 1024)];
  return baseTorch;
}

interface TorchCase {
  base: number;
  bytes: ByteEdit[];
  odd: OddFile | null;
  seed: number;
}

/** Mostly damaged, sometimes intact (an intact file must load). */
const editsOrNone = fc.oneof({ weight: 1, arbitrary: fc.constant<ByteEdit[]>([]) }, { weight: 7, arbitrary: byteEdits });

const torchCase: fc.Arbitrary<TorchCase> = fc.record({
  base: fc.nat(),
  bytes: editsOrNone,
  odd: fc.option(oddFile, { freq: 8 }),
  seed: fc.nat(),
});

export const torch: Target<TorchCase, Map<string, s.SafetensorsEntry>> = {
  name: "torch",
  arbitrary: torchCase,
  load: (c, dir) => {
    const path = join(dir, "weights.pt");
    const bases = torchFiles();
    if (c.odd) placeOdd(c.odd, path, dir, c.seed);
    else writeFileSync(path, editBytes(bases[c.base % bases.length], c.bytes));
    return s.loadTorchCheckpoint(path);
  },
  use: (tensors) => {
    for (const entry of tensors.values()) s.toFloat32Tensor(entry);
  },
};

// ---------------------------------------------------------------------------
// ONNX models

let baseOnnx: Uint8Array[] | null = null;

function onnxFiles(): Uint8Array[] {
  if (baseOnnx) return baseOnnx;
  const dir = join(FIXTURES, "onnx");
  const fixtures = readdirSync(dir).filter((f) => f.endsWith(".onnx")).sort().map((f) => new Uint8Array(readFileSync(join(dir, f))));
  baseOnnx = fixtures.filter((b) => b.length < 64 * 1024);
  return baseOnnx;
}

interface OnnxCase {
  base: number;
  bytes: ByteEdit[];
  odd: OddFile | null;
  seed: number;
}

export const onnx: Target<OnnxCase, s.Layer> = {
  name: "onnx",
  arbitrary: fc.record({ base: fc.nat(), bytes: editsOrNone, odd: fc.option(oddFile, { freq: 8 }), seed: fc.nat() }),
  load: (c, dir) => {
    const path = join(dir, "model.onnx");
    const bases = onnxFiles();
    if (c.odd) placeOdd(c.odd, path, dir, c.seed);
    else writeFileSync(path, editBytes(bases[c.base % bases.length], c.bytes));
    return s.importOnnx(path);
  },
};
