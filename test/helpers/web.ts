/**
 * What the browser tests share: the app built with Vite and served by
 * `vite preview` on 127.0.0.1 (with the config's COOP/COEP headers), Debian's
 * Chromium driven by Playwright with the flags this machine's closed network
 * needs, every console error collected, and the digits as PNG files.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PNG } from "pngjs";
import type { BrowserContext, Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const repo = fileURLToPath(new URL("../../..", import.meta.url));
const config = join(repo, "web", "vite.config.ts");

/** node:test's skip value: false, or why the browser tests cannot run here. */
export const skipWithoutChromium = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing: install Debian's Chromium with "apt-get install chromium" to run the browser test`;

export interface App {
  page: Page;
  context: BrowserContext;
  /** A temporary folder for the test's files, removed afterwards. */
  work: string;
  /** Console and page errors so far; a test asserts this is empty at its end. */
  errors: string[];
}

/** Builds and serves the app, opens it in Chromium, runs `body`, and always cleans up. */
export async function withApp(prefix: string, body: (app: App) => Promise<void>): Promise<void> {
  const { build, preview } = await import("vite");
  const { chromium } = await import("playwright-core");
  const work = mkdtempSync(join(tmpdir(), prefix));
  const outDir = join(work, "dist");
  const errors: string[] = [];
  let server: Awaited<ReturnType<typeof preview>> | undefined;
  let context: BrowserContext | undefined;
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
    await page.waitForSelector("#start:not([disabled])", { timeout: 30_000 });
    await body({ page, context, work, errors });
  } finally {
    await context?.close();
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  }
}

/** A digit as an opaque 8-bit grey PNG, white on black like the training digits. */
export function digitPng(path: string, pixels: Float32Array): void {
  const png = new PNG({ width: 28, height: 28 });
  for (let i = 0; i < 784; i++) {
    const v = Math.round(255 * pixels[i]);
    png.data.set([v, v, v, 255], 4 * i);
  }
  writeFileSync(path, PNG.sync.write(png));
}

export interface PagePrediction {
  label: string;
  probability: number;
}

/** The top-5 the page shows in #predictions. */
export function readPredictions(page: Page): Promise<PagePrediction[]> {
  return page.$$eval("#predictions li", (els) => els.map((e) => ({ label: (e as HTMLElement).dataset.label!, probability: Number((e as HTMLElement).dataset.probability) })));
}

export function assertSamePredictions(page: PagePrediction[], node: PagePrediction[], what: string): void {
  assert.equal(page.length, 5, `${what}: the page shows ${page.length} predictions, not 5`);
  assert.deepEqual(page.map((p) => p.label), node.map((p) => p.label), `${what}: the classes differ`);
  page.forEach((p, i) => {
    assert.ok(Math.abs(p.probability - node[i].probability) < 1e-4, `${what}: P(${p.label}) is ${p.probability} in the page and ${node[i].probability} in Node`);
  });
}
