/**
 * How the wasm backend runs a convolution: which algorithm, on how many
 * threads, cut into which work items, in which slices of the batch. Pure
 * functions of the geometry, the thread count and the constants below: no
 * memory, no runtime, so that test/wasm-plan.test.ts can check the choices
 * for known layers and the invariants (every thread has work, bands within
 * their limits, the memory budget respected) without running a kernel.
 * backend.ts carries a plan out: it writes the records and copies the operands.
 */
import type { Conv2dGeometry } from "../backend.js";

/** Below this much work (about one flop each) a job runs on the calling thread alone. */
export const PARALLEL_WORK = 1 << 18;
/** A convolution whose operands need more than this is run a slice of the batch at a time. */
export const CONV_BUDGET_BYTES = 512 * 1024 * 1024;
/** An unfolded (im2col) band per thread of about this size stays in the L2 cache. */
export const COL_BAND_BYTES = 1 << 20;
/**
 * A stride-1, ungrouped convolution with at most this many taps per output
 * (C * kH * kW) runs as a direct convolution (wasm/assembly/direct.ts): its
 * GEMM would be too thin for packing im2col columns to pay.
 */
export const DIRECT_MAX_TAPS = 1024;
/** Bytes of padded input rows that one output row of a direct convolution reads (about L1). */
export const DIRECT_ROW_BYTES = 64 * 1024;
/** Bytes of transformed patches and products (V and M) per Winograd work item: about half of L2. */
export const WINOGRAD_ITEM_BYTES = 1 << 20;
/** F(4x4, 3x3)'s 36 transformed filter matrices up to this size are worth re-packing for an image's few tiles. */
export const WINOGRAD4_FILTER_BYTES = 12 << 20;
/** The same for the filter gradient, where each reduction slot also keeps 36 sums of that size. */
export const WINOGRAD4_GRADIENT_BYTES = 4 << 20;
/** Fewest tiles per Winograd work item (the GEMMs' N) where the image has them. */
export const WINOGRAD_MIN_TILES = 64;
/** At most this many reduction slots for a filter gradient: enough items for two threads to balance. */
export const MAX_REDUCTION_SLOTS = 4;
/**
 * A filter gradient's extra slot buffers together stay under this (VGG-16's
 * 256x256x3x3 gradient as F(4x4) sums is 9.4 MB: two slots). Each buffer is
 * zeroed, written and added once; eight slots of ResNet-20's 64x64 F(4x4)
 * sums (590 KB each) cost 12% more CPU time than the old per-thread parts.
 */
export const REDUCTION_BYTES = 16 << 20;

/**
 * Which convolution algorithm a call uses: "auto" picks by shape; the others force one (for benchmarks and tests).
 * "winograd" is F(2x2, 3x3); "winograd4" is F(4x4, 3x3).
 */
export type ConvAlgorithm = "auto" | "gemm" | "direct" | "winograd" | "winograd4";
/** A pass of a convolution: the forward pass, the gradient of its input (data) or of its filters. */
export type ConvPass = "forward" | "data" | "filter";
/** The algorithm a pass actually runs with. */
export type ConvKernel = "gemm" | "direct" | "winograd" | "winograd4";

/** 1x1, stride 1, unpadded: the input is the GEMM's operand as it is, without im2col. */
export function isPointwise(g: Conv2dGeometry): boolean {
  return g.kH === 1 && g.kW === 1 && g.strideH === 1 && g.strideW === 1 &&
    g.padTop === 0 && g.padLeft === 0 && g.padBottom === 0 && g.padRight === 0;
}

/** Threads for a job of `work` (about one flop each): all of them, or one when handing over would cost more. */
export function threadsFor(work: number, threads: number): number {
  return work >= PARALLEL_WORK ? threads : 1;
}

/**
 * The output tile of the Winograd kernel a 3x3, stride 1, undilated,
 * ungrouped convolution pass runs with: 2 for F(2x2, 3x3), 4 for F(4x4, 3x3)
 * or 0 for none.
 */
