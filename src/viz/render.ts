/**
 * Pictures of what a network computes, as RGBA pixel buffers (the page puts
 * them on a canvas, the CLI writes them as PNG): an activation volume as its
 * depth slices laid out in rows, as in the notes' figure of a small VGG net,
 * and a layer's filters as small images. Every slice is stretched to the full
 * grey range on its own (its minimum black, its maximum white), because the
 * slices of one volume differ in scale by orders of magnitude.
 */
import { formatShape } from "../tensor.js";

/** A picture as 8-bit RGBA pixels, row by row (what a canvas or a PNG writer takes). */
export interface RgbaImage {
  width: number;
  height: number;
  /** width * height * 4 bytes, row-major RGBA. */
  data: Uint8ClampedArray;
}

/** One 2-D picture in a grid: grey (1 value per pixel) or RGB (3 planes). */
export interface Slice {
  height: number;
  width: number;
  channels: 1 | 3;
  /** channels planes of height * width values; NaN marks a cell left empty. */
  values: Float32Array;
}

/** How slices are laid out in a picture: scale, gaps and the widest it may be. */
export interface GridOptions {
  /** Screen pixels per value (default: the smallest whole number that makes a slice's longer side at least minSide). */
  scale?: number;
  /** See scale (default 24). */
  minSide?: number;
  /** Pixels between slices and around the grid (default 2). */
  gap?: number;
  /** Slices per row (default: as many as fit in maxWidth). */
  columns?: number;
  /** Widest row in pixels when columns is not given (default 640). */
  maxWidth?: number;
  /** RGBA of the gaps and empty cells (default dark grey). */
  background?: [number, number, number, number];
}

const DEFAULT_BACKGROUND: [number, number, number, number] = [60, 60, 60, 255];
/** Longest row of a vector (a fully connected layer's output) before it wraps. */
const VECTOR_ROW = 32;

/**
 * The depth slices of one example's activation volume:
 * [C, H, W] gives C slices of H x W; [C, L] (a sequence) one slice of C rows;
 * [F] (a vector) one slice, wrapped into rows of 32 values.
 */
export function volumeSlices(values: Float32Array, shape: number[]): Slice[] {
  const size = shape.reduce((a, b) => a * b, 1);
  if (values.length !== size) throw new Error(`volumeSlices: shape ${formatShape(shape)} holds ${size} values but ${values.length} were given`);
  if (shape.length === 3) {
    const [c, h, w] = shape;
    return Array.from({ length: c }, (_, i) => ({ height: h, width: w, channels: 1 as const, values: values.subarray(i * h * w, (i + 1) * h * w) }));
  }
  if (shape.length === 2) return [{ height: shape[0], width: shape[1], channels: 1, values }];
  if (shape.length === 1) {
    const width = Math.min(shape[0], VECTOR_ROW);
    const height = Math.ceil(shape[0] / width);
    const padded = new Float32Array(width * height).fill(NaN);
    padded.set(values);
    return [{ height, width, channels: 1, values: padded }];
  }
  throw new Error(`volumeSlices: cannot draw a volume of shape ${formatShape(shape)}; give [C, H, W], [C, L] or [F]`);
}

/**
 * A convolution's filters: weights [O, I, kH, kW] give one RGB image per
 * filter when I is 3, otherwise I grey slices per filter (a filter per row
 * of the grid: use columns = I). Conv1d weights [O, I, k] give one I x k
 * slice per filter.
 */
export function filterSlices(weights: Float32Array, shape: number[]): Slice[] {
  const size = shape.reduce((a, b) => a * b, 1);
  if (weights.length !== size) throw new Error(`filterSlices: shape ${formatShape(shape)} holds ${size} values but ${weights.length} were given`);
  if (shape.length === 4) {
    const [o, i, kh, kw] = shape;
    const per = i * kh * kw;
    if (i === 3) {
      return Array.from({ length: o }, (_, f) => ({ height: kh, width: kw, channels: 3 as const, values: weights.subarray(f * per, (f + 1) * per) }));
    }
    return Array.from({ length: o * i }, (_, s) => ({ height: kh, width: kw, channels: 1 as const, values: weights.subarray(s * kh * kw, (s + 1) * kh * kw) }));
  }
  if (shape.length === 3) {
    const [o, i, k] = shape;
    return Array.from({ length: o }, (_, f) => ({ height: i, width: k, channels: 1 as const, values: weights.subarray(f * i * k, (f + 1) * i * k) }));
  }
  throw new Error(`filterSlices: weights of shape ${formatShape(shape)} are not a convolution's; give [O, I, kH, kW] or [O, I, k]`);
}

/**
 * A slice's values mapped to 0..255 by its own range: the minimum is 0, the
 * maximum 255. A constant slice is black when it is zero (a dead ReLU
 * channel) and mid-grey otherwise. NaN (an empty cell) stays NaN.
 */
