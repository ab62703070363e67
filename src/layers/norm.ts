/**
 * Normalisation layers: batch normalisation (per feature map for conv
 * inputs, per activation for FC inputs) and AlexNet's local response
 * normalisation across channels.
 */
import { Tensor, formatShape, beginMeta } from "../tensor.js";
import { ShapeError, numberIn, positiveInt, checkOptions } from "../shape.js";
import { getBackend } from "../kernels/index.js";
import { Layer, makeParam, expectRank, type Buffer, type ForwardContext, type Param, type ShapeInfo } from "./layer.js";
import { allocFloats } from "../tensor.js";

/** Options of BatchNorm1d and BatchNorm2d, as PyTorch's. */
export interface BatchNormOptions {
  numFeatures: number;
  eps?: number;
  /** Weight of the new batch in the running estimates; null for a cumulative average (as PyTorch). */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
  name?: string;
  /** Build with parameter shapes but no storage, for counting at any size (summary, estimateMemory, receptiveField); running it throws. */
  meta?: boolean;
}

/**
 * y = gamma * (x - mean) / sqrt(var + eps) + beta. In training the batch
 * statistics are used (biased variance) and the running estimates updated
 * with the unbiased one, as PyTorch does; in evaluation the running
 * estimates are used.
 */
abstract class BatchNormBase extends Layer {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  readonly weight: Param | null;
  readonly bias: Param | null;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  numBatchesTracked = 0;
  /**
   * Normalise with the running statistics even while training, and leave them
   * alone: a batch norm inside a frozen feature extractor (freeze with
   * statistics: "freeze", as Keras does for non-trainable layers, or
   * PyTorch's idiom of calling .eval() on them). Not saved with the model.
   */
  frozenStatistics = false;

  private x: Tensor | null = null;
  /** The output, kept when a ReLU ran fused (ctx.fuseRelu): backward masks its gradient with it. */
  private y: Tensor | null = null;
  private reluFused = false;
  private mean: Float32Array | null = null;
  private invStd: Float32Array | null = null;
  private usedBatchStats = false;

  constructor(opts: BatchNormOptions, className: string) {
    checkOptions(className, opts, ["numFeatures", "eps", "momentum", "affine", "trackRunningStats", "name", "meta"]);
    super(opts?.name, "bn");
    if (!opts || typeof opts !== "object") throw new ShapeError(className, "expects an options object { numFeatures, … }");
    this.numFeatures = positiveInt(this.name, "numFeatures", opts.numFeatures);
    this.eps = numberIn(this.name, "eps", opts.eps ?? 1e-5, 0, Infinity, [false, false]);
    this.momentum = opts.momentum === null ? null : numberIn(this.name, "momentum", opts.momentum ?? 0.1, 0, 1);
    this.affine = opts.affine ?? true;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    const c = this.numFeatures;
    const endMeta = beginMeta(opts.meta === true);
    try {
      this.weight = this.affine ? makeParam("weight", Tensor.ones([c])) : null;
      this.bias = this.affine ? makeParam("bias", Tensor.zeros([c])) : null;
      this.runningMean = Tensor.zeros([c]);
      this.runningVar = Tensor.ones([c]);
    } finally {
      endMeta();
    }
  }

  override get namePrefix(): string {
    return "bn";
  }

  override params(): Param[] {
    return this.weight && this.bias ? [this.weight, this.bias] : [];
  }

  override buffers(): Buffer[] {
    return this.trackRunningStats
      ? [{ name: "runningMean", value: this.runningMean }, { name: "runningVar", value: this.runningVar }]
      : [];
  }

  config(): Record<string, unknown> {
    return { numFeatures: this.numFeatures, eps: this.eps, momentum: this.momentum, affine: this.affine, trackRunningStats: this.trackRunningStats };
  }

  /**
   * This layer in evaluation mode as one affine map per feature, y = x * scale + shift
   * (null when it normalises with batch statistics even then: trackRunningStats off).
   * A container folds it into the convolution before it (models/fusion.ts).
   */
  evalAffine(): { scale: Float32Array; shift: Float32Array } | null {
    if (!this.trackRunningStats) return null;
    const c = this.numFeatures, eps = this.eps;
    const scale = new Float32Array(c), shift = new Float32Array(c);
    const variance = this.runningVar.data, mean = this.runningMean.data;
    const gamma = this.weight ? this.weight.value.data : null, beta = this.bias ? this.bias.value.data : null;
    for (let i = 0; i < c; i++) {
      // The same roundings as the unfused path: invStd is a float32, scale and shift are formed from it as batchNormApply does.
      const invStd = Math.fround(1 / Math.sqrt(variance[i] + eps));
      const s = (gamma ? gamma[i] : 1) * invStd;
      scale[i] = s;
      shift[i] = (beta ? beta[i] : 0) - Math.fround(mean[i]) * s;
    }
    return { scale, shift };
  }

