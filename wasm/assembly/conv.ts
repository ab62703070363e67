// Convolution as im2col + GEMM, split into independent work items so that
// threads never write the same memory: forward and backward-filter cut
// (image, group, band of output rows); backward-data cuts (image, group,
// band of input channels), since col2im of distinct channels never overlaps.
import { sgemm, sgemmPackedA, gemmScratchBytes, MR } from "./gemm";
import { copyFloats, zeroFloats, addFloats, sumFloats } from "./simd";
import { claim, blockStart } from "./work";
import {
  conv_batch, conv_inChannels, conv_inH, conv_inW, conv_outChannels, conv_kH, conv_kW, conv_strideH, conv_strideW,
  conv_padTop, conv_padLeft, conv_dilationH, conv_dilationW, conv_groups, conv_outH, conv_outW, conv_pointwise,
  conv_bands, conv_rowBands, conv_kBlocks, conv_slots, conv_images,
} from "./abi.generated";

/** The first output column whose input column j*D - P + ow*S is >= 0, and one past the last one < W. */
// @ts-ignore: decorator
@inline function validLo(off: i32, s: i32): i32 {
  return off <= 0 ? 0 : (off + s - 1) / s;
}
// @ts-ignore: decorator
@inline function validHi(off: i32, s: i32, w: i32): i32 {
  const last = w - 1 + off;
  return last < 0 ? 0 : last / s + 1;
}

// ---- Narrow maps: im2col and col2im through a table ---------------------------
//
// im2col copies one output row (outW floats) at a time. On narrow maps a row
// is a handful of floats (4 for a stride-2 layer into 4x4) and the per-row
// work (bounds, padding, a strided or shuffled copy) cost about 4 ns a float:
// a quarter of such a layer's time. Every channel reads the same pattern of
// offsets, so the pattern is worked out once per call into a table (one i32
// per tap and pixel, -1 in the padding) and each channel is a plain gather.

/** Output rows at most this wide go through the table. */
const TABLE_MAX_OUT_W = 8;

/** Whether this convolution's im2col and col2im gather through a table. */
// @ts-ignore: decorator
@inline function gathers(g: usize): bool {
  return !conv_pointwise(g) && conv_outW(g) <= TABLE_MAX_OUT_W;
}

/** Bytes of the gather table: an i32 per tap and output pixel (0 when the rows are copied). */
function gatherTableBytes(g: usize): i32 {
  return gathers(g) ? conv_kH(g) * conv_kW(g) * conv_outH(g) * conv_outW(g) * 4 : 0;
}

/** table[t * band + q] = h * W + w, the input that tap t of band pixel q reads, or -1 in the padding. */
function buildGatherTable(
  table: usize, H: i32, W: i32, kH: i32, kW: i32, sH: i32, sW: i32, pT: i32, pL: i32, dH: i32, dW: i32,
  outW: i32, oh0: i32, oh1: i32,
): void {
  let t = table;
  for (let i = 0; i < kH; i++) {
    for (let j = 0; j < kW; j++) {
      for (let oh = oh0; oh < oh1; oh++) {
        const h = oh * sH - pT + i * dH;
        for (let ow = 0; ow < outW; ow++) {
          const w = ow * sW - pL + j * dW;
          store<i32>(t, h >= 0 && h < H && w >= 0 && w < W ? h * W + w : -1);
          t += 4;
        }
      }
    }
  }
}

/** col[c * taps + t, q] = x[c, table[t * band + q]] (0 where it is -1); col's rows ld floats apart. */
function gatherColumns(x: usize, col: usize, C: i32, planeIn: i32, taps: i32, band: i32, ld: i32, table: usize): void {
  let rowPtr = col;
  for (let c = 0; c < C; c++) {
    const xc = x + (<usize>(c * planeIn) << 2);
    let t = table;
    for (let k = 0; k < taps; k++) {
      for (let q = 0; q < band; q++) {
        const at = load<i32>(t + (<usize>q << 2));
        const v = load<f32>(xc + (<usize>max(at, 0) << 2));
        store<f32>(rowPtr + (<usize>q << 2), select<f32>(v, 0, at >= 0));
      }
      t += <usize>band << 2;
      rowPtr += <usize>ld << 2;
    }
  }
}

