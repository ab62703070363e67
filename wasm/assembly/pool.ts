// Max and average pooling with PyTorch's window rules (the js backend's
// pool.ts is the specification); threads take whole planes.
import { zeroFloats } from "./simd";
import {
  pool_batch, pool_channels, pool_inH, pool_inW, pool_kH, pool_kW, pool_strideH, pool_strideW,
  pool_padTop, pool_padLeft, pool_padBottom, pool_padRight, pool_dilationH, pool_dilationW, pool_outH, pool_outW,
} from "./abi.generated";

// @ts-ignore: decorator
@inline function planeRange(planes: i32, tid: i32, nth: i32): i64 {
  const p0 = <i32>((<i64>planes * tid) / nth), p1 = <i32>((<i64>planes * (tid + 1)) / nth);
  return (<i64>p0 << 32) | <i64>p1;
}

/** The window taps [lo, hi) whose input coordinate start + t*d lies in [0, size). */
// @ts-ignore: decorator
@inline function taps(start: i32, d: i32, k: i32, size: i32): i64 {
  let lo = 0, hi = k;
  if (start < 0) lo = (-start + d - 1) / d;
  const last = start + (k - 1) * d;
  if (last >= size) hi = size - 1 - start < 0 ? 0 : (size - 1 - start) / d + 1;
  if (hi < lo) hi = lo;
  return (<i64>lo << 32) | <i64>hi;
}

