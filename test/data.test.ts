import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { PNG } from "pngjs";
import jpeg from "jpeg-js";
import { Rng } from "../src/random.js";
import { Tensor } from "../src/tensor.js";
import { createDataset, subset, splitDataset, classCounts, batchTensor, parseIdx, encodeIdxUbyte, FASHION_MNIST_CLASSES, parseCifar10Batch, CIFAR10_CLASSES, resizeBilinear, computeNormalization, normalizeDataset, normalizeTensor, denormalizeTensor, checkNormalization, DataLoader, randomHorizontalFlip, compose, randomCrop, type Dataset } from "../src/data/index.js";
import { loadMnistDigits, mnistDigitsSplit } from "../src/node/mnist.js";
import { loadIdxDataset, loadFashionMnist, FASHION_MNIST_DIR, loadCifar10, loadImageFolder, loadImage, decodeImage } from "../src/node/data.js";

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, "..", "..", "test", "fixtures", "data");

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "stride-data-"));
}

/** A small dataset whose pixel values encode (example, position) so copies can be traced. */
function toyDataset(n: number, classes = 3, shape: [number, number, number] = [1, 2, 2]): Dataset {
  const size = shape[0] * shape[1] * shape[2];
  const images = new Float32Array(n * size);
  for (let i = 0; i < images.length; i++) images[i] = Math.floor(i / size) + (i % size) / 100;
  const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
  return createDataset({ name: "toy", images, labels, shape, classes: Array.from({ length: classes }, (_, c) => `c${c}`) });
}

describe("Dataset", () => {
  test("createDataset refuses parts that disagree", () => {
    assert.throws(
      () => createDataset({ name: "x", images: new Float32Array(7), labels: new Int32Array(2), shape: [1, 2, 2], classes: ["a"] }),
      /2 labels need 2 x 1x2x2 = 8 image values, but there are 7/,
    );
    assert.throws(
      () => createDataset({ name: "x", images: new Float32Array(4), labels: Int32Array.from([3]), shape: [1, 2, 2], classes: ["a", "b"] }),
      /label 3 of example 0 is outside \[0, 1\]/,
    );
  });

  test("subset copies the chosen examples in order", () => {
    const ds = toyDataset(10);
    const s = subset(ds, [7, 2]);
    assert.equal(s.length, 2);
    assert.deepEqual(Array.from(s.labels), [ds.labels[7], ds.labels[2]]);
    assert.equal(s.images[0], 7);
    assert.equal(s.images[4], 2);
    s.images[0] = -1;
    assert.equal(ds.images[7 * 4], 7, "a subset must not share memory with its dataset");
    assert.throws(() => subset(ds, [10]), /index 10 is outside \[0, 9\]/);
  });

  test("splitDataset is deterministic, disjoint, complete and stratified", () => {
    const ds = toyDataset(100, 4);
    const a = splitDataset(ds, 0.2, 7);
    const b = splitDataset(ds, 0.2, 7);
    const c = splitDataset(ds, 0.2, 8);
    assert.deepEqual(Array.from(a.testIndices), Array.from(b.testIndices));
    assert.notDeepEqual(Array.from(a.testIndices), Array.from(c.testIndices));
    assert.equal(a.test.length, 20);
    assert.equal(a.train.length, 80);
    const all = new Set([...a.trainIndices, ...a.testIndices]);
    assert.equal(all.size, 100, "the parts together hold every example exactly once");
    // Stratified: every class (25 examples each) gives 5 to the test part.
    assert.deepEqual(classCounts(a.test), [5, 5, 5, 5]);
    // The pixels of each part are the pixels of the examples it names.
    a.testIndices.forEach((idx, k) => assert.equal(a.test.images[k * 4], idx));
  });

  test("splitDataset takes a count, and a plain shuffle when not stratified", () => {
    const ds = toyDataset(30, 3);
    const s = splitDataset(ds, 7, 1, { stratify: false });
    assert.equal(s.test.length, 7);
    assert.equal(s.train.length, 23);
    const strat = splitDataset(ds, 7, 1);
    assert.equal(strat.test.length, 7);
    assert.equal(classCounts(strat.test).reduce((x, y) => x + y), 7);
    assert.ok(classCounts(strat.test).every((n) => n === 2 || n === 3));
    assert.throws(() => splitDataset(ds, 1.5, 0), /neither a fraction below 1 nor a whole number/);
    assert.throws(() => splitDataset(ds, 30, 0), /leaves an empty part/);
  });

  test("batchTensor stacks examples as [B, C, H, W]", () => {
    const ds = toyDataset(5, 2, [2, 1, 3]);
    const x = batchTensor(ds, [4, 0]);
    assert.deepEqual(x.shape, [2, 2, 1, 3]);
    assert.deepEqual(Array.from(x.data.subarray(0, 6)), Array.from(ds.images.subarray(24, 30)));
  });
});