export function winogradTile(g: Conv2dGeometry, pass: ConvPass, algorithm: ConvAlgorithm): 0 | 2 | 4 {
  if (g.kH !== 3 || g.kW !== 3 || g.strideH !== 1 || g.strideW !== 1 || g.dilationH !== 1 || g.dilationW !== 1 || g.groups !== 1) {
    return 0;
  }
  if (algorithm !== "auto") {
    if (algorithm === "winograd4") return 4;
    return algorithm === "winograd" ? 2 : 0;
  }
  if (pass === "filter") {
    // Measured (one thread, CPU ms, N64, bench/kernels.mjs), F(2x2) against the best other
    // kernel: ResNet-20 16x32x32 5.6 (direct 7.2), 32x16x16 4.5 (GEMM 7.7), 64x8x8 4.0
    // (GEMM 8.0); 8 channels at 32x32 2.2 (direct 2.4); 3 input channels 3.4 (direct 2.0).
    // VGG-16's layers (batch 1) 1.5-2x faster than the best other kernel.
    if (Math.min(g.inChannels, g.outChannels) < 8) return 0;
    // F(4x4): 16x32x32 5.1, 32x16x16 3.7, 64x8x8 3.7; VGG-16 conv1_2 32 against 44, conv3_2
    // 27 against 39, conv4_2 54 against 58; slower where each slot's 36 sums of
    // the filter matrices are large for the tiles (ResNet-50 256x14x14 at batch 1: 5.5
    // against 3.4; 512x7x7: 26 against 8.7). Its error is 4-7e-7 of the largest gradient.
    const tiles4 = Math.ceil(g.outH / 4) * Math.ceil(g.outW / 4) * g.batch;
    return tiles4 >= 16 && (36 * g.inChannels * g.outChannels * 4 <= WINOGRAD4_GRADIENT_BYTES || tiles4 >= 49) ? 4 : 2;
  }
  // Measured (one thread, CPU ms, bench/kernels.mjs, forward): F(2x2) 1.3-2.3x faster than
  // the best other kernel from 16 channels up (ResNet-20 16x32x32 5.4 against the direct
  // kernel's 8.4, 64x8x8 3.6 against GEMM's 8.4; VGG-16 512x14x14 13.7 against GEMM's 21.3),
  // even with 8 channels (2.1 against 2.2). With large filter sets it needs enough tiles to
  // pay for transforming the filters: since the transform writes the GEMM's packed panels
  // (no re-packing per work item), 16 tiles do (wall ms, batch 1, 1 / 2 threads: 512x7x7
  // 4.6 / 2.7 against GEMM's 5.4 / 3.1, 256x7x7 1.1 / 0.75 against 1.4 / 0.86, 384->192
  // on 8x8 1.2 / 0.8 against 1.8 / 1.0) and 9 do not (512x6x6: 4.2 / 2.4 against 4.0 / 2.2).
  // Tiles are counted over the batch: a work item's tiles may come from several images.
  const cin = pass === "forward" ? g.inChannels : g.outChannels;
  const cout = pass === "forward" ? g.outChannels : g.inChannels;
  const outH = pass === "forward" ? g.outH : g.inH, outW = pass === "forward" ? g.outW : g.inW;
  const tiles = Math.ceil(outH / 2) * Math.ceil(outW / 2) * g.batch;
  if (!(cin >= 16 && cout >= 16 && (16 * cin * cout * 4 <= WINOGRAD_ITEM_BYTES || tiles >= 16))) return 0;
  // F(4x4, 3x3): 2.25 multiplications per output against 4, but larger transforms and
  // 36 filter matrices to re-pack per work item. Measured (as above, forward / backward
  // data): ResNet-20 16x32x32 4.6 / 4.6 against F(2x2)'s 5.4 / 5.8, 32x16x16 3.4 / 3.3
  // against 4.6 / 4.9, 64x8x8 3.0 / 3.0 against 3.6 / 3.8; VGG-16 conv1_2 32 against 44,
  // conv3_2 22 against 36, conv4_2 32 against 39; 512x14x14 at batch 1 (16 tiles, 37 MB of
  // filter matrices) 12.5 against 13.7 on one thread but 12.2 against 9.0 ms on two, where
  // each thread re-packs them for its half of the tiles. Its float32 error is about 1e-5
  // of the largest output (F(2x2): 5e-7); see docs/performance.md.
  const tiles4 = Math.ceil(outH / 4) * Math.ceil(outW / 4) * g.batch;
  return tiles4 >= 16 && (36 * cin * cout * 4 <= WINOGRAD4_FILTER_BYTES || tiles4 >= 49) ? 4 : 2;
}

