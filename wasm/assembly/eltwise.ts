// Element-wise maps. In plain JavaScript these branch on the sign of every
// value and mispredict half the time; vector selects do not branch at all.

// @ts-ignore: decorator
@inline function slice(n: i32, tid: i32, nth: i32): i64 {
  const i0 = <i32>((<i64>n * tid) / nth) & ~3;
  const i1 = tid == nth - 1 ? n : <i32>((<i64>n * (tid + 1)) / nth) & ~3;
  return (<i64>i0 << 32) | <i64>i1;
}

/** max(0, v) per lane, NaN kept (as the js backend). */
// @ts-ignore: decorator
@inline function reluV(v: v128): v128 {
  const zero = f32x4.splat(0);
  return v128.bitselect(v, zero, v128.or(f32x4.gt(v, zero), f32x4.ne(v, v)));
}

// @ts-ignore: decorator
@inline function reluS(v: f32): f32 {
  return select<f32>(v, 0, v > 0 || v != v);
}

/** y = max(0, x), NaN kept (as the js backend). */
export function relu(x: usize, y: usize, n: i32, tid: i32, nth: i32): void {
  const r = slice(n, tid, nth);
  let i = <i32>(r >> 32);
  const end = <i32>r;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, reluV(v128.load(x + o)));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, reluS(load<f32>(x + o)));
  }
}

/** dx = dy where y > 0, else 0. */
export function reluBackward(y: usize, dy: usize, dx: usize, n: i32, tid: i32, nth: i32): void {
  const r = slice(n, tid, nth);
  const zero = f32x4.splat(0);
  let i = <i32>(r >> 32);
  const end = <i32>r;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, v128.and(v128.load(dy + o), f32x4.gt(v128.load(y + o), zero)));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, select<f32>(load<f32>(dy + o), 0, load<f32>(y + o) > 0));
  }
}

/** y = a + b, then max(0, .) keeping NaN when relu: a residual sum and the ReLU after it. */
export function addRelu(a: usize, b: usize, y: usize, n: i32, relu: bool, tid: i32, nth: i32): void {
  const r = slice(n, tid, nth);
  let i = <i32>(r >> 32);
  const end = <i32>r;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    const v = f32x4.add(v128.load(a + o), v128.load(b + o));
    v128.store(y + o, relu ? reluV(v) : v);
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(a + o) + load<f32>(b + o);
    store<f32>(y + o, relu ? reluS(v) : v);
  }
}

/**
 * SGD with momentum, in place (PyTorch's rule without weight decay or
 * Nesterov): buf = keep * buf + take * g, then w -= lr * buf.
 */
export function sgdMomentum(w: usize, g: usize, buf: usize, n: i32, lr: f32, keep: f32, take: f32, tid: i32, nth: i32): void {
  const r = slice(n, tid, nth);
  let i = <i32>(r >> 32);
  const end = <i32>r;
  const lrV = f32x4.splat(lr), keepV = f32x4.splat(keep), takeV = f32x4.splat(take);
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    const b = f32x4.add(f32x4.mul(keepV, v128.load(buf + o)), f32x4.mul(takeV, v128.load(g + o)));
    v128.store(buf + o, b);
    v128.store(w + o, f32x4.sub(v128.load(w + o), f32x4.mul(lrV, b)));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    const b = keep * load<f32>(buf + o) + take * load<f32>(g + o);
    store<f32>(buf + o, b);
    store<f32>(w + o, load<f32>(w + o) - lr * b);
  }
}

// ---- tanh, the logistic sigmoid, LeakyReLU and ELU -------------------------
//
// f32 polynomials after Cephes' expf and tanhf (about 1-2 ulp against the
// correctly rounded values); the js backend computes them in f64 with
// Math.tanh, Math.exp and Math.expm1 and rounds once. Every lane, and the
// scalar tail (run as a vector), takes the same operations. LeakyReLU and
// ELU take PyTorch's forms (its comparisons decide where NaN goes).

/** n = round(x / ln 2), so that x = n ln 2 + r with |r| <= ln 2 / 2. */
// @ts-ignore: decorator
@inline function expExponent(x: v128): v128 {
  return f32x4.floor(f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504088896341)), f32x4.splat(0.5)));
}

/** e^r - 1 for |r| <= ln 2 / 2: r + r^2 p(r), p of degree 5, with no cancellation near 0. */
// @ts-ignore: decorator
@inline function expm1Reduced(r: v128): v128 {
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  return f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r);
}

/** r = x - n ln 2, with ln 2 in two parts so that n * (first part) is exact. */
// @ts-ignore: decorator
@inline function reduce(x: v128, n: v128): v128 {
  return f32x4.sub(f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375))), f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
}

/** 2^n for integral n in [-126, 128) from its exponent bits (a NaN lane converts to 0). */
// @ts-ignore: decorator
@inline function pow2(n: v128): v128 {
  return i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
}

/** e^x per lane: 2^n (1 + (e^r - 1)). NaN stays NaN. */
// @ts-ignore: decorator
@inline function expV(x: v128): v128 {
  // Past these e^x overflows or falls below the smallest normal float; clamping keeps 2^n a normal float.
  x = f32x4.min(f32x4.max(x, f32x4.splat(-87.3365447)), f32x4.splat(88));
  const n = expExponent(x);
  const e = f32x4.add(expm1Reduced(reduce(x, n)), f32x4.splat(1));
  return f32x4.mul(e, pow2(n));
}