/** The adjoint: dx[c, table[t * band + q]] += col[c * taps + t, q], in the order col2im adds them. */
function scatterColumns(col: usize, dx: usize, C: i32, planeIn: i32, taps: i32, band: i32, ld: i32, table: usize): void {
  let rowPtr = col;
  for (let c = 0; c < C; c++) {
    const xc = dx + (<usize>(c * planeIn) << 2);
    let t = table;
    for (let k = 0; k < taps; k++) {
      for (let q = 0; q < band; q++) {
        const at = load<i32>(t + (<usize>q << 2));
        if (at < 0) continue;
        const p = xc + (<usize>at << 2);
        store<f32>(p, load<f32>(p) + load<f32>(rowPtr + (<usize>q << 2)));
      }
      t += <usize>band << 2;
      rowPtr += <usize>ld << 2;
    }
  }
}

/**
 * col[(c*kH + i)*kW + j, (oh - oh0)*outW + ow] = x[c, oh*S - P + i*D, ow*S - P + j*D]
 * for oh in [oh0, oh1), zero in the padding. x points at channel 0 of the unfolded ones;
 * col's rows are ld floats apart (the band's width, or more when several images sit side by side).
 */
export function im2col(
  x: usize, col: usize, C: i32, H: i32, W: i32, kH: i32, kW: i32, sH: i32, sW: i32,
  pT: i32, pL: i32, dH: i32, dW: i32, outW: i32, oh0: i32, oh1: i32, ld: i32, table: usize,
): void {
  if (table != 0) {
    buildGatherTable(table, H, W, kH, kW, sH, sW, pT, pL, dH, dW, outW, oh0, oh1);
    gatherColumns(x, col, C, H * W, kH * kW, (oh1 - oh0) * outW, ld, table);
    return;
  }
  let rowPtr = col;
  for (let c = 0; c < C; c++) {
    const xc = x + (<usize>(c * H * W) << 2);
    for (let i = 0; i < kH; i++) {
      for (let j = 0; j < kW; j++) {
        const off = pL - j * dW;
        const lo = min(outW, validLo(off, sW));
        const hi = max(lo, min(outW, validHi(off, sW, W)));
        for (let oh = oh0; oh < oh1; oh++) {
          const h = oh * sH - pT + i * dH;
          const dst = rowPtr + (<usize>((oh - oh0) * outW) << 2);
          if (h < 0 || h >= H) {
            zeroFloats(dst, outW);
            continue;
          }
          const xr = xc + (<usize>(h * W) << 2);
          for (let ow = 0; ow < lo; ow++) store<f32>(dst + (<usize>ow << 2), 0);
          if (sW == 1) {
            copyFloats(dst + (<usize>lo << 2), xr + (<usize>(lo - off) << 2), hi - lo);
          } else {
            let ow = lo;
            if (sW == 2) {
              // Four outputs are the even lanes of eight consecutive inputs, read only while they stay in the row.
              for (; ow + 4 <= hi && 2 * ow - off + 8 <= W; ow += 4) {
                const s = xr + (<usize>(2 * ow - off) << 2);
                v128.store(dst + (<usize>ow << 2), v128.shuffle<f32>(v128.load(s), v128.load(s, 16), 0, 2, 4, 6));
              }
            }
            for (; ow < hi; ow++) store<f32>(dst + (<usize>ow << 2), load<f32>(xr + (<usize>(ow * sW - off) << 2)));
          }
          for (let ow = hi; ow < outW; ow++) store<f32>(dst + (<usize>ow << 2), 0);
        }
        rowPtr += <usize>ld << 2;
      }
    }
  }
}