describe("built-in MNIST digits", () => {
  test("10,000 real digits, 1x28x28 in [0, 1], every class present", () => {
    const ds = loadMnistDigits();
    assert.equal(ds.length, 10000);
    assert.deepEqual(ds.shape, [1, 28, 28]);
    assert.equal(ds.images.length, 10000 * 784);
    let min = Infinity;
    let max = -Infinity;
    for (const v of ds.images) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    assert.equal(min, 0);
    assert.ok(max > 0.99 && max <= 1);
    const counts = classCounts(ds);
    assert.ok(counts.every((n) => n > 800 && n < 1200), `class counts ${counts}`);
    // A digit has ink in the middle and none in the corners.
    const first = ds.images.subarray(0, 784);
    assert.equal(first[0], 0);
    assert.ok(first.reduce((s, v) => s + v, 0) > 20);
  });

  test("each load is a fresh copy", () => {
    const a = loadMnistDigits();
    a.images[500] = 123;
    assert.notEqual(loadMnistDigits().images[500], 123);
  });

  test("the split is the same every time, disjoint and 80/20", () => {
    const a = mnistDigitsSplit();
    const b = mnistDigitsSplit();
    assert.equal(a.train.length, 8000);
    assert.equal(a.test.length, 2000);
    assert.deepEqual(a.testIndices, b.testIndices);
    const test = new Set(a.testIndices);
    assert.ok(a.trainIndices.every((i) => !test.has(i)));
    assert.notDeepEqual(Array.from(mnistDigitsSplit({ seed: 1 }).testIndices), Array.from(a.testIndices));
  });
});

