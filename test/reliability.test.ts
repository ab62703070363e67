// Bounded loading: a damaged or hostile file is refused before anything
// allocates what it claims. Each case checks the typed error and that memory
// stayed small (a generous bound: the unbounded readers grew by gigabytes).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import zlib from "node:zlib";
import jpeg from "jpeg-js";
import * as s from "../src/index.js";
import { weightsFileOf } from "./helpers/model-folder.js";

const MB = 2 ** 20;

function rssGrowth<T>(fn: () => T): { result: T; growth: number } {
  const before = process.memoryUsage().rss;
  const result = fn();
  return { result, growth: process.memoryUsage().rss - before };
}

/** A small saved model with a BatchNorm2d named bn1, and its model.json as an object to edit. */
function smallModel(): { json: any; weights: Uint8Array } {
  const model = new s.Sequential([
    new s.Conv2d({ inChannels: 1, outChannels: 4, kernelSize: 3, name: "conv1" }),
    new s.BatchNorm2d({ numFeatures: 4, name: "bn1" }),
    new s.ReLU(),
    new s.Flatten(),
    new s.Linear({ inFeatures: 4 * 6 * 6, outFeatures: 3, name: "fc" }),
  ]);
  const enc = s.encodeModel(model, { inputShape: [1, 8, 8] });
  return { json: JSON.parse(enc.json), weights: enc.weights };
}

function layer(json: any, name: string): any {
  return json.topology.layers.find((l: any) => l.name === name);
}

test("an untouched model still loads, with its weights", () => {
  const { json, weights } = smallModel();
  const { model, info } = s.decodeModel(JSON.stringify(json), weights);
  assert.deepEqual(info.inputShape, [1, 8, 8]);
  const again = s.encodeModel(model, info);
  assert.deepEqual(again.weights, weights);
});

test("model.json asking BatchNorm2d for 2^30 or 2^32 features is refused before allocating", () => {
  // 2^30 fits the kernels' 32-bit indices: the weights file's budget refuses it.
  const { json, weights } = smallModel();
  layer(json, "bn1").config.numFeatures = 2 ** 30;
  const { growth } = rssGrowth(() =>
    assert.throws(() => s.decodeModel(JSON.stringify(json), weights), (e: Error) => {
      assert.ok(e instanceof s.ModelFileError, e.message);
      assert.match(e.message, /model\.json/);
      assert.match(e.message, /bn1/);
      assert.match(e.message, /BatchNorm2d/);
      assert.match(e.message, /1073741824/);
      assert.match(e.message, /more than weights\.safetensors holds/);
      return true;
    }),
  );
  assert.ok(growth < 500 * MB, `rss grew by ${(growth / MB).toFixed(0)} MB`);
  // 2^32 does not: the layer refuses it before any budget is needed.
  layer(json, "bn1").config.numFeatures = 2 ** 32;
  assert.throws(() => s.decodeModel(JSON.stringify(json), weights), (e: Error) => {
    assert.ok(e instanceof s.ModelFileError, e.message);
    assert.match(e.message, /model\.json/);
    assert.match(e.message, /bn1: numFeatures = 4294967296 is not valid; it must be a whole number from 1 to 2,147,483,647/);
    return true;
  });
});

test("model.json asking a Linear for 40000x40000 is refused before allocating", () => {
  const { json, weights } = smallModel();
  Object.assign(layer(json, "fc").config, { inFeatures: 40000, outFeatures: 40000 });
  const { growth } = rssGrowth(() =>
    assert.throws(() => s.decodeModel(JSON.stringify(json), weights), (e: Error) => {
      assert.ok(e instanceof s.ModelFileError, e.message);
      assert.match(e.message, /fc: cannot rebuild the Linear: asks for a tensor of shape \[40000, 40000\]/);
      return true;
    }),
  );
  assert.ok(growth < 500 * MB, `rss grew by ${(growth / MB).toFixed(0)} MB`);
});