/**
 * Whether a stride-1 convolution pass runs as a direct convolution. Measured
 * (bench/kernels.mjs, one thread): the direct kernel beats im2col + GEMM by
 * 15-35% when its 8-pixel vectors and 4-channel blocks are nearly full, and
 * loses when they are not (LeNet's 10-pixel rows fill 10 of 16 lanes). Its
 * backward data is a full convolution of dy, which also multiplies the
 * padding: that costs H*W / (outH*outW) times the useful work (about 2x for
 * LeNet c3's unpadded 5x5). Backward filter (dot products over 4-pixel
 * vectors of dy's rows) measured 15-40% faster on the LeNet and CIFAR layers.
 */
export function useDirect(g: Conv2dGeometry, pass: ConvPass, algorithm: ConvAlgorithm): boolean {
  if (g.strideH !== 1 || g.strideW !== 1 || g.groups !== 1) return false;
  if (algorithm !== "auto") return algorithm === "direct";
  if (isPointwise(g)) return false;
  const lanes = (w: number) => w / (Math.ceil(w / 8) * 8);
  // The padded input rows one output row reads must stay in L1 (VGG's
  // 64x224x224 layer reads 175 KB per row and loses 5-10% to the blocked GEMM).
  const rowsFit = (channels: number, outW: number) =>
    channels * g.kH * (Math.ceil(outW / 8) * 8 + (g.kW - 1) * g.dilationW) * 4 <= DIRECT_ROW_BYTES;
  if (pass === "forward") {
    return g.inChannels * g.kH * g.kW <= DIRECT_MAX_TAPS && lanes(g.outW) >= 0.6 && rowsFit(g.inChannels, g.outW);
  }
  if (pass === "filter") {
    // Vectors of 4 pixels along dy's rows; with many filters the GEMM's
    // register tile is fuller (ResNet-20's 64-channel layer: 8.0 ms GEMM, 9.3 ms direct;
    // its 32-channel layer: 7.5 against 7.8).
    return g.inChannels * g.kH * g.kW <= DIRECT_MAX_TAPS && g.outChannels <= 24 &&
      g.outW / (Math.ceil(g.outW / 4) * 4) >= 0.75 && rowsFit(g.inChannels, g.outW);
  }
  const channels = g.inChannels / (Math.ceil(g.inChannels / 4) * 4);
  const useful = (g.outH * g.outW) / (g.inH * g.inW);
  return g.outChannels * g.kH * g.kW <= DIRECT_MAX_TAPS && lanes(g.inW) * channels * useful >= 0.85 &&
    rowsFit(g.outChannels, g.inW);
}

/** The algorithm a pass of this convolution runs with under the given setting. */
export function chooseConvKernel(g: Conv2dGeometry, pass: ConvPass, algorithm: ConvAlgorithm): ConvKernel {
  const tile = winogradTile(g, pass, algorithm);
  if (tile !== 0) return tile === 4 ? "winograd4" : "winograd";
  return useDirect(g, pass, algorithm) ? "direct" : "gemm";
}

