/**
 * Convolutional layers: Conv2d (stride, zero-padding of every form, dilation,
 * groups), Conv1d for text CNNs, and LocallyConnected2d, the convolution
 * without parameter sharing that the notes describe for centred faces.
 */
import { Tensor, formatShape, beginMeta, sameShape } from "../tensor.js";
import {
  ShapeError, checkOptions, fit2d, toPair, positiveInt, resolvePadding2d, checkPadding2d,
  type Conv2dGeometry, type IntOrPair, type Pair, type Padding2d,
} from "../shape.js";
import { getBackend } from "../kernels/index.js";
import { Layer, makeParam, expectRank, unrequestedGradient, type ForwardContext, type Param, type ShapeInfo, type ShapeOptions } from "./layer.js";
import { checkInit, initBias, initWeight, type InitName } from "./init.js";
import { Rng } from "../random.js";

/** Options of Conv2d, as PyTorch's: channels, kernel, stride, padding (numbers, pairs, per-side or "same"), dilation, groups, bias and initialisation. */
export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  kernelSize: IntOrPair;
  stride?: IntOrPair;
  /** A number, [h, w], [top, bottom, left, right], "same" or "valid". */
  padding?: Padding2d;
  dilation?: IntOrPair;
  groups?: number;
  bias?: boolean;
  name?: string;
  /** Refuse inexact fits instead of flooring. */
  strict?: boolean;
  init?: InitName;
  /** The generator for the initial weights (default: the global one). */
  rng?: Rng;
  /** Build with parameter shapes but no storage, for counting at any size (summary, estimateMemory, receptiveField); running it throws. */
  meta?: boolean;
}

/** Adds a batch axis of 1 to an unbatched input (PyTorch accepts both). */
function batched(x: Tensor, rank: number): Tensor {
  return x.rank === rank - 1 ? x.reshape([1, ...x.shape]) : x;
}

export class Conv2d extends Layer {
  readonly type: string = "Conv2d";
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: Pair;
  readonly stride: Pair;
  readonly padding: Padding2d;
  readonly dilation: Pair;
  readonly groups: number;
  readonly strict: boolean;
  readonly init: InitName;
  readonly weight: Param;
  readonly bias: Param | null;
  /** Whether the last forward pass applied a fused ReLU (ctx.fuseRelu), so backward masks its gradient. */
  private reluFused = false;

  private x: Tensor | null = null;
  private y: Tensor | null = null;
  private geom: Conv2dGeometry | null = null;
  private unbatched = false;
  private inputGrad = true;

  constructor(opts: Conv2dOptions) {
    checkOptions("Conv2d", opts, ["inChannels", "outChannels", "kernelSize", "stride", "padding", "dilation", "groups", "bias", "name", "strict", "init", "rng", "meta"]);
    super(opts?.name, "conv");
    if (!opts || typeof opts !== "object") throw new ShapeError("Conv2d", "expects an options object { inChannels, outChannels, kernelSize, … }");
    this.inChannels = positiveInt(this.name, "inChannels", opts.inChannels);
    this.outChannels = positiveInt(this.name, "outChannels", opts.outChannels);
    this.kernelSize = toPair(this.name, "kernelSize", opts.kernelSize, [NaN, NaN]);
    this.stride = toPair(this.name, "stride", opts.stride, [1, 1]);
    this.dilation = toPair(this.name, "dilation", opts.dilation, [1, 1]);
    this.groups = positiveInt(this.name, "groups", opts.groups ?? 1);
    checkPadding2d(this.name, opts.padding);
    this.padding = opts.padding ?? 0;
    this.strict = opts.strict ?? false;
    this.init = checkInit(this.name, opts.init);
    if (this.inChannels % this.groups !== 0 || this.outChannels % this.groups !== 0) {
      throw this.error(
        `groups = ${this.groups} must divide both inChannels = ${this.inChannels} and outChannels = ${this.outChannels}` +
          ` (${this.inChannels} / ${this.groups} = ${+(this.inChannels / this.groups).toFixed(3)}, ` +
          `${this.outChannels} / ${this.groups} = ${+(this.outChannels / this.groups).toFixed(3)})`,
      );
    }
    const [kH, kW] = this.kernelSize;
    const fanIn = (this.inChannels / this.groups) * kH * kW;
    const fanOut = (this.outChannels / this.groups) * kH * kW;
    const endMeta = beginMeta(opts.meta === true);
    try {
      this.weight = makeParam("weight", new Tensor([this.outChannels, this.inChannels / this.groups, kH, kW]));
      initWeight(this.weight.value, this.init, fanIn, fanOut, opts.rng);
      this.bias = opts.bias === false ? null : makeParam("bias", new Tensor([this.outChannels]));
      if (this.bias) initBias(this.bias.value, this.init, fanIn, opts.rng);
    } finally {
      endMeta();
    }
  }

