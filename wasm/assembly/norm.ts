// Batch normalisation over [N, C, spatial]; threads take whole features
// (channels). Each plane is summed in f32 vector lanes and the per-plane sums
// are accumulated in f64, so large batches do not drift.
import { sumFloats } from "./simd";

// @ts-ignore: decorator
@inline function range(c: i32, tid: i32, nth: i32): i64 {
  const c0 = <i32>((<i64>c * tid) / nth), c1 = <i32>((<i64>c * (tid + 1)) / nth);
  return (<i64>c0 << 32) | <i64>c1;
}

/** y = x * scale + shift over n floats, then max(0, .) keeping NaN when relu (a fused ReLU). */
function affine(x: usize, y: usize, n: i32, scale: f32, shift: f32, relu: bool): void {
  const sv = f32x4.splat(scale), tv = f32x4.splat(shift), zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    let v = f32x4.add(f32x4.mul(v128.load(x + o), sv), tv);
    if (relu) v = v128.bitselect(v, zero, v128.or(f32x4.gt(v, zero), f32x4.ne(v, v)));
    v128.store(y + o, v);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    let v = load<f32>(x + o) * scale + shift;
    if (relu && !(v > 0) && v == v) v = 0;
    store<f32>(y + o, v);
  }
}

/** dy where the fused ReLU's output y > 0, else 0 (the plain dy when there is no y: y = 0). */
// @ts-ignore: decorator
@inline function maskedGrad(dy: usize, y: usize, q: usize): v128 {
  const d = v128.load(dy + q);
  return y != 0 ? v128.and(d, f32x4.gt(v128.load(y + q), f32x4.splat(0))) : d;
}
// @ts-ignore: decorator
@inline function maskedGrad1(dy: usize, y: usize, q: usize): f32 {
  const d = load<f32>(dy + q);
  return y != 0 && !(load<f32>(y + q) > 0) ? 0 : d;
}

/** Sum of (x - mu)^2 over n floats. */
function sumSquaredDeviations(x: usize, n: i32, mu: f32): f64 {
  const mv = f32x4.splat(mu);
  let acc = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const d = f32x4.sub(v128.load(x + (<usize>i << 2)), mv);
    acc = f32x4.add(acc, f32x4.mul(d, d));
  }
  let s: f64 = <f64>f32x4.extract_lane(acc, 0) + <f64>f32x4.extract_lane(acc, 1) +
    <f64>f32x4.extract_lane(acc, 2) + <f64>f32x4.extract_lane(acc, 3);
  for (; i < n; i++) {
    const d = load<f32>(x + (<usize>i << 2)) - mu;
    s += <f64>(d * d);
  }
  return s;
}

function applyChannel(x: usize, y: usize, gamma: usize, beta: usize, mean: usize, invStd: usize,
  n: i32, c: i32, spatial: i32, ch: i32, relu: bool): void {
  const o = <usize>ch << 2;
  const scale: f32 = (gamma != 0 ? load<f32>(gamma + o) : 1) * load<f32>(invStd + o);
  const shift: f32 = (beta != 0 ? load<f32>(beta + o) : 0) - load<f32>(mean + o) * scale;
  for (let b = 0; b < n; b++) {
    const p = <usize>((b * c + ch) * spatial) << 2;
    affine(x + p, y + p, spatial, scale, shift, relu);
  }
}

export function batchNormTrain(x: usize, gamma: usize, beta: usize, y: usize, mean: usize, invStd: usize,
  n: i32, c: i32, spatial: i32, eps: f32, relu: bool, tid: i32, nth: i32): void {
  const r = range(c, tid, nth);
  const count = <f64>n * <f64>spatial;
  for (let ch = <i32>(r >> 32); ch < <i32>r; ch++) {
    let s: f64 = 0;
    for (let b = 0; b < n; b++) s += sumFloats(x + (<usize>((b * c + ch) * spatial) << 2), spatial);
    const mu = <f32>(s / count);
    let v: f64 = 0;
    for (let b = 0; b < n; b++) v += sumSquaredDeviations(x + (<usize>((b * c + ch) * spatial) << 2), spatial, mu);
    store<f32>(mean + (<usize>ch << 2), mu);
    store<f32>(invStd + (<usize>ch << 2), <f32>(1 / Math.sqrt(v / count + <f64>eps)));
    applyChannel(x, y, gamma, beta, mean, invStd, n, c, spatial, ch, relu);
  }
}

