/**
 * The small set of hot primitives a backend implements. Layers call only
 * these; everything else (losses, cheap element-wise maps, bookkeeping) is
 * plain TypeScript in the layers.
 *
 * Conventions, shared by every backend so that one can be swapped for another:
 * - Arrays are row-major float32 (the js backend also runs on float64 arrays,
 *   which the gradient checks use). Images are NCHW.
 * - Every call is synchronous: a threaded backend splits the work inside the
 *   call and returns when all of it is done.
 * - Outputs are overwritten unless the name says "accumulate": parameter
 *   gradients (`dw`, `dbias`, `dgamma`, `dbeta`) are always added into, so that
 *   a layer used twice, or several mini-batches, sum their gradients.
 * - Geometry comes resolved (from shape.ts): kernels never validate shapes.
 */
import type { Conv2dGeometry, Pool2dGeometry } from "../shape.js";
import type { ScopedAllocator } from "../tensor.js";

export type { Conv2dGeometry, Pool2dGeometry };

/** Transposition and accumulation of Backend.matmul. */
export interface MatmulOptions {
  /** Use A transposed: A is stored K x M. */
  transA?: boolean;
  /** Use B transposed: B is stored N x K. */
  transB?: boolean;
  /** C += op(A) op(B) instead of C = op(A) op(B). */
  accumulate?: boolean;
  /**
   * B is a parameter at this version (Param.version): its values stay the same
   * until the version changes, so the backend may keep B in its own memory
   * across calls. Layers give it in inference only.
   */
  bVersion?: number;
}

/** Memory for the arrays of one model step, reused from step to step (see models/step-memory.ts). */
export interface StepArena extends ScopedAllocator {
  /** Forgets every array handed out: called when the next step begins. Past limitBytes in this step, allocations fall back to ordinary arrays. */
  reset(limitBytes?: number): void;
  /** Whether the array lives in the backend's memory (a container copies such a result before returning it). */
  isResident(a: Float32Array | Int32Array): boolean;
}

/**
 * The element-wise activations with a backend kernel besides ReLU: tanh, the
 * logistic sigmoid, LeakyReLU (with its negative slope) and ELU (with its alpha).
 */
export type ActivationKind = "tanh" | "sigmoid" | "leakyRelu" | "elu";

/** The compute kernels every layer calls. "js" and "wasm" implement it; registerBackend adds another. */
export interface Backend {
  readonly name: string;

  /** Optional: a step arena in the backend's own memory (the wasm backend has one). */
  createStepArena?(): StepArena;

  /**
   * Optional: a zeroed array of n floats in the backend's own memory, which
   * its kernels then read and write in place instead of copying (the wasm
   * backend: inside its WebAssembly.Memory, freed by freeResident or when
   * the array is collected). Optimisers keep the parameters they train there
   * (models/param-memory.ts). Null when the backend has no room left; callers
   * then use an ordinary array.
   */
  allocResident?(n: number): Float32Array | null;

  /** Optional: gives an array from allocResident back now; the array must not be used afterwards. */
  freeResident?(a: Float32Array): void;

  /** Optional: whether the array lives in the backend's own memory (came from allocResident or a step arena). */
  isResident?(a: Float32Array | Int32Array): boolean;

  /** Optional: gives back now what the backend kept of these weights (see conv2d's weightVersion); they are not used again. */
  forgetWeights?(w: Float32Array): void;