/** The adjoint of im2col for output rows [oh0, oh1): dx[c, h, w] += col entries read from it (col's rows ld floats apart). */
export function col2im(
  col: usize, dx: usize, C: i32, H: i32, W: i32, kH: i32, kW: i32, sH: i32, sW: i32,
  pT: i32, pL: i32, dH: i32, dW: i32, outW: i32, oh0: i32, oh1: i32, ld: i32, table: usize,
): void {
  if (table != 0) {
    buildGatherTable(table, H, W, kH, kW, sH, sW, pT, pL, dH, dW, outW, oh0, oh1);
    scatterColumns(col, dx, C, H * W, kH * kW, (oh1 - oh0) * outW, ld, table);
    return;
  }
  let rowPtr = col;
  for (let c = 0; c < C; c++) {
    const xc = dx + (<usize>(c * H * W) << 2);
    for (let i = 0; i < kH; i++) {
      for (let j = 0; j < kW; j++) {
        const off = pL - j * dW;
        const lo = min(outW, validLo(off, sW));
        const hi = max(lo, min(outW, validHi(off, sW, W)));
        for (let oh = oh0; oh < oh1; oh++) {
          const h = oh * sH - pT + i * dH;
          if (h < 0 || h >= H) continue;
          const src = rowPtr + (<usize>((oh - oh0) * outW) << 2);
          const xr = xc + (<usize>(h * W) << 2);
          if (sW == 1) {
            addFloats(xr + (<usize>(lo - off) << 2), src + (<usize>lo << 2), hi - lo);
          } else {
            let ow = lo;
            if (sW == 2) {
              // Four gradients go to the even lanes of eight consecutive inputs; the odd ones get + 0 (an equal value: only -0 becomes +0).
              const zero = f32x4.splat(0);
              for (; ow + 4 <= hi && 2 * ow - off + 8 <= W; ow += 4) {
                const p = xr + (<usize>(2 * ow - off) << 2);
                const g = v128.load(src + (<usize>ow << 2));
                v128.store(p, f32x4.add(v128.load(p), v128.shuffle<f32>(g, zero, 0, 4, 1, 5)));
                v128.store(p, f32x4.add(v128.load(p, 16), v128.shuffle<f32>(g, zero, 2, 6, 3, 7)), 16);
              }
            }
            for (; ow < hi; ow++) {
              const p = xr + (<usize>(ow * sW - off) << 2);
              store<f32>(p, load<f32>(p) + load<f32>(src + (<usize>ow << 2)));
            }
          }
        }
        rowPtr += <usize>ld << 2;
      }
    }
  }
}

/**
 * y = y * s + b (s: a folded batch norm's scale, else 1), plus r[i] when r is
 * not 0 (a residual sum), then max(0, .) keeping NaN, over n floats. The same
 * operations in the same order as this epilogue followed by the add kernel,
 * so a fused residual sum gives the same bits.
 */
function biasRelu(y: usize, n: i32, s: f32, b: f32, relu: bool, r: usize): void {
  const sv = f32x4.splat(s);
  const bv = f32x4.splat(b);
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    let v = f32x4.add(f32x4.mul(v128.load(y + o), sv), bv);
    if (r != 0) v = f32x4.add(v, v128.load(r + o));
    if (relu) v = v128.bitselect(v, zero, v128.or(f32x4.gt(v, zero), f32x4.ne(v, v)));
    v128.store(y + o, v);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    let v = load<f32>(y + o) * s + b;
    if (r != 0) v += load<f32>(r + o);
    if (relu && !(v > 0) && v == v) v = 0;
    store<f32>(y + o, v);
  }
}

/**
 * The GEMM's right-hand operand for output rows [oh0, oh1) of one (image,
 * group) whose input starts at xg: a 1x1, stride-1 convolution reads the
 * input in place (its rows `plane` apart); any other unfolds the band into
 * col (rows `(oh1 - oh0) * outW` apart).
 */
// @ts-ignore: decorator
@inline function bandColumns(g: usize, xg: usize, col: usize, oh0: i32, oh1: i32, table: usize): usize {
  if (conv_pointwise(g)) return xg + (<usize>(oh0 * conv_outW(g)) << 2);
  const cg = conv_inChannels(g) / conv_groups(g);
  im2col(xg, col, cg, conv_inH(g), conv_inW(g), conv_kH(g), conv_kW(g), conv_strideH(g), conv_strideW(g), conv_padTop(g), conv_padLeft(g),
    conv_dilationH(g), conv_dilationW(g), conv_outW(g), oh0, oh1, (oh1 - oh0) * conv_outW(g), table);
  return col;
}

