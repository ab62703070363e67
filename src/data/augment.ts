/**
 * Data augmentation on one CHW image at a time, every random choice drawn
 * from the Rng it is given (never Math.random), so the same seed gives the
 * same augmented epoch. Apply augmentation to images in [0, 1] before
 * normalising them (colour jitter clamps to [0, 1], as torchvision does).
 *
 * Semantics follow torchvision: RandomCrop(size, padding) with zero fill,
 * RandomHorizontalFlip(p), ColorJitter(brightness, contrast, saturation)
 * with factors uniform in [max(0, 1 - v), 1 + v] applied in random order,
 * TenCrop(size) returning the four corners and the centre, then their mirrors.
 */
import { Rng } from "../random.js";
import { Tensor, formatShape } from "../tensor.js";

/** One image as augmentations see it: CHW values and their shape. */
export interface Image {
  /** c * h * w values, CHW. */
  data: Float32Array;
  shape: [number, number, number];
}

/** One augmentation step: returns a new image (possibly of a new shape) or the input unchanged; never changes its input. */
export type Augmentation = (image: Image, rng: Rng) => Image;

type Size = number | [number, number];

function resolveSize(size: Size, where: string): [number, number] {
  const pair: [number, number] = typeof size === "number" ? [size, size] : Array.isArray(size) && size.length === 2 ? [size[0], size[1]] : [NaN, NaN];
  if (!pair.every((v) => Number.isInteger(v) && v >= 1)) throw new Error(`${where}: size ${JSON.stringify(size)} must be a whole number >= 1 or [height, width]`);
  return pair;
}

function checkImage(img: Image, where: string): void {
  const [c, h, w] = img.shape;
  if (img.data.length !== c * h * w) throw new Error(`${where}: image of shape ${formatShape(img.shape)} has ${img.data.length} values, not ${c * h * w}`);
}

/** Runs the steps one after the other. */
export function compose(...steps: Augmentation[]): Augmentation {
  return (image, rng) => steps.reduce((img, step) => step(img, rng), image);
}

/**
 * The window of `outH` x `outW` whose top-left corner is at (top, left) in the
 * image; parts outside the image are `fill`. Negative offsets reach into the
 * padding above / left of the image.
 */
export function crop(img: Image, top: number, left: number, outH: number, outW: number, fill = 0): Image {
  checkImage(img, "crop");
  const [c, h, w] = img.shape;
  const out = new Float32Array(c * outH * outW);
  if (fill !== 0) out.fill(fill);
  const x0 = Math.max(0, -left);
  const x1 = Math.min(outW, w - left);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < outH; y++) {
      const sy = top + y;
      if (sy < 0 || sy >= h || x1 <= x0) continue;
      const from = ch * h * w + sy * w + left;
      out.set(img.data.subarray(from + x0, from + x1), ch * outH * outW + y * outW + x0);
    }
  }
  return { data: out, shape: [c, outH, outW] };
}

/** Options of randomCrop. */
export interface RandomCropOptions {
  size: Size;
  /** Zero padding added on every side before cropping (CIFAR: 4 with size 32). Default 0. */
  padding?: number;
  /** The value of padded pixels. Default 0. */
  fill?: number;
}

/** A window of `size` at a uniformly random position in the (padded) image. */
export function randomCrop(options: RandomCropOptions): Augmentation {
  const [outH, outW] = resolveSize(options.size, "randomCrop");
  const pad = options.padding ?? 0;
  if (!Number.isInteger(pad) || pad < 0) throw new Error(`randomCrop: padding = ${pad} must be a whole number >= 0`);
  const fill = options.fill ?? 0;
  return (img, rng) => {
    const [, h, w] = img.shape;
    if (h + 2 * pad < outH || w + 2 * pad < outW) {
      throw new Error(`randomCrop: a ${outH}x${outW} crop does not fit in a ${h}x${w} image padded by ${pad}`);
    }
    const top = rng.int(h + 2 * pad - outH + 1) - pad;
    const left = rng.int(w + 2 * pad - outW + 1) - pad;
    return crop(img, top, left, outH, outW, fill);
  };
}

