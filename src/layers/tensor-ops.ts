/**
 * Layers for the tensor plumbing that imported models (ONNX) need around
 * their convolutions: Reshape with ONNX's 0 and -1, constant Pad, global max
 * pooling, a learned bias of any broadcastable shape, softmax over any block
 * of axes, and Identity. Each has its forward and backward pass and rebuilds
 * from its config.
 */
import { Tensor, formatShape, shapeSize } from "../tensor.js";
import { ShapeError, checkOptions } from "../shape.js";
import { Layer, makeParam, expectRank, type Buffer, type ForwardContext, type Param, type ShapeInfo } from "./layer.js";

function wholeNumbers(layer: string, option: string, v: unknown, min: number): number[] {
  if (!Array.isArray(v) || !v.every((d) => Number.isInteger(d) && d >= min)) {
    throw new ShapeError(layer, `${option} = ${JSON.stringify(v)} is not valid; it must be an array of whole numbers >= ${min}`);
  }
  return v.slice();
}

/**
 * A new shape for the same values, as ONNX's Reshape: 0 copies the input's
 * dimension at that position (unless allowZero, where 0 means 0), and one -1
 * takes whatever size is left. [0, -1] flattens any batch.
 */
export class Reshape extends Layer {
  readonly type: string = "Reshape";
  readonly shape: number[];
  readonly allowZero: boolean;
  private inShape: number[] | null = null;

  constructor(opts: { shape: number[]; allowZero?: boolean; name?: string }) {
    checkOptions("Reshape", opts, ["shape", "allowZero", "name"]);
    super(opts?.name, "reshape");
    this.shape = wholeNumbers(this.name, "shape", opts?.shape, -1);
    this.allowZero = opts.allowZero ?? false;
    if (this.shape.filter((d) => d === -1).length > 1) throw this.error(`shape ${formatShape(this.shape)} has more than one -1; only one size can be inferred`);
    if (this.allowZero && this.shape.includes(0) && this.shape.includes(-1)) {
      throw this.error(`shape ${formatShape(this.shape)} with allowZero has both 0 and -1: the -1 cannot be inferred`);
    }
  }

  override get namePrefix(): string {
    return "reshape";
  }

  config(): Record<string, unknown> {
    return { shape: this.shape, allowZero: this.allowZero };
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    const out = this.shape.map((d, i) => {
      if (d !== 0 || this.allowZero) return d;
      if (i >= inputShape.length) {
        throw this.error(`shape ${formatShape(this.shape)} copies dimension ${i} (a 0) but the input ${formatShape(inputShape)} has only ${inputShape.length}`, inputShape);
      }
      return inputShape[i];
    });
    const size = shapeSize(inputShape);
    const known = shapeSize(out.filter((d) => d !== -1));
    const unknown = out.indexOf(-1);
    if (unknown >= 0) {
      if (known === 0 || size % known !== 0) {
        throw this.error(`cannot reshape ${formatShape(inputShape)} (${size} values) into ${formatShape(this.shape)}: ${size} is not a multiple of ${known}`, inputShape);
      }
      out[unknown] = size / known;
    } else if (known !== size) {
      throw this.error(`cannot reshape ${formatShape(inputShape)} (${size} values) into ${formatShape(out)} (${known} values); the sizes must agree`, inputShape);
    }
    return { shape: out, notes: [] };
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    const shape = this.shapeInfo(x.shape).shape;
    this.inShape = ctx?.noGrad ? null : x.shape;
    return new Tensor(shape, x.data); // the same values: a view
  }

  backward(dy: Tensor): Tensor {
    const shape = this.requireCache(this.inShape);
    this.checkGradShape(dy, this.shapeInfo(shape).shape);
    return new Tensor(shape, dy.data);
  }

  override release(): void {
    this.inShape = null;
  }
}

/**
 * Constant padding of any axes: pads = [begin of axis 0, begin of axis 1, …,
 * end of axis 0, end of axis 1, …] as in ONNX's Pad, filled with `value`
 * (-Infinity before a max pooling whose padding is too wide for the pooling
 * layer itself). The gradient is the un-padded part of dy.
 */