/**
 * Unfolds images [n0, n0 + count) side by side into col: image i's columns
 * are [i * plane, (i + 1) * plane) of rows count * plane floats long. For
 * small output planes (a 7x7 map gives the GEMM 49 columns, a 4x4 map 16),
 * one GEMM over several images packs the filters once for all of them and
 * fills the register tile's columns.
 */
function imageColumns(g: usize, x: usize, col: usize, n0: i32, count: i32, table: usize): void {
  const C = conv_inChannels(g), H = conv_inH(g), W = conv_inW(g), outH = conv_outH(g), outW = conv_outW(g);
  const plane = outH * outW;
  for (let i = 0; i < count; i++) {
    im2col(x + (<usize>((n0 + i) * C * H * W) << 2), col + (<usize>(i * plane) << 2), C, H, W, conv_kH(g), conv_kW(g),
      conv_strideH(g), conv_strideW(g), conv_padTop(g), conv_padLeft(g), conv_dilationH(g), conv_dilationW(g), outW, 0, outH, count * plane, table);
  }
}

/** dst[k, i * plane + p] = dy[n0 + i, k0 + k, p] for k < kn: rows of several images' gradients side by side. */
function gatherImages(dy: usize, K: i32, plane: i32, n0: i32, count: i32, k0: i32, kn: i32, dst: usize): void {
  const ld = count * plane;
  for (let i = 0; i < count; i++) {
    for (let k = 0; k < kn; k++) {
      copyFloats(dst + (<usize>(k * ld + i * plane) << 2), dy + (<usize>(((n0 + i) * K + k0 + k) * plane) << 2), plane);
    }
  }
}

/**
 * One thread's share of the forward convolution. scratch: this thread's
 * gemm packing area followed by its column buffer. packedW, when not 0: the
 * filters packed once for the GEMM (packedAOffset's layout, one group after
 * another), as inference keeps them; the products are then the same to the
 * bit, without packing the filters again for every work item.
 */
export function convForward(
  g: usize, x: usize, w: usize, bias: usize, y: usize, relu: bool, scale: usize, residual: usize, packedW: usize,
  gemmScratch: usize, col: usize, counter: usize,
): void {
  if (conv_images(g) > 1) {
    convForwardImages(g, x, w, bias, y, relu, scale, residual, packedW, gemmScratch, col, counter);
    return;
  }
  const table = tableAt(g, col, forwardColumnBytes(g));
  const N = conv_batch(g), C = conv_inChannels(g), H = conv_inH(g), W = conv_inW(g), K = conv_outChannels(g);
  const kH = conv_kH(g), kW = conv_kW(g), groups = conv_groups(g), outH = conv_outH(g), outW = conv_outW(g);
  const cg = C / groups, kg = K / groups, rows = cg * kH * kW, plane = outH * outW;
  const pointwise = conv_pointwise(g);
  const pairs = N * groups;
  const bands = conv_bands(g), kBlocks = conv_kBlocks(g);
  const items = pairs * bands * kBlocks;
  for (let it = claim(counter); it < items; it = claim(counter)) {
    const kb = it % kBlocks, pb = it / kBlocks;
    const pair = pb / bands, band = pb % bands;
    const n = pair / groups, grp = pair % groups;
    const oh0 = (outH * band) / bands, oh1 = (outH * (band + 1)) / bands;
    // Output channels [k0, k1), cut at multiples of the GEMM's register tile height.
    const k0 = blockStart(kg, kb, kBlocks, MR), k1 = blockStart(kg, kb + 1, kBlocks, MR);
    if (oh1 <= oh0 || k1 <= k0) continue;
    const width = (oh1 - oh0) * outW;
    const xg = x + (<usize>((n * C + grp * cg) * H * W) << 2);
    const src = bandColumns(g, xg, col, oh0, oh1, table);
    const ldb = pointwise ? plane : width;
    const at = <usize>((n * K + grp * kg + k0) * plane + oh0 * outW) << 2;
    const yg = y + at, rg = residual != 0 ? residual + at : 0;
    if (packedW != 0) {
      // k0 is a multiple of MR (blockStart's alignment): the work item starts at a whole panel.
      const mPad = ((kg + MR - 1) / MR) * MR;
      sgemmPackedA(k1 - k0, width, rows, packedW + (<usize>(grp * mPad * rows) << 2), mPad, k0 / MR, src, ldb, yg, plane, gemmScratch);
    } else {
      sgemm(k1 - k0, width, rows, w + (<usize>((grp * kg + k0) * rows) << 2), rows, false, src, ldb, false, yg, plane, false, gemmScratch);
    }
    if (bias != 0 || relu || scale != 0 || residual != 0) {
      for (let k = k0; k < k1; k++) {
        const o = <usize>(grp * kg + k) << 2;
        const b: f32 = bias != 0 ? load<f32>(bias + o) : 0;
        const s: f32 = scale != 0 ? load<f32>(scale + o) : 1;
        const row = <usize>((k - k0) * plane) << 2;
        biasRelu(yg + row, width, s, b, relu, rg != 0 ? rg + row : 0);
      }
    }
  }
}

