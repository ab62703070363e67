/**
 * Data augmentation on one CHW image at a time, every random choice drawn
 * from the Rng it is given (never Math.random), so the same seed gives the
 * same augmented epoch. Apply augmentation to images in [0, 1] before
 * normalising them (colour jitter clamps to [0, 1], as torchvision does).
 *
 * Semantics follow torchvision: RandomCrop(size, padding) with zero fill,
 * RandomHorizontalFlip(p), ColorJitter(brightness, contrast, saturation)
 * with factors uniform in [max(0, 1 - v), 1 + v] applied in random order,
 * TenCrop(size) returning the four corners and the centre, then their mirrors
 * (after Pad(padding, fill) when tenCrop is given a padding),
 * RandomErasing(p, scale, ratio, value) with torchvision 0.14's sampling.
 */
import { Rng } from "../random.js";
import { Tensor, formatShape } from "../tensor.js";
import { StrideError } from "../stride-error.js";

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
 * image; parts outside the image are `fill` (one value, or one per channel).
 * Negative offsets reach into the padding above / left of the image.
 */
export function crop(img: Image, top: number, left: number, outH: number, outW: number, fill: number | ArrayLike<number> = 0): Image {
  checkImage(img, "crop");
  const [c, h, w] = img.shape;
  const out = new Float32Array(c * outH * outW);
  if (typeof fill === "number") {
    if (fill !== 0) out.fill(fill);
  } else {
    if (fill.length !== c) throw new StrideError(`crop: ${fill.length} fill values for an image of ${c} channels; give one per channel, or one number`);
    for (let ch = 0; ch < c; ch++) out.fill(fill[ch], ch * outH * outW, (ch + 1) * outH * outW);
  }
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

/** Options of randomErasing, torchvision's RandomErasing parameters. */
export interface RandomErasingOptions {
  /** Probability of erasing a box in an image (default 0.5). */
  p?: number;
  /** Range of the box's area as a share of the image's (default [0.02, 0.33]). */
  scale?: [number, number];
  /** Range of the box's aspect ratio height / width, sampled uniformly in log space (default [0.3, 3.3]). */
  ratio?: [number, number];
  /** What fills the box: a number (default 0), one number per channel, or "random" (standard normal noise per value). */
  value?: number | number[] | "random";
}

/** Python's round(): halves go to the even neighbour (torchvision rounds the box's sides with it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The box sides torchvision's RandomErasing.get_params derives from one draw:
 * area share `scaleDraw` (uniform in scale) and log aspect ratio `logRatioDraw`
 * (uniform in log(ratio)); h = round(sqrt(area * r)), w = round(sqrt(area / r)).
 * Null when the box does not fit strictly inside the image (torchvision then tries again).
 */
export function erasingBoxSize(height: number, width: number, scaleDraw: number, logRatioDraw: number): [number, number] | null {
  const eraseArea = height * width * scaleDraw;
  // torchvision samples the ratio in float32 (torch.exp of a float32 tensor).
  const aspect = Math.fround(Math.exp(logRatioDraw));
  const h = roundHalfEven(Math.sqrt(eraseArea * aspect));
  const w = roundHalfEven(Math.sqrt(eraseArea / aspect));
  return h < height && w < width ? [h, w] : null;
}

/** The image with the h x w box at (top, left) set to `fill` (torchvision's F.erase); fill holds 1, C or C*h*w values. */
export function erase(img: Image, top: number, left: number, h: number, w: number, fill: ArrayLike<number>): Image {
  checkImage(img, "erase");
  const [c, height, width] = img.shape;
  if (!(top >= 0 && left >= 0 && top + h <= height && left + w <= width)) {
    throw new StrideError(`erase: the ${h}x${w} box at (${top}, ${left}) is not inside the ${height}x${width} image`);
  }
  if (fill.length !== 1 && fill.length !== c && fill.length !== c * h * w) {
    throw new StrideError(`erase: ${fill.length} fill values for a ${c}-channel ${h}x${w} box; give 1, ${c} (one per channel) or ${c * h * w}`);
  }
  const out = img.data.slice();
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = fill.length === 1 ? fill[0] : fill.length === c ? fill[ch] : fill[(ch * h + y) * w + x];
        out[ch * height * width + (top + y) * width + left + x] = v;
      }
    }
  }
  return { data: out, shape: [c, height, width] };
}

function checkRange(where: string, name: string, r: unknown, low: number, high: number): [number, number] {
  if (!Array.isArray(r) || r.length !== 2 || !r.every((v) => typeof v === "number" && v >= low && v <= high) || r[0] > r[1]) {
    throw new StrideError(`${where}: ${name} = ${JSON.stringify(r)} must be [min, max] with ${low} <= min <= max${high === Infinity ? "" : ` <= ${high}`}`);
  }
  return [r[0], r[1]];
}

/**
 * Random erasing (Zhong et al.; torchvision 0.14's RandomErasing): with
 * probability p, a box of random area share (uniform in scale) and aspect
 * ratio (log-uniform in ratio) is placed uniformly inside the image and
 * filled with `value`; after 10 boxes that do not fit the image is left as
 * it is. Apply it after normalisation in torchvision, here to the [0, 1]
 * image (value 0 is then black, not the mean). Every draw comes from the
 * augmentation's Rng, so stride's boxes are not torchvision's boxes for a
 * seed, only drawn from the same distributions.
 */
