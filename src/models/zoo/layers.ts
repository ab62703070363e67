/**
 * The few layers the classic architectures need that the core does not have:
 * - MaskedConv2d: a convolution where each output map sees only some input
 *   maps (LeNet-5's C3 layer, Table I of LeCun et al. 1998);
 * - PositionBias: a learned bias for every position of a volume (the last
 *   1x1 convolution of the AlphaGo policy network);
 * - ShortcutPad: the parameter-free "option A" shortcut of the CIFAR ResNets
 *   (subsample by the stride, zero-pad the new channels).
 * Each is registered so that saved models holding it reload. (AdaptiveAvgPool2d,
 * once here, is in layers/pool.ts and re-exported below.)
 */
import { Tensor, formatShape, beginMeta } from "../../tensor.js";
import { ShapeError, positiveInt, toPair, type IntOrPair, type Pair, type Padding2d, checkOptions } from "../../shape.js";
import { Conv2d } from "../../layers/conv.js";
import { Layer, makeParam, expectRank, type ForwardContext, type Param, type ShapeInfo, type ShapeOptions } from "../../layers/layer.js";
import type { InitName } from "../../layers/init.js";
import type { Rng } from "../../random.js";
import { registerLayer } from "../registry.js";

// AdaptiveAvgPool2d lives with the other pooling layers now; still exported from here for old imports.
export { AdaptiveAvgPool2d } from "../../layers/pool.js";

// ---------------------------------------------------------------------------

/** Options of MaskedConv2d: a Conv2d's, and which input channels each output channel sees. */
export interface MaskedConv2dOptions {
  inChannels: number;
  outChannels: number;
  kernelSize: IntOrPair;
  /** For each output map, the input maps it is connected to. */
  connections: number[][];
  stride?: IntOrPair;
  padding?: Padding2d;
  bias?: boolean;
  name?: string;
  strict?: boolean;
  init?: InitName;
  rng?: Rng;
  /** Shapes only, no storage (see ZooOptions.meta). */
  meta?: boolean;
}

/** LeNet-5's C3 connection table: C3 map k reads the S2 maps listed in row k. */
export const LENET_C3_CONNECTIONS: number[][] = [
  [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 0], [5, 0, 1],
  [0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 0], [4, 5, 0, 1], [5, 0, 1, 2],
  [0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5],
  [0, 1, 2, 3, 4, 5],
];

/**
 * A convolution with a fixed connection table. Only the connected filters
 * are parameters (weight [connections, kH, kW]), so the parameter count is
 * the paper's (1,516 for C3); the computation scatters them into a full
 * filter bank with zeros elsewhere and runs an ordinary convolution.
 */
export class MaskedConv2d extends Layer {
  readonly type: string = "MaskedConv2d";
  readonly connections: number[][];
  readonly weight: Param;
  readonly bias: Param | null;
  private readonly inner: Conv2d;
  /** For connection j: the offset of its kH*kW filter in the full bank. */
  private readonly offsets: number[];

  constructor(opts: MaskedConv2dOptions) {
    checkOptions("MaskedConv2d", opts, ["inChannels", "outChannels", "kernelSize", "connections", "stride", "padding", "bias", "name", "strict", "init", "rng", "meta"]);
    super(opts?.name, "conv");
    if (!opts || typeof opts !== "object") throw new ShapeError("MaskedConv2d", "expects an options object { inChannels, outChannels, kernelSize, connections, … }");
    this.inner = new Conv2d({
      inChannels: opts.inChannels, outChannels: opts.outChannels, kernelSize: opts.kernelSize, stride: opts.stride,
      padding: opts.padding, bias: opts.bias, name: this.name, strict: opts.strict, init: opts.init, rng: opts.rng, meta: opts.meta,
    });
    const { inChannels, outChannels } = this.inner;
    const table = opts.connections;
    if (!Array.isArray(table) || table.length !== outChannels) {
      throw this.error(`connections must list the input maps of each of the ${outChannels} output maps (an array of ${outChannels} arrays)`);
    }
    table.forEach((row, k) => {
      if (!Array.isArray(row) || row.length === 0) throw this.error(`connections[${k}] must be a non-empty array of input map indices`);
      const seen = new Set<number>();
      for (const c of row) {
        if (!Number.isInteger(c) || c < 0 || c >= inChannels || seen.has(c)) {
          throw this.error(`connections[${k}] = ${JSON.stringify(row)}: every entry must be a distinct input map index in [0, ${inChannels})`);
        }
        seen.add(c);
      }
    });
    this.connections = table.map((r) => r.slice());
    const [kH, kW] = this.inner.kernelSize;
    const area = kH * kW;
    this.offsets = [];
    this.connections.forEach((row, k) => row.forEach((c) => this.offsets.push((k * inChannels + c) * area)));
    // Keep the connected filters of the initialised full bank (their scale follows the full fan-in, as a masked PyTorch conv).
    const endMeta = beginMeta(opts.meta === true);
    try {
      this.weight = makeParam("weight", new Tensor([this.offsets.length, kH, kW]));
    } finally {
      endMeta();
    }
    if (!this.weight.value.isMeta) {
      const full = this.inner.weight.value.data;
      this.offsets.forEach((o, j) => this.weight.value.data.set(full.subarray(o, o + area), j * area));
    }
    this.bias = this.inner.bias;
  }

