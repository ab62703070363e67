/**
 * Layers that join branches: Concat (Inception's depth concatenation) and
 * Add (ResNet's shortcut). They take several inputs and return one gradient
 * per input.
 */
import { Tensor, formatShape, sameShape } from "../tensor.js";
import { checkOptions } from "../shape.js";
import { MergeLayer, type ShapeInfo, type ForwardContext } from "./layer.js";
import { getBackend } from "../kernels/index.js";

export class Concat extends MergeLayer {
  readonly type: string = "Concat";
  readonly axis: number;
  private shapes: number[][] | null = null;

  constructor(opts: { axis?: number; name?: string } = {}) {
    checkOptions("Concat", opts, ["axis", "name"]);
    super(opts.name, "concat");
    this.axis = opts.axis ?? 1;
    if (!Number.isInteger(this.axis)) throw this.error(`axis = ${JSON.stringify(opts.axis)} is not valid; it must be a whole number`);
  }

  override get namePrefix(): string {
    return "concat";
  }

  config(): Record<string, unknown> {
    return { axis: this.axis };
  }

  private resolveAxis(rank: number): number {
    return this.axis < 0 ? rank + this.axis : this.axis;
  }

  shapeInfo(inputShapes: number[][]): ShapeInfo {
    if (!Array.isArray(inputShapes) || inputShapes.length === 0) throw this.error("needs at least one input");
    const first = inputShapes[0];
    const axis = this.resolveAxis(first.length);
    if (axis < 0 || axis >= first.length) {
      throw this.error(`axis ${this.axis} does not exist in inputs of rank ${first.length} (${formatShape(first)})`, first);
    }
    let total = 0;
    for (const [i, s] of inputShapes.entries()) {
      const ok = s.length === first.length && s.every((d, k) => k === axis || d === first[k]);
      if (!ok) {
        throw this.error(
          `input ${i} has shape ${formatShape(s)} but input 0 has ${formatShape(first)}; ` +
            `all inputs must agree on every axis except axis ${axis} (the one they are joined along)`,
          s,
        );
      }
      total += s[axis];
    }
    const shape = first.slice();
    shape[axis] = total;
    return { shape, notes: [] };
  }

  forward(xs: Tensor[], ctx?: ForwardContext): Tensor {
    const shape = this.shapeInfo(xs.map((x) => x.shape)).shape;
    const axis = this.resolveAxis(shape.length);
    const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const y = Tensor.empty(shape); // the inputs cover it
    const rowOut = shape[axis] * inner;
    let offset = 0;
    for (const x of xs) {
      const rowIn = x.shape[axis] * inner;
      for (let o = 0; o < outer; o++) y.data.set(x.data.subarray(o * rowIn, (o + 1) * rowIn), o * rowOut + offset);
      offset += rowIn;
    }
    this.shapes = ctx?.noGrad ? null : xs.map((x) => x.shape);
    return y;
  }

  backward(dy: Tensor): Tensor[] {
    const shapes = this.requireCache(this.shapes);
    const axis = this.resolveAxis(dy.rank);
    const outer = dy.shape.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = dy.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const rowOut = dy.shape[axis] * inner;
    let offset = 0;
    return shapes.map((s) => {
      const dx = new Tensor(s);
      const rowIn = s[axis] * inner;
      for (let o = 0; o < outer; o++) dx.data.set(dy.data.subarray(o * rowOut + offset, o * rowOut + offset + rowIn), o * rowIn);
      offset += rowIn;
      return dx;
    });
  }

  override release(): void {
    this.shapes = null;
  }
}

/** Element-wise sum of inputs of one shape: the residual connection y = F(x) + x. */
export class Add extends MergeLayer {
  readonly type: string = "Add";
  private count = 0;
  /** Whether the last forward applied a fused ReLU (ctx.fuseRelu); its output is kept for the mask. */
  private reluFused = false;
  private y: Tensor | null = null;

  constructor(opts: { name?: string } = {}) {
    checkOptions("Add", opts, ["name"]);
    super(opts.name, "add");
  }

  override get namePrefix(): string {
    return "add";
  }

  config(): Record<string, unknown> {
    return {};
  }

  shapeInfo(inputShapes: number[][]): ShapeInfo {
    if (!Array.isArray(inputShapes) || inputShapes.length === 0) throw this.error("needs at least one input");
    for (const [i, s] of inputShapes.entries()) {
      if (!sameShape(s, inputShapes[0])) {
        throw this.error(
          `input ${i} has shape ${formatShape(s)} but input 0 has ${formatShape(inputShapes[0])}; a residual sum needs equal shapes ` +
            `(use a 1x1 convolution with stride on the shortcut to match them)`,
          s,
        );
      }
    }
    return { shape: inputShapes[0].slice(), notes: [] };
  }

  forward(xs: Tensor[], ctx?: ForwardContext): Tensor {
    const shape = this.shapeInfo(xs.map((x) => x.shape)).shape;
    const y = Tensor.empty(shape); // set or added into whole
    const relu = ctx?.fuseRelu === true;
    const backend = getBackend();
    if (xs.length === 1) {
      if (relu) backend.relu(xs[0].data, y.data);
      else y.data.set(xs[0].data);
    }
    // A wasm kernel even without the ReLU: measured 2x faster than the JavaScript loop (bench/profile-lenet.mjs, add of 1M floats).
    for (let k = 1; k < xs.length; k++) backend.add(k === 1 ? xs[0].data : y.data, xs[k].data, y.data, relu && k === xs.length - 1);
    this.count = xs.length;
    this.reluFused = relu;
    this.y = relu && !ctx?.noGrad ? y : null;
    return y;
  }

  backward(dy: Tensor): Tensor[] {
    if (this.count === 0) this.requireCache(null);
    let g = dy;
    if (this.reluFused) {
      // The fused ReLU's mask, then the same gradient for every input.
      const y = this.requireCache(this.y);
      if (!sameShape(dy.shape, y.shape)) {
        throw this.error(`backward() got a gradient of shape ${formatShape(dy.shape)} but the last forward produced ${formatShape(y.shape)}`);
      }
      g = new Tensor(y.shape);
      getBackend().reluBackward(y.data, dy.data, g.data);
    }
    // Every input receives the whole gradient; they may share it since gradients are never modified in place.
    return Array.from({ length: this.count }, () => g);
  }

  override release(): void {
    this.y = null;
  }
}
