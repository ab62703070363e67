/**
 * Gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_.
 * Frozen parameters (trainable: false) are left out, as PyTorch leaves out
 * parameters without a gradient.
 */
import type { Param } from "../layers/layer.js";

/** Options of gradient clipping. */
export interface ClipOptions {
  /** Throw when the total norm is NaN or infinite instead of scaling by it (PyTorch's default: false). */
  errorIfNonfinite?: boolean;
}

/**
 * Scales every trainable gradient by maxNorm / (total + 1e-6) when the total
 * norm (of all gradients seen as one vector) is above maxNorm. Returns the
 * total norm before clipping. normType is any p > 0, or Infinity for the
 * largest absolute value.
 */
export function clipGradNorm(params: Param[], maxNorm: number, normType = 2, options: ClipOptions = {}): number {
  const grads = trainableGrads("clipGradNorm", params);
  if (typeof maxNorm !== "number" || !(maxNorm >= 0)) {
    throw new Error(`clipGradNorm: maxNorm = ${String(maxNorm)} is invalid; pass the largest allowed norm (>= 0), e.g. 1 or 5`);
  }
  if (typeof normType !== "number" || !(normType > 0)) {
    throw new Error(`clipGradNorm: normType = ${String(normType)} is invalid; use a p > 0 (2 for the Euclidean norm) or Infinity`);
  }
  if (grads.length === 0) return 0;
  const total = normType === Infinity ? maxAbs(grads) : pNorm(grads, normType);
  if (!Number.isFinite(total) && options.errorIfNonfinite) {
    throw new Error(
      `clipGradNorm: the total norm of order ${normType} of the gradients is ${total}, so they cannot be clipped; ` +
        `look for a NaN or infinite loss, or pass errorIfNonfinite: false to scale by it anyway`,
    );
  }
  // PyTorch computes the coefficient in float32 and always multiplies (by 1 when not clipping).
  const coef = Math.min(Math.fround(maxNorm / Math.fround(Math.fround(total) + 1e-6)), 1);
  if (coef !== 1) {
    for (const g of grads) for (let i = 0; i < g.length; i++) g[i] *= coef;
  }
  return total;
}

/** Clamps every trainable gradient element to [-clipValue, clipValue]. */
export function clipGradValue(params: Param[], clipValue: number): void {
  if (typeof clipValue !== "number" || !(clipValue >= 0)) {
    throw new Error(`clipGradValue: clipValue = ${String(clipValue)} is invalid; it must be a number >= 0`);
  }
  for (const g of trainableGrads("clipGradValue", params)) {
    for (let i = 0; i < g.length; i++) {
      if (g[i] > clipValue) g[i] = clipValue;
      else if (g[i] < -clipValue) g[i] = -clipValue;
    }
  }
}

function trainableGrads(name: string, params: Param[]): Float32Array[] {
  if (!Array.isArray(params)) {
    throw new Error(`${name}: expected an array of Params (e.g. model.params()), got ${typeof params}`);
  }
  params.forEach((p, i) => {
    if (!p || typeof p !== "object" || !p.grad || !(p.grad.data instanceof Float32Array)) {
      throw new Error(`${name}: parameter ${i} is not a Param { name, value, grad, trainable }`);
    }
  });
  // A Param built by hand without `trainable` (API.md omits it) counts as trainable.
  return params.filter((p) => p.trainable !== false).map((p) => p.grad.data);
}

function maxAbs(grads: Float32Array[]): number {
  let best = 0;
  for (const g of grads) {
    for (let i = 0; i < g.length; i++) {
      const a = Math.abs(g[i]);
      if (a > best || Number.isNaN(a)) best = a;
      if (Number.isNaN(best)) return NaN;
    }
  }
  return best;
}

function pNorm(grads: Float32Array[], p: number): number {
  let sum = 0;
  for (const g of grads) {
    if (p === 2) {
      for (let i = 0; i < g.length; i++) sum += g[i] * g[i];
    } else if (p === 1) {
      for (let i = 0; i < g.length; i++) sum += Math.abs(g[i]);
    } else {
      for (let i = 0; i < g.length; i++) sum += Math.abs(g[i]) ** p;
    }
  }
  return p === 1 ? sum : p === 2 ? Math.sqrt(sum) : sum ** (1 / p);
}