describe("IDX", () => {
  const pixels = Uint8Array.from({ length: 3 * 2 * 2 }, (_, i) => i * 20);
  const labelBytes = Uint8Array.from([2, 0, 9]);

  test("reads plain and gzipped files alike", () => {
    const dir = tempDir();
    const img = encodeIdxUbyte([3, 2, 2], pixels);
    writeFileSync(join(dir, "img"), img);
    writeFileSync(join(dir, "img.gz"), gzipSync(img));
    writeFileSync(join(dir, "lab"), encodeIdxUbyte([3], labelBytes, { gzip: true }));
    for (const name of ["img", "img.gz"]) {
      const ds = loadIdxDataset(join(dir, name), join(dir, "lab"));
      assert.deepEqual(ds.shape, [1, 2, 2]);
      assert.deepEqual(Array.from(ds.labels), [2, 0, 9]);
      assert.equal(ds.images[5], Math.fround((5 * 20) / 255));
    }
  });

  test("a truncated file names the file, the claim and what is there", () => {
    const bytes = encodeIdxUbyte([3, 2, 2], pixels).subarray(0, 16 + 10);
    assert.throws(() => parseIdx(bytes, "train-images"), (e: Error) => {
      assert.match(e.message, /^train-images: /);
      assert.match(e.message, /claims dimensions \[3, 2, 2\] of ubyte = 12 bytes/);
      assert.match(e.message, /but 10 bytes are there \(the file is truncated\)/);
      return true;
    });
    const gz = gzipSync(encodeIdxUbyte([3, 2, 2], pixels));
    assert.throws(() => parseIdx(gz.subarray(0, gz.length - 6), "x.gz"), /x.gz: is gzip-compressed but cannot be decompressed/);
  });

  test("every header field is checked", () => {
    const good = encodeIdxUbyte([3, 2, 2], pixels);
    const badMagic = good.slice();
    badMagic[0] = 8;
    assert.throws(() => parseIdx(badMagic, "f"), /magic number: the first two bytes must be 0x00 0x00, found 0x08 0x00/);
    const badType = good.slice();
    badType[2] = 0x07;
    assert.throws(() => parseIdx(badType, "f"), /dtype byte 0x07 is not an IDX type/);
    const badRank = good.slice();
    badRank[3] = 9;
    assert.throws(() => parseIdx(badRank, "f"), /claims 9 dimensions, which need a 40-byte header, but the file has only 28 bytes/);
    assert.throws(() => parseIdx(good.slice(0, 3), "f"), /shorter than the 4-byte IDX magic number/);
    const extra = new Uint8Array(good.length + 2);
    extra.set(good);
    assert.throws(() => parseIdx(extra, "f"), /extra bytes at the end/);
  });

  test("image and label files must agree, labels must be in range", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "img"), encodeIdxUbyte([3, 2, 2], pixels));
    writeFileSync(join(dir, "lab2"), encodeIdxUbyte([2], labelBytes.subarray(0, 2)));
    writeFileSync(join(dir, "lab"), encodeIdxUbyte([3], labelBytes));
    assert.throws(() => loadIdxDataset(join(dir, "img"), join(dir, "lab2")), /lab2: count: holds 2 labels but .*img holds 3 images/);
    assert.throws(
      () => loadIdxDataset(join(dir, "img"), join(dir, "lab"), { classes: ["a", "b", "c"] }),
      /lab: labels: label 9 of example 2 is out of range; there are 3 classes/,
    );
    assert.throws(() => loadIdxDataset(join(dir, "lab"), join(dir, "lab")), /images must have 3 dimensions/);
  });

  test("Fashion-MNIST from Debian's package", { skip: !existsSync(FASHION_MNIST_DIR) && "not installed" }, () => {
    const ds = loadFashionMnist({ split: "test" });
    assert.equal(ds.length, 10000);
    assert.deepEqual(ds.shape, [1, 28, 28]);
    assert.deepEqual(ds.classes, FASHION_MNIST_CLASSES);
    assert.deepEqual(classCounts(ds), new Array(10).fill(1000));
  });
});

describe("CIFAR-10", () => {
  function record(label: number, fill: (c: number, y: number, x: number) => number): Uint8Array {
    const r = new Uint8Array(3073);
    r[0] = label;
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) r[1 + c * 1024 + y * 32 + x] = fill(c, y, x);
    return r;
  }

  test("records become CHW images with their labels", () => {
    const bytes = new Uint8Array(2 * 3073);
    bytes.set(record(3, (c, y, x) => (c * 50 + y + x) % 256), 0);
    bytes.set(record(9, () => 255), 3073);
    const { images, labels } = parseCifar10Batch(bytes);
    assert.deepEqual(Array.from(labels), [3, 9]);
    assert.equal(images[2 * 1024 + 5 * 32 + 7], Math.fround((100 + 12) / 255)); // channel 2, y 5, x 7
    assert.equal(images[3072 + 100], 1);
  });

  test("a length that is not whole records, or a bad label, is refused", () => {
    assert.throws(() => parseCifar10Batch(new Uint8Array(3073 + 5), 10, "b.bin"), /b.bin: length 3078 bytes is not a multiple of the 3073-byte record.*1 whole record\(s\) and 5 bytes left over/);
    const bad = new Uint8Array(2 * 3073);
    bad[3073] = 10;
    assert.throws(() => parseCifar10Batch(bad, 10, "b.bin"), /record 1 \(byte 3073\) has label 10, out of range for 10 classes/);
  });

  test("loadCifar10 reads the batch files and the names in batches.meta.txt", () => {
    const dir = tempDir();
    for (let i = 1; i <= 5; i++) writeFileSync(join(dir, `data_batch_${i}.bin`), record(i, () => i));
    writeFileSync(join(dir, "test_batch.bin"), record(0, () => 0));
    writeFileSync(join(dir, "batches.meta.txt"), CIFAR10_CLASSES.map((c) => c.toUpperCase()).join("\n") + "\n\n");
    const train = loadCifar10({ dir });
    assert.equal(train.length, 5);
    assert.deepEqual(Array.from(train.labels), [1, 2, 3, 4, 5]);
    assert.equal(train.classes[9], "TRUCK");
    assert.deepEqual(train.shape, [3, 32, 32]);
    assert.equal(loadCifar10({ dir, split: "test" }).length, 1);
    assert.throws(() => loadCifar10({ dir: join(dir, "nope") }), /data_batch_1.bin.* not found/);
  });
});

