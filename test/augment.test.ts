import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Rng } from "../src/random.js";
import { Tensor } from "../src/tensor.js";
import {
  crop, randomCrop, centerCrop, flipHorizontal, randomHorizontalFlip, randomTranslate,
  colorJitter, adjustBrightness, adjustContrast, adjustSaturation, compose, tenCrop, tenCropBatch,
  type Image,
} from "../src/data/augment.js";

/** An image whose value at (c, y, x) is 1 + c*1000 + y*100 + x: every pixel tells where it came from. */
function coded(c: number, h: number, w: number): Image {
  const data = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[(ch * h + y) * w + x] = 1 + ch * 1000 + y * 100 + x;
  return { data, shape: [c, h, w] };
}

function at(img: Image, c: number, y: number, x: number): number {
  const [, h, w] = img.shape;
  return img.data[(c * h + y) * w + x];
}

/** The (dy, dx) that maps output pixels back to the source, checking every pixel agrees (0 where outside). */
function offsetOf(out: Image, src: Image): [number, number] {
  const [c, h, w] = src.shape;
  const [, oh, ow] = out.shape;
  let found: [number, number] | null = null;
  for (let y = 0; y < oh && !found; y++) {
    for (let x = 0; x < ow && !found; x++) {
      const v = at(out, 0, y, x);
      if (v !== 0) found = [Math.floor((v - 1) / 100) - y, ((v - 1) % 100) - x];
    }
  }
  assert.ok(found, "the crop holds at least one source pixel");
  const [dy, dx] = found;
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        const sy = y + dy;
        const sx = x + dx;
        const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
        assert.equal(at(out, ch, y, x), inside ? at(src, ch, sy, sx) : 0, `pixel (${ch}, ${y}, ${x}) with offset (${dy}, ${dx})`);
      }
    }
  }
  return found;
}

describe("crops", () => {
  test("crop reads a window and zero-fills outside the image", () => {
    const img = coded(2, 4, 5);
    const out = crop(img, -1, 2, 3, 4);
    assert.deepEqual(out.shape, [2, 3, 4]);
    assert.equal(at(out, 0, 0, 0), 0); // row -1 is padding
    assert.equal(at(out, 1, 1, 0), at(img, 1, 0, 2));
    assert.equal(at(out, 0, 2, 2), at(img, 0, 1, 4));
    assert.equal(at(out, 0, 2, 3), 0); // column 5 is padding
  });

  test("CIFAR's pad 4 + crop 32 moves pixels by one offset in [-4, 4], and all 81 offsets occur", () => {
    const img = coded(3, 32, 32);
    const aug = randomCrop({ size: 32, padding: 4 });
    const rng = new Rng(1);
    const seen = new Set<string>();
    for (let i = 0; i < 1500; i++) {
      const out = aug(img, rng);
      assert.deepEqual(out.shape, [3, 32, 32]);
      const [dy, dx] = offsetOf(out, img);
      assert.ok(Math.abs(dy) <= 4 && Math.abs(dx) <= 4, `offset (${dy}, ${dx})`);
      seen.add(`${dy},${dx}`);
    }
    assert.equal(seen.size, 81);
  });

  test("the same seed gives the same crops; the input is never changed", () => {
    const img = coded(1, 8, 8);
    const before = img.data.slice();
    const aug = randomCrop({ size: 6, padding: 2 });
    const a = new Rng(9);
    const b = new Rng(9);
    for (let i = 0; i < 20; i++) assert.deepEqual(aug(img, a).data, aug(img, b).data);
    assert.deepEqual(img.data, before);
    assert.throws(() => randomCrop({ size: 13, padding: 2 })(img, a), /a 13x13 crop does not fit in a 8x8 image padded by 2/);
  });

  test("centerCrop takes the middle; an odd margin leaves the extra pixel at the bottom/right", () => {
    const img = coded(1, 5, 6);
    const out = centerCrop(img, [2, 3]);
    assert.deepEqual(offsetOf(out, img), [1, 1]);
  });
});

