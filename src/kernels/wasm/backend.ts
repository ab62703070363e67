/**
 * The wasm backend: the Backend interface over the AssemblyScript kernels.
 * Tensors stay plain GC-owned Float32Arrays; each call copies its operands
 * into the shared wasm memory (a bump arena reset per call), runs the job on
 * all threads, and copies the results back. Arrays that already live in wasm
 * memory (allocResident: parameters an optimiser trains; step arenas) are used in place.
 */
import type { Backend, MatmulOptions, Conv2dGeometry, Pool2dGeometry, StepArena } from "../backend.js";
import { WasmStepArena } from "./step-arena.js";
import { JsBackend } from "../js/index.js";
import { WasmRuntime } from "./runtime.js";

/** Below this much work (about one flop each) a job runs on the calling thread alone. */
const PARALLEL_WORK = 1 << 18;
/** A convolution whose operands need more than this is run a slice of the batch at a time. */
const CONV_BUDGET_BYTES = 512 * 1024 * 1024;
/** An unfolded (im2col) band per thread of about this size stays in the L2 cache. */
const COL_BAND_BYTES = 1 << 20;

function isPointwise(g: Conv2dGeometry): boolean {
  return g.kH === 1 && g.kW === 1 && g.strideH === 1 && g.strideW === 1 &&
    g.padTop === 0 && g.padLeft === 0 && g.padBottom === 0 && g.padRight === 0;
}

function convRecord(g: Conv2dGeometry, batch: number, bands = 1, rowBands = 1, kBlocks = 1, slots = 1): number[] {
  return [
    batch, g.inChannels, g.inH, g.inW, g.outChannels, g.kH, g.kW, g.strideH, g.strideW,
    g.padTop, g.padLeft, g.dilationH, g.dilationW, g.groups, g.outH, g.outW, isPointwise(g) ? 1 : 0, bands, rowBands, kBlocks,
    slots,
  ];
}

// Deterministic filter gradients. A filter gradient is a sum over the batch;
// threads that took whichever images they claimed and added their partial
// sums would make the result depend on thread timing. Instead the batch (or
// the Winograd kernel's runs of tile rows) is cut into a fixed number of
// reduction slots, each a fixed range summed in order into its own buffer,
// and the buffers are added in slot order. The slot count depends only on
// the layer's shape, never on the threads, so every thread count gives the
// same bits; threads still claim work dynamically, as (slot, block of output
// channels) items, and channel blocks (which change no sum's order) give
// every thread work when memory allows few slots.

/** At most this many reduction slots: enough items for two threads to balance. */
const MAX_REDUCTION_SLOTS = 4;
/**
 * The extra slots' buffers together stay under this (VGG-16's 256x256x3x3
 * gradient as F(4x4) sums is 9.4 MB: two slots). Each buffer is zeroed,
 * written and added once; eight slots of ResNet-20's 64x64 F(4x4) sums
 * (590 KB each) cost 12% more CPU time than the old per-thread parts.
 */
const REDUCTION_BYTES = 16 << 20;

/** Reduction slots for `units` images (or runs) whose gradient buffer is partBytes: a function of the shape alone. */
function reductionSlots(units: number, partBytes: number): number {
  return Math.max(1, Math.min(units, MAX_REDUCTION_SLOTS, 1 + Math.floor(REDUCTION_BYTES / partBytes)));
}

/**
 * Blocks of output channels per slot when there are fewer slots than threads:
 * an item for every thread, and no more, since every block unfolds or
 * transforms its input again (F(4x4)'s input transform is about 9% of a
 * 64-channel block's work: VGG conv3 in four blocks took 30% more CPU time).
 */
function channelBlocks(slots: number, channels: number, nth: number): number {
  if (slots >= nth) return 1;
  return Math.max(1, Math.min(Math.ceil(channels / 4), Math.ceil(nth / slots)));
}

/**
 * How many bands each (image, group) pair is cut into: enough that every
 * thread has work, and that one band's unfolded columns stay cache-sized.
 * `limit` is the number of rows (or channels) there are to cut.
 */
function bandCount(pairs: number, nth: number, colBytes: number, limit: number): number {
  const forThreads = pairs >= nth ? 1 : Math.ceil(nth / pairs);
  return Math.max(1, Math.min(limit, Math.max(forThreads, Math.ceil(colBytes / COL_BAND_BYTES))));
}

/**
 * Rows per work item when `total` rows in items of `run` would leave the
 * threads unevenly loaded: 14 rows in items of 5 give one thread 10 and the
 * other 4 (ResNet-50's 56x56 layers by F(4x4) at batch 1); items of 4 give
 * 8 and 6. Items only get smaller, so they stay cache-sized.
 */
function balancedRun(total: number, run: number, nth: number): number {
  const items = Math.ceil(total / run);
  if (nth < 2 || items >= 4 * nth || items % nth === 0) return run;
  const smaller = Math.max(1, Math.ceil(total / (nth * Math.ceil(items / nth))));
  const span = (r: number) => Math.ceil(Math.ceil(total / r) / nth) * r; // rows the busiest thread may get
  return span(smaller) < span(run) ? smaller : run;
}

/**
 * A stride-1, ungrouped convolution with at most this many taps per output
 * (C * kH * kW) runs as a direct convolution (wasm/assembly/direct.ts): its
 * GEMM would be too thin for packing im2col columns to pay.
 */
const DIRECT_MAX_TAPS = 1024;
/** Bytes of padded input rows that one output row of a direct convolution reads (about L1). */
const DIRECT_ROW_BYTES = 64 * 1024;

/**
 * Which convolution algorithm a call uses: "auto" picks by shape; the others force one (for benchmarks and tests).
 * "winograd" is F(2x2, 3x3); "winograd4" is F(4x4, 3x3).
 */
export type ConvAlgorithm = "auto" | "gemm" | "direct" | "winograd" | "winograd4";

/** Bytes of transformed patches and products (V and M) per Winograd work item: about half of L2. */
const WINOGRAD_ITEM_BYTES = 1 << 20;
/** F(4x4, 3x3)'s 36 transformed filter matrices up to this size are worth re-packing for an image's few tiles. */
const WINOGRAD4_FILTER_BYTES = 12 << 20;
/** The same for the filter gradient, where each reduction slot also keeps 36 sums of that size. */
const WINOGRAD4_GRADIENT_BYTES = 4 << 20;
/** Fewest tiles per Winograd work item (the GEMMs' N) where the image has them. */
const WINOGRAD_MIN_TILES = 64;