export function batchNormApply(x: usize, gamma: usize, beta: usize, y: usize, mean: usize, invStd: usize,
  n: i32, c: i32, spatial: i32, relu: bool, tid: i32, nth: i32): void {
  const r = range(c, tid, nth);
  for (let ch = <i32>(r >> 32); ch < <i32>r; ch++) applyChannel(x, y, gamma, beta, mean, invStd, n, c, spatial, ch, relu);
}

/**
 * dgamma, dbeta accumulate; dx is overwritten. With y (the output of a fused
 * ReLU; 0 for none), dy is first zeroed where y <= 0, in the same passes.
 */
export function batchNormBackward(x: usize, dy: usize, mean: usize, invStd: usize, gamma: usize,
  dx: usize, dgamma: usize, dbeta: usize, n: i32, c: i32, spatial: i32, batchStats: bool, y: usize, tid: i32, nth: i32): void {
  const r = range(c, tid, nth);
  const count = <f64>n * <f64>spatial;
  for (let ch = <i32>(r >> 32); ch < <i32>r; ch++) {
    const o = <usize>ch << 2;
    const mu = load<f32>(mean + o), is = load<f32>(invStd + o);
    const mv = f32x4.splat(mu);
    let sumDy: f64 = 0, sumDyXc: f64 = 0;
    for (let b = 0; b < n; b++) {
      const p = <usize>((b * c + ch) * spatial) << 2;
      const xp = x + p, dp = dy + p, yp = y != 0 ? y + p : 0;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
      let i = 0;
      for (; i + 4 <= spatial; i += 4) {
        const q = <usize>i << 2;
        const d = maskedGrad(dp, yp, q);
        a0 = f32x4.add(a0, d);
        a1 = f32x4.add(a1, f32x4.mul(d, f32x4.sub(v128.load(xp + q), mv)));
      }
      let s0: f64 = <f64>f32x4.extract_lane(a0, 0) + <f64>f32x4.extract_lane(a0, 1) +
        <f64>f32x4.extract_lane(a0, 2) + <f64>f32x4.extract_lane(a0, 3);
      let s1: f64 = <f64>f32x4.extract_lane(a1, 0) + <f64>f32x4.extract_lane(a1, 1) +
        <f64>f32x4.extract_lane(a1, 2) + <f64>f32x4.extract_lane(a1, 3);
      for (; i < spatial; i++) {
        const q = <usize>i << 2;
        const d = maskedGrad1(dp, yp, q);
        s0 += <f64>d;
        s1 += <f64>(d * (load<f32>(xp + q) - mu));
      }
      sumDy += s0;
      sumDyXc += s1;
    }
    const sumDyXhat = sumDyXc * <f64>is;
    if (dgamma != 0) store<f32>(dgamma + o, load<f32>(dgamma + o) + <f32>sumDyXhat);
    if (dbeta != 0) store<f32>(dbeta + o, load<f32>(dbeta + o) + <f32>sumDy);
    const gs: f32 = (gamma != 0 ? load<f32>(gamma + o) : 1) * is;
    if (!batchStats) {
      for (let b = 0; b < n; b++) {
        const p = <usize>((b * c + ch) * spatial) << 2;
        if (y == 0) {
          affine(dy + p, dx + p, spatial, gs, 0, false);
          continue;
        }
        for (let i = 0; i < spatial; i++) {
          const q = p + (<usize>i << 2);
          store<f32>(dx + q, maskedGrad1(dy, y, q) * gs);
        }
      }
      continue;
    }
    // dx = g * (dy - mean(dy) - xhat * mean(dy * xhat)), xhat = (x - mu) * is
    const meanDy = <f32>(sumDy / count);
    const k = <f32>(sumDyXhat / count) * is; // multiplies (x - mu)
    const gv = f32x4.splat(gs), mdv = f32x4.splat(meanDy), kv = f32x4.splat(k);
    for (let b = 0; b < n; b++) {
      const p = <usize>((b * c + ch) * spatial) << 2;
      const xp = x + p, dp = dy + p, op = dx + p, yp = y != 0 ? y + p : 0;
      let i = 0;
      for (; i + 4 <= spatial; i += 4) {
        const q = <usize>i << 2;
        const t = f32x4.sub(f32x4.sub(maskedGrad(dp, yp, q), mdv), f32x4.mul(f32x4.sub(v128.load(xp + q), mv), kv));
        v128.store(op + q, f32x4.mul(gv, t));
      }
      for (; i < spatial; i++) {
        const q = <usize>i << 2;
        store<f32>(op + q, gs * (maskedGrad1(dp, yp, q) - meanDy - (load<f32>(xp + q) - mu) * k));
      }
    }
  }
}
