/**
 * Random erasing against torchvision 0.14's semantics. torch's random stream
 * cannot be reproduced here, so the checks are: F.erase for a fixed box
 * (fixture); the box size get_params derives from torch's own draws
 * (fixture, replayed from the same seeds); and, over many of stride's own
 * draws, the distributions of area share, aspect ratio and position, and p.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Rng } from "../src/random.js";
import { StrideError } from "../src/stride-error.js";
import { erase, erasingBoxSize, randomErasing, type Image, type RandomErasingOptions } from "../src/data/augment.js";

const FIXTURE = fileURLToPath(new URL("../../test/fixtures/recipe.json", import.meta.url));

interface EraseCase { name: string; shape: [number, number, number]; image: number[]; box: [number, number, number, number]; fill: number[]; expected: number[] }
interface BoxCases {
  height: number;
  width: number;
  cases: { seed: number; attempts: { scaleDraw: number; logRatioDraw: number; fits: boolean }[]; box: [number, number, number, number] }[];
}
const fixture = JSON.parse(readFileSync(FIXTURE, "utf8")) as { erase: EraseCase[]; erasingBoxes: BoxCases };

for (const c of fixture.erase) {
  test(`erase (${c.name}) fills the box as torchvision's F.erase`, () => {
    const [top, left, h, w] = c.box;
    const out = erase({ data: Float32Array.from(c.image), shape: c.shape }, top, left, h, w, c.fill);
    assert.deepEqual(Array.from(out.data), Array.from(Float32Array.from(c.expected)));
  });
}

test("the box sizes torchvision's get_params derives from its draws, attempt by attempt", () => {
  const { height, width, cases } = fixture.erasingBoxes;
  let retried = 0;
  for (const c of cases) {
    for (const [k, a] of c.attempts.entries()) {
      const size = erasingBoxSize(height, width, a.scaleDraw, a.logRatioDraw);
      assert.equal(size !== null, a.fits, `seed ${c.seed}, attempt ${k}: fits ${a.fits}, stride says ${JSON.stringify(size)}`);
      if (a.fits) assert.deepEqual(size, [c.box[2], c.box[3]], `seed ${c.seed}`);
      else retried++;
    }
  }
  assert.ok(retried > 50, `the fixture should exercise the retries (${retried})`);
});

/** Erases a blank 1-channel image with fill 1 and reads the box back: [top, left, h, w], or null. */
function sampleBox(augment: ReturnType<typeof randomErasing>, rng: Rng, height: number, width: number): number[] | null {
  const out = augment({ data: new Float32Array(height * width), shape: [1, height, width] }, rng);
  let top = height, left = width, bottom = -1, right = -1;
  out.data.forEach((v, i) => {
    if (v !== 1) return;
    const y = Math.floor(i / width), x = i % width;
    top = Math.min(top, y), left = Math.min(left, x), bottom = Math.max(bottom, y), right = Math.max(right, x);
  });
  return bottom < 0 ? null : [top, left, bottom - top + 1, right - left + 1];
}

/**
 * The expected mean of a function of the box (h, w) under torchvision's
 * sampling, by a fine midpoint grid over the two uniform draws, keeping the
 * draws whose box fits (the retries make the accepted box that conditional).
 */
function gridExpectation(height: number, width: number, scale: [number, number], ratio: [number, number], f: (h: number, w: number) => number): number {
  const n = 400;
  let sum = 0, count = 0;
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      const s = scale[0] + ((a + 0.5) / n) * (scale[1] - scale[0]);
      const r = Math.log(ratio[0]) + ((b + 0.5) / n) * (Math.log(ratio[1]) - Math.log(ratio[0]));
      const size = erasingBoxSize(height, width, s, r);
      if (!size) continue;
      sum += f(size[0], size[1]);
      count++;
    }
  }
  return sum / count;
}