/**
 * convForward with several images per work item (the record's `images`;
 * groups 1): their columns side by side, one GEMM into a buffer after the
 * columns, then each image's planes with the epilogue. Every output is the
 * same sum, in the same order, as image by image.
 */
function convForwardImages(
  g: usize, x: usize, w: usize, bias: usize, y: usize, relu: bool, scale: usize, residual: usize, packedW: usize,
  gemmScratch: usize, col: usize, counter: usize,
): void {
  const table = tableAt(g, col, forwardColumnBytes(g));
  const N = conv_batch(g), K = conv_outChannels(g), rows = conv_inChannels(g) * conv_kH(g) * conv_kW(g);
  const plane = conv_outH(g) * conv_outW(g), G = conv_images(g), kBlocks = conv_kBlocks(g);
  const products = col + (<usize>(rows * G * plane) << 2);
  const items = ((N + G - 1) / G) * kBlocks;
  for (let it = claim(counter); it < items; it = claim(counter)) {
    const kb = it % kBlocks, n0 = (it / kBlocks) * G, count = min(G, N - n0), width = count * plane;
    const k0 = blockStart(K, kb, kBlocks, MR), k1 = blockStart(K, kb + 1, kBlocks, MR);
    if (k1 <= k0) continue;
    imageColumns(g, x, col, n0, count, table);
    if (packedW != 0) {
      const mPad = ((K + MR - 1) / MR) * MR;
      sgemmPackedA(k1 - k0, width, rows, packedW, mPad, k0 / MR, col, width, products, width, gemmScratch);
    } else {
      sgemm(k1 - k0, width, rows, w + (<usize>(k0 * rows) << 2), rows, false, col, width, false, products, width, false, gemmScratch);
    }
    // Image by image, so that y is written in memory order (channel by channel it
    // jumps K x plane floats for every plane: a cache miss per 4x4 plane).
    const epilogue = bias != 0 || relu || scale != 0 || residual != 0;
    for (let i = 0; i < count; i++) {
      for (let k = k0; k < k1; k++) {
        const at = <usize>(((n0 + i) * K + k) * plane) << 2;
        const yk = y + at;
        copyFloats(yk, products + (<usize>((k - k0) * width + i * plane) << 2), plane);
        if (epilogue) {
          const b: f32 = bias != 0 ? load<f32>(bias + (<usize>k << 2)) : 0;
          const s: f32 = scale != 0 ? load<f32>(scale + (<usize>k << 2)) : 1;
          biasRelu(yk, plane, s, b, relu, residual != 0 ? residual + at : 0);
        }
      }
    }
  }
}

