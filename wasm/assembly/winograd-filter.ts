// Winograd F(2x2, 3x3) for the filter gradient of a 3x3, stride-1,
// undilated, ungrouped convolution. The forward pass of one 2x2 output tile
// is y = A^T [(G g G^T) . (B^T d B)] A; its adjoint in g is
//
//   dg = G^T [(A dy A^T) . (B^T d B)] G
//
// so with V = B^T d B (winograd.ts) and E = A dy A^T (the 4x4 transform of a
// 2x2 tile of dy) the filter gradient is 16 GEMMs S[xi] += E[xi] V[xi]^T
// (cout x tiles times tiles x cin), summed over every tile of every image,
// then dW = G^T S G once per (output, input) channel pair: 16 multiplications
// per tile and channel pair instead of 36.
//
//   A = [1 0; 1 1; 1 -1; 0 -1]   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//
// Runs of consecutive tile rows over the whole batch (a run may span images)
// give small images' GEMMs many tiles; fixed ranges of runs, each summed in
// its own part, keep the sums' order independent of the threads.
import { sgemm } from "./gemm";
import { claim, blockStart } from "./work";
import { zeroFloats } from "./simd";
import { padRows } from "./direct";
import { transformPatches } from "./winograd";
import { transformPatches6, transformGradients4 } from "./winograd4";
import { planeFloats, winogradPitch, gradientPitch, segmentRows } from "./winograd-layout";
import {
  direct_batch, direct_cin, direct_hin, direct_win, direct_cout, direct_offH, direct_offW, direct_outH, direct_outW, direct_bands,
  direct_slots, direct_kBlocks,
} from "./abi.generated";

