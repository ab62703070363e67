// Batch normalisation over [N, C, spatial]; threads take whole features
// (channels), so the result does not depend on the thread count.
//
// Every pass walks memory in order: image by image, and inside an image the
// thread's channels one plane after another. Walking one channel at a time
// instead jumps C * spatial floats from plane to plane: with small planes (a
// 4x4 map is one 64-byte line, 8 KiB from the next one at 128 channels) each
// read was a cache miss the prefetcher could not foresee, and the same sums
// ran three times slower than over contiguous data. So the per-channel sums
// live in the thread's scratch, a block of channels at a time.
//
// Sums run in f32 vector lanes, added into f64 every FLUSH_FLOATS floats of a
// channel, so large batches do not drift.

/** Channels whose running sums one pass keeps in scratch: 12 KiB, L1-sized. */
const BLOCK_CHANNELS = 256;
/** Bytes of one channel's running sums: two f32x4 lanes, two f64 totals. */
const SUM_BYTES = 48;
const LANES_A = 0, LANES_B = 16, TOTAL_A = 32, TOTAL_B = 40;
/** Floats of each channel summed in f32 lanes before they go into the f64 totals (each lane adds a quarter). */
const FLUSH_FLOATS = 1024;

/** Bytes of one thread's scratch for BATCH_NORM_TRAIN and BATCH_NORM_BACKWARD with c channels. */
export function batchNormScratchBytes(c: i32): usize {
  return <usize>(min(c, BLOCK_CHANNELS) * SUM_BYTES);
}

// @ts-ignore: decorator
@inline function range(c: i32, tid: i32, nth: i32): i64 {
  const c0 = <i32>((<i64>c * tid) / nth), c1 = <i32>((<i64>c * (tid + 1)) / nth);
  return (<i64>c0 << 32) | <i64>c1;
}

// @ts-ignore: decorator
@inline function lanes(v: v128): f64 {
  return <f64>f32x4.extract_lane(v, 0) + <f64>f32x4.extract_lane(v, 1) +
    <f64>f32x4.extract_lane(v, 2) + <f64>f32x4.extract_lane(v, 3);
}

/** Adds every channel's lanes into its f64 totals and clears the lanes. */
function flushSums(sums: usize, count: i32): void {
  const zero = f32x4.splat(0);
  for (let j = 0; j < count; j++) {
    const s = sums + <usize>(j * SUM_BYTES);
    store<f64>(s + TOTAL_A, load<f64>(s + TOTAL_A) + lanes(v128.load(s + LANES_A)));
    store<f64>(s + TOTAL_B, load<f64>(s + TOTAL_B) + lanes(v128.load(s + LANES_B)));
    v128.store(s + LANES_A, zero);
    v128.store(s + LANES_B, zero);
  }
}

/** Adds one plane's lanes (a, b) and scalar tails (ta, tb) into a channel's running sums at s. */
// @ts-ignore: decorator
@inline function addPlane(s: usize, a: v128, b: v128, ta: f32, tb: f32): void {
  v128.store(s + LANES_A, f32x4.add(v128.load(s + LANES_A), f32x4.replace_lane(a, 0, f32x4.extract_lane(a, 0) + ta)));
  v128.store(s + LANES_B, f32x4.add(v128.load(s + LANES_B), f32x4.replace_lane(b, 0, f32x4.extract_lane(b, 0) + tb)));
}

