/**
 * Inverted dropout: in training each activation is kept with probability
 * 1 - p and scaled by 1 / (1 - p), so at test time the layer is the identity
 * and nothing needs rescaling (ConvNetJS scaled by p at test time instead).
 */
import { Tensor } from "../tensor.js";
import { numberIn, checkOptions } from "../shape.js";
import { Rng, globalRng } from "../random.js";
import { Layer, type ForwardContext, type ShapeInfo } from "./layer.js";
import { allocFloats } from "../tensor.js";

export class Dropout extends Layer {
  readonly type: string = "Dropout";
  readonly p: number;
  private readonly rng: Rng;
  /** The scaled mask of the last training pass (0 or 1/(1-p)); null after an evaluation pass. */
  private mask: Float32Array | null = null;
  private lastShape: number[] | null = null;

  constructor(opts: { p?: number; name?: string; rng?: Rng } = {}) {
    checkOptions("Dropout", opts, ["p", "name", "rng"]);
    super(opts.name, "dropout");
    this.p = numberIn(this.name, "p (the probability of dropping)", opts.p ?? 0.5, 0, 1);
    this.rng = opts.rng ?? globalRng;
  }

  override get namePrefix(): string {
    return "dropout";
  }

  /** Where this layer's mask generator is, for checkpoints (Rng.getState's numbers); setRandomState restores it. */
  randomState(): number[] {
    return this.rng.getState();
  }

  /** Restores the mask generator from randomState(), so that a resumed run draws the masks the uninterrupted one would. */
  setRandomState(state: (number | null)[]): void {
    this.rng.setState(state);
  }

  config(): Record<string, unknown> {
    return { p: this.p };
  }

  shapeInfo(inputShape: number[]): ShapeInfo {
    return { shape: inputShape.slice(), notes: [] };
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    this.lastShape = x.shape;
    if (!ctx?.training || this.p === 0) {
      this.mask = null;
      return x; // the identity: no copy
    }
    const keep = 1 - this.p;
    const scale = keep === 0 ? 0 : 1 / keep;
    const mask = allocFloats(x.size);
    const y = new Tensor(x.shape);
    for (let i = 0; i < x.size; i++) {
      const m = this.rng.next() < keep ? scale : 0;
      mask[i] = m;
      y.data[i] = x.data[i] * m;
    }
    this.mask = ctx.noGrad ? null : mask;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const shape = this.requireCache(this.lastShape);
    this.checkGradShape(dy, shape);
    if (!this.mask) return dy;
    const dx = new Tensor(dy.shape);
    for (let i = 0; i < dy.size; i++) dx.data[i] = dy.data[i] * this.mask[i];
    return dx;
  }

  override release(): void {
    this.mask = null;
  }
}