export class Pad extends Layer {
  readonly type: string = "Pad";
  readonly pads: number[];
  readonly value: number;
  private inShape: number[] | null = null;

  constructor(opts: { pads: number[]; value?: number | "Infinity" | "-Infinity"; name?: string }) {
    checkOptions("Pad", opts, ["pads", "value", "name"]);
    super(opts?.name, "pad");
    this.pads = wholeNumbers(this.name, "pads", opts?.pads, 0);
    if (this.pads.length % 2 !== 0) throw this.error(`pads has ${this.pads.length} values; it needs a begin and an end for every axis`);
    // A saved config keeps infinities as strings (JSON has none).
    const v = opts.value === "Infinity" || opts.value === "-Infinity" ? Number(opts.value) : opts.value ?? 0;
    if (typeof v !== "number" || Number.isNaN(v)) throw this.error(`value = ${JSON.stringify(v)} is not a number`);
    this.value = v;
  }

  override get namePrefix(): string {
    return "pad";
  }

  config(): Record<string, unknown> {
    // JSON has no -Infinity: it is saved as a string.
    return { pads: this.pads, value: Number.isFinite(this.value) ? this.value : String(this.value) };
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    const r = this.pads.length / 2;
    if (inputShape.length !== r) {
      throw this.error(`pads ${formatShape(this.pads)} are for inputs of rank ${r} but got ${formatShape(inputShape)} (rank ${inputShape.length})`, inputShape);
    }
    return { shape: inputShape.map((d, i) => d + this.pads[i] + this.pads[i + r]), notes: [] };
  }

  /** Calls fn(inputOffset, outputOffset, length) for every innermost row of the input. */
  private rows(inShape: number[], fn: (i: number, o: number, n: number) => void): void {
    const r = inShape.length;
    const outShape = this.shapeInfo(inShape).shape;
    if (r === 0) return fn(0, 0, 1);
    const rowLen = inShape[r - 1];
    const rowCount = shapeSize(inShape) / Math.max(rowLen, 1);
    const outStrides = new Array<number>(r);
    outStrides[r - 1] = 1;
    for (let a = r - 2; a >= 0; a--) outStrides[a] = outStrides[a + 1] * outShape[a + 1];
    if (rowLen === 0) return;
    for (let row = 0; row < rowCount; row++) {
      // The row's multi-index over the outer axes, shifted by the begin pads.
      let rest = row, o = this.pads[r - 1];
      for (let a = r - 2; a >= 0; a--) {
        const idx = rest % inShape[a];
        rest = Math.floor(rest / inShape[a]);
        o += (idx + this.pads[a]) * outStrides[a];
      }
      fn(row * rowLen, o, rowLen);
    }
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    const y = Tensor.full(this.shapeInfo(x.shape).shape, this.value);
    this.rows(x.shape, (i, o, n) => y.data.set(x.data.subarray(i, i + n), o));
    this.inShape = ctx?.noGrad ? null : x.shape;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const shape = this.requireCache(this.inShape);
    this.checkGradShape(dy, this.shapeInfo(shape).shape);
    const dx = new Tensor(shape);
    this.rows(shape, (i, o, n) => dx.data.set(dy.data.subarray(o, o + n), i));
    return dx;
  }

  override release(): void {
    this.inShape = null;
  }
}

/** The largest value of each whole feature map: [N, C, H, W] -> [N, C, 1, 1]; the gradient goes to the first maximum. */
export class GlobalMaxPool2d extends Layer {
  readonly type: string = "GlobalMaxPool2d";
  private argmax: Int32Array | null = null;
  private inShape: number[] | null = null;

  constructor(opts: { name?: string } = {}) {
    checkOptions("GlobalMaxPool2d", opts, ["name"]);
    super(opts.name, "gmp");
  }

  override get namePrefix(): string {
    return "gmp";
  }

