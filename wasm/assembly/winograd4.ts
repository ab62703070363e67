// The transforms of Winograd F(4x4, 3x3) (Lavin and Gray, 2015): each 4x4
// block of outputs from a 6x6 input patch with 36 multiplications per
// (input, output) channel pair instead of 144, i.e. 2.25 per output against
// F(2x2, 3x3)'s 4. The larger transforms cost more additions and lose some
// float32 accuracy (their constants reach 8 and 1/24). winogradConv
// (winograd.ts) runs the 36 GEMMs between them for forward and backward data,
// winogradFilterGrad (winograd-filter.ts) those of the filter gradient.
//
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
//
// Vectors hold four tiles side by side; a partial group at the end of a tile
// row is computed in full (from zero padding) and stored lane by lane.
import { claim } from "./work";
import { planeFloats, scatter4, CHANNEL_LANE_TILES } from "./winograd-layout";

/**
 * U[0..35] = G g G^T for four filters (one per lane) from their taps g0..g8,
 * stored `plane` bytes apart from dst: F(4x4, 3x3)'s filter transform
 * (winogradFilters in winograd.ts runs it over every filter).
 */
// @ts-ignore: decorator
@inline export function transformFilter4(
  dst: usize, offs: v128, plane: usize, g0: v128, g1: v128, g2: v128, g3: v128, g4: v128, g5: v128, g6: v128, g7: v128, g8: v128,
): void {
  // Rows i of t = G g (6x3), each stored as row i of U = t G^T.
  const q4 = f32x4.splat(0.25);
  filterRow4(dst, offs, 0, plane, f32x4.mul(g0, q4), f32x4.mul(g1, q4), f32x4.mul(g2, q4));
  filterRow4(dst, offs, 6, plane, gMinus(g0, g3, g6, 1), gMinus(g1, g4, g7, 1), gMinus(g2, g5, g8, 1));
  filterRow4(dst, offs, 12, plane, gMinus(g0, g3, g6, -1), gMinus(g1, g4, g7, -1), gMinus(g2, g5, g8, -1));
  filterRow4(dst, offs, 18, plane, gPlus(g0, g3, g6, 1), gPlus(g1, g4, g7, 1), gPlus(g2, g5, g8, 1));
  filterRow4(dst, offs, 24, plane, gPlus(g0, g3, g6, -1), gPlus(g1, g4, g7, -1), gPlus(g2, g5, g8, -1));
  filterRow4(dst, offs, 30, plane, g6, g7, g8);
}

/** Rows 1 and 2 of G (sign = 1, -1) times (a, b, c): -(a + b + c) / 6 and -(a - b + c) / 6. */
// @ts-ignore: decorator
@inline function gMinus(a: v128, b: v128, c: v128, sign: i32): v128 {
  const ac = f32x4.add(a, c);
  return f32x4.mul(sign > 0 ? f32x4.add(ac, b) : f32x4.sub(ac, b), f32x4.splat(-SIXTH));
}

/** Rows 3 and 4 of G (sign = 1, -1) times (a, b, c): a/24 + b/12 + c/6 and a/24 - b/12 + c/6. */
// @ts-ignore: decorator
@inline function gPlus(a: v128, b: v128, c: v128, sign: i32): v128 {
  const ac = f32x4.add(f32x4.mul(a, f32x4.splat(TWENTYFOURTH)), f32x4.mul(c, f32x4.splat(SIXTH)));
  const b12 = f32x4.mul(b, f32x4.splat(TWELFTH));
  return sign > 0 ? f32x4.add(ac, b12) : f32x4.sub(ac, b12);
}

/** U[xi0 .. xi0 + 5] = G (a, b, c) for four filters: one row of U. */
// @ts-ignore: decorator
@inline function filterRow4(dst: usize, offs: v128, xi0: i32, plane: usize, a: v128, b: v128, c: v128): void {
  scatter4(dst + <usize>xi0 * plane, offs, f32x4.mul(a, f32x4.splat(0.25)));
  scatter4(dst + <usize>(xi0 + 1) * plane, offs, gMinus(a, b, c, 1));
  scatter4(dst + <usize>(xi0 + 2) * plane, offs, gMinus(a, b, c, -1));
  scatter4(dst + <usize>(xi0 + 3) * plane, offs, gPlus(a, b, c, 1));
  scatter4(dst + <usize>(xi0 + 4) * plane, offs, gPlus(a, b, c, -1));
  scatter4(dst + <usize>(xi0 + 5) * plane, offs, c);
}

