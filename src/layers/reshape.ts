/** Layers that only change how the values are seen: Flatten. */
import { Tensor, formatShape } from "../tensor.js";
import { checkOptions } from "../shape.js";
import { Layer, type ForwardContext, type ShapeInfo } from "./layer.js";

/** [N, C, H, W] -> [N, C*H*W] (PyTorch's nn.Flatten: axes startDim..endDim merged). */
export class Flatten extends Layer {
  readonly type: string = "Flatten";
  readonly startDim: number;
  readonly endDim: number;
  private inShape: number[] | null = null;

  constructor(opts: { startDim?: number; endDim?: number; name?: string } = {}) {
    checkOptions("Flatten", opts, ["startDim", "endDim", "name"]);
    super(opts.name, "flatten");
    this.startDim = opts.startDim ?? 1;
    this.endDim = opts.endDim ?? -1;
    for (const [k, v] of [["startDim", this.startDim], ["endDim", this.endDim]] as const) {
      if (!Number.isInteger(v)) throw this.error(`${k} = ${JSON.stringify(v)} is not valid; it must be a whole number (negative counts from the end)`);
    }
  }

  override get namePrefix(): string {
    return "flatten";
  }

  config(): Record<string, unknown> {
    return { startDim: this.startDim, endDim: this.endDim };
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    const r = inputShape.length;
    const s = this.startDim < 0 ? r + this.startDim : this.startDim;
    const e = this.endDim < 0 ? r + this.endDim : this.endDim;
    if (r === 0) return { shape: [1], notes: [] };
    if (s < 0 || e >= r || s > e) {
      throw this.error(
        `cannot flatten axes ${this.startDim}..${this.endDim} of an input of shape ${formatShape(inputShape)} (rank ${r})`,
        inputShape,
      );
    }
    const merged = inputShape.slice(s, e + 1).reduce((a, b) => a * b, 1);
    return { shape: [...inputShape.slice(0, s), merged, ...inputShape.slice(e + 1)], notes: [] };
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    this.inShape = ctx?.noGrad ? null : x.shape;
    return x.reshape(this.shapeInfo(x.shape).shape);
  }

  backward(dy: Tensor): Tensor {
    const shape = this.requireCache(this.inShape);
    this.checkGradShape(dy, this.shapeInfo(shape).shape);
    return dy.reshape(shape);
  }

  override release(): void {
    this.inShape = null;
  }
}
