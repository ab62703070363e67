/**
 * The wasm backend: the Backend interface over the AssemblyScript kernels.
 * Tensors stay plain GC-owned Float32Arrays; each call copies its operands
 * into the shared wasm memory (a bump arena reset per call), runs the job on
 * all threads, and copies the results back. Arrays that already live in wasm
 * memory (allocResident: parameters an optimiser trains; step arenas) are used in place,
 * and in inference the weights are kept between calls, packed for their kernel
 * (weight-packs.ts), for as long as their parameter's version stays the same.
 *
 * Which algorithm and which split a convolution gets is decided by plan.ts;
 * this file carries the plan out: it copies the operands, writes the records
 * and job arguments with the writers generated from scripts/wasm-abi/kernels.mjs
 * (generated/abi.ts), and asks the kernels how much scratch each thread needs.
 */
import type { Backend, MatmulOptions, Conv2dGeometry, Pool2dGeometry, StepArena, ActivationKind } from "../backend.js";
import { WasmStepArena } from "./step-arena.js";
import { JsBackend } from "../js/index.js";
import { WasmRuntime } from "./runtime.js";
import { WeightPacks } from "./weight-packs.js";
import * as abi from "./generated/abi.js";
import {
  type ConvAlgorithm, type ConvPass, type ConvKernel, type DirectShape,
  chooseConvKernel, batchSlices, convImageBytes, convFlopsPerImage, isPointwise, threadsFor, directShape,
  planGemmConv, planGemmFilter, planDirect, planDirectFilter, planWinograd, planWinogradFilter,
} from "./plan.js";

export type { ConvAlgorithm } from "./plan.js";

/** What a forward convolution does to its output: y = conv * scale + bias per channel, then ReLU. */
interface Epilogue {
  bias: Float32Array | null;
  scale: Float32Array | null;
  relu: boolean;
}
const NO_EPILOGUE: Epilogue = { bias: null, scale: null, relu: false };
/** The ACTIVATION jobs' kind field. */
const ACTIVATION_KINDS: Record<ActivationKind, number> = { tanh: 0, sigmoid: 1, leakyRelu: 2, elu: 3 };

/** Weights a layer lets the backend keep (packed) between calls: the Param's array and its version. */
interface KeptWeights {
  array: Float32Array;
  version: number;
}

/** True when every array is float32 (the js backend also serves float64 gradient checks). */
function allF32(...arrays: (Float32Array | null)[]): boolean {
  for (const a of arrays) if (a !== null && !(a instanceof Float32Array)) return false;
  return true;
}

/** How a conv record's work is cut (see plan.ts); a filter gradient's slots, 1 for the other passes. */
interface ConvSplit {
  bands: number;
  rowBands: number;
  kBlocks: number;
  slots: number;
  images: number;
}

/** The conv record of a geometry on `batch` images, with a plan's work items. */
function convRecord(
  g: Conv2dGeometry, batch: number, split: ConvSplit = { bands: 1, rowBands: 1, kBlocks: 1, slots: 1, images: 1 },
): abi.ConvRecord {
  return {
    batch, inChannels: g.inChannels, inH: g.inH, inW: g.inW, outChannels: g.outChannels, kH: g.kH, kW: g.kW,
    strideH: g.strideH, strideW: g.strideW, padTop: g.padTop, padLeft: g.padLeft, dilationH: g.dilationH, dilationW: g.dilationW,
    groups: g.groups, outH: g.outH, outW: g.outW, pointwise: isPointwise(g), bands: split.bands, rowBands: split.rowBands,
    kBlocks: split.kBlocks, slots: split.slots, images: split.images,
  };
}

function poolRecord(g: Pool2dGeometry): abi.PoolRecord {
  return {
    batch: g.batch, channels: g.channels, inH: g.inH, inW: g.inW, kH: g.kH, kW: g.kW, strideH: g.strideH, strideW: g.strideW,
    padTop: g.padTop, padLeft: g.padLeft, padBottom: g.padBottom, padRight: g.padRight,
    dilationH: g.dilationH, dilationW: g.dilationW, outH: g.outH, outW: g.outW,
  };
}