const SIXTH: f32 = 1.0 / 6, TWELFTH: f32 = 1.0 / 12, TWENTYFOURTH: f32 = 1.0 / 24;

/** B^T x for six vectors, written to out[0..5] at the given byte step. */
// @ts-ignore: decorator
@inline function inputT(x0: v128, x1: v128, x2: v128, x3: v128, x4: v128, x5: v128, out: usize, step: usize): void {
  const four = f32x4.splat(4), five = f32x4.splat(5), two = f32x4.splat(2);
  const x4m2 = f32x4.sub(x4, x2), d31 = f32x4.mul(two, f32x4.sub(x3, x1));
  v128.store(out, f32x4.add(f32x4.sub(f32x4.mul(four, x0), f32x4.mul(five, x2)), x4));
  v128.store(out + step, f32x4.sub(f32x4.add(x3, x4), f32x4.mul(four, f32x4.add(x1, x2))));
  v128.store(out + 2 * step, f32x4.add(f32x4.sub(x4, x3), f32x4.mul(four, f32x4.sub(x1, x2))));
  v128.store(out + 3 * step, f32x4.add(x4m2, d31));
  v128.store(out + 4 * step, f32x4.sub(x4m2, d31));
  v128.store(out + 5 * step, f32x4.add(f32x4.sub(f32x4.mul(four, x1), f32x4.mul(five, x3)), x5));
}

