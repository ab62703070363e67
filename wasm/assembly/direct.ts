// Direct ("implicit GEMM") convolution for stride 1: no im2col matrix and no
// packed copy of it. The image is copied once into a zero-padded layout whose
// rows are wide enough for whole 8-pixel vectors, and then the receptive field
// of 8 neighbouring output pixels, for one tap (c, i, j), is one unaligned
// 8-float load. The micro-kernel is the GEMM's (4 output channels x 8 pixels
// in registers), with B read straight from the padded image.
//
// Backward data of a stride-1 convolution is itself such a convolution (of dy,
// with the filters transposed and rotated by 180 degrees), so the same kernel
// serves it. Backward filter accumulates dot products over all pixels of an
// image into per-thread partial gradients.
import { madd, copyFloats, zeroFloats, sumFloats } from "./simd";
import { claim, blockStart } from "./work";
import {
  direct_batch, direct_cin, direct_hin, direct_win, direct_cout, direct_kH, direct_kW, direct_dH, direct_dW,
  direct_offH, direct_offW, direct_outH, direct_outW, direct_bands, direct_flip, direct_slots, direct_kBlocks,
} from "./abi.generated";

/** Row pitch (floats) of the padded image: a multiple of 4, >= outW rounded up to 8, + (kW - 1) * dW. */
export function directPitch(g: usize): i32 {
  return ((((direct_outW(g) + 7) & ~7) + (direct_kW(g) - 1) * direct_dW(g)) + 3) & ~3;
}

/** Floats of packed filters: Cout rounded up to 4, times Cin * kH * kW. */
export function packedFilterFloats(cout: i32, cin: i32, kk: i32): i32 {
  return ((cout + 3) & ~3) * cin * kk;
}

/** Packs filters as [Cout/4][Cin][kH][kW][4] (zero for the channels past Cout). */
function packFilters(w: usize, cout: i32, cin: i32, kH: i32, kW: i32, flip: bool, dst: usize): void {
  const kk = kH * kW;
  let d = dst;
  for (let kb = 0; kb < cout; kb += 4) {
    for (let c = 0; c < cin; c++) {
      for (let i = 0; i < kH; i++) {
        for (let j = 0; j < kW; j++) {
          for (let q = 0; q < 4; q++) {
            const k = kb + q;
            let v: f32 = 0;
            if (k < cout) {
              const idx = flip ? (c * cout + k) * kk + (kH - 1 - i) * kW + (kW - 1 - j) : (k * cin + c) * kk + i * kW + j;
              v = load<f32>(w + (<usize>idx << 2));
            }
            store<f32>(d, v);
            d += 4;
          }
        }
      }
    }
  }
}

/** Source rows at least this many floats wide get only their padding zeroed in padRows (see there). */
const PAD_EDGES_MIN_WIDTH = 16;

/**
 * Copies rows [r0, r0 + rows) of the padded version of src ([C][H][W]) into
 * dst ([C][rows][pitch]): padded[hp][wp] = src[hp - offH][wp - offW], 0 outside.
 */