/**
 * Slices [n0, n1) of the batch whose operands (perImageBytes per image) fit
 * the budget together; one image per slice when even one is over it.
 */
export function batchSlices(batch: number, perImageBytes: number, budgetBytes = CONV_BUDGET_BYTES): [number, number][] {
  const per = Math.max(1, Math.floor(budgetBytes / Math.max(1, perImageBytes)));
  const out: [number, number][] = [];
  for (let n0 = 0; n0 < batch; n0 += per) out.push([n0, Math.min(batch, n0 + per)]);
  return out;
}

/** Bytes of one image's input and output: what a slice of the batch holds per image. */
export function convImageBytes(g: Conv2dGeometry): number {
  return (g.inChannels * g.inH * g.inW + g.outChannels * g.outH * g.outW) * 4;
}

/** Multiply-adds of one image's convolution (any pass: they are the same products). */
export function convFlopsPerImage(g: Conv2dGeometry): number {
  return g.outChannels * g.outH * g.outW * (g.inChannels / g.groups) * g.kH * g.kW;
}

/**
 * How many bands each (image, group) pair is cut into: enough that every
 * thread has work, and that one band's unfolded columns stay cache-sized.
 * `limit` is the number of rows (or channels) there are to cut.
 */
export function bandCount(pairs: number, nth: number, colBytes: number, limit: number): number {
  const forThreads = pairs >= nth ? 1 : Math.ceil(nth / pairs);
  return Math.max(1, Math.min(limit, Math.max(forThreads, Math.ceil(colBytes / COL_BAND_BYTES))));
}

/**
 * Rows per work item when `total` rows in items of `run` would leave the
 * threads unevenly loaded: 14 rows in items of 5 give one thread 10 and the
 * other 4 (ResNet-50's 56x56 layers by F(4x4) at batch 1); items of 4 give
 * 8 and 6. Items only get smaller, so they stay cache-sized.
 */
export function balancedRun(total: number, run: number, nth: number): number {
  const items = Math.ceil(total / run);
  if (nth < 2 || items >= 4 * nth || items % nth === 0) return run;
  const smaller = Math.max(1, Math.ceil(total / (nth * Math.ceil(items / nth))));
  const span = (r: number) => Math.ceil(Math.ceil(total / r) / nth) * r; // rows the busiest thread may get
  return span(smaller) < span(run) ? smaller : run;
}

// ---- deterministic filter gradients --------------------------------------------
//
// A filter gradient is a sum over the batch; threads that took whichever images
// they claimed and added their partial sums would make the result depend on
// thread timing. Instead the batch (or the Winograd kernel's runs of tile rows)
// is cut into a fixed number of reduction slots, each a fixed range summed in
// order into its own buffer, and the buffers are added in slot order. The slot
// count depends only on the layer's shape, never on the threads, so every
// thread count gives the same bits; threads still claim work dynamically, as
// (slot, block of output channels) items, and channel blocks (which change no
// sum's order) give every thread work when memory allows few slots.

/** Reduction slots for `units` images (or runs) whose gradient buffer is partBytes: a function of the shape alone. */
export function reductionSlots(units: number, partBytes: number): number {
  return Math.max(1, Math.min(units, MAX_REDUCTION_SLOTS, 1 + Math.floor(REDUCTION_BYTES / partBytes)));
}

/**
 * Blocks of output channels per slot when there are fewer slots than threads:
 * an item for every thread, and no more, since every block unfolds or
 * transforms its input again (F(4x4)'s input transform is about 9% of a
 * 64-channel block's work: VGG conv3 in four blocks took 30% more CPU time).
 */
export function channelBlocks(slots: number, channels: number, nth: number): number {
  if (slots >= nth) return 1;
  return Math.max(1, Math.min(Math.ceil(channels / 4), Math.ceil(nth / slots)));
}

/** A filter gradient's split: reduction slots and channel blocks (their items), and the threads that take them. */
export interface FilterGradientPlan {
  threads: number;
  slots: number;
  kBlocks: number;
}

