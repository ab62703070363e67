/**
 * Pooling layers: max (with switches), average, L2 (LP), global and adaptive
 * average pooling (to a fixed output size, as torchvision's AlexNet, VGG and
 * GoogLeNet auxiliary heads use it).
 * They downsample every depth slice independently and have no parameters.
 */
import { Tensor, formatShape, allocInts } from "../tensor.js";
import { ShapeError, fit2d, toPair, type IntOrPair, type Pair, type Pool2dGeometry, checkOptions } from "../shape.js";
import { getBackend } from "../kernels/index.js";
import { Layer, expectRank, type ForwardContext, type ShapeInfo, type ShapeOptions } from "./layer.js";

/**
 * Zero-padding of a pooling window: a number or [height, width] for both
 * sides alike (PyTorch's); [top, bottom, left, right] for each side on its
 * own, as SAS and other frameworks pad; or "same" (TensorFlow's and SAS's
 * rule: ceil(input / stride) outputs, the padding split with the odd pixel
 * at the bottom and right). Padding is never a value a max can pick.
 */
export type PoolPadding = IntOrPair | [number, number, number, number] | "same";

interface PoolSettings {
  kernelSize: IntOrPair;
  stride?: IntOrPair;
  padding?: PoolPadding;
  dilation?: IntOrPair;
  ceilMode?: boolean;
  name?: string;
  strict?: boolean;
}

/** What max, average and LP pooling share: the window, its arithmetic and unbatched inputs. */
abstract class Pool2dBase extends Layer {
  readonly kernelSize: Pair;
  readonly stride: Pair;
  /** As given: [height, width] for both sides alike, [top, bottom, left, right], or "same". */
  readonly padding: Pair | [number, number, number, number] | "same";
  readonly dilation: Pair;
  readonly ceilMode: boolean;
  readonly strict: boolean;
  protected geom: Pool2dGeometry | null = null;
  protected unbatched = false;

  constructor(opts: PoolSettings, className: string) {
    super(opts?.name, "pool");
    if (!opts || typeof opts !== "object") throw new ShapeError(className, "expects an options object { kernelSize, … }");
    this.kernelSize = toPair(this.name, "kernelSize", opts.kernelSize, [NaN, NaN]);
    this.stride = toPair(this.name, "stride", opts.stride ?? undefined, this.kernelSize);
    this.dilation = toPair(this.name, "dilation", opts.dilation, [1, 1]);
    this.ceilMode = opts.ceilMode ?? false;
    this.strict = opts.strict ?? false;
    const p = opts.padding;
    if (p === "same") {
      if (this.ceilMode) throw this.error('padding = "same" fixes the output size at ceil(input / stride); it cannot be combined with ceilMode');
      this.padding = "same";
    } else if (Array.isArray(p) && p.length === 4) {
      const sides = ["top", "bottom", "left", "right"];
      p.forEach((v, i) => {
        const effective = (this.kernelSize[i < 2 ? 0 : 1] - 1) * this.dilation[i < 2 ? 0 : 1] + 1;
        if (!Number.isInteger(v) || v < 0) throw this.error(`padding[${i}] (${sides[i]}) = ${JSON.stringify(v)} is not valid; use a whole number >= 0`);
        if (v >= effective) {
          throw this.error(`padding[${i}] (${sides[i]}) = ${v} is as wide as the window (${effective}); a window could then see only padding: use at most ${effective - 1}`);
        }
      });
      this.padding = [p[0], p[1], p[2], p[3]];
    } else {
      const pair = toPair(this.name, "padding", p as IntOrPair | undefined, [0, 0], 0);
      for (let a = 0; a < 2; a++) {
        const effective = (this.kernelSize[a] - 1) * this.dilation[a] + 1;
        if (pair[a] * 2 > effective) {
          throw this.error(
            `padding = ${pair[a]} is more than half the ${a === 0 ? "height" : "width"} of the window ` +
              `(kernel ${this.kernelSize[a]}${this.dilation[a] > 1 ? `, dilation ${this.dilation[a]}` : ""}); ` +
              `a window could then see only padding: use padding <= ${Math.floor(effective / 2)}, or pad the sides apart with [top, bottom, left, right]`,
          );
        }
      }
      this.padding = pair;
    }
  }

