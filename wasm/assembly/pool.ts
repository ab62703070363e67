// Max and average pooling with PyTorch's window rules (the js backend's
// pool.ts is the specification); threads take whole planes.
import { zeroFloats } from "./simd";

export const P_BATCH = 0, P_C = 1, P_H = 2, P_W = 3, P_KH = 4, P_KW = 5, P_SH = 6, P_SW = 7,
  P_PT = 8, P_PL = 9, P_PB = 10, P_PR = 11, P_DH = 12, P_DW = 13, P_OH = 14, P_OW = 15;

// @ts-ignore: decorator
@inline function gi(g: usize, field: i32): i32 {
  return load<i32>(g + (<usize>field << 2));
}

// @ts-ignore: decorator
@inline function planeRange(planes: i32, tid: i32, nth: i32): i64 {
  const p0 = <i32>((<i64>planes * tid) / nth), p1 = <i32>((<i64>planes * (tid + 1)) / nth);
  return (<i64>p0 << 32) | <i64>p1;
}

export function maxPoolForward(g: usize, x: usize, y: usize, argmax: usize, tid: i32, nth: i32): void {
  const H = gi(g, P_H), W = gi(g, P_W), kH = gi(g, P_KH), kW = gi(g, P_KW), sH = gi(g, P_SH), sW = gi(g, P_SW);
  const pT = gi(g, P_PT), pL = gi(g, P_PL), dH = gi(g, P_DH), dW = gi(g, P_DW), outH = gi(g, P_OH), outW = gi(g, P_OW);
  const r = planeRange(gi(g, P_BATCH) * gi(g, P_C), tid, nth);
  const p0 = <i32>(r >> 32), p1 = <i32>r;
  for (let pl = p0; pl < p1; pl++) {
    const xo = x + (<usize>(pl * H * W) << 2);
    const yo = <usize>(pl * outH * outW) << 2;
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * sH - pT;
      for (let ow = 0; ow < outW; ow++) {
        const w0 = ow * sW - pL;
        let best: f32 = -Infinity;
        let where: i32 = -1;
        for (let i = 0; i < kH; i++) {
          const h = h0 + i * dH;
          if (h < 0 || h >= H) continue;
          for (let j = 0; j < kW; j++) {
            const w = w0 + j * dW;
            if (w < 0 || w >= W) continue;
            const idx = h * W + w;
            const v = load<f32>(xo + (<usize>idx << 2));
            // First in-bounds pixel is the default; strictly greater or NaN replaces it.
            if (where < 0) where = idx;
            if (v > best || v != v) {
              best = v;
              where = idx;
            }
          }
        }
        const o = yo + (<usize>(oh * outW + ow) << 2);
        store<f32>(y + o, best);
        store<i32>(argmax + o, where);
      }
    }
  }
}

export function maxPoolBackward(g: usize, dy: usize, argmax: usize, dx: usize, tid: i32, nth: i32): void {
  const inPlane = gi(g, P_H) * gi(g, P_W), outPlane = gi(g, P_OH) * gi(g, P_OW);
  const r = planeRange(gi(g, P_BATCH) * gi(g, P_C), tid, nth);
  const p0 = <i32>(r >> 32), p1 = <i32>r;
  for (let pl = p0; pl < p1; pl++) {
    const xo = dx + (<usize>(pl * inPlane) << 2);
    const yo = <usize>(pl * outPlane) << 2;
    zeroFloats(xo, inPlane);
    for (let o = 0; o < outPlane; o++) {
      const oo = yo + (<usize>o << 2);
      const where = load<i32>(argmax + oo);
      if (where >= 0) {
        const p = xo + (<usize>where << 2);
        store<f32>(p, load<f32>(p) + load<f32>(dy + oo));
      }
    }
  }
}

// PyTorch's average-pool window along one axis, packed as start | end << 20 | padded-size << 40.
// @ts-ignore: decorator
@inline function window(o: i32, stride: i32, pad: i32, kernel: i32, size: i32, padAfter: i32): i64 {
  let start = o * stride - pad;
  let end = min(start + kernel, size + padAfter);
  const padded = end - start;
  start = max(start, 0);
  end = min(end, size);
  return <i64>start | (<i64>end << 20) | (<i64>padded << 40);
}