describe("flips and translations", () => {
  test("a flip mirrors columns, and twice is the identity", () => {
    const img = coded(3, 4, 5);
    const once = flipHorizontal(img);
    assert.equal(at(once, 2, 3, 0), at(img, 2, 3, 4));
    assert.equal(at(once, 1, 0, 1), at(img, 1, 0, 3));
    assert.notDeepEqual(once.data, img.data);
    assert.deepEqual(flipHorizontal(once).data, img.data);
  });

  test("randomHorizontalFlip flips about half the time, never with p = 0, always with p = 1", () => {
    const img = coded(1, 2, 3);
    const rng = new Rng(4);
    const aug = randomHorizontalFlip();
    let flips = 0;
    for (let i = 0; i < 2000; i++) if (aug(img, rng).data[0] !== img.data[0]) flips++;
    assert.ok(flips > 900 && flips < 1100, `${flips} flips of 2000`);
    assert.equal(randomHorizontalFlip({ p: 0 })(img, rng).data[0], img.data[0]);
    assert.equal(randomHorizontalFlip({ p: 1 })(img, rng).data[0], img.data[2]);
  });

  test("randomTranslate shifts content by whole pixels within the limit", () => {
    const img = coded(1, 6, 6);
    const aug = randomTranslate({ maxShift: [1, 2] });
    const rng = new Rng(2);
    const seen = new Set<string>();
    for (let i = 0; i < 400; i++) {
      const out = aug(img, rng);
      assert.deepEqual(out.shape, [1, 6, 6]);
      const [dy, dx] = offsetOf(out, img);
      // Content moved by (-dy, -dx).
      assert.ok(Math.abs(dy) <= 1 && Math.abs(dx) <= 2);
      seen.add(`${dy},${dx}`);
    }
    assert.equal(seen.size, 15);
  });
});

describe("colour jitter", () => {
  const rgb: Image = { data: Float32Array.from([0.2, 0.8, 0.4, 0.6, 0.1, 0.3]), shape: [3, 1, 2] };

  test("brightness scales and clamps to [0, 1]", () => {
    assert.deepEqual(Array.from(adjustBrightness(rgb, 2).data), [0.4, 1, 0.8, 1, 0.2, 0.6].map(Math.fround));
  });

  test("contrast blends with the mean grey level; factor 0 gives a flat image", () => {
    const grey0 = 0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.1;
    const grey1 = 0.299 * 0.8 + 0.587 * 0.6 + 0.114 * 0.3;
    const mean = (grey0 + grey1) / 2;
    const flat = adjustContrast(rgb, 0);
    flat.data.forEach((v) => assert.ok(Math.abs(v - mean) < 1e-6));
    assert.deepEqual(adjustContrast(rgb, 1).data, rgb.data);
  });

  test("saturation 0 turns RGB grey; grey images are unchanged", () => {
    const out = adjustSaturation(rgb, 0);
    for (let p = 0; p < 2; p++) {
      assert.ok(Math.abs(out.data[p] - out.data[2 + p]) < 1e-6 && Math.abs(out.data[p] - out.data[4 + p]) < 1e-6);
    }
    const grey: Image = { data: Float32Array.from([0.1, 0.9]), shape: [1, 1, 2] };
    assert.equal(adjustSaturation(grey, 0), grey);
  });

  test("colorJitter is seeded, changes the image, keeps it in [0, 1]", () => {
    const aug = colorJitter({ brightness: 0.4, contrast: 0.4, saturation: 0.4 });
    const a = aug(rgb, new Rng(3));
    assert.deepEqual(a.data, aug(rgb, new Rng(3)).data);
    assert.notDeepEqual(a.data, rgb.data);
    for (let s = 0; s < 50; s++) aug(rgb, new Rng(s)).data.forEach((v) => assert.ok(v >= 0 && v <= 1));
    assert.deepEqual(colorJitter({})(rgb, new Rng(1)).data, rgb.data);
    assert.throws(() => colorJitter({ brightness: -1 }), /brightness = -1 must be a number >= 0/);
  });
});