  override get namePrefix(): string {
    return "conv";
  }

  override params(): Param[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }

  config(): Record<string, unknown> {
    return {
      inChannels: this.inChannels, outChannels: this.outChannels, kernelSize: this.kernelSize,
      stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups,
      bias: this.bias !== null, strict: this.strict, init: this.init,
    };
  }

  /** The resolved geometry for an input shape ([N, C, H, W] or [C, H, W]). */
  geometry(inputShape: readonly number[], opts?: ShapeOptions): { geom: Conv2dGeometry; notes: string[] } {
    expectRank(this, inputShape, [3, 4], "[N, C, H, W] (or [C, H, W])");
    const s = inputShape.length === 3 ? [1, ...inputShape] : inputShape;
    const [n, c, h, w] = s;
    if (c !== this.inChannels) {
      throw this.error(
        `expects ${this.inChannels} input channels but the input ${formatShape(inputShape)} has ${c}` +
          ` (the channel axis is ${inputShape.length === 3 ? 0 : 1}: NCHW)`,
        inputShape,
      );
    }
    const pad = resolvePadding2d(this.name, this.padding, h, w, this.kernelSize, this.stride, this.dilation);
    const fit = fit2d(this.name, inputShape, h, w, {
      kernel: this.kernelSize, stride: this.stride, pad, dilation: this.dilation,
    }, opts?.strict || this.strict);
    const geom: Conv2dGeometry = {
      batch: n, inChannels: c, inH: h, inW: w, outChannels: this.outChannels,
      kH: this.kernelSize[0], kW: this.kernelSize[1], strideH: this.stride[0], strideW: this.stride[1],
      padTop: pad[0], padBottom: pad[1], padLeft: pad[2], padRight: pad[3],
      dilationH: this.dilation[0], dilationW: this.dilation[1], groups: this.groups,
      outH: fit.outH, outW: fit.outW,
    };
    return { geom, notes: fit.notes };
  }

  shapeInfo(inputShape: number[], opts?: ShapeOptions): ShapeInfo {
    const { geom, notes } = this.geometry(inputShape, opts);
    const out = [this.outChannels, geom.outH, geom.outW];
    return { shape: inputShape.length === 3 ? out : [geom.batch, ...out], notes };
  }

  override macs(inputShape: number[]): number {
    const { geom: g } = this.geometry(inputShape);
    return g.batch * g.outChannels * g.outH * g.outW * (g.inChannels / g.groups) * g.kH * g.kW;
  }

  forward(input: Tensor, ctx?: ForwardContext): Tensor {
    const x = batched(input, 4);
    const { geom } = this.geometry(input.shape);
    const y = Tensor.empty([geom.batch, this.outChannels, geom.outH, geom.outW]); // conv2d writes every output
    this.reluFused = ctx?.fuseRelu === true;
    let bias = this.bias ? this.bias.value.data : null;
    const fold = ctx?.foldAffine;
    if (fold) {
      // The folded batch norm's output has no gradient path back through this layer.
      if (!ctx?.noGrad) throw new Error(`${this.name}: internal: a batch norm is folded into a convolution only under noGrad`);
      bias = foldedBias(fold, bias, this.outChannels);
    }
    const residual = ctx?.residual ?? null;
    if (residual) {
      if (!ctx?.noGrad) throw new Error(`${this.name}: internal: a residual sum is fused into a convolution only under noGrad`);
      if (!sameShape(residual.shape, y.shape)) {
        throw new Error(`${this.name}: internal: a fused residual of shape ${formatShape(residual.shape)} for an output of ${formatShape(y.shape)}`);
      }
    }
    // In inference the backend may keep the filters packed until an optimiser or a load changes them.
    const version = ctx?.noGrad && !ctx.training ? this.weight.version : undefined;
    getBackend().conv2d(x.data, this.weight.value.data, bias, y.data, geom, this.reluFused, fold ? fold.scale : null, version, residual?.data ?? null);
    this.unbatched = input.rank === 3;
    this.inputGrad = ctx?.inputGrad !== false;
    if (ctx?.noGrad) this.release();
    else {
      this.x = x;
      this.y = y;
      this.geom = geom;
    }
    return this.unbatched ? y.reshape(y.shape.slice(1)) : y;
  }

