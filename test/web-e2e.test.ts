/**
 * The browser app, end to end, in Debian's Chromium driven by Playwright:
 * build web/ with Vite, serve the build on 127.0.0.1 with the COOP/COEP
 * headers (vite preview, the config's own headers), train LeNet-5 in the page
 * until validation accuracy passes 90%, pause and resume, draw a digit,
 * check the activations panel, and move models both ways between the page
 * and Node: the page's download loads with loadModel and predicts the same,
 * and a model saved by Node, uploaded to the page, predicts there as in Node.
 * It also checks the teaching views: the opening hints, the convolution
 * demo's numbers against a Conv2d run here on what the page shows, the test
 * accuracy, per-class table and mistakes after training (against evaluate()
 * in Node), every conv layer's filters, shuffled test digits, the inversion
 * of a dark-on-light digit, the reset on loading a model, and 375 px width.
 * Any console error fails the test.
 *
 * Needs /usr/bin/chromium (apt-get install chromium); skipped without it.
 * STRIDE_SCREENSHOTS=docs writes the screenshots to docs/ (for the README);
 * otherwise they go to the temporary folder.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  loadModelWithInfo, saveModel, loadImage, predict, fit, mnistDigitsSplit, computeNormalization, SGD, manualSeed, subset, setBackend, getBackend,
  evaluate, Conv2d, Tensor, INVERTED_NOTE, type Layer, type Normalization,
} from "../src/index.js";
import type { Page } from "playwright-core";
import { withApp, skipWithoutChromium, repo, digitPng, readPredictions, assertSamePredictions, type PagePrediction } from "./helpers/web.js";
import { buildModel } from "../src/cli/models.js";
import { flattenModel } from "../src/models/summary.js";
import { weightsFileOf } from "./helpers/model-folder.js";

const skip = skipWithoutChromium;

/** Node's top-5 for an image file, through the same path as `stride predict`. */
function nodeTop5(modelDir: string, image: string): PagePrediction[] {
  const { model, info } = loadModelWithInfo(modelDir);
  const x = loadImage(image, { size: [28, 28], channels: 1 });
  return predict(model, x, { classes: info.classes, k: 5, normalize: info.normalization })[0].map((p) => ({ label: p.label, probability: p.probability }));
}

/** Accuracy and per-class counts of a model on the app's test digits, in Node. */
function nodeResults(model: Layer, normalize: Normalization | undefined): { accuracy: number; count: number; correct: number[] } {
  const { test: digits } = mnistDigitsSplit({ seed: 1 });
  const r = evaluate(model, digits, { normalize });
  return { accuracy: r.accuracy, count: r.count, correct: r.confusion.map((row, i) => row[i]) };
}

/** What the page's results panel shows. */
async function pageResults(page: Page): Promise<{ accuracy: number; count: number; correct: number[]; totals: number[] }> {
  const accuracy = Number(await page.getAttribute("#test-accuracy", "data-value"));
  const count = Number(await page.getAttribute("#test-accuracy", "data-count"));
  const rows = await page.$$eval("#per-class tbody tr", (els) => els.map((e) => ({ correct: Number((e as HTMLElement).dataset.correct), total: Number((e as HTMLElement).dataset.total) })));
  return { accuracy, count, correct: rows.map((r) => r.correct), totals: rows.map((r) => r.total) };
}

function assertSameResults(page: Awaited<ReturnType<typeof pageResults>>, node: ReturnType<typeof nodeResults>, what: string): void {
  assert.equal(page.count, node.count, `${what}: test digits counted`);
  assert.equal(page.totals.reduce((a, b) => a + b, 0), node.count, `${what}: the per-class totals add up to the test set`);
  // The page runs wasm in the browser, Node its own backend: allow one digit on a knife-edge to differ.
  assert.ok(Math.abs(page.accuracy - node.accuracy) <= 1 / node.count + 1e-12, `${what}: test accuracy ${page.accuracy} in the page, ${node.accuracy} in Node`);
  page.correct.forEach((c, i) => assert.ok(Math.abs(c - node.correct[i]) <= 1, `${what}: class ${i} right ${c} times in the page, ${node.correct[i]} in Node`));
}

/** The numbers of one grid of the convolution demo, as the page shows them. */
async function demoGrid(page: Page, name: string): Promise<number[]> {
  return page.$$eval(`#conv-grids .num-grid[data-name="${name}"] span`, (els) => els.map((e) => Number(e.textContent)));
}