  /** [N, C, spatial] of an input, after the subclass has checked its rank. */
  protected abstract layout(shape: readonly number[]): [number, number, number];

  shapeInfo(inputShape: number[]): ShapeInfo {
    const [, c] = this.layout(inputShape);
    if (c !== this.numFeatures) {
      throw this.error(`expects ${this.numFeatures} features (channels) but the input ${formatShape(inputShape)} has ${c} on axis 1`, inputShape);
    }
    return { shape: inputShape.slice(), notes: [] };
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    this.shapeInfo(x.shape);
    const [n, c, spatial] = this.layout(x.shape);
    const y = Tensor.empty(x.shape); // both batch-norm kernels write all of y
    const backend = getBackend();
    const gamma = this.weight ? this.weight.value.data : null;
    const beta = this.bias ? this.bias.value.data : null;
    const batchStats = ((ctx?.training ?? false) && !this.frozenStatistics) || !this.trackRunningStats;
    const relu = ctx?.fuseRelu === true;
    const mean = allocFloats(c), invStd = allocFloats(c);
    if (batchStats) {
      const count = n * spatial;
      if (count < 2 && ctx?.training) {
        throw this.error(
          `needs more than 1 value per feature to compute batch statistics in training, got input ${formatShape(x.shape)}; ` +
            `use a batch of 2 or more`,
          x.shape,
        );
      }
      backend.batchNormTrain(x.data, gamma, beta, y.data, mean, invStd, n, c, spatial, this.eps, relu);
      if (ctx?.training && this.trackRunningStats) this.updateRunningStats(mean, invStd, count);
    } else {
      for (let i = 0; i < c; i++) {
        mean[i] = this.runningMean.data[i];
        invStd[i] = 1 / Math.sqrt(this.runningVar.data[i] + this.eps);
      }
      backend.batchNormApply(x.data, gamma, beta, y.data, mean, invStd, n, c, spatial, relu);
    }
    if (ctx?.noGrad) this.release();
    else {
      this.x = x;
      this.y = relu ? y : null;
      this.reluFused = relu;
      this.mean = mean;
      this.invStd = invStd;
      this.usedBatchStats = batchStats;
    }
    return y;
  }

  private updateRunningStats(mean: Float32Array, invStd: Float32Array, count: number): void {
    this.numBatchesTracked++;
    const m = this.momentum ?? 1 / this.numBatchesTracked;
    for (let i = 0; i < this.numFeatures; i++) {
      const biasedVar = 1 / (invStd[i] * invStd[i]) - this.eps;
      const unbiasedVar = (biasedVar * count) / (count - 1);
      this.runningMean.data[i] = (1 - m) * this.runningMean.data[i] + m * mean[i];
      this.runningVar.data[i] = (1 - m) * this.runningVar.data[i] + m * unbiasedVar;
    }
  }

  backward(dy: Tensor): Tensor {
    const x = this.requireCache(this.x);
    this.checkGradShape(dy, x.shape);
    const [n, c, spatial] = this.layout(x.shape);
    const dx = Tensor.empty(x.shape); // overwritten by the kernel
    getBackend().batchNormBackward(
      x.data, dy.data, this.requireCache(this.mean), this.requireCache(this.invStd),
      this.weight ? this.weight.value.data : null, dx.data,
      this.weight?.trainable ? this.weight.grad.data : null,
      this.bias?.trainable ? this.bias.grad.data : null,
      n, c, spatial, this.usedBatchStats, this.reluFused ? this.requireCache(this.y).data : null,
    );
    return dx;
  }

  override release(): void {
    this.x = this.y = null;
    this.mean = this.invStd = null;
  }
}

/** Batch norm per feature map: input [N, C, H, W]. */
export class BatchNorm2d extends BatchNormBase {
  readonly type: string = "BatchNorm2d";
  constructor(opts: BatchNormOptions) {
    super(opts, "BatchNorm2d");
  }
  protected layout(shape: readonly number[]): [number, number, number] {
    expectRank(this, shape, [4], "[N, C, H, W]");
    return [shape[0], shape[1], shape[2] * shape[3]];
  }
}

/** Batch norm per activation: input [N, C] (after a fully connected layer) or [N, C, L]. */
export class BatchNorm1d extends BatchNormBase {
  readonly type: string = "BatchNorm1d";
  constructor(opts: BatchNormOptions) {
    super(opts, "BatchNorm1d");
  }
  protected layout(shape: readonly number[]): [number, number, number] {
    expectRank(this, shape, [2, 3], "[N, C] or [N, C, L]");
    return [shape[0], shape[1], shape.length === 3 ? shape[2] : 1];
  }
}

