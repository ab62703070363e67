/**
 * Images from disk: a folder with one sub-folder per class (torchvision's
 * ImageFolder layout), and single files for prediction. PNG (pngjs) and JPEG
 * (jpeg-js) are recognised by their signature bytes, not their extension;
 * every image is resized with our own bilinear interpolation (PyTorch's
 * align_corners=False convention) and converted to 1 (grey) or 3 (RGB)
 * channels, alpha dropped, values in [0, 1].
 */
import { Tensor } from "../tensor.js";
import { createDataset, type Dataset } from "./dataset.js";
import { StrideError } from "../stride-error.js";

/** A decoded PNG or JPEG: RGBA bytes, row by row. */
export interface DecodedImage {
  width: number;
  height: number;
  /** width * height * 4 bytes, RGBA, row-major. */
  rgba: Uint8Array;
}

/** An image file that cannot be read or decoded; names the file. */
export class ImageReadError extends StrideError {
  constructor(readonly path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "ImageReadError";
  }
}


/** Grey (1) or RGB (3) images. */
export type Channels = 1 | 3;

/** How an image becomes a network input: size, channels and how it is fitted. */
export interface ImageOptions {
  /** Output size: a number for square, or [height, width]. Default: the image's own size. */
  size?: number | [number, number];
  /** 1 for grey (ITU-R 601 luma, as PIL's "L"), 3 for RGB. Default 3. */
  channels?: Channels;
  /**
   * "stretch" (default) resizes to exactly the size; "cover" keeps the aspect
   * ratio, scaling the shorter side to fit and cropping the centre.
   */
  fit?: "stretch" | "cover";
  /** Largest image accepted, in pixels (width x height) as its header states; default DEFAULT_MAX_IMAGE_PIXELS. */
  maxPixels?: number;
}

/** Default cap on an image's size: 100 megapixels (400 MB as RGBA). Raise it with the maxPixels option. */
export const DEFAULT_MAX_IMAGE_PIXELS = 100_000_000;

/**
 * Width and height from a PNG's IHDR or a JPEG's SOF header, without decoding;
 * null when the header cannot be found (the decoder then reports the damage).
 */
export function imageHeaderSize(bytes: Uint8Array): { format: "png" | "jpeg"; width: number; height: number } | null {
  const u16 = (i: number) => (bytes[i] << 8) | bytes[i + 1];
  const u32 = (i: number) => ((bytes[i] << 24) >>> 0) + (bytes[i + 1] << 16) + (bytes[i + 2] << 8) + bytes[i + 3];
  // PNG: signature (8 bytes), IHDR length (4) and type (4), then width and height.
  if (bytes.length >= 24 && bytes[0] === 0x89 && bytes[1] === 0x50 && String.fromCharCode(...bytes.subarray(12, 16)) === "IHDR") {
    return { format: "png", width: u32(16), height: u32(20) };
  }
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
  // JPEG: walk the marker segments up to the frame header (SOF0-SOF15 but DHT, JPG, DAC).
  let i = 2;
  while (i + 3 < bytes.length) {
    if (bytes[i] !== 0xff) return null;
    const marker = bytes[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2; // markers without a length
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return null; // scan data or the end before any frame header
    const length = u16(i + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (i + 9 > bytes.length) return null;
      return { format: "jpeg", height: u16(i + 5), width: u16(i + 7) };
    }
    i += 2 + length;
  }
  return null;
}

/** Refuses an image whose header states a zero or oversized width or height, before it is decoded. */
export function checkImageHeader(bytes: Uint8Array, source: string, maxPixels = DEFAULT_MAX_IMAGE_PIXELS): void {
  const size = imageHeaderSize(bytes);
  if (!size) return;
  const { format, width, height } = size;
  if (width === 0 || height === 0) {
    throw new ImageReadError(source, `its header states a size of ${width}x${height}; an image needs at least one pixel each way (the file is damaged)`);
  }
  if (width * height > maxPixels) {
    throw new ImageReadError(
      source,
      `its header states ${width}x${height} = ${width * height} pixels, more than the limit of ${maxPixels}; ` +
        `the file is damaged or hostile, or pass a larger maxPixels to read an image this large`,
    );
  }
  // Compression has a ceiling, so a size the file's bytes cannot encode is refused
  // before the decoder allocates for it. A Huffman-coded JPEG spends at least one
  // bit on each 8x8 block (we allow half that); deflate expands at most 1032:1 and
  // a PNG row is at least 1 + width/8 bytes.
  const least = format === "jpeg" ? Math.ceil((width * height) / 1024) : Math.ceil((height * (1 + Math.ceil(width / 8))) / 1032);
  if (bytes.length < least) {
    throw new ImageReadError(
      source,
      `its header states ${width}x${height} pixels, but the file holds only ${bytes.length} bytes and a ${format.toUpperCase()} that size needs at least ${least}; ` +
        `the file is truncated, damaged or hostile`,
    );
  }
}

/** RGBA bytes to a CHW Float32Array of 1 or 3 channels in [0, 1]. */
export function rgbaToChannels(img: DecodedImage, channels: Channels): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(channels * n);
  const px = img.rgba;
  if (channels === 3) {
    for (let i = 0; i < n; i++) {
      out[i] = px[4 * i] / 255;
      out[n + i] = px[4 * i + 1] / 255;
      out[2 * n + i] = px[4 * i + 2] / 255;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const luma = 0.299 * px[4 * i] + 0.587 * px[4 * i + 1] + 0.114 * px[4 * i + 2];
      out[i] = Math.min(luma / 255, 1);
    }
  }
  return out;
}