export function padRows(src: usize, C: i32, H: i32, W: i32, offH: i32, offW: i32, r0: i32, rows: i32, pitch: i32, dst: usize): void {
  // Columns wp of the padded row that come from the source: [lo, hi).
  const lo = max(0, offW), hi = min(pitch, W + offW);
  if (offW == 0 && pitch == W && offH <= r0 && r0 + rows - offH <= H) {
    // Nothing to pad (Winograd's gradients on maps a multiple of 16 wide): each channel's rows are one run in both.
    for (let c = 0; c < C; c++) {
      copyFloats(dst + (<usize>(c * rows * pitch) << 2), src + (<usize>((c * H + r0 - offH) * W) << 2), rows * W);
    }
    return;
  }
  const h0 = max(0, offH - r0), h1 = min(rows, H + offH - r0); // rows r whose source row r0 + r - offH exists
  if (hi - lo >= PAD_EDGES_MIN_WIDTH) {
    // Wide rows: zero only the padding around each copied row (a float or two
    // a side), and the padding rows whole, rather than filling everything first.
    const top = min(rows, h0), bottom = max(top, h1); // padding rows: [0, top) and [bottom, rows)
    for (let c = 0; c < C; c++) {
      const sc = src + (<usize>(c * H * W) << 2);
      const dc = dst + (<usize>(c * rows * pitch) << 2);
      zeroFloats(dc, top * pitch);
      for (let r = top; r < h1; r++) {
        const d = dc + (<usize>(r * pitch) << 2);
        for (let j = 0; j < lo; j++) store<f32>(d + (<usize>j << 2), 0);
        copyFloats(d + (<usize>lo << 2), sc + (<usize>((r0 + r - offH) * W + lo - offW) << 2), hi - lo);
        for (let j = hi; j < pitch; j++) store<f32>(d + (<usize>j << 2), 0);
      }
      zeroFloats(dc + (<usize>(bottom * pitch) << 2), (rows - bottom) * pitch);
    }
    return;
  }
  // The padding first, all of it in one fill: on small maps (rows of 4 to 14
  // floats, a few floats of padding each) per-row stores of the padding cost
  // more than the copy. Then each row's copy, by copyFloats' inline vectors
  // rather than memory.copy's call.
  memory.fill(dst, 0, <usize>(C * rows * pitch) << 2);
  if (hi <= lo) return;
  for (let c = 0; c < C; c++) {
    const sc = src + (<usize>(c * H * W) << 2);
    for (let r = h0; r < h1; r++) {
      const d = dst + (<usize>((c * rows + r) * pitch + lo) << 2);
      copyFloats(d, sc + (<usize>((r0 + r - offH) * W + lo - offW) << 2), hi - lo);
    }
  }
}

/** Writes one output row's 8-pixel segment: scale, bias, ReLU (NaN kept), and only the n valid pixels. */
// @ts-ignore: decorator
@inline function storeSegment(y: usize, v0: v128, v1: v128, n: i32, s: f32, b: f32, relu: bool): void {
  const sv = f32x4.splat(s), bv = f32x4.splat(b);
  v0 = f32x4.add(f32x4.mul(v0, sv), bv);
  v1 = f32x4.add(f32x4.mul(v1, sv), bv);
  if (relu) {
    const zero = f32x4.splat(0);
    v0 = v128.bitselect(v0, zero, v128.or(f32x4.gt(v0, zero), f32x4.ne(v0, v0)));
    v1 = v128.bitselect(v1, zero, v128.or(f32x4.gt(v1, zero), f32x4.ne(v1, v1)));
  }
  if (n >= 8) {
    v128.store(y, v0);
    v128.store(y, v1, 16);
    return;
  }
  // The last segment of a row: lane by lane.
  if (n > 0) store<f32>(y, f32x4.extract_lane(v0, 0));
  if (n > 1) store<f32>(y, f32x4.extract_lane(v0, 1), 4);
  if (n > 2) store<f32>(y, f32x4.extract_lane(v0, 2), 8);
  if (n > 3) store<f32>(y, f32x4.extract_lane(v0, 3), 12);
  if (n > 4) store<f32>(y, f32x4.extract_lane(v1, 0), 16);
  if (n > 5) store<f32>(y, f32x4.extract_lane(v1, 1), 20);
  if (n > 6) store<f32>(y, f32x4.extract_lane(v1, 2), 24);
}

/** Channel k's entry of a per-channel array, or `none` when there is no array (p = 0). */
// @ts-ignore: decorator
@inline function chan(p: usize, k: i32, none: f32): f32 {
  return p != 0 ? load<f32>(p + (<usize>k << 2)) : none;
}

/**
 * One thread's share of y = conv(x, w) (* scale, + bias, ReLU) for stride 1, groups 1;
 * work items are (image, band of output rows).
 */
