// Packed, register-blocked SGEMM: C[m, n] (+)= op(A)[m, k] * op(B)[k, n].
//
// Goto's scheme: B is packed a KC x NC block at a time into panels NR columns
// wide, A a MC x KC block at a time into panels MR rows high, both zero-padded
// to whole panels, so the micro-kernel always streams two contiguous arrays and
// keeps an MR x NR tile of C in registers. Transposes are absorbed by the
// packing routines, so the micro-kernel never sees them.
//
// C is row-major, so the innermost loop walks along C's rows: one MR-row
// panel of A stays in L1 while the micro-kernel runs across the whole B block
// (kept in L2), and each tile of C lands next to the one before it. Walking
// down C's columns instead (BLIS's order, made for column-major C) touched
// one cache line per row of C at a time, half of which it used; on 1024^3
// that cost 3-5% on one thread and 11% on two (docs/performance.md).
import { madd } from "./simd";
import { claim } from "./work";

/** Register tile: MR rows by NR columns of C, 12 accumulators of four lanes (V8 gives wasm 15 vector registers on x64). */
export const MR: i32 = 6;
export const NR: i32 = 8;

// Cache blocking: B is packed KC x NC at a time (meant to stay in L2), A
// MC x KC (its MR x KC panels for L1). They are chosen for the machine at run
// time (src/kernels/wasm/tuning.ts) and reach every thread's instance through
// the job block (applyBlocking in index.ts).
export let KC: i32 = 256;
export let MC: i32 = 120;
export let NC: i32 = 1024;
/** Work items per thread when a GEMM is split between threads (sgemmPart). */
export let CHUNKS_PER_THREAD: i32 = 4;

/**
 * Sets the blocking; values out of range are brought into it (MC a multiple
 * of MR, NC of NR, KC of 4), so that a bad request can slow a product down
 * but never break it. The loader validates what users ask for first.
 */
export function setBlocking(mc: i32, kc: i32, nc: i32, chunks: i32): void {
  MC = max(MR, min(4096, (mc / MR) * MR));
  KC = max(16, min(4096, (kc >> 2) << 2));
  NC = max(NR, min(16384, (nc / NR) * NR));
  CHUNKS_PER_THREAD = max(1, min(64, chunks));
}

/** The blocking in use: 0 MC, 1 KC, 2 NC, 3 work items per thread, 4 MR, 5 NR. */
export function gemmBlocking(which: i32): i32 {
  switch (which) {
    case 0: return MC;
    case 1: return KC;
    case 2: return NC;
    case 3: return CHUNKS_PER_THREAD;
    case 4: return MR;
    default: return NR;
  }
}

/** Scratch bytes one thread needs for packing (A block, B block, an edge tile). */
export function gemmScratchBytes(): i32 {
  return (MC * KC + KC * NC + MR * NR) * 4;
}