export class WasmBackend implements Backend {
  readonly name: string = "wasm";
  readonly rt: WasmRuntime;
  private readonly js = new JsBackend();
  /** "auto": direct convolution for stride-1 layers with few taps, im2col + GEMM otherwise. */
  convAlgorithm: ConvAlgorithm = "auto";
  /**
   * The smallest jobs that are split over the threads; smaller ones run on
   * the calling thread, because handing a job over (and waking a worker that
   * went to sleep between jobs) costs tens of microseconds. Measured on a
   * LeNet-5 step with two idle cores: a 64x120x84 product took 0.03 ms on one
   * thread and 0.22 ms on two (workers asleep). Measured again with A
   * packed once per split product, products split well from about 1M
   * multiply-adds: back to back, 128^3 (2.1M) ran 1.26x faster on two
   * threads and 160^3 1.6x, and a LeNet-5 step (2 threads, batch 64, whose
   * 64x120x400 layer is 3M) took 1-7% less with the threshold at 1M than
   * at 4M. Memory-bound maps: splitting those of 64K
   * floats and more made the whole LeNet-5 step (2 threads, batch 64) 5-8%
   * faster than splitting from 512K (4.2-4.3 ms against 4.5; 8K and 256K
   * were in between), now that activations stay in wasm memory between
   * kernels. Public so that a benchmark can try other values.
   */
  parallelMin = {
    /** Multiply-adds of a matrix product. */
    gemmMacs: 1 << 20,
    /** Floats touched by a memory-bound kernel (pooling, element-wise maps). */
    memoryFloats: 1 << 16,
  };

  /**
   * Whether inference keeps weights in wasm memory, packed for the kernels,
   * between calls (weight-packs.ts). On by default; off, every call copies
   * and packs them again (public so that a benchmark can compare).
   */
  keepWeights = true;
  /**
   * Whether a GEMM convolution whose filters are not kept (training) packs
   * them once per call for all its work items; off, every work item packs
   * them again, as before (public so that a benchmark can compare).
   */
  packOnce = true;
  private readonly packs: WeightPacks;

  constructor(threads?: number) {
    this.rt = new WasmRuntime();
    this.packs = new WeightPacks(this.rt);
    if (threads !== undefined) this.rt.setThreads(threads);
  }

  forgetWeights(w: Float32Array): void {
    this.packs.forget(w);
  }

  /** What a call may keep of weights at this version (null: nothing, and the call copies them). */
  private kept(w: Float32Array, version: number | undefined): KeptWeights | null {
    return version === undefined || !this.keepWeights ? null : { array: w, version };
  }