/** One thread's share of dx = conv_transpose(dy, w): dcol = Wg^T dy, then col2im. */
export function convBackwardData(
  g: usize, dy: usize, w: usize, dx: usize, gemmScratch: usize, col: usize, counter: usize,
): void {
  if (conv_images(g) > 1) {
    convBackwardDataImages(g, dy, w, dx, gemmScratch, col, counter);
    return;
  }
  const table = tableAt(g, col, dataColumnBytes(g));
  const N = conv_batch(g), C = conv_inChannels(g), H = conv_inH(g), W = conv_inW(g), K = conv_outChannels(g);
  const kH = conv_kH(g), kW = conv_kW(g), groups = conv_groups(g), outH = conv_outH(g), outW = conv_outW(g);
  const cg = C / groups, kg = K / groups, rows = cg * kH * kW, plane = outH * outW, kk = kH * kW;
  const pointwise = conv_pointwise(g);
  const pairs = N * groups;
  const bands = conv_bands(g);
  const items = pairs * bands;
  for (let it = claim(counter); it < items; it = claim(counter)) {
    const pair = it / bands, band = it % bands;
    const n = pair / groups, grp = pair % groups;
    const c0 = (cg * band) / bands, c1 = (cg * (band + 1)) / bands;
    if (c1 <= c0) continue;
    const wg = w + (<usize>(grp * kg * rows + c0 * kk) << 2);
    const dyg = dy + (<usize>((n * K + grp * kg) * plane) << 2);
    const dxc = dx + (<usize>((n * C + grp * cg + c0) * H * W) << 2);
    const m = (c1 - c0) * kk;
    if (pointwise) {
      sgemm(m, plane, kg, wg, rows, true, dyg, plane, false, dxc, plane, false, gemmScratch);
      continue;
    }
    zeroFloats(dxc, (c1 - c0) * H * W);
    const rowBands = conv_rowBands(g);
    for (let rb = 0; rb < rowBands; rb++) {
      const oh0 = (outH * rb) / rowBands, oh1 = (outH * (rb + 1)) / rowBands;
      if (oh1 <= oh0) continue;
      const width = (oh1 - oh0) * outW;
      // dcol[m, width] = Wg[:, c0..c1]^T dy_g[:, band]
      sgemm(m, width, kg, wg, rows, true, dyg + (<usize>(oh0 * outW) << 2), plane, false, col, width, false, gemmScratch);
      col2im(col, dxc, c1 - c0, H, W, kH, kW, conv_strideH(g), conv_strideW(g), conv_padTop(g), conv_padLeft(g),
        conv_dilationH(g), conv_dilationW(g), outW, oh0, oh1, width, table);
    }
  }
}

/**
 * convBackwardData with several images per work item (groups 1): their
 * gradients side by side after the columns, one GEMM for the unfolded
 * gradient of them all (the filters packed once, not per image), then col2im
 * image by image: the same sums in the same order as image by image.
 */
function convBackwardDataImages(g: usize, dy: usize, w: usize, dx: usize, gemmScratch: usize, col: usize, counter: usize): void {
  const table = tableAt(g, col, dataColumnBytes(g));
  const N = conv_batch(g), C = conv_inChannels(g), H = conv_inH(g), W = conv_inW(g), K = conv_outChannels(g);
  const kH = conv_kH(g), kW = conv_kW(g), outH = conv_outH(g), outW = conv_outW(g);
  const rows = C * kH * kW, plane = outH * outW, G = conv_images(g);
  const gradients = col + (<usize>(rows * G * plane) << 2);
  const items = (N + G - 1) / G;
  for (let it = claim(counter); it < items; it = claim(counter)) {
    const n0 = it * G, count = min(G, N - n0), width = count * plane;
    gatherImages(dy, K, plane, n0, count, 0, K, gradients);
    // dcol[rows, width] = W^T dy
    sgemm(rows, width, K, w, rows, true, gradients, width, false, col, width, false, gemmScratch);
    for (let i = 0; i < count; i++) {
      const dxn = dx + (<usize>((n0 + i) * C * H * W) << 2);
      zeroFloats(dxn, C * H * W);
      col2im(col + (<usize>(i * plane) << 2), dxn, C, H, W, kH, kW, conv_strideH(g), conv_strideW(g), conv_padTop(g), conv_padLeft(g),
        conv_dilationH(g), conv_dilationW(g), outW, 0, outH, width, table);
    }
  }
}