  /** [top, bottom, left, right] for an input of h x w ("same" depends on the size). */
  pads(h: number, w: number): [number, number, number, number] {
    const p = this.padding;
    if (p === "same") {
      const axis = (n: number, a: 0 | 1): [number, number] => {
        const out = Math.ceil(n / this.stride[a]);
        const span = (this.kernelSize[a] - 1) * this.dilation[a] + 1;
        const total = Math.max((out - 1) * this.stride[a] + span - n, 0);
        return [Math.floor(total / 2), total - Math.floor(total / 2)];
      };
      return [...axis(h, 0), ...axis(w, 1)];
    }
    return p.length === 4 ? [p[0], p[1], p[2], p[3]] : [p[0], p[0], p[1], p[1]];
  }

  override get namePrefix(): string {
    return "pool";
  }

  /** The window arithmetic for an input shape; throws ShapeError if the window does not fit. */
  geometry(inputShape: readonly number[], opts?: ShapeOptions): { geom: Pool2dGeometry; notes: string[] } {
    expectRank(this, inputShape, [3, 4], "[N, C, H, W] (or [C, H, W])");
    const s = inputShape.length === 3 ? [1, ...inputShape] : inputShape;
    const [n, c, h, w] = s;
    const pad = this.pads(h, w);
    const fit = fit2d(this.name, inputShape, h, w, {
      kernel: this.kernelSize, stride: this.stride, pad, dilation: this.dilation, ceilMode: this.ceilMode,
    }, opts?.strict || this.strict);
    const geom: Pool2dGeometry = {
      batch: n, channels: c, inH: h, inW: w, kH: this.kernelSize[0], kW: this.kernelSize[1],
      strideH: this.stride[0], strideW: this.stride[1], padTop: pad[0], padBottom: pad[1], padLeft: pad[2], padRight: pad[3],
      dilationH: this.dilation[0], dilationW: this.dilation[1], outH: fit.outH, outW: fit.outW,
    };
    return { geom, notes: fit.notes };
  }

  shapeInfo(inputShape: number[], opts?: ShapeOptions): ShapeInfo {
    const { geom, notes } = this.geometry(inputShape, opts);
    const out = [geom.channels, geom.outH, geom.outW];
    return { shape: inputShape.length === 3 ? out : [geom.batch, ...out], notes };
  }

  /** Sets up a forward pass: the geometry, a batched view of x and the output tensor. */
  protected begin(input: Tensor): { x: Tensor; y: Tensor; g: Pool2dGeometry } {
    const { geom: g } = this.geometry(input.shape);
    this.unbatched = input.rank === 3;
    const x = this.unbatched ? input.reshape([1, ...input.shape]) : input;
    return { x, y: Tensor.empty([g.batch, g.channels, g.outH, g.outW]), g }; // the pooling kernels write every output
  }

  protected end(y: Tensor): Tensor {
    return this.unbatched ? y.reshape(y.shape.slice(1)) : y;
  }

  /** Checks dy and returns it batched, with the geometry of the last forward. */
  protected beginBackward(dy: Tensor): { dy: Tensor; g: Pool2dGeometry } {
    const g = this.requireCache(this.geom);
    const out = [g.batch, g.channels, g.outH, g.outW];
    this.checkGradShape(dy, this.unbatched ? out.slice(1) : out);
    return { dy: this.unbatched ? dy.reshape(out) : dy, g };
  }

  protected inputShapeOf(g: Pool2dGeometry): number[] {
    const s = [g.batch, g.channels, g.inH, g.inW];
    return this.unbatched ? s.slice(1) : s;
  }

  /** Drops whatever was kept for the backward pass. */
  override release(): void {
    this.geom = null;
  }
}

/** Options of MaxPool2d, as PyTorch's. */
export interface MaxPool2dOptions extends PoolSettings {
  dilation?: IntOrPair;
}

/** Max pooling; keeps its switches (argmax of every window) for the backward pass. */
export class MaxPool2d extends Pool2dBase {
  readonly type: string = "MaxPool2d";
  private argmax: Int32Array | null = null;