test("over many draws the boxes follow torchvision's distributions of area, aspect ratio and position", () => {
  const [height, width] = [28, 28];
  const options: RandomErasingOptions = { p: 1, scale: [0.02, 0.33], ratio: [0.3, 3.3], value: 1 };
  const augment = randomErasing(options);
  const rng = new Rng(11);
  const draws = 4000;
  const area: number[] = [], logAspect: number[] = [], topShare: number[] = [], wide: number[] = [];
  for (let i = 0; i < draws; i++) {
    const box = sampleBox(augment, rng, height, width)!;
    const [top, , h, w] = box;
    area.push((h * w) / (height * width));
    logAspect.push(Math.log(h / w));
    wide.push(w > h ? 1 : 0);
    if (height - h > 0) topShare.push(top / (height - h));
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
  const expect = (name: string, xs: number[], expected: number) => {
    const tolerance = (5 * sd(xs)) / Math.sqrt(xs.length);
    assert.ok(Math.abs(mean(xs) - expected) < tolerance, `${name}: mean ${mean(xs)}, expected ${expected} ± ${tolerance}`);
  };
  const scale = options.scale!, ratio = options.ratio!;
  expect("area share", area, gridExpectation(height, width, scale, ratio, (h, w) => (h * w) / (height * width)));
  expect("log aspect ratio", logAspect, gridExpectation(height, width, scale, ratio, (h, w) => Math.log(h / w)));
  expect("share of boxes wider than tall", wide, gridExpectation(height, width, scale, ratio, (h, w) => (w > h ? 1 : 0)));
  // The corner is uniform over the places the box fits: its share of the free rows averages 1/2.
  expect("top / (height - h)", topShare, 0.5);
  assert.ok(Math.min(...area) >= 0.015 && Math.max(...area) <= 0.36, `area shares in [${Math.min(...area)}, ${Math.max(...area)}]`);
});

test("an image is erased with probability p, and left alone when no box fits in 10 attempts", () => {
  const rng = new Rng(3);
  for (const p of [0, 0.3, 1]) {
    const augment = randomErasing({ p, value: 1 });
    const n = 3000;
    let erased = 0;
    for (let i = 0; i < n; i++) if (sampleBox(augment, rng, 28, 28)) erased++;
    const tolerance = 5 * Math.sqrt((p * (1 - p)) / n);
    assert.ok(Math.abs(erased / n - p) <= tolerance, `p = ${p}: erased ${erased} of ${n}`);
  }
  // A 2x2 image: every box of area share >= 0.9 is at least 2 pixels on a side, so none fits.
  const img: Image = { data: Float32Array.from([1, 2, 3, 4]), shape: [1, 2, 2] };
  assert.equal(randomErasing({ p: 1, scale: [0.9, 1], ratio: [1, 1] })(img, rng), img);
});

test("fill values: one number, one per channel, or standard normal noise; the same Rng state gives the same image", () => {
  const img: Image = { data: new Float32Array(3 * 20 * 20).fill(5), shape: [3, 20, 20] };
  const perChannel = randomErasing({ p: 1, value: [0.25, 0.5, 0.75] })(img, new Rng(1));
  for (let ch = 0; ch < 3; ch++) {
    const plane = Array.from(perChannel.data.subarray(ch * 400, (ch + 1) * 400));
    assert.ok(plane.some((v) => v === [0.25, 0.5, 0.75][ch]) && plane.every((v) => v === 5 || v === [0.25, 0.5, 0.75][ch]), `channel ${ch}`);
  }
  const noise: number[] = [];
  const random = randomErasing({ p: 1, value: "random", scale: [0.3, 0.33] });
  const rng = new Rng(2);
  for (let i = 0; i < 40; i++) noise.push(...Array.from(random(img, rng).data).filter((v) => v !== 5));
  const mean = noise.reduce((a, b) => a + b, 0) / noise.length;
  const variance = noise.reduce((a, b) => a + (b - mean) ** 2, 0) / noise.length;
  assert.ok(noise.length > 5000 && Math.abs(mean) < 0.05 && Math.abs(variance - 1) < 0.05, `noise mean ${mean}, variance ${variance}`);
  const again = (seed: number) => Array.from(randomErasing({ p: 0.5, value: "random" })(img, new Rng(seed)).data);
  assert.deepEqual(again(9), again(9));
});

test("bad random-erasing options are refused with what to pass instead", () => {
  const bad: [RandomErasingOptions, RegExp][] = [
    [{ p: 1.5 }, /p = 1.5 must be in \[0, 1\]/],
    [{ scale: [0.5, 0.1] }, /scale = \[0.5,0.1\] must be \[min, max\]/],
    [{ scale: [0.1, 1.2] }, /scale = \[0.1,1.2\] must be \[min, max\] with 0 <= min <= max <= 1/],
    [{ ratio: [0, 2] }, /ratio = \[0,2\] must be \[min, max\]/],
    [{ value: "noise" as "random" }, /value = "noise" must be a number, one number per channel, or "random"/],
  ];
  for (const [options, message] of bad) assert.throws(() => randomErasing(options), (e: Error) => e instanceof StrideError && message.test(e.message));
  const rgb: Image = { data: new Float32Array(3 * 4 * 4), shape: [3, 4, 4] };
  assert.throws(() => randomErasing({ p: 1, value: [0, 0] })(rgb, new Rng(1)), /2 fill values for 3-channel images; give one number or 3/);
  assert.throws(() => erase(rgb, 2, 2, 3, 3, [0]), /the 3x3 box at \(2, 2\) is not inside the 4x4 image/);
});
