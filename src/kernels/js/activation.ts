/**
 * tanh and the logistic sigmoid, element by element: the reference the wasm
 * kernels are tested against (f64 arithmetic, rounded once to the output).
 */
import type { ActivationKind } from "../backend.js";

/** y = tanh(x) or 1 / (1 + e^-x). */
export function activation(kind: ActivationKind, x: Float32Array, y: Float32Array): void {
  const n = Math.min(x.length, y.length);
  if (kind === "tanh") {
    for (let i = 0; i < n; i++) y[i] = Math.tanh(x[i]);
    return;
  }
  for (let i = 0; i < n; i++) {
    const v = x[i];
    // Two forms so that neither exp overflows.
    y[i] = v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v));
  }
}

/** dx = dy times the derivative at the output y: 1 - y^2 for tanh, y (1 - y) for the sigmoid. */
export function activationBackward(kind: ActivationKind, y: Float32Array, dy: Float32Array, dx: Float32Array): void {
  const n = Math.min(y.length, dy.length, dx.length);
  if (kind === "tanh") {
    for (let i = 0; i < n; i++) dx[i] = dy[i] * (1 - y[i] * y[i]);
    return;
  }
  for (let i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1 - y[i]);
}