  backward(dyIn: Tensor): Tensor {
    const x = this.requireCache(this.x);
    const g = this.requireCache(this.geom);
    const outShape = [g.batch, this.outChannels, g.outH, g.outW];
    this.checkGradShape(dyIn, this.unbatched ? outShape.slice(1) : outShape);
    let dy = this.unbatched ? dyIn.reshape(outShape) : dyIn;
    if (this.reluFused) dy = reluMask(this.requireCache(this.y), dy);
    // conv2dBackwardData overwrites dx; without it the input's gradient is reported as zeros.
    const dx = this.inputGrad ? Tensor.empty(x.shape) : unrequestedGradient(x.shape);
    if (this.inputGrad) getBackend().conv2dBackwardData(dy.data, this.weight.value.data, dx.data, g);
    accumulateConvGrads(x, dy, g, this.weight, this.bias);
    return this.unbatched ? dx.reshape(dx.shape.slice(1)) : dx;
  }

  override release(): void {
    this.x = this.y = null;
    this.geom = null;
  }
}

/** The bias after a folded batch norm: bn(conv + b) = conv * scale + (shift + b * scale). */
function foldedBias(fold: { scale: Float32Array; shift: Float32Array }, bias: Float32Array | null, channels: number): Float32Array {
  const out = new Float32Array(channels);
  for (let k = 0; k < channels; k++) out[k] = fold.shift[k] + (bias ? bias[k] * fold.scale[k] : 0);
  return out;
}

/** The gradient through a fused ReLU: zero where the output was clamped. */
function reluMask(y: Tensor, dy: Tensor): Tensor {
  const out = Tensor.empty(dy.shape); // overwritten by the kernel
  getBackend().reluBackward(y.data, dy.data, out.data);
  return out;
}

/** dW and db for a convolution, skipping frozen parameters. */
function accumulateConvGrads(x: Tensor, dy: Tensor, g: Conv2dGeometry, weight: Param, bias: Param | null): void {
  const backend = getBackend();
  const biasGrad = bias && bias.trainable ? bias.grad.data : null;
  if (weight.trainable) {
    backend.conv2dBackwardFilter(x.data, dy.data, weight.grad.data, biasGrad, g);
  } else if (biasGrad) {
    const plane = g.outH * g.outW;
    for (let n = 0; n < g.batch; n++) {
      for (let k = 0; k < g.outChannels; k++) {
        let s = 0;
        const o = (n * g.outChannels + k) * plane;
        for (let p = 0; p < plane; p++) s += dy.data[o + p];
        biasGrad[k] += s;
      }
    }
  }
}

// ---------------------------------------------------------------------------

/** Options of Conv1d: channels, kernel width, stride, padding, dilation and bias. */
export interface Conv1dOptions {
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  stride?: number;
  /** A number, [left, right], "same" or "valid". */
  padding?: number | [number, number] | "same" | "valid";
  dilation?: number;
  groups?: number;
  bias?: boolean;
  name?: string;
  strict?: boolean;
  init?: InitName;
  rng?: Rng;
  /** Build with parameter shapes but no storage, for counting at any size (summary, estimateMemory, receptiveField); running it throws. */
  meta?: boolean;
}

/**
 * 1-D convolution over [N, C, L], as in the sentence CNNs: the "image" is a
 * sequence of word vectors, C the embedding size. Computed as a 2-D
 * convolution of height 1, so every backend's conv kernels serve it.
 */
export class Conv1d extends Layer {
  readonly type: string = "Conv1d";
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number | [number, number] | "same" | "valid";
  readonly dilation: number;
  readonly groups: number;
  readonly strict: boolean;
  readonly weight: Param;
  readonly bias: Param | null;
  private readonly inner: Conv2d;
  private unbatched = false;
  private lastOutput4d: number[] | null = null;