export function directForward(
  g: usize, x: usize, w: usize, bias: usize, y: usize, relu: bool, scale: usize, scratch: usize, counter: usize,
): void {
  const N = direct_batch(g), cin = direct_cin(g), H = direct_hin(g), W = direct_win(g), cout = direct_cout(g);
  const kH = direct_kH(g), kW = direct_kW(g), dH = direct_dH(g), dW = direct_dW(g);
  const offH = direct_offH(g), offW = direct_offW(g), outH = direct_outH(g), outW = direct_outW(g), pitch = directPitch(g);
  const bands = direct_bands(g), flip = direct_flip(g);
  const kk = kH * kW, plane = outH * outW;
  const items = N * bands;
  let it = claim(counter);
  if (it >= items) return;
  const wp = scratch;
  packFilters(w, cout, cin, kH, kW, flip, wp);
  const xp = wp + (<usize>packedFilterFloats(cout, cin, kk) << 2);
  const dWb = <usize>dW << 2;
  for (; it < items; it = claim(counter)) {
    const n = it / bands, band = it % bands;
    const oh0 = (outH * band) / bands, oh1 = (outH * (band + 1)) / bands;
    if (oh1 <= oh0) continue;
    const rows = oh1 - oh0 + (kH - 1) * dH;
    padRows(x + (<usize>(n * cin * H * W) << 2), cin, H, W, offH, offW, oh0, rows, pitch, xp);
    const yn = y + (<usize>(n * cout * plane) << 2);
    const cStride = <usize>(rows * pitch) << 2;
    const iStride = <usize>(dH * pitch) << 2;
    for (let oh = oh0; oh < oh1; oh++) {
      const rowBase = xp + (<usize>((oh - oh0) * pitch) << 2);
      for (let ow0 = 0; ow0 < outW; ow0 += 8) {
        const pix = rowBase + (<usize>ow0 << 2);
        let ap = wp;
        for (let kb = 0; kb < cout; kb += 4) {
          let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
          let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
          let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
          let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
          let cp = pix;
          for (let c = 0; c < cin; c++) {
            let ip = cp;
            for (let i = 0; i < kH; i++) {
              let bp = ip;
              for (let j = 0; j < kW; j++) {
                const b0 = v128.load(bp);
                const b1 = v128.load(bp, 16);
                let a = v128.load32_splat(ap);
                c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
                a = v128.load32_splat(ap, 4);
                c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
                a = v128.load32_splat(ap, 8);
                c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
                a = v128.load32_splat(ap, 12);
                c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
                ap += 16;
                bp += dWb;
              }
              ip += iStride;
            }
            cp += cStride;
          }
          const valid = outW - ow0;
          const yo = yn + (<usize>(oh * outW + ow0) << 2);
          const planeB = <usize>plane << 2;
          const kValid = cout - kb;
          storeSegment(yo + <usize>kb * planeB, c00, c01, valid, chan(scale, kb, 1), chan(bias, kb, 0), relu);
          if (kValid > 1) storeSegment(yo + <usize>(kb + 1) * planeB, c10, c11, valid, chan(scale, kb + 1, 1), chan(bias, kb + 1, 0), relu);
          if (kValid > 2) storeSegment(yo + <usize>(kb + 2) * planeB, c20, c21, valid, chan(scale, kb + 2, 1), chan(bias, kb + 2, 0), relu);
          if (kValid > 3) storeSegment(yo + <usize>(kb + 3) * planeB, c30, c31, valid, chan(scale, kb + 3, 1), chan(bias, kb + 3, 0), relu);
        }
      }
    }
  }
}

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

// @ts-ignore: decorator
@inline function addTo(p: usize, v: f32): void {
  store<f32>(p, load<f32>(p) + v);
}

/**
 * One thread's share of dw += sum over images and pixels of dy x (and dbias +=
 * the sums of dy), in a fixed order: as convBackwardFilter (conv.ts), slot 0
 * adds its range of images into dw and db, slot s > 0 into its own zeroed
 * part at parts + (s - 1) * partStride, and work items are (slot, block of
 * output channels).
 */