describe("image folders", () => {
  test("bilinear resize matches PyTorch's F.interpolate (align_corners=False)", () => {
    const golden = JSON.parse(readFileSync(join(fixtures, "bilinear.json"), "utf8"));
    const [c, h, w] = golden.shape;
    const input = Float32Array.from(golden.input);
    for (const { size, output } of golden.cases) {
      const got = resizeBilinear(input, c, h, w, size[0], size[1]);
      assert.equal(got.length, output.length);
      got.forEach((v, i) => assert.ok(Math.abs(v - output[i]) < 1e-6, `size ${size} at ${i}: ${v} vs ${output[i]}`));
    }
  });

  function writePng(path: string, w: number, h: number, rgba: (x: number, y: number) => [number, number, number, number]): void {
    const png = new PNG({ width: w, height: h });
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) png.data.set(rgba(x, y), 4 * (y * w + x));
    writeFileSync(path, PNG.sync.write(png));
  }

  test("sub-folders are classes; PNG and JPEG decoded, resized, converted", () => {
    const root = tempDir();
    mkdirSync(join(root, "cat"));
    mkdirSync(join(root, "dog"));
    writePng(join(root, "cat", "a.png"), 4, 4, () => [255, 0, 0, 10]);
    writePng(join(root, "cat", "b.png"), 8, 2, (x) => [0, x < 4 ? 0 : 255, 0, 255]);
    const jpg = jpeg.encode({ width: 8, height: 8, data: new Uint8Array(8 * 8 * 4).fill(200) }, 95);
    writeFileSync(join(root, "dog", "c.jpg"), jpg.data);
    writeFileSync(join(root, "dog", "notes.txt"), "ignored");
    const ds = loadImageFolder(root, { size: 4, channels: 3 });
    assert.deepEqual(ds.classes, ["cat", "dog"]);
    assert.deepEqual(Array.from(ds.labels), [0, 0, 1]);
    assert.deepEqual(ds.shape, [3, 4, 4]);
    // Red PNG, alpha dropped (not blended): R = 1, G = B = 0.
    assert.equal(ds.images[0], 1);
    assert.equal(ds.images[16], 0);
    // The 8x2 image stretched to 4x4: left half green 0, right half green 1.
    const b = ds.images.subarray(48, 96);
    assert.equal(b[16 + 0], 0);
    assert.equal(b[16 + 3], 1);
    // JPEG grey 200 (lossy, but flat).
    assert.ok(Math.abs(ds.images[96] - 200 / 255) < 3 / 255);
    const grey = loadImageFolder(root, { size: [2, 3], channels: 1 });
    assert.deepEqual(grey.shape, [1, 2, 3]);
    assert.ok(Math.abs(grey.images[0] - 0.299) < 1e-6, "red as grey is its luma weight 0.299");
  });

  test("an unreadable file is reported with its path, or skipped on request", () => {
    const root = tempDir();
    mkdirSync(join(root, "a"));
    writePng(join(root, "a", "good.png"), 2, 2, () => [0, 0, 0, 255]);
    writeFileSync(join(root, "a", "bad.png"), "this is not an image");
    const badPath = join(root, "a", "bad.png");
    assert.throws(() => loadImageFolder(root, { size: 2 }), (e: Error) => e.message.startsWith(badPath) && /neither a PNG nor a JPEG/.test(e.message));
    const ds = loadImageFolder(root, { size: 2, onError: "skip" });
    assert.equal(ds.length, 1);
    assert.equal(ds.skipped.length, 1);
    assert.equal(ds.skipped[0].path, badPath);
    const truncated = PNG.sync.write(new PNG({ width: 5, height: 5 })).subarray(0, 40);
    assert.throws(() => decodeImage(truncated, "t.png"), /t.png: cannot be decoded as PNG/);
  });

  test("loadImage gives a [1, C, H, W] tensor", () => {
    const root = tempDir();
    writePng(join(root, "x.png"), 6, 3, (x, y) => [x * 40, y * 100, 0, 255]);
    const x = loadImage(join(root, "x.png"), { channels: 3 });
    assert.deepEqual(x.shape, [1, 3, 3, 6]);
    assert.equal(x.get(0, 0, 2, 5), Math.fround(200 / 255));
    assert.equal(x.get(0, 1, 2, 5), Math.fround(200 / 255));
    const covered = loadImage(join(root, "x.png"), { size: 3, channels: 1, fit: "cover" });
    assert.deepEqual(covered.shape, [1, 1, 3, 3]);
    assert.throws(() => loadImage(join(root, "missing.png")), /missing.png: cannot be read/);
  });
});