describe("compose and ten-crop", () => {
  test("compose runs the steps in order", () => {
    const img = coded(1, 4, 4);
    const aug = compose(randomHorizontalFlip({ p: 1 }), (i) => crop(i, 0, 0, 2, 2));
    const out = aug(img, new Rng(0));
    assert.deepEqual(Array.from(out.data), [at(img, 0, 0, 3), at(img, 0, 0, 2), at(img, 0, 1, 3), at(img, 0, 1, 2)]);
  });

  test("ten views: the four corners and the centre, then their mirrors", () => {
    const img = coded(2, 6, 7);
    const views = tenCrop(img, 4);
    assert.equal(views.length, 10);
    const offsets = views.slice(0, 5).map((v) => offsetOf(v, img));
    assert.deepEqual(offsets, [[0, 0], [0, 3], [2, 0], [2, 3], [1, 1]]);
    for (let k = 0; k < 5; k++) {
      // View 5 + k is the mirror image's view k: the mirror of the crop at the mirrored position.
      const mirrored = flipHorizontal(views[5 + k]);
      const [dy, dx] = offsets[k];
      assert.deepEqual(mirrored.data, crop(img, dy, 7 - 4 - dx, 4, 4).data, `view ${5 + k}`);
    }
  });

  test("tenCropBatch groups each image's ten views together", () => {
    const a = coded(1, 5, 5);
    const b: Image = { data: a.data.map((v) => -v), shape: [1, 5, 5] };
    const x = new Tensor([2, 1, 5, 5]);
    x.data.set(a.data, 0);
    x.data.set(b.data, 25);
    const out = tenCropBatch(x, 3);
    assert.deepEqual(out.shape, [20, 1, 3, 3]);
    const viewsB = tenCrop(b, 3);
    for (let v = 0; v < 10; v++) assert.deepEqual(out.data.subarray((10 + v) * 9, (11 + v) * 9), viewsB[v].data);
    assert.throws(() => tenCrop(a, 6), /a 6x6 crop is larger than the 5x5 image/);
  });

  test("ten crops of the padded image equal torchvision's Pad then TenCrop, normalised (test/fixtures/recipe.json)", () => {
    const fixture = JSON.parse(readFileSync(fileURLToPath(new URL("../../test/fixtures/recipe.json", import.meta.url)), "utf8"));
    const cases = fixture.tenCrop as { name: string; shape: [number, number, number]; image: number[]; size: [number, number];
      padding: number; mean: number[]; std: number[]; expected: number[] }[];
    assert.equal(cases.length, 3);
    for (const k of cases) {
      const [c, h, w] = k.shape;
      // Stride pads the normalised image, so the padding is a black pixel's normalised value.
      const x = new Tensor([1, c, h, w], Float32Array.from(k.image, (v, i) => {
        const ch = Math.floor(i / (h * w));
        return (v - k.mean[ch]) / k.std[ch];
      }));
      const out = tenCropBatch(x, k.size, { padding: k.padding, fill: k.mean.map((m, ch) => -m / k.std[ch]) });
      assert.deepEqual(out.shape, [10, c, ...k.size]);
      for (let i = 0; i < k.expected.length; i++) {
        assert.ok(Math.abs(out.data[i] - k.expected[i]) <= 1e-5, `${k.name}: value ${i}: ${out.data[i]}, torchvision ${k.expected[i]}`);
      }
    }
  });

  test("ten crops of the image padded by 1 at its own size are the image, its diagonal one-pixel shifts and their mirrors", () => {
    const img = coded(1, 4, 5);
    const views = tenCrop(img, [4, 5], { padding: 1, fill: -7 });
    const offsets = views.slice(0, 5).map((v) => [at(v, 0, 1, 1), at(v, 0, 1, 3)]);
    // View 0 starts one pixel above and left of the image: its (1, 1) is the image's (0, 0); view 4 is the image.
    assert.deepEqual(offsets, [[at(img, 0, 0, 0), at(img, 0, 0, 2)], [at(img, 0, 0, 2), at(img, 0, 0, 4)],
      [at(img, 0, 2, 0), at(img, 0, 2, 2)], [at(img, 0, 2, 2), at(img, 0, 2, 4)], [at(img, 0, 1, 1), at(img, 0, 1, 3)]]);
    assert.deepEqual(views[4].data, img.data);
    assert.equal(at(views[0], 0, 0, 0), -7);
    assert.deepEqual(views[9].data, flipHorizontal(img).data);
    assert.throws(() => tenCrop(img, 4, { padding: -1 }), /padding = -1 must be a whole number >= 0/);
    assert.throws(() => tenCrop(img, 7, { padding: 1 }), /a 7x7 crop is larger than the 4x5 image padded by 1/);
    assert.throws(() => tenCrop(img, 4, { padding: 1, fill: [1, 2] }), /2 fill values for an image of 1 channels/);
  });
});