/** Slots for `units` summed units, blocks of `channels`, and no more threads than items. */
function filterGradientPlan(units: number, partFloats: number, channels: number, work: number, threads: number): FilterGradientPlan {
  const slots = reductionSlots(units, partFloats * 4);
  const nth = threadsFor(work, threads);
  const kBlocks = channelBlocks(slots, channels, nth);
  return { threads: Math.min(slots * kBlocks, nth), slots, kBlocks };
}

// ---- im2col + GEMM ------------------------------------------------------------

/**
 * A GEMM with fewer columns than this does little work for what it packs:
 * smaller output planes are unfolded several images side by side (images).
 * Measured on resnet8-wide's stride-2 layers at batch 128 (one thread, CPU
 * ms, forward / data / filter, before and after, with the vectorised
 * stride-2 unfolding of the same change): 64->128 to 4x4 (16 columns an
 * image) 19.5 / 20.0 / 23.2 -> 17.9 / 18.8 / 20.9, 32->64 to 7x7 (49)
 * 18.1 / 18.5 / 16.7 -> 15.9 / 16.5 / 15.4.
 */
export const GEMM_MIN_COLUMNS = 256;

/**
 * Images unfolded side by side into one GEMM of an im2col + GEMM pass: 1 for
 * output planes of GEMM_MIN_COLUMNS pixels and more, grouped and 1x1
 * convolutions; otherwise enough for that many columns, as long as their
 * columns and products stay about L2-sized (COL_BAND_BYTES).
 */
export function gemmImages(g: Conv2dGeometry, batch: number): number {
  if (g.groups !== 1 || isPointwise(g)) return 1;
  const plane = g.outH * g.outW;
  if (plane >= GEMM_MIN_COLUMNS) return 1;
  const fit = Math.floor(COL_BAND_BYTES / ((g.inChannels * g.kH * g.kW + g.outChannels) * plane * 4));
  return Math.max(1, Math.min(batch, Math.ceil(GEMM_MIN_COLUMNS / plane), fit));
}

/** Work items of an im2col + GEMM forward or backward-data pass on `batch` images (the conv record's bands, rowBands, kBlocks, images). */
export interface GemmConvPlan {
  threads: number;
  bands: number;
  rowBands: number;
  kBlocks: number;
  /** Images per work item (then bands, rowBands and kBlocks are 1). */
  images: number;
}

/** The im2col + GEMM split of a forward or backward-data pass on a slice of `batch` images, for up to `threads` threads. */
export function planGemmConv(g: Conv2dGeometry, pass: "forward" | "data", batch: number, threads: number): GemmConvPlan {
  const nth = threadsFor(convFlopsPerImage(g) * batch, threads);
  const cg = g.inChannels / g.groups;
  const rows = cg * g.kH * g.kW;
  const plane = g.outH * g.outW;
  const colBytes = isPointwise(g) ? 0 : rows * plane * 4;
  const pairs = batch * g.groups;
  // Each output is the same sum whichever images share its GEMM, so the group may shrink to give every thread work.
  const images = Math.min(gemmImages(g, batch), Math.ceil(batch / nth));
  if (images > 1) return { threads: Math.min(nth, Math.ceil(batch / images)), bands: 1, rowBands: 1, kBlocks: 1, images };
  if (pass === "forward") {
    // Too few images for the threads: they split either the pixels (each one then packs all the
    // filters) or the filters (each one then packs all the pixels' columns), whichever is smaller.
    // ResNet-50 at batch 1, 1024->256 1x1 on 14x14: 1 MB of filters against 0.8 MB of columns.
    const kg = g.outChannels / g.groups;
    const splitFilters = pairs < nth && kg >= 8 * nth && kg * rows > rows * plane;
    const bands = bandCount(pairs, splitFilters ? 1 : nth, colBytes, g.outH), kBlocks = splitFilters ? nth : 1;
    return { threads: Math.min(nth, pairs * bands * kBlocks), bands, rowBands: 1, kBlocks, images: 1 };
  }
  // Backward data: channel bands only to give every thread work (a band re-packs all of dy);
  // inside a band, bands of output rows keep the unfolded gradient cache-sized.
  const bands = bandCount(pairs, nth, 0, cg);
  const bandRows = Math.ceil(cg / bands) * g.kH * g.kW;
  return { threads: Math.min(nth, pairs * bands), bands, rowBands: bandCount(1, 1, bandRows * plane * 4, g.outH), kBlocks: 1, images: 1 };
}

