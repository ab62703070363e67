// Winograd F(2x2, 3x3) for 3x3, stride-1, undilated convolutions (Lavin and
// Gray, 2015): each 2x2 block of outputs comes from a 4x4 input patch with 16
// multiplications per (input, output) channel pair instead of 36, as 16
// independent GEMMs between transformed filters U and transformed patches V.
//
//   V = B^T d B, U = G g G^T, Y = A^T (U . V) A
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//   A^T = [1 1 1 0; 0 1 -1 -1]
//
// winogradConv also runs F(4x4, 3x3) with the transforms of winograd4.ts.
// It takes the direct record (abi.generated.ts, with the flip for backward
// data) and its band count as tile rows per work item; winograd-layout.ts
// sizes its scratch.
import { sgemmPackedA, MR } from "./gemm";
import { transformPatches6, outputTiles4, transformFilter4 } from "./winograd4";
import { claim, blockStart } from "./work";
import { padRows } from "./direct";
import { planeFloats, winogradPitch, segmentRows, packedRows, filterLaneOffsets, scatter4 } from "./winograd-layout";
import {
  direct_batch, direct_cin, direct_hin, direct_win, direct_cout, direct_offH, direct_offW, direct_outH, direct_outW, direct_bands,
} from "./abi.generated";

// @ts-ignore: decorator
@inline function f(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

/**
 * One thread's share of U = G g G^T for every filter, F(m x m, 3x3) with
 * m = 2 (16 matrices) or 4 (36, winograd4.ts), each matrix (cout x cin)
 * stored packed for the GEMM (packedAOffset in gemm.ts) so that no work item
 * packs them again. Items are groups of four output channels, one per vector
 * lane (lanes past cout hold zeros, which also fill the padding rows of the
 * last row panel). With flip, w is stored [cin][cout][3][3] and rotated.
 */
export function winogradFilters(w: usize, u: usize, cout: i32, cin: i32, flip: bool, m: i32, counter: usize): void {
  const mPad = packedRows(cout);
  const plane = <usize>planeFloats(mPad * cin) << 2; // bytes between the transformed matrices
  const step = flip ? 9 : 9 * cin; // floats between the filters of output channels k and k + 1
  for (let q = claim(counter); q < (mPad + 3) >> 2; q = claim(counter)) {
    const k = q << 2, lanes = min(4, cout - k);
    for (let c = 0; c < cin; c++) {
      const src = w + (<usize>((flip ? c * cout + k : k * cin + c) * 9) << 2);
      // g[i][j] of the four filters (rotated by 180 degrees for the backward-data convolution)
      const g0 = filterTaps(src, flip ? 8 : 0, step, lanes), g1 = filterTaps(src, flip ? 7 : 1, step, lanes);
      const g2 = filterTaps(src, flip ? 6 : 2, step, lanes), g3 = filterTaps(src, flip ? 5 : 3, step, lanes);
      const g4 = filterTaps(src, 4, step, lanes), g5 = filterTaps(src, flip ? 3 : 5, step, lanes);
      const g6 = filterTaps(src, flip ? 2 : 6, step, lanes), g7 = filterTaps(src, flip ? 1 : 7, step, lanes);
      const g8 = filterTaps(src, flip ? 0 : 8, step, lanes);
      // The four lanes' rows may straddle two row panels, so each lane is stored on its own.
      const offs = filterLaneOffsets(k, c, cin, mPad);
      if (m == 4) transformFilter4(u, offs, plane, g0, g1, g2, g3, g4, g5, g6, g7, g8);
      else transformFilter2(u, offs, plane, g0, g1, g2, g3, g4, g5, g6, g7, g8);
    }
  }
}

/** U[0..15] = G g G^T for four filters (one per lane) from their taps, stored `plane` bytes apart from dst. */
// @ts-ignore: decorator
@inline function transformFilter2(
  dst: usize, offs: v128, plane: usize, g0: v128, g1: v128, g2: v128, g3: v128, g4: v128, g5: v128, g6: v128, g7: v128, g8: v128,
): void {
  // Rows: t = G g (4x3), column by column.
  const half = f32x4.splat(0.5);
  const t10 = f32x4.mul(f32x4.add(f32x4.add(g0, g3), g6), half), t11 = f32x4.mul(f32x4.add(f32x4.add(g1, g4), g7), half);
  const t12 = f32x4.mul(f32x4.add(f32x4.add(g2, g5), g8), half);
  const t20 = f32x4.mul(f32x4.add(f32x4.sub(g0, g3), g6), half), t21 = f32x4.mul(f32x4.add(f32x4.sub(g1, g4), g7), half);
  const t22 = f32x4.mul(f32x4.add(f32x4.sub(g2, g5), g8), half);
  // Columns: U = t G^T (4x4).
  storeRow(dst, offs, 0, plane, g0, g1, g2);
  storeRow(dst, offs, 4, plane, t10, t11, t12);
  storeRow(dst, offs, 8, plane, t20, t21, t22);
  storeRow(dst, offs, 12, plane, g6, g7, g8);
}

/** Tap i of up to four filters `step` floats apart, as one vector (lanes past `lanes` are zero). */
// @ts-ignore: decorator
@inline function filterTaps(src: usize, i: i32, step: i32, lanes: i32): v128 {
  const p = src + (<usize>i << 2), s = <usize>step << 2;
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (lanes > 1) v = f32x4.replace_lane(v, 1, load<f32>(p + s));
  if (lanes > 2) v = f32x4.replace_lane(v, 2, load<f32>(p + 2 * s));
  if (lanes > 3) v = f32x4.replace_lane(v, 3, load<f32>(p + 3 * s));
  return v;
}

// @ts-ignore: decorator
@inline function storeRow(dst: usize, offs: v128, xi0: i32, plane: usize, a: v128, b: v128, c: v128): void {
  scatter4(dst + <usize>xi0 * plane, offs, a);
  scatter4(dst + <usize>(xi0 + 1) * plane, offs, f32x4.mul(f32x4.add(f32x4.add(a, b), c), f32x4.splat(0.5)));
  scatter4(dst + <usize>(xi0 + 2) * plane, offs, f32x4.mul(f32x4.add(f32x4.sub(a, b), c), f32x4.splat(0.5)));
  scatter4(dst + <usize>(xi0 + 3) * plane, offs, c);
}

/**
 * One thread's share of the convolution by F(m x m, 3x3), m = 2 or 4 (the
 * transforms of winograd4.ts). Items are runs of consecutive tile rows over
 * the whole batch: a run may span images, so that small images still give
 * the GEMMs enough tiles (ResNet-20's 8x8 images have 16 or 4). With
 * kBlocks > 1 each run is also cut into blocks of output channels, for images
 * too small to give every thread its own tiles (a thread then transforms the
 * run's patches again but packs only its block's transformed filters).
 * scratch: gemm packing area (gemmBytes), then V, M, the padded input rows
 * and the 4x4 transforms' 72 vectors.
 */
export function winogradConv(
  g: usize, x: usize, u: usize, bias: usize, y: usize, relu: bool, scale: usize,
  scratch: usize, gemmBytes: usize, m: i32, kBlocks: i32, counter: usize,
): void {
  const N = direct_batch(g), cin = direct_cin(g), H = direct_hin(g), W = direct_win(g), cout = direct_cout(g);
  const offH = direct_offH(g), offW = direct_offW(g), outH = direct_outH(g), outW = direct_outW(g);
  const runRows = direct_bands(g); // tile rows per work item
  const P = (m + 2) * (m + 2); // transformed matrices
  const tilesH = (outH + m - 1) / m, tilesW = (outW + m - 1) / m;
  const totalRows = N * tilesH;
  const items = ((totalRows + runRows - 1) / runRows) * kBlocks;
  const segRows = segmentRows(g, m);
  const pitch = winogradPitch(m, tilesW);
  const maxT = runRows * tilesW;
  const gemmScratch = scratch;
  const vBase = scratch + gemmBytes;
  const mBase = vBase + (<usize>(P * planeFloats(cin * maxT)) << 2);
  const xp = mBase + (<usize>(P * planeFloats(cout * maxT)) << 2);
  const tmp = (xp + (<usize>(cin * (m * segRows + 2) * pitch) << 2) + 15) & ~15;
  const plane = outH * outW;
  for (let it = claim(counter); it < items; it = claim(counter)) {
    const kb = it % kBlocks;
    const r0 = (it / kBlocks) * runRows, r1 = min(totalRows, r0 + runRows);
    // Whole row panels of the packed filters.
    const k0 = blockStart(cout, kb, kBlocks, MR), k1 = blockStart(cout, kb + 1, kBlocks, MR);
    if (k1 <= k0) continue;
    const T = (r1 - r0) * tilesW;
    // V[xi][c][t] = (B^T d B)[xi] for the patch of tile t in channel c, each
    // image's share of the run in columns [t, t + its tiles).
    const vPlane = <usize>planeFloats(cin * T) << 2;
    let t = 0;
    for (let r = r0; r < r1;) {
      const n = r / tilesH, tr0 = r % tilesH, tr1 = min(tilesH, tr0 + (r1 - r));
      const rows = m * (tr1 - tr0) + 2;
      padRows(x + (<usize>(n * cin * H * W) << 2), cin, H, W, offH, offW, m * tr0, rows, pitch, xp);
      if (m == 4) transformPatches6(xp, cin, rows, pitch, tr1 - tr0, tilesW, vBase, vPlane, T, t, tmp);
      else transformPatches(xp, cin, rows, pitch, tr1 - tr0, tilesW, vBase, vPlane, T, t);
      t += (tr1 - tr0) * tilesW;
      r += tr1 - tr0;
    }
    // M[xi] = U[xi] (cout x cin, packed) * V[xi] (cin x T), rows [k0, k1)
    const mPad = packedRows(cout);
    const uPlane = <usize>planeFloats(mPad * cin) << 2, mPlane = <usize>planeFloats(cout * T) << 2;
    const mBlock = mBase + (<usize>(k0 * T) << 2);
    for (let xi = 0; xi < P; xi++) {
      sgemmPackedA(k1 - k0, T, cin, u + <usize>xi * uPlane, mPad, k0 / MR, vBase + <usize>xi * vPlane, T,
        mBlock + <usize>xi * mPlane, T, gemmScratch);
    }
    // Y = A^T M A for each output channel and tile, times the scale, plus bias, and ReLU, image by image.
    const kOff = <usize>k0 << 2;
    const biasK = bias != 0 ? bias + kOff : 0, scaleK = scale != 0 ? scale + kOff : 0;
    t = 0;
    for (let r = r0; r < r1;) {
      const n = r / tilesH, tr0 = r % tilesH, tr1 = min(tilesH, tr0 + (r1 - r));
      const yn = y + (<usize>((n * cout + k0) * plane) << 2);
      if (m == 4) outputTiles4(mBlock, mPlane, T, t, tr0, tr1, tilesW, yn, k1 - k0, outH, outW, biasK, relu, scaleK, tmp);
      else outputTiles2(mBlock, mPlane, T, t, tr0, tr1, tilesW, yn, k1 - k0, outH, outW, biasK, relu, scaleK);
      t += (tr1 - tr0) * tilesW;
      r += tr1 - tr0;
    }
  }
}

/**
 * Y = A^T M A times the per-channel scale (when scale != 0), plus bias, and
 * ReLU, for tile rows [tr0, tr1) of one image's
 * output yn ([cout][outH][outW]), from columns [t0, ...) of M's rows (T tiles
 * long, the 16 matrices mPlane bytes apart).
 */
function outputTiles2(
  mBase: usize, mPlane: usize, T: i32, t0: i32, tr0: i32, tr1: i32, tilesW: i32,
  yn: usize, cout: i32, outH: i32, outW: i32, bias: usize, relu: bool, scale: usize,
): void {
  const plane = outH * outW;
  for (let k = 0; k < cout; k++) {
    const b: f32 = bias != 0 ? load<f32>(bias + (<usize>k << 2)) : 0;
    const sc: f32 = scale != 0 ? load<f32>(scale + (<usize>k << 2)) : 1;
    const yk = yn + (<usize>(k * plane) << 2);
    const bv = f32x4.splat(b), sv = f32x4.splat(sc);
    let t = t0;
    for (let tr = tr0; tr < tr1; tr++) {
      let tc = 0;
      const oh = 2 * tr;
      // Four tiles at a time while their 8 output columns lie inside the row.
      for (; tc + 4 <= tilesW && 2 * tc + 8 <= outW; tc += 4) {
        const m = mBase + (<usize>(k * T + t) << 2);
        const m0 = v128.load(m), m1 = ldv(m, 1, mPlane), m2 = ldv(m, 2, mPlane), m3 = ldv(m, 3, mPlane);
        const m4 = ldv(m, 4, mPlane), m5 = ldv(m, 5, mPlane), m6 = ldv(m, 6, mPlane), m7 = ldv(m, 7, mPlane);
        const m8 = ldv(m, 8, mPlane), m9 = ldv(m, 9, mPlane), m10 = ldv(m, 10, mPlane), m11 = ldv(m, 11, mPlane);
        const m12 = ldv(m, 12, mPlane), m13 = ldv(m, 13, mPlane), m14 = ldv(m, 14, mPlane), m15 = ldv(m, 15, mPlane);
        const s0 = f32x4.add(f32x4.add(m0, m4), m8), s1 = f32x4.add(f32x4.add(m1, m5), m9);
        const s2 = f32x4.add(f32x4.add(m2, m6), m10), s3 = f32x4.add(f32x4.add(m3, m7), m11);
        const e0 = f32x4.sub(f32x4.sub(m4, m8), m12), e1 = f32x4.sub(f32x4.sub(m5, m9), m13);
        const e2 = f32x4.sub(f32x4.sub(m6, m10), m14), e3 = f32x4.sub(f32x4.sub(m7, m11), m15);
        const y00 = act(f32x4.add(f32x4.mul(f32x4.add(f32x4.add(s0, s1), s2), sv), bv), relu);
        const y01 = act(f32x4.add(f32x4.mul(f32x4.sub(f32x4.sub(s1, s2), s3), sv), bv), relu);
        const y10 = act(f32x4.add(f32x4.mul(f32x4.add(f32x4.add(e0, e1), e2), sv), bv), relu);
        const y11 = act(f32x4.add(f32x4.mul(f32x4.sub(f32x4.sub(e1, e2), e3), sv), bv), relu);
        const row0 = yk + (<usize>(oh * outW + 2 * tc) << 2);
        v128.store(row0, v128.shuffle<f32>(y00, y01, 0, 4, 1, 5));
        v128.store(row0, v128.shuffle<f32>(y00, y01, 2, 6, 3, 7), 16);
        if (oh + 1 < outH) {
          const row1 = row0 + (<usize>outW << 2);
          v128.store(row1, v128.shuffle<f32>(y10, y11, 0, 4, 1, 5));
          v128.store(row1, v128.shuffle<f32>(y10, y11, 2, 6, 3, 7), 16);
        }
        t += 4;
      }
      for (; tc < tilesW; tc++) {
        const m = mBase + (<usize>(k * T + t) << 2);
        // A^T m: rows (s = sum of rows 0..2, e = row 1 - row 2 - row 3), each of 4 columns
        const m0 = f(m, 0), m1 = ld(m, 1, mPlane), m2 = ld(m, 2, mPlane), m3 = ld(m, 3, mPlane);
        const m4 = ld(m, 4, mPlane), m5 = ld(m, 5, mPlane), m6 = ld(m, 6, mPlane), m7 = ld(m, 7, mPlane);
        const m8 = ld(m, 8, mPlane), m9 = ld(m, 9, mPlane), m10 = ld(m, 10, mPlane), m11 = ld(m, 11, mPlane);
        const m12 = ld(m, 12, mPlane), m13 = ld(m, 13, mPlane), m14 = ld(m, 14, mPlane), m15 = ld(m, 15, mPlane);
        const s0 = m0 + m4 + m8, s1 = m1 + m5 + m9, s2 = m2 + m6 + m10, s3 = m3 + m7 + m11;
        const e0 = m4 - m8 - m12, e1 = m5 - m9 - m13, e2 = m6 - m10 - m14, e3 = m7 - m11 - m15;
        const ow = 2 * tc;
        const row0 = yk + (<usize>(oh * outW + ow) << 2);
        put(row0, (s0 + s1 + s2) * sc + b, relu);
        if (ow + 1 < outW) put(row0 + 4, (s1 - s2 - s3) * sc + b, relu);
        if (oh + 1 < outH) {
          const row1 = row0 + (<usize>outW << 2);
          put(row1, (e0 + e1 + e2) * sc + b, relu);
          if (ow + 1 < outW) put(row1 + 4, (e1 - e2 - e3) * sc + b, relu);
        }
        t++;
      }
    }
  }
}

/**
 * V[xi][c][t0 + t] = (B^T d B)[xi] for the 4x4 patch of tile t (tileRows rows
 * of tilesW tiles) in channel c of xp ([cin][rows][pitch], padded); V's rows
 * are ldT tiles long and its 16 matrices vPlane bytes apart.
 */
export function transformPatches(
  xp: usize, cin: i32, rows: i32, pitch: i32, tileRows: i32, tilesW: i32,
  vBase: usize, vPlane: usize, ldT: i32, t0: i32,
): void {
  for (let c = 0; c < cin; c++) {
    const xc = xp + (<usize>(c * rows * pitch) << 2);
    let t = t0;
    for (let tr = 0; tr < tileRows; tr++) {
      let tc = 0;
      // Four tiles side by side: the lanes are tiles, so V's four entries are one store.
      for (; tc + 4 <= tilesW; tc += 4) {
        const p = xc + (<usize>(2 * tr * pitch + 2 * tc) << 2);
        const rowB = <usize>pitch << 2;
        let d00: v128, d01: v128, d02: v128, d03: v128;
        let d10: v128, d11: v128, d12: v128, d13: v128;
        let d20: v128, d21: v128, d22: v128, d23: v128;
        let d30: v128, d31: v128, d32: v128, d33: v128;
        // Column j of the four patches: elements j, j+2, j+4, j+6 of the row.
        {
          const q = p;
          const l0 = v128.load(q), l1 = v128.load(q, 16), m0 = v128.load(q, 8), m1 = v128.load(q, 24);
          d00 = v128.shuffle<f32>(l0, l1, 0, 2, 4, 6); d01 = v128.shuffle<f32>(l0, l1, 1, 3, 5, 7);
          d02 = v128.shuffle<f32>(m0, m1, 0, 2, 4, 6); d03 = v128.shuffle<f32>(m0, m1, 1, 3, 5, 7);
        }
        {
          const q = p + rowB;
          const l0 = v128.load(q), l1 = v128.load(q, 16), m0 = v128.load(q, 8), m1 = v128.load(q, 24);
          d10 = v128.shuffle<f32>(l0, l1, 0, 2, 4, 6); d11 = v128.shuffle<f32>(l0, l1, 1, 3, 5, 7);
          d12 = v128.shuffle<f32>(m0, m1, 0, 2, 4, 6); d13 = v128.shuffle<f32>(m0, m1, 1, 3, 5, 7);
        }
        {
          const q = p + 2 * rowB;
          const l0 = v128.load(q), l1 = v128.load(q, 16), m0 = v128.load(q, 8), m1 = v128.load(q, 24);
          d20 = v128.shuffle<f32>(l0, l1, 0, 2, 4, 6); d21 = v128.shuffle<f32>(l0, l1, 1, 3, 5, 7);
          d22 = v128.shuffle<f32>(m0, m1, 0, 2, 4, 6); d23 = v128.shuffle<f32>(m0, m1, 1, 3, 5, 7);
        }
        {
          const q = p + 3 * rowB;
          const l0 = v128.load(q), l1 = v128.load(q, 16), m0 = v128.load(q, 8), m1 = v128.load(q, 24);
          d30 = v128.shuffle<f32>(l0, l1, 0, 2, 4, 6); d31 = v128.shuffle<f32>(l0, l1, 1, 3, 5, 7);
          d32 = v128.shuffle<f32>(m0, m1, 0, 2, 4, 6); d33 = v128.shuffle<f32>(m0, m1, 1, 3, 5, 7);
        }
        const v = vBase + (<usize>(c * ldT + t) << 2);
        storeV4(v, 0, vPlane, f32x4.sub(d00, d20), f32x4.sub(d01, d21), f32x4.sub(d02, d22), f32x4.sub(d03, d23));
        storeV4(v, 4, vPlane, f32x4.add(d10, d20), f32x4.add(d11, d21), f32x4.add(d12, d22), f32x4.add(d13, d23));
        storeV4(v, 8, vPlane, f32x4.sub(d20, d10), f32x4.sub(d21, d11), f32x4.sub(d22, d12), f32x4.sub(d23, d13));
        storeV4(v, 12, vPlane, f32x4.sub(d10, d30), f32x4.sub(d11, d31), f32x4.sub(d12, d32), f32x4.sub(d13, d33));
        t += 4;
      }
      for (; tc < tilesW; tc++) {
        const p = xc + (<usize>(2 * tr * pitch + 2 * tc) << 2);
        const r1 = p + (<usize>pitch << 2), r2 = r1 + (<usize>pitch << 2), r3 = r2 + (<usize>pitch << 2);
        // B^T d: rows
        const a0 = f(p, 0) - f(r2, 0), a1 = f(p, 1) - f(r2, 1), a2 = f(p, 2) - f(r2, 2), a3 = f(p, 3) - f(r2, 3);
        const b0 = f(r1, 0) + f(r2, 0), b1 = f(r1, 1) + f(r2, 1), b2 = f(r1, 2) + f(r2, 2), b3 = f(r1, 3) + f(r2, 3);
        const c0 = f(r2, 0) - f(r1, 0), c1 = f(r2, 1) - f(r1, 1), c2 = f(r2, 2) - f(r1, 2), c3 = f(r2, 3) - f(r1, 3);
        const d0 = f(r1, 0) - f(r3, 0), d1 = f(r1, 1) - f(r3, 1), d2 = f(r1, 2) - f(r3, 2), d3 = f(r1, 3) - f(r3, 3);
        const v = vBase + (<usize>(c * ldT + t) << 2);
        // (.) B: columns
        storeV(v, 0, vPlane, a0, a1, a2, a3);
        storeV(v, 4, vPlane, b0, b1, b2, b3);
        storeV(v, 8, vPlane, c0, c1, c2, c3);
        storeV(v, 12, vPlane, d0, d1, d2, d3);
        t++;
      }
    }
  }
}

// @ts-ignore: decorator
@inline function ld(m: usize, xi: i32, plane: usize): f32 {
  return load<f32>(m + <usize>xi * plane);
}

// @ts-ignore: decorator
@inline function put(p: usize, v: f32, relu: bool): void {
  store<f32>(p, relu && !(v > 0) && v == v ? 0 : v);
}

/** Stores row i of V = (B^T d) B: v[i][0..3] from that row's a, b, c, d. */
// @ts-ignore: decorator
@inline function storeV(v: usize, xi0: i32, plane: usize, x0: f32, x1: f32, x2: f32, x3: f32): void {
  store<f32>(v + <usize>xi0 * plane, x0 - x2);
  store<f32>(v + <usize>(xi0 + 1) * plane, x1 + x2);
  store<f32>(v + <usize>(xi0 + 2) * plane, x2 - x1);
  store<f32>(v + <usize>(xi0 + 3) * plane, x1 - x3);
}

// @ts-ignore: decorator
@inline function ldv(m: usize, xi: i32, plane: usize): v128 {
  return v128.load(m + <usize>xi * plane);
}

/** max(0, v) keeping NaN, when relu. */
// @ts-ignore: decorator
@inline function act(v: v128, relu: bool): v128 {
  if (!relu) return v;
  const zero = f32x4.splat(0);
  return v128.bitselect(v, zero, v128.or(f32x4.gt(v, zero), f32x4.ne(v, v)));
}

/** Row i of V for four tiles: (B^T d) B with lanes = tiles. */
// @ts-ignore: decorator
@inline function storeV4(v: usize, xi0: i32, plane: usize, x0: v128, x1: v128, x2: v128, x3: v128): void {
  v128.store(v + <usize>xi0 * plane, f32x4.sub(x0, x2));
  v128.store(v + <usize>(xi0 + 1) * plane, f32x4.add(x1, x2));
  v128.store(v + <usize>(xi0 + 2) * plane, f32x4.sub(x2, x1));
  v128.store(v + <usize>(xi0 + 3) * plane, f32x4.sub(x1, x3));
}