/** Flushes the lanes when `pending` floats per channel have gathered or the last image is in; returns what is still pending. */
// @ts-ignore: decorator
@inline function flushDue(sums: usize, count: i32, pending: i32, last: bool): i32 {
  if (pending < FLUSH_FLOATS && !last) return pending;
  flushSums(sums, count);
  return 0;
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

/**
 * Adds, for channels [c0, c0 + count), the sums of (x - k) into lanes A and
 * of (x - k)^2 into lanes B, k being image 0's first value of the channel:
 * one pass for the mean and the variance. Shifting by a value of the channel
 * keeps B - A^2 / count from cancelling when the mean is large against the
 * spread (the textbook one-pass formula's failure).
 */
function statisticsBlock(x: usize, n: i32, c: i32, spatial: i32, c0: i32, count: i32, sums: usize): void {
  memory.fill(sums, 0, <usize>(count * SUM_BYTES));
  let pending = 0;
  for (let img = 0; img < n; img++) {
    let p = x + (<usize>((img * c + c0) * spatial) << 2);
    for (let j = 0; j < count; j++) {
      const k = load<f32>(x + (<usize>((c0 + j) * spatial) << 2));
      const kv = f32x4.splat(k);
      let a = f32x4.splat(0), b = f32x4.splat(0);
      let i = 0;
      for (; i + 4 <= spatial; i += 4) {
        const d = f32x4.sub(v128.load(p + (<usize>i << 2)), kv);
        a = f32x4.add(a, d);
        b = f32x4.add(b, f32x4.mul(d, d));
      }
      let ta: f32 = 0, tb: f32 = 0;
      for (; i < spatial; i++) {
        const d = load<f32>(p + (<usize>i << 2)) - k;
        ta += d;
        tb += d * d;
      }
      addPlane(sums + <usize>(j * SUM_BYTES), a, b, ta, tb);
      p += <usize>spatial << 2;
    }
    pending = flushDue(sums, count, pending + spatial, img == n - 1);
  }
}

/** Channel ch's scale and shift: y = x * scale + shift. */
// @ts-ignore: decorator
@inline function channelScale(gamma: usize, invStd: usize, ch: i32): f32 {
  const o = <usize>ch << 2;
  return (gamma != 0 ? load<f32>(gamma + o) : 1) * load<f32>(invStd + o);
}
// @ts-ignore: decorator
@inline function channelShift(beta: usize, mean: usize, ch: i32, scale: f32): f32 {
  const o = <usize>ch << 2;
  return (beta != 0 ? load<f32>(beta + o) : 0) - load<f32>(mean + o) * scale;
}

/** y = x * scale + shift (ReLU) for channels [c0, c1), in memory order. */
function applyChannels(x: usize, y: usize, gamma: usize, beta: usize, mean: usize, invStd: usize,
  n: i32, c: i32, spatial: i32, c0: i32, c1: i32, relu: bool): void {
  for (let img = 0; img < n; img++) {
    for (let ch = c0; ch < c1; ch++) {
      const scale = channelScale(gamma, invStd, ch);
      const p = <usize>((img * c + ch) * spatial) << 2;
      affine(x + p, y + p, spatial, scale, channelShift(beta, mean, ch, scale), relu);
    }
  }
}

export function batchNormTrain(x: usize, gamma: usize, beta: usize, y: usize, mean: usize, invStd: usize,
  n: i32, c: i32, spatial: i32, eps: f32, relu: bool, tid: i32, nth: i32, sums: usize): void {
  const r = range(c, tid, nth);
  const count = <f64>n * <f64>spatial;
  for (let b0 = <i32>(r >> 32); b0 < <i32>r; b0 += BLOCK_CHANNELS) {
    const b1 = min(<i32>r, b0 + BLOCK_CHANNELS);
    statisticsBlock(x, n, c, spatial, b0, b1 - b0, sums);
    for (let ch = b0; ch < b1; ch++) {
      const s = sums + <usize>((ch - b0) * SUM_BYTES);
      const shift = load<f64>(s + TOTAL_A) / count;
      const variance = max(0, load<f64>(s + TOTAL_B) / count - shift * shift);
      const k = load<f32>(x + (<usize>(ch * spatial) << 2));
      store<f32>(mean + (<usize>ch << 2), <f32>(<f64>k + shift));
      store<f32>(invStd + (<usize>ch << 2), <f32>(1 / Math.sqrt(variance + <f64>eps)));
    }
    applyChannels(x, y, gamma, beta, mean, invStd, n, c, spatial, b0, b1, relu);
  }
}

export function batchNormApply(x: usize, gamma: usize, beta: usize, y: usize, mean: usize, invStd: usize,
  n: i32, c: i32, spatial: i32, relu: bool, tid: i32, nth: i32): void {
  const r = range(c, tid, nth);
  applyChannels(x, y, gamma, beta, mean, invStd, n, c, spatial, <i32>(r >> 32), <i32>r, relu);
}

/**
 * Adds, for channels [c0, c0 + count), the sums of g into lanes A and of
 * g * (x - mean) into lanes B, where g is dy, or with a fused ReLU (masked)
 * dy where its output y > 0.
 */
// @ts-ignore: decorator
@inline function gradientSumsOf(x: usize, dy: usize, y: usize, mean: usize, n: i32, c: i32, spatial: i32,
  c0: i32, count: i32, sums: usize, masked: bool): void {
  memory.fill(sums, 0, <usize>(count * SUM_BYTES));
  const zero = f32x4.splat(0);
  let pending = 0;
  for (let img = 0; img < n; img++) {
    let p = <usize>((img * c + c0) * spatial) << 2;
    for (let j = 0; j < count; j++) {
      const mu = load<f32>(mean + (<usize>(c0 + j) << 2));
      const mv = f32x4.splat(mu);
      const xp = x + p, dp = dy + p, yp = y + p;
      let a = f32x4.splat(0), b = f32x4.splat(0);
      let i = 0;
      for (; i + 4 <= spatial; i += 4) {
        const o = <usize>i << 2;
        let d = v128.load(dp + o);
        if (masked) d = v128.and(d, f32x4.gt(v128.load(yp + o), zero));
        a = f32x4.add(a, d);
        b = f32x4.add(b, f32x4.mul(d, f32x4.sub(v128.load(xp + o), mv)));
      }
      let ta: f32 = 0, tb: f32 = 0;
      for (; i < spatial; i++) {
        const o = <usize>i << 2;
        const d: f32 = masked && !(load<f32>(yp + o) > 0) ? 0 : load<f32>(dp + o);
        ta += d;
        tb += d * (load<f32>(xp + o) - mu);
      }
      addPlane(sums + <usize>(j * SUM_BYTES), a, b, ta, tb);
      p += <usize>spatial << 2;
    }
    pending = flushDue(sums, count, pending + spatial, img == n - 1);
  }
}

/**
 * dx = gs * (g - meanDy - (x - mean) * k) for channels [c0, c0 + count), with
 * g as in gradientSumsOf and each channel's gs, meanDy and k as f32 at the
 * start of its sums; without batch statistics (centred false) dx = gs * g.
 */
// @ts-ignore: decorator
@inline function inputGradientOf(x: usize, dy: usize, y: usize, mean: usize, dx: usize, n: i32, c: i32, spatial: i32,
  c0: i32, count: i32, sums: usize, masked: bool, centred: bool): void {
  const zero = f32x4.splat(0);
  for (let img = 0; img < n; img++) {
    let p = <usize>((img * c + c0) * spatial) << 2;
    for (let j = 0; j < count; j++) {
      const s = sums + <usize>(j * SUM_BYTES);
      const gs = load<f32>(s), meanDy = load<f32>(s, 4), k = load<f32>(s, 8);
      const mu = load<f32>(mean + (<usize>(c0 + j) << 2));
      const mv = f32x4.splat(mu), gv = f32x4.splat(gs), mdv = f32x4.splat(meanDy), kv = f32x4.splat(k);
      const xp = x + p, dp = dy + p, yp = y + p, op = dx + p;
      let i = 0;
      for (; i + 4 <= spatial; i += 4) {
        const o = <usize>i << 2;
        let d = v128.load(dp + o);
        if (masked) d = v128.and(d, f32x4.gt(v128.load(yp + o), zero));
        if (centred) d = f32x4.sub(f32x4.sub(d, mdv), f32x4.mul(f32x4.sub(v128.load(xp + o), mv), kv));
        v128.store(op + o, f32x4.mul(gv, d));
      }
      for (; i < spatial; i++) {
        const o = <usize>i << 2;
        let d: f32 = masked && !(load<f32>(yp + o) > 0) ? 0 : load<f32>(dp + o);
        if (centred) d = d - meanDy - (load<f32>(xp + o) - mu) * k;
        store<f32>(op + o, gs * d);
      }
      p += <usize>spatial << 2;
    }
  }
}

/**
 * dgamma, dbeta accumulate; dx is overwritten. With y (the output of a fused
 * ReLU; 0 for none), dy is first zeroed where y <= 0, in the same passes.
 */
export function batchNormBackward(x: usize, dy: usize, mean: usize, invStd: usize, gamma: usize,
  dx: usize, dgamma: usize, dbeta: usize, n: i32, c: i32, spatial: i32, batchStats: bool, y: usize, tid: i32, nth: i32,
  sums: usize): void {
  const r = range(c, tid, nth);
  const count = <f64>n * <f64>spatial;
  for (let b0 = <i32>(r >> 32); b0 < <i32>r; b0 += BLOCK_CHANNELS) {
    const b1 = min(<i32>r, b0 + BLOCK_CHANNELS), blockCount = b1 - b0;
    if (y != 0) gradientSumsOf(x, dy, y, mean, n, c, spatial, b0, blockCount, sums, true);
    else gradientSumsOf(x, dy, 0, mean, n, c, spatial, b0, blockCount, sums, false);
    for (let ch = b0; ch < b1; ch++) {
      const o = <usize>ch << 2, s = sums + <usize>((ch - b0) * SUM_BYTES);
      const is = load<f32>(invStd + o);
      const sumDy = load<f64>(s + TOTAL_A), sumDyXhat = load<f64>(s + TOTAL_B) * <f64>is;
      if (dgamma != 0) store<f32>(dgamma + o, load<f32>(dgamma + o) + <f32>sumDyXhat);
      if (dbeta != 0) store<f32>(dbeta + o, load<f32>(dbeta + o) + <f32>sumDy);
      // dx = g * (dy - mean(dy) - xhat * mean(dy * xhat)), xhat = (x - mu) * is: k multiplies (x - mu).
      store<f32>(s, (gamma != 0 ? load<f32>(gamma + o) : 1) * is);
      store<f32>(s, <f32>(sumDy / count), 4);
      store<f32>(s, <f32>(sumDyXhat / count) * is, 8);
    }
    if (batchStats) {
      if (y != 0) inputGradientOf(x, dy, y, mean, dx, n, c, spatial, b0, blockCount, sums, true, true);
      else inputGradientOf(x, dy, 0, mean, dx, n, c, spatial, b0, blockCount, sums, false, true);
    } else {
      if (y != 0) inputGradientOf(x, dy, y, mean, dx, n, c, spatial, b0, blockCount, sums, true, false);
      else inputGradientOf(x, dy, 0, mean, dx, n, c, spatial, b0, blockCount, sums, false, false);
    }
  }
}
