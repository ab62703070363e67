/**
 * Layers that join branches: Concat (Inception's depth concatenation) and
 * Add (ResNet's shortcut). They take several inputs and return one gradient
 * per input.
 */
import { Tensor, formatShape, sameShape } from "../tensor.js";
import { MergeLayer, type ShapeInfo, type ForwardContext } from "./layer.js";

export class Concat extends MergeLayer {
  readonly type: string = "Concat";
  readonly axis: number;
  private shapes: number[][] | null = null;

  constructor(opts: { axis?: number; name?: string } = {}) {
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
    const y = new Tensor(shape);
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

  constructor(opts: { name?: string } = {}) {
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

  forward(xs: Tensor[], _ctx?: ForwardContext): Tensor {
    const shape = this.shapeInfo(xs.map((x) => x.shape)).shape;
    const y = new Tensor(shape, xs[0].data.slice());
    for (let k = 1; k < xs.length; k++) {
      const d = xs[k].data;
      for (let i = 0; i < y.size; i++) y.data[i] += d[i];
    }
    this.count = xs.length;
    return y;
  }

  backward(dy: Tensor): Tensor[] {
    if (this.count === 0) this.requireCache(null);
    // Every input receives the whole gradient; they may share it since gradients are never modified in place.
    return Array.from({ length: this.count }, () => dy);
  }
}