export function normalizeSlice(values: Float32Array): Float32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (Number.isNaN(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const out = new Float32Array(values.length);
  const range = hi - lo;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v)) out[i] = NaN;
    else if (!(range > 0)) out[i] = v === 0 ? 0 : 128;
    else out[i] = Math.round(((v - lo) / range) * 255);
  }
  return out;
}

/** The whole-number scale that makes a slice's longer side at least minSide pixels (at most 16x). */
export function autoScale(slices: Slice[], minSide = 24): number {
  const side = Math.max(1, ...slices.map((s) => Math.max(s.height, s.width)));
  return Math.min(16, Math.max(1, Math.ceil(minSide / side)));
}

/** Lays slices out in rows, each scaled up by whole pixels (nearest neighbour) and normalised on its own. */
export function renderSlices(slices: Slice[], opts: GridOptions = {}): RgbaImage {
  if (slices.length === 0) throw new Error("renderSlices: nothing to draw (no slices)");
  const scale = opts.scale ?? autoScale(slices, opts.minSide);
  const gap = opts.gap ?? 2;
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`renderSlices: scale = ${scale} must be a whole number >= 1`);
  if (!Number.isInteger(gap) || gap < 0) throw new Error(`renderSlices: gap = ${gap} must be a whole number >= 0`);
  const cellW = Math.max(...slices.map((s) => s.width)) * scale;
  const cellH = Math.max(...slices.map((s) => s.height)) * scale;
  const maxWidth = opts.maxWidth ?? 640;
  const columns = Math.min(slices.length, opts.columns ?? Math.max(1, Math.floor((maxWidth - gap) / (cellW + gap))));
  if (!Number.isInteger(columns) || columns < 1) throw new Error(`renderSlices: columns = ${opts.columns} must be a whole number >= 1`);
  const rows = Math.ceil(slices.length / columns);
  const width = gap + columns * (cellW + gap);
  const height = gap + rows * (cellH + gap);
  const data = new Uint8ClampedArray(width * height * 4);
  const bg = opts.background ?? DEFAULT_BACKGROUND;
  for (let p = 0; p < width * height; p++) data.set(bg, p * 4);

  slices.forEach((s, index) => {
    const x0 = gap + (index % columns) * (cellW + gap);
    const y0 = gap + Math.floor(index / columns) * (cellH + gap);
    const plane = s.height * s.width;
    // RGB filters are normalised over all three planes together, so their colours keep their balance.
    const grey = normalizeSlice(s.values);
    for (let y = 0; y < s.height; y++) {
      for (let x = 0; x < s.width; x++) {
        const i = y * s.width + x;
        const rgb = s.channels === 3 ? [grey[i], grey[plane + i], grey[2 * plane + i]] : [grey[i], grey[i], grey[i]];
        if (Number.isNaN(rgb[0])) continue;
        for (let dy = 0; dy < scale; dy++) {
          let at = ((y0 + y * scale + dy) * width + x0 + x * scale) * 4;
          for (let dx = 0; dx < scale; dx++, at += 4) {
            data[at] = rgb[0];
            data[at + 1] = rgb[1];
            data[at + 2] = rgb[2];
            data[at + 3] = 255;
          }
        }
      }
    }
  });
  return { width, height, data };
}

/** One example's activation volume as its depth slices in rows. */
export function renderVolume(values: Float32Array, shape: number[], opts: GridOptions = {}): RgbaImage {
  // A vector is one slice of up to 32 values a row: cells of 6 pixels keep it readable next to the images.
  return renderSlices(volumeSlices(values, shape), { ...opts, scale: opts.scale ?? (shape.length === 1 ? 6 : undefined) });
}

/** A convolution's filters as images: a filter per cell (RGB), or per row of I slices. */
export function renderFilters(weights: Float32Array, shape: number[], opts: GridOptions = {}): RgbaImage {
  const slices = filterSlices(weights, shape);
  const perFilter = shape.length === 4 && shape[1] !== 3 ? shape[1] : undefined;
  // Filters over several input channels: one filter per row, unless that row would be absurdly wide.
  const columns = opts.columns ?? (perFilter !== undefined && perFilter > 1 && perFilter <= 64 ? perFilter : undefined);
  return renderSlices(slices, { minSide: 20, gap: 4, ...opts, columns });
}

/** An input image [C, H, W]: colour when C is 3, grey slices otherwise. */
export function renderInput(values: Float32Array, shape: number[], opts: GridOptions = {}): RgbaImage {
  if (shape.length === 3 && shape[0] === 3) {
    return renderSlices([{ height: shape[1], width: shape[2], channels: 3, values }], opts);
  }
  return renderVolume(values, shape, opts);
}