/** Packs op(A)[i0 .. i0+mc, p0 .. p0+kc] into panels [mc/MR][kc][MR]. */
function packA(a: usize, lda: i32, transA: bool, i0: i32, mc: i32, p0: i32, kc: i32, dst: usize): void {
  const step = <usize>(MR * 4); // bytes between two values of p in a panel
  for (let ir = 0; ir < mc; ir += MR) {
    const rows = min(MR, mc - ir);
    const panel = dst + (<usize>(ir * kc) << 2);
    if (rows < MR) {
      // An edge panel: zeros first, then the rows there are.
      memory.fill(panel, 0, <usize>kc * step);
      for (let r = 0; r < rows; r++) {
        for (let p = 0; p < kc; p++) {
          const at = transA ? (p0 + p) * lda + i0 + ir + r : (i0 + ir + r) * lda + p0 + p;
          store<f32>(panel + <usize>p * step + (<usize>r << 2), load<f32>(a + (<usize>at << 2)));
        }
      }
      continue;
    }
    if (transA) {
      // A is stored K x M: the MR values of one p are contiguous (four, then two).
      let src = a + (<usize>(p0 * lda + i0 + ir) << 2);
      const stride = <usize>lda << 2;
      for (let p = 0; p < kc; p++) {
        const d = panel + <usize>p * step;
        v128.store(d, v128.load(src));
        store<i64>(d, load<i64>(src, 16), 16);
        src += stride;
      }
    } else {
      // A is stored M x K: read six rows side by side, four values of p at a
      // time, and interleave them (a 4x4 transpose for rows 0-3, pairs for rows 4-5).
      const r0 = a + (<usize>((i0 + ir) * lda + p0) << 2);
      const row = <usize>lda << 2;
      const r1 = r0 + row, r2 = r1 + row, r3 = r2 + row, r4 = r3 + row, r5 = r4 + row;
      let p = 0;
      for (; p + 4 <= kc; p += 4) {
        const o = <usize>p << 2;
        const x0 = v128.load(r0 + o), x1 = v128.load(r1 + o), x2 = v128.load(r2 + o), x3 = v128.load(r3 + o);
        const x4 = v128.load(r4 + o), x5 = v128.load(r5 + o);
        const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
        const t1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
        const t2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
        const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
        const e0 = v128.shuffle<f32>(x4, x5, 0, 4, 1, 5); // rows 4, 5 at p, p + 1
        const e1 = v128.shuffle<f32>(x4, x5, 2, 6, 3, 7); // rows 4, 5 at p + 2, p + 3
        const d = panel + <usize>p * step;
        v128.store(d, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
        store<i64>(d, i64x2.extract_lane(e0, 0), 16);
        v128.store(d, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 24);
        store<i64>(d, i64x2.extract_lane(e0, 1), 40);
        v128.store(d, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 48);
        store<i64>(d, i64x2.extract_lane(e1, 0), 64);
        v128.store(d, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 72);
        store<i64>(d, i64x2.extract_lane(e1, 1), 88);
      }
      for (; p < kc; p++) {
        const o = <usize>p << 2;
        const d = panel + <usize>p * step;
        store<f32>(d, load<f32>(r0 + o));
        store<f32>(d, load<f32>(r1 + o), 4);
        store<f32>(d, load<f32>(r2 + o), 8);
        store<f32>(d, load<f32>(r3 + o), 12);
        store<f32>(d, load<f32>(r4 + o), 16);
        store<f32>(d, load<f32>(r5 + o), 20);
      }
    }
  }
}

/** Packs op(B)[p0 .. p0+kc, j0 .. j0+nc] into panels [nc/NR][kc][NR]. */
function packB(b: usize, ldb: i32, transB: bool, p0: i32, kc: i32, j0: i32, nc: i32, dst: usize): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const cols = min(NR, nc - jr);
    const panel = dst + (<usize>(jr * kc) << 2);
    if (!transB) {
      // B is stored K x N: the NR values of one p are contiguous.
      let src = b + (<usize>(p0 * ldb + j0 + jr) << 2);
      const step = <usize>ldb << 2;
      if (cols == NR) {
        for (let p = 0; p < kc; p++) {
          const d = panel + (<usize>p << 5);
          v128.store(d, v128.load(src));
          v128.store(d, v128.load(src, 16), 16);
          src += step;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          const d = panel + (<usize>p << 5);
          v128.store(d, f32x4.splat(0));
          v128.store(d, f32x4.splat(0), 16);
          for (let c = 0; c < cols; c++) store<f32>(d + (<usize>c << 2), load<f32>(src + (<usize>c << 2)));
          src += step;
        }
      }
    } else {
      // B is stored N x K: each column is a contiguous row of the store.
      if (cols < NR) {
        for (let p = 0; p < kc; p++) {
          v128.store(panel + (<usize>p << 5), f32x4.splat(0));
          v128.store(panel + (<usize>p << 5), f32x4.splat(0), 16);
        }
      }
      let c = 0;
      if (cols == NR) {
        // Two 4x4 transposes per four values of p.
        for (let half = 0; half < 2; half++) {
          const r0 = b + (<usize>((j0 + jr + half * 4) * ldb + p0) << 2);
          const r1 = r0 + (<usize>ldb << 2);
          const r2 = r1 + (<usize>ldb << 2);
          const r3 = r2 + (<usize>ldb << 2);
          const h = <usize>half << 4;
          let p = 0;
          for (; p + 4 <= kc; p += 4) {
            const o = <usize>p << 2;
            const x0 = v128.load(r0 + o), x1 = v128.load(r1 + o), x2 = v128.load(r2 + o), x3 = v128.load(r3 + o);
            const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
            const t1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
            const t2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
            const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
            const d = panel + (<usize>p << 5) + h;
            v128.store(d, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
            v128.store(d, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 32);
            v128.store(d, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 64);
            v128.store(d, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 96);
          }
          for (; p < kc; p++) {
            const o = <usize>p << 2;
            const d = panel + (<usize>p << 5) + h;
            store<f32>(d, load<f32>(r0 + o));
            store<f32>(d, load<f32>(r1 + o), 4);
            store<f32>(d, load<f32>(r2 + o), 8);
            store<f32>(d, load<f32>(r3 + o), 12);
          }
        }
        c = NR;
      }
      for (; c < cols; c++) {
        const src = b + (<usize>((j0 + jr + c) * ldb + p0) << 2);
        for (let p = 0; p < kc; p++) store<f32>(panel + (<usize>(p * NR + c) << 2), load<f32>(src + (<usize>p << 2)));
      }
    }
  }
}

