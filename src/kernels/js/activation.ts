/**
 * tanh, the logistic sigmoid, LeakyReLU and ELU, element by element: the
 * reference the wasm kernels are tested against. tanh, the sigmoid and ELU's
 * e^x - 1 in f64, rounded once to the output; LeakyReLU as PyTorch computes
 * it in float32 (the slope rounded to float32, one rounded product).
 */
import type { ActivationKind } from "../backend.js";

/** y = tanh(x), 1 / (1 + e^-x), x > 0 ? x : param x (LeakyReLU) or x <= 0 ? param (e^x - 1) : x (ELU). */
export function activation(kind: ActivationKind, x: Float32Array, y: Float32Array, param = 0): void {
  const n = Math.min(x.length, y.length);
  switch (kind) {
    case "tanh":
      for (let i = 0; i < n; i++) y[i] = Math.tanh(x[i]);
      return;
    case "sigmoid":
      for (let i = 0; i < n; i++) {
        const v = x[i];
        // Two forms so that neither exp overflows.
        y[i] = v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v));
      }
      return;
    case "leakyRelu": {
      const s = Math.fround(param);
      // The product of two float32 values is exact in f64: storing it rounds once, as float32 arithmetic would.
      for (let i = 0; i < n; i++) {
        const v = x[i];
        y[i] = v > 0 ? v : v * s;
      }
      return;
    }
    case "elu": {
      const a = Math.fround(param);
      // PyTorch's comparison: NaN fails x <= 0 and is kept.
      for (let i = 0; i < n; i++) {
        const v = x[i];
        y[i] = v <= 0 ? a * Math.expm1(v) : v;
      }
      return;
    }
  }
}

/**
 * dx = dy times the derivative at `saved`: the output y for tanh (1 - y^2),
 * the sigmoid (y (1 - y)) and ELU (y <= 0 ? y + alpha : 1); the input x for
 * LeakyReLU (x > 0 ? 1 : slope).
 */
export function activationBackward(kind: ActivationKind, saved: Float32Array, dy: Float32Array, dx: Float32Array, param = 0): void {
  const n = Math.min(saved.length, dy.length, dx.length);
  switch (kind) {
    case "tanh":
      for (let i = 0; i < n; i++) dx[i] = dy[i] * (1 - saved[i] * saved[i]);
      return;
    case "sigmoid":
      for (let i = 0; i < n; i++) dx[i] = dy[i] * saved[i] * (1 - saved[i]);
      return;
    case "leakyRelu": {
      const s = Math.fround(param);
      for (let i = 0; i < n; i++) dx[i] = saved[i] > 0 ? dy[i] : dy[i] * s;
      return;
    }
    case "elu": {
      const a = Math.fround(param);
      for (let i = 0; i < n; i++) {
        const v = saved[i];
        dx[i] = v <= 0 ? dy[i] * (v + a) : dy[i];
      }
      return;
    }
  }
}