test("the browser app trains LeNet-5 past 90%, draws, shows every layer, and trades models with Node", { skip, timeout: 200_000 }, async () => {
  await withApp("stride-web-", async ({ page, work, errors }) => {
    const shots = process.env.STRIDE_SCREENSHOTS === "docs" ? join(repo, "docs") : work;
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, "the server did not send COOP/COEP: the page is not cross-origin isolated");
    assert.match((await page.textContent("#backend")) ?? "", /^backend: wasm \(SIMD, \d+ threads?\)/);

    // The opening state says what will appear and what to press.
    for (const hint of ["#start-hint", "#results-hint", "#filters-hint", "#activations-hint", "#inspect-hint", "#network-hint"]) {
      assert.ok(await page.isVisible(hint), `${hint} is not shown on an empty page`);
      assert.match((await page.textContent(hint)) ?? "", /appear|Press|press|Start training/, hint);
    }

    // The convolution demo: step to output cell 13 (filter W1, row 1, column 1), then check the cell
    // against a Conv2d run here on the numbers the page shows.
    await page.waitForSelector("#conv-sum[data-cell='0']");
    const steps = 13;
    for (let i = 0; i < steps; i++) await page.click("#conv-next");
    await page.waitForSelector(`#conv-sum[data-cell='${steps}']`);
    const padded = await Promise.all([0, 1, 2].map((c) => demoGrid(page, `x${c}`)));
    const weights = await Promise.all([0, 1].flatMap((k) => [0, 1, 2].map((c) => demoGrid(page, `w${k}-${c}`))));
    assert.deepEqual(padded.map((p) => p.length), [49, 49, 49], "a 7x7x3 padded input");
    const inner = padded.flatMap((p) => p.filter((_, i) => i % 7 > 0 && i % 7 < 6 && i >= 7 && i < 42));
    assert.ok(padded.every((p) => p.every((v, i) => (i % 7 > 0 && i % 7 < 6 && i >= 7 && i < 42) || v === 0)), "the pad is zeros");
    const conv = new Conv2d({ inChannels: 3, outChannels: 2, kernelSize: 3, stride: 2, padding: 1 });
    conv.weight.value.data.set(weights.flat());
    conv.bias!.value.data.set([1, 0]);
    const y = conv.forward(new Tensor([1, 3, 5, 5], Float32Array.from(inner)), { noGrad: true });
    const [k, row, col] = [1, 1, 1];
    const expected = y.data[(k * 3 + row) * 3 + col];
    assert.deepEqual(await page.$eval("#conv-sum", (e) => [(e as HTMLElement).dataset.filter, (e as HTMLElement).dataset.row, (e as HTMLElement).dataset.col]), ["1", "1", "1"]);
    assert.equal(Number(await page.getAttribute("#conv-sum", "data-value")), expected, "the page's cell value is Conv2d's");
    const sumText = (await page.textContent("#conv-sum")) ?? "";
    const channelSums = [0, 1, 2].map((c) => {
      let sum = 0;
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) sum += padded[c][(2 * row + i) * 7 + 2 * col + j] * weights[k * 3 + c][i * 3 + j];
      return sum;
    });
    const term = (v: number) => (v < 0 ? `(${v})` : String(v));
    assert.equal(sumText, `x·w (channel 0) + x·w (channel 1) + x·w (channel 2) + b = ${[...channelSums, 0].map(term).join(" + ")} = ${expected}`);
    assert.equal(await page.textContent(`#conv-grids .num-grid[data-name="o1"] span[data-y="1"][data-x="1"]`), String(expected), "the output grid shows the cell");
    assert.ok((await page.$eval("#im2col", (c) => (c as HTMLCanvasElement).width)) > 0, "the im2col picture is drawn");

    await page.selectOption("#model", "lenet5");
    await page.fill("#epochs", "20");
    await page.click("#start");
    await page.waitForFunction(() => Number((document.querySelector("#val-accuracy") as HTMLElement).dataset.value) > 0.9, null, { timeout: 120_000 });
    const accuracy = Number(await page.getAttribute("#val-accuracy", "data-value"));
    assert.ok(accuracy > 0.9, `validation accuracy ${accuracy}`);

    // Pause holds training still (the batch counter stops); resume goes on.
    await page.click("#pause");
    await page.waitForSelector("#state:text('paused')");
    const held = await page.textContent("#epoch");
    await page.waitForTimeout(1000);
    assert.equal(await page.textContent("#epoch"), held, "training went on while paused");
    await page.click("#pause");
    await page.waitForSelector("#state:text('training')");
    await page.waitForFunction((before) => document.querySelector("#epoch")!.textContent !== before, held, { timeout: 20_000 });

    // Draw a 7 on the canvas: a prediction appears (while training goes on).
    const box = (await page.locator("#draw").boundingBox())!;
    const stroke = async (points: [number, number][]) => {
      await page.mouse.move(box.x + points[0][0] * box.width, box.y + points[0][1] * box.height);
      await page.mouse.down();
      for (const [x, y] of points.slice(1)) await page.mouse.move(box.x + x * box.width, box.y + y * box.height, { steps: 8 });
      await page.mouse.up();
    };
    await stroke([[0.25, 0.2], [0.75, 0.2], [0.45, 0.85]]);
    await page.waitForFunction(() => /^\d$/.test((document.querySelector("#draw-prediction") as HTMLElement).dataset.label ?? ""), null, { timeout: 15_000 });
    const drawn = await page.getAttribute("#draw-prediction", "data-label");

    await page.click("#stop");
    await page.waitForSelector("#state:text('idle')");

    // When training ends: test accuracy, a row per class, the digits read wrong, every conv layer's filters.
    await page.waitForFunction(() => Number((document.querySelector("#test-accuracy") as HTMLElement).dataset.value) > 0, null, { timeout: 60_000 });
    const trainedResults = await pageResults(page);
    assert.equal(trainedResults.correct.length, 10, "one row per digit");
    assert.match((await page.textContent("#results-when")) ?? "", /stopped after \d+ of 20 epochs|after 20 epochs/);
    const mistakes = await page.$$eval("#mistakes .mistake", (els) => els.map((e) => ({ label: (e as HTMLElement).dataset.label, predicted: (e as HTMLElement).dataset.predicted })));
    const wrong = trainedResults.count - Math.round(trainedResults.accuracy * trainedResults.count);
    assert.equal(mistakes.length, Math.min(wrong, 40), "the mistakes grid shows the digits read wrong (at most 40)");
    assert.ok(mistakes.every((m) => m.label !== m.predicted), "every digit in the mistakes grid was read wrong");
    await page.waitForFunction(() => document.querySelectorAll("#filters .filter-block canvas").length >= 2, null, { timeout: 15_000 });
    const filterLayers = await page.$$eval("#filters .filter-block", (els) => els.map((e) => ({ layer: (e as HTMLElement).dataset.layer, width: e.querySelector("canvas")!.width })));
    assert.deepEqual(filterLayers.map((f) => f.layer), ["c1", "c3"], "LeNet-5's two conv layers");
    assert.ok(filterLayers.every((f) => f.width >= 100), `filters at a readable size: ${JSON.stringify(filterLayers)}`);
    assert.ok(await page.isHidden("#results-hint") && await page.isHidden("#filters-hint"), "the hints give way to the results");

    // "Next" walks the test digits in a shuffled order, not class by class.
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      const before = await page.inputValue("#test-index");
      await page.click("#next-test");
      await page.waitForFunction((b) => (document.querySelector("#test-index") as HTMLInputElement).value !== b, before);
      await page.waitForFunction((index) => (document.querySelector("#input-label") as HTMLElement).dataset.index === index, await page.inputValue("#test-index"));
      seen.push((await page.textContent("#input-label")) ?? "");
    }
    assert.ok(new Set(seen).size > 1, `six "Next" clicks showed only ${seen[0]}`);

    // One block per layer of LeNet-5, as the library flattens it.
    const expectedLayers = flattenModel(buildModel("lenet5", { numClasses: 10, inputShape: [1, 28, 28], seed: 1 }), [1, 1, 28, 28]).nodes.map((n) => n.name);
    await page.waitForFunction((n) => document.querySelectorAll("#activations .layer-block").length === n, expectedLayers.length, { timeout: 15_000 });
    const shown = await page.$$eval("#activations .layer-block", (els) => els.map((e) => (e as HTMLElement).dataset.layer));
    assert.deepEqual(shown, expectedLayers);
    const drawnPictures = await page.$$eval("#activations .layer-block canvas", (els) => els.filter((c) => (c as HTMLCanvasElement).width > 0).length);
    assert.equal(drawnPictures, expectedLayers.length, "every layer block has a picture");
    await page.click("#inspect-drawing");
    await page.waitForSelector("#predictions[data-source='pixels'] li");
    await page.screenshot({ path: join(shots, "web-app.png"), fullPage: true });
    await page.locator("#activations").screenshot({ path: join(shots, "web-activations.png") });

    // The page's model, downloaded, loads in Node and predicts what the page predicts.
    const { test: testDigits } = mnistDigitsSplit({ seed: 1 });
    const image = join(work, "digit.png");
    digitPng(image, testDigits.images.subarray(37 * 784, 38 * 784));
    const readPage = () => readPredictions(page);
    await page.setInputFiles("#image-file", image);
    await page.waitForSelector("#predictions[data-source='image'][data-origin='trained in this page'] li");
    const pageTrained = await readPage();

    const pageModel = join(work, "from-page");
    mkdirSync(pageModel);
    const downloads: Promise<void>[] = [];
    const twoDownloads = new Promise<void>((resolve) => {
      page.on("download", (d) => {
        downloads.push(d.saveAs(join(pageModel, d.suggestedFilename())));
        if (downloads.length === 2) resolve();
      });
    });
    await page.click("#download");
    await twoDownloads;
    await Promise.all(downloads);
    assert.ok(existsSync(join(pageModel, "model.json")) && existsSync(join(pageModel, "weights.safetensors")), "the download is model.json and weights.safetensors");
    assertSamePredictions(pageTrained, nodeTop5(pageModel, image), "page-trained model");
    {
      const { model, info } = loadModelWithInfo(pageModel);
      assertSameResults(trainedResults, nodeResults(model, info.normalization), "page-trained model on the test digits");
    }

    // The same digit dark on light: inverted on the way in, said so, and read as the light-on-dark one.
    const darkOnLight = join(work, "digit-dark-on-light.png");
    digitPng(darkOnLight, testDigits.images.subarray(37 * 784, 38 * 784).map((v) => 1 - v));
    await page.setInputFiles("#image-file", darkOnLight);
    await page.waitForFunction((note) => document.querySelector("#input-note")!.textContent === note, INVERTED_NOTE);
    assertSamePredictions(await readPage(), pageTrained, "dark-on-light digit, inverted");
    assert.ok(pageTrained[0].probability > 0.5 && pageTrained[0].label === String(testDigits.labels[37]),
      `the trained page model should recognise test digit 37 (a ${testDigits.labels[37]}), got ${JSON.stringify(pageTrained[0])}`);

    // A model trained and saved by Node, uploaded through the file input, predicts in the page as in Node.
    const previous = getBackend().name;
    const nodeModel = join(work, "from-node");
    try {
      setBackend("js");
      manualSeed(2);
      const { train } = mnistDigitsSplit({ seed: 1 });
      const small = subset(train, Array.from({ length: 640 }, (_, i) => (i * 7) % train.length));
      const normalize = computeNormalization(small);
      const net = buildModel("lenet5", { numClasses: 10, inputShape: [1, 28, 28], seed: 2 });
      await fit(net, small, { epochs: 1, batchSize: 64, optimizer: new SGD(net.params(), { lr: 0.02, momentum: 0.9 }), normalize, progress: "none" });
      saveModel(net, nodeModel, { inputShape: [1, 28, 28], classes: train.classes, normalization: normalize, extra: { model: "lenet5" } });
    } finally {
      setBackend(previous);
    }
    await page.setInputFiles("#model-files", [join(nodeModel, "model.json"), weightsFileOf(nodeModel)]);
    await page.waitForSelector("#predictions[data-source='image'][data-origin^='loaded from'] li", { timeout: 15_000 });
    // The panel still shows the dark-on-light file: set the light-on-dark one again.
    await page.setInputFiles("#image-file", image);
    await page.waitForFunction(() => document.querySelector("#input-note")!.textContent === "");
    assertSamePredictions(await readPage(), nodeTop5(nodeModel, image), "Node-trained model");
    // Loading a model resets the previous run's views; a digits model is measured on the test digits at once.
    assert.equal(await page.textContent("#val-accuracy"), "–");
    assert.equal(await page.textContent("#epoch"), "–");
    await page.waitForSelector("#results-when:text('loaded from')");
    {
      const { model, info } = loadModelWithInfo(nodeModel);
      assertSameResults(await pageResults(page), nodeResults(model, info.normalization), "Node-trained model on the test digits");
    }

    // At phone width the panels stack and nothing runs off the side; the charts keep a usable size.
    await page.setViewportSize({ width: 375, height: 800 });
    await page.waitForFunction(() => document.documentElement.scrollWidth <= 376);
    const chart = await page.$eval("#loss-chart", (c) => ({ width: c.getBoundingClientRect().width, height: c.getBoundingClientRect().height }));
    assert.ok(chart.width >= 300 && chart.height >= 150, `the loss chart is ${chart.width}x${chart.height} px at 375 px width`);

    assert.deepEqual(errors, [], "the page logged errors");
    console.log(`# web e2e: validation accuracy ${(100 * accuracy).toFixed(2)}%, drawn digit read as ${drawn}` +
      (shots === work ? "" : `; screenshots written to ${shots}`));
  });
});