/** Adds (beta) or stores one 8-wide row of the tile. */
// @ts-ignore: decorator
@inline function storeRow(c: usize, lo: v128, hi: v128, beta: bool): void {
  if (beta) {
    lo = f32x4.add(lo, v128.load(c));
    hi = f32x4.add(hi, v128.load(c, 16));
  }
  v128.store(c, lo);
  v128.store(c, hi, 16);
}

/**
 * The MR x NR micro-kernel: twelve accumulators, two B vectors and one
 * broadcast A value, 15 vector registers, which is what V8 allocates to wasm
 * on x64 (a 4 x 8 tile's eight accumulators cannot hide the latency of two
 * fused multiply-adds per cycle; measured 20-25% slower on a Xeon with AVX-512).
 */
function kernel6x8(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32, mr: i32, nr: i32, beta: bool, tile: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0);
  let c50 = f32x4.splat(0), c51 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
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
    a = v128.load32_splat(ap, 16);
    c40 = madd(a, b0, c40); c41 = madd(a, b1, c41);
    a = v128.load32_splat(ap, 20);
    c50 = madd(a, b0, c50); c51 = madd(a, b1, c51);
    ap += 24;
    bp += 32;
  }
  const row = <usize>ldc << 2;
  if (mr == MR && nr == NR) {
    storeRow(c, c00, c01, beta);
    storeRow(c + row, c10, c11, beta);
    storeRow(c + 2 * row, c20, c21, beta);
    storeRow(c + 3 * row, c30, c31, beta);
    storeRow(c + 4 * row, c40, c41, beta);
    storeRow(c + 5 * row, c50, c51, beta);
    return;
  }
  // An edge tile: spill to scratch, then copy what lies inside C.
  v128.store(tile, c00); v128.store(tile, c01, 16);
  v128.store(tile, c10, 32); v128.store(tile, c11, 48);
  v128.store(tile, c20, 64); v128.store(tile, c21, 80);
  v128.store(tile, c30, 96); v128.store(tile, c31, 112);
  v128.store(tile, c40, 128); v128.store(tile, c41, 144);
  v128.store(tile, c50, 160); v128.store(tile, c51, 176);
  storeEdge(c, ldc, mr, nr, beta, tile);
}

/** Copies the first mr rows and nr columns of a spilled tile (NR floats per row) into C. */
function storeEdge(c: usize, ldc: i32, mr: i32, nr: i32, beta: bool, tile: usize): void {
  const row = <usize>ldc << 2;
  for (let r = 0; r < mr; r++) {
    const cr = c + <usize>r * row;
    const tr = tile + (<usize>(r * NR) << 2);
    for (let j = 0; j < nr; j++) {
      const o = <usize>j << 2;
      const v = load<f32>(tr + o);
      store<f32>(cr + o, beta ? load<f32>(cr + o) + v : v);
    }
  }
}