/** Floats between two of the 16 or 36 transformed matrices of a Winograd kernel (planeFloats in wasm/assembly/winograd.ts). */
function winogradPlane(n: number): number {
  return Math.ceil(n / 16) * 16 + 16;
}

/** The record of wasm/assembly/direct.ts (D_* fields). */
interface DirectShape {
  batch: number; cin: number; hin: number; win: number; cout: number; kH: number; kW: number; dH: number; dW: number;
  offH: number; offW: number; outH: number; outW: number; flip: boolean;
}

/** A 3x3, stride-1 convolution of `batch` images as the Winograd kernels take it (forward and filter gradient). */
function winogradForwardShape(g: Conv2dGeometry, batch: number): DirectShape {
  return {
    batch, cin: g.inChannels, hin: g.inH, win: g.inW, cout: g.outChannels, kH: 3, kW: 3,
    dH: 1, dW: 1, offH: g.padTop, offW: g.padLeft, outH: g.outH, outW: g.outW, flip: false,
  };
}

function directPitch(d: DirectShape): number {
  return Math.ceil((Math.ceil(d.outW / 8) * 8 + (d.kW - 1) * d.dW) / 4) * 4;
}

function directRecord(d: DirectShape, bands: number, slots = 1, kBlocks = 1): number[] {
  return [d.batch, d.cin, d.hin, d.win, d.cout, d.kH, d.kW, d.dH, d.dW, d.offH, d.offW, d.outH, d.outW,
    directPitch(d), bands, d.flip ? 1 : 0, slots, kBlocks];
}

function poolRecord(g: Pool2dGeometry): number[] {
  return [
    g.batch, g.channels, g.inH, g.inW, g.kH, g.kW, g.strideH, g.strideW,
    g.padTop, g.padLeft, g.padBottom, g.padRight, g.dilationH, g.dilationW, g.outH, g.outW,
  ];
}

/** What a forward convolution does to its output: y = conv * scale + bias per channel, then ReLU. */
interface Epilogue {
  bias: Float32Array | null;
  scale: Float32Array | null;
  relu: boolean;
}
const NO_EPILOGUE: Epilogue = { bias: null, scale: null, relu: false };

/** True when every array is float32 (the js backend also serves float64 gradient checks). */
function allF32(...arrays: (Float32Array | null)[]): boolean {
  for (const a of arrays) if (a !== null && !(a instanceof Float32Array)) return false;
  return true;
}

export class WasmBackend implements Backend {
  readonly name: string = "wasm";
  readonly rt: WasmRuntime;
  private readonly js = new JsBackend();
  private readonly gemmBytes: number;
  private readonly job: Record<string, number>;
  /** "auto": direct convolution for stride-1 layers with few taps, im2col + GEMM otherwise. */
  convAlgorithm: ConvAlgorithm = "auto";
  /**
   * The smallest jobs that are split over the threads; smaller ones run on
   * the calling thread, because handing a job over (and waking a worker that
   * went to sleep between jobs) costs tens of microseconds. Measured on a
   * LeNet-5 step with two idle cores: a 64x120x84 product took 0.03 ms on one
   * thread and 0.22 ms on two. Memory-bound maps: splitting those of 64K
   * floats and more made the whole LeNet-5 step (2 threads, batch 64) 5-8%
   * faster than splitting from 512K (4.2-4.3 ms against 4.5; 8K and 256K
   * were in between), now that activations stay in wasm memory between
   * kernels. Public so that a benchmark can try other values.
   */
  parallelMin = {
    /** Multiply-adds of a matrix product. */
    gemmMacs: 1 << 22,
    /** Floats touched by a memory-bound kernel (pooling, element-wise maps). */
    memoryFloats: 1 << 16,
  };

  constructor(threads?: number) {
    this.rt = new WasmRuntime();
    this.gemmBytes = this.rt.exports.gemmScratchBytes();
    const names = [
      "GEMM", "CONV_FORWARD", "CONV_BACKWARD_DATA", "CONV_BACKWARD_FILTER", "REDUCE", "MAXPOOL", "MAXPOOL_BACKWARD",
      "AVGPOOL", "AVGPOOL_BACKWARD", "BN_TRAIN", "BN_APPLY", "BN_BACKWARD", "IM2COL", "COL2IM", "RELU", "RELU_BACKWARD",
      "DIRECT_FORWARD", "DIRECT_FILTER", "WINOGRAD_FILTERS", "WINOGRAD", "ADD", "WINOGRAD_FILTER_GRAD",
      "WINOGRAD_FILTER_OUT", "SGD_MOMENTUM",
    ];
    this.job = Object.fromEntries(names.map((n) => [n, this.rt.constant(`JOB_${n}`)]));
    if (threads !== undefined) this.rt.setThreads(threads);
  }

  allocResident(n: number): Float32Array | null {
    return this.rt.allocResident(n);
  }

  freeResident(a: Float32Array): void {
    this.rt.freeResident(a);
  }

  isResident(a: Float32Array | Int32Array): boolean {
    return this.rt.isResident(a);
  }

  createStepArena(): StepArena {
    return new WasmStepArena(this.rt);
  }

  /** Uses n threads (default: all cores). */
  setThreads(n: number): void {
    this.rt.setThreads(n);
  }

  get threads(): number {
    return this.rt.threadCount;
  }

  /** Starts the worker threads and resolves once they are ready, without blocking (see WasmRuntime.startThreads). */
  startThreads(): Promise<number> {
    return this.rt.startThreads();
  }

  /** Why this backend runs on one thread (no shared memory), with the fix; null when threads are possible. */
  get threadsOffReason(): string | null {
    return this.rt.threadsOffReason;
  }

  /** One line for logs and badges: "wasm (SIMD, 2 threads)", or one thread and why. */
  describe(): string {
    const n = this.threads;
    const why = this.rt.threadsOffReason;
    return why ? `wasm (SIMD, 1 thread: ${why})` : `wasm (SIMD, ${n} thread${n === 1 ? "" : "s"})`;
  }

  /** Whether the relaxed-SIMD (fused multiply-add) build is in use. */
  get relaxedSimd(): boolean {
    return this.rt.relaxed;
  }

  private threadsFor(work: number): number {
    return work >= PARALLEL_WORK ? this.rt.threadCount : 1;
  }