  constructor(opts: MaxPool2dOptions) {
    checkOptions("MaxPool2d", opts, ["kernelSize", "stride", "padding", "dilation", "ceilMode", "name", "strict"]);
    super(opts, "MaxPool2d");
  }

  config(): Record<string, unknown> {
    return { kernelSize: this.kernelSize, stride: this.stride, padding: this.padding, dilation: this.dilation, ceilMode: this.ceilMode, strict: this.strict };
  }

  /** The switches of the last forward pass: per output, the index h * W + w of the max within its input plane. */
  get switches(): Int32Array | null {
    return this.argmax;
  }

  forward(input: Tensor, ctx?: ForwardContext): Tensor {
    const { x, y, g } = this.begin(input);
    const argmax = allocInts(y.size);
    getBackend().maxPool2d(x.data, y.data, argmax, g);
    this.argmax = argmax;
    this.geom = ctx?.noGrad ? null : g;
    return this.end(y);
  }

  backward(dyIn: Tensor): Tensor {
    const { dy, g } = this.beginBackward(dyIn);
    const dx = Tensor.empty(this.inputShapeOf(g)); // overwritten by the kernel
    getBackend().maxPool2dBackward(dy.data, this.requireCache(this.argmax), dx.data, g);
    return dx;
  }
}

/** Options of AvgPool2d, as PyTorch's. */
export interface AvgPool2dOptions extends PoolSettings {
  countIncludePad?: boolean;
}

/** Average pooling over square or rectangular windows, as PyTorch's AvgPool2d. */
export class AvgPool2d extends Pool2dBase {
  readonly type: string = "AvgPool2d";
  readonly countIncludePad: boolean;

  constructor(opts: AvgPool2dOptions) {
    if (opts && opts.dilation !== undefined) throw new ShapeError(opts.name ?? "pool", "AvgPool2d has no dilation option (as in PyTorch)");
    checkOptions("AvgPool2d", opts, ["kernelSize", "stride", "padding", "ceilMode", "countIncludePad", "name", "strict"]);
    super(opts, "AvgPool2d");
    // PyTorch counts the padding in the divisor by default; "same" is TensorFlow's rule, which does not.
    this.countIncludePad = opts.countIncludePad ?? opts.padding !== "same";
  }

  config(): Record<string, unknown> {
    return { kernelSize: this.kernelSize, stride: this.stride, padding: this.padding, ceilMode: this.ceilMode, countIncludePad: this.countIncludePad, strict: this.strict };
  }

  forward(input: Tensor, ctx?: ForwardContext): Tensor {
    const { x, y, g } = this.begin(input);
    getBackend().avgPool2d(x.data, y.data, g, this.countIncludePad);
    this.geom = ctx?.noGrad ? null : g;
    return this.end(y);
  }

  backward(dyIn: Tensor): Tensor {
    const { dy, g } = this.beginBackward(dyIn);
    const dx = Tensor.empty(this.inputShapeOf(g)); // overwritten by the kernel
    getBackend().avgPool2dBackward(dy.data, dx.data, g, this.countIncludePad);
    return dx;
  }
}

/** Options of LPPool2d (power-average pooling; p = 2 is L2 pooling). */
export interface LPPool2dOptions {
  normType?: number;
  kernelSize: IntOrPair;
  stride?: IntOrPair;
  ceilMode?: boolean;
  name?: string;
  strict?: boolean;
}

/**
 * Power-average pooling, PyTorch's LPPool2d: y = (sum over the window of
 * x^p)^(1/p); p = 2 is the L2 pooling of the notes. As in PyTorch, a window
 * cut short by ceil mode is rescaled to the full kernel area.
 */
export class LPPool2d extends Pool2dBase {
  readonly type: string = "LPPool2d";
  readonly normType: number;
  private x: Tensor | null = null;
  private y: Tensor | null = null;

  constructor(opts: LPPool2dOptions) {
    checkOptions("LPPool2d", opts, ["normType", "kernelSize", "stride", "ceilMode", "name", "strict"]);
    super({ kernelSize: opts?.kernelSize, stride: opts?.stride, ceilMode: opts?.ceilMode, name: opts?.name, strict: opts?.strict }, "LPPool2d");
    const p = opts.normType ?? 2;
    if (typeof p !== "number" || !Number.isFinite(p) || p <= 0) {
      throw this.error(`normType = ${JSON.stringify(p)} is not valid; it must be a finite number > 0 (2 for L2 pooling)`);
    }
    this.normType = p;
  }