/**
 * Up to four rows of a six-row panel (the panel's last rows are padding):
 * the tile computes only what it stores, instead of 6x8 with a third or more
 * of it thrown away.
 */
function kernel4x8(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32, mr: i32, nr: i32, beta: bool, tile: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
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
    ap += <usize>(MR * 4);
    bp += 32;
  }
  const row = <usize>ldc << 2;
  if (mr == 4 && nr == NR) {
    storeRow(c, c00, c01, beta);
    storeRow(c + row, c10, c11, beta);
    storeRow(c + 2 * row, c20, c21, beta);
    storeRow(c + 3 * row, c30, c31, beta);
    return;
  }
  v128.store(tile, c00); v128.store(tile, c01, 16);
  v128.store(tile, c10, 32); v128.store(tile, c11, 48);
  v128.store(tile, c20, 64); v128.store(tile, c21, 80);
  v128.store(tile, c30, 96); v128.store(tile, c31, 112);
  storeEdge(c, ldc, mr, nr, beta, tile);
}

/**
 * One or two rows of a six-row panel. Each value is summed over p in order,
 * as in the other kernels, so a row's bits do not depend on which panel (and
 * so which thread's block of rows) it falls in.
 */
function kernel2x8(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32, mr: i32, nr: i32, beta: bool, tile: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    ap += <usize>(MR * 4);
    bp += 32;
  }
  if (mr == 2 && nr == NR) {
    storeRow(c, c00, c01, beta);
    storeRow(c + (<usize>ldc << 2), c10, c11, beta);
    return;
  }
  v128.store(tile, c00); v128.store(tile, c01, 16);
  v128.store(tile, c10, 32); v128.store(tile, c11, 48);
  storeEdge(c, ldc, mr, nr, beta, tile);
}

/**
 * Single-threaded SGEMM on raw byte pointers with leading dimensions.
 * op(A)[i, p] = transA ? A[p*lda + i] : A[i*lda + p]; likewise B.
 * scratch: gemmScratchBytes() bytes, 16-byte aligned.
 */
export function sgemm(
  m: i32, n: i32, k: i32,
  a: usize, lda: i32, transA: bool,
  b: usize, ldb: i32, transB: bool,
  c: usize, ldc: i32, accumulate: bool, scratch: usize,
): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate) {
      for (let i = 0; i < m; i++) memory.fill(c + (<usize>(i * ldc) << 2), 0, <usize>n << 2);
    }
    return;
  }
  blocked(m, n, k, a, lda, transA, false, 0, 0, b, ldb, transB, c, ldc, accumulate, scratch);
}

/**
 * Goto's loops: B packed a KC x NC block at a time; A packed a MC x KC block
 * at a time, or (aPacked) already packed in packedAOffset's layout with
 * mPad rows, from row panel panel0 on, where the same rows of a block are
 * the same contiguous panels. Columns are cut into blocks of equal width (at
 * most NC), so that no thin last block packs A once more for a few columns;
 * how columns are cut never changes a sum, only KC does.
 */
function blocked(
  m: i32, n: i32, k: i32,
  a: usize, lda: i32, transA: bool, aPacked: bool, mPad: i32, panel0: i32,
  b: usize, ldb: i32, transB: bool,
  c: usize, ldc: i32, accumulate: bool, scratch: usize,
): void {
  const pa = scratch;
  const pb = pa + (<usize>(MC * KC) << 2);
  const tile = pb + (<usize>(KC * NC) << 2);
  const colBlocks = (n + NC - 1) / NC;
  const colStep = min(NC, ((n + colBlocks - 1) / colBlocks + NR - 1) / NR * NR);
  for (let jc = 0; jc < n; jc += colStep) {
    const nc = min(colStep, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      const beta = accumulate || pc > 0;
      packB(b, ldb, transB, pc, kc, jc, nc, pb);
      for (let ic = 0; ic < m; ic += MC) {
        const mc = min(MC, m - ic);
        let ap = pa;
        if (aPacked) ap = a + (<usize>(pc * mPad + (panel0 + ic / MR) * kc * MR) << 2);
        else packA(a, lda, transA, ic, mc, pc, kc, pa);
        for (let ir = 0; ir < mc; ir += MR) {
          const mr = min(MR, mc - ir);
          const at = ap + (<usize>(ir * kc) << 2);
          for (let jr = 0; jr < nc; jr += NR) {
            const nr = min(NR, nc - jr);
            const bp = pb + (<usize>(jr * kc) << 2), ct = c + (<usize>((ic + ir) * ldc + jc + jr) << 2);
            // The last panel of a block may hold fewer rows: 64 channels are ten panels and four rows.
            if (mr > 4) kernel6x8(kc, at, bp, ct, ldc, mr, nr, beta, tile);
            else if (mr > 2) kernel4x8(kc, at, bp, ct, ldc, mr, nr, beta, tile);
            else kernel2x8(kc, at, bp, ct, ldc, mr, nr, beta, tile);
          }
        }
      }
    }
  }
}