/**
 * One thread's share of dw += dy * col^T (and dbias += the sums of dy), in a
 * fixed order that no thread timing changes: the batch is cut into `slots`
 * fixed ranges of images; slot 0 adds its images, in order, straight into dw
 * and db, every other slot s into its own zeroed part (parts + (s - 1) *
 * partStride bytes: dw's floats then db's), which reduceParts then adds to dw
 * in slot order. Work items are (slot, block of output channels): channel
 * blocks give every thread work when there are few slots, and since each
 * output element's sum runs over the same images in the same order whatever
 * the block, the result depends on neither the thread count nor the blocks.
 */
export function convBackwardFilter(
  g: usize, x: usize, dy: usize, dw: usize, db: usize, parts: usize, partStride: usize,
  gemmScratch: usize, col: usize, counter: usize,
): void {
  const table = tableAt(g, col, forwardColumnBytes(g));
  const N = conv_batch(g), C = conv_inChannels(g), H = conv_inH(g), W = conv_inW(g), K = conv_outChannels(g);
  const kH = conv_kH(g), kW = conv_kW(g), groups = conv_groups(g), outH = conv_outH(g), outW = conv_outW(g);
  const cg = C / groups, kg = K / groups, rows = cg * kH * kW, plane = outH * outW;
  const pointwise = conv_pointwise(g);
  const bands = conv_bands(g), slots = conv_slots(g), kBlocks = conv_kBlocks(g);
  const items = slots * kBlocks;
  for (let it = claim(counter); it < items; it = claim(counter)) {
    const slot = it / kBlocks, kb = it % kBlocks;
    const k0 = blockStart(kg, kb, kBlocks), k1 = blockStart(kg, kb + 1, kBlocks);
    if (k1 <= k0) continue;
    let dwS = dw, dbS = db;
    if (slot > 0) {
      dwS = parts + <usize>(slot - 1) * partStride;
      if (db != 0) dbS = dwS + (<usize>(K * rows) << 2);
      for (let grp = 0; grp < groups; grp++) {
        zeroFloats(dwS + (<usize>((grp * kg + k0) * rows) << 2), (k1 - k0) * rows);
        if (dbS != 0) zeroFloats(dbS + (<usize>(grp * kg + k0) << 2), k1 - k0);
      }
    }
    const n0 = (N * slot) / slots, n1 = (N * (slot + 1)) / slots;
    const G = conv_images(g);
    if (G > 1) {
      // Several images per GEMM (groups 1): their columns and gradients side
      // by side, so the GEMM sums over G planes at once. The groups start at
      // the slot's first image, so the order of the sums depends on the shape alone.
      const gradients = col + (<usize>(rows * G * plane) << 2);
      for (let n = n0; n < n1; n += G) {
        const count = min(G, n1 - n), width = count * plane;
        imageColumns(g, x, col, n, count, table);
        gatherImages(dy, K, plane, n, count, k0, k1 - k0, gradients);
        sgemm(k1 - k0, rows, width, gradients, width, false, col, width, true, dwS + (<usize>(k0 * rows) << 2), rows, true, gemmScratch);
        if (dbS != 0) {
          for (let k = 0; k < k1 - k0; k++) {
            const p = dbS + (<usize>(k0 + k) << 2);
            store<f32>(p, load<f32>(p) + <f32>sumFloats(gradients + (<usize>(k * width) << 2), width));
          }
        }
      }
      continue;
    }
    for (let n = n0; n < n1; n++) {
      for (let grp = 0; grp < groups; grp++) {
        const xg = x + (<usize>((n * C + grp * cg) * H * W) << 2);
        for (let band = 0; band < bands; band++) {
          const oh0 = (outH * band) / bands, oh1 = (outH * (band + 1)) / bands;
          if (oh1 <= oh0) continue;
          const width = (oh1 - oh0) * outW;
          const src = bandColumns(g, xg, col, oh0, oh1, table);
          const ldb = pointwise ? plane : width;
          const dyg = dy + (<usize>((n * K + grp * kg + k0) * plane + oh0 * outW) << 2);
          // dW[k0..k1, rows] += dy[k0..k1, width] * col[rows, width]^T
          sgemm(k1 - k0, rows, width, dyg, plane, false, src, ldb, true,
            dwS + (<usize>((grp * kg + k0) * rows) << 2), rows, true, gemmScratch);
          if (dbS != 0) {
            for (let k = 0; k < k1 - k0; k++) {
              const p = dbS + (<usize>(grp * kg + k0 + k) << 2);
              store<f32>(p, load<f32>(p) + <f32>sumFloats(dyg + (<usize>(k * plane) << 2), width));
            }
          }
        }
      }
    }
  }
}