export function directBackwardFilter(
  g: usize, x: usize, dy: usize, dw: usize, db: usize, parts: usize, partStride: usize, scratch: usize, counter: usize,
): void {
  const N = direct_batch(g), cin = direct_cin(g), H = direct_hin(g), W = direct_win(g), cout = direct_cout(g);
  const kH = direct_kH(g), kW = direct_kW(g), dH = direct_dH(g), dW = direct_dW(g);
  const offH = direct_offH(g), offW = direct_offW(g), outH = direct_outH(g), outW = direct_outW(g), pitch = directPitch(g);
  const slots = direct_slots(g), kBlocks = direct_kBlocks(g);
  const kk = kH * kW, R = cin * kk, plane = outH * outW;
  const items = slots * kBlocks;
  let it = claim(counter);
  if (it >= items) return;
  const rows = outH + (kH - 1) * dH;
  const dyPitch = (outW + 3) & ~3;
  const xp = scratch;
  const dyp = xp + (<usize>(cin * rows * pitch) << 2);
  // Byte offset of tap r = (c, i, j) in the padded image: a table, so the loops never divide.
  const taps = dyp + (<usize>(((cout + 3) & ~3) * outH * dyPitch) << 2);
  {
    let r = 0;
    for (let c = 0; c < cin; c++) {
      for (let i = 0; i < kH; i++) {
        for (let j = 0; j < kW; j++) {
          store<i32>(taps + (<usize>r << 2), ((c * rows + i * dH) * pitch + j * dW) << 2);
          r++;
        }
      }
    }
  }
  for (; it < items; it = claim(counter)) {
    const slot = it / kBlocks, blk = it % kBlocks;
    const k0 = blockStart(cout, blk, kBlocks), k1 = blockStart(cout, blk + 1, kBlocks);
    if (k1 <= k0) continue;
    let dwS = dw, dbS = db;
    if (slot > 0) {
      dwS = parts + <usize>(slot - 1) * partStride;
      if (db != 0) dbS = dwS + (<usize>(cout * R) << 2);
      zeroFloats(dwS + (<usize>(k0 * R) << 2), (k1 - k0) * R);
      if (dbS != 0) zeroFloats(dbS + (<usize>k0 << 2), k1 - k0);
    }
    const n1 = (N * (slot + 1)) / slots;
    for (let n = (N * slot) / slots; n < n1; n++) {
      addImage(x + (<usize>(n * cin * H * W) << 2), dy + (<usize>((n * cout + k0) * plane) << 2), dwS, dbS,
        cin, H, W, offH, offW, outH, outW, pitch, rows, R, k0, k1, xp, dyp, taps);
    }
  }
}

/**
 * Adds one image's contribution to output channels [k0, k1) of dw (and db):
 * dyn points at channel k0 of the image's dy. xp, dyp, taps: the thread's
 * padded image, interleaved dy and tap table.
 */
function addImage(
  xn: usize, dyn: usize, dw: usize, db: usize, cin: i32, H: i32, W: i32, offH: i32, offW: i32,
  outH: i32, outW: i32, pitch: i32, rows: i32, R: i32, k0: i32, k1: i32, xp: usize, dyp: usize, taps: usize,
): void {
  const plane = outH * outW;
  const vecs = ((outW + 3) & ~3) >> 2;
  const dyChan = <usize>(outH * vecs) << 4, xRow = <usize>pitch << 2;
  padRows(xn, cin, H, W, offH, offW, 0, rows, pitch, xp);
  interleaveDy(dyn, k1 - k0, outH, outW, vecs, dyp);
  if (db != 0) {
    for (let k = k0; k < k1; k++) addTo(db + (<usize>k << 2), <f32>sumFloats(dyn + (<usize>((k - k0) * plane) << 2), plane));
  }
  for (let kb = k0; kb < k1; kb += 4) {
    const dBlock = dyp + <usize>(kb - k0) * dyChan; // dyChan: bytes of one channel, so of a block's quarter
    const kValid = min(4, k1 - kb);
    let r = 0;
    for (; r < R; r += 2) {
      // An odd last tap pairs with itself; only its first sum is kept.
      const x0 = xp + <usize>load<i32>(taps + (<usize>r << 2));
      const x1 = xp + <usize>load<i32>(taps + (<usize>min(r + 1, R - 1) << 2));
      const delta = x1 - x0;
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
      let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
      let dp = dBlock, px = x0;
      const rowSkip = xRow - (<usize>vecs << 4);
      for (let oh = 0; oh < outH; oh++) {
        for (let v = 0; v < vecs; v++) {
          const b0 = v128.load(px), b1 = v128.load(px + delta);
          let d = v128.load(dp);
          a00 = madd(d, b0, a00); a01 = madd(d, b1, a01);
          d = v128.load(dp, 16);
          a10 = madd(d, b0, a10); a11 = madd(d, b1, a11);
          d = v128.load(dp, 32);
          a20 = madd(d, b0, a20); a21 = madd(d, b1, a21);
          d = v128.load(dp, 48);
          a30 = madd(d, b0, a30); a31 = madd(d, b1, a31);
          dp += 64;
          px += 16;
        }
        px += rowSkip;
      }
      // Lane sums of the four channels at once: a 4x4 transpose and three adds per tap.
      const s0 = sum4(a00, a10, a20, a30), s1 = sum4(a01, a11, a21, a31);
      const o = dw + (<usize>(kb * R + r) << 2), rowB = <usize>R << 2;
      const pair = r + 1 < R;
      addTo(o, f32x4.extract_lane(s0, 0));
      if (pair) addTo(o + 4, f32x4.extract_lane(s1, 0));
      if (kValid > 1) {
        addTo(o + rowB, f32x4.extract_lane(s0, 1));
        if (pair) addTo(o + rowB + 4, f32x4.extract_lane(s1, 1));
      }
      if (kValid > 2) {
        addTo(o + 2 * rowB, f32x4.extract_lane(s0, 2));
        if (pair) addTo(o + 2 * rowB + 4, f32x4.extract_lane(s1, 2));
      }
      if (kValid > 3) {
        addTo(o + 3 * rowB, f32x4.extract_lane(s0, 3));
        if (pair) addTo(o + 3 * rowB + 4, f32x4.extract_lane(s1, 3));
      }
    }
  }
}