/** Stores the first n lanes of v (n = 4: one vector store). */
// @ts-ignore: decorator
@inline function storeLanes(p: usize, v: v128, n: i32): void {
  if (n >= 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/**
 * V[xi][c][t0 + t] = (B^T d B)[xi] for the 6x6 patch of tile t (tileRows rows of
 * tilesW tiles, 4 pixels apart) in channel c of xp ([cin][rows][pitch],
 * padded, pitch >= 4 * tilesW rounded up to 16, plus 4). V's rows are ldT
 * tiles long and its 36 matrices vPlane bytes apart; tmp: 36 vectors.
 */
export function transformPatches6(
  xp: usize, cin: i32, rows: i32, pitch: i32, tileRows: i32, tilesW: i32,
  vBase: usize, vPlane: usize, ldT: i32, t0: i32, tmp: usize,
): void {
  if (tilesW <= CHANNEL_LANE_TILES) {
    transformPatches6Channels(xp, cin, rows, pitch, tileRows, tilesW, vBase, vPlane, ldT, t0, tmp);
    return;
  }
  const rowB = <usize>pitch << 2;
  for (let c = 0; c < cin; c++) {
    const xc = xp + (<usize>(c * rows * pitch) << 2);
    let t = t0;
    for (let tr = 0; tr < tileRows; tr++) {
      for (let tc = 0; tc < tilesW; tc += 4) {
        const n = min(4, tilesW - tc);
        const p = xc + <usize>(4 * tr) * rowB + (<usize>(4 * tc) << 2);
        // Each of the 6 rows: columns j of the four patches are elements 4l + j
        // (a 4x4 transpose of the row's first 16 elements, and of 4..19 for j = 4, 5);
        // then (d B) along the row into tmp[r][j].
        for (let r = 0; r < 6; r++) {
          const q = p + <usize>r * rowB;
          const a0 = v128.load(q), a1 = v128.load(q, 16), a2 = v128.load(q, 32), a3 = v128.load(q, 48), a4 = v128.load(q, 64);
          const lo01 = v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), lo23 = v128.shuffle<f32>(a2, a3, 0, 4, 1, 5);
          const hi01 = v128.shuffle<f32>(a0, a1, 2, 6, 3, 7), hi23 = v128.shuffle<f32>(a2, a3, 2, 6, 3, 7);
          const d0 = v128.shuffle<f32>(lo01, lo23, 0, 1, 4, 5), d1 = v128.shuffle<f32>(lo01, lo23, 2, 3, 6, 7);
          const d2 = v128.shuffle<f32>(hi01, hi23, 0, 1, 4, 5), d3 = v128.shuffle<f32>(hi01, hi23, 2, 3, 6, 7);
          const lo12 = v128.shuffle<f32>(a1, a2, 0, 4, 1, 5), lo34 = v128.shuffle<f32>(a3, a4, 0, 4, 1, 5);
          const d4 = v128.shuffle<f32>(lo12, lo34, 0, 1, 4, 5), d5 = v128.shuffle<f32>(lo12, lo34, 2, 3, 6, 7);
          inputT(d0, d1, d2, d3, d4, d5, tmp + (<usize>(6 * r) << 4), 16);
        }
        // B^T (d B) down each column j: V[6i + j].
        const v = vBase + (<usize>(c * ldT + t) << 2);
        for (let j = 0; j < 6; j++) {
          const s = tmp + (<usize>j << 4);
          inputT(v128.load(s), v128.load(s, 96), v128.load(s, 192), v128.load(s, 288), v128.load(s, 384), v128.load(s, 480),
            tmp + 576 + (<usize>j << 4), 96);
        }
        for (let xi = 0; xi < 36; xi++) storeLanes(v + <usize>xi * vPlane, v128.load(tmp + 576 + (<usize>xi << 4)), n);
        t += n;
      }
    }
  }
}

/** Lane l of v (l < lanes) at p + l * step bytes: one value into each of up to four channels' rows. */
// @ts-ignore: decorator
@inline function storeChannels(p: usize, step: usize, v: v128, lanes: i32): void {
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (lanes > 1) store<f32>(p + step, f32x4.extract_lane(v, 1));
  if (lanes > 2) store<f32>(p + 2 * step, f32x4.extract_lane(v, 2));
  if (lanes > 3) store<f32>(p + 3 * step, f32x4.extract_lane(v, 3));
}

/**
 * transformPatches6 for rows of one or two tiles (images up to 8 pixels
 * wide), four channels per vector instead of four tiles: each lane computes
 * what it would have as a tile lane, so V holds the same bits. Each patch
 * row is read as two vectors from its start (pitch >= 4 * tilesW + 4).
 */
function transformPatches6Channels(
  xp: usize, cin: i32, rows: i32, pitch: i32, tileRows: i32, tilesW: i32,
  vBase: usize, vPlane: usize, ldT: i32, t0: i32, tmp: usize,
): void {
  const rowB = <usize>pitch << 2, chB = <usize>(rows * pitch) << 2, ldB = <usize>ldT << 2;
  for (let c0 = 0; c0 < cin; c0 += 4) {
    const lanes = min(4, cin - c0);
    for (let tr = 0; tr < tileRows; tr++) {
      for (let tc = 0; tc < tilesW; tc++) {
        // Lanes past the last channel read it again; they are not stored.
        const p0 = xp + <usize>c0 * chB + <usize>(4 * tr) * rowB + (<usize>(4 * tc) << 2);
        const p1 = lanes > 1 ? p0 + chB : p0, p2 = lanes > 2 ? p0 + 2 * chB : p0, p3 = lanes > 3 ? p0 + 3 * chB : p0;
        for (let r = 0; r < 6; r++) {
          const o = <usize>r * rowB;
          const a0 = v128.load(p0 + o), a1 = v128.load(p1 + o), a2 = v128.load(p2 + o), a3 = v128.load(p3 + o);
          // Columns 0-3 of the four channels' rows by a 4x4 transpose, 4-5 from the second vectors.
          const lo01 = v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), lo23 = v128.shuffle<f32>(a2, a3, 0, 4, 1, 5);
          const hi01 = v128.shuffle<f32>(a0, a1, 2, 6, 3, 7), hi23 = v128.shuffle<f32>(a2, a3, 2, 6, 3, 7);
          const d0 = v128.shuffle<f32>(lo01, lo23, 0, 1, 4, 5), d1 = v128.shuffle<f32>(lo01, lo23, 2, 3, 6, 7);
          const d2 = v128.shuffle<f32>(hi01, hi23, 0, 1, 4, 5), d3 = v128.shuffle<f32>(hi01, hi23, 2, 3, 6, 7);
          const e01 = v128.shuffle<f32>(v128.load(p0 + o, 16), v128.load(p1 + o, 16), 0, 4, 1, 5);
          const e23 = v128.shuffle<f32>(v128.load(p2 + o, 16), v128.load(p3 + o, 16), 0, 4, 1, 5);
          const d4 = v128.shuffle<f32>(e01, e23, 0, 1, 4, 5), d5 = v128.shuffle<f32>(e01, e23, 2, 3, 6, 7);
          inputT(d0, d1, d2, d3, d4, d5, tmp + (<usize>(6 * r) << 4), 16);
        }
        for (let j = 0; j < 6; j++) {
          const s = tmp + (<usize>j << 4);
          inputT(v128.load(s), v128.load(s, 96), v128.load(s, 192), v128.load(s, 288), v128.load(s, 384), v128.load(s, 480),
            tmp + 576 + (<usize>j << 4), 96);
        }
        // Lane l is channel c0 + l's row of V, ldT floats after lane l - 1's.
        const v = vBase + (<usize>(c0 * ldT + t0 + tr * tilesW + tc) << 2);
        for (let xi = 0; xi < 36; xi++) storeChannels(v + <usize>xi * vPlane, ldB, v128.load(tmp + 576 + (<usize>xi << 4)), lanes);
      }
    }
  }
}

