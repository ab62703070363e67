/**
 * Fully connected layers: every output sees every input, y = x W^T + b.
 * Also the embedding lookup that feeds a text CNN its word vectors.
 */
import { Tensor, formatShape, beginMeta } from "../tensor.js";
import { ShapeError, positiveInt, checkOptions } from "../shape.js";
import { getBackend } from "../kernels/index.js";
import { Layer, makeParam, unrequestedGradient, type ForwardContext, type Param, type ShapeInfo } from "./layer.js";
import { checkInit, initBias, initWeight, type InitName } from "./init.js";
import { Rng, globalRng } from "../random.js";

/** Options of Linear: feature counts, bias and initialisation. */
export interface LinearOptions {
  inFeatures: number;
  outFeatures: number;
  bias?: boolean;
  name?: string;
  init?: InitName;
  rng?: Rng;
  /** Build with parameter shapes but no storage, for counting at any size (summary, estimateMemory, receptiveField); running it throws. */
  meta?: boolean;
}

/** Linear over the last axis: [..., inFeatures] -> [..., outFeatures], weight [outFeatures, inFeatures]. */
export class Linear extends Layer {
  readonly type: string = "Linear";
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly init: InitName;
  readonly weight: Param;
  readonly bias: Param | null;
  private x: Tensor | null = null;
  private inputGrad = true;

  constructor(opts: LinearOptions) {
    checkOptions("Linear", opts, ["inFeatures", "outFeatures", "bias", "name", "init", "rng", "meta"]);
    super(opts?.name, "fc");
    if (!opts || typeof opts !== "object") throw new ShapeError("Linear", "expects an options object { inFeatures, outFeatures, … }");
    this.inFeatures = positiveInt(this.name, "inFeatures", opts.inFeatures);
    this.outFeatures = positiveInt(this.name, "outFeatures", opts.outFeatures);
    this.init = checkInit(this.name, opts.init);
    const endMeta = beginMeta(opts.meta === true);
    try {
      this.weight = makeParam("weight", new Tensor([this.outFeatures, this.inFeatures]));
      initWeight(this.weight.value, this.init, this.inFeatures, this.outFeatures, opts.rng);
      this.bias = opts.bias === false ? null : makeParam("bias", new Tensor([this.outFeatures]));
      if (this.bias) initBias(this.bias.value, this.init, this.inFeatures, opts.rng);
    } finally {
      endMeta();
    }
  }

  override get namePrefix(): string {
    return "fc";
  }

  override params(): Param[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }

  config(): Record<string, unknown> {
    return { inFeatures: this.inFeatures, outFeatures: this.outFeatures, bias: this.bias !== null, init: this.init };
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    const last = inputShape[inputShape.length - 1];
    if (inputShape.length === 0 || last !== this.inFeatures) {
      const flat = inputShape.slice(1).reduce((a, b) => a * b, 1);
      const hint = inputShape.length > 2 && flat === this.inFeatures
        ? `; the input is a volume of ${inputShape.slice(1).join("x")} = ${flat} values: put a Flatten before this layer`
        : "";
      throw this.error(
        `expects ${this.inFeatures} input features on the last axis but got an input of shape ${formatShape(inputShape)}${hint}`,
        inputShape,
      );
    }
    return { shape: [...inputShape.slice(0, -1), this.outFeatures], notes: [] };
  }

  override macs(inputShape: number[]): number {
    return (inputShape.reduce((a, b) => a * b, 1) / this.inFeatures) * this.inFeatures * this.outFeatures;
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    const shape = this.shapeInfo(x.shape).shape;
    const rows = x.size / this.inFeatures;
    const y = Tensor.empty(shape); // matmul overwrites C
    // In inference the backend may keep the weights in its memory until an optimiser or a load changes them.
    const bVersion = ctx?.noGrad && !ctx.training ? this.weight.version : undefined;
    getBackend().matmul(x.data, this.weight.value.data, y.data, rows, this.outFeatures, this.inFeatures, { transB: true, bVersion });
    if (this.bias) {
      const b = this.bias.value.data;
      for (let r = 0; r < rows; r++) {
        const o = r * this.outFeatures;
        for (let j = 0; j < this.outFeatures; j++) y.data[o + j] += b[j];
      }
    }
    this.x = ctx?.noGrad ? null : x;
    this.inputGrad = ctx?.inputGrad !== false;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const x = this.requireCache(this.x);
    this.checkGradShape(dy, [...x.shape.slice(0, -1), this.outFeatures]);
    const rows = x.size / this.inFeatures;
    const backend = getBackend();
    const dx = this.inputGrad ? Tensor.empty(x.shape) : unrequestedGradient(x.shape); // matmul overwrites dx
    // dx = dy W; dW += dy^T x; db += sum of dy over rows.
    if (this.inputGrad) backend.matmul(dy.data, this.weight.value.data, dx.data, rows, this.inFeatures, this.outFeatures);
    if (this.weight.trainable) {
      backend.matmul(dy.data, x.data, this.weight.grad.data, this.outFeatures, this.inFeatures, rows, { transA: true, accumulate: true });
    }
    if (this.bias && this.bias.trainable) {
      const db = this.bias.grad.data;
      for (let r = 0; r < rows; r++) {
        const o = r * this.outFeatures;
        for (let j = 0; j < this.outFeatures; j++) db[j] += dy.data[o + j];
      }
    }
    return dx;
  }