describe("normalisation", () => {
  test("per-channel statistics, applied and undone", () => {
    const images = new Float32Array(2 * 2 * 4);
    // Channel 0 holds 0..7 over the two examples, channel 1 is constant 5.
    const ch0 = [0, 1, 2, 3, 4, 5, 6, 7];
    for (let n = 0; n < 2; n++) for (let p = 0; p < 4; p++) {
      images[n * 8 + p] = ch0[n * 4 + p];
      images[n * 8 + 4 + p] = 5;
    }
    const original = images.slice();
    const ds = createDataset({ name: "n", images, labels: new Int32Array(2), shape: [2, 2, 2], classes: ["a"] });
    const norm = computeNormalization(ds);
    assert.equal(norm.mean[0], 3.5);
    assert.ok(Math.abs(norm.std[0] - Math.sqrt(5.25)) < 1e-12);
    assert.deepEqual([norm.mean[1], norm.std[1]], [5, 1], "a constant channel is centred, not divided by zero");
    const restored = checkNormalization(JSON.parse(JSON.stringify(norm)), 2);
    const x = batchTensor(ds, [0, 1]);
    normalizeTensor(x, restored);
    normalizeDataset(ds, restored);
    assert.deepEqual(Array.from(x.data), Array.from(ds.images));
    const again = computeNormalization(ds);
    assert.ok(Math.abs(again.mean[0]) < 1e-6 && Math.abs(again.std[0] - 1) < 1e-6);
    denormalizeTensor(x, restored);
    x.data.forEach((v, i) => assert.ok(Math.abs(v - original[i]) < 1e-5, `denormalised value ${i}: ${v} vs ${original[i]}`));
    assert.throws(() => normalizeTensor(new Tensor([1, 3, 2, 2]), restored), /for 2 channel\(s\) but the images have 3/);
    assert.throws(() => checkNormalization({ mean: [0], std: [0] }), /must be positive/);
  });
});