test("a huge inputShape is refused, and maxInputElements raises the limit", () => {
  const { json, weights } = smallModel();
  json.inputShape = [3, 100000, 100000];
  assert.throws(() => s.decodeModel(JSON.stringify(json), weights), (e: Error) => {
    assert.ok(e instanceof s.ModelFileError, e.message);
    assert.match(e.message, /"inputShape" \[3, 100000, 100000\] describes 30000000000 values per example, more than the limit of 67108864/);
    assert.match(e.message, /maxInputElements/);
    return true;
  });
  // The model's own input (it must also run on it): refused under a lower limit, read under its size.
  json.inputShape = [1, 8, 8];
  assert.throws(() => s.decodeModel(JSON.stringify(json), weights, "model", { maxInputElements: 63 }), s.ModelFileError);
  const { info } = s.decodeModel(JSON.stringify(json), weights, "model", { maxInputElements: 64 });
  assert.deepEqual(info.inputShape, [1, 8, 8]);
});

test("loading does not draw random initial weights (the file's values replace them)", () => {
  const { json, weights } = smallModel();
  s.manualSeed(7);
  const first = s.globalRng.uniform(0, 1);
  s.manualSeed(7);
  const { model } = s.decodeModel(JSON.stringify(json), weights);
  // Initialisation would have advanced the global generator.
  assert.equal(s.globalRng.uniform(0, 1), first);
  assert.deepEqual(s.encodeModel(model).weights, weights);
});

// Image files whose headers claim sizes their bytes cannot hold.
const dir = mkdtempSync(join(tmpdir(), "stride-reliability-"));

function pngChunk(type: string, data: Buffer): Buffer {
  const b = Buffer.alloc(12 + data.length);
  b.writeUInt32BE(data.length, 0);
  b.write(type, 4, "latin1");
  data.copy(b, 8);
  b.writeUInt32BE(zlib.crc32(b.subarray(4, 8 + data.length)), 8 + data.length);
  return b;
}

/** A valid RGBA PNG of w x h black pixels, or (claim) one whose IHDR states another size. */
function png(w: number, h: number, claim?: [number, number]): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(claim ? claim[0] : w, 0);
  ihdr.writeUInt32BE(claim ? claim[1] : h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc(h * (1 + 4 * w));
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, pngChunk("IHDR", ihdr), pngChunk("IDAT", zlib.deflateSync(raw)), pngChunk("IEND", Buffer.alloc(0))]);
}

/** A small real JPEG whose frame header (SOF0) is edited to state w x h. */
function jpegClaiming(w: number, h: number): Buffer {
  const b = Buffer.from(jpeg.encode({ width: 16, height: 16, data: Buffer.alloc(16 * 16 * 4, 128) }, 50).data);
  for (let i = 2; i < b.length; i += 2 + b.readUInt16BE(i + 2)) {
    if (b[i + 1] === 0xc0) {
      b.writeUInt16BE(h, i + 5);
      b.writeUInt16BE(w, i + 7);
      return b;
    }
  }
  throw new Error("the encoded JPEG has no SOF0");
}