// @ts-ignore: decorator
@inline function f(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

/**
 * One thread's share of S[P][cout][cin] = sum of E[xi] V[xi]^T and of the
 * bias gradient, in a fixed order whatever the threads do: the runs of tile
 * rows are cut into `slots` fixed ranges, each summed in order into its own
 * part (slot s at parts + s * partStride: S's floats, then the bias's), which
 * the caller adds in slot order (reduceParts) and transforms with
 * winogradFilterOut or winograd4FilterOut. Work items are (slot, block of
 * output channels); each item zeroes its rows of its slot's part first.
 * m: output tile size, 2 (P = 16) or 4 (F(4x4, 3x3), P = 36, the transforms
 * of winograd4.ts).
 * scratch: gemm packing area (gemmBytes), then V, E, padded x rows, padded dy
 * rows, and 72 vectors for the 6x6 transforms.
 */
export function winogradFilterGrad(
  g: usize, x: usize, dy: usize, parts: usize, partStride: usize, sFloats: i32, hasBias: bool,
  scratch: usize, gemmBytes: usize, m: i32, counter: usize,
): void {
  const N = direct_batch(g), cin = direct_cin(g), H = direct_hin(g), W = direct_win(g), cout = direct_cout(g);
  const offH = direct_offH(g), offW = direct_offW(g), outH = direct_outH(g), outW = direct_outW(g);
  const runRows = direct_bands(g); // tile rows per run
  const slots = direct_slots(g), kBlocks = direct_kBlocks(g);
  const P = (m + 2) * (m + 2);
  const tilesH = (outH + m - 1) / m, tilesW = (outW + m - 1) / m;
  const totalRows = N * tilesH;
  const runs = (totalRows + runRows - 1) / runRows;
  const segRows = segmentRows(g, m);
  const pitch = winogradPitch(m, tilesW), pitchY = gradientPitch(m, tilesW);
  const maxT = runRows * tilesW;
  const vBase = scratch + gemmBytes;
  const eBase = vBase + (<usize>(P * planeFloats(cin * maxT)) << 2);
  const xp = eBase + (<usize>(P * planeFloats(cout * maxT)) << 2);
  const yp = xp + (<usize>(cin * (m * segRows + 2) * pitch) << 2);
  const tmp = (yp + (<usize>(cout * m * segRows * pitchY) << 2) + 15) & ~15;
  const plane = outH * outW;
  const sPlane = <usize>planeFloats(cout * cin) << 2;
  const items = slots * kBlocks;
  for (let it = claim(counter); it < items; it = claim(counter)) {
    const slot = it / kBlocks, blk = it % kBlocks;
    const k0 = blockStart(cout, blk, kBlocks), k1 = blockStart(cout, blk + 1, kBlocks);
    if (k1 <= k0) continue;
    const kn = k1 - k0;
    const s = parts + <usize>slot * partStride;
    const db = hasBias ? s + (<usize>sFloats << 2) : 0;
    for (let xi = 0; xi < P; xi++) zeroFloats(s + <usize>xi * sPlane + (<usize>(k0 * cin) << 2), kn * cin);
    if (db != 0) zeroFloats(db + (<usize>k0 << 2), kn);
    const run1 = (runs * (slot + 1)) / slots;
    for (let run = (runs * slot) / slots; run < run1; run++) {
      const r0 = run * runRows, r1 = min(totalRows, r0 + runRows);
      const T = (r1 - r0) * tilesW;
      const vPlane = <usize>planeFloats(cin * T) << 2, ePlane = <usize>planeFloats(kn * T) << 2;
      // Transform each image's share of the run into columns [t, t + its tiles) of V and E.
      let t = 0;
      for (let r = r0; r < r1;) {
        const n = r / tilesH, tr0 = r % tilesH, tr1 = min(tilesH, tr0 + (r1 - r));
        const rows = m * (tr1 - tr0);
        padRows(x + (<usize>(n * cin * H * W) << 2), cin, H, W, offH, offW, m * tr0, rows + 2, pitch, xp);
        padRows(dy + (<usize>((n * cout + k0) * plane) << 2), kn, outH, outW, 0, 0, m * tr0, rows, pitchY, yp);
        if (m == 4) {
          transformPatches6(xp, cin, rows + 2, pitch, tr1 - tr0, tilesW, vBase, vPlane, T, t, tmp);
          transformGradients4(yp, kn, rows, pitchY, tr1 - tr0, tilesW, eBase, ePlane, T, t, tmp);
        } else {
          transformPatches(xp, cin, rows + 2, pitch, tr1 - tr0, tilesW, vBase, vPlane, T, t);
          transformGradients(yp, kn, rows, pitchY, tr1 - tr0, tilesW, eBase, ePlane, T, t);
        }
        t += (tr1 - tr0) * tilesW;
        r += tr1 - tr0;
      }
      // S[xi] (rows k0..k1 of cout x cin) += E[xi] (kn x T) * V[xi]^T (T x cin)
      for (let xi = 0; xi < P; xi++) {
        sgemm(kn, cin, T, eBase + <usize>xi * ePlane, T, false, vBase + <usize>xi * vPlane, T, true,
          s + <usize>xi * sPlane + (<usize>(k0 * cin) << 2), cin, true, scratch);
      }
      // The bias gradient is the sum of dy: E[5] = a + b + c + d of each 2x2 tile
      // (E[7], row and column 1 of A being all ones, for 4x4 tiles).
      if (db != 0) {
        const e5 = eBase + <usize>(m == 4 ? 7 : 5) * ePlane;
        for (let k = 0; k < kn; k++) {
          const ek = e5 + (<usize>(k * T) << 2);
          let acc = f32x4.splat(0);
          let i = 0;
          for (; i + 4 <= T; i += 4) acc = f32x4.add(acc, v128.load(ek + (<usize>i << 2)));
          let sum = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
          for (; i < T; i++) sum += f(ek, i);
          const p = db + (<usize>(k0 + k) << 2);
          store<f32>(p, load<f32>(p) + sum);
        }
      }
    }
  }
}

/**
 * E[xi][k][t0 + t] = (A dy A^T)[xi] for the 2x2 tile t of channel k of yp
 * ([cout][rows][pitch], zero-padded to whole tiles).
 */
function transformGradients(
  yp: usize, cout: i32, rows: i32, pitch: i32, tileRows: i32, tilesW: i32,
  eBase: usize, ePlane: usize, ldT: i32, t0: i32,
): void {
  const rowB = <usize>pitch << 2;
  for (let k = 0; k < cout; k++) {
    const yk = yp + (<usize>(k * rows * pitch) << 2);
    let t = t0;
    for (let tr = 0; tr < tileRows; tr++) {
      const p0 = yk + (<usize>(2 * tr) * rowB);
      let tc = 0;
      // Four tiles side by side: the lanes are tiles.
      for (; tc + 4 <= tilesW; tc += 4) {
        const p = p0 + (<usize>(2 * tc) << 2);
        const l0 = v128.load(p), l1 = v128.load(p, 16), h0 = v128.load(p + rowB), h1 = v128.load(p + rowB, 16);
        // Tile [[a, b], [c, d]]: even and odd columns of the two rows.
        const a = v128.shuffle<f32>(l0, l1, 0, 2, 4, 6), b = v128.shuffle<f32>(l0, l1, 1, 3, 5, 7);
        const c = v128.shuffle<f32>(h0, h1, 0, 2, 4, 6), d = v128.shuffle<f32>(h0, h1, 1, 3, 5, 7);
        const e = eBase + (<usize>(k * ldT + t) << 2);
        // Rows of A dy: (a, b), (a + c, b + d), (a - c, b - d), (-c, -d); then each times A^T.
        storeE4(e, 0, ePlane, a, b);
        storeE4(e, 4, ePlane, f32x4.add(a, c), f32x4.add(b, d));
        storeE4(e, 8, ePlane, f32x4.sub(a, c), f32x4.sub(b, d));
        storeE4(e, 12, ePlane, f32x4.neg(c), f32x4.neg(d));
        t += 4;
      }
      for (; tc < tilesW; tc++) {
        const p = p0 + (<usize>(2 * tc) << 2);
        const a = f(p, 0), b = f(p, 1), c = f(p + rowB, 0), d = f(p + rowB, 1);
        const e = eBase + (<usize>(k * ldT + t) << 2);
        storeE(e, 0, ePlane, a, b);
        storeE(e, 4, ePlane, a + c, b + d);
        storeE(e, 8, ePlane, a - c, b - d);
        storeE(e, 12, ePlane, -c, -d);
        t++;
      }
    }
  }
}

/** Row i of E = (A dy) A^T from that row's two entries (p, q): p, p + q, p - q, -q. */
// @ts-ignore: decorator
@inline function storeE(e: usize, xi0: i32, plane: usize, p: f32, q: f32): void {
  store<f32>(e + <usize>xi0 * plane, p);
  store<f32>(e + <usize>(xi0 + 1) * plane, p + q);
  store<f32>(e + <usize>(xi0 + 2) * plane, p - q);
  store<f32>(e + <usize>(xi0 + 3) * plane, -q);
}

// @ts-ignore: decorator
@inline function storeE4(e: usize, xi0: i32, plane: usize, p: v128, q: v128): void {
  v128.store(e + <usize>xi0 * plane, p);
  v128.store(e + <usize>(xi0 + 1) * plane, f32x4.add(p, q));
  v128.store(e + <usize>(xi0 + 2) * plane, f32x4.sub(p, q));
  v128.store(e + <usize>(xi0 + 3) * plane, f32x4.neg(q));
}

/**
 * One thread's share of dw[k][c] += G^T S[.][k][c] G (and db += the summed
 * bias part); items are output channels.
 */
export function winogradFilterOut(s: usize, sb: usize, dw: usize, db: usize, cout: i32, cin: i32, counter: usize): void {
  const plane = <usize>planeFloats(cout * cin) << 2;
  for (let k = claim(counter); k < cout; k = claim(counter)) {
    for (let c = 0; c < cin; c++) {
      const m = s + (<usize>(k * cin + c) << 2);
      // G^T S (3x4), column by column: S0j + (S1j + S2j) / 2, (S1j - S2j) / 2, (S1j + S2j) / 2 + S3j.
      const a0 = ls(m, 0, plane), a1 = ls(m, 1, plane), a2 = ls(m, 2, plane), a3 = ls(m, 3, plane);
      const b0 = ls(m, 4, plane), b1 = ls(m, 5, plane), b2 = ls(m, 6, plane), b3 = ls(m, 7, plane);
      const c0 = ls(m, 8, plane), c1 = ls(m, 9, plane), c2 = ls(m, 10, plane), c3 = ls(m, 11, plane);
      const d0 = ls(m, 12, plane), d1 = ls(m, 13, plane), d2 = ls(m, 14, plane), d3 = ls(m, 15, plane);
      const h0 = (b0 + c0) * 0.5, h1 = (b1 + c1) * 0.5, h2 = (b2 + c2) * 0.5, h3 = (b3 + c3) * 0.5;
      const u0 = a0 + h0, u1 = a1 + h1, u2 = a2 + h2, u3 = a3 + h3;
      const v0 = (b0 - c0) * 0.5, v1 = (b1 - c1) * 0.5, v2 = (b2 - c2) * 0.5, v3 = (b3 - c3) * 0.5;
      const w0 = h0 + d0, w1 = h1 + d1, w2 = h2 + d2, w3 = h3 + d3;
      // Rows times G: (r0 + (r1 + r2) / 2, (r1 - r2) / 2, (r1 + r2) / 2 + r3).
      const o = dw + (<usize>((k * cin + c) * 9) << 2);
      addRow(o, 0, u0, u1, u2, u3);
      addRow(o, 3, v0, v1, v2, v3);
      addRow(o, 6, w0, w1, w2, w3);
    }
    if (db != 0) {
      const p = db + (<usize>k << 2);
      store<f32>(p, load<f32>(p) + load<f32>(sb + (<usize>k << 2)));
    }
  }
}

// @ts-ignore: decorator
@inline function ls(m: usize, xi: i32, plane: usize): f32 {
  return load<f32>(m + <usize>xi * plane);
}

// @ts-ignore: decorator
@inline function addRow(o: usize, i0: i32, r0: f32, r1: f32, r2: f32, r3: f32): void {
  const h = (r1 + r2) * 0.5;
  const p0 = o + (<usize>i0 << 2);
  store<f32>(p0, load<f32>(p0) + r0 + h);
  store<f32>(p0 + 4, load<f32>(p0 + 4) + (r1 - r2) * 0.5);
  store<f32>(p0 + 8, load<f32>(p0 + 8) + h + r3);
}