/**
 * dy of one image as [Cout/4][outH][vecs][4 channels][4 pixels], zero past
 * outW and past Cout: the four channels of a pixel vector are one 64-byte
 * run, read with constant offsets.
 */
function interleaveDy(dy: usize, cout: i32, outH: i32, outW: i32, vecs: i32, dst: usize): void {
  let d = dst;
  for (let kb = 0; kb < cout; kb += 4) {
    for (let oh = 0; oh < outH; oh++) {
      for (let v = 0; v < vecs; v++) {
        const w0 = v << 2;
        for (let q = 0; q < 4; q++) {
          const k = kb + q;
          const src = dy + (<usize>((k * outH + oh) * outW + w0) << 2);
          if (k < cout && w0 + 4 <= outW) {
            v128.store(d, v128.load(src));
          } else {
            v128.store(d, f32x4.splat(0));
            if (k < cout) for (let t = 0; t < outW - w0; t++) store<f32>(d + (<usize>t << 2), load<f32>(src + (<usize>t << 2)));
          }
          d += 16;
        }
      }
    }
  }
}

/** [sum(a), sum(b), sum(c), sum(d)]: the lane sums of four vectors. */
// @ts-ignore: decorator
@inline function sum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(v128.shuffle<f32>(a, b, 0, 4, 1, 5), v128.shuffle<f32>(a, b, 2, 6, 3, 7)); // a0+a2 b0+b2 a1+a3 b1+b3
  const cd = f32x4.add(v128.shuffle<f32>(c, d, 0, 4, 1, 5), v128.shuffle<f32>(c, d, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(ab, cd, 0, 1, 4, 5), v128.shuffle<f32>(ab, cd, 2, 3, 6, 7));
}

// ---- Scratch: one block per thread, sized here (the loader calls these
// exports with the record it wrote) and cut up the same way by the kernels.

/** Bytes of a thread's scratch for directForward: the packed filters, then one band's padded input rows. */
export function directForwardScratchBytes(g: usize): i32 {
  const bands = direct_bands(g), outH = direct_outH(g);
  const bandRows = (outH + bands - 1) / bands + (direct_kH(g) - 1) * direct_dH(g);
  const packed = packedFilterFloats(direct_cout(g), direct_cin(g), direct_kH(g) * direct_kW(g));
  return (packed + direct_cin(g) * bandRows * directPitch(g) + 64) * 4;
}

/**
 * Bytes of a thread's scratch for directBackwardFilter: the padded image,
 * the interleaved dy and the taps' offset table (the slots' parts are apart).
 */
export function directFilterScratchBytes(g: usize): i32 {
  const cin = direct_cin(g), cout = direct_cout(g), kH = direct_kH(g), kW = direct_kW(g), outH = direct_outH(g);
  const rows = outH + (kH - 1) * direct_dH(g);
  const dyFloats = ((cout + 3) & ~3) * outH * ((direct_outW(g) + 3) & ~3);
  return (cin * rows * directPitch(g) + dyFloats + cin * kH * kW + 64) * 4;
}