/**
 * Bilinear resize of a CHW image, as PyTorch's
 * F.interpolate(mode="bilinear", align_corners=False, antialias=False):
 * pixel centres are aligned, and source coordinates below 0 are clamped.
 */
export function resizeBilinear(src: Float32Array, channels: number, inH: number, inW: number, outH: number, outW: number): Float32Array {
  if (src.length !== channels * inH * inW) {
    throw new Error(`resizeBilinear: ${channels}x${inH}x${inW} needs ${channels * inH * inW} values, got ${src.length}`);
  }
  for (const [what, v] of [["height", outH], ["width", outW]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`resizeBilinear: output ${what} ${v} must be a whole number >= 1`);
  }
  const out = new Float32Array(channels * outH * outW);
  const ys = axisWeights(inH, outH);
  const xs = axisWeights(inW, outW);
  for (let c = 0; c < channels; c++) {
    const plane = c * inH * inW;
    const dst = c * outH * outW;
    for (let oy = 0; oy < outH; oy++) {
      const r0 = plane + ys.lo[oy] * inW;
      const r1 = plane + ys.hi[oy] * inW;
      const fy = ys.frac[oy];
      for (let ox = 0; ox < outW; ox++) {
        const x0 = xs.lo[ox];
        const x1 = xs.hi[ox];
        const fx = xs.frac[ox];
        const top = src[r0 + x0] * (1 - fx) + src[r0 + x1] * fx;
        const bottom = src[r1 + x0] * (1 - fx) + src[r1 + x1] * fx;
        out[dst + oy * outW + ox] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return out;
}

function axisWeights(inSize: number, outSize: number): { lo: Int32Array; hi: Int32Array; frac: Float64Array } {
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const frac = new Float64Array(outSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const s = Math.max((o + 0.5) * scale - 0.5, 0);
    const i0 = Math.min(Math.floor(s), inSize - 1);
    lo[o] = i0;
    hi[o] = Math.min(i0 + 1, inSize - 1);
    frac[o] = s - i0;
  }
  return { lo, hi, frac };
}

export function resolveSize(size: ImageOptions["size"], fallback: [number, number], where: string): [number, number] {
  if (size === undefined) return fallback;
  const pair: [number, number] = typeof size === "number" ? [size, size] : Array.isArray(size) && size.length === 2 ? [size[0], size[1]] : [NaN, NaN];
  if (!pair.every((v) => Number.isInteger(v) && v >= 1)) {
    throw new Error(`${where}: size ${JSON.stringify(size)} must be a whole number >= 1 or [height, width]`);
  }
  return pair;
}

export function checkChannels(channels: unknown, where: string): Channels {
  if (channels !== 1 && channels !== 3) throw new Error(`${where}: channels = ${JSON.stringify(channels)} must be 1 (grey) or 3 (RGB)`);
  return channels;
}

/** A decoded image as CHW pixels of the requested size and channel count. */
export function prepareImage(img: DecodedImage, options: ImageOptions = {}): { data: Float32Array; shape: [number, number, number] } {
  const channels = checkChannels(options.channels ?? 3, "image");
  const [outH, outW] = resolveSize(options.size, [img.height, img.width], "image");
  let data = rgbaToChannels(img, channels);
  if (options.fit === "cover") {
    // Scale so that the image covers the target, then take the centre.
    const scale = Math.max(outH / img.height, outW / img.width);
    const midH = Math.max(outH, Math.round(img.height * scale));
    const midW = Math.max(outW, Math.round(img.width * scale));
    data = resizeBilinear(data, channels, img.height, img.width, midH, midW);
    data = cropCHW(data, channels, midH, midW, Math.floor((midH - outH) / 2), Math.floor((midW - outW) / 2), outH, outW);
  } else if (options.fit === undefined || options.fit === "stretch") {
    if (outH !== img.height || outW !== img.width) data = resizeBilinear(data, channels, img.height, img.width, outH, outW);
  } else {
    throw new Error(`image: fit = ${JSON.stringify(options.fit)} must be "stretch" or "cover"`);
  }
  return { data, shape: [channels, outH, outW] };
}

function cropCHW(src: Float32Array, c: number, h: number, w: number, top: number, left: number, outH: number, outW: number): Float32Array {
  const out = new Float32Array(c * outH * outW);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < outH; y++) {
      const from = ch * h * w + (top + y) * w + left;
      out.set(src.subarray(from, from + outW), ch * outH * outW + y * outW);
    }
  }
  return out;
}