  /**
   * The address of a plain copy of the first `floats` of kept weights (the
   * array itself when it is resident); null when there is nothing to keep or
   * no room. Call right after rt.reset(), before the call's other allocations.
   */
  private keptCopy(k: KeptWeights | null, floats: number): number | null {
    if (!k) return null;
    if (this.rt.isResident(k.array)) return k.array.byteOffset;
    const src = k.array.subarray(0, floats);
    return this.packs.get(k.array, k.version, `copy ${floats}`, floats, (at) => this.rt.f32.set(src, at >>> 2));
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

  /** Threads for a memory-bound kernel over this many floats. */
  private threadsForFloats(floats: number): number {
    return floats >= this.parallelMin.memoryFloats ? this.rt.threadCount : 1;
  }

  /** Per-thread scratch: a block of `bytes` (rounded up to a cache line) for each of nth threads. */
  private scratch(nth: number, bytes: number): { scratch: number; scratchStride: number } {
    const stride = Math.ceil(bytes / 64) * 64;
    return { scratch: this.rt.allocBytes(stride * nth), scratchStride: stride };
  }

  /** Writes a conv record into the arena and returns its address. */
  private putConvRecord(r: abi.ConvRecord): number {
    const at = this.rt.allocBytes(abi.CONV_RECORD_BYTES);
    abi.writeConvRecord(this.rt, at, r);
    return at;
  }

  /** Writes a direct record (a shape, its bands, and a filter gradient's slots and channel blocks) into the arena; returns its address. */
  private putDirectRecord(d: DirectShape, bands: number, split = { slots: 1, kBlocks: 1 }): number {
    const at = this.rt.allocBytes(abi.DIRECT_RECORD_BYTES);
    abi.writeDirectRecord(this.rt, at, { ...d, bands, slots: split.slots, kBlocks: split.kBlocks });
    return at;
  }

  /** Buffers of `floats` for `count` reduction slots (the kernels zero what they use). */
  private reductionParts(count: number, floats: number): { parts: number; partStride: number } {
    const stride = Math.ceil((floats * 4) / 64) * 64;
    return { parts: count > 0 ? this.rt.allocBytes(stride * count) : 0, partStride: stride };
  }

  /** dst += parts[0] + parts[1] + ..., in that order for every element (REDUCE). */
  private addParts(dst: number, p: { parts: number; partStride: number }, count: number, floats: number): void {
    if (count < 1) return;
    const job = abi.writeReduce(this.rt, { dst, parts: p.parts, partStride: p.partStride, count, n: floats });
    this.rt.run(job, this.threadsForFloats(floats * (count + 1)));
  }

  matmul(a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number, opts: MatmulOptions = {}): void {
    if (!allF32(a, b, c) || m * n * k < 512) {
      this.js.matmul(a, b, c, m, n, k, opts);
      return;
    }
    const { transA = false, transB = false, accumulate = false } = opts;
    const rt = this.rt;
    rt.reset();
    const keptB = this.keptCopy(this.kept(b, opts.bVersion), k * n);
    const pa = rt.put(a.subarray(0, m * k));
    const pb = keptB ?? rt.put(b.subarray(0, k * n));
    const pc = accumulate ? rt.put(c.subarray(0, m * n)) : rt.out(c.subarray(0, m * n));
    const nth = m * n * k >= this.parallelMin.gemmMacs ? this.rt.threadCount : 1;
    const lda = transA ? m : k;
    // Split by columns, every work item would pack all of A again: the threads pack it once first.
    const sharedFloats = rt.exports.gemmSharedPackFloats(m, n, k, nth);
    const packedA = sharedFloats > 0 ? rt.alloc(sharedFloats) : 0;
    if (packedA !== 0) rt.run(abi.writeGemmPackA(rt, { m, k, a: pa, lda, transA, dst: packedA }), nth);
    const job = abi.writeGemm(rt, {
      m, n, k, a: pa, lda, transA, b: pb, ldb: transB ? k : n, transB, c: pc, ldc: n, accumulate, packedA,
      ...this.scratch(nth, this.rt.exports.gemmScratchBytes()),
    });
    rt.run(job, nth);
    rt.getF32(pc, c.subarray(0, m * n));
  }

  /** The algorithm a pass of this convolution runs with under the current setting. */
  convAlgorithmFor(g: Conv2dGeometry, pass: ConvPass): ConvKernel {
    return chooseConvKernel(g, pass, this.convAlgorithm);
  }

  conv2d(
    x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, g: Conv2dGeometry,
    relu = false, scale: Float32Array | null = null, weightVersion?: number, residual: Float32Array | null = null,
  ): void {
    if (!allF32(x, w, bias, y, scale, residual)) {
      this.js.conv2d(x, w, bias, y, g, relu, scale, weightVersion, residual);
      return;
    }
    const kept = this.kept(w, weightVersion);
    const inImage = g.inChannels * g.inH * g.inW, outImage = g.outChannels * g.outH * g.outW;
    const filters = w.subarray(0, g.outChannels * (g.inChannels / g.groups) * g.kH * g.kW);
    const kernel = this.convAlgorithmFor(g, "forward");
    // The GEMM path adds the residual in its epilogue; the direct and Winograd
    // kernels leave the ReLU to the add kernel that follows them.
    const addAfter = residual !== null && kernel !== "gemm";
    const epilogue: Epilogue = {
      bias: bias ? bias.subarray(0, g.outChannels) : null, scale: scale ? scale.subarray(0, g.outChannels) : null, relu: relu && !addAfter,
    };
    for (const [n0, n1] of batchSlices(g.batch, convImageBytes(g))) {
      const xs = x.subarray(n0 * inImage, n1 * inImage), ys = y.subarray(n0 * outImage, n1 * outImage);
      const rs = residual ? residual.subarray(n0 * outImage, n1 * outImage) : null;
      if (kernel === "winograd" || kernel === "winograd4") {
        this.runWinograd(directShape(g, "forward", n1 - n0), kernel === "winograd4" ? 4 : 2, xs, filters, epilogue, ys, kept);
      } else if (kernel === "direct") {
        this.runDirect(directShape(g, "forward", n1 - n0), xs, filters, epilogue, ys, convFlopsPerImage(g), kept);
      } else {
        this.gemmForward(g, n1 - n0, xs, filters, epilogue, ys, kept, rs);
      }
      if (addAfter) this.add(ys, rs!, ys, relu);
    }
  }

  /**
   * The address of the filters packed once for the GEMM of CONV_FORWARD
   * (wasm/assembly/gemm.ts, packedAOffset: for each block of KC columns, the
   * panels of MR rows; one group after another, mPad x rows floats each,
   * padding rows zero): kept across calls when k is given, else packed into
   * this call's arena (packOnce); null when neither.
   */
  private packedFilters(g: Conv2dGeometry, k: KeptWeights | null, w: Float32Array): number | null {
    const mr = this.rt.exports.gemmBlocking(4), kc = this.rt.blocking.kc;
    const kg = g.outChannels / g.groups, rows = (g.inChannels / g.groups) * g.kH * g.kW;
    const mPad = Math.ceil(kg / mr) * mr;
    const fill = (at: number) => {
      const dst = this.rt.f32;
      for (let grp = 0; grp < g.groups; grp++) {
        const base = (at >>> 2) + grp * mPad * rows;
        for (let p0 = 0; p0 < rows; p0 += kc) {
          const width = Math.min(kc, rows - p0);
          for (let i = 0; i < kg; i++) {
            const panel = base + p0 * mPad + Math.floor(i / mr) * width * mr + (i % mr);
            const src = (grp * kg + i) * rows + p0;
            for (let p = 0; p < width; p++) dst[panel + p * mr] = w[src + p];
          }
        }
      }
    };
    if (k) return this.packs.get(k.array, k.version, `gemm kc ${kc} ${g.groups}x${kg}x${rows}`, g.groups * mPad * rows, fill);
    if (!this.packOnce) return null;
    const at = this.rt.alloc(g.groups * mPad * rows);
    fill(at);
    return at;
  }

  private gemmForward(
    g: Conv2dGeometry, batch: number, x: Float32Array, w: Float32Array, e: Epilogue, y: Float32Array, kept: KeptWeights | null,
    residual: Float32Array | null,
  ): void {
    const rt = this.rt;
    rt.reset();
    const packed = this.packedFilters(g, kept, w);
    const plan = planGemmConv(g, "forward", batch, rt.threadCount);
    const geom = this.putConvRecord(convRecord(g, batch, { ...plan, slots: 1 }));
    const py = rt.out(y);
    const job = abi.writeConvForward(rt, {
      geom, x: rt.put(x), w: packed === null ? rt.put(w) : 0, packedW: packed ?? 0, bias: e.bias ? rt.put(e.bias) : 0, y: py, relu: e.relu,
      scale: e.scale ? rt.put(e.scale) : 0, residual: residual ? rt.put(residual) : 0,
      ...this.scratch(plan.threads, rt.exports.convForwardScratchBytes(geom)),
    });
    rt.run(job, plan.threads);
    rt.getF32(py, y);
  }

  conv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, g: Conv2dGeometry): void {
    if (!allF32(dy, w, dx)) {
      this.js.conv2dBackwardData(dy, w, dx, g);
      return;
    }
    const inImage = g.inChannels * g.inH * g.inW, outImage = g.outChannels * g.outH * g.outW;
    const filters = w.subarray(0, g.outChannels * (g.inChannels / g.groups) * g.kH * g.kW);
    // The gradient of a stride-1 convolution is a convolution of dy with the
    // filters transposed and rotated: the direct or Winograd kernel.
    const kernel = this.convAlgorithmFor(g, "data");
    for (const [n0, n1] of batchSlices(g.batch, convImageBytes(g))) {
      const dys = dy.subarray(n0 * outImage, n1 * outImage), dxs = dx.subarray(n0 * inImage, n1 * inImage);
      if (kernel === "winograd" || kernel === "winograd4") {
        this.runWinograd(directShape(g, "data", n1 - n0), kernel === "winograd4" ? 4 : 2, dys, filters, NO_EPILOGUE, dxs);
      } else if (kernel === "direct") {
        this.runDirect(directShape(g, "data", n1 - n0), dys, filters, NO_EPILOGUE, dxs, convFlopsPerImage(g));
      } else {
        this.gemmBackwardData(g, n1 - n0, dys, filters, dxs);
      }
    }
  }

