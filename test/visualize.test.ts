/**
 * The pictures of src/viz (the page's and `stride visualize`'s): per-slice
 * normalisation, the grid layout pixel by pixel, vectors and RGB filters, the
 * layer-by-layer trace against the model's own forward pass, and the command.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { Tensor, Sequential, Flatten, Linear, saveModel, Rng } from "../src/index.js";
import { buildModel } from "../src/cli/models.js";
import { flattenModel } from "../src/models/summary.js";
import { normalizeSlice, renderVolume, renderFilters, volumeSlices } from "../src/viz/render.js";
import { traceActivations } from "../src/viz/activations.js";
import { firstConvWeights } from "../src/viz/filters.js";
import { visualizeCommand, fileNameOf } from "../src/cli/commands/visualize.js";

const BG = [60, 60, 60, 255];

function pixel(img: { width: number; data: Uint8ClampedArray | Uint8Array }, x: number, y: number): number[] {
  const at = (y * img.width + x) * 4;
  return [...img.data.subarray(at, at + 4)];
}

test("each slice is stretched to 0..255 on its own; flat slices are black (zero) or grey; empty cells stay empty", () => {
  assert.deepEqual([...normalizeSlice(new Float32Array([0, 1, 2, 3]))], [0, 85, 170, 255]);
  assert.deepEqual([...normalizeSlice(new Float32Array([-2, 6]))], [0, 255]);
  assert.deepEqual([...normalizeSlice(new Float32Array([0, 0, 0]))], [0, 0, 0]);
  assert.deepEqual([...normalizeSlice(new Float32Array([5, 5]))], [128, 128]);
  const withHole = normalizeSlice(new Float32Array([1, NaN, 3]));
  assert.equal(withHole[0], 0);
  assert.ok(Number.isNaN(withHole[1]));
  assert.equal(withHole[2], 255);
});

test("a volume's depth slices are laid out in rows: cell size, gaps, scaling and per-slice range", () => {
  // 5 slices of 3x4, scale 2, gap 1, 2 per row: 3 rows of 8x6 cells.
  const c = 5, h = 3, w = 4;
  const values = new Float32Array(c * h * w);
  for (let s = 0; s < c; s++) for (let i = 0; i < h * w; i++) values[s * h * w + i] = (s + 1) * 1000 * i; // each slice a different scale
  const img = renderVolume(values, [c, h, w], { scale: 2, gap: 1, columns: 2 });
  assert.equal(img.width, 1 + 2 * (8 + 1));
  assert.equal(img.height, 1 + 3 * (6 + 1));
  assert.equal(img.data.length, img.width * img.height * 4);
  // Slice 3 sits in column 1, row 1: its top-left cell starts at (1 + 9, 1 + 7) and is its minimum (black)…
  assert.deepEqual(pixel(img, 10, 8), [0, 0, 0, 255]);
  assert.deepEqual(pixel(img, 11, 9), [0, 0, 0, 255]);
  // …its last value (row 2, column 3) is its maximum: white over a 2x2 block ending at (10 + 7, 8 + 5).
  assert.deepEqual(pixel(img, 17, 13), [255, 255, 255, 255]);
  assert.deepEqual(pixel(img, 16, 12), [255, 255, 255, 255]);
  // Gaps and the empty sixth cell are background.
  assert.deepEqual(pixel(img, 9, 8), BG);
  assert.deepEqual(pixel(img, 0, 0), BG);
  assert.deepEqual(pixel(img, 12, 17), BG);
  // Every slice has the same pattern, so after per-slice normalisation slice 0 and slice 4 look the same.
  for (let y = 0; y < 6; y++) for (let x = 0; x < 8; x++) assert.deepEqual(pixel(img, 1 + x, 1 + y), pixel(img, 1 + x, 15 + y));
});

test("as many slices per row as fit in maxWidth; vectors wrap at 32 values with 6-pixel cells", () => {
  const img = renderVolume(new Float32Array(10 * 4 * 4), [10, 4, 4], { scale: 1, gap: 2, maxWidth: 20 });
  // Cells are 4 wide plus a gap of 2: (20 - 2) / 6 = 3 per row, 4 rows.
  assert.equal(img.width, 2 + 3 * 6);
  assert.equal(img.height, 2 + 4 * 6);
  const v = new Float32Array(40).map((_, i) => i);
  const slices = volumeSlices(v, [40]);
  assert.equal(slices.length, 1);
  assert.equal(slices[0].width, 32);
  assert.equal(slices[0].height, 2);
  const vec = renderVolume(v, [40], { gap: 0 });
  assert.equal(vec.width, 32 * 6);
  assert.equal(vec.height, 2 * 6);
  assert.deepEqual(pixel(vec, 0, 0), [0, 0, 0, 255]); // value 0, the minimum
  assert.deepEqual(pixel(vec, 7 * 6, 6), [255, 255, 255, 255]); // value 39 (row 1, column 7), the maximum
  assert.deepEqual(pixel(vec, 8 * 6, 6), BG); // past the 40th value: empty
  assert.throws(() => renderVolume(new Float32Array(6), [1, 2, 3, 1]), /cannot draw a volume of shape \[1, 2, 3, 1\]/);
  assert.throws(() => renderVolume(new Float32Array(5), [2, 3]), /holds 6 values but 5 were given/);
});

test("filters: RGB images when they see 3 channels, a row of grey slices per filter otherwise", () => {
  // Two 1x1 RGB filters: the first all red, the second all blue (values normalised over the filter's three planes).
  const rgb = renderFilters(new Float32Array([1, 0, 0, 0, 0, 1]), [2, 3, 1, 1], { scale: 1, gap: 0, columns: 2 });
  assert.equal(rgb.width, 2);
  assert.deepEqual(pixel(rgb, 0, 0), [255, 0, 0, 255]);
  assert.deepEqual(pixel(rgb, 1, 0), [0, 0, 255, 255]);
  // Four filters over 2 input channels, 3x3: a row of 2 slices per filter.
  const grey = renderFilters(new Float32Array(4 * 2 * 9).map((_, i) => Math.sin(i)), [4, 2, 3, 3], { scale: 2, gap: 1 });
  assert.equal(grey.width, 1 + 2 * (6 + 1));
  assert.equal(grey.height, 1 + 4 * (6 + 1));
  assert.throws(() => renderFilters(new Float32Array(4), [4]), /not a convolution's/);
});

test("the trace runs every leaf layer once, in order, and ends where the model's forward pass does", () => {
  const rng = new Rng(3);
  for (const name of ["lenet5", "resnet8"]) {
    const model = buildModel(name, { numClasses: 10, inputShape: [1, 28, 28], seed: 1, width: name === "resnet8" ? 0.25 : 1 });
    const x = new Tensor([1, 28, 28], Float32Array.from({ length: 784 }, () => rng.uniform()));
    const trace = traceActivations(model, x, [1, 28, 28]);
    const flat = flattenModel(model, [1, 1, 28, 28]);
    assert.deepEqual(trace.layers.map((l) => l.name), flat.nodes.map((n) => n.name), name);
    trace.layers.forEach((l, i) => assert.deepEqual(l.shape, flat.nodes[i].outputShape.slice(1), `${name} ${l.name}`));
    const y = model.forward(x.reshape([1, 1, 28, 28]), { noGrad: true });
    assert.equal(trace.scores.length, 10);
    trace.scores.forEach((v, i) => assert.ok(Math.abs(v - y.data[i]) <= 1e-5 * Math.max(1, Math.abs(y.data[i])), `${name} score ${i}: ${v} vs ${y.data[i]}`));
  }
  const lenet = buildModel("lenet5", { numClasses: 10, inputShape: [1, 28, 28], seed: 1 });
  assert.throws(() => traceActivations(lenet, new Tensor([1, 32, 32]), [1, 28, 28]), /takes \[1, 28, 28\] but the input is \[1, 32, 32\]/);
  assert.throws(() => traceActivations(lenet, new Tensor([2, 1, 28, 28]), [1, 28, 28]), /give one example/);
});

test("firstConvWeights finds the first convolution, and nothing in a model without one", () => {
  const lenet = buildModel("lenet5", { numClasses: 10, inputShape: [1, 28, 28], seed: 1 });
  const w = firstConvWeights(lenet)!;
  assert.equal(w.layer, "c1");
  assert.deepEqual(w.shape, [6, 1, 5, 5]);
  assert.equal(w.values.length, 150);
  assert.equal(firstConvWeights(new Sequential([new Flatten(), new Linear({ inFeatures: 4, outFeatures: 2 })])), null);
});

test("stride visualize writes the input, one PNG per layer and the first layer's filters, and prints the top-5", async () => {
  const dir = mkdtempSync(join(tmpdir(), "stride-viz-"));
  try {
    const model = buildModel("lenet5", { numClasses: 10, inputShape: [1, 28, 28], seed: 4 });
    const classes = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
    saveModel(model, join(dir, "model"), { inputShape: [1, 28, 28], classes, normalization: { mean: [0.13], std: [0.31] } });
    const png = new PNG({ width: 28, height: 28 });
    for (let i = 0; i < 784; i++) png.data.set(i % 28 > 10 && i % 28 < 16 ? [255, 255, 255, 255] : [0, 0, 0, 255], i * 4);
    writeFileSync(join(dir, "bar.png"), PNG.sync.write(png));

    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t) };
    const code = await visualizeCommand([join(dir, "model"), join(dir, "bar.png"), "--out", join(dir, "pictures")], io);
    assert.equal(code, 0, err.join("\n"));
    const layers = flattenModel(model, [1, 1, 28, 28]).nodes;
    const files = readdirSync(join(dir, "pictures", "activations")).sort();
    assert.deepEqual(files, layers.map((n, i) => fileNameOf(i, n.name, layers.length)));
    assert.equal(files[0], "01-c1.png");
    assert.ok(existsSync(join(dir, "pictures", "input.png")));
    // The first conv volume: 6 slices of 28x28, each normalised, as renderVolume lays them out.
    const c1 = PNG.sync.read(readFileSync(join(dir, "pictures", "activations", files[0])));
    const expected = renderVolume(new Float32Array(6 * 28 * 28), [6, 28, 28]);
    assert.equal(c1.width, expected.width);
    assert.equal(c1.height, expected.height);
    const filters = PNG.sync.read(readFileSync(join(dir, "pictures", "filters-c1.png")));
    assert.equal(filters.width, renderFilters(new Float32Array(150), [6, 1, 5, 5]).width);
    assert.match(out[0], /bar\.png: (zero|one|two|three|four|five|six|seven|eight|nine) \d+\.\d%(, \w+ \d+\.\d%){4}$/);

    // Clear errors, never a stack trace.
    const fail = async (args: string[], pattern: RegExp) => {
      err.length = 0;
      assert.equal(await visualizeCommand(args, io), 2, `${args.join(" ")} should fail`);
      assert.match(err.join("\n"), pattern);
    };
    await fail([join(dir, "model"), join(dir, "bar.png")], /--out DIR is required/);
    await fail([join(dir, "model"), "--out", join(dir, "x")], /give a saved model's folder and one image/);
    await fail([join(dir, "nowhere"), join(dir, "bar.png"), "--out", join(dir, "x")], /does not exist/);
    await fail([join(dir, "model"), join(dir, "missing.png"), "--out", join(dir, "x")], /missing\.png: cannot be read/);
    await fail([join(dir, "model"), join(dir, "bar.png"), "--out", join(dir, "x"), "--scale", "0"], /--scale 0 is not valid/);
    await fail([join(dir, "model"), join(dir, "bar.png"), "--out", join(dir, "x"), "--colour"], /Unknown option '--colour'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