/**
 * The centre window of `size`. When the margin is odd, the extra pixel is
 * left at the bottom/right (torchvision rounds half to even, which moves it
 * from side to side with the size).
 */
export function centerCrop(img: Image, size: Size): Image {
  const [outH, outW] = resolveSize(size, "centerCrop");
  const [, h, w] = img.shape;
  return crop(img, Math.floor((h - outH) / 2), Math.floor((w - outW) / 2), outH, outW);
}

/** The image mirrored left to right (a new image). */
export function flipHorizontal(img: Image): Image {
  checkImage(img, "flipHorizontal");
  const [c, h, w] = img.shape;
  const out = new Float32Array(img.data.length);
  for (let row = 0; row < c * h; row++) {
    const at = row * w;
    for (let x = 0; x < w; x++) out[at + x] = img.data[at + w - 1 - x];
  }
  return { data: out, shape: [c, h, w] };
}

/** Mirrors left to right with probability p (default 0.5). */
export function randomHorizontalFlip(options: { p?: number } = {}): Augmentation {
  const p = options.p ?? 0.5;
  if (!(p >= 0 && p <= 1)) throw new Error(`randomHorizontalFlip: p = ${p} must be in [0, 1]`);
  return (img, rng) => (rng.next() < p ? flipHorizontal(img) : img);
}

/**
 * Shifts the image by a whole number of pixels, uniformly in
 * [-maxShift, maxShift] along each axis, filling the uncovered border with 0.
 * `maxShift` is a number of pixels or [vertical, horizontal].
 */
export function randomTranslate(options: { maxShift: number | [number, number]; fill?: number }): Augmentation {
  const m = options.maxShift;
  const [my, mx]: [number, number] = typeof m === "number" ? [m, m] : Array.isArray(m) && m.length === 2 ? [m[0], m[1]] : [NaN, NaN];
  if (![my, mx].every((v) => Number.isInteger(v) && v >= 0)) throw new Error(`randomTranslate: maxShift ${JSON.stringify(m)} must be whole numbers >= 0`);
  const fill = options.fill ?? 0;
  return (img, rng) => {
    const dy = rng.int(2 * my + 1) - my;
    const dx = rng.int(2 * mx + 1) - mx;
    // Moving the content by (dy, dx) is reading the window that starts at (-dy, -dx).
    return crop(img, -dy, -dx, img.shape[1], img.shape[2], fill);
  };
}

/** Random changes of colour for colorJitter; each factor is drawn per image. */
export interface ColorJitterOptions {
  /** Brightness factor uniform in [max(0, 1 - b), 1 + b]. Default 0 (off). */
  brightness?: number;
  /** Contrast factor, same range; blends with the image's mean grey level. */
  contrast?: number;
  /** Saturation factor, same range; blends with the grey image (RGB only). */
  saturation?: number;
}