/** A^T m for six vectors: four results written at the given byte step. */
// @ts-ignore: decorator
@inline function outputT(m0: v128, m1: v128, m2: v128, m3: v128, m4: v128, m5: v128, out: usize, step: usize): void {
  const s12 = f32x4.add(m1, m2), d12 = f32x4.sub(m1, m2), s34 = f32x4.add(m3, m4), d34 = f32x4.sub(m3, m4);
  v128.store(out, f32x4.add(f32x4.add(m0, s12), s34));
  v128.store(out + step, f32x4.add(d12, f32x4.mul(f32x4.splat(2), d34)));
  v128.store(out + 2 * step, f32x4.add(s12, f32x4.mul(f32x4.splat(4), s34)));
  v128.store(out + 3 * step, f32x4.add(f32x4.add(d12, f32x4.mul(f32x4.splat(8), d34)), m5));
}

/** max(0, v) keeping NaN, when relu. */
// @ts-ignore: decorator
@inline function act(v: v128, relu: bool): v128 {
  if (!relu) return v;
  const zero = f32x4.splat(0);
  return v128.bitselect(v, zero, v128.or(f32x4.gt(v, zero), f32x4.ne(v, v)));
}

/**
 * Y = A^T M A times the per-channel scale (when scale != 0), plus bias, and
 * ReLU, for tile rows [tr0, tr1) of one image's
 * output yn ([cout][outH][outW]) from columns [t0, ...) of M; M's rows are T tiles long, its 36 matrices
 * mPlane bytes apart (readable a vector past the last tile). tmp: 48 vectors.
 */