  config(): Record<string, unknown> {
    return { normType: this.normType, kernelSize: this.kernelSize, stride: this.stride, ceilMode: this.ceilMode, strict: this.strict };
  }

  forward(input: Tensor, ctx?: ForwardContext): Tensor {
    const { x, y, g } = this.begin(input);
    getBackend().lpPool2d(x.data, y.data, g, this.normType);
    this.geom = ctx?.noGrad ? null : g;
    this.x = ctx?.noGrad ? null : x;
    this.y = ctx?.noGrad ? null : y;
    return this.end(y);
  }

  backward(dyIn: Tensor): Tensor {
    const { dy, g } = this.beginBackward(dyIn);
    const x = this.requireCache(this.x), y = this.requireCache(this.y);
    const dx = new Tensor(x.shape);
    getBackend().lpPool2dBackward(x.data, y.data, dy.data, dx.data, g, this.normType);
    return this.unbatched ? dx.reshape(dx.shape.slice(1)) : dx;
  }

  /** Drops whatever was kept for the backward pass. */
  override release(): void {
    super.release();
    this.x = this.y = null;
  }
}

/** Average over each whole feature map: [N, C, H, W] -> [N, C, 1, 1] (GoogLeNet's and ResNet's top). */
export class GlobalAvgPool2d extends Layer {
  readonly type: string = "GlobalAvgPool2d";
  private inShape: number[] | null = null;

  constructor(opts: { name?: string } = {}) {
    checkOptions("GlobalAvgPool2d", opts, ["name"]);
    super(opts.name, "gap");
  }

  override get namePrefix(): string {
    return "gap";
  }

  config(): Record<string, unknown> {
    return {};
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    expectRank(this, inputShape, [3, 4], "[N, C, H, W] (or [C, H, W])");
    const lead = inputShape.slice(0, -2);
    return { shape: [...lead, 1, 1], notes: [] };
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    const shape = this.shapeInfo(x.shape).shape;
    const y = new Tensor(shape);
    const plane = x.shape[x.rank - 1] * x.shape[x.rank - 2];
    for (let i = 0; i < y.size; i++) {
      let s = 0;
      for (let p = 0; p < plane; p++) s += x.data[i * plane + p];
      y.data[i] = s / plane;
    }
    this.inShape = ctx?.noGrad ? null : x.shape;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const shape = this.requireCache(this.inShape);
    this.checkGradShape(dy, this.shapeInfo(shape).shape);
    const dx = new Tensor(shape);
    const plane = shape[shape.length - 1] * shape[shape.length - 2];
    for (let i = 0; i < dy.size; i++) {
      const d = dy.data[i] / plane;
      for (let p = 0; p < plane; p++) dx.data[i * plane + p] = d;
    }
    return dx;
  }

  /** Drops whatever was kept for the backward pass. */
  override release(): void {
    this.inShape = null;
  }
}

/**
 * 1-max pooling over time for text CNNs: [N, C, L] -> [N, C], the largest
 * activation of each feature map over the whole sentence. As PyTorch's amax,
 * ties share the gradient equally.
 */
export class GlobalMaxPool1d extends Layer {
  readonly type: string = "GlobalMaxPool1d";
  private x: Tensor | null = null;
  private y: Tensor | null = null;

  constructor(opts: { name?: string } = {}) {
    checkOptions("GlobalMaxPool1d", opts, ["name"]);
    super(opts.name, "maxpool");
  }

  override get namePrefix(): string {
    return "maxpool";
  }