  override release(): void {
    this.x = null;
  }
}

/** Options of Embedding: vocabulary size and vector size. */
export interface EmbeddingOptions {
  numEmbeddings: number;
  embeddingDim: number;
  /** "NLC" (PyTorch's [N, L, D]) or "NCL" ([N, D, L], ready for Conv1d). */
  layout?: "NLC" | "NCL";
  name?: string;
  rng?: Rng;
  /** Build with parameter shapes but no storage, for counting at any size (summary, estimateMemory, receptiveField); running it throws. */
  meta?: boolean;
}

/**
 * Looks up a learned vector for each token id. The input holds integer ids
 * (as float values) [N, L]; the output is [N, L, D], or [N, D, L] with
 * layout "NCL" so a Conv1d can slide over the sentence directly.
 * Initialised N(0, 1) as PyTorch does. The input has no gradient.
 */
export class Embedding extends Layer {
  readonly type: string = "Embedding";
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly layout: "NLC" | "NCL";
  readonly weight: Param;
  private ids: Tensor | null = null;

  constructor(opts: EmbeddingOptions) {
    checkOptions("Embedding", opts, ["numEmbeddings", "embeddingDim", "layout", "name", "rng", "meta"]);
    super(opts?.name, "embed");
    if (!opts || typeof opts !== "object") throw new ShapeError("Embedding", "expects an options object { numEmbeddings, embeddingDim }");
    this.numEmbeddings = positiveInt(this.name, "numEmbeddings", opts.numEmbeddings);
    this.embeddingDim = positiveInt(this.name, "embeddingDim", opts.embeddingDim);
    this.layout = opts.layout ?? "NLC";
    if (this.layout !== "NLC" && this.layout !== "NCL") throw this.error(`layout = ${JSON.stringify(opts.layout)} is not valid; use "NLC" or "NCL"`);
    const endMeta = beginMeta(opts.meta === true);
    try {
      this.weight = makeParam("weight", new Tensor([this.numEmbeddings, this.embeddingDim]));
    } finally {
      endMeta();
    }
    if (!this.weight.value.isMeta) {
      const rng = opts.rng ?? globalRng;
      for (let i = 0; i < this.weight.value.size; i++) this.weight.value.data[i] = rng.normal();
    }
  }

  override get namePrefix(): string {
    return "embed";
  }

  override params(): Param[] {
    return [this.weight];
  }

  config(): Record<string, unknown> {
    return { numEmbeddings: this.numEmbeddings, embeddingDim: this.embeddingDim, layout: this.layout };
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    if (inputShape.length !== 2) throw this.error(`expects token ids [N, L] but got ${formatShape(inputShape)}`, inputShape);
    const [n, l] = inputShape;
    return { shape: this.layout === "NCL" ? [n, this.embeddingDim, l] : [n, l, this.embeddingDim], notes: [] };
  }

  forward(ids: Tensor, ctx?: ForwardContext): Tensor {
    const shape = this.shapeInfo(ids.shape).shape;
    const [n, l] = ids.shape;
    const d = this.embeddingDim;
    const y = new Tensor(shape);
    const w = this.weight.value.data;
    for (let i = 0; i < n * l; i++) {
      const id = ids.data[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.numEmbeddings) {
        throw this.error(`token id ${id} at position ${i} is not an integer in [0, ${this.numEmbeddings}); check the vocabulary size`);
      }
      const b = Math.floor(i / l), t = i % l;
      for (let k = 0; k < d; k++) {
        const o = this.layout === "NCL" ? (b * d + k) * l + t : i * d + k;
        y.data[o] = w[id * d + k];
      }
    }
    this.ids = ctx?.noGrad ? null : ids;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const ids = this.requireCache(this.ids);
    this.checkGradShape(dy, this.shapeInfo(ids.shape).shape);
    const [n, l] = ids.shape;
    const d = this.embeddingDim;
    if (this.weight.trainable) {
      const g = this.weight.grad.data;
      for (let i = 0; i < n * l; i++) {
        const id = ids.data[i];
        const b = Math.floor(i / l), t = i % l;
        for (let k = 0; k < d; k++) {
          const o = this.layout === "NCL" ? (b * d + k) * l + t : i * d + k;
          g[id * d + k] += dy.data[o];
        }
      }
    }
    return new Tensor(ids.shape); // token ids have no gradient
  }

  override release(): void {
    this.ids = null;
  }
}