export function outputTiles4(
  mBase: usize, mPlane: usize, T: i32, t0: i32, tr0: i32, tr1: i32, tilesW: i32,
  yn: usize, cout: i32, outH: i32, outW: i32, bias: usize, relu: bool, scale: usize, tmp: usize,
): void {
  if (tilesW <= CHANNEL_LANE_TILES) {
    outputTiles4Channels(mBase, mPlane, T, t0, tr0, tr1, tilesW, yn, cout, outH, outW, bias, relu, scale, tmp);
    return;
  }
  const plane = outH * outW;
  for (let k = 0; k < cout; k++) {
    const bv = f32x4.splat(bias != 0 ? load<f32>(bias + (<usize>k << 2)) : 0);
    const sv = f32x4.splat(scale != 0 ? load<f32>(scale + (<usize>k << 2)) : 1);
    const yk = yn + (<usize>(k * plane) << 2);
    let t = t0;
    for (let tr = tr0; tr < tr1; tr++) {
      for (let tc = 0; tc < tilesW; tc += 4) {
        const n = min(4, tilesW - tc);
        const m = mBase + (<usize>(k * T + t) << 2);
        // A^T M down each column j into tmp[i][j] (4x6).
        for (let j = 0; j < 6; j++) {
          outputT(v128.load(m + <usize>j * mPlane), v128.load(m + <usize>(6 + j) * mPlane), v128.load(m + <usize>(12 + j) * mPlane),
            v128.load(m + <usize>(18 + j) * mPlane), v128.load(m + <usize>(24 + j) * mPlane), v128.load(m + <usize>(30 + j) * mPlane),
            tmp + (<usize>j << 4), 96);
        }
        // (.) A along each row i into tmp[24 + 4i + j], then four tiles' row segments by a transpose.
        for (let i = 0; i < 4; i++) {
          const s = tmp + (<usize>(6 * i) << 4);
          const o = tmp + 384 + (<usize>(4 * i) << 4);
          outputT(v128.load(s), v128.load(s, 16), v128.load(s, 32), v128.load(s, 48), v128.load(s, 64), v128.load(s, 80), o, 16);
          const oh = 4 * tr + i;
          if (oh >= outH) continue;
          const y0 = act(f32x4.add(f32x4.mul(v128.load(o), sv), bv), relu);
          const y1 = act(f32x4.add(f32x4.mul(v128.load(o, 16), sv), bv), relu);
          const y2 = act(f32x4.add(f32x4.mul(v128.load(o, 32), sv), bv), relu);
          const y3 = act(f32x4.add(f32x4.mul(v128.load(o, 48), sv), bv), relu);
          // Lane l of y_j is tile l's column j: transpose to tile l's four columns.
          const lo01 = v128.shuffle<f32>(y0, y1, 0, 4, 1, 5), lo23 = v128.shuffle<f32>(y2, y3, 0, 4, 1, 5);
          const hi01 = v128.shuffle<f32>(y0, y1, 2, 6, 3, 7), hi23 = v128.shuffle<f32>(y2, y3, 2, 6, 3, 7);
          const row = yk + (<usize>(oh * outW + 4 * tc) << 2);
          // Tile l's segment: its first min(4, outW - its column) pixels.
          storeLanes(row, v128.shuffle<f32>(lo01, lo23, 0, 1, 4, 5), outW - 4 * tc);
          if (n > 1) storeLanes(row + 16, v128.shuffle<f32>(lo01, lo23, 2, 3, 6, 7), outW - 4 * tc - 4);
          if (n > 2) storeLanes(row + 32, v128.shuffle<f32>(hi01, hi23, 0, 1, 4, 5), outW - 4 * tc - 8);
          if (n > 3) storeLanes(row + 48, v128.shuffle<f32>(hi01, hi23, 2, 3, 6, 7), outW - 4 * tc - 12);
        }
        t += n;
      }
    }
  }
}


/**
 * Four floats `step` bytes apart as one vector (lanes past `lanes` repeat
 * lane 0, and are not stored by the callers).
 */
// @ts-ignore: decorator
@inline function gather4(p: usize, step: usize, lanes: i32): v128 {
  let v = f32x4.splat(load<f32>(p));
  if (lanes > 1) v = f32x4.replace_lane(v, 1, load<f32>(p + step));
  if (lanes > 2) v = f32x4.replace_lane(v, 2, load<f32>(p + 2 * step));
  if (lanes > 3) v = f32x4.replace_lane(v, 3, load<f32>(p + 3 * step));
  return v;
}

/** Per-channel values of channels k .. k + lanes - 1 of an array (fallback where it is 0: no array). */
// @ts-ignore: decorator
@inline function channelValues(a: usize, k: i32, lanes: i32, fallback: f32): v128 {
  return a != 0 ? gather4(a + (<usize>k << 2), 4, lanes) : f32x4.splat(fallback);
}

/**
 * outputTiles4 for rows of one or two tiles (images up to 8 pixels wide),
 * four output channels per vector instead of four tiles: every element goes
 * through the same operations as before, so the outputs keep their bits.
 */