  /** Threads for a memory-bound kernel over this many floats. */
  private threadsForFloats(floats: number): number {
    return floats >= this.parallelMin.memoryFloats ? this.rt.threadCount : 1;
  }

  /** Per-thread scratch: a block of `stride` bytes for each of nth threads. */
  private scratch(nth: number, bytes: number): { base: number; stride: number } {
    const stride = Math.ceil(bytes / 64) * 64;
    return { base: this.rt.allocBytes(stride * nth), stride };
  }

  /** Buffers of `floats` for `count` reduction slots (the kernels zero what they use). */
  private reductionParts(count: number, floats: number): { base: number; stride: number } {
    const stride = Math.ceil((floats * 4) / 64) * 64;
    return { base: count > 0 ? this.rt.allocBytes(stride * count) : 0, stride };
  }

  /** dst += parts[0] + parts[1] + ..., in that order for every element (REDUCE). */
  private addParts(dst: number, parts: { base: number; stride: number }, count: number, floats: number): void {
    if (count < 1) return;
    this.rt.setArgs([dst, parts.base, parts.stride, count, floats]);
    this.rt.run(this.job.REDUCE, this.threadsForFloats(floats * (count + 1)));
  }

  matmul(a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number, opts: MatmulOptions = {}): void {
    if (!allF32(a, b, c) || m * n * k < 512) {
      this.js.matmul(a, b, c, m, n, k, opts);
      return;
    }
    const { transA = false, transB = false, accumulate = false } = opts;
    const rt = this.rt;
    rt.reset();
    const pa = rt.put(a.subarray(0, m * k));
    const pb = rt.put(b.subarray(0, k * n));
    const pc = accumulate ? rt.put(c.subarray(0, m * n)) : rt.out(c.subarray(0, m * n));
    const nth = m * n * k >= this.parallelMin.gemmMacs ? this.rt.threadCount : 1;
    const s = this.scratch(nth, this.gemmBytes);
    rt.setArgs([m, n, k, pa, transA ? m : k, transA ? 1 : 0, pb, transB ? k : n, transB ? 1 : 0, pc, n,
      accumulate ? 1 : 0, s.base, s.stride]);
    rt.run(this.job.GEMM, nth);
    rt.getF32(pc, c.subarray(0, m * n));
  }

  /** Runs fn over slices [n0, n1) of the batch small enough for the memory budget. */
  private inBatchSlices(g: Conv2dGeometry, perImageBytes: number, fn: (n0: number, n1: number) => void): void {
    const per = Math.max(1, Math.floor(CONV_BUDGET_BYTES / Math.max(1, perImageBytes)));
    for (let n0 = 0; n0 < g.batch; n0 += per) fn(n0, Math.min(g.batch, n0 + per));
  }

  private convSizes(g: Conv2dGeometry) {
    const cg = g.inChannels / g.groups;
    const rows = cg * g.kH * g.kW;
    const plane = g.outH * g.outW;
    return {
      rows, plane,
      inImage: g.inChannels * g.inH * g.inW,
      outImage: g.outChannels * plane,
      colBytes: isPointwise(g) ? 0 : rows * plane * 4,
      flops: g.batch * g.outChannels * plane * rows,
    };
  }

  conv2d(
    x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, g: Conv2dGeometry,
    relu = false, scale: Float32Array | null = null,
  ): void {
    if (!allF32(x, w, bias, y, scale)) {
      this.js.conv2d(x, w, bias, y, g, relu, scale);
      return;
    }
    const epilogue: Epilogue = {
      bias: bias ? bias.subarray(0, g.outChannels) : null, scale: scale ? scale.subarray(0, g.outChannels) : null, relu,
    };
    const z = this.convSizes(g);
    const rt = this.rt;
    const tile = this.winogradTile(g, "forward");
    if (tile !== 0) {
      this.inBatchSlices(g, (z.inImage + z.outImage) * 4, (n0, n1) => {
        const d = winogradForwardShape(g, n1 - n0);
        this.runWinograd(d, tile, x.subarray(n0 * z.inImage, n1 * z.inImage), w.subarray(0, g.outChannels * z.rows),
          epilogue, y.subarray(n0 * z.outImage, n1 * z.outImage));
      });
      return;
    }
    if (this.useDirect(g, "forward")) {
      this.inBatchSlices(g, (z.inImage + z.outImage) * 4, (n0, n1) => {
        const d: DirectShape = {
          batch: n1 - n0, cin: g.inChannels, hin: g.inH, win: g.inW, cout: g.outChannels, kH: g.kH, kW: g.kW,
          dH: g.dilationH, dW: g.dilationW, offH: g.padTop, offW: g.padLeft, outH: g.outH, outW: g.outW, flip: false,
        };
        this.runDirect(d, x.subarray(n0 * z.inImage, n1 * z.inImage), w.subarray(0, g.outChannels * z.rows),
          epilogue, y.subarray(n0 * z.outImage, n1 * z.outImage), z.flops / g.batch);
      });
      return;
    }
    this.inBatchSlices(g, (z.inImage + z.outImage) * 4, (n0, n1) => {
      const nb = n1 - n0;
      rt.reset();
      const geom = rt.allocBytes(128);
      const px = rt.put(x.subarray(n0 * z.inImage, n1 * z.inImage));
      const pw = rt.put(w.subarray(0, g.outChannels * z.rows));
      const pbias = epilogue.bias ? rt.put(epilogue.bias) : 0;
      const pscale = epilogue.scale ? rt.put(epilogue.scale) : 0;
      const py = rt.out(y.subarray(n0 * z.outImage, n1 * z.outImage));
      const nth = this.threadsFor((z.flops / g.batch) * nb);
      const pairs = nb * g.groups;
      // Too few images for the threads: they split either the pixels (each one then packs all the
      // filters) or the filters (each one then packs all the pixels' columns), whichever is smaller.
      // ResNet-50 at batch 1, 1024->256 1x1 on 14x14: 1 MB of filters against 0.8 MB of columns.
      const kg = g.outChannels / g.groups;
      const splitFilters = pairs < nth && kg >= 8 * nth && kg * z.rows > z.rows * g.outH * g.outW;
      const kBlocks = splitFilters ? nth : 1;
      const bands = bandCount(pairs, splitFilters ? 1 : nth, z.colBytes, g.outH);
      const s = this.scratch(nth, this.gemmBytes + z.rows * Math.ceil(g.outH / bands) * g.outW * 4);
      rt.i32.set(convRecord(g, nb, bands, 1, kBlocks), geom >>> 2);
      rt.setArgs([geom, px, pw, pbias, py, relu ? 1 : 0, s.base, s.stride, this.gemmBytes, pscale]);
      rt.run(this.job.CONV_FORWARD, nth);
      rt.getF32(py, y.subarray(n0 * z.outImage, n1 * z.outImage));
    });
  }