  private gemmBackwardData(g: Conv2dGeometry, batch: number, dy: Float32Array, w: Float32Array, dx: Float32Array): void {
    const rt = this.rt;
    rt.reset();
    const plan = planGemmConv(g, "data", batch, rt.threadCount);
    const geom = this.putConvRecord(convRecord(g, batch, { ...plan, slots: 1 }));
    const pdx = rt.out(dx);
    const job = abi.writeConvBackwardData(rt, {
      geom, dy: rt.put(dy), w: rt.put(w), dx: pdx, ...this.scratch(plan.threads, rt.exports.convBackwardDataScratchBytes(geom)),
    });
    rt.run(job, plan.threads);
    rt.getF32(pdx, dx);
  }

  conv2dBackwardFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, dbias: Float32Array | null, g: Conv2dGeometry): void {
    if (!allF32(x, dy, dw, dbias)) {
      this.js.conv2dBackwardFilter(x, dy, dw, dbias, g);
      return;
    }
    const inImage = g.inChannels * g.inH * g.inW, outImage = g.outChannels * g.outH * g.outW;
    const dws = dw.subarray(0, g.outChannels * (g.inChannels / g.groups) * g.kH * g.kW);
    const dbs = dbias ? dbias.subarray(0, g.outChannels) : null;
    const kernel = this.convAlgorithmFor(g, "filter");
    for (const [n0, n1] of batchSlices(g.batch, convImageBytes(g))) {
      const xs = x.subarray(n0 * inImage, n1 * inImage), dys = dy.subarray(n0 * outImage, n1 * outImage);
      if (kernel === "winograd" || kernel === "winograd4") {
        this.runWinogradFilter(directShape(g, "filter", n1 - n0), kernel === "winograd4" ? 4 : 2, xs, dys, dws, dbs);
      } else if (kernel === "direct") {
        this.directFilter(g, n1 - n0, xs, dys, dws, dbs);
      } else {
        this.gemmBackwardFilter(g, n1 - n0, xs, dys, dws, dbs);
      }
    }
  }

  /**
   * Copies dw and db into the arena side by side, so that one reduction of
   * the threads' parts covers both; returns their addresses.
   */
  private putFilterGradient(dw: Float32Array, db: Float32Array | null): { dw: number; db: number } {
    const rt = this.rt;
    const pdw = rt.alloc(dw.length + (db ? db.length : 0));
    rt.f32.set(dw, pdw >>> 2);
    const pdb = db ? pdw + dw.length * 4 : 0;
    if (db) rt.f32.set(db, pdb >>> 2);
    return { dw: pdw, db: pdb };
  }

  private gemmBackwardFilter(
    g: Conv2dGeometry, batch: number, x: Float32Array, dy: Float32Array, dw: Float32Array, db: Float32Array | null,
  ): void {
    const rt = this.rt;
    rt.reset();
    const partFloats = dw.length + (db ? db.length : 0);
    const plan = planGemmFilter(g, batch, partFloats, rt.threadCount);
    const geom = this.putConvRecord(convRecord(g, batch, { bands: plan.bands, rowBands: 1, kBlocks: plan.kBlocks, slots: plan.slots, images: plan.images }));
    const px = rt.put(x), pdy = rt.put(dy);
    const p = this.putFilterGradient(dw, db);
    const s = this.scratch(plan.threads, rt.exports.convBackwardFilterScratchBytes(geom));
    const parts = this.reductionParts(plan.slots - 1, partFloats);
    rt.run(abi.writeConvBackwardFilter(rt, { geom, x: px, dy: pdy, dw: p.dw, db: p.db, ...s, ...parts }), plan.threads);
    this.addParts(p.dw, parts, plan.slots - 1, partFloats);
    rt.getF32(p.dw, dw);
    if (db) rt.getF32(p.db, db);
  }

  /** The filter gradient of a stride-1 convolution by the direct kernel (slots of whole images). */
  private directFilter(
    g: Conv2dGeometry, batch: number, x: Float32Array, dy: Float32Array, dw: Float32Array, db: Float32Array | null,
  ): void {
    const rt = this.rt;
    rt.reset();
    const d = directShape(g, "filter", batch);
    const partFloats = dw.length + (db ? db.length : 0);
    const plan = planDirectFilter(d, convFlopsPerImage(g), partFloats, rt.threadCount);
    const geom = this.putDirectRecord(d, 1, plan);
    const px = rt.put(x), pdy = rt.put(dy);
    const p = this.putFilterGradient(dw, db);
    const s = this.scratch(plan.threads, rt.exports.directFilterScratchBytes(geom));
    const parts = this.reductionParts(plan.slots - 1, partFloats);
    rt.run(abi.writeDirectFilter(rt, { geom, x: px, dy: pdy, dw: p.dw, db: p.db, ...s, ...parts }), plan.threads);
    this.addParts(p.dw, parts, plan.slots - 1, partFloats);
    rt.getF32(p.dw, dw);
    if (db) rt.getF32(p.db, db);
  }

  /**
   * Runs a Winograd convolution with m x m output tiles (2 or 4) on a batch
   * (input, filters and output already sliced): the filters are transformed
   * first (WINOGRAD_FILTERS), then the tiles (WINOGRAD).
   */
  private runWinograd(
    d: DirectShape, m: 2 | 4, input: Float32Array, w: Float32Array, e: Epilogue, out: Float32Array, kept: KeptWeights | null = null,
  ): void {
    const rt = this.rt;
    rt.reset();
    const plan = planWinograd(d, m, rt.threadCount);
    const uFloats = rt.exports.winogradFilterFloats(d.cout, d.cin, m);
    const transform = (u: number) => {
      rt.run(abi.writeWinogradFilters(rt, { w: rt.put(w), u, cout: d.cout, cin: d.cin, flip: d.flip, m }), plan.filterThreads);
    };
    // Kept, U is transformed once per version of the filters (its panels depend on KC).
    const keptU = kept ? this.packs.get(kept.array, kept.version, `winograd ${m} flip ${d.flip} kc ${rt.blocking.kc} ${d.cout}x${d.cin}`, uFloats, transform) : null;
    const geom = this.putDirectRecord(d, plan.runRows);
    const px = rt.put(input);
    const pbias = e.bias ? rt.put(e.bias) : 0;
    const pscale = e.scale ? rt.put(e.scale) : 0;
    const pu = keptU ?? rt.alloc(uFloats);
    const py = rt.out(out);
    if (keptU === null) transform(pu);
    const job = abi.writeWinograd(rt, {
      geom, x: px, u: pu, bias: pbias, y: py, relu: e.relu, scale: pscale,
      ...this.scratch(plan.threads, rt.exports.winogradConvScratchBytes(geom, m)), m, kBlocks: plan.kBlocks,
    });
    rt.run(job, plan.threads);
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
    const sFloats = rt.exports.winogradGradFloats(d.cout, d.cin, m);
    const partFloats = sFloats + (dbias ? d.cout : 0);
    const plan = planWinogradFilter(d, m, partFloats, rt.threadCount);
    const geom = this.putDirectRecord(d, plan.runRows, plan);
    const px = rt.put(x);
    const pdy = rt.put(dy);
    const pdw = rt.put(dw);
    const pdb = dbias ? rt.put(dbias) : 0;
    const s = this.scratch(plan.threads, rt.exports.winogradGradScratchBytes(geom, m));
    // Every slot sums into a part here (slot 0 too: S is transformed into dw afterwards).
    const parts = this.reductionParts(plan.slots, partFloats);
    rt.run(abi.writeWinogradFilterGrad(rt, { geom, x: px, dy: pdy, ...s, ...parts, hasBias: dbias !== null, m }), plan.threads);
    this.addParts(parts.parts, { parts: parts.parts + parts.partStride, partStride: parts.partStride }, plan.slots - 1, partFloats);
    rt.run(abi.writeWinogradFilterOut(rt, { s: parts.parts, dw: pdw, db: pdb, cout: d.cout, cin: d.cin, m }), plan.outThreads);
    rt.getF32(pdw, dw);
    if (dbias) rt.getF32(pdb, dbias);
  }

  /** Runs a direct convolution job on a batch (input, filters and output already sliced). */
  private runDirect(
    d: DirectShape, input: Float32Array, w: Float32Array, e: Epilogue, out: Float32Array, flopsPerImage: number,
    kept: KeptWeights | null = null,
  ): void {
    const rt = this.rt;
    rt.reset();
    const keptW = this.keptCopy(kept, w.length);
    const plan = planDirect(d, flopsPerImage, rt.threadCount);
    const geom = this.putDirectRecord(d, plan.bands);
    const py = rt.out(out);
    const job = abi.writeDirectForward(rt, {
      geom, x: rt.put(input), w: keptW ?? rt.put(w), bias: e.bias ? rt.put(e.bias) : 0, y: py, relu: e.relu,
      scale: e.scale ? rt.put(e.scale) : 0, ...this.scratch(plan.threads, rt.exports.directForwardScratchBytes(geom)),
    });
    rt.run(job, plan.threads);
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
    const geom = this.putConvRecord(convRecord(g, 1));
    const pcol = rt.alloc(colFloats);
    rt.run(abi.writeIm2col(rt, { geom, x: rt.put(x.subarray(xOffset, xOffset + inImage)), col: pcol }), 1);
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
    const geom = this.putConvRecord(convRecord(g, 1));
    const pdx = rt.put(dx.subarray(dxOffset, dxOffset + inImage));
    rt.run(abi.writeCol2im(rt, { geom, col: rt.put(col.subarray(0, colFloats)), dx: pdx }), 1);
    rt.getF32(pdx, dx.subarray(dxOffset, dxOffset + inImage));
  }

  /** Starts a pooling call: a fresh arena with the geometry record written, and the input and output sizes. */
  private beginPool(g: Pool2dGeometry): { rt: WasmRuntime; geom: number; inN: number; outN: number } {
    const rt = this.rt;
    rt.reset();
    const geom = rt.allocBytes(abi.POOL_RECORD_BYTES);
    abi.writePoolRecord(rt, geom, poolRecord(g));
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
    rt.run(abi.writeMaxPool(rt, { geom, x: px, y: py, argmax: pa }), this.threadsForFloats(inN + 2 * outN));
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
    rt.run(abi.writeMaxPoolBackward(rt, { geom, dy: pdy, argmax: pa, dx: pdx }), this.threadsForFloats(inN + 2 * outN));
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
    rt.run(abi.writeAvgPool(rt, { geom, x: px, y: py, countIncludePad }), threadsFor(outN * g.kH * g.kW, rt.threadCount));
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
    rt.run(abi.writeAvgPoolBackward(rt, { geom, dy: pdy, dx: pdx, countIncludePad }), threadsFor(outN * g.kH * g.kW, rt.threadCount));
    rt.getF32(pdx, dx.subarray(0, inN));
  }

  // No wasm kernels for these rarely used layers: the js ones, on the same arrays.
  lpPool2d(x: Float32Array, y: Float32Array, g: Pool2dGeometry, p: number): void {
    this.js.lpPool2d(x, y, g, p);
  }

  lpPool2dBackward(x: Float32Array, y: Float32Array, dy: Float32Array, dx: Float32Array, g: Pool2dGeometry, p: number): void {
    this.js.lpPool2dBackward(x, y, dy, dx, g, p);
  }

  locallyConnected2d(x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, g: Conv2dGeometry): void {
    this.js.locallyConnected2d(x, w, bias, y, g);
  }

  locallyConnected2dBackward(
    x: Float32Array, dy: Float32Array, w: Float32Array, dx: Float32Array,
    dw: Float32Array | null, dbias: Float32Array | null, g: Conv2dGeometry,
  ): void {
    this.js.locallyConnected2dBackward(x, dy, w, dx, dw, dbias, g);
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
    const nth = threadsFor(total * 4, rt.threadCount);
    const job = abi.writeBatchNormTrain(rt, {
      x: px, gamma: pg, beta: pb, y: py, mean: pm, invStd: ps, n, c, spatial, eps, relu, ...this.scratch(nth, rt.exports.batchNormScratchBytes(c)),
    });
    rt.run(job, nth);
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
    const job = abi.writeBatchNormApply(rt, { x: px, gamma: pg, beta: pb, y: py, mean: pm, invStd: ps, n, c, spatial, relu });
    rt.run(job, threadsFor(total * 2, rt.threadCount));
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
    const nth = threadsFor(total * 4, rt.threadCount);
    const job = abi.writeBatchNormBackward(rt, {
      x: px, dy: pdy, mean: pm, invStd: ps, gamma: pg, dx: pdx, dgamma: pdg, dbeta: pdb, n, c, spatial, batchStats, y: py,
      ...this.scratch(nth, rt.exports.batchNormScratchBytes(c)),
    });
    rt.run(job, nth);
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
    rt.run(abi.writeRelu(rt, { x: px, y: py, n }), this.threadsForFloats(n * 2));
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
    rt.run(abi.writeAdd(rt, { a: pa, b: pb, y: py, n, relu }), this.threadsForFloats(n * 3));
    rt.getF32(py, y);
  }

  sgdMomentum(w: Float32Array, g: Float32Array, buf: Float32Array, lr: number, keep: number, take: number): boolean {
    const rt = this.rt;
    // In place only: copying the three arrays in and two out would cost more than the loop.
    if (!(rt.isResident(w) && rt.isResident(g) && rt.isResident(buf)) || w.length !== g.length || w.length !== buf.length) return false;
    rt.reset();
    const job = abi.writeSgdMomentum(rt, { w: w.byteOffset, g: g.byteOffset, buf: buf.byteOffset, n: w.length, lr, keep, take });
    rt.run(job, this.threadsForFloats(w.length * 5));
    return true;
  }

  activation(kind: ActivationKind, x: Float32Array, y: Float32Array, param = 0): void {
    const n = Math.min(x.length, y.length);
    if (!allF32(x, y) || n < 256) {
      this.js.activation(kind, x, y, param);
      return;
    }
    const rt = this.rt;
    rt.reset();
    const px = rt.put(x.subarray(0, n));
    const py = rt.out(y.subarray(0, n));
    // tanh, the sigmoid and ELU: about 30 vector operations per four values, worth a second thread from a few thousand.
    const work = kind === "leakyRelu" ? n * 3 : n * 16;
    rt.run(abi.writeActivation(rt, { x: px, y: py, n, kind: ACTIVATION_KINDS[kind], param }), this.threadsForFloats(work));
    rt.getF32(py, y.subarray(0, n));
  }

  activationBackward(kind: ActivationKind, saved: Float32Array, dy: Float32Array, dx: Float32Array, param = 0): void {
    const n = Math.min(saved.length, dy.length, dx.length);
    if (!allF32(saved, dy, dx) || n < 256) {
      this.js.activationBackward(kind, saved, dy, dx, param);
      return;
    }
    const rt = this.rt;
    rt.reset();
    const ps = rt.put(saved.subarray(0, n));
    const pdy = rt.put(dy.subarray(0, n));
    const pdx = rt.out(dx.subarray(0, n));
    rt.run(abi.writeActivationBackward(rt, { saved: ps, dy: pdy, dx: pdx, n, kind: ACTIVATION_KINDS[kind], param }), this.threadsForFloats(n * 3));
    rt.getF32(pdx, dx.subarray(0, n));
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
    rt.run(abi.writeReluBackward(rt, { y: py, dy: pdy, dx: pdx, n }), this.threadsForFloats(n * 3));
    rt.getF32(pdx, dx.subarray(0, n));
  }
}