function outputTiles4Channels(
  mBase: usize, mPlane: usize, T: i32, t0: i32, tr0: i32, tr1: i32, tilesW: i32,
  yn: usize, cout: i32, outH: i32, outW: i32, bias: usize, relu: bool, scale: usize, tmp: usize,
): void {
  const plane = outH * outW, kB = <usize>T << 2;
  for (let k0 = 0; k0 < cout; k0 += 4) {
    const lanes = min(4, cout - k0);
    const bv = channelValues(bias, k0, lanes, 0), sv = channelValues(scale, k0, lanes, 1);
    let t = t0;
    for (let tr = tr0; tr < tr1; tr++) {
      for (let tc = 0; tc < tilesW; tc++) {
        const m = mBase + (<usize>(k0 * T + t) << 2);
        // A^T M down each column j into tmp[i][j] (4x6), a channel per lane.
        for (let j = 0; j < 6; j++) {
          outputT(gather4(m + <usize>j * mPlane, kB, lanes), gather4(m + <usize>(6 + j) * mPlane, kB, lanes),
            gather4(m + <usize>(12 + j) * mPlane, kB, lanes), gather4(m + <usize>(18 + j) * mPlane, kB, lanes),
            gather4(m + <usize>(24 + j) * mPlane, kB, lanes), gather4(m + <usize>(30 + j) * mPlane, kB, lanes),
            tmp + (<usize>j << 4), 96);
        }
        for (let i = 0; i < 4; i++) {
          const s = tmp + (<usize>(6 * i) << 4);
          const o = tmp + 384 + (<usize>(4 * i) << 4);
          outputT(v128.load(s), v128.load(s, 16), v128.load(s, 32), v128.load(s, 48), v128.load(s, 64), v128.load(s, 80), o, 16);
          const oh = 4 * tr + i;
          if (oh >= outH) continue;
          const y0 = act(f32x4.add(f32x4.mul(v128.load(o), sv), bv), relu);
          const y1 = act(f32x4.add(f32x4.mul(v128.load(o, 16), sv), bv), relu);
          const y2 = act(f32x4.add(f32x4.mul(v128.load(o, 32), sv), bv), relu);
          const y3 = act(f32x4.add(f32x4.mul(v128.load(o, 48), sv), bv), relu);
          // Lane l of y_j is channel l's column j: transpose to each channel's four columns.
          const lo01 = v128.shuffle<f32>(y0, y1, 0, 4, 1, 5), lo23 = v128.shuffle<f32>(y2, y3, 0, 4, 1, 5);
          const hi01 = v128.shuffle<f32>(y0, y1, 2, 6, 3, 7), hi23 = v128.shuffle<f32>(y2, y3, 2, 6, 3, 7);
          const row = yn + (<usize>(k0 * plane + oh * outW + 4 * tc) << 2), chB = <usize>plane << 2;
          const n = outW - 4 * tc;
          storeLanes(row, v128.shuffle<f32>(lo01, lo23, 0, 1, 4, 5), n);
          if (lanes > 1) storeLanes(row + chB, v128.shuffle<f32>(lo01, lo23, 2, 3, 6, 7), n);
          if (lanes > 2) storeLanes(row + 2 * chB, v128.shuffle<f32>(hi01, hi23, 0, 1, 4, 5), n);
          if (lanes > 3) storeLanes(row + 3 * chB, v128.shuffle<f32>(hi01, hi23, 2, 3, 6, 7), n);
        }
        t++;
      }
    }
  }
}

/** A a for four vectors (A = [1 0 0 0; 1 1 1 1; 1 -1 1 -1; 1 2 4 8; 1 -2 4 -8; 0 0 0 1]): six results at the given byte step. */
// @ts-ignore: decorator
@inline function gradT(a0: v128, a1: v128, a2: v128, a3: v128, out: usize, step: usize): void {
  const e02 = f32x4.add(a0, a2), o13 = f32x4.add(a1, a3);
  const e4 = f32x4.add(a0, f32x4.mul(f32x4.splat(4), a2)), o8 = f32x4.add(f32x4.mul(f32x4.splat(2), a1), f32x4.mul(f32x4.splat(8), a3));
  v128.store(out, a0);
  v128.store(out + step, f32x4.add(e02, o13));
  v128.store(out + 2 * step, f32x4.sub(e02, o13));
  v128.store(out + 3 * step, f32x4.add(e4, o8));
  v128.store(out + 4 * step, f32x4.sub(e4, o8));
  v128.store(out + 5 * step, a3);
}

/**
 * (A d A^T) for four 4x4 tiles, one per lane, whose rows start at p0 .. p3
 * (rowB bytes from one row to the next): each row's columns by a 4x4
 * transpose, A along the rows, then A down the columns into tmp[36 + xi]
 * (xi = 6i + j). The lanes are four tiles of a row or four channels of one tile.
 */