  conv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, g: Conv2dGeometry): void {
    if (!allF32(dy, w, dx)) {
      this.js.conv2dBackwardData(dy, w, dx, g);
      return;
    }
    const z = this.convSizes(g);
    const rt = this.rt;
    // The gradient of a stride-1 convolution is a convolution of dy with the
    // filters transposed and rotated: the direct or Winograd kernel.
    const tile = this.winogradTile(g, "data");
    if (tile !== 0) {
      this.inBatchSlices(g, (z.inImage + z.outImage) * 4, (n0, n1) => {
        const d: DirectShape = {
          batch: n1 - n0, cin: g.outChannels, hin: g.outH, win: g.outW, cout: g.inChannels, kH: 3, kW: 3,
          dH: 1, dW: 1, offH: 2 - g.padTop, offW: 2 - g.padLeft, outH: g.inH, outW: g.inW, flip: true,
        };
        this.runWinograd(d, tile, dy.subarray(n0 * z.outImage, n1 * z.outImage), w.subarray(0, g.outChannels * z.rows),
          NO_EPILOGUE, dx.subarray(n0 * z.inImage, n1 * z.inImage));
      });
      return;
    }
    if (this.useDirect(g, "data")) {
      this.inBatchSlices(g, (z.inImage + z.outImage) * 4, (n0, n1) => {
        const d: DirectShape = {
          batch: n1 - n0, cin: g.outChannels, hin: g.outH, win: g.outW, cout: g.inChannels, kH: g.kH, kW: g.kW,
          dH: g.dilationH, dW: g.dilationW, offH: (g.kH - 1) * g.dilationH - g.padTop, offW: (g.kW - 1) * g.dilationW - g.padLeft,
          outH: g.inH, outW: g.inW, flip: true,
        };
        this.runDirect(d, dy.subarray(n0 * z.outImage, n1 * z.outImage), w.subarray(0, g.outChannels * z.rows), NO_EPILOGUE,
          dx.subarray(n0 * z.inImage, n1 * z.inImage), z.flops / g.batch);
      });
      return;
    }
    this.inBatchSlices(g, (z.inImage + z.outImage) * 4, (n0, n1) => {
      const nb = n1 - n0;
      rt.reset();
      const geom = rt.allocBytes(128);
      const pdy = rt.put(dy.subarray(n0 * z.outImage, n1 * z.outImage));
      const pw = rt.put(w.subarray(0, g.outChannels * z.rows));
      const pdx = rt.out(dx.subarray(n0 * z.inImage, n1 * z.inImage));
      const nth = this.threadsFor((z.flops / g.batch) * nb);
      // Channel bands only to give every thread work (a band re-packs all of dy);
      // inside a band, bands of output rows keep the unfolded gradient cache-sized.
      const cg = g.inChannels / g.groups;
      const bands = bandCount(nb * g.groups, nth, 0, cg);
      const bandRows = Math.ceil(cg / bands) * g.kH * g.kW;
      const rowBands = bandCount(1, 1, bandRows * z.plane * 4, g.outH);
      const s = this.scratch(nth, this.gemmBytes + bandRows * Math.ceil(g.outH / rowBands) * g.outW * 4);
      rt.i32.set(convRecord(g, nb, bands, rowBands), geom >>> 2);
      rt.setArgs([geom, pdy, pw, pdx, s.base, s.stride, this.gemmBytes]);
      rt.run(this.job.CONV_BACKWARD_DATA, nth);
      rt.getF32(pdx, dx.subarray(n0 * z.inImage, n1 * z.inImage));
    });
  }

  conv2dBackwardFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, dbias: Float32Array | null, g: Conv2dGeometry): void {
    if (!allF32(x, dy, dw, dbias)) {
      this.js.conv2dBackwardFilter(x, dy, dw, dbias, g);
      return;
    }
    const z = this.convSizes(g);
    const rt = this.rt;
    const dwFloats = g.outChannels * z.rows;
    const partFloats = dwFloats + (dbias ? g.outChannels : 0);
    const tile = this.winogradTile(g, "filter");
    if (tile !== 0) {
      this.inBatchSlices(g, (z.inImage + z.outImage) * 4, (n0, n1) => {
        const d = winogradForwardShape(g, n1 - n0);
        this.runWinogradFilter(d, tile, x.subarray(n0 * z.inImage, n1 * z.inImage), dy.subarray(n0 * z.outImage, n1 * z.outImage),
          dw.subarray(0, dwFloats), dbias ? dbias.subarray(0, g.outChannels) : null);
      });
      return;
    }
    if (this.useDirect(g, "filter")) {
      this.inBatchSlices(g, (z.inImage + z.outImage) * 4, (n0, n1) => {
        const nb = n1 - n0;
        const d: DirectShape = {
          batch: nb, cin: g.inChannels, hin: g.inH, win: g.inW, cout: g.outChannels, kH: g.kH, kW: g.kW,
          dH: g.dilationH, dW: g.dilationW, offH: g.padTop, offW: g.padLeft, outH: g.outH, outW: g.outW, flip: false,
        };
        rt.reset();
        const geom = rt.allocBytes(128);
        const px = rt.put(x.subarray(n0 * z.inImage, n1 * z.inImage));
        const pdy = rt.put(dy.subarray(n0 * z.outImage, n1 * z.outImage));
        const pdw = rt.alloc(partFloats);
        rt.f32.set(dw.subarray(0, dwFloats), pdw >>> 2);
        const pdb = dbias ? pdw + dwFloats * 4 : 0;
        if (dbias) rt.f32.set(dbias.subarray(0, g.outChannels), pdb >>> 2);
        const slots = reductionSlots(nb, partFloats * 4);
        const threads = this.threadsFor((z.flops / g.batch) * nb);
        const kBlocks = channelBlocks(slots, d.cout, threads);
        const nth = Math.min(slots * kBlocks, threads);
        const rows = d.outH + (d.kH - 1) * d.dH;
        // padded image, padded dy, the taps' offset table
        const work = (d.cin * rows * directPitch(d) + Math.ceil(d.cout / 4) * 4 * d.outH * Math.ceil(d.outW / 4) * 4 + z.rows + 64) * 4;
        const s = this.scratch(nth, work);
        const parts = this.reductionParts(slots - 1, partFloats);
        rt.i32.set(directRecord(d, 1, slots, kBlocks), geom >>> 2);
        rt.setArgs([geom, px, pdy, pdw, pdb, s.base, s.stride, parts.base, parts.stride]);
        rt.run(this.job.DIRECT_FILTER, nth);
        this.addParts(pdw, parts, slots - 1, partFloats);
        rt.getF32(pdw, dw.subarray(0, dwFloats));
        if (dbias) rt.getF32(pdb, dbias.subarray(0, g.outChannels));
      });
      return;
    }
    this.inBatchSlices(g, (z.inImage + z.outImage) * 4, (n0, n1) => {
      const nb = n1 - n0;
      rt.reset();
      const geom = rt.allocBytes(128);
      const px = rt.put(x.subarray(n0 * z.inImage, n1 * z.inImage));
      const pdy = rt.put(dy.subarray(n0 * z.outImage, n1 * z.outImage));
      // dw and dbias side by side, so one reduction covers both.
      const pdw = rt.alloc(partFloats);
      rt.f32.set(dw.subarray(0, dwFloats), pdw >>> 2);
      const pdb = dbias ? pdw + dwFloats * 4 : 0;
      if (dbias) rt.f32.set(dbias.subarray(0, g.outChannels), pdb >>> 2);
      // Bands of output rows keep the unfolded columns cache-sized; they split each
      // image's sum, so their number depends on the shape alone (bandCount for one thread).
      const bands = bandCount(1, 1, z.colBytes, g.outH);
      const colBytes = Math.ceil((z.rows * Math.ceil(g.outH / bands) * g.outW * 4) / 64) * 64;
      const slots = reductionSlots(nb, partFloats * 4);
      const threads = this.threadsFor((z.flops / g.batch) * nb);
      const kBlocks = channelBlocks(slots, g.outChannels / g.groups, threads);
      const nth = Math.min(slots * kBlocks, threads);
      const s = this.scratch(nth, this.gemmBytes + colBytes);
      const parts = this.reductionParts(slots - 1, partFloats);
      rt.i32.set(convRecord(g, nb, bands, 1, kBlocks, slots), geom >>> 2);
      rt.setArgs([geom, px, pdy, pdw, pdb, s.base, s.stride, this.gemmBytes, parts.base, parts.stride]);
      rt.run(this.job.CONV_BACKWARD_FILTER, nth);
      this.addParts(pdw, parts, slots - 1, partFloats);
      rt.getF32(pdw, dw.subarray(0, dwFloats));
      if (dbias) rt.getF32(pdb, dbias.subarray(0, g.outChannels));
    });
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
  /** The algorithm a pass of this convolution runs with under the current setting. */
  convAlgorithmFor(g: Conv2dGeometry, pass: "forward" | "data" | "filter"): "direct" | "gemm" | "winograd" | "winograd4" {
    const tile = this.winogradTile(g, pass);
    if (tile !== 0) return tile === 4 ? "winograd4" : "winograd";
    return this.useDirect(g, pass) ? "direct" : "gemm";
  }

  private useDirect(g: Conv2dGeometry, pass: "forward" | "data" | "filter"): boolean {
    if (g.strideH !== 1 || g.strideW !== 1 || g.groups !== 1) return false;
    if (this.convAlgorithm !== "auto") return this.convAlgorithm === "direct";
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

  /**
   * The output tile of the Winograd kernel a 3x3, stride 1, undilated,
   * ungrouped convolution pass runs with: 2 for F(2x2, 3x3), 4 for F(4x4, 3x3)
   * or 0 for none.
   */
  private winogradTile(g: Conv2dGeometry, pass: "forward" | "data" | "filter"): 0 | 2 | 4 {
    if (g.kH !== 3 || g.kW !== 3 || g.strideH !== 1 || g.strideW !== 1 || g.dilationH !== 1 || g.dilationW !== 1 || g.groups !== 1) {
      return 0;
    }
    if (this.convAlgorithm !== "auto") {
      if (this.convAlgorithm === "winograd4") return 4;
      return this.convAlgorithm === "winograd" ? 2 : 0;
    }
    if (pass === "filter") {
      // Measured (one thread, CPU ms, N64, bench/kernels.mjs), F(2x2) against the best other
      // kernel: ResNet-20 16x32x32 5.6 (direct 7.2), 32x16x16 4.5 (GEMM 7.7), 64x8x8 4.0
      // (GEMM 8.0); 8 channels at 32x32 2.2 (direct 2.4); 3 input channels 3.4 (direct 2.0).
      // VGG-16's layers (batch 1) 1.5-2x faster than the best other kernel.
      if (Math.min(g.inChannels, g.outChannels) < 8) return 0;
      // F(4x4): 16x32x32 5.1, 32x16x16 3.7, 64x8x8 3.7; VGG-16 conv1_2 32 against 44, conv3_2
      // 27 against 39, conv4_2 54 against 58; slower where each thread's (now: slot's) 36 sums of
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
   * Runs a Winograd convolution with m x m output tiles (2 or 4) on a batch
   * (input, filters and output already sliced).
   */
  private runWinograd(d: DirectShape, m: 2 | 4, input: Float32Array, w: Float32Array, e: Epilogue, out: Float32Array): void {
    const rt = this.rt;
    rt.reset();
    const geom = rt.allocBytes(128);
    const px = rt.put(input);
    const pw = rt.put(w);
    const pbias = e.bias ? rt.put(e.bias) : 0;
    const pscale = e.scale ? rt.put(e.scale) : 0;
    const P = (m + 2) * (m + 2); // transformed matrices
    const pu = rt.alloc(P * winogradPlane(Math.ceil(d.cout / 4) * 4 * d.cin)); // packed for the GEMM, rows padded to 4
    const py = rt.out(out);
    const tilesH = Math.ceil(d.outH / m), tilesW = Math.ceil(d.outW / m);
    const flops = 2 * P * d.cout * d.cin * tilesH * tilesW * d.batch;
    const nth = this.threadsFor(flops);
    rt.setArgs([pw, pu, d.cout, d.cin, d.flip ? 1 : 0, m]);
    rt.run(this.job.WINOGRAD_FILTERS, this.threadsFor(d.cout * d.cin * 4 * P));
    // Tile rows per work item (runs may span images): V and M cache-sized, and an item for every thread.
    // At least WINOGRAD_MIN_TILES tiles per item: each item re-packs all P transformed filter matrices.
    const totalRows = d.batch * tilesH;
    let runRows = Math.max(Math.ceil(WINOGRAD_MIN_TILES / tilesW), Math.floor(WINOGRAD_ITEM_BYTES / (P * (d.cin + d.cout) * tilesW * 4)));
    runRows = Math.max(1, Math.min(runRows, totalRows));
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
    const segRows = Math.min(runRows, tilesH);
    const maxT = runRows * tilesW;
    // Padded input rows (winogradPitch in wasm/assembly/winograd.ts), then 72 vectors for the 6x6 transforms.
    const pitch = m === 2 ? 2 * tilesW + 2 : 16 * Math.ceil(tilesW / 4) + 4;
    const bytes = this.gemmBytes + (P * (winogradPlane(d.cin * maxT) + winogradPlane(d.cout * maxT)) +
      d.cin * (m * segRows + 2) * pitch + 4 + 72 * 4 + 64) * 4;
    const s = this.scratch(nth, bytes);
    rt.i32.set(directRecord(d, runRows), geom >>> 2);
    rt.setArgs([geom, px, pu, pbias, py, e.relu ? 1 : 0, s.base, s.stride, this.gemmBytes, m, pscale, kBlocks]);
    rt.run(this.job.WINOGRAD, nth);
    rt.getF32(py, out);
  }

  /**
   * Adds the filter (and bias) gradient of a 3x3, stride-1 convolution on a
   * batch by Winograd F(m x m, 3x3), m = 2 or 4 (wasm/assembly/winograd-filter.ts):
   * each thread sums the 16 or 36 transformed products over its tiles into a
   * private part, the parts are added (REDUCE), and one transform back adds
   * them to dw.
   */
  private runWinogradFilter(d: DirectShape, m: 2 | 4, x: Float32Array, dy: Float32Array, dw: Float32Array, dbias: Float32Array | null): void {
    const rt = this.rt;
    rt.reset();
    const geom = rt.allocBytes(128);
    const px = rt.put(x);
    const pdy = rt.put(dy);
    const pdw = rt.put(dw);
    const pdb = dbias ? rt.put(dbias) : 0;
    const P = (m + 2) * (m + 2); // transformed matrices
    const tilesH = Math.ceil(d.outH / m), tilesW = Math.ceil(d.outW / m);
    const totalRows = d.batch * tilesH;
    // Tile rows per run (runs may span images): V and E cache-sized, and short
    // enough for a run per reduction slot, but at least WINOGRAD_MIN_TILES
    // tiles (the GEMMs' K). Runs split the sums, so their length depends on
    // the shape alone.
    const minRows = Math.ceil(WINOGRAD_MIN_TILES / tilesW);
    const cacheRows = Math.floor(WINOGRAD_ITEM_BYTES / (P * (d.cin + d.cout) * tilesW * 4));
    let runRows = Math.max(minRows, Math.min(cacheRows, Math.ceil(totalRows / MAX_REDUCTION_SLOTS)));
    runRows = Math.max(1, Math.min(runRows, totalRows));
    const runs = Math.ceil(totalRows / runRows);
    const segRows = Math.min(runRows, tilesH);
    // Padded rows of x and dy (winogradPitch and pitchY in wasm/assembly/), then 72 vectors for the 6x6 transforms.
    const pitch = m === 2 ? 2 * tilesW + 2 : 16 * Math.ceil(tilesW / 4) + 4, pitchY = m === 2 ? 2 * tilesW : 16 * Math.ceil(tilesW / 4);
    const sFloats = P * winogradPlane(d.cout * d.cin);
    const partFloats = sFloats + (dbias ? d.cout : 0);
    const slots = reductionSlots(runs, partFloats * 4);
    const threads = this.threadsFor(2 * P * d.cout * d.cin * tilesH * tilesW * d.batch);
    const kBlocks = channelBlocks(slots, d.cout, threads);
    const nth = Math.min(slots * kBlocks, threads);
    const maxT = runRows * tilesW;
    const work = this.gemmBytes + (P * (winogradPlane(d.cin * maxT) + winogradPlane(d.cout * maxT)) + d.cin * (m * segRows + 2) * pitch +
      d.cout * m * segRows * pitchY + 4 + 72 * 4 + 64) * 4;
    const s = this.scratch(nth, work);
    // Every slot sums into a part here (slot 0 too: S is transformed into dw afterwards).
    const parts = this.reductionParts(slots, partFloats);
    rt.i32.set(directRecord(d, runRows, slots, kBlocks), geom >>> 2);
    rt.setArgs([geom, px, pdy, s.base, s.stride, this.gemmBytes, parts.base, parts.stride, sFloats, dbias ? 1 : 0, m]);
    rt.run(this.job.WINOGRAD_FILTER_GRAD, nth);
    const part0 = parts.base;
    this.addParts(part0, { base: part0 + parts.stride, stride: parts.stride }, slots - 1, partFloats);
    rt.setArgs([part0, part0 + sFloats * 4, pdw, pdb, d.cout, d.cin, m]);
    rt.run(this.job.WINOGRAD_FILTER_OUT, this.threadsFor(d.cout * d.cin * 5 * P));
    rt.getF32(pdw, dw);
    if (dbias) rt.getF32(pdb, dbias);
  }

  /** Runs a direct convolution job on a batch (input, filters and output already sliced). */
  private runDirect(
    d: DirectShape, input: Float32Array, w: Float32Array, e: Epilogue, out: Float32Array, flopsPerImage: number,
  ): void {
    const rt = this.rt;
    rt.reset();
    const geom = rt.allocBytes(128);
    const px = rt.put(input);
    const pw = rt.put(w);
    const pbias = e.bias ? rt.put(e.bias) : 0;
    const pscale = e.scale ? rt.put(e.scale) : 0;
    const py = rt.out(out);
    const nth = this.threadsFor(flopsPerImage * d.batch);
    const bands = d.batch >= nth ? 1 : Math.min(d.outH, Math.ceil(nth / d.batch));
    const bandRows = Math.ceil(d.outH / bands) + (d.kH - 1) * d.dH;
    const packed = Math.ceil(d.cout / 4) * 4 * d.cin * d.kH * d.kW;
    const s = this.scratch(nth, (packed + d.cin * bandRows * directPitch(d) + 64) * 4);
    rt.i32.set(directRecord(d, bands), geom >>> 2);
    rt.setArgs([geom, px, pw, pbias, py, e.relu ? 1 : 0, s.base, s.stride, pscale]);
    rt.run(this.job.DIRECT_FORWARD, nth);
    rt.getF32(py, out);
  }

  im2col(x: Float32Array, xOffset: number, col: Float32Array, g: Conv2dGeometry): void {
    if (!allF32(x, col)) {
      this.js.im2col(x, xOffset, col, g);
      return;
    }
    const rt = this.rt;
    const inImage = g.inChannels * g.inH * g.inW;
    const colFloats = g.inChannels * g.kH * g.kW * g.outH * g.outW;
    rt.reset();
    const geom = rt.allocBytes(128);
    const px = rt.put(x.subarray(xOffset, xOffset + inImage));
    const pcol = rt.alloc(colFloats);
    rt.i32.set(convRecord(g, 1), geom >>> 2);
    rt.setArgs([geom, px, pcol]);
    rt.run(this.job.IM2COL, 1);
    rt.getF32(pcol, col.subarray(0, colFloats));
  }

  col2im(col: Float32Array, dx: Float32Array, dxOffset: number, g: Conv2dGeometry): void {
    if (!allF32(col, dx)) {
      this.js.col2im(col, dx, dxOffset, g);
      return;
    }
    const rt = this.rt;
    const inImage = g.inChannels * g.inH * g.inW;
    const colFloats = g.inChannels * g.kH * g.kW * g.outH * g.outW;
    rt.reset();
    const geom = rt.allocBytes(128);
    const pcol = rt.put(col.subarray(0, colFloats));
    const pdx = rt.put(dx.subarray(dxOffset, dxOffset + inImage));
    rt.i32.set(convRecord(g, 1), geom >>> 2);
    rt.setArgs([geom, pcol, pdx]);
    rt.run(this.job.COL2IM, 1);
    rt.getF32(pdx, dx.subarray(dxOffset, dxOffset + inImage));
  }

  /** Starts a pooling call: a fresh arena with the geometry record written, and the input and output sizes. */
  private beginPool(g: Pool2dGeometry): { rt: WasmRuntime; geom: number; inN: number; outN: number } {
    const rt = this.rt;
    rt.reset();
    const geom = rt.allocBytes(128);
    rt.i32.set(poolRecord(g), geom >>> 2);
    return { rt, geom, inN: g.batch * g.channels * g.inH * g.inW, outN: g.batch * g.channels * g.outH * g.outW };
  }

  maxPool2d(x: Float32Array, y: Float32Array, argmax: Int32Array, g: Pool2dGeometry): void {
    if (!allF32(x, y)) {
      this.js.maxPool2d(x, y, argmax, g);
      return;
    }
    const { rt, geom, inN, outN } = this.beginPool(g);
    const px = rt.put(x.subarray(0, inN));
    const py = rt.out(y.subarray(0, outN));
    const pa = rt.out(argmax.subarray(0, outN));
    rt.setArgs([geom, px, py, pa]);
    rt.run(this.job.MAXPOOL, this.threadsForFloats(inN + 2 * outN));
    rt.getF32(py, y.subarray(0, outN));
    rt.getI32(pa, argmax.subarray(0, outN));
  }

  maxPool2dBackward(dy: Float32Array, argmax: Int32Array, dx: Float32Array, g: Pool2dGeometry): void {
    if (!allF32(dy, dx)) {
      this.js.maxPool2dBackward(dy, argmax, dx, g);
      return;
    }
    const { rt, geom, inN, outN } = this.beginPool(g);
    const pdy = rt.put(dy.subarray(0, outN));
    const pa = rt.put(argmax.subarray(0, outN));
    const pdx = rt.out(dx.subarray(0, inN));
    rt.setArgs([geom, pdy, pa, pdx]);
    rt.run(this.job.MAXPOOL_BACKWARD, this.threadsForFloats(inN + 2 * outN));
    rt.getF32(pdx, dx.subarray(0, inN));
  }

  avgPool2d(x: Float32Array, y: Float32Array, g: Pool2dGeometry, countIncludePad: boolean): void {
    if (!allF32(x, y)) {
      this.js.avgPool2d(x, y, g, countIncludePad);
      return;
    }
    const { rt, geom, inN, outN } = this.beginPool(g);
    const px = rt.put(x.subarray(0, inN));
    const py = rt.out(y.subarray(0, outN));
    rt.setArgs([geom, px, py, countIncludePad ? 1 : 0]);
    rt.run(this.job.AVGPOOL, this.threadsFor(outN * g.kH * g.kW));
    rt.getF32(py, y.subarray(0, outN));
  }

  avgPool2dBackward(dy: Float32Array, dx: Float32Array, g: Pool2dGeometry, countIncludePad: boolean): void {
    if (!allF32(dy, dx)) {
      this.js.avgPool2dBackward(dy, dx, g, countIncludePad);
      return;
    }
    const { rt, geom, inN, outN } = this.beginPool(g);
    const pdy = rt.put(dy.subarray(0, outN));
    const pdx = rt.out(dx.subarray(0, inN));
    rt.setArgs([geom, pdy, pdx, countIncludePad ? 1 : 0]);
    rt.run(this.job.AVGPOOL_BACKWARD, this.threadsFor(outN * g.kH * g.kW));
    rt.getF32(pdx, dx.subarray(0, inN));
  }

  batchNormTrain(
    x: Float32Array, gamma: Float32Array | null, beta: Float32Array | null, y: Float32Array,
    mean: Float32Array, invStd: Float32Array, n: number, c: number, spatial: number, eps: number, relu = false,
  ): void {
    if (!allF32(x, gamma, beta, y, mean, invStd)) {
      this.js.batchNormTrain(x, gamma, beta, y, mean, invStd, n, c, spatial, eps, relu);
      return;
    }
    const rt = this.rt;
    const total = n * c * spatial;
    rt.reset();
    const px = rt.put(x.subarray(0, total));
    const pg = gamma ? rt.put(gamma.subarray(0, c)) : 0;
    const pb = beta ? rt.put(beta.subarray(0, c)) : 0;
    const py = rt.out(y.subarray(0, total));
    const pm = rt.out(mean.subarray(0, c));
    const ps = rt.out(invStd.subarray(0, c));
    rt.setArgs([px, pg, pb, py, pm, ps, n, c, spatial, 0, relu ? 1 : 0]);
    rt.setArgF32(9, eps);
    rt.run(this.job.BN_TRAIN, this.threadsFor(total * 4));
    rt.getF32(py, y.subarray(0, total));
    rt.getF32(pm, mean.subarray(0, c));
    rt.getF32(ps, invStd.subarray(0, c));
  }

  batchNormApply(
    x: Float32Array, gamma: Float32Array | null, beta: Float32Array | null, y: Float32Array,
    mean: Float32Array, invStd: Float32Array, n: number, c: number, spatial: number, relu = false,
  ): void {
    if (!allF32(x, gamma, beta, y, mean, invStd)) {
      this.js.batchNormApply(x, gamma, beta, y, mean, invStd, n, c, spatial, relu);
      return;
    }
    const rt = this.rt;
    const total = n * c * spatial;
    rt.reset();
    const px = rt.put(x.subarray(0, total));
    const pg = gamma ? rt.put(gamma.subarray(0, c)) : 0;
    const pb = beta ? rt.put(beta.subarray(0, c)) : 0;
    const py = rt.out(y.subarray(0, total));
    const pm = rt.put(mean.subarray(0, c));
    const ps = rt.put(invStd.subarray(0, c));
    rt.setArgs([px, pg, pb, py, pm, ps, n, c, spatial, relu ? 1 : 0]);
    rt.run(this.job.BN_APPLY, this.threadsFor(total * 2));
    rt.getF32(py, y.subarray(0, total));
  }

  batchNormBackward(
    x: Float32Array, dy: Float32Array, mean: Float32Array, invStd: Float32Array, gamma: Float32Array | null,
    dx: Float32Array, dgamma: Float32Array | null, dbeta: Float32Array | null,
    n: number, c: number, spatial: number, batchStats: boolean, reluOutput: Float32Array | null = null,
  ): void {
    if (!allF32(x, dy, mean, invStd, gamma, dx, dgamma, dbeta, reluOutput)) {
      this.js.batchNormBackward(x, dy, mean, invStd, gamma, dx, dgamma, dbeta, n, c, spatial, batchStats, reluOutput);
      return;
    }
    const rt = this.rt;
    const total = n * c * spatial;
    rt.reset();
    const px = rt.put(x.subarray(0, total));
    const pdy = rt.put(dy.subarray(0, total));
    const pm = rt.put(mean.subarray(0, c));
    const ps = rt.put(invStd.subarray(0, c));
    const pg = gamma ? rt.put(gamma.subarray(0, c)) : 0;
    const pdx = rt.out(dx.subarray(0, total));
    const pdg = dgamma ? rt.put(dgamma.subarray(0, c)) : 0;
    const pdb = dbeta ? rt.put(dbeta.subarray(0, c)) : 0;
    const py = reluOutput ? rt.put(reluOutput.subarray(0, total)) : 0;
    rt.setArgs([px, pdy, pm, ps, pg, pdx, pdg, pdb, n, c, spatial, batchStats ? 1 : 0, py]);
    rt.run(this.job.BN_BACKWARD, this.threadsFor(total * 4));
    rt.getF32(pdx, dx.subarray(0, total));
    if (dgamma) rt.getF32(pdg, dgamma.subarray(0, c));
    if (dbeta) rt.getF32(pdb, dbeta.subarray(0, c));
  }

  // In wasm despite the copies: the JavaScript loop branches on every sign
  // and mispredicts half the time (measured: about 10x slower than copy + SIMD).
  relu(x: Float32Array, y: Float32Array): void {
    const n = x.length;
    if (!allF32(x, y) || n < 256) {
      this.js.relu(x, y);
      return;
    }
    const rt = this.rt;
    rt.reset();
    const px = rt.put(x);
    const py = rt.out(y.subarray(0, n));
    rt.setArgs([px, py, n]);
    rt.run(this.job.RELU, this.threadsForFloats(n * 2));
    rt.getF32(py, y.subarray(0, n));
  }

  add(a: Float32Array, b: Float32Array, y: Float32Array, relu = false): void {
    const n = y.length;
    if (!allF32(a, b, y) || n < 256) {
      this.js.add(a, b, y, relu);
      return;
    }
    const rt = this.rt;
    rt.reset();
    const pa = rt.put(a.subarray(0, n));
    const pb = rt.put(b.subarray(0, n));
    const py = rt.out(y);
    rt.setArgs([pa, pb, py, n, relu ? 1 : 0]);
    rt.run(this.job.ADD, this.threadsForFloats(n * 3));
    rt.getF32(py, y);
  }

  sgdMomentum(w: Float32Array, g: Float32Array, buf: Float32Array, lr: number, keep: number, take: number): boolean {
    const rt = this.rt;
    // In place only: copying the three arrays in and two out would cost more than the loop.
    if (!(rt.isResident(w) && rt.isResident(g) && rt.isResident(buf)) || w.length !== g.length || w.length !== buf.length) return false;
    rt.reset();
    rt.setArgs([w.byteOffset, g.byteOffset, buf.byteOffset, w.length]);
    rt.setArgF32(4, lr);
    rt.setArgF32(5, keep);
    rt.setArgF32(6, take);
    rt.run(this.job.SGD_MOMENTUM, this.threadsForFloats(w.length * 5));
    return true;
  }

  reluBackward(y: Float32Array, dy: Float32Array, dx: Float32Array): void {
    const n = y.length;
    if (!allF32(y, dy, dx) || n < 256) {
      this.js.reluBackward(y, dy, dx);
      return;
    }
    const rt = this.rt;
    rt.reset();
    const py = rt.put(y);
    const pdy = rt.put(dy.subarray(0, n));
    const pdx = rt.out(dx.subarray(0, n));
    rt.setArgs([py, pdy, pdx, n]);
    rt.run(this.job.RELU_BACKWARD, this.threadsForFloats(n * 3));
    rt.getF32(pdx, dx.subarray(0, n));
  }
}