  config(): Record<string, unknown> {
    return {};
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    expectRank(this, inputShape, [2, 3], "[N, C, L] (or [C, L])");
    if (inputShape[inputShape.length - 1] < 1) {
      throw this.error(`cannot take the max over an empty sequence: input ${formatShape(inputShape)}`, inputShape);
    }
    return { shape: inputShape.slice(0, -1), notes: [] };
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    const y = new Tensor(this.shapeInfo(x.shape).shape);
    const len = x.shape[x.rank - 1];
    for (let i = 0; i < y.size; i++) {
      let best = -Infinity;
      for (let t = 0; t < len; t++) {
        const v = x.data[i * len + t];
        if (v > best || Number.isNaN(v)) best = v;
        if (Number.isNaN(v)) break;
      }
      y.data[i] = best;
    }
    this.x = ctx?.noGrad ? null : x;
    this.y = ctx?.noGrad ? null : y;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const x = this.requireCache(this.x), y = this.requireCache(this.y);
    this.checkGradShape(dy, y.shape);
    const dx = new Tensor(x.shape);
    const len = x.shape[x.rank - 1];
    for (let i = 0; i < y.size; i++) {
      let ties = 0;
      for (let t = 0; t < len; t++) if (x.data[i * len + t] === y.data[i]) ties++;
      if (ties === 0) continue;
      const share = dy.data[i] / ties;
      for (let t = 0; t < len; t++) if (x.data[i * len + t] === y.data[i]) dx.data[i * len + t] = share;
    }
    return dx;
  }

  /** Drops whatever was kept for the backward pass. */
  override release(): void {
    this.x = this.y = null;
  }
}

/**
 * PyTorch's AdaptiveAvgPool2d: output cell i averages input rows
 * [floor(i H / oH), ceil((i + 1) H / oH)), and likewise for columns.
 */
export class AdaptiveAvgPool2d extends Layer {
  readonly type: string = "AdaptiveAvgPool2d";
  readonly outputSize: Pair;
  private inShape: number[] | null = null;

  constructor(opts: { outputSize: IntOrPair; name?: string }) {
    checkOptions("AdaptiveAvgPool2d", opts, ["outputSize", "name"]);
    super(opts?.name, "pool");
    this.outputSize = toPair(this.name, "outputSize", opts?.outputSize, [NaN, NaN]);
  }

  override get namePrefix(): string {
    return "pool";
  }

  config(): Record<string, unknown> {
    return { outputSize: this.outputSize };
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    expectRank(this, inputShape, [3, 4], "[N, C, H, W] (or [C, H, W])");
    const [h, w] = inputShape.slice(-2);
    const [oh, ow] = this.outputSize;
    const notes: string[] = [];
    if (h % oh !== 0 || w % ow !== 0) notes.push(`adaptive pooling of ${h}x${w} to ${oh}x${ow}: windows of unequal size`);
    return { shape: [...inputShape.slice(0, -2), oh, ow], notes };
  }

  /** Calls fn(outputIndex, inputIndex, 1 / windowArea) for every pair. */
  private each(shape: number[], fn: (o: number, i: number, inv: number) => void): void {
    const [h, w] = shape.slice(-2);
    const [oh, ow] = this.outputSize;
    const planes = shape.slice(0, -2).reduce((a, b) => a * b, 1);
    for (let p = 0; p < planes; p++) {
      for (let i = 0; i < oh; i++) {
        const h0 = Math.floor((i * h) / oh), h1 = Math.ceil(((i + 1) * h) / oh);
        for (let j = 0; j < ow; j++) {
          const w0 = Math.floor((j * w) / ow), w1 = Math.ceil(((j + 1) * w) / ow);
          const inv = 1 / ((h1 - h0) * (w1 - w0));
          const o = (p * oh + i) * ow + j;
          for (let y = h0; y < h1; y++) for (let x = w0; x < w1; x++) fn(o, (p * h + y) * w + x, inv);
        }
      }
    }
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    const y = new Tensor(this.shapeInfo(x.shape).shape);
    this.each(x.shape, (o, i, inv) => (y.data[o] += x.data[i] * inv));
    this.inShape = ctx?.noGrad ? null : x.shape;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const shape = this.requireCache(this.inShape);
    this.checkGradShape(dy, this.shapeInfo(shape).shape);
    const dx = new Tensor(shape);
    this.each(shape, (o, i, inv) => (dx.data[i] += dy.data[o] * inv));
    return dx;
  }

  override release(): void {
    this.inShape = null;
  }
}