  constructor(opts: Conv1dOptions) {
    checkOptions("Conv1d", opts, ["inChannels", "outChannels", "kernelSize", "stride", "padding", "dilation", "groups", "bias", "name", "strict", "init", "rng", "meta"]);
    super(opts?.name, "conv");
    if (!opts || typeof opts !== "object") throw new ShapeError("Conv1d", "expects an options object { inChannels, outChannels, kernelSize, … }");
    this.kernelSize = positiveInt(this.name, "kernelSize", opts.kernelSize);
    this.stride = positiveInt(this.name, "stride", opts.stride ?? 1);
    this.dilation = positiveInt(this.name, "dilation", opts.dilation ?? 1);
    const p = opts.padding ?? 0;
    let padding2d: Padding2d;
    if (p === "same" || p === "valid") padding2d = p;
    else if (typeof p === "number") padding2d = [0, 0, positiveInt(this.name, "padding", p, 0), p];
    else if (Array.isArray(p) && p.length === 2) {
      padding2d = [0, 0, positiveInt(this.name, "padding[0]", p[0], 0), positiveInt(this.name, "padding[1]", p[1], 0)];
    } else throw this.error(`padding = ${JSON.stringify(p)} is not valid; use a number, [left, right], "same" or "valid"`);
    this.padding = p;
    this.strict = opts.strict ?? false;
    this.inner = new Conv2d({
      inChannels: opts.inChannels, outChannels: opts.outChannels, kernelSize: [1, this.kernelSize],
      stride: [1, this.stride], padding: padding2d, dilation: [1, this.dilation], groups: opts.groups,
      bias: opts.bias, name: this.name, strict: opts.strict, init: opts.init, rng: opts.rng, meta: opts.meta,
    });
    if (p === "same" && this.stride !== 1) {
      throw this.error(`padding = "same" needs stride 1 (got ${this.stride}), as in PyTorch`);
    }
    this.inChannels = this.inner.inChannels;
    this.outChannels = this.inner.outChannels;
    this.groups = this.inner.groups;
    // PyTorch's Conv1d weight is [K, C/groups, k]: the same memory as [K, C/groups, 1, k].
    const w = this.inner.weight;
    const shape1d = [this.outChannels, this.inChannels / this.groups, this.kernelSize];
    this.weight = { name: "weight", value: w.value.reshape(shape1d), grad: w.grad.reshape(shape1d), trainable: true };
    this.bias = this.inner.bias;
  }

  override get namePrefix(): string {
    return "conv";
  }

  override params(): Param[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }

  config(): Record<string, unknown> {
    return {
      inChannels: this.inChannels, outChannels: this.outChannels, kernelSize: this.kernelSize, stride: this.stride,
      padding: this.padding, dilation: this.dilation, groups: this.groups, bias: this.bias !== null,
      strict: this.strict, init: this.inner.init,
    };
  }

  private as2d(shape: readonly number[]): number[] {
    expectRank(this, shape, [2, 3], "[N, C, L] (or [C, L])");
    const s = shape.length === 2 ? [1, ...shape] : shape;
    return [s[0], s[1], 1, s[2]];
  }

  /** The window arithmetic for an input [N, C, L] (or [C, L]), as the 2-D geometry of height 1 it runs as. */
  geometry(inputShape: readonly number[], opts?: ShapeOptions): Conv2dGeometry {
    this.inner.name = this.name;
    try {
      return this.inner.geometry(this.as2d(inputShape), opts).geom;
    } catch (e) {
      throw relabel(e, inputShape);
    }
  }