/**
 * Where op(A)[i, p] sits in an A packed once for every product that uses it
 * (packedA layout): for each block of KC columns p, the row panels of MR
 * rows one after another, each [kc][MR]. mPad is the row count rounded up to
 * MR (the padding rows are zero). The offset is in floats; i must be the
 * first row of a panel for the panel's MR values to follow it.
 */
// @ts-ignore: decorator
@inline export function packedAOffset(i: i32, p: i32, k: i32, mPad: i32): i32 {
  const p0 = p - p % KC;
  return p0 * mPad + (i / MR) * min(KC, k - p0) * MR + (p - p0) * MR + i % MR;
}

/**
 * sgemm with A already packed (packedAOffset's layout, whole matrix), from
 * row panel panel0 on: for operands packed once and used by many products,
 * such as Winograd's transformed filters (each work item would otherwise
 * pack all of them again).
 */
export function sgemmPackedA(
  m: i32, n: i32, k: i32, ap: usize, mPad: i32, panel0: i32,
  b: usize, ldb: i32, c: usize, ldc: i32, scratch: usize,
): void {
  if (m <= 0 || n <= 0 || k <= 0) return;
  blocked(m, n, k, ap, 0, false, true, mPad, panel0, b, ldb, false, c, ldc, false, scratch);
}

/** Whether sgemmPart hands the product to gemvPart (a few rows of C). */
function isGemv(m: i32, k: i32): bool {
  return m <= GEMV_MAX_M && k > 0 && GEMV_MAX_M * k <= gemvScratchFloats();
}

/** Whether sgemmPart on nth threads cuts C into column chunks (else into row chunks). */
function splitsByColumns(m: i32, n: i32, nth: i32): bool {
  const colPanels = (n + NR - 1) / NR;
  return colPanels >= nth || colPanels >= (m + MR - 1) / MR;
}

/**
 * Floats of A packed once for sgemmPart on nth threads (packAPart first), or
 * 0 when each work item packs its own: one thread or one chunk (A is packed
 * once anyway), rows split (each chunk packs its own rows), or a gemv.
 */
export function gemmSharedPackFloats(m: i32, n: i32, k: i32, nth: i32): i32 {
  if (nth <= 1 || m <= 0 || n <= 0 || k <= 0 || isGemv(m, k) || !splitsByColumns(m, n, nth)) return 0;
  if (min((n + NR - 1) / NR, nth * CHUNKS_PER_THREAD) <= 1) return 0;
  return (m + MR - 1) / MR * MR * k;
}

/**
 * One work item after another of packing all of op(A) (m x k) into
 * packedAOffset's layout at dst: MC rows of one KC block each. A product
 * split by columns then packs A once between the threads instead of once
 * per chunk (a 512 x 64 x 512 chunk ran 13% slower than 512^3 for it).
 */
export function packAPart(m: i32, k: i32, a: usize, lda: i32, transA: bool, dst: usize, counter: usize): void {
  const mPad = (m + MR - 1) / MR * MR;
  const rowBlocks = (m + MC - 1) / MC, items = rowBlocks * ((k + KC - 1) / KC);
  for (let t = claim(counter); t < items; t = claim(counter)) {
    const p0 = (t / rowBlocks) * KC, i0 = (t % rowBlocks) * MC;
    const kc = min(KC, k - p0);
    // packA lays its block out as [mc/MR][kc][MR], which is where packedAOffset puts rows i0.. of this KC block.
    packA(a, lda, transA, i0, min(MC, m - i0), p0, kc, dst + (<usize>(p0 * mPad + i0 * kc) << 2));
  }
}