// @ts-ignore: decorator
@inline function gradientTiles(p0: usize, p1: usize, p2: usize, p3: usize, rowB: usize, tmp: usize): void {
  for (let r = 0; r < 4; r++) {
    const o = <usize>r * rowB;
    const a0 = v128.load(p0 + o), a1 = v128.load(p1 + o), a2 = v128.load(p2 + o), a3 = v128.load(p3 + o);
    const lo01 = v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), lo23 = v128.shuffle<f32>(a2, a3, 0, 4, 1, 5);
    const hi01 = v128.shuffle<f32>(a0, a1, 2, 6, 3, 7), hi23 = v128.shuffle<f32>(a2, a3, 2, 6, 3, 7);
    gradT(v128.shuffle<f32>(lo01, lo23, 0, 1, 4, 5), v128.shuffle<f32>(lo01, lo23, 2, 3, 6, 7),
      v128.shuffle<f32>(hi01, hi23, 0, 1, 4, 5), v128.shuffle<f32>(hi01, hi23, 2, 3, 6, 7), tmp + (<usize>(6 * r) << 4), 16);
  }
  for (let j = 0; j < 6; j++) {
    const s = tmp + (<usize>j << 4);
    gradT(v128.load(s), v128.load(s, 96), v128.load(s, 192), v128.load(s, 288), tmp + 576 + (<usize>j << 4), 96);
  }
}

/**
 * E[xi][k][t0 + t] = (A dy A^T)[xi] for the 4x4 tile t of channel k of yp
 * ([cout][rows][pitch], zero-padded to whole groups of four tiles): the
 * transform of the output gradient in the filter gradient of F(4x4, 3x3)
 * (winograd-filter.ts). tmp: 72 vectors.
 */
export function transformGradients4(
  yp: usize, cout: i32, rows: i32, pitch: i32, tileRows: i32, tilesW: i32,
  eBase: usize, ePlane: usize, ldT: i32, t0: i32, tmp: usize,
): void {
  if (tilesW <= CHANNEL_LANE_TILES) {
    transformGradients4Channels(yp, cout, rows, pitch, tileRows, tilesW, eBase, ePlane, ldT, t0, tmp);
    return;
  }
  const rowB = <usize>pitch << 2;
  for (let k = 0; k < cout; k++) {
    const yk = yp + (<usize>(k * rows * pitch) << 2);
    let t = t0;
    for (let tr = 0; tr < tileRows; tr++) {
      for (let tc = 0; tc < tilesW; tc += 4) {
        const n = min(4, tilesW - tc);
        const p = yk + <usize>(4 * tr) * rowB + (<usize>(4 * tc) << 2);
        // Four tiles side by side: their rows start 16 bytes apart.
        gradientTiles(p, p + 16, p + 32, p + 48, rowB, tmp);
        const e = eBase + (<usize>(k * ldT + t) << 2);
        for (let xi = 0; xi < 36; xi++) storeLanes(e + <usize>xi * ePlane, v128.load(tmp + 576 + (<usize>xi << 4)), n);
        t += n;
      }
    }
  }
}

/**
 * One thread's share of dw[k][c] += G^T S[.][k][c] G (3x3 from 6x6) and
 * db += the summed bias part, for F(4x4, 3x3); items are output channels.
 */