function file(name: string, bytes: Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

function refusesImage(path: string, pattern: RegExp, options: s.ImageOptions = {}): void {
  const { growth } = rssGrowth(() =>
    assert.throws(() => s.loadImage(path, options), (e: Error) => {
      assert.ok(e instanceof s.ImageReadError, e.message);
      assert.ok(e.message.startsWith(path), e.message);
      assert.match(e.message, pattern);
      return true;
    }),
  );
  assert.ok(growth < 500 * MB, `rss grew by ${(growth / MB).toFixed(0)} MB`);
}

test("image headers are read without decoding", () => {
  assert.deepEqual(s.imageHeaderSize(png(5, 3)), { format: "png", width: 5, height: 3 });
  assert.deepEqual(s.imageHeaderSize(jpegClaiming(300, 200)), { format: "jpeg", width: 300, height: 200 });
  assert.equal(s.imageHeaderSize(Buffer.from("not an image")), null);
});

test("a small PNG claiming 50000x50000 is refused by the pixel limit", () => {
  const p = file("huge.png", png(1, 1, [50000, 50000]));
  refusesImage(p, /50000x50000 = 2500000000 pixels, more than the limit of 100000000.*maxPixels/);
});

test("a 2 KB JPEG claiming 10000x9999 (under the pixel limit) is refused for holding too few bytes", () => {
  const p = file("huge.jpg", jpegClaiming(10000, 9999));
  refusesImage(p, /10000x9999 pixels, but the file holds only \d+ bytes and a JPEG that size needs at least 97647/);
});

test("a PNG claiming more rows than its bytes can encode is refused", () => {
  const p = file("tall.png", png(1, 1, [8000, 8000]));
  refusesImage(p, /8000x8000 pixels, but the file holds only \d+ bytes and a PNG that size needs at least/);
});

test("a zero-width PNG is refused instead of giving an empty tensor", () => {
  const p = file("zero.png", png(1, 1, [0, 16]));
  refusesImage(p, /size of 0x16; an image needs at least one pixel each way/);
});

test("maxPixels lowers and raises the pixel limit; normal images still load", () => {
  const p = file("ok.png", png(40, 30));
  assert.deepEqual(s.loadImage(p).shape, [1, 3, 30, 40]);
  refusesImage(p, /40x30 = 1200 pixels, more than the limit of 1000/, { maxPixels: 1000 });
  assert.deepEqual(s.loadImage(p, { maxPixels: 1200 }).shape, [1, 3, 30, 40]);
  const j = file("ok.jpg", Buffer.from(jpeg.encode({ width: 32, height: 24, data: Buffer.alloc(32 * 24 * 4, 200) }, 90).data));
  assert.deepEqual(s.loadImage(j, { channels: 1 }).shape, [1, 1, 24, 32]);
});

// Only regular files are read: a FIFO would block forever and /dev/zero never ends.
const unix = process.platform !== "win32";

test("a FIFO or /dev/zero as model.json, weights or an image is refused at once", { skip: !unix && "needs mkfifo and /dev/zero" }, () => {
  const fifo = join(dir, "pipe");
  execFileSync("mkfifo", [fifo]);
  for (const target of [fifo, "/dev/zero"]) {
    if (!existsSync(target)) continue;
    const kind = target === fifo ? /it is a FIFO \(named pipe\), not a regular file/ : /it is a device, not a regular file/;
    const folder = join(dir, `model-${target === fifo ? "fifo" : "zero"}`);
    mkdirSync(folder);
    symlinkSync(target, join(folder, "model.json"));
    symlinkSync(target, join(folder, "weights.safetensors"));
    assert.throws(() => s.loadModel(folder), (e: Error) => e instanceof s.ModelFileError && e.message.includes("model.json") && kind.test(e.message));
    assert.throws(() => s.loadSafetensors(target), (e: Error) => e instanceof s.ModelFileError && kind.test(e.message));
    assert.throws(() => s.loadImage(target), (e: Error) => e instanceof s.ImageReadError && e.message.startsWith(target) && kind.test(e.message));
  }
});

test("a weights file that is a FIFO is refused with its own name", { skip: !unix && "needs mkfifo" }, () => {
  const { json, weights } = smallModel();
  const folder = join(dir, "model-weights-fifo");
  mkdirSync(folder);
  s.saveModel(s.decodeModel(JSON.stringify(json), weights).model, folder);
  assert.ok(s.loadModel(folder));
  const fifo = weightsFileOf(folder);
  unlinkSync(fifo);
  execFileSync("mkfifo", [fifo]);
  assert.throws(() => s.loadModel(folder), (e: Error) => e instanceof s.ModelFileError && e.message.startsWith(fifo) && /FIFO/.test(e.message));
});
