/**
 * What the browser app's teaching views compute, without a browser: the
 * notes' convolution demo (every cell's sum agrees with Conv2d), its im2col
 * form, the filters of every conv layer, the dark-on-light detection the
 * app and `stride predict` use (through predict itself, in a child process),
 * and the numbers on the app's chart axes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PNG } from "pngjs";
import {
  convolutionDemo, demoCell, demoCellCount, demoIm2col, convWeights, firstConvWeights, imagePolarity, invertPixels, INVERTED_NOTE,
  StrideError, Sequential, Flatten, Linear, saveModel, loadModelWithInfo, loadImage, predict, mnistDigitsSplit, MNIST_CLASSES,
} from "../src/index.js";
import { buildModel } from "../src/cli/models.js";
// The page's axis arithmetic is plain TypeScript without the DOM, so it is tested here.
import { wholeTicks, logAxis, tickLabel } from "../web/src/axes.js";

test("the convolution demo has the notes' geometry: 5x5x3 input padded to 7x7x3, two 3x3x3 filters, biases 1 and 0, a 3x3x2 output", () => {
  const d = convolutionDemo(1);
  assert.deepEqual([d.input.length, d.input[0].length, d.input[0][0].length], [3, 5, 5]);
  assert.deepEqual([d.padded.length, d.padded[0].length, d.padded[0][0].length], [3, 7, 7]);
  assert.deepEqual([d.weights.length, d.weights[0].length, d.weights[0][0].length, d.weights[0][0][0].length], [2, 3, 3, 3]);
  assert.deepEqual(d.biases, [1, 0]);
  assert.deepEqual([d.output.length, d.output[0].length, d.output[0][0].length], [2, 3, 3]);
  assert.equal(demoCellCount(d), 18);
  // Small integers as in the notes: inputs 0..2, weights -1..1; the border is zeros, the inside the input.
  assert.ok(d.input.flat(2).every((v) => Number.isInteger(v) && v >= 0 && v <= 2));
  assert.ok(d.weights.flat(3).every((v) => Number.isInteger(v) && v >= -1 && v <= 1));
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < 7; y++) {
      for (let x = 0; x < 7; x++) {
        const inside = y >= 1 && y <= 5 && x >= 1 && x <= 5;
        assert.equal(d.padded[c][y][x], inside ? d.input[c][y - 1][x - 1] : 0, `padded[${c}][${y}][${x}]`);
      }
    }
  }
  // The seed fixes the numbers; another seed gives others.
  assert.deepEqual(convolutionDemo(1), d);
  assert.notDeepEqual(convolutionDemo(2).input, d.input);
});

test("every output cell's written-out sum equals what Conv2d computed for it", () => {
  const d = convolutionDemo(1);
  for (let index = 0; index < demoCellCount(d); index++) {
    const cell = demoCell(d, index);
    assert.equal(cell.filter, Math.floor(index / 9));
    assert.deepEqual([cell.top, cell.left], [2 * cell.row, 2 * cell.col], "stride 2 moves the window two cells");
    // The products summed here, independently of the layer, give the layer's output.
    let sum = d.biases[cell.filter];
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 3; j++) sum += d.padded[c][cell.top + i][cell.left + j] * d.weights[cell.filter][c][i][j];
      }
    }
    assert.equal(cell.value, sum, `cell ${index}: Conv2d gave ${cell.value}, the sum of products is ${sum}`);
    assert.equal(cell.channelSums.reduce((a, b) => a + b, cell.bias), cell.value);
    assert.ok(cell.sumText.startsWith("x·w (channel 0) + x·w (channel 1) + x·w (channel 2) + b = "), cell.sumText);
    assert.ok(cell.sumText.endsWith(` = ${cell.value}`), cell.sumText);
    assert.equal(cell.productLines.length, 3);
    cell.productLines.forEach((line, c) => {
      assert.ok(line.startsWith(`channel ${c}: `) && line.endsWith(` = ${cell.channelSums[c]}`), line);
      assert.equal(line.split(" + ").length, 9, `nine products in: ${line}`);
    });
  }
  assert.throws(() => demoCell(d, 18), (e: unknown) => e instanceof StrideError && /cell 18 does not exist; the demo has 18 output cells, 0 to 17/.test(e.message));
  assert.throws(() => convolutionDemo(0.5), StrideError);
});

test("im2col: a 27x9 matrix of stretched windows times the 2x27 filter rows, plus b, is the 3x3x2 output", () => {
  const d = convolutionDemo(3);
  const m = demoIm2col(d);
  assert.equal(m.filterRows.length, 2);
  assert.ok(m.filterRows.every((r) => r.length === 27));
  assert.equal(m.columns.length, 27);
  assert.ok(m.columns.every((r) => r.length === 9));
  for (let p = 0; p < 9; p++) {
    // Column p is output position p's receptive field, channel by channel, row by row.
    const cell = demoCell(d, p);
    assert.deepEqual(m.columns.map((r) => r[p]), cell.window.flat(2), `column ${p}`);
  }
  assert.deepEqual(m.product, d.output.map((slice) => slice.flat()));
});

test("convWeights lists every convolution in model order; firstConvWeights is its first", () => {
  const lenet = buildModel("lenet5", { numClasses: 10, inputShape: [1, 28, 28], seed: 1 });
  const all = convWeights(lenet);
  assert.ok(all.length >= 2, `LeNet-5 has ${all.length} conv layers`);
  assert.deepEqual(all[0], firstConvWeights(lenet));
  for (const w of all) assert.equal(w.values.length, w.shape.reduce((a, b) => a * b, 1), w.layer);
  // The second layer sees the first's channels.
  assert.equal(all[1].shape[1], all[0].shape[0]);
  assert.deepEqual(convWeights(new Sequential([new Flatten(), new Linear({ inFeatures: 4, outFeatures: 2 })])), []);
});

test("imagePolarity tells a dark-on-light digit from MNIST's light-on-dark one by its border", () => {
  const { test: digits } = mnistDigitsSplit({ seed: 1 });
  for (const i of [0, 1, 2, 3]) {
    const digit = digits.images.slice(i * 784, (i + 1) * 784);
    const light = imagePolarity(digit, 28, 28);
    assert.equal(light.darkOnLight, false, `test digit ${i}: border mean ${light.borderMean}`);
    const dark = imagePolarity(invertPixels(digit), 28, 28);
    assert.equal(dark.darkOnLight, true, `inverted test digit ${i}: border mean ${dark.borderMean}`);
    assert.ok(Math.abs(dark.borderMean - (1 - light.borderMean)) < 1e-6);
  }
  // A light stroke touching the edge does not make a black background light.
  const edge = new Float32Array(28 * 28);
  for (let y = 0; y < 28; y++) edge[y * 28 + 14] = 1;
  assert.equal(imagePolarity(edge, 28, 28).darkOnLight, false);
  assert.throws(() => imagePolarity(new Float32Array(10), 28, 28), (e: unknown) => e instanceof StrideError && /784 pixels, but 10 were given/.test(e.message));
});

test("stride predict inverts a dark-on-light digit for a grey model and says so; --no-invert reads it as it is", () => {
  const work = mkdtempSync(join(tmpdir(), "stride-invert-"));
  try {
    const modelDir = join(work, "lenet");
    const net = buildModel("lenet5", { numClasses: 10, inputShape: [1, 28, 28], seed: 3 });
    saveModel(net, modelDir, { inputShape: [1, 28, 28], classes: MNIST_CLASSES.slice(), extra: { model: "lenet5" } });
    const { test: digits } = mnistDigitsSplit({ seed: 1 });
    const write = (file: string, invert: boolean) => {
      const png = new PNG({ width: 28, height: 28 });
      for (let i = 0; i < 784; i++) {
        const v = Math.round(digits.images[784 * 5 + i] * 255);
        const g = invert ? 255 - v : v;
        png.data.set([g, g, g, 255], 4 * i);
      }
      writeFileSync(file, PNG.sync.write(png));
    };
    const original = join(work, "light-on-dark.png");
    const flipped = join(work, "dark-on-light.png");
    write(original, false);
    write(flipped, true);
    const stride = (...args: string[]) => spawnSync(process.execPath, [fileURLToPath(new URL("../../bin/stride.js", import.meta.url)), ...args], { encoding: "utf8" });
    const labels = (stdout: string, file: string) => stdout.trim().slice(file.length + 2).split(", ").map((e) => e.split(" ")[0]);
    const { model, info } = loadModelWithInfo(modelDir);
    const expected = (file: string) => predict(model, loadImage(file, { size: [28, 28], channels: 1 }), { classes: info.classes, k: 5 })[0].map((p) => p.label);

    // The check below can tell: this model ranks the two images differently.
    assert.notDeepEqual(expected(original), expected(flipped));
    const inverted = stride("predict", modelDir, flipped, "--backend", "js");
    assert.equal(inverted.status, 0, inverted.stderr);
    assert.ok(inverted.stderr.includes(`${flipped}: ${INVERTED_NOTE}`), inverted.stderr);
    assert.deepEqual(labels(inverted.stdout, flipped), expected(original), "the inverted image predicts as the light-on-dark original");

    const asIs = stride("predict", modelDir, flipped, "--backend", "js", "--no-invert");
    assert.equal(asIs.status, 0, asIs.stderr);
    assert.equal(asIs.stderr, "");
    assert.deepEqual(labels(asIs.stdout, flipped), expected(flipped));

    const plain = stride("predict", modelDir, original, "--backend", "js");
    assert.equal(plain.stderr, "", "a light-on-dark digit is not touched");
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test("the app's chart axes: whole epochs along x, and a log loss axis whose ticks span the data", () => {
  assert.deepEqual(wholeTicks(10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(wholeTicks(20), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
  assert.deepEqual(wholeTicks(3.4), [0, 1, 2, 3, 4], "a fractional end rounds up to a whole epoch");
  assert.deepEqual(wholeTicks(100, 5), [0, 20, 40, 60, 80, 100]);
  for (const xs of [[0.2], [5], [37, 4], [250]]) {
    const ticks = wholeTicks(xs[0], xs[1]);
    assert.ok(ticks.every(Number.isInteger) && ticks[ticks.length - 1] >= xs[0] && ticks.length <= (xs[1] ?? 10) + 1, `${xs}: ${ticks}`);
  }
  // A loss that starts at 2.3 and ends at 0.03: the axis covers both, ticks at 1-2-5 steps.
  const losses = [2.3, 1.1, 0.4, 0.2, 0.09, 0.05, 0.03];
  const axis = logAxis(losses);
  assert.ok(axis.lo < 0.03 && axis.hi > 2.3, `${axis.lo}..${axis.hi}`);
  assert.ok(axis.ticks.includes(0.05) && axis.ticks.includes(0.1) && axis.ticks.includes(1) && axis.ticks.includes(2), `${axis.ticks}`);
  assert.ok(axis.ticks.every((t) => t >= axis.lo && t <= axis.hi));
  // Crowded 1-2-5 ticks thin to powers of ten.
  assert.deepEqual(logAxis([0.002, 3], 5).ticks, [0.01, 0.1, 1]);
  // A flat series still gets at least three ticks; zeros and NaN are left out.
  const flat = logAxis([0.5, 0.5, 0, NaN]);
  assert.ok(flat.lo < 0.5 && flat.hi > 0.5 && flat.ticks.length >= 3, `${flat.lo}..${flat.hi}: ${flat.ticks}`);
  assert.equal(tickLabel(0.05000000001), "0.05");
  assert.equal(tickLabel(2), "2");
});