  shapeInfo(inputShape: number[], opts?: ShapeOptions): ShapeInfo {
    this.inner.name = this.name;
    let info: ShapeInfo;
    try {
      info = this.inner.shapeInfo(this.as2d(inputShape), opts);
    } catch (e) {
      throw relabel(e, inputShape);
    }
    const [n, k, , l] = info.shape;
    return { shape: inputShape.length === 2 ? [k, l] : [n, k, l], notes: info.notes.map((s) => s.replace(/^width /, "length ").replace(/\(W /g, "(L ")) };
  }

  override macs(inputShape: number[]): number {
    return this.inner.macs(this.as2d(inputShape));
  }

  /**
   * The 2-D weight is a view of the 1-D one, the parameter users (and
   * optimisers) see; an optimiser may move that one's arrays into wasm memory
   * (layers/param-memory.ts), and the view must follow.
   */
  private followWeight(): void {
    const w = this.inner.weight;
    if (w.value.data !== this.weight.value.data) w.value = new Tensor(w.value.shape, this.weight.value.data);
    if (w.grad.data !== this.weight.grad.data) w.grad = new Tensor(w.grad.shape, this.weight.grad.data);
  }

  forward(input: Tensor, ctx?: ForwardContext): Tensor {
    this.shapeInfo(input.shape);
    this.followWeight();
    this.unbatched = input.rank === 2;
    const y = this.inner.forward(input.reshape(this.as2d(input.shape)), ctx);
    this.lastOutput4d = ctx?.noGrad ? null : y.shape;
    const [n, k, , l] = y.shape;
    return y.reshape(this.unbatched ? [k, l] : [n, k, l]);
  }

  backward(dy: Tensor): Tensor {
    const outShape = this.requireCache(this.lastOutput4d);
    this.checkGradShape(dy, this.unbatched ? [outShape[1], outShape[3]] : [outShape[0], outShape[1], outShape[3]]);
    this.inner.weight.trainable = this.weight.trainable; // the 1-D view is the one users freeze
    this.followWeight();
    const dx = this.inner.backward(dy.reshape(outShape));
    const [n, c, , l] = dx.shape;
    return dx.reshape(this.unbatched ? [c, l] : [n, c, l]);
  }

  override release(): void {
    this.inner.release();
    this.lastOutput4d = null;
  }
}

/** Rewrites a Conv2d shape error for a 1-D input: it speaks of lengths, and of the input as given. */
function relabel(e: unknown, inputShape: readonly number[]): unknown {
  if (!(e instanceof ShapeError)) return e;
  const message = e.message
    .slice(e.layer.length + 2)
    .replace(/\(W /g, "(L ")
    .replace(/output width/g, "output length")
    .replace(/, width\)/g, ", length)")
    .replace(/input \[[^\]]*\]/, `input ${formatShape(inputShape)}`)
    .replace(/ \(the channel axis is \d: NCHW\)/, " (the channel axis is " + (inputShape.length === 2 ? 0 : 1) + ": NCL)");
  return new ShapeError(e.layer, message, inputShape);
}

// ---------------------------------------------------------------------------

/** Options of LocallyConnected2d: a convolution's geometry, with separate weights at every output position. */
export interface LocallyConnected2dOptions {
  inChannels: number;
  outChannels: number;
  /** [h, w] of the input: the weights depend on the position, so the size is fixed. */
  inputSize: IntOrPair;
  kernelSize: IntOrPair;
  stride?: IntOrPair;
  padding?: IntOrPair;
  bias?: boolean;
  name?: string;
  strict?: boolean;
  init?: InitName;
  rng?: Rng;
  /** Build with parameter shapes but no storage, for counting at any size (summary, estimateMemory, receptiveField); running it throws. */
  meta?: boolean;
}

/**
 * A convolution without parameter sharing: every output position has its
 * own filters. Weight [outH, outW, outChannels, inChannels, kH, kW], bias
 * [outChannels, outH, outW].
 */
export class LocallyConnected2d extends Layer {
  readonly type: string = "LocallyConnected2d";
  readonly inChannels: number;
  readonly outChannels: number;
  readonly inputSize: Pair;
  readonly kernelSize: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
  readonly strict: boolean;
  readonly init: InitName;
  readonly weight: Param;
  readonly bias: Param | null;
  private readonly geom: Conv2dGeometry;
  private x: Tensor | null = null;

  constructor(opts: LocallyConnected2dOptions) {
    checkOptions("LocallyConnected2d", opts, ["inChannels", "outChannels", "inputSize", "kernelSize", "stride", "padding", "bias", "name", "strict", "init", "rng", "meta"]);
    super(opts?.name, "local");
    if (!opts || typeof opts !== "object") throw new ShapeError("LocallyConnected2d", "expects an options object { inChannels, outChannels, inputSize, kernelSize, … }");
    this.inChannels = positiveInt(this.name, "inChannels", opts.inChannels);
    this.outChannels = positiveInt(this.name, "outChannels", opts.outChannels);
    this.inputSize = toPair(this.name, "inputSize", opts.inputSize, [NaN, NaN]);
    this.kernelSize = toPair(this.name, "kernelSize", opts.kernelSize, [NaN, NaN]);
    this.stride = toPair(this.name, "stride", opts.stride, [1, 1]);
    this.padding = toPair(this.name, "padding", opts.padding, [0, 0], 0);
    this.strict = opts.strict ?? false;
    this.init = checkInit(this.name, opts.init);
    const [h, w] = this.inputSize;
    const shape = [1, this.inChannels, h, w];
    const pad: [number, number, number, number] = [this.padding[0], this.padding[0], this.padding[1], this.padding[1]];
    const fit = fit2d(this.name, shape, h, w, { kernel: this.kernelSize, stride: this.stride, pad, dilation: [1, 1] }, this.strict);
    this.geom = {
      batch: 1, inChannels: this.inChannels, inH: h, inW: w, outChannels: this.outChannels,
      kH: this.kernelSize[0], kW: this.kernelSize[1], strideH: this.stride[0], strideW: this.stride[1],
      padTop: pad[0], padBottom: pad[1], padLeft: pad[2], padRight: pad[3], dilationH: 1, dilationW: 1, groups: 1,
      outH: fit.outH, outW: fit.outW,
    };
    const [kH, kW] = this.kernelSize;
    const endMeta = beginMeta(opts.meta === true);
    try {
      this.weight = makeParam("weight", new Tensor([fit.outH, fit.outW, this.outChannels, this.inChannels, kH, kW]));
      initWeight(this.weight.value, this.init, this.inChannels * kH * kW, this.outChannels * kH * kW, opts.rng);
      this.bias = opts.bias === false ? null : makeParam("bias", new Tensor([this.outChannels, fit.outH, fit.outW]));
      if (this.bias) initBias(this.bias.value, this.init, this.inChannels * kH * kW, opts.rng);
    } finally {
      endMeta();
    }
  }