  /** C[M, N] = op(A)[M, K] * op(B)[K, N]. */
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number, opts?: MatmulOptions): void;

  /**
   * Convolution (cross-correlation, as every library computes it).
   * x: [N, C, H, W], w: [K, C/groups, kH, kW], bias: [K] or null, y: [N, K, outH, outW].
   * With `relu`, max(0, .) is applied to the output (fused bias + ReLU).
   * With `scale` ([K]), output channel k is conv * scale[k] + bias[k] before
   * the ReLU: a batch norm with fixed statistics folded into the convolution.
   * With `weightVersion` (the filters' Param.version, given in inference),
   * the backend may keep the filters, or a form of them packed for its
   * kernels, across calls until the version changes.
   * With `residual` (shaped like y), it is added after the scale and bias and
   * before the ReLU: a residual sum run in the convolution's epilogue, with
   * the same result as the convolution followed by `add`.
   */
  conv2d(
    x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, g: Conv2dGeometry,
    relu?: boolean, scale?: Float32Array | null, weightVersion?: number, residual?: Float32Array | null,
  ): void;
  /** dx = the gradient w.r.t. the input (overwritten). */
  conv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, g: Conv2dGeometry): void;
  /** dw += the gradient w.r.t. the filters; dbias += the gradient w.r.t. the bias. */
  conv2dBackwardFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, dbias: Float32Array | null, g: Conv2dGeometry): void;

  /**
   * Unfolds the receptive fields of one image (channels [c0, c0 + C) of x,
   * where x points at that image) into columns: col[C*kH*kW, outH*outW].
   * Geometry's inChannels is the number of channels unfolded.
   */
  im2col(x: Float32Array, xOffset: number, col: Float32Array, g: Conv2dGeometry): void;
  /** The adjoint of im2col: adds the columns back into the image (accumulates into dx). */
  col2im(col: Float32Array, dx: Float32Array, dxOffset: number, g: Conv2dGeometry): void;

  /**
   * Max pooling. argmax receives the switches: for each output, the index
   * (h * inW + w) within its input plane of the maximum (first one on ties,
   * NaN propagates), or -1 if the window saw only padding.
   */
  maxPool2d(x: Float32Array, y: Float32Array, argmax: Int32Array, g: Pool2dGeometry): void;
  /** Routes each output gradient to its switch; dx is overwritten. */
  maxPool2dBackward(dy: Float32Array, argmax: Int32Array, dx: Float32Array, g: Pool2dGeometry): void;
  /** Average pooling with PyTorch's divisor rules. */
  avgPool2d(x: Float32Array, y: Float32Array, g: Pool2dGeometry, countIncludePad: boolean): void;
  /** dx is overwritten. */
  avgPool2dBackward(dy: Float32Array, dx: Float32Array, g: Pool2dGeometry, countIncludePad: boolean): void;
  /**
   * LP pooling (PyTorch's LPPool2d): y = (sum of x^p over each window)^(1/p),
   * a window clipped by ceil mode rescaled to the full kernel area.
   */
  lpPool2d(x: Float32Array, y: Float32Array, g: Pool2dGeometry, p: number): void;
  /** dx (overwritten) from the forward input x, output y and dy. */
  lpPool2dBackward(x: Float32Array, y: Float32Array, dy: Float32Array, dx: Float32Array, g: Pool2dGeometry, p: number): void;

  /**
   * A locally connected layer: a convolution (groups 1) whose filters differ
   * at every output position. w: [outH * outW][K][C * kH * kW] (the filter of
   * position p and output channel k, in im2col's row order), bias: [K][outH * outW] or null.
   */
  locallyConnected2d(x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, g: Conv2dGeometry): void;
  /** dx is overwritten; dw and dbias are accumulated into, and skipped when null (frozen parameters). */
  locallyConnected2dBackward(
    x: Float32Array, dy: Float32Array, w: Float32Array, dx: Float32Array,
    dw: Float32Array | null, dbias: Float32Array | null, g: Conv2dGeometry,
  ): void;

  /**
   * Batch normalisation with batch statistics over [N, ., spatial] for each
   * of C features. Writes y, and the batch mean and 1/sqrt(var + eps)
   * (biased variance) per feature into mean and invStd. With `relu`,
   * max(0, .) is applied to y (a fused ReLU).
   */
  batchNormTrain(
    x: Float32Array, gamma: Float32Array | null, beta: Float32Array | null, y: Float32Array,
    mean: Float32Array, invStd: Float32Array, n: number, c: number, spatial: number, eps: number, relu?: boolean,
  ): void;
  /** y = gamma * (x - mean) * invStd + beta with given per-feature statistics (then max(0, .) with `relu`). */
  batchNormApply(
    x: Float32Array, gamma: Float32Array | null, beta: Float32Array | null, y: Float32Array,
    mean: Float32Array, invStd: Float32Array, n: number, c: number, spatial: number, relu?: boolean,
  ): void;
  /**
   * Backward of batchNormTrain. dx is overwritten; dgamma and dbeta are
   * accumulated into. When `batchStats` is false the statistics were
   * constants (evaluation mode) and dx = dy * gamma * invStd. With
   * `reluOutput` (y of a forward pass with a fused ReLU), dy counts only
   * where y > 0: the ReLU's backward in the same pass.
   */
  batchNormBackward(
    x: Float32Array, dy: Float32Array, mean: Float32Array, invStd: Float32Array, gamma: Float32Array | null,
    dx: Float32Array, dgamma: Float32Array | null, dbeta: Float32Array | null,
    n: number, c: number, spatial: number, batchStats: boolean, reluOutput?: Float32Array | null,
  ): void;

  /** y = a + b over y.length values (the residual sum), then max(0, .) with `relu` (NaN kept). */
  add(a: Float32Array, b: Float32Array, y: Float32Array, relu?: boolean): void;
  /** y = max(0, x). */
  relu(x: Float32Array, y: Float32Array): void;
  /** dx = dy where y > 0, else 0 (y is the forward output). */
  reluBackward(y: Float32Array, dy: Float32Array, dx: Float32Array): void;
  /**
   * Optional: y = tanh(x), the logistic sigmoid 1 / (1 + e^-x), LeakyReLU
   * (x > 0 ? x : param * x) or ELU (x <= 0 ? param * (e^x - 1) : x), element
   * by element; param is LeakyReLU's negative slope or ELU's alpha (the
   * layers fall back to the js reference without this method).
   */
  activation?(kind: ActivationKind, x: Float32Array, y: Float32Array, param?: number): void;
  /**
   * Optional: dx = dy times the derivative, from what the layer keeps: the
   * forward output y for tanh (1 - y^2), the sigmoid (y (1 - y)) and ELU
   * (y <= 0 ? y + alpha : 1), the input x for LeakyReLU (x > 0 ? 1 : slope).
   */
  activationBackward?(kind: ActivationKind, saved: Float32Array, dy: Float32Array, dx: Float32Array, param?: number): void;
  /**
   * Optional: one SGD-with-momentum update in place, buf = keep * buf +
   * take * g, then w -= lr * buf. Returns false when it cannot (the optimiser
   * then runs its own loop): the wasm backend does it only for arrays in its
   * memory, where copying would cost more than the update.
   */
  sgdMomentum?(w: Float32Array, g: Float32Array, buf: Float32Array, lr: number, keep: number, take: number): boolean;
}
