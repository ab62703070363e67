/**
 * The locally connected 2-d layer (a convolution whose filters differ at
 * every output position): each output pixel p has its own K x R filter
 * matrix, applied to its column of the unfolded (im2col) input.
 * w: [outH * outW][K][R] with R = C * kH * kW; bias: [K][outH * outW] or null.
 */
import type { Conv2dGeometry } from "../backend.js";
import { im2col, col2im } from "./conv.js";
import { allocFloats } from "../../tensor.js";

/** y[n, k, p] = bias[k, p] + sum over r of w[p, k, r] * col_n[r, p], for every image n of x. */
export function locallyConnected2d(x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, g: Conv2dGeometry): void {
  const R = g.inChannels * g.kH * g.kW, P = g.outH * g.outW, K = g.outChannels;
  const col = allocFloats(R * P);
  for (let img = 0; img < g.batch; img++) {
    im2col(x, img * g.inChannels * g.inH * g.inW, col, g);
    const yo = img * K * P;
    for (let p = 0; p < P; p++) {
      for (let k = 0; k < K; k++) {
        const wo = (p * K + k) * R;
        let s = bias ? bias[k * P + p] : 0;
        for (let r = 0; r < R; r++) s += w[wo + r] * col[r * P + p];
        y[yo + k * P + p] = s;
      }
    }
  }
}

/**
 * dx = the input gradient (overwritten); dw += and dbias += the parameter
 * gradients, each skipped when null (a frozen parameter).
 */
export function locallyConnected2dBackward(
  x: Float32Array, dy: Float32Array, w: Float32Array, dx: Float32Array,
  dw: Float32Array | null, dbias: Float32Array | null, g: Conv2dGeometry,
): void {
  const R = g.inChannels * g.kH * g.kW, P = g.outH * g.outW, K = g.outChannels;
  const col = allocFloats(R * P);
  const dcol = allocFloats(R * P);
  dx.fill(0, 0, g.batch * g.inChannels * g.inH * g.inW);
  for (let img = 0; img < g.batch; img++) {
    const xo = img * g.inChannels * g.inH * g.inW;
    if (dw) im2col(x, xo, col, g);
    dcol.fill(0);
    const yo = img * K * P;
    for (let p = 0; p < P; p++) {
      for (let k = 0; k < K; k++) {
        const d = dy[yo + k * P + p];
        const wo = (p * K + k) * R;
        if (dbias) dbias[k * P + p] += d;
        for (let r = 0; r < R; r++) {
          dcol[r * P + p] += w[wo + r] * d;
          if (dw) dw[wo + r] += d * col[r * P + p];
        }
      }
    }
    col2im(dcol, dx, xo, g);
  }
}