  override get namePrefix(): string {
    return "local";
  }

  override params(): Param[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }

  config(): Record<string, unknown> {
    return {
      inChannels: this.inChannels, outChannels: this.outChannels, inputSize: this.inputSize,
      kernelSize: this.kernelSize, stride: this.stride, padding: this.padding, bias: this.bias !== null,
      strict: this.strict, init: this.init,
    };
  }

  shapeInfo(inputShape: number[], opts?: ShapeOptions): ShapeInfo {
    expectRank(this, inputShape, [3, 4], "[N, C, H, W] (or [C, H, W])");
    const [c, h, w] = inputShape.slice(-3);
    if (c !== this.inChannels || h !== this.inputSize[0] || w !== this.inputSize[1]) {
      throw this.error(
        `expects inputs of ${this.inChannels}x${this.inputSize[0]}x${this.inputSize[1]} (C x H x W: its weights are tied to ` +
          `positions) but got ${formatShape(inputShape)}`,
        inputShape,
      );
    }
    const pad: [number, number, number, number] = [this.padding[0], this.padding[0], this.padding[1], this.padding[1]];
    const fit = fit2d(this.name, inputShape, h, w, { kernel: this.kernelSize, stride: this.stride, pad, dilation: [1, 1] }, opts?.strict || this.strict);
    const out = [this.outChannels, fit.outH, fit.outW];
    return { shape: inputShape.length === 3 ? out : [inputShape[0], ...out], notes: fit.notes };
  }

  override macs(inputShape: number[]): number {
    const n = inputShape.length === 4 ? inputShape[0] : 1;
    const g = this.geom;
    return n * g.outChannels * g.outH * g.outW * g.inChannels * g.kH * g.kW;
  }

  forward(input: Tensor, ctx?: ForwardContext): Tensor {
    this.shapeInfo(input.shape);
    const x = batched(input, 4);
    const g = { ...this.geom, batch: x.shape[0] };
    const y = new Tensor([g.batch, g.outChannels, g.outH, g.outW]);
    getBackend().locallyConnected2d(x.data, this.weight.value.data, this.bias?.value.data ?? null, y.data, g);
    this.x = ctx?.noGrad ? null : x;
    return input.rank === 3 ? y.reshape(y.shape.slice(1)) : y;
  }

  backward(dyIn: Tensor): Tensor {
    const x = this.requireCache(this.x);
    const g = { ...this.geom, batch: x.shape[0] };
    const K = g.outChannels;
    this.checkGradShape(dyIn, dyIn.rank === 3 ? [K, g.outH, g.outW] : [g.batch, K, g.outH, g.outW]);
    const dx = Tensor.empty(x.shape); // overwritten by the kernel
    const dw = this.weight.trainable ? this.weight.grad.data : null;
    const db = this.bias && this.bias.trainable ? this.bias.grad.data : null;
    getBackend().locallyConnected2dBackward(x.data, dyIn.data, this.weight.value.data, dx.data, dw, db, g);
    return dyIn.rank === 3 ? dx.reshape(dx.shape.slice(1)) : dx;
  }

  override release(): void {
    this.x = null;
  }
}