describe("DataLoader", () => {
  const ds = toyDataset(10, 3);

  function epochOrder(loader: DataLoader): number[] {
    const out: number[] = [];
    for (const b of loader) out.push(...b.indices);
    return out;
  }

  test("batches cover the dataset once per epoch, with matching labels and pixels", () => {
    const loader = new DataLoader(ds, { batchSize: 4, shuffle: true, seed: 3 });
    assert.equal(loader.length, 3);
    const sizes: number[] = [];
    const seen: number[] = [];
    for (const { x, labels, indices } of loader) {
      sizes.push(x.shape[0]);
      assert.deepEqual(x.shape.slice(1), [1, 2, 2]);
      indices.forEach((idx, k) => {
        assert.equal(labels[k], ds.labels[idx]);
        assert.equal(x.data[k * 4], idx);
      });
      seen.push(...indices);
    }
    assert.deepEqual(sizes, [4, 4, 2]);
    assert.deepEqual(seen.slice().sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(loader.epoch, 1);
    assert.notDeepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "shuffled");
  });

  test("the same seed gives the same order; epochs differ; no shuffle keeps dataset order", () => {
    const a = new DataLoader(ds, { batchSize: 3, shuffle: true, seed: 11 });
    const b = new DataLoader(ds, { batchSize: 3, shuffle: true, rng: new Rng(11) });
    const a1 = epochOrder(a);
    assert.deepEqual(a1, epochOrder(b));
    const a2 = epochOrder(a);
    assert.notDeepEqual(a1, a2);
    assert.deepEqual(a2, epochOrder(b));
    assert.deepEqual(epochOrder(new DataLoader(ds, { batchSize: 4 })), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test("dropLast leaves out the short batch", () => {
    const loader = new DataLoader(ds, { batchSize: 4, dropLast: true });
    assert.equal(loader.length, 2);
    assert.deepEqual([...loader].map((b) => b.x.shape[0]), [4, 4]);
  });

  test("a resumed loader continues the same sequence, mid-epoch and across epochs, augmentation included", () => {
    const flip = compose(randomHorizontalFlip(), randomCrop({ size: 2, padding: 1 }));
    const make = () => new DataLoader(ds, { batchSize: 3, shuffle: true, seed: 5, augment: flip });
    const reference = make();
    const batches: { x: number[]; idx: number[] }[] = [];
    for (let e = 0; e < 3; e++) for (const b of reference) batches.push({ x: Array.from(b.x.data), idx: Array.from(b.indices) });

    const first = make();
    let taken = 0;
    let saved = "";
    outer: for (let e = 0; e < 3; e++) {
      for (const b of first) {
        assert.deepEqual(Array.from(b.x.data), batches[taken].x);
        taken++;
        if (taken === 6) {
          saved = JSON.stringify(first.getState());
          break outer;
        }
      }
    }
    assert.equal(JSON.parse(saved).epoch, 1);
    assert.equal(JSON.parse(saved).batch, 2);
    const resumed = make();
    resumed.setState(JSON.parse(saved));
    const rest: { x: number[]; idx: number[] }[] = [];
    while (resumed.epoch < 3) for (const b of resumed) rest.push({ x: Array.from(b.x.data), idx: Array.from(b.indices) });
    assert.deepEqual(rest, batches.slice(6));
  });

  test("stopping right after the last batch still moves to the next epoch", () => {
    const loader = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 2 });
    const twin = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 2 });
    let n = 0;
    for (const _ of loader) if (++n === 2) break;
    assert.equal(loader.epoch, 1);
    const state = loader.getState();
    assert.deepEqual([state.epoch, state.batch], [1, 0]);
    epochOrder(twin);
    assert.deepEqual(epochOrder(loader), epochOrder(twin));
  });

  test("endEpoch skips the rest of an epoch without changing what follows", () => {
    const capped = new DataLoader(ds, { batchSize: 3, shuffle: true, seed: 4 });
    const full = new DataLoader(ds, { batchSize: 3, shuffle: true, seed: 4 });
    for (const _ of capped) break;
    capped.endEpoch();
    epochOrder(full);
    assert.equal(capped.epoch, 1);
    assert.deepEqual(epochOrder(capped), epochOrder(full));
  });

  test("normalisation is applied to the batch, bad options are refused", () => {
    const loader = new DataLoader(ds, { batchSize: 10, normalize: { mean: [1], std: [2] } });
    const [batch] = [...loader];
    assert.equal(batch.x.data[4], (1 - 1) / 2);
    assert.throws(() => new DataLoader(ds, { batchSize: 0 }), /batchSize = 0 must be a whole number >= 1/);
    assert.throws(() => new DataLoader(ds, { seed: 1, rng: new Rng(1) }), /either rng or seed/);
  });
});