export function maxPoolForward(g: usize, x: usize, y: usize, argmax: usize, tid: i32, nth: i32): void {
  const H = pool_inH(g), W = pool_inW(g), kH = pool_kH(g), kW = pool_kW(g), sH = pool_strideH(g), sW = pool_strideW(g);
  const pT = pool_padTop(g), pL = pool_padLeft(g), dH = pool_dilationH(g), dW = pool_dilationW(g), outH = pool_outH(g), outW = pool_outW(g);
  const r = planeRange(pool_batch(g) * pool_channels(g), tid, nth);
  const p0 = <i32>(r >> 32), p1 = <i32>r;
  if (kH == 2 && kW == 2 && sH == 2 && sW == 2 && dH == 1 && dW == 1 && pT == 0 && pL == 0) {
    maxPool2x2(x, y, argmax, H, W, outH, outW, p0, p1);
    return;
  }
  for (let pl = p0; pl < p1; pl++) {
    const xo = x + (<usize>(pl * H * W) << 2);
    const yo = <usize>(pl * outH * outW) << 2;
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * sH - pT;
      const th = taps(h0, dH, kH, H);
      const i0 = <i32>(th >> 32), i1 = <i32>th;
      // Interior columns, four outputs at a time: every tap of the window is
      // inside the row, and for strides 1 and 2 the four inputs of one tap are
      // one (or two deinterleaved) vector loads. No branch, no loop-carried select chain per output.
      let owLo = outW, owHi = outW;
      if (sW <= 2 && i0 < i1) {
        owLo = pL <= 0 ? 0 : (pL + sW - 1) / sW;
        const lastStart = W - 1 - (kW - 1) * dW + pL; // ow*sW must be <= this
        owHi = lastStart < 0 ? 0 : min(outW, lastStart / sW + 1);
        if (owHi < owLo) owHi = owLo;
        const lanes = i32x4(0, sW, 2 * sW, 3 * sW);
        let ow = owLo;
        for (; ow + 4 <= owHi; ow += 4) {
          const w0 = ow * sW - pL;
          let best = f32x4.splat(-Infinity);
          let where = i32x4.add(i32x4.splat((h0 + i0 * dH) * W + w0), lanes);
          for (let i = i0; i < i1; i++) {
            const rowIdx = (h0 + i * dH) * W + w0;
            for (let j = 0; j < kW; j++) {
              const idx = rowIdx + j * dW;
              const p = xo + (<usize>idx << 2);
              const v = sW == 1 ? v128.load(p) : v128.shuffle<f32>(v128.load(p), v128.load(p, 16), 0, 2, 4, 6);
              const better = v128.or(f32x4.gt(v, best), f32x4.ne(v, v));
              best = v128.bitselect(v, best, better);
              where = v128.bitselect(i32x4.add(i32x4.splat(idx), lanes), where, better);
            }
          }
          const o = yo + (<usize>(oh * outW + ow) << 2);
          v128.store(y + o, best);
          v128.store(argmax + o, where);
        }
        owHi = ow; // the scalar loop finishes the tail
      }
      for (let ow = 0; ow < outW; ow++) {
        if (ow == owLo && owHi > owLo) {
          ow = owHi - 1;
          continue;
        }
        const w0 = ow * sW - pL;
        const tw = taps(w0, dW, kW, W);
        const j0 = <i32>(tw >> 32), j1 = <i32>tw;
        let best: f32 = -Infinity;
        let where: i32 = -1;
        if (i0 < i1 && j0 < j1) {
          // The first in-bounds pixel is the default switch; a strictly greater
          // value or a NaN replaces it (first maximum wins ties, NaN propagates).
          where = (h0 + i0 * dH) * W + w0 + j0 * dW;
          for (let i = i0; i < i1; i++) {
            const rowIdx = (h0 + i * dH) * W + w0;
            for (let j = j0; j < j1; j++) {
              const idx = rowIdx + j * dW;
              const v = load<f32>(xo + (<usize>idx << 2));
              const better = (v > best) | (v != v);
              best = select<f32>(v, best, better);
              where = select<i32>(idx, where, better);
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

/**
 * The common 2x2, stride-2 window without padding (LeNet, VGG): four outputs
 * from two vectors of each of the two rows, split into even and odd columns,
 * instead of two loads per tap. Same tie and NaN rules as the general loop
 * (taps in row-major order; a later tap wins only if greater, or NaN).
 */
function maxPool2x2(x: usize, y: usize, argmax: usize, H: i32, W: i32, outH: i32, outW: i32, p0: i32, p1: i32): void {
  const lanes = i32x4(0, 2, 4, 6);
  // Vector columns: the two loads of a row read inputs 2*ow .. 2*ow + 7, which must lie in the row.
  const vecW = min(outW, W / 2) & ~3;
  for (let pl = p0; pl < p1; pl++) {
    const xo = x + (<usize>(pl * H * W) << 2);
    const yo = <usize>(pl * outH * outW) << 2;
    for (let oh = 0; oh < outH; oh++) {
      const top = 2 * oh * W;
      const r0 = xo + (<usize>top << 2), r1 = r0 + (<usize>W << 2);
      let ow = 0;
      // (Under ceil mode the last window row may start on the last input row: then only the scalar loop runs.)
      const rowsInside = 2 * oh + 1 < H;
      for (; rowsInside && ow < vecW; ow += 4) {
        const o = <usize>(2 * ow) << 2;
        const a0 = v128.load(r0 + o), a1 = v128.load(r0 + o, 16);
        const b0 = v128.load(r1 + o), b1 = v128.load(r1 + o, 16);
        let best = v128.shuffle<f32>(a0, a1, 0, 2, 4, 6);
        const base = i32x4.add(i32x4.splat(top + 2 * ow), lanes);
        let where = base;
        let v = v128.shuffle<f32>(a0, a1, 1, 3, 5, 7);
        let better = v128.or(f32x4.gt(v, best), f32x4.ne(v, v));
        best = v128.bitselect(v, best, better);
        where = v128.bitselect(i32x4.add(base, i32x4.splat(1)), where, better);
        v = v128.shuffle<f32>(b0, b1, 0, 2, 4, 6);
        better = v128.or(f32x4.gt(v, best), f32x4.ne(v, v));
        best = v128.bitselect(v, best, better);
        where = v128.bitselect(i32x4.add(base, i32x4.splat(W)), where, better);
        v = v128.shuffle<f32>(b0, b1, 1, 3, 5, 7);
        better = v128.or(f32x4.gt(v, best), f32x4.ne(v, v));
        best = v128.bitselect(v, best, better);
        where = v128.bitselect(i32x4.add(base, i32x4.splat(W + 1)), where, better);
        const out = yo + (<usize>(oh * outW + ow) << 2);
        v128.store(y + out, best);
        v128.store(argmax + out, where);
      }
      for (; ow < outW; ow++) {
        const idx = top + 2 * ow;
        let where = idx;
        let best = load<f32>(xo + (<usize>idx << 2));
        // The window's other taps, in order; under ceil mode the last column or row may be outside.
        const hasRight = 2 * ow + 1 < W;
        if (hasRight) {
          const v = load<f32>(xo + (<usize>(idx + 1) << 2));
          if (v > best || v != v) { best = v; where = idx + 1; }
        }
        if (rowsInside) {
          let v = load<f32>(xo + (<usize>(idx + W) << 2));
          if (v > best || v != v) { best = v; where = idx + W; }
          if (hasRight) {
            v = load<f32>(xo + (<usize>(idx + W + 1) << 2));
            if (v > best || v != v) { best = v; where = idx + W + 1; }
          }
        }
        const out = yo + (<usize>(oh * outW + ow) << 2);
        store<f32>(y + out, best);
        store<i32>(argmax + out, where);
      }
    }
  }
}

export function maxPoolBackward(g: usize, dy: usize, argmax: usize, dx: usize, tid: i32, nth: i32): void {
  const inPlane = pool_inH(g) * pool_inW(g), outPlane = pool_outH(g) * pool_outW(g);
  const r = planeRange(pool_batch(g) * pool_channels(g), tid, nth);
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
  const H = pool_inH(g), W = pool_inW(g), kH = pool_kH(g), kW = pool_kW(g), sH = pool_strideH(g), sW = pool_strideW(g);
  const pT = pool_padTop(g), pL = pool_padLeft(g), pB = pool_padBottom(g), pR = pool_padRight(g), outH = pool_outH(g), outW = pool_outW(g);
  const r = planeRange(pool_batch(g) * pool_channels(g), tid, nth);
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
  const H = pool_inH(g), W = pool_inW(g), kH = pool_kH(g), kW = pool_kW(g), sH = pool_strideH(g), sW = pool_strideW(g);
  const pT = pool_padTop(g), pL = pool_padLeft(g), pB = pool_padBottom(g), pR = pool_padRight(g), outH = pool_outH(g), outW = pool_outW(g);
  const r = planeRange(pool_batch(g) * pool_channels(g), tid, nth);
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