/** Options of LocalResponseNorm (AlexNet's), as PyTorch's. */
export interface LocalResponseNormOptions {
  size: number;
  alpha?: number;
  beta?: number;
  k?: number;
  name?: string;
}

/**
 * AlexNet's local response normalisation across channels, PyTorch's form:
 * b_c = a_c / (k + alpha/size * sum of a_j^2 over the `size` channels around c)^beta.
 */
export class LocalResponseNorm extends Layer {
  readonly type: string = "LocalResponseNorm";
  readonly size: number;
  readonly alpha: number;
  readonly beta: number;
  readonly k: number;
  private x: Tensor | null = null;
  private denom: Float32Array | null = null;

  constructor(opts: LocalResponseNormOptions) {
    checkOptions("LocalResponseNorm", opts, ["size", "alpha", "beta", "k", "name"]);
    super(opts?.name, "lrn");
    if (!opts || typeof opts !== "object") throw new ShapeError("LocalResponseNorm", "expects an options object { size, alpha, beta, k }");
    this.size = positiveInt(this.name, "size", opts.size);
    this.alpha = numberIn(this.name, "alpha", opts.alpha ?? 1e-4, -Infinity, Infinity);
    this.beta = numberIn(this.name, "beta", opts.beta ?? 0.75, -Infinity, Infinity);
    this.k = numberIn(this.name, "k", opts.k ?? 1, -Infinity, Infinity);
  }

  override get namePrefix(): string {
    return "lrn";
  }

  config(): Record<string, unknown> {
    return { size: this.size, alpha: this.alpha, beta: this.beta, k: this.k };
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    if (inputShape.length < 3) {
      throw this.error(`expects an input of rank 3 or more ([N, C, …]) but got ${formatShape(inputShape)}`, inputShape);
    }
    return { shape: inputShape.slice(), notes: [] };
  }

  /** The channel window of channel c: [c - floor(size/2), c + floor((size-1)/2)], clipped. */
  private window(c: number, channels: number): [number, number] {
    return [Math.max(0, c - Math.floor(this.size / 2)), Math.min(channels - 1, c + Math.floor((this.size - 1) / 2))];
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    this.shapeInfo(x.shape);
    const [n, c] = x.shape;
    const spatial = x.size / (n * c);
    const y = new Tensor(x.shape);
    const denom = allocFloats(x.size);
    const scale = this.alpha / this.size;
    for (let b = 0; b < n; b++) {
      for (let ch = 0; ch < c; ch++) {
        const [lo, hi] = this.window(ch, c);
        const o = (b * c + ch) * spatial;
        for (let p = 0; p < spatial; p++) {
          let s = 0;
          for (let j = lo; j <= hi; j++) {
            const v = x.data[(b * c + j) * spatial + p];
            s += v * v;
          }
          const d = this.k + scale * s;
          denom[o + p] = d;
          y.data[o + p] = x.data[o + p] * Math.pow(d, -this.beta);
        }
      }
    }
    this.x = ctx?.noGrad ? null : x;
    this.denom = ctx?.noGrad ? null : denom;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const x = this.requireCache(this.x), denom = this.requireCache(this.denom);
    this.checkGradShape(dy, x.shape);
    const [n, c] = x.shape;
    const spatial = x.size / (n * c);
    const dx = new Tensor(x.shape);
    const coef = (2 * this.alpha * this.beta) / this.size;
    // t_c = dy_c * x_c * d_c^(-beta-1); dx_j = dy_j d_j^-beta - coef * x_j * sum of t_c over channels c whose window holds j.
    const t = allocFloats(c);
    for (let b = 0; b < n; b++) {
      for (let p = 0; p < spatial; p++) {
        for (let ch = 0; ch < c; ch++) {
          const i = (b * c + ch) * spatial + p;
          t[ch] = dy.data[i] * x.data[i] * Math.pow(denom[i], -this.beta - 1);
        }
        for (let j = 0; j < c; j++) {
          const lo = Math.max(0, j - Math.floor((this.size - 1) / 2));
          const hi = Math.min(c - 1, j + Math.floor(this.size / 2));
          let s = 0;
          for (let ch = lo; ch <= hi; ch++) s += t[ch];
          const i = (b * c + j) * spatial + p;
          dx.data[i] = dy.data[i] * Math.pow(denom[i], -this.beta) - coef * x.data[i] * s;
        }
      }
    }
    return dx;
  }

  override release(): void {
    this.x = this.denom = null;
  }
}
