/**
 * The browser app, end to end, in Debian's Chromium driven by Playwright:
 * build web/ with Vite, serve the build on 127.0.0.1 with the COOP/COEP
 * headers (vite preview, the config's own headers), train LeNet-5 in the page
 * until validation accuracy passes 90%, pause and resume, draw a digit,
 * check the activations panel, and move models both ways between the page
 * and Node: the page's download loads with loadModel and predicts the same,
 * and a model saved by Node, uploaded to the page, predicts there as in Node.
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
} from "../src/index.js";
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

test("the browser app trains LeNet-5 past 90%, draws, shows every layer, and trades models with Node", { skip, timeout: 170_000 }, async () => {
  await withApp("stride-web-", async ({ page, work, errors }) => {
    const shots = process.env.STRIDE_SCREENSHOTS === "docs" ? join(repo, "docs") : work;
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, "the server did not send COOP/COEP: the page is not cross-origin isolated");
    assert.match((await page.textContent("#backend")) ?? "", /^backend: wasm \(SIMD, \d+ threads?\)/);

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
    assertSamePredictions(await readPage(), nodeTop5(nodeModel, image), "Node-trained model");

    assert.deepEqual(errors, [], "the page logged errors");
    console.log(`# web e2e: validation accuracy ${(100 * accuracy).toFixed(2)}%, drawn digit read as ${drawn}` +
      (shots === work ? "" : `; screenshots written to ${shots}`));
  });
});