/**
 * dst[i] += part[t][i] for every part t in [0, nparts) at parts + t*stride
 * bytes, in that order (so the sums do not depend on the threads); this
 * thread's slice of n.
 */
export function reduceParts(dst: usize, parts: usize, stride: usize, nparts: i32, n: i32, tid: i32, nth: i32): void {
  const i0 = <i32>((<i64>n * tid) / nth) & ~3;
  const i1 = tid == nth - 1 ? n : <i32>((<i64>n * (tid + 1)) / nth) & ~3;
  if (i1 <= i0) return;
  for (let t = 0; t < nparts; t++) {
    addFloats(dst + (<usize>i0 << 2), parts + <usize>t * stride + (<usize>i0 << 2), i1 - i0);
  }
}

// ---- Scratch: one block per thread, sized here (the loader calls these
// exports with the record it wrote) and cut up the same way by runJob.

/** Bytes of one band's unfolded columns (forward, filter gradient): (C / groups) kH kW rows of the band's pixels. */
function columnBandBytes(g: usize): i32 {
  const rows = (conv_inChannels(g) / conv_groups(g)) * conv_kH(g) * conv_kW(g);
  const bands = conv_bands(g), outH = conv_outH(g);
  return rows * ((outH + bands - 1) / bands) * conv_outW(g) * 4;
}

/**
 * Bytes of the columns of `images` images side by side and, after them, of
 * their products or gradients (all output channels): the buffers of the
 * image-group kernels; 0 when the record has one image per GEMM.
 */
function imageGroupBytes(g: usize): i32 {
  const G = conv_images(g);
  if (G <= 1) return 0;
  const rows = conv_inChannels(g) * conv_kH(g) * conv_kW(g);
  return (rows + conv_outChannels(g)) * G * conv_outH(g) * conv_outW(g) * 4;
}

/** Bytes of the column region of convForward and convBackwardFilter: one band's columns, or an image group's buffers. */
function forwardColumnBytes(g: usize): i32 {
  return max(columnBandBytes(g), imageGroupBytes(g));
}

/** Bytes of the column region of convBackwardData: an image group's buffers, or one (channel band, row band)'s gradient columns. */
function dataColumnBytes(g: usize): i32 {
  if (conv_images(g) > 1) return imageGroupBytes(g);
  const cg = conv_inChannels(g) / conv_groups(g), bands = conv_bands(g), rowBands = conv_rowBands(g), outH = conv_outH(g);
  const bandRows = ((cg + bands - 1) / bands) * conv_kH(g) * conv_kW(g);
  return bandRows * ((outH + rowBands - 1) / rowBands) * conv_outW(g) * 4;
}

// @ts-ignore: decorator
@inline function aligned(bytes: i32): i32 {
  return (bytes + 63) & ~63;
}

/** Where a thread's gather table starts, after its column region; 0 when the rows are copied. */
// @ts-ignore: decorator
@inline function tableAt(g: usize, col: usize, columnBytes: i32): usize {
  return gathers(g) ? col + <usize>aligned(columnBytes) : 0;
}

/** Bytes of a thread's scratch for convForward: GEMM packing, the columns, the gather table. */
export function convForwardScratchBytes(g: usize): i32 {
  return gemmScratchBytes() + aligned(forwardColumnBytes(g)) + gatherTableBytes(g);
}

/** Bytes of a thread's scratch for convBackwardData: GEMM packing, the gradient columns, the gather table. */
export function convBackwardDataScratchBytes(g: usize): i32 {
  return gemmScratchBytes() + aligned(dataColumnBytes(g)) + gatherTableBytes(g);
}

/** Bytes of a thread's scratch for convBackwardFilter: GEMM packing, the columns, the gather table (the slots' parts are apart). */
export function convBackwardFilterScratchBytes(g: usize): i32 {
  return gemmScratchBytes() + aligned(forwardColumnBytes(g)) + gatherTableBytes(g);
}