  get inChannels(): number {
    return this.inner.inChannels;
  }
  get outChannels(): number {
    return this.inner.outChannels;
  }

  override get namePrefix(): string {
    return "conv";
  }

  override params(): Param[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }

  config(): Record<string, unknown> {
    const c = this.inner.config();
    return {
      inChannels: c.inChannels, outChannels: c.outChannels, kernelSize: c.kernelSize, stride: c.stride,
      padding: c.padding, bias: c.bias, strict: c.strict, init: c.init, connections: this.connections,
    };
  }

  shapeInfo(inputShape: number[], opts?: ShapeOptions): ShapeInfo {
    this.inner.name = this.name;
    return this.inner.shapeInfo(inputShape, opts);
  }

  override macs(inputShape: number[]): number {
    const { geom: g } = this.inner.geometry(inputShape);
    return g.batch * g.outH * g.outW * this.offsets.length * g.kH * g.kW;
  }

  /** Writes the connected filters into the full bank (zeros elsewhere). */
  private scatter(): void {
    const area = this.inner.kernelSize[0] * this.inner.kernelSize[1];
    const full = this.inner.weight.value.data;
    full.fill(0);
    this.offsets.forEach((o, j) => full.set(this.weight.value.data.subarray(j * area, (j + 1) * area), o));
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    this.inner.name = this.name;
    this.scatter();
    return this.inner.forward(x, ctx);
  }

  backward(dy: Tensor): Tensor {
    const area = this.inner.kernelSize[0] * this.inner.kernelSize[1];
    const fullGrad = this.inner.weight.grad.data;
    fullGrad.fill(0);
    this.inner.weight.trainable = this.weight.trainable;
    const dx = this.inner.backward(dy);
    if (this.weight.trainable) {
      const g = this.weight.grad.data;
      this.offsets.forEach((o, j) => {
        for (let i = 0; i < area; i++) g[j * area + i] += fullGrad[o + i];
      });
    }
    return dx;
  }

  override release(): void {
    this.inner.release();
  }
}

// ---------------------------------------------------------------------------

/** y = x + b with b of the per-example shape: a different bias at every position (and channel). */
export class PositionBias extends Layer {
  readonly type: string = "PositionBias";
  readonly shape: number[];
  readonly bias: Param;
  private lastShape: number[] | null = null;

  constructor(opts: { shape: number[]; name?: string }) {
    checkOptions("PositionBias", opts, ["shape", "name"]);
    super(opts?.name, "posbias");
    if (!opts || !Array.isArray(opts.shape) || opts.shape.length === 0) {
      throw new ShapeError(opts?.name ?? "PositionBias", "expects { shape }: the per-example shape of the biases, e.g. [1, 19, 19]");
    }
    this.shape = opts.shape.map((d, i) => positiveInt(this.name, `shape[${i}]`, d));
    this.bias = makeParam("bias", new Tensor(this.shape)); // zeros, as a conv bias starts
  }

  override get namePrefix(): string {
    return "posbias";
  }

  override params(): Param[] {
    return [this.bias];
  }