/**
 * One thread's share of a GEMM. C is cut into chunks of whole panels of
 * columns (or, when C is tall and narrow, of rows), CHUNKS_PER_THREAD per
 * thread (4 by default), which the threads take from the job's work counter.
 * A chunk packs its own slice of B, and all of A unless packedA holds it
 * already (gemmSharedPackFloats, packAPart).
 */
export function sgemmPart(
  m: i32, n: i32, k: i32,
  a: usize, lda: i32, transA: bool,
  b: usize, ldb: i32, transB: bool,
  c: usize, ldc: i32, accumulate: bool, packedA: usize, scratch: usize, nth: i32, counter: usize,
): void {
  if (isGemv(m, k)) {
    gemvPart(m, n, k, a, lda, transA, b, ldb, transB, c, ldc, accumulate, scratch, counter);
    return;
  }
  if (nth <= 1) {
    if (claim(counter) == 0) sgemm(m, n, k, a, lda, transA, b, ldb, transB, c, ldc, accumulate, scratch);
    return;
  }
  const byCols = splitsByColumns(m, n, nth);
  const panels = byCols ? (n + NR - 1) / NR : (m + MR - 1) / MR;
  const chunks = min(panels, nth * CHUNKS_PER_THREAD);
  for (let t = claim(counter); t < chunks; t = claim(counter)) {
    const p0 = <i32>((<i64>panels * t) / chunks), p1 = <i32>((<i64>panels * (t + 1)) / chunks);
    if (byCols) {
      const j0 = p0 * NR, j1 = min(n, p1 * NR);
      if (j1 <= j0) continue;
      const bOff = transB ? <usize>(j0 * ldb) << 2 : <usize>j0 << 2;
      if (packedA != 0 && k > 0) {
        const mPad = (m + MR - 1) / MR * MR;
        blocked(m, j1 - j0, k, packedA, 0, false, true, mPad, 0, b + bOff, ldb, transB, c + (<usize>j0 << 2), ldc, accumulate, scratch);
      } else {
        sgemm(m, j1 - j0, k, a, lda, transA, b + bOff, ldb, transB, c + (<usize>j0 << 2), ldc, accumulate, scratch);
      }
    } else {
      const i0 = p0 * MR, i1 = min(m, p1 * MR);
      if (i1 <= i0) continue;
      const aOff = transA ? <usize>i0 << 2 : <usize>(i0 * lda) << 2;
      sgemm(i1 - i0, n, k, a + aOff, lda, transA, b, ldb, transB, c + (<usize>(i0 * ldc) << 2), ldc, accumulate, scratch);
    }
  }
}

/**
 * At most this many rows of C (a fully-connected layer at batch 1 to 4) go
 * through gemvPart: packing B, the weights, would read and write every weight
 * once more than the product does (VGG-16's 4096x25088 layer: 411 MB).
 */
export const GEMV_MAX_M: i32 = 4;
/** Columns of C per work item of gemvPart. */
const GEMV_CHUNK: i32 = 256;

function gemvScratchFloats(): i32 {
  return MC * KC + KC * NC;
}

