/**
 * Element-wise non-linearities and softmax. Each keeps the one tensor its
 * derivative needs: the output where the derivative is a function of it
 * (ReLU, Tanh, Sigmoid, ELU, Softmax), the input otherwise (LeakyReLU).
 */
import { Tensor } from "../tensor.js";
import { numberIn, ShapeError, checkOptions } from "../shape.js";
import { getBackend } from "../kernels/index.js";
import type { ActivationKind } from "../kernels/backend.js";
import { activation, activationBackward } from "../kernels/js/activation.js";
import { Layer, type ForwardContext, type ShapeInfo } from "./layer.js";

/** A layer whose output has its input's shape and whose gradient is computed element by element. */
abstract class ElementwiseLayer extends Layer {
  protected saved: Tensor | null = null;

  /** The output has the input's shape. */
  shapeInfo(inputShape: number[]): ShapeInfo {
    return { shape: inputShape.slice(), notes: [] };
  }

  /** The options that rebuild this layer (saved in the topology JSON). */
  config(): Record<string, unknown> {
    return {};
  }

  /** Computes y from x; returns the tensor backward needs (x or y). */
  protected abstract apply(x: Tensor, y: Tensor): Tensor;
  protected abstract gradient(saved: Tensor, dy: Tensor, dx: Tensor): void;

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    const y = Tensor.empty(x.shape); // every activation writes all of y
    const saved = this.apply(x, y);
    this.saved = ctx?.noGrad ? null : saved;
    return y;
  }

  backward(dy: Tensor): Tensor {
    const saved = this.requireCache(this.saved);
    this.checkGradShape(dy, saved.shape);
    const dx = Tensor.empty(saved.shape); // and all of dx
    this.gradient(saved, dy, dx);
    return dx;
  }

  override release(): void {
    this.saved = null;
  }
}

/** tanh, the sigmoid, LeakyReLU or ELU by the backend's kernel, or by the js reference for a backend without one. */
function applyActivation(kind: ActivationKind, x: Tensor, y: Tensor, param = 0): void {
  const be = getBackend();
  if (be.activation) be.activation(kind, x.data, y.data, param);
  else activation(kind, x.data, y.data, param);
}

/** The gradient from what the layer kept (y, or x for LeakyReLU). */
function activationGradient(kind: ActivationKind, saved: Tensor, dy: Tensor, dx: Tensor, param = 0): void {
  const be = getBackend();
  if (be.activationBackward) be.activationBackward(kind, saved.data, dy.data, dx.data, param);
  else activationBackward(kind, saved.data, dy.data, dx.data, param);
}

/** max(0, x). */
export class ReLU extends ElementwiseLayer {
  readonly type: string = "ReLU";
  constructor(opts: { name?: string } = {}) {
    checkOptions("ReLU", opts, ["name"]);
    super(opts.name, "relu");
  }
  protected apply(x: Tensor, y: Tensor): Tensor {
    getBackend().relu(x.data, y.data);
    return y;
  }
  protected gradient(y: Tensor, dy: Tensor, dx: Tensor): void {
    getBackend().reluBackward(y.data, dy.data, dx.data);
  }
}

/** max(x, negativeSlope * x). */
export class LeakyReLU extends ElementwiseLayer {
  readonly type: string = "LeakyReLU";
  readonly negativeSlope: number;
  constructor(opts: { negativeSlope?: number; name?: string } = {}) {
    checkOptions("LeakyReLU", opts, ["negativeSlope", "name"]);
    super(opts.name, "leakyrelu");
    this.negativeSlope = numberIn(this.name, "negativeSlope", opts.negativeSlope ?? 0.01, -Infinity, Infinity);
  }
  override config(): Record<string, unknown> {
    return { negativeSlope: this.negativeSlope };
  }
  protected apply(x: Tensor, y: Tensor): Tensor {
    applyActivation("leakyRelu", x, y, this.negativeSlope);
    return x;
  }
  protected gradient(x: Tensor, dy: Tensor, dx: Tensor): void {
    activationGradient("leakyRelu", x, dy, dx, this.negativeSlope);
  }
}