export function winograd4FilterOut(s: usize, sb: usize, dw: usize, db: usize, cout: i32, cin: i32, counter: usize): void {
  const plane = <usize>planeFloats(cout * cin) << 2;
  for (let k = claim(counter); k < cout; k = claim(counter)) {
    for (let c = 0; c < cin; c++) {
      const m = s + (<usize>(k * cin + c) << 2);
      // G^T S: three rows of six, column by column.
      let r00: f32 = 0, r01: f32 = 0, r02: f32 = 0, r03: f32 = 0, r04: f32 = 0, r05: f32 = 0;
      let r10: f32 = 0, r11: f32 = 0, r12: f32 = 0, r13: f32 = 0, r14: f32 = 0, r15: f32 = 0;
      let r20: f32 = 0, r21: f32 = 0, r22: f32 = 0, r23: f32 = 0, r24: f32 = 0, r25: f32 = 0;
      for (let j = 0; j < 6; j++) {
        const s0 = load<f32>(m + <usize>j * plane), s1 = load<f32>(m + <usize>(6 + j) * plane);
        const s2 = load<f32>(m + <usize>(12 + j) * plane), s3 = load<f32>(m + <usize>(18 + j) * plane);
        const s4 = load<f32>(m + <usize>(24 + j) * plane), s5 = load<f32>(m + <usize>(30 + j) * plane);
        const a = gt0(s0, s1, s2, s3, s4), b = gt1(s1, s2, s3, s4), cc = gt2(s1, s2, s3, s4, s5);
        if (j == 0) { r00 = a; r10 = b; r20 = cc; }
        else if (j == 1) { r01 = a; r11 = b; r21 = cc; }
        else if (j == 2) { r02 = a; r12 = b; r22 = cc; }
        else if (j == 3) { r03 = a; r13 = b; r23 = cc; }
        else if (j == 4) { r04 = a; r14 = b; r24 = cc; }
        else { r05 = a; r15 = b; r25 = cc; }
      }
      // (G^T S) G: each row times G.
      const o = dw + (<usize>((k * cin + c) * 9) << 2);
      addRow3(o, gt0(r00, r01, r02, r03, r04), gt1(r01, r02, r03, r04), gt2(r01, r02, r03, r04, r05));
      addRow3(o + 12, gt0(r10, r11, r12, r13, r14), gt1(r11, r12, r13, r14), gt2(r11, r12, r13, r14, r15));
      addRow3(o + 24, gt0(r20, r21, r22, r23, r24), gt1(r21, r22, r23, r24), gt2(r21, r22, r23, r24, r25));
    }
    if (db != 0) {
      const p = db + (<usize>k << 2);
      store<f32>(p, load<f32>(p) + load<f32>(sb + (<usize>k << 2)));
    }
  }
}

/** Rows of G^T = [1/4 -1/6 -1/6 1/24 1/24 0; 0 -1/6 1/6 1/12 -1/12 0; 0 -1/6 -1/6 1/6 1/6 1] times s. */
// @ts-ignore: decorator
@inline function gt0(s0: f32, s1: f32, s2: f32, s3: f32, s4: f32): f32 {
  return s0 * 0.25 - (s1 + s2) * SIXTH + (s3 + s4) * TWENTYFOURTH;
}
// @ts-ignore: decorator
@inline function gt1(s1: f32, s2: f32, s3: f32, s4: f32): f32 {
  return (s2 - s1) * SIXTH + (s3 - s4) * TWELFTH;
}
// @ts-ignore: decorator
@inline function gt2(s1: f32, s2: f32, s3: f32, s4: f32, s5: f32): f32 {
  return (s3 + s4 - s1 - s2) * SIXTH + s5;
}

// @ts-ignore: decorator
@inline function addRow3(p: usize, a: f32, b: f32, c: f32): void {
  store<f32>(p, load<f32>(p) + a);
  store<f32>(p + 4, load<f32>(p + 4) + b);
  store<f32>(p + 8, load<f32>(p + 8) + c);
}

/**
 * transformGradients4 for rows of one or two tiles, four channels of dy per
 * vector instead of four tiles (the same operations on every element, so E
 * keeps its bits).
 */
function transformGradients4Channels(
  yp: usize, cout: i32, rows: i32, pitch: i32, tileRows: i32, tilesW: i32,
  eBase: usize, ePlane: usize, ldT: i32, t0: i32, tmp: usize,
): void {
  const rowB = <usize>pitch << 2, chB = <usize>(rows * pitch) << 2, ldB = <usize>ldT << 2;
  for (let k0 = 0; k0 < cout; k0 += 4) {
    const lanes = min(4, cout - k0);
    for (let tr = 0; tr < tileRows; tr++) {
      for (let tc = 0; tc < tilesW; tc++) {
        // Lanes past the last channel read it again; they are not stored.
        const p0 = yp + <usize>k0 * chB + <usize>(4 * tr) * rowB + (<usize>(4 * tc) << 2);
        const p1 = lanes > 1 ? p0 + chB : p0, p2 = lanes > 2 ? p0 + 2 * chB : p0, p3 = lanes > 3 ? p0 + 3 * chB : p0;
        gradientTiles(p0, p1, p2, p3, rowB, tmp);
        const e = eBase + (<usize>(k0 * ldT + t0 + tr * tilesW + tc) << 2);
        for (let xi = 0; xi < 36; xi++) storeChannels(e + <usize>xi * ePlane, ldB, v128.load(tmp + 576 + (<usize>xi << 4)), lanes);
      }
    }
  }
}