/** An im2col + GEMM filter gradient: bands of output rows per image, images per GEMM, and its reduction split. */
export interface GemmFilterPlan extends FilterGradientPlan {
  bands: number;
  images: number;
}

/** The filter gradient of `batch` images whose gradient (dw and db) is partFloats long. */
export function planGemmFilter(g: Conv2dGeometry, batch: number, partFloats: number, threads: number): GemmFilterPlan {
  const colBytes = isPointwise(g) ? 0 : (g.inChannels / g.groups) * g.kH * g.kW * g.outH * g.outW * 4;
  // Bands of output rows keep the unfolded columns cache-sized; they split each
  // image's sum, so their number depends on the shape alone (bandCount for one thread).
  const bands = bandCount(1, 1, colBytes, g.outH);
  const split = filterGradientPlan(batch, partFloats, g.outChannels / g.groups, convFlopsPerImage(g) * batch, threads);
  // Images per GEMM (grouped from each slot's first image): like the slots, a function of the shape alone.
  const images = gemmImages(g, Math.ceil(batch / split.slots));
  return { ...split, bands: images > 1 ? 1 : bands, images };
}

// ---- direct and Winograd ------------------------------------------------------

/** A stride-1, ungrouped convolution as the direct and Winograd kernels take it (the direct record, without its bands). */
export interface DirectShape {
  batch: number; cin: number; hin: number; win: number; cout: number; kH: number; kW: number; dH: number; dW: number;
  offH: number; offW: number; outH: number; outW: number; flip: boolean;
}

/**
 * The direct-kernel convolution that computes a pass on `batch` images:
 * forward and filter gradient convolve x; the data gradient convolves dy with
 * the filters transposed and rotated (flip), padded so that it is a full convolution.
 */
export function directShape(g: Conv2dGeometry, pass: ConvPass, batch: number): DirectShape {
  if (pass === "data") {
    return {
      batch, cin: g.outChannels, hin: g.outH, win: g.outW, cout: g.inChannels, kH: g.kH, kW: g.kW,
      dH: g.dilationH, dW: g.dilationW, offH: (g.kH - 1) * g.dilationH - g.padTop, offW: (g.kW - 1) * g.dilationW - g.padLeft,
      outH: g.inH, outW: g.inW, flip: true,
    };
  }
  return {
    batch, cin: g.inChannels, hin: g.inH, win: g.inW, cout: g.outChannels, kH: g.kH, kW: g.kW,
    dH: g.dilationH, dW: g.dilationW, offH: g.padTop, offW: g.padLeft, outH: g.outH, outW: g.outW, flip: false,
  };
}

/** A direct forward (or backward-data) convolution: threads and bands of output rows per image. */
export interface DirectPlan {
  threads: number;
  bands: number;
}

export function planDirect(d: DirectShape, flopsPerImage: number, threads: number): DirectPlan {
  const nth = threadsFor(flopsPerImage * d.batch, threads);
  const bands = d.batch >= nth ? 1 : Math.min(d.outH, Math.ceil(nth / d.batch));
  return { threads: Math.min(nth, d.batch * bands), bands };
}

/** A direct filter gradient: slots of whole images, blocks of output channels. */
export function planDirectFilter(d: DirectShape, flopsPerImage: number, partFloats: number, threads: number): FilterGradientPlan {
  return filterGradientPlan(d.batch, partFloats, d.cout, flopsPerImage * d.batch, threads);
}