// @ts-ignore: decorator
@inline function hsum4(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/**
 * C[m, n] (+)= op(A)[m, k] op(B)[k, n] for m <= GEMV_MAX_M, reading B once and
 * never packing it; work items are chunks of GEMV_CHUNK columns. The rows of
 * op(A) are first copied contiguous into scratch (each thread its own copy).
 */
function gemvPart(
  m: i32, n: i32, k: i32,
  a: usize, lda: i32, transA: bool,
  b: usize, ldb: i32, transB: bool,
  c: usize, ldc: i32, accumulate: bool, scratch: usize, counter: usize,
): void {
  const chunks = (n + GEMV_CHUNK - 1) / GEMV_CHUNK;
  let t = claim(counter);
  if (t >= chunks) return;
  // ar[i][p] = op(A)[i, p], rows padded with zeros to GEMV_MAX_M.
  const ar = scratch;
  const rowB = <usize>k << 2;
  for (let i = 0; i < GEMV_MAX_M; i++) {
    const dst = ar + <usize>i * rowB;
    for (let p = 0; p < k; p++) {
      const v: f32 = i < m ? load<f32>(a + (<usize>(transA ? p * lda + i : i * lda + p) << 2)) : 0;
      store<f32>(dst + (<usize>p << 2), v);
    }
  }
  const a0 = ar, a1 = ar + rowB, a2 = ar + 2 * rowB, a3 = ar + 3 * rowB;
  for (; t < chunks; t = claim(counter)) {
    const j0 = t * GEMV_CHUNK, j1 = min(n, j0 + GEMV_CHUNK);
    if (transB && m == 1) {
      // One row of A (batch 1): four independent sums per row of B, so the
      // loop waits on memory, not on the latency of one chain of adds; and
      // three rows of B at a time: three streams from memory rather than one
      // (VGG-16's 25088 -> 4096 layer, batch 1: 1.1-1.35x faster, the same
      // sums in the same order for each row).
      let j = j0;
      for (; j + 3 <= j1; j += 3) {
        const bj = b + (<usize>(j * ldb) << 2), bk = bj + (<usize>ldb << 2), bl = bk + (<usize>ldb << 2);
        let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
        let t0 = f32x4.splat(0), t1 = f32x4.splat(0), t2 = f32x4.splat(0), t3 = f32x4.splat(0);
        let u0 = f32x4.splat(0), u1 = f32x4.splat(0), u2 = f32x4.splat(0), u3 = f32x4.splat(0);
        let p = 0;
        for (; p + 16 <= k; p += 16) {
          const o = <usize>p << 2;
          let x = v128.load(a0 + o);
          s0 = madd(x, v128.load(bj + o), s0); t0 = madd(x, v128.load(bk + o), t0); u0 = madd(x, v128.load(bl + o), u0);
          x = v128.load(a0 + o, 16);
          s1 = madd(x, v128.load(bj + o, 16), s1); t1 = madd(x, v128.load(bk + o, 16), t1); u1 = madd(x, v128.load(bl + o, 16), u1);
          x = v128.load(a0 + o, 32);
          s2 = madd(x, v128.load(bj + o, 32), s2); t2 = madd(x, v128.load(bk + o, 32), t2); u2 = madd(x, v128.load(bl + o, 32), u2);
          x = v128.load(a0 + o, 48);
          s3 = madd(x, v128.load(bj + o, 48), s3); t3 = madd(x, v128.load(bk + o, 48), t3); u3 = madd(x, v128.load(bl + o, 48), u3);
        }
        for (; p + 4 <= k; p += 4) {
          const o = <usize>p << 2;
          const x = v128.load(a0 + o);
          s0 = madd(x, v128.load(bj + o), s0); t0 = madd(x, v128.load(bk + o), t0); u0 = madd(x, v128.load(bl + o), u0);
        }
        let r0 = hsum4(f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3)));
        let r1 = hsum4(f32x4.add(f32x4.add(t0, t1), f32x4.add(t2, t3)));
        let r2 = hsum4(f32x4.add(f32x4.add(u0, u1), f32x4.add(u2, u3)));
        for (; p < k; p++) {
          const o = <usize>p << 2;
          const x = load<f32>(a0 + o);
          r0 += x * load<f32>(bj + o);
          r1 += x * load<f32>(bk + o);
          r2 += x * load<f32>(bl + o);
        }
        gemvStore(c, ldc, j, 1, r0, 0, 0, 0, accumulate);
        gemvStore(c, ldc, j + 1, 1, r1, 0, 0, 0, accumulate);
        gemvStore(c, ldc, j + 2, 1, r2, 0, 0, 0, accumulate);
      }
      for (; j < j1; j++) {
        // The chunk's last one or two rows of B: the same sums, one row at a time.
        const bj = b + (<usize>(j * ldb) << 2);
        let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
        let p = 0;
        for (; p + 16 <= k; p += 16) {
          const o = <usize>p << 2;
          s0 = madd(v128.load(a0 + o), v128.load(bj + o), s0);
          s1 = madd(v128.load(a0 + o, 16), v128.load(bj + o, 16), s1);
          s2 = madd(v128.load(a0 + o, 32), v128.load(bj + o, 32), s2);
          s3 = madd(v128.load(a0 + o, 48), v128.load(bj + o, 48), s3);
        }
        for (; p + 4 <= k; p += 4) {
          const o = <usize>p << 2;
          s0 = madd(v128.load(a0 + o), v128.load(bj + o), s0);
        }
        let r0 = hsum4(f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3)));
        for (; p < k; p++) {
          const o = <usize>p << 2;
          r0 += load<f32>(a0 + o) * load<f32>(bj + o);
        }
        gemvStore(c, ldc, j, 1, r0, 0, 0, 0, accumulate);
      }
    } else if (transB) {
      // C[i, j] = dot(A[i, :], B[j, :]): one pass over row j of B for all rows of A.
      for (let j = j0; j < j1; j++) {
        const bj = b + (<usize>(j * ldb) << 2);
        let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
        let p = 0;
        for (; p + 4 <= k; p += 4) {
          const o = <usize>p << 2;
          const bv = v128.load(bj + o);
          s0 = madd(v128.load(a0 + o), bv, s0);
          s1 = madd(v128.load(a1 + o), bv, s1);
          s2 = madd(v128.load(a2 + o), bv, s2);
          s3 = madd(v128.load(a3 + o), bv, s3);
        }
        let r0 = hsum4(s0), r1 = hsum4(s1), r2 = hsum4(s2), r3 = hsum4(s3);
        for (; p < k; p++) {
          const o = <usize>p << 2;
          const bv = load<f32>(bj + o);
          r0 += load<f32>(a0 + o) * bv; r1 += load<f32>(a1 + o) * bv;
          r2 += load<f32>(a2 + o) * bv; r3 += load<f32>(a3 + o) * bv;
        }
        gemvStore(c, ldc, j, m, r0, r1, r2, r3, accumulate);
      }
    } else {
      // C[i, j0:j1] += A[i, p] B[p, j0:j1] over p: one pass over the rows of B's column chunk.
      for (let i = 0; i < m; i++) {
        if (!accumulate) {
          for (let j = j0; j < j1; j++) store<f32>(c + (<usize>(i * ldc + j) << 2), 0);
        }
      }
      for (let p = 0; p < k; p++) {
        const bp = b + (<usize>(p * ldb) << 2);
        for (let i = 0; i < m; i++) {
          const av = load<f32>(ar + <usize>i * rowB + (<usize>p << 2));
          const avv = f32x4.splat(av);
          const ci = c + (<usize>(i * ldc) << 2);
          let j = j0;
          for (; j + 4 <= j1; j += 4) {
            const o = <usize>j << 2;
            v128.store(ci + o, madd(avv, v128.load(bp + o), v128.load(ci + o)));
          }
          for (; j < j1; j++) {
            const o = <usize>j << 2;
            store<f32>(ci + o, load<f32>(ci + o) + av * load<f32>(bp + o));
          }
        }
      }
    }
  }
}

// @ts-ignore: decorator
@inline function gemvStore(c: usize, ldc: i32, j: i32, m: i32, r0: f32, r1: f32, r2: f32, r3: f32, accumulate: bool): void {
  const p0 = c + (<usize>j << 2), row = <usize>ldc << 2;
  store<f32>(p0, accumulate ? load<f32>(p0) + r0 : r0);
  if (m > 1) store<f32>(p0 + row, accumulate ? load<f32>(p0 + row) + r1 : r1);
  if (m > 2) store<f32>(p0 + 2 * row, accumulate ? load<f32>(p0 + 2 * row) + r2 : r2);
  if (m > 3) store<f32>(p0 + 3 * row, accumulate ? load<f32>(p0 + 3 * row) + r3 : r3);
}
