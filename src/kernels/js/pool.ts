/**
 * Pooling over each depth slice independently, with PyTorch's rules for
 * padding, dilation and ceil mode. Max pooling records its switches (the
 * argmax of every window) so that the backward pass routes each gradient
 * to the one input that won.
 */
import type { Pool2dGeometry } from "../../shape.js";

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