/** A Winograd convolution: threads for the filter transform and for the tiles, tile rows per item, blocks of output channels. */
export interface WinogradPlan {
  filterThreads: number;
  threads: number;
  runRows: number;
  kBlocks: number;
}

/** Tile rows per work item (runs may span images): V and M cache-sized, but at least WINOGRAD_MIN_TILES tiles. */
function cacheRun(d: DirectShape, m: number): number {
  const P = (m + 2) * (m + 2), tilesW = Math.ceil(d.outW / m);
  return Math.max(Math.ceil(WINOGRAD_MIN_TILES / tilesW), Math.floor(WINOGRAD_ITEM_BYTES / (P * (d.cin + d.cout) * tilesW * 4)));
}

export function planWinograd(d: DirectShape, m: 2 | 4, threads: number): WinogradPlan {
  const P = (m + 2) * (m + 2);
  const tilesH = Math.ceil(d.outH / m), tilesW = Math.ceil(d.outW / m);
  const nth = threadsFor(2 * P * d.cout * d.cin * tilesH * tilesW * d.batch, threads);
  // An item for every thread; each item re-packs all P transformed filter matrices.
  const totalRows = d.batch * tilesH;
  let runRows = Math.max(1, Math.min(cacheRun(d, m), totalRows));
  // Fewer runs than threads (one small image): the threads split the output channels, each
  // packing its share of the filters, rather than the tiles, each packing all of them.
  // ResNet-50 at batch 1, 256->256 on 14x14 by F(4x4): 9.4 MB of filters, 0.6 MB of patches.
  let kBlocks = 1;
  if (Math.ceil(totalRows / runRows) < nth) {
    if (d.cout >= 16 * nth && d.cout * d.cin > d.cin * runRows * tilesW) kBlocks = nth;
    else runRows = Math.max(1, Math.ceil(totalRows / nth));
  } else {
    runRows = balancedRun(totalRows, runRows, nth);
  }
  const items = Math.ceil(totalRows / runRows) * kBlocks;
  return { filterThreads: threadsFor(d.cout * d.cin * 4 * P, threads), threads: Math.min(nth, items), runRows, kBlocks };
}

/** A Winograd filter gradient: tile rows per run, its reduction split, and threads for the transform back. */
export interface WinogradFilterPlan extends FilterGradientPlan {
  runRows: number;
  outThreads: number;
}

/** The filter gradient by F(m x m, 3x3) whose parts (S and the bias gradient) are partFloats long. */
export function planWinogradFilter(d: DirectShape, m: 2 | 4, partFloats: number, threads: number): WinogradFilterPlan {
  const P = (m + 2) * (m + 2);
  const tilesH = Math.ceil(d.outH / m), tilesW = Math.ceil(d.outW / m);
  const totalRows = d.batch * tilesH;
  // Tile rows per run (runs may span images): V and E cache-sized, and short
  // enough for a run per reduction slot, but at least WINOGRAD_MIN_TILES
  // tiles (the GEMMs' K). Runs split the sums, so their length depends on
  // the shape alone.
  const minRows = Math.ceil(WINOGRAD_MIN_TILES / tilesW);
  const cacheRows = Math.floor(WINOGRAD_ITEM_BYTES / (P * (d.cin + d.cout) * tilesW * 4));
  const runRows = Math.max(1, Math.min(Math.max(minRows, Math.min(cacheRows, Math.ceil(totalRows / MAX_REDUCTION_SLOTS))), totalRows));
  const runs = Math.ceil(totalRows / runRows);
  const split = filterGradientPlan(runs, partFloats, d.cout, 2 * P * d.cout * d.cin * tilesH * tilesW * d.batch, threads);
  return { ...split, runRows, outThreads: threadsFor(d.cout * d.cin * 5 * P, threads) };
}
