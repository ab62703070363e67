// Sizes and strides the Winograd kernels share: winograd.ts (forward and
// backward data), winograd4.ts (the F(4x4, 3x3) transforms) and
// winograd-filter.ts (the filter gradient) all import this module and none of
// them imports another's layout, so they form no import cycle. The scratch
// sizes are exported to the loader, which allocates them.
import { gemmScratchBytes, MR, packedAOffset } from "./gemm";
import { direct_cin, direct_cout, direct_outH, direct_outW, direct_bands } from "./abi.generated";

/**
 * Floats between two of the 16 or 36 transformed matrices: n rounded up to a
 * cache line, plus one line so that they are not a power of two apart. The
 * transforms store to all of them at once, and 16 stores 2^k bytes apart fall
 * in one L1 set (measured: ResNet-20's 16x32x32 filter gradient spent 9 of
 * 10.6 ms in the transforms with 32 KB between the matrices; VGG-16's
 * 512-channel filters took 13 ms to transform with 1 MB between them).
 */
// @ts-ignore: decorator
@inline export function planeFloats(n: i32): i32 {
  return ((n + 15) & ~15) + 16;
}

/** Output channels of the packed transformed filters: cout rounded up to whole GEMM row panels (the padding rows are zero). */
// @ts-ignore: decorator
@inline export function packedRows(cout: i32): i32 {
  return ((cout + MR - 1) / MR) * MR;
}

/**
 * Byte offsets, within one packed transformed-filter matrix, of rows k .. k+3
 * (one per vector lane) in column c, for the filter transforms' scattered
 * stores. Rows past the padding go to the plane's spare line (planeFloats).
 */
// @ts-ignore: decorator
@inline export function filterLaneOffsets(k: i32, c: i32, cin: i32, mPad: i32): v128 {
  const spare = ((mPad * cin + 15) & ~15) << 2;
  const o0 = k < mPad ? packedAOffset(k, c, cin, mPad) << 2 : spare;
  const o1 = k + 1 < mPad ? packedAOffset(k + 1, c, cin, mPad) << 2 : spare;
  const o2 = k + 2 < mPad ? packedAOffset(k + 2, c, cin, mPad) << 2 : spare;
  const o3 = k + 3 < mPad ? packedAOffset(k + 3, c, cin, mPad) << 2 : spare;
  return i32x4(o0, o1, o2, o3);
}

/** Stores the four lanes of v at base + offs[lane] (bytes). */
// @ts-ignore: decorator
@inline export function scatter4(base: usize, offs: v128, v: v128): void {
  store<f32>(base + <usize>i32x4.extract_lane(offs, 0), f32x4.extract_lane(v, 0));
  store<f32>(base + <usize>i32x4.extract_lane(offs, 1), f32x4.extract_lane(v, 1));
  store<f32>(base + <usize>i32x4.extract_lane(offs, 2), f32x4.extract_lane(v, 2));
  store<f32>(base + <usize>i32x4.extract_lane(offs, 3), f32x4.extract_lane(v, 3));
}

/**
 * The padded input rows' pitch (floats) for output tiles of m x m (2 or 4):
 * F(4x4, 3x3) reads whole groups of four tiles and a vector past them, or,
 * with one or two tiles a row (transformed a channel per lane), two vectors
 * from each tile's start.
 */
// @ts-ignore: decorator
@inline export function winogradPitch(m: i32, tilesW: i32): i32 {
  if (m == 2) return 2 * tilesW + 2;
  return tilesW <= CHANNEL_LANE_TILES ? 4 * tilesW + 4 : 16 * ((tilesW + 3) >> 2) + 4;
}

/**
 * F(4x4, 3x3)'s input transform puts four channels in a vector's lanes,
 * rather than four tiles of a row, when a row has at most this many tiles
 * (images up to 8 pixels wide): four tiles a row would leave lanes empty.
 */
export const CHANNEL_LANE_TILES: i32 = 2;

/** The pitch (floats) of dy's padded rows in the filter gradient: whole groups of four tiles for F(4x4). */
// @ts-ignore: decorator
@inline export function gradientPitch(m: i32, tilesW: i32): i32 {
  return m == 2 ? 2 * tilesW : 16 * ((tilesW + 3) >> 2);
}

/** Floats of the 4x4 transforms' temporaries (72 vectors), 16-byte aligned after the rows before them. */
const TRANSFORM_TMP_FLOATS: i32 = 72 * 4;
/** Slack at the end of every thread's block (a cache line). */
const SLACK_FLOATS: i32 = 64;

/** Floats of the (m + 2)^2 transformed filter matrices U, each cout x cin packed for the GEMM (rows padded to 4). */
export function winogradFilterFloats(cout: i32, cin: i32, m: i32): i32 {
  return (m + 2) * (m + 2) * planeFloats(packedRows(cout) * cin);
}

/** Floats of the transformed filter gradient S that winogradFilterGrad sums: (m + 2)^2 cout x cin matrices. */
export function winogradGradFloats(cout: i32, cin: i32, m: i32): i32 {
  return (m + 2) * (m + 2) * planeFloats(cout * cin);
}

/**
 * Floats of V and M (or E) for one work item: the transformed patches
 * (cin rows) and products (cout rows) of its tiles, for every matrix.
 */
function itemFloats(g: usize, m: i32): i32 {
  const P = (m + 2) * (m + 2);
  const maxT = direct_bands(g) * ((direct_outW(g) + m - 1) / m);
  return P * (planeFloats(direct_cin(g) * maxT) + planeFloats(direct_cout(g) * maxT));
}

/** Most tile rows one image contributes to a work item. */
// @ts-ignore: decorator
@inline export function segmentRows(g: usize, m: i32): i32 {
  return min(direct_bands(g), (direct_outH(g) + m - 1) / m);
}

/**
 * Bytes of one thread's scratch for winogradConv on the record at g: GEMM
 * packing, V, M, the padded input rows and the transforms' temporaries.
 */
export function winogradConvScratchBytes(g: usize, m: i32): i32 {
  const tilesW = (direct_outW(g) + m - 1) / m;
  const rows = direct_cin(g) * (m * segmentRows(g, m) + 2) * winogradPitch(m, tilesW);
  return gemmScratchBytes() + (itemFloats(g, m) + rows + 4 + TRANSFORM_TMP_FLOATS + SLACK_FLOATS) * 4;
}

/**
 * Bytes of one thread's scratch for winogradFilterGrad: GEMM packing, V, E,
 * the padded rows of x and dy and the transforms' temporaries (the slots'
 * parts are apart).
 */
export function winogradGradScratchBytes(g: usize, m: i32): i32 {
  const tilesW = (direct_outW(g) + m - 1) / m, seg = segmentRows(g, m);
  const rows = direct_cin(g) * (m * seg + 2) * winogradPitch(m, tilesW) + direct_cout(g) * m * seg * gradientPitch(m, tilesW);
  return gemmScratchBytes() + (itemFloats(g, m) + rows + 4 + TRANSFORM_TMP_FLOATS + SLACK_FLOATS) * 4;
}
