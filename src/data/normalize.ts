/**
 * Per-channel mean/std normalisation, (x - mean[c]) / std[c], as
 * torchvision's Normalize. The statistics are plain numbers, so a saved
 * model can carry them and prediction applies exactly what training did.
 */
import { Tensor, formatShape } from "../tensor.js";
import type { Dataset } from "./dataset.js";

/** Per-channel mean and standard deviation: inputs become (x - mean) / std. */
export interface Normalization {
  mean: number[];
  std: number[];
}

/**
 * The mean and (population) standard deviation of each channel over every
 * pixel of every example (or of the given examples only: use the training
 * part, never the test part). A constant channel gets std 1 so that it is
 * centred rather than divided by zero.
 */
export function computeNormalization(ds: Dataset, indices?: ArrayLike<number>): Normalization {
  const [c, h, w] = ds.shape;
  const plane = h * w;
  const count = indices ? indices.length : ds.length;
  if (count === 0) throw new Error(`computeNormalization: dataset "${ds.name}" has no examples to measure`);
  const sum = new Float64Array(c);
  const sumSq = new Float64Array(c);
  for (let k = 0; k < count; k++) {
    const i = indices ? indices[k] : k;
    if (!Number.isInteger(i) || i < 0 || i >= ds.length) throw new Error(`computeNormalization: index ${i} is outside [0, ${ds.length - 1}]`);
    for (let ch = 0; ch < c; ch++) {
      const start = (i * c + ch) * plane;
      let s = 0;
      let s2 = 0;
      for (let p = start; p < start + plane; p++) {
        const v = ds.images[p];
        s += v;
        s2 += v * v;
      }
      sum[ch] += s;
      sumSq[ch] += s2;
    }
  }
  const n = count * plane;
  const mean: number[] = [];
  const std: number[] = [];
  for (let ch = 0; ch < c; ch++) {
    const m = sum[ch] / n;
    const variance = Math.max(sumSq[ch] / n - m * m, 0);
    mean.push(m);
    std.push(variance > 0 ? Math.sqrt(variance) : 1);
  }
  return { mean, std };
}

/** Checks statistics read from a file or written by hand. */
export function checkNormalization(value: unknown, channels?: number): Normalization {
  const v = value as Partial<Normalization> | null;
  const isNumbers = (a: unknown): a is number[] => Array.isArray(a) && a.every((x) => typeof x === "number" && Number.isFinite(x));
  if (!v || typeof v !== "object" || !isNumbers(v.mean) || !isNumbers(v.std)) {
    throw new Error(`normalization ${JSON.stringify(value)} must be { mean: number[], std: number[] } of finite numbers`);
  }
  if (v.mean.length !== v.std.length || v.mean.length === 0) {
    throw new Error(`normalization has ${v.mean.length} means and ${v.std.length} stds; give one of each per channel`);
  }
  if (channels !== undefined && v.mean.length !== channels) {
    throw new Error(`normalization is for ${v.mean.length} channel(s) but the images have ${channels}`);
  }
  if (v.std.some((s) => s <= 0)) throw new Error(`normalization std ${JSON.stringify(v.std)} must be positive`);
  return { mean: v.mean.slice(), std: v.std.slice() };
}

/** Serialisable form (plain JSON numbers). */
export function normalizationToJSON(norm: Normalization): { mean: number[]; std: number[] } {
  return { mean: norm.mean.slice(), std: norm.std.slice() };
}

function applyPlanes(data: Float32Array, planes: number, channels: number, plane: number, norm: Normalization, invert: boolean): void {
  const scale = norm.std.map((s) => 1 / s);
  for (let k = 0; k < planes; k++) {
    const ch = k % channels;
    const m = norm.mean[ch];
    const s = norm.std[ch];
    const inv = scale[ch];
    const start = k * plane;
    const end = start + plane;
    if (invert) for (let p = start; p < end; p++) data[p] = data[p] * s + m;
    else for (let p = start; p < end; p++) data[p] = (data[p] - m) * inv;
  }
}

/** Normalises every image of a dataset in place (once: do not apply it twice). */
export function normalizeDataset(ds: Dataset, norm: Normalization): Dataset {
  checkNormalization(norm, ds.shape[0]);
  applyPlanes(ds.images, ds.length * ds.shape[0], ds.shape[0], ds.shape[1] * ds.shape[2], norm, false);
  return ds;
}

function tensorPlanes(x: Tensor, norm: Normalization, where: string): { planes: number; channels: number; plane: number } {
  if (x.rank !== 4 && x.rank !== 3) {
    throw new Error(`${where}: expects a [N, C, H, W] batch or a [C, H, W] image, got ${formatShape(x.shape)}`);
  }
  const channels = x.shape[x.rank - 3];
  checkNormalization(norm, channels);
  const plane = x.shape[x.rank - 2] * x.shape[x.rank - 1];
  return { planes: x.size / plane, channels, plane };
}

/** Normalises a [N, C, H, W] batch (or one [C, H, W] image) in place and returns it. */
export function normalizeTensor(x: Tensor, norm: Normalization): Tensor {
  const { planes, channels, plane } = tensorPlanes(x, norm, "normalizeTensor");
  applyPlanes(x.data, planes, channels, plane, norm, false);
  return x;
}

/** Undoes normalizeTensor in place (for showing images). */
export function denormalizeTensor(x: Tensor, norm: Normalization): Tensor {
  const { planes, channels, plane } = tensorPlanes(x, norm, "denormalizeTensor");
  applyPlanes(x.data, planes, channels, plane, norm, true);
  return x;
}