export function randomErasing(options: RandomErasingOptions = {}): Augmentation {
  const where = "randomErasing";
  const p = options.p ?? 0.5;
  if (typeof p !== "number" || !(p >= 0 && p <= 1)) throw new StrideError(`${where}: p = ${p} must be in [0, 1]`);
  const scale = checkRange(where, "scale", options.scale ?? [0.02, 0.33], 0, 1);
  const ratio = checkRange(where, "ratio", options.ratio ?? [0.3, 3.3], Number.MIN_VALUE, Infinity);
  const value = options.value ?? 0;
  const random = value === "random";
  const values = random ? [] : typeof value === "number" ? [value] : value;
  if (!random && (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === "number" && Number.isFinite(v)))) {
    throw new StrideError(`${where}: value = ${JSON.stringify(value)} must be a number, one number per channel, or "random"`);
  }
  // In float32, as torchvision's torch.log(torch.tensor(ratio)).
  const logRatio = [Math.fround(Math.log(ratio[0])), Math.fround(Math.log(ratio[1]))];
  return (img, rng) => {
    checkImage(img, where);
    if (!(rng.next() < p)) return img;
    const [c, height, width] = img.shape;
    if (!random && values.length !== 1 && values.length !== c) {
      throw new StrideError(`${where}: ${values.length} fill values for ${c}-channel images; give one number or ${c}`);
    }
    for (let attempt = 0; attempt < 10; attempt++) {
      const box = erasingBoxSize(height, width, Math.fround(rng.uniform(scale[0], scale[1])), Math.fround(rng.uniform(logRatio[0], logRatio[1])));
      if (!box) continue;
      const [h, w] = box;
      const fill = random ? Float32Array.from({ length: c * h * w }, () => rng.normal()) : values;
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return erase(img, top, left, h, w, fill);
    }
    return img;
  };
}

/** Options of tenCrop and tenCropBatch. */
export interface TenCropOptions {
  /**
   * Pixels added on every side before cropping, as torchvision's Pad before
   * TenCrop. For images the size of the model's input, trained on crops of the
   * padded image: 28x28 crops of a 28x28 image padded by 1 are the image and
   * its four diagonal one-pixel shifts, and their mirrors. Default 0.
   */
  padding?: number;
  /** The value of padded pixels: one number, or one per channel (for normalised images, a black pixel's normalised value). Default 0. */
  fill?: number | ArrayLike<number>;
}

/**
 * AlexNet's ten test-time views of `size`: top-left, top-right, bottom-left,
 * bottom-right and centre, then the same five of the mirrored image; of the
 * image padded by `padding` when given.
 */
export function tenCrop(img: Image, size: Size, options: TenCropOptions = {}): Image[] {
  const [outH, outW] = resolveSize(size, "tenCrop");
  const pad = options.padding ?? 0;
  if (!Number.isInteger(pad) || pad < 0) throw new StrideError(`tenCrop: padding = ${pad} must be a whole number >= 0`);
  const fill = options.fill ?? 0;
  const [, h, w] = img.shape;
  const ph = h + 2 * pad, pw = w + 2 * pad;
  if (outH > ph || outW > pw) {
    throw new StrideError(`tenCrop: a ${outH}x${outW} crop is larger than the ${h}x${w} image${pad ? ` padded by ${pad}` : ""}`);
  }
  // Offsets in the padded image, moved back by the padding.
  const five = (src: Image) => [
    crop(src, -pad, -pad, outH, outW, fill),
    crop(src, -pad, pw - outW - pad, outH, outW, fill),
    crop(src, ph - outH - pad, -pad, outH, outW, fill),
    crop(src, ph - outH - pad, pw - outW - pad, outH, outW, fill),
    crop(src, Math.floor((ph - outH) / 2) - pad, Math.floor((pw - outW) / 2) - pad, outH, outW, fill),
  ];
  return [...five(img), ...five(flipHorizontal(img))];
}

/**
 * Ten-crop of every image of a [N, C, H, W] batch as a [10N, C, size, size]
 * batch: image n's views are rows 10n .. 10n + 9, so averaging a model's
 * outputs over each group of ten gives the ten-crop prediction.
 */
export function tenCropBatch(x: Tensor, size: Size, options: TenCropOptions = {}): Tensor {
  if (x.rank !== 4) throw new StrideError(`tenCropBatch: expects a [N, C, H, W] batch, got ${formatShape(x.shape)}`);
  const [n, c, h, w] = x.shape;
  const [outH, outW] = resolveSize(size, "tenCropBatch");
  const out = new Tensor([10 * n, c, outH, outW]);
  const per = c * outH * outW;
  for (let i = 0; i < n; i++) {
    const img: Image = { data: Float32Array.from(x.data.subarray(i * c * h * w, (i + 1) * c * h * w)), shape: [c, h, w] };
    tenCrop(img, [outH, outW], options).forEach((view, v) => out.data.set(view.data, (10 * i + v) * per));
  }
  return out;
}

/** Every image of a [N, C, H, W] batch mirrored left to right (test-time flips). */
export function flipBatch(x: Tensor): Tensor {
  if (x.rank !== 4) throw new StrideError(`flipBatch: expects a [N, C, H, W] batch, got ${formatShape(x.shape)}`);
  const w = x.shape[3];
  const out = new Tensor(x.shape);
  for (let row = 0; row < x.size / w; row++) {
    const at = row * w;
    for (let col = 0; col < w; col++) out.data[at + col] = x.data[at + w - 1 - col];
  }
  return out;
}

/** Applies an augmentation to a whole dataset-shaped array (for previews and tests). */
export function augmentImage(augment: Augmentation, data: Float32Array, shape: [number, number, number], rng: Rng): Image {
  const img: Image = { data: data.slice(), shape: [...shape] };
  checkImage(img, "augmentImage");
  return augment(img, rng);
}
