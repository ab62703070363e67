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