/** Exponential linear unit: x for x > 0, alpha (e^x - 1) otherwise. */
export class ELU extends ElementwiseLayer {
  readonly type: string = "ELU";
  readonly alpha: number;
  constructor(opts: { alpha?: number; name?: string } = {}) {
    checkOptions("ELU", opts, ["alpha", "name"]);
    super(opts.name, "elu");
    this.alpha = numberIn(this.name, "alpha", opts.alpha ?? 1, -Infinity, Infinity);
  }
  override config(): Record<string, unknown> {
    return { alpha: this.alpha };
  }
  protected apply(x: Tensor, y: Tensor): Tensor {
    applyActivation("elu", x, y, this.alpha);
    return y;
  }
  protected gradient(y: Tensor, dy: Tensor, dx: Tensor): void {
    // For x <= 0, d/dx alpha (e^x - 1) = alpha e^x = y + alpha.
    activationGradient("elu", y, dy, dx, this.alpha);
  }
}

/** The hyperbolic tangent. */
export class Tanh extends ElementwiseLayer {
  readonly type: string = "Tanh";
  constructor(opts: { name?: string } = {}) {
    checkOptions("Tanh", opts, ["name"]);
    super(opts.name, "tanh");
  }
  protected apply(x: Tensor, y: Tensor): Tensor {
    applyActivation("tanh", x, y);
    return y;
  }
  protected gradient(y: Tensor, dy: Tensor, dx: Tensor): void {
    activationGradient("tanh", y, dy, dx);
  }
}

/** 1 / (1 + e^-x). */
export class Sigmoid extends ElementwiseLayer {
  readonly type: string = "Sigmoid";
  constructor(opts: { name?: string } = {}) {
    checkOptions("Sigmoid", opts, ["name"]);
    super(opts.name, "sigmoid");
  }
  protected apply(x: Tensor, y: Tensor): Tensor {
    applyActivation("sigmoid", x, y);
    return y;
  }
  protected gradient(y: Tensor, dy: Tensor, dx: Tensor): void {
    activationGradient("sigmoid", y, dy, dx);
  }
}

/** Softmax over axis 1 (classes, or channels at every position of [N, C, H, W]). */
export class Softmax extends ElementwiseLayer {
  readonly type: string = "Softmax";
  constructor(opts: { name?: string } = {}) {
    checkOptions("Softmax", opts, ["name"]);
    super(opts.name, "softmax");
  }
  override shapeInfo(inputShape: number[]): ShapeInfo {
    if (inputShape.length < 2) {
      throw new ShapeError(this.name, `expects [N, C, …] (softmax runs over axis 1) but got [${inputShape.join(", ")}]`, inputShape);
    }
    return super.shapeInfo(inputShape);
  }
  protected apply(x: Tensor, y: Tensor): Tensor {
    this.shapeInfo(x.shape);
    const [n, c] = x.shape;
    const inner = x.size / (n * c);
    for (let b = 0; b < n; b++) {
      for (let p = 0; p < inner; p++) {
        const base = b * c * inner + p;
        let max = -Infinity;
        for (let k = 0; k < c; k++) max = Math.max(max, x.data[base + k * inner]);
        let sum = 0;
        for (let k = 0; k < c; k++) sum += Math.exp(x.data[base + k * inner] - max);
        for (let k = 0; k < c; k++) y.data[base + k * inner] = Math.exp(x.data[base + k * inner] - max) / sum;
      }
    }
    return y;
  }
  protected gradient(y: Tensor, dy: Tensor, dx: Tensor): void {
    // dx_k = y_k (dy_k - sum_j dy_j y_j)
    const [n, c] = y.shape;
    const inner = y.size / (n * c);
    for (let b = 0; b < n; b++) {
      for (let p = 0; p < inner; p++) {
        const base = b * c * inner + p;
        let dot = 0;
        for (let k = 0; k < c; k++) dot += dy.data[base + k * inner] * y.data[base + k * inner];
        for (let k = 0; k < c; k++) {
          const i = base + k * inner;
          dx.data[i] = y.data[i] * (dy.data[i] - dot);
        }
      }
    }
  }
}