  config(): Record<string, unknown> {
    return {};
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    expectRank(this, inputShape, [3, 4], "[N, C, H, W] (or [C, H, W])");
    if (inputShape[inputShape.length - 1] * inputShape[inputShape.length - 2] === 0) {
      throw this.error(`cannot take the max over empty feature maps: input ${formatShape(inputShape)}`, inputShape);
    }
    return { shape: [...inputShape.slice(0, -2), 1, 1], notes: [] };
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    const y = new Tensor(this.shapeInfo(x.shape).shape);
    const plane = x.shape[x.rank - 1] * x.shape[x.rank - 2];
    const argmax = new Int32Array(y.size);
    for (let i = 0; i < y.size; i++) {
      let best = 0;
      for (let p = 1; p < plane; p++) if (x.data[i * plane + p] > x.data[i * plane + best]) best = p;
      argmax[i] = best;
      y.data[i] = x.data[i * plane + best];
    }
    this.argmax = ctx?.noGrad ? null : argmax;
    this.inShape = ctx?.noGrad ? null : x.shape;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const shape = this.requireCache(this.inShape);
    const argmax = this.requireCache(this.argmax);
    this.checkGradShape(dy, this.shapeInfo(shape).shape);
    const dx = new Tensor(shape);
    const plane = shape[shape.length - 1] * shape[shape.length - 2];
    for (let i = 0; i < dy.size; i++) dx.data[i * plane + argmax[i]] = dy.data[i];
    return dx;
  }

  override release(): void {
    this.argmax = null;
    this.inShape = null;
  }
}