/**
 * e^x - 1 per lane for x <= 0 (what ELU needs; larger x is clamped to 0):
 * 2^n (e^r - 1) + (2^n - 1), which is e^r - 1 itself near 0. NaN stays NaN.
 */
// @ts-ignore: decorator
@inline function expm1NegV(x: v128): v128 {
  // Below -88, e^x - 1 is -1 in f32; the clamp keeps 2^n a normal float.
  x = f32x4.min(f32x4.max(x, f32x4.splat(-88)), f32x4.splat(0));
  const n = expExponent(x);
  const s = pow2(n);
  const e = f32x4.add(f32x4.mul(s, expm1Reduced(reduce(x, n))), f32x4.sub(s, f32x4.splat(1)));
  // The reduction turns -0 into +0; e^x - 1 keeps the sign of a zero.
  return v128.bitselect(x, e, f32x4.eq(x, f32x4.splat(0)));
}

/**
 * tanh per lane: an odd polynomial below |x| = 0.625, 1 - 2 / (e^(2|x|) + 1)
 * above, with x's sign (so -0 stays -0 and NaN stays NaN).
 */
// @ts-ignore: decorator
@inline function tanhV(x: v128): v128 {
  const ax = f32x4.abs(x);
  const z = f32x4.mul(x, x);
  let p = f32x4.splat(-5.70498872745e-3);
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(2.06390887954e-2));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-5.37397155531e-2));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(1.33314422036e-1));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-3.33332819422e-1));
  const small = f32x4.add(f32x4.mul(f32x4.mul(p, z), x), x);
  const one = f32x4.splat(1);
  const big = f32x4.sub(one, f32x4.div(f32x4.splat(2), f32x4.add(expV(f32x4.add(ax, ax)), one)));
  // NaN fails the comparison and takes the large branch, where it stays NaN. Then x's sign (tanh is odd, and -0 stays -0).
  const t = v128.bitselect(small, big, f32x4.lt(ax, f32x4.splat(0.625)));
  return v128.or(v128.and(t, i32x4.splat(0x7fffffff)), v128.and(x, i32x4.splat(0x80000000)));
}

/** 1 / (1 + e^-x) per lane; 0 below x = -87.34, where the true value is a subnormal float (under 1.2e-38). */
// @ts-ignore: decorator
@inline function sigmoidV(x: v128): v128 {
  const one = f32x4.splat(1);
  const s = f32x4.div(one, f32x4.add(one, expV(f32x4.neg(x))));
  return v128.bitselect(f32x4.splat(0), s, f32x4.lt(x, f32x4.splat(-87.3365447)));
}

// @ts-ignore: decorator
@inline function activationV(v: v128, kind: i32, param: v128): v128 {
  if (kind == 0) return tanhV(v);
  if (kind == 1) return sigmoidV(v);
  if (kind == 2) return v128.bitselect(v, f32x4.mul(v, param), f32x4.gt(v, f32x4.splat(0)));
  // ELU: NaN fails x <= 0 and is kept by the other branch.
  return v128.bitselect(f32x4.mul(expm1NegV(v), param), v, f32x4.le(v, f32x4.splat(0)));
}

/** y = tanh(x), the sigmoid, LeakyReLU or ELU (kind 0-3; param: the slope or alpha), thread tid's slice. */
export function activation(x: usize, y: usize, n: i32, kind: i32, param: f32, tid: i32, nth: i32): void {
  const r = slice(n, tid, nth);
  const pv = f32x4.splat(param);
  let i = <i32>(r >> 32);
  const end = <i32>r;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, activationV(v128.load(x + o), kind, pv));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, f32x4.extract_lane(activationV(f32x4.splat(load<f32>(x + o)), kind, pv), 0));
  }
}

/** The derivative at what the layer kept (y, or x for LeakyReLU), per lane. */
// @ts-ignore: decorator
@inline function slopeV(v: v128, kind: i32, param: v128): v128 {
  const one = f32x4.splat(1), zero = f32x4.splat(0);
  // 1 - y^2 as (1 - y)(1 + y): no cancellation where y is near +-1 (one rounding instead of a lost difference).
  if (kind == 0) return f32x4.mul(f32x4.sub(one, v), f32x4.add(one, v));
  if (kind == 1) return f32x4.mul(v, f32x4.sub(one, v));
  if (kind == 2) return v128.bitselect(one, param, f32x4.gt(v, zero));
  return v128.bitselect(f32x4.add(v, param), one, f32x4.le(v, zero));
}

/** dx = dy times the derivative at the saved values (kind as for activation), thread tid's slice. */
export function activationBackward(saved: usize, dy: usize, dx: usize, n: i32, kind: i32, param: f32, tid: i32, nth: i32): void {
  const r = slice(n, tid, nth);
  const pv = f32x4.splat(param);
  let i = <i32>(r >> 32);
  const end = <i32>r;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, f32x4.mul(v128.load(dy + o), slopeV(v128.load(saved + o), kind, pv)));
  }
  for (; i < end; i++) {
    const o = <usize>i << 2;
    const d = f32x4.mul(f32x4.splat(load<f32>(dy + o)), slopeV(f32x4.splat(load<f32>(saved + o)), kind, pv));
    store<f32>(dx + o, f32x4.extract_lane(d, 0));
  }
}
