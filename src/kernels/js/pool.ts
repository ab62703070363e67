/**
 * Pooling over each depth slice independently, with PyTorch's rules for
 * padding, dilation and ceil mode. Max pooling records its switches (the
 * argmax of every window) so that the backward pass routes each gradient
 * to the one input that won.
 */
import type { Pool2dGeometry } from "../../shape.js";
import { allocFloats } from "../../tensor.js";

export function maxPool2d(x: Float32Array, y: Float32Array, argmax: Int32Array, g: Pool2dGeometry): void {
  const { inH: H, inW: W, kH, kW, strideH, strideW, padTop, padLeft, dilationH, dilationW, outH, outW } = g;
  const planes = g.batch * g.channels;
  for (let pl = 0; pl < planes; pl++) {
    const xo = pl * H * W;
    const yo = pl * outH * outW;
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * strideH - padTop;
      for (let ow = 0; ow < outW; ow++) {
        const w0 = ow * strideW - padLeft;
        let best = -Infinity;
        let where = -1;
        for (let i = 0; i < kH; i++) {
          const h = h0 + i * dilationH;
          if (h < 0 || h >= H) continue;
          for (let j = 0; j < kW; j++) {
            const w = w0 + j * dilationW;
            if (w < 0 || w >= W) continue;
            const v = x[xo + h * W + w];
            // As PyTorch: the first in-bounds pixel is the default switch, a
            // strictly greater value replaces it (the first maximum wins ties),
            // and a NaN always replaces it (so NaN propagates).
            if (where < 0) where = h * W + w;
            if (v > best || Number.isNaN(v)) {
              best = v;
              where = h * W + w;
            }
          }
        }
        y[yo + oh * outW + ow] = best;
        argmax[yo + oh * outW + ow] = where;
      }
    }
  }
}

export function maxPool2dBackward(dy: Float32Array, argmax: Int32Array, dx: Float32Array, g: Pool2dGeometry): void {
  const planes = g.batch * g.channels;
  const inPlane = g.inH * g.inW;
  const outPlane = g.outH * g.outW;
  dx.fill(0, 0, planes * inPlane);
  for (let pl = 0; pl < planes; pl++) {
    const xo = pl * inPlane;
    const yo = pl * outPlane;
    for (let o = 0; o < outPlane; o++) {
      const where = argmax[yo + o];
      if (where >= 0) dx[xo + where] += dy[yo + o];
    }
  }
}

/**
 * PyTorch's average-pool window: it may hang over the padded border in ceil
 * mode; the divisor counts the padded window (clipped to input + padding)
 * when countIncludePad, else only the real input pixels.
 */
function window(o: number, stride: number, pad: number, kernel: number, size: number, padAfter: number) {
  let start = o * stride - pad;
  let end = Math.min(start + kernel, size + padAfter);
  const padded = end - start;
  start = Math.max(start, 0);
  end = Math.min(end, size);
  return { start, end, padded };
}

type Window = ReturnType<typeof window>;

function divisor(wh: Window, ww: Window, countIncludePad: boolean): number {
  return countIncludePad ? wh.padded * ww.padded : (wh.end - wh.start) * (ww.end - ww.start);
}

export function avgPool2d(x: Float32Array, y: Float32Array, g: Pool2dGeometry, countIncludePad: boolean): void {
  const { inH: H, inW: W, outH, outW } = g;
  const planes = g.batch * g.channels;
  for (let pl = 0; pl < planes; pl++) {
    const xo = pl * H * W;
    const yo = pl * outH * outW;
    for (let oh = 0; oh < outH; oh++) {
      const wh = window(oh, g.strideH, g.padTop, g.kH, H, g.padBottom);
      for (let ow = 0; ow < outW; ow++) {
        const ww = window(ow, g.strideW, g.padLeft, g.kW, W, g.padRight);
        let s = 0;
        for (let h = wh.start; h < wh.end; h++) {
          for (let w = ww.start; w < ww.end; w++) s += x[xo + h * W + w];
        }
        y[yo + oh * outW + ow] = s / divisor(wh, ww, countIncludePad);
      }
    }
  }
}

export function avgPool2dBackward(dy: Float32Array, dx: Float32Array, g: Pool2dGeometry, countIncludePad: boolean): void {
  const { inH: H, inW: W, outH, outW } = g;
  const planes = g.batch * g.channels;
  dx.fill(0, 0, planes * H * W);
  for (let pl = 0; pl < planes; pl++) {
    const xo = pl * H * W;
    const yo = pl * outH * outW;
    for (let oh = 0; oh < outH; oh++) {
      const wh = window(oh, g.strideH, g.padTop, g.kH, H, g.padBottom);
      for (let ow = 0; ow < outW; ow++) {
        const ww = window(ow, g.strideW, g.padLeft, g.kW, W, g.padRight);
        const d = dy[yo + oh * outW + ow] / divisor(wh, ww, countIncludePad);
        for (let h = wh.start; h < wh.end; h++) {
          for (let w = ww.start; w < ww.end; w++) dx[xo + h * W + w] += d;
        }
      }
    }
  }
}

/**
 * LP pooling, PyTorch's LPPool2d: y = (sum over the window of x^p)^(1/p),
 * computed as the window mean of x^p (over the window clipped to the input)
 * times the kernel area, so that a clipped window is rescaled to full size.
 */
export function lpPool2d(x: Float32Array, y: Float32Array, g: Pool2dGeometry, p: number): void {
  const n = g.batch * g.channels * g.inH * g.inW, outN = g.batch * g.channels * g.outH * g.outW;
  const powered = allocFloats(n, false);
  for (let i = 0; i < n; i++) powered[i] = Math.pow(x[i], p);
  avgPool2d(powered, y, g, true);
  const area = g.kH * g.kW;
  for (let i = 0; i < outN; i++) y[i] = Math.pow(y[i] * area, 1 / p);
}

/** dx = the gradient of lpPool2d (overwritten), from its input x, output y and dy. */
export function lpPool2dBackward(x: Float32Array, y: Float32Array, dy: Float32Array, dx: Float32Array, g: Pool2dGeometry, p: number): void {
  const plane = g.outH * g.outW, inPlane = g.inH * g.inW;
  dx.fill(0, 0, g.batch * g.channels * inPlane);
  for (let pl = 0; pl < g.batch * g.channels; pl++) {
    for (let oh = 0; oh < g.outH; oh++) {
      const h0 = oh * g.strideH, h1 = Math.min(h0 + g.kH, g.inH);
      for (let ow = 0; ow < g.outW; ow++) {
        const w0 = ow * g.strideW, w1 = Math.min(w0 + g.kW, g.inW);
        const o = pl * plane + oh * g.outW + ow;
        const yv = y[o];
        // y = (c S)^(1/p) with c the rescaling: dy/dx_i = c x_i^(p-1) y^(1-p).
        const c = (g.kH * g.kW) / ((h1 - h0) * (w1 - w0));
        const common = yv === 0 ? 0 : dy[o] * c * Math.pow(yv, 1 - p);
        for (let h = h0; h < h1; h++) {
          for (let w = w0; w < w1; w++) {
            const i = pl * inPlane + h * g.inW + w;
            dx[i] += common * Math.pow(x[i], p - 1);
          }
        }
      }
    }
  }
}