/** For every element of an input of `shape`, the index of the value of a tensor of shape `b` broadcast into it (aligned at the last axis). */
function broadcastIndex(shape: number[], b: number[]): Int32Array {
  const r = shape.length, off = r - b.length;
  const strides = new Array<number>(b.length);
  let s = 1;
  for (let a = b.length - 1; a >= 0; a--) {
    strides[a] = b[a] === 1 ? 0 : s;
    s *= b[a];
  }
  const out = new Int32Array(shapeSize(shape));
  const idx = new Array<number>(r).fill(0);
  for (let i = 0; i < out.length; i++) {
    let k = 0;
    for (let a = 0; a < b.length; a++) k += idx[off + a] * strides[a];
    out[i] = k;
    for (let a = r - 1; a >= 0; a--) {
      if (++idx[a] < shape[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}

/** Whether a tensor of shape b broadcasts into `shape` without changing it. */
function broadcastsInto(b: number[], shape: number[]): boolean {
  return b.length <= shape.length && b.every((d, i) => d === 1 || d === shape[shape.length - b.length + i]);
}

/**
 * y = x + b with a learned b of a shape that broadcasts into x's (numpy's
 * rule, aligned at the last axis): a bias per channel [C, 1, 1], per
 * feature [F], or a whole fixed map. Imported models use it for the Add of
 * a constant.
 */
export class BiasAdd extends Layer {
  readonly type: string = "BiasAdd";
  readonly shape: number[];
  readonly bias: Param;
  private inShape: number[] | null = null;

  constructor(opts: { shape: number[]; name?: string }) {
    checkOptions("BiasAdd", opts, ["shape", "name"]);
    super(opts?.name, "bias");
    this.shape = wholeNumbers(this.name, "shape", opts?.shape, 0);
    this.bias = makeParam("bias", new Tensor(this.shape));
  }

  override get namePrefix(): string {
    return "bias";
  }

  override params(): Param[] {
    return [this.bias];
  }

  config(): Record<string, unknown> {
    return { shape: this.shape };
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    if (!broadcastsInto(this.shape, inputShape)) {
      throw this.error(
        `a bias of shape ${formatShape(this.shape)} does not broadcast into the input ${formatShape(inputShape)} ` +
          `(aligned at the last axis, each bias dimension must be 1 or equal the input's)`,
        inputShape,
      );
    }
    return { shape: inputShape.slice(), notes: [] };
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    this.shapeInfo(x.shape);
    const y = Tensor.empty(x.shape);
    const index = broadcastIndex(x.shape, this.shape);
    const b = this.bias.value.data;
    for (let i = 0; i < x.size; i++) y.data[i] = x.data[i] + b[index[i]];
    this.inShape = ctx?.noGrad ? null : x.shape;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const shape = this.requireCache(this.inShape);
    this.checkGradShape(dy, shape);
    if (this.bias.trainable) {
      const index = broadcastIndex(shape, this.shape);
      const g = this.bias.grad.data;
      for (let i = 0; i < dy.size; i++) g[index[i]] += dy.data[i];
    }
    return dy; // gradients are never modified in place, so the same tensor serves
  }

  override release(): void {
    this.inShape = null;
  }
}

/**
 * Softmax over the block of axes startDim..endDim taken as one (the values
 * of each block sum to 1): ONNX's Softmax before opset 13 is [axis, -1],
 * from 13 on a single axis [axis, axis].
 */
export class AxisSoftmax extends Layer {
  readonly type: string = "AxisSoftmax";
  readonly startDim: number;
  readonly endDim: number;
  private y: Tensor | null = null;

  constructor(opts: { startDim?: number; endDim?: number; name?: string } = {}) {
    checkOptions("AxisSoftmax", opts, ["startDim", "endDim", "name"]);
    super(opts.name, "softmax");
    this.startDim = opts.startDim ?? 1;
    this.endDim = opts.endDim ?? this.startDim;
    for (const [k, v] of [["startDim", this.startDim], ["endDim", this.endDim]] as const) {
      if (!Number.isInteger(v)) throw this.error(`${k} = ${JSON.stringify(v)} is not valid; it must be a whole number (negative counts from the end)`);
    }
  }

  override get namePrefix(): string {
    return "softmax";
  }

  config(): Record<string, unknown> {
    return { startDim: this.startDim, endDim: this.endDim };
  }

  /** [outer, block, inner] sizes for an input shape. */
  private split(shape: number[]): [number, number, number] {
    const r = shape.length;
    const s = this.startDim < 0 ? r + this.startDim : this.startDim;
    const e = this.endDim < 0 ? r + this.endDim : this.endDim;
    if (s < 0 || e >= r || s > e) {
      throw this.error(`cannot take a softmax over axes ${this.startDim}..${this.endDim} of an input of shape ${formatShape(shape)} (rank ${r})`, shape);
    }
    return [shapeSize(shape.slice(0, s)), shapeSize(shape.slice(s, e + 1)), shapeSize(shape.slice(e + 1))];
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    this.split(inputShape);
    return { shape: inputShape.slice(), notes: [] };
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    const [outer, block, inner] = this.split(x.shape);
    const y = Tensor.empty(x.shape);
    for (let o = 0; o < outer; o++) {
      for (let p = 0; p < inner; p++) {
        const base = o * block * inner + p;
        let max = -Infinity;
        for (let k = 0; k < block; k++) max = Math.max(max, x.data[base + k * inner]);
        let sum = 0;
        for (let k = 0; k < block; k++) sum += Math.exp(x.data[base + k * inner] - max);
        for (let k = 0; k < block; k++) y.data[base + k * inner] = Math.exp(x.data[base + k * inner] - max) / sum;
      }
    }
    this.y = ctx?.noGrad ? null : y;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const y = this.requireCache(this.y);
    this.checkGradShape(dy, y.shape);
    const [outer, block, inner] = this.split(y.shape);
    const dx = Tensor.empty(y.shape);
    // dx_k = y_k (dy_k - sum_j dy_j y_j) within each block.
    for (let o = 0; o < outer; o++) {
      for (let p = 0; p < inner; p++) {
        const base = o * block * inner + p;
        let dot = 0;
        for (let k = 0; k < block; k++) dot += dy.data[base + k * inner] * y.data[base + k * inner];
        for (let k = 0; k < block; k++) {
          const i = base + k * inner;
          dx.data[i] = y.data[i] * (dy.data[i] - dot);
        }
      }
    }
    return dx;
  }

  override release(): void {
    this.y = null;
  }
}

/**
 * y = x * s with a fixed s (a buffer, saved but not trained) that broadcasts
 * into x: the per-position divisor fix that turns an average pooling which
 * counts padding into one that does not, where the padding is too uneven
 * for the pooling layer itself.
 */
export class ConstantScale extends Layer {
  readonly type: string = "ConstantScale";
  readonly shape: number[];
  readonly scale: Tensor;

  constructor(opts: { shape: number[]; name?: string }) {
    checkOptions("ConstantScale", opts, ["shape", "name"]);
    super(opts?.name, "scale");
    this.shape = wholeNumbers(this.name, "shape", opts?.shape, 0);
    this.scale = Tensor.ones(this.shape);
  }

  override get namePrefix(): string {
    return "scale";
  }

  override buffers(): Buffer[] {
    return [{ name: "scale", value: this.scale }];
  }

  config(): Record<string, unknown> {
    return { shape: this.shape };
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    if (!broadcastsInto(this.shape, inputShape)) {
      throw this.error(`a scale of shape ${formatShape(this.shape)} does not broadcast into the input ${formatShape(inputShape)}`, inputShape);
    }
    return { shape: inputShape.slice(), notes: [] };
  }

  private apply(x: Tensor): Tensor {
    const y = Tensor.empty(x.shape);
    const index = broadcastIndex(x.shape, this.shape);
    const s = this.scale.data;
    for (let i = 0; i < x.size; i++) y.data[i] = x.data[i] * s[index[i]];
    return y;
  }

  private inShape: number[] | null = null;

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    this.shapeInfo(x.shape);
    this.inShape = ctx?.noGrad ? null : x.shape;
    return this.apply(x);
  }

  backward(dy: Tensor): Tensor {
    const shape = this.requireCache(this.inShape);
    this.checkGradShape(dy, shape);
    return this.apply(dy); // linear: dx = dy * s
  }

  override release(): void {
    this.inShape = null;
  }
}

/**
 * Axes reordered: output axis k is input axis perm[k] (ONNX's Transpose,
 * PyTorch's permute). The gradient goes back through the inverse order.
 */
export class Transpose extends Layer {
  readonly type: string = "Transpose";
  readonly perm: number[];
  private inShape: number[] | null = null;

  constructor(opts: { perm: number[]; name?: string }) {
    checkOptions("Transpose", opts, ["perm", "name"]);
    super(opts?.name, "transpose");
    this.perm = wholeNumbers(this.name, "perm", opts?.perm, 0);
    if (!this.perm.every((_, k) => this.perm.includes(k))) throw this.error(`perm ${formatShape(this.perm)} is not a permutation of 0..${this.perm.length - 1}`);
  }

  override get namePrefix(): string {
    return "transpose";
  }

  config(): Record<string, unknown> {
    return { perm: this.perm };
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    if (inputShape.length !== this.perm.length) {
      throw this.error(`perm ${formatShape(this.perm)} is for inputs of rank ${this.perm.length} but got ${formatShape(inputShape)}`, inputShape);
    }
    return { shape: this.perm.map((a) => inputShape[a]), notes: [] };
  }

  /** Moves x (of shape `shape`) to the order `perm`. */
  private static permute(x: Tensor, shape: number[], perm: number[]): Tensor {
    const r = shape.length;
    const outShape = perm.map((a) => shape[a]);
    const strides = new Array<number>(r);
    for (let a = r - 1, s = 1; a >= 0; a--) {
      strides[a] = s;
      s *= shape[a];
    }
    const y = Tensor.empty(outShape);
    const idx = new Array<number>(r).fill(0);
    let src = 0;
    for (let i = 0; i < y.size; i++) {
      y.data[i] = x.data[src];
      // Next output index (row-major), keeping the source offset in step.
      for (let k = r - 1; k >= 0; k--) {
        idx[k]++;
        src += strides[perm[k]];
        if (idx[k] < outShape[k]) break;
        src -= idx[k] * strides[perm[k]];
        idx[k] = 0;
      }
    }
    return y;
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    this.shapeInfo(x.shape);
    this.inShape = ctx?.noGrad ? null : x.shape;
    return Transpose.permute(x, x.shape, this.perm);
  }

  backward(dy: Tensor): Tensor {
    const shape = this.requireCache(this.inShape);
    this.checkGradShape(dy, this.shapeInfo(shape).shape);
    const inverse = new Array<number>(this.perm.length);
    this.perm.forEach((a, k) => (inverse[a] = k));
    return Transpose.permute(dy, dy.shape, inverse);
  }

  override release(): void {
    this.inShape = null;
  }
}

/**
 * Slices of one axis picked by index, in the given order (ONNX's Gather with
 * constant indices, PyTorch's index_select): [N, 3, H, W] with axis 1 and
 * indices [2, 1, 0] swaps RGB to BGR. With `squeeze` and one index the axis
 * is dropped, as Gather does for a scalar index (x[:, 0]). The gradient adds
 * each output slice back onto the slice it came from.
 */
export class IndexSelect extends Layer {
  readonly type: string = "IndexSelect";
  readonly axis: number;
  readonly indices: number[];
  readonly squeeze: boolean;
  private inShape: number[] | null = null;

  constructor(opts: { axis: number; indices: number[]; squeeze?: boolean; name?: string }) {
    checkOptions("IndexSelect", opts, ["axis", "indices", "squeeze", "name"]);
    super(opts?.name, "select");
    if (!Number.isInteger(opts?.axis) || opts.axis < 0) throw this.error(`axis = ${JSON.stringify(opts?.axis)} is not valid; it must be a whole number >= 0`);
    this.axis = opts.axis;
    this.indices = wholeNumbers(this.name, "indices", opts.indices, 0);
    this.squeeze = opts.squeeze ?? false;
    if (this.indices.length === 0) throw this.error("indices is empty; pick at least one slice");
    if (this.squeeze && this.indices.length !== 1) throw this.error(`squeeze drops the axis, which needs exactly one index, not ${this.indices.length}`);
  }

  override get namePrefix(): string {
    return "select";
  }

  config(): Record<string, unknown> {
    return { axis: this.axis, indices: this.indices, squeeze: this.squeeze };
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    if (this.axis >= inputShape.length) throw this.error(`axis ${this.axis} does not exist in an input of shape ${formatShape(inputShape)}`, inputShape);
    const size = inputShape[this.axis];
    const bad = this.indices.find((i) => i >= size);
    if (bad !== undefined) throw this.error(`index ${bad} is out of range for axis ${this.axis} of size ${size} (input ${formatShape(inputShape)})`, inputShape);
    const shape = inputShape.slice();
    if (this.squeeze) shape.splice(this.axis, 1);
    else shape[this.axis] = this.indices.length;
    return { shape, notes: [] };
  }

  /** The input as [outer, axis, inner] blocks. */
  private blocks(shape: number[]): [number, number, number] {
    return [shapeSize(shape.slice(0, this.axis)), shape[this.axis], shapeSize(shape.slice(this.axis + 1))];
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    const y = Tensor.empty(this.shapeInfo(x.shape).shape);
    const [outer, size, inner] = this.blocks(x.shape);
    const k = this.indices.length;
    for (let o = 0; o < outer; o++) {
      this.indices.forEach((i, j) => y.data.set(x.data.subarray((o * size + i) * inner, (o * size + i + 1) * inner), (o * k + j) * inner));
    }
    this.inShape = ctx?.noGrad ? null : x.shape;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const shape = this.requireCache(this.inShape);
    this.checkGradShape(dy, this.shapeInfo(shape).shape);
    const dx = Tensor.zeros(shape);
    const [outer, size, inner] = this.blocks(shape);
    const k = this.indices.length;
    for (let o = 0; o < outer; o++) {
      this.indices.forEach((i, j) => {
        const to = (o * size + i) * inner, from = (o * k + j) * inner;
        for (let e = 0; e < inner; e++) dx.data[to + e] += dy.data[from + e];
      });
    }
    return dx;
  }

  override release(): void {
    this.inShape = null;
  }
}

/** y = x: an imported graph whose output is its input, or a named no-op. */
export class Identity extends Layer {
  readonly type: string = "Identity";

  constructor(opts: { name?: string } = {}) {
    checkOptions("Identity", opts, ["name"]);
    super(opts.name, "identity");
  }

  override get namePrefix(): string {
    return "identity";
  }

  config(): Record<string, unknown> {
    return {};
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    return { shape: inputShape.slice(), notes: [] };
  }

  forward(x: Tensor): Tensor {
    return x;
  }

  backward(dy: Tensor): Tensor {
    return dy;
  }
}