const LUMA = [0.299, 0.587, 0.114];

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** The grey level of every pixel (ITU-R 601 luma for RGB; the channel itself for grey). */
function greyPlane(img: Image): Float32Array {
  const [c, h, w] = img.shape;
  const n = h * w;
  if (c !== 3) return img.data.slice(0, n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = LUMA[0] * img.data[i] + LUMA[1] * img.data[n + i] + LUMA[2] * img.data[2 * n + i];
  return out;
}

/** Multiplies every value by `factor` (clamped to [0, 1]), as torchvision's adjust_brightness. */
export function adjustBrightness(img: Image, factor: number): Image {
  const out = img.data.slice();
  for (let i = 0; i < out.length; i++) out[i] = clamp01(out[i] * factor);
  return { data: out, shape: [...img.shape] };
}

/** Blends the image with its mean grey level: 0 gives flat grey, 1 the image, above 1 more contrast. */
export function adjustContrast(img: Image, factor: number): Image {
  const grey = greyPlane(img);
  let mean = 0;
  for (let i = 0; i < grey.length; i++) mean += grey[i];
  mean /= grey.length;
  const out = img.data.slice();
  for (let i = 0; i < out.length; i++) out[i] = clamp01(factor * out[i] + (1 - factor) * mean);
  return { data: out, shape: [...img.shape] };
}

/** Blends with the grey image; a grey (1-channel) image is unchanged. */
export function adjustSaturation(img: Image, factor: number): Image {
  if (img.shape[0] !== 3) return img;
  const grey = greyPlane(img);
  const n = grey.length;
  const out = img.data.slice();
  for (let i = 0; i < out.length; i++) out[i] = clamp01(factor * out[i] + (1 - factor) * grey[i % n]);
  return { data: out, shape: [...img.shape] };
}

/** Random brightness, contrast and saturation, applied in a random order. */
export function colorJitter(options: ColorJitterOptions): Augmentation {
  const amounts: [string, number, (img: Image, f: number) => Image][] = [
    ["brightness", options.brightness ?? 0, adjustBrightness],
    ["contrast", options.contrast ?? 0, adjustContrast],
    ["saturation", options.saturation ?? 0, adjustSaturation],
  ];
  for (const [name, v] of amounts) {
    if (!(typeof v === "number" && v >= 0 && Number.isFinite(v))) throw new Error(`colorJitter: ${name} = ${v} must be a number >= 0`);
  }
  const active = amounts.filter(([, v]) => v > 0);
  return (img, rng) => {
    checkImage(img, "colorJitter");
    let out = img;
    for (const k of rng.permutation(active.length)) {
      const [, v, apply] = active[k];
      out = apply(out, rng.uniform(Math.max(0, 1 - v), 1 + v));
    }
    return out;
  };
}

/**
 * AlexNet's ten test-time views of `size`: top-left, top-right, bottom-left,
 * bottom-right and centre, then the same five of the mirrored image.
 */
export function tenCrop(img: Image, size: Size): Image[] {
  const [outH, outW] = resolveSize(size, "tenCrop");
  const [, h, w] = img.shape;
  if (outH > h || outW > w) throw new Error(`tenCrop: a ${outH}x${outW} crop is larger than the ${h}x${w} image`);
  const five = (src: Image) => [
    crop(src, 0, 0, outH, outW),
    crop(src, 0, w - outW, outH, outW),
    crop(src, h - outH, 0, outH, outW),
    crop(src, h - outH, w - outW, outH, outW),
    centerCrop(src, [outH, outW]),
  ];
  return [...five(img), ...five(flipHorizontal(img))];
}

/**
 * Ten-crop of every image of a [N, C, H, W] batch as a [10N, C, size, size]
 * batch: image n's views are rows 10n .. 10n + 9, so averaging a model's
 * outputs over each group of ten gives the ten-crop prediction.
 */
export function tenCropBatch(x: Tensor, size: Size): Tensor {
  if (x.rank !== 4) throw new Error(`tenCropBatch: expects a [N, C, H, W] batch, got ${formatShape(x.shape)}`);
  const [n, c, h, w] = x.shape;
  const [outH, outW] = resolveSize(size, "tenCropBatch");
  const out = new Tensor([10 * n, c, outH, outW]);
  const per = c * outH * outW;
  for (let i = 0; i < n; i++) {
    const img: Image = { data: Float32Array.from(x.data.subarray(i * c * h * w, (i + 1) * c * h * w)), shape: [c, h, w] };
    tenCrop(img, [outH, outW]).forEach((view, v) => out.data.set(view.data, (10 * i + v) * per));
  }
  return out;
}

/** Applies an augmentation to a whole dataset-shaped array (for previews and tests). */
export function augmentImage(augment: Augmentation, data: Float32Array, shape: [number, number, number], rng: Rng): Image {
  const img: Image = { data: data.slice(), shape: [...shape] };
  checkImage(img, "augmentImage");
  return augment(img, rng);
}