  config(): Record<string, unknown> {
    return { shape: this.shape };
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    const per = inputShape.slice(inputShape.length - this.shape.length);
    const ok = inputShape.length >= this.shape.length && inputShape.length <= this.shape.length + 1 && per.every((d, i) => d === this.shape[i]);
    if (!ok) {
      throw this.error(`holds biases of shape ${formatShape(this.shape)} but got an input ${formatShape(inputShape)}; the input must be [N, ${this.shape.join(", ")}]`, inputShape);
    }
    return { shape: inputShape.slice(), notes: [] };
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    this.shapeInfo(x.shape);
    const y = new Tensor(x.shape, x.data.slice());
    const b = this.bias.value.data;
    for (let i = 0; i < y.size; i++) y.data[i] += b[i % b.length];
    this.lastShape = ctx?.noGrad ? null : x.shape;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const shape = this.requireCache(this.lastShape);
    this.checkGradShape(dy, shape);
    if (this.bias.trainable) {
      const g = this.bias.grad.data;
      for (let i = 0; i < dy.size; i++) g[i % g.length] += dy.data[i];
    }
    return dy;
  }

  override release(): void {
    this.lastShape = null;
  }
}

// ---------------------------------------------------------------------------

/**
 * The CIFAR ResNets' option-A shortcut: x[:, :, ::s, ::s] with the extra
 * output channels zero, so a shortcut that changes size costs no parameters.
 */
export class ShortcutPad extends Layer {
  readonly type: string = "ShortcutPad";
  readonly inChannels: number;
  readonly outChannels: number;
  readonly stride: number;
  private inShape: number[] | null = null;

  constructor(opts: { inChannels: number; outChannels: number; stride?: number; name?: string }) {
    checkOptions("ShortcutPad", opts, ["inChannels", "outChannels", "stride", "name"]);
    super(opts?.name, "shortcut");
    this.inChannels = positiveInt(this.name, "inChannels", opts?.inChannels);
    this.outChannels = positiveInt(this.name, "outChannels", opts?.outChannels);
    this.stride = positiveInt(this.name, "stride", opts?.stride ?? 1);
    if (this.outChannels < this.inChannels) {
      throw this.error(`outChannels = ${this.outChannels} is below inChannels = ${this.inChannels}; zero-padding can only add channels`);
    }
  }

  override get namePrefix(): string {
    return "shortcut";
  }

  config(): Record<string, unknown> {
    return { inChannels: this.inChannels, outChannels: this.outChannels, stride: this.stride };
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    expectRank(this, inputShape, [4], "[N, C, H, W]");
    const [n, c, h, w] = inputShape;
    if (c !== this.inChannels) throw this.error(`expects ${this.inChannels} channels but the input ${formatShape(inputShape)} has ${c}`, inputShape);
    return { shape: [n, this.outChannels, Math.ceil(h / this.stride), Math.ceil(w / this.stride)], notes: [] };
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    const shape = this.shapeInfo(x.shape).shape;
    const [n, c, h, w] = x.shape;
    const [, k, oh, ow] = shape;
    const y = new Tensor(shape);
    const s = this.stride;
    for (let b = 0; b < n; b++) {
      for (let ch = 0; ch < c; ch++) {
        for (let i = 0; i < oh; i++) {
          for (let j = 0; j < ow; j++) y.data[((b * k + ch) * oh + i) * ow + j] = x.data[((b * c + ch) * h + i * s) * w + j * s];
        }
      }
    }
    this.inShape = ctx?.noGrad ? null : x.shape;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const shape = this.requireCache(this.inShape);
    this.checkGradShape(dy, this.shapeInfo(shape).shape);
    const [n, c, h, w] = shape;
    const [, k, oh, ow] = dy.shape;
    const dx = new Tensor(shape);
    const s = this.stride;
    for (let b = 0; b < n; b++) {
      for (let ch = 0; ch < c; ch++) {
        for (let i = 0; i < oh; i++) {
          for (let j = 0; j < ow; j++) dx.data[((b * c + ch) * h + i * s) * w + j * s] = dy.data[((b * k + ch) * oh + i) * ow + j];
        }
      }
    }
    return dx;
  }

  override release(): void {
    this.inShape = null;
  }
}

registerLayer("MaskedConv2d", (c) => new MaskedConv2d(c));
registerLayer("PositionBias", (c) => new PositionBias(c));
registerLayer("ShortcutPad", (c) => new ShortcutPad(c));