export function avgPoolForward(g: usize, x: usize, y: usize, countIncludePad: bool, tid: i32, nth: i32): void {
  const H = gi(g, P_H), W = gi(g, P_W), kH = gi(g, P_KH), kW = gi(g, P_KW), sH = gi(g, P_SH), sW = gi(g, P_SW);
  const pT = gi(g, P_PT), pL = gi(g, P_PL), pB = gi(g, P_PB), pR = gi(g, P_PR), outH = gi(g, P_OH), outW = gi(g, P_OW);
  const r = planeRange(gi(g, P_BATCH) * gi(g, P_C), tid, nth);
  const p0 = <i32>(r >> 32), p1 = <i32>r;
  for (let pl = p0; pl < p1; pl++) {
    const xo = x + (<usize>(pl * H * W) << 2);
    const yo = y + (<usize>(pl * outH * outW) << 2);
    for (let oh = 0; oh < outH; oh++) {
      const wh = window(oh, sH, pT, kH, H, pB);
      const hs = <i32>(wh & 0xfffff), he = <i32>((wh >> 20) & 0xfffff), hp = <i32>(wh >> 40);
      for (let ow = 0; ow < outW; ow++) {
        const ww = window(ow, sW, pL, kW, W, pR);
        const ws = <i32>(ww & 0xfffff), we = <i32>((ww >> 20) & 0xfffff), wp = <i32>(ww >> 40);
        let s: f32 = 0;
        for (let h = hs; h < he; h++) {
          const row = xo + (<usize>(h * W) << 2);
          for (let w = ws; w < we; w++) s += load<f32>(row + (<usize>w << 2));
        }
        const divisor = countIncludePad ? hp * wp : (he - hs) * (we - ws);
        store<f32>(yo + (<usize>(oh * outW + ow) << 2), s / <f32>divisor);
      }
    }
  }
}

export function avgPoolBackward(g: usize, dy: usize, dx: usize, countIncludePad: bool, tid: i32, nth: i32): void {
  const H = gi(g, P_H), W = gi(g, P_W), kH = gi(g, P_KH), kW = gi(g, P_KW), sH = gi(g, P_SH), sW = gi(g, P_SW);
  const pT = gi(g, P_PT), pL = gi(g, P_PL), pB = gi(g, P_PB), pR = gi(g, P_PR), outH = gi(g, P_OH), outW = gi(g, P_OW);
  const r = planeRange(gi(g, P_BATCH) * gi(g, P_C), tid, nth);
  const p0 = <i32>(r >> 32), p1 = <i32>r;
  for (let pl = p0; pl < p1; pl++) {
    const xo = dx + (<usize>(pl * H * W) << 2);
    const yo = dy + (<usize>(pl * outH * outW) << 2);
    zeroFloats(xo, H * W);
    for (let oh = 0; oh < outH; oh++) {
      const wh = window(oh, sH, pT, kH, H, pB);
      const hs = <i32>(wh & 0xfffff), he = <i32>((wh >> 20) & 0xfffff), hp = <i32>(wh >> 40);
      for (let ow = 0; ow < outW; ow++) {
        const ww = window(ow, sW, pL, kW, W, pR);
        const ws = <i32>(ww & 0xfffff), we = <i32>((ww >> 20) & 0xfffff), wp = <i32>(ww >> 40);
        const divisor = countIncludePad ? hp * wp : (he - hs) * (we - ws);
        const d = load<f32>(yo + (<usize>(oh * outW + ow) << 2)) / <f32>divisor;
        for (let h = hs; h < he; h++) {
          const row = xo + (<usize>(h * W) << 2);
          for (let w = ws; w < we; w++) {
            const p = row + (<usize>w << 2);
            store<f32>(p, load<f32>(p) + d);
          }
        }
      }
    }
  }
}
