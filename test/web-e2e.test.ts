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
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PNG } from "pngjs";
import {
  loadModelWithInfo, saveModel, loadImage, predict, fit, mnistDigitsSplit, computeNormalization, SGD, manualSeed, subset, setBackend, getBackend,
} from "../src/index.js";
import { buildModel } from "../src/cli/models.js";
import { flattenModel } from "../src/models/summary.js";

const CHROMIUM = "/usr/bin/chromium";
const repo = fileURLToPath(new URL("../..", import.meta.url));
const config = join(repo, "web", "vite.config.ts");
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: install Debian's Chromium with "apt-get install chromium" to run the browser test`;

/** A test digit as an opaque 8-bit grey PNG, white on black like the training digits. */
function digitPng(path: string, pixels: Float32Array): void {
  const png = new PNG({ width: 28, height: 28 });
  for (let i = 0; i < 784; i++) {
    const v = Math.round(255 * pixels[i]);
    png.data[4 * i] = v;
    png.data[4 * i + 1] = v;
    png.data[4 * i + 2] = v;
    png.data[4 * i + 3] = 255;
  }
  writeFileSync(path, PNG.sync.write(png));
}

interface PagePrediction {
  label: string;
  probability: number;
}

/** Node's top-5 for an image file, through the same path as `stride predict`. */
function nodeTop5(modelDir: string, image: string): PagePrediction[] {
  const { model, info } = loadModelWithInfo(modelDir);
  const x = loadImage(image, { size: [28, 28], channels: 1 });
  return predict(model, x, { classes: info.classes, k: 5, normalize: info.normalization })[0].map((p) => ({ label: p.label, probability: p.probability }));
}

function assertSamePredictions(page: PagePrediction[], node: PagePrediction[], what: string): void {
  assert.equal(page.length, 5, `${what}: the page shows ${page.length} predictions, not 5`);
  assert.deepEqual(page.map((p) => p.label), node.map((p) => p.label), `${what}: the classes differ`);
  page.forEach((p, i) => {
    assert.ok(Math.abs(p.probability - node[i].probability) < 1e-4, `${what}: P(${p.label}) is ${p.probability} in the page and ${node[i].probability} in Node`);
  });
}

test("the browser app trains LeNet-5 past 90%, draws, shows every layer, and trades models with Node", { skip, timeout: 170_000 }, async () => {
  const { build, preview } = await import("vite");
  const { chromium } = await import("playwright-core");
  const work = mkdtempSync(join(tmpdir(), "stride-web-"));
  const shots = process.env.STRIDE_SCREENSHOTS === "docs" ? join(repo, "docs") : work;
  const outDir = join(work, "dist");
  const errors: string[] = [];
  let server: Awaited<ReturnType<typeof preview>> | undefined;
  let context: Awaited<ReturnType<typeof chromium.launchPersistentContext>> | undefined;
  try {
    await build({ configFile: config, logLevel: "error", build: { outDir, emptyOutDir: true } });
    server = await preview({ configFile: config, logLevel: "error", build: { outDir }, preview: { host: "127.0.0.1", port: 0, strictPort: false, open: false } });
    const url = server.resolvedUrls?.local[0];
    assert.ok(url, "vite preview did not report its address");

    context = await chromium.launchPersistentContext(join(work, "profile"), {
      executablePath: CHROMIUM, headless: true, acceptDownloads: true, viewport: { width: 1400, height: 1000 },
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`page: ${e.message}`));
    await page.goto(url);

    // The page is cross-origin isolated, so the wasm backend runs with its threads.
    await page.waitForSelector("#start:not([disabled])", { timeout: 30_000 });
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
    const readPage = () => page.$$eval("#predictions li", (els) => els.map((e) => ({ label: (e as HTMLElement).dataset.label!, probability: Number((e as HTMLElement).dataset.probability) })));
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
    await page.setInputFiles("#model-files", [join(nodeModel, "model.json"), join(nodeModel, "weights.safetensors")]);
    await page.waitForSelector("#predictions[data-source='image'][data-origin^='loaded from'] li", { timeout: 15_000 });
    assertSamePredictions(await readPage(), nodeTop5(nodeModel, image), "Node-trained model");

    assert.deepEqual(errors, [], "the page logged errors");
    console.log(`# web e2e: validation accuracy ${(100 * accuracy).toFixed(2)}%, drawn digit read as ${drawn}` +
      (shots === work ? "" : `; screenshots written to ${shots}`));
  } finally {
    await context?.close();
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  }
});
