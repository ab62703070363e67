// The module's entry points. Every thread (the caller and each worker)
// calls runJob(jobBlock, tid) on the same shared memory; the job block holds
// the job's id and its arguments, written by the loader (src/kernels/wasm/)
// through the writers generated from the same table as the readers used here
// (scripts/wasm-abi/kernels.mjs -> abi.generated.ts).
import { sgemmPart, packAPart, gemmScratchBytes, setBlocking, MC, KC, NC, CHUNKS_PER_THREAD } from "./gemm";
import { convForward, convBackwardData, convBackwardFilter, reduceParts, im2col, col2im } from "./conv";
import { maxPoolForward, maxPoolBackward, avgPoolForward, avgPoolBackward } from "./pool";
import { batchNormTrain, batchNormApply, batchNormBackward } from "./norm";
import { relu, reluBackward, addRelu, sgdMomentum, activation, activationBackward } from "./eltwise";
import { directForward, directBackwardFilter } from "./direct";
import { winogradFilters, winogradConv } from "./winograd";
import { winograd4FilterOut } from "./winograd4";
import { winogradFilterGrad, winogradFilterOut } from "./winograd-filter";
import { winogradGradFloats } from "./winograd-layout";
import * as abi from "./abi.generated";
import { madd } from "./simd";

// Scratch sizes, for the loader to allocate what runJob will cut up.
export { gemmScratchBytes, gemmSharedPackFloats, setBlocking, gemmBlocking } from "./gemm";
export { convForwardScratchBytes, convBackwardDataScratchBytes, convBackwardFilterScratchBytes } from "./conv";
export { directForwardScratchBytes, directFilterScratchBytes } from "./direct";
export { winogradFilterFloats, winogradGradFloats, winogradConvScratchBytes, winogradGradScratchBytes } from "./winograd-layout";
export { batchNormScratchBytes } from "./norm";

export function heapBase(): usize {
  return __heap_base;
}

/**
 * The multiply-add ceiling this build reaches on one core: `rounds` rounds of
 * twelve independent four-lane multiply-adds (fused with relaxed SIMD), no
 * loads or stores, so nothing but the vector units limits it. Returns a lane
 * of the sum so that nothing is optimised away. `stride tune` and the bench
 * report the GEMM's speed as a share of it.
 */
export function fmaProbe(rounds: i32): f32 {
  const m = f32x4.splat(0.999999), d = f32x4.splat(1e-7);
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  let a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  for (let i = 0; i < rounds; i++) {
    // The accumulator is the addend, as in the GEMM (one vfmadd231ps each, no register copy).
    a0 = madd(m, d, a0); a1 = madd(m, d, a1); a2 = madd(m, d, a2); a3 = madd(m, d, a3);
    a4 = madd(m, d, a4); a5 = madd(m, d, a5); a6 = madd(m, d, a6); a7 = madd(m, d, a7);
    a8 = madd(m, d, a8); a9 = madd(m, d, a9); a10 = madd(m, d, a10); a11 = madd(m, d, a11);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(f32x4.add(s, f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11))), 0);
}

/** Zeroes n bytes at dst with the bulk-memory instruction (a native memset; JavaScript's fill on shared memory is slower). */
export function zeroBytes(dst: usize, n: usize): void {
  memory.fill(dst, 0, n);
}

/** Thread tid's block of the job's per-thread scratch. */
// @ts-ignore: decorator
@inline function threadScratch(base: usize, stride: usize, tid: i32): usize {
  return base + <usize>tid * stride;
}

/**
 * Brings this instance's GEMM blocking in line with the job block's (each
 * thread has its own instance and globals, and scratch offsets depend on it).
 */
// @ts-ignore: decorator
@inline function applyBlocking(job: usize): void {
  const at = job + abi.JOB_BLOCKING_BYTE;
  const mc = load<i32>(at), kc = load<i32>(at, 4), nc = load<i32>(at, 8), chunks = load<i32>(at, 12);
  if (mc != 0 && (mc != MC || kc != KC || nc != NC || chunks != CHUNKS_PER_THREAD)) setBlocking(mc, kc, nc, chunks);
}

/** Runs thread tid's share of the job described at `job`. */
export function runJob(job: usize, tid: i32): void {
  applyBlocking(job);
  const id = load<i32>(job + abi.JOB_ID_BYTE);
  const nth = load<i32>(job + abi.JOB_THREADS_BYTE);
  const counter = job + abi.JOB_COUNTER_BYTE;
  switch (id) {
    case abi.JOB_GEMM: {
      const scratch = threadScratch(abi.gemm_scratch(job), abi.gemm_scratchStride(job), tid);
      sgemmPart(abi.gemm_m(job), abi.gemm_n(job), abi.gemm_k(job), abi.gemm_a(job), abi.gemm_lda(job), abi.gemm_transA(job),
        abi.gemm_b(job), abi.gemm_ldb(job), abi.gemm_transB(job), abi.gemm_c(job), abi.gemm_ldc(job), abi.gemm_accumulate(job),
        abi.gemm_packedA(job), scratch, nth, counter);
      break;
    }
    case abi.JOB_GEMM_PACK_A:
      packAPart(abi.gemmPackA_m(job), abi.gemmPackA_k(job), abi.gemmPackA_a(job), abi.gemmPackA_lda(job), abi.gemmPackA_transA(job),
        abi.gemmPackA_dst(job), counter);
      break;
    case abi.JOB_CONV_FORWARD: {
      const scratch = threadScratch(abi.convForward_scratch(job), abi.convForward_scratchStride(job), tid);
      convForward(abi.convForward_geom(job), abi.convForward_x(job), abi.convForward_w(job), abi.convForward_bias(job),
        abi.convForward_y(job), abi.convForward_relu(job), abi.convForward_scale(job), abi.convForward_residual(job), abi.convForward_packedW(job),
        scratch, scratch + <usize>gemmScratchBytes(), counter);
      break;
    }
    case abi.JOB_CONV_BACKWARD_DATA: {
      const scratch = threadScratch(abi.convBackwardData_scratch(job), abi.convBackwardData_scratchStride(job), tid);
      convBackwardData(abi.convBackwardData_geom(job), abi.convBackwardData_dy(job), abi.convBackwardData_w(job),
        abi.convBackwardData_dx(job), scratch, scratch + <usize>gemmScratchBytes(), counter);
      break;
    }
    case abi.JOB_CONV_BACKWARD_FILTER: {
      // Slot 0 adds into dw and db, slot s > 0 into part s - 1; REDUCE adds the parts in slot order.
      const scratch = threadScratch(abi.convBackwardFilter_scratch(job), abi.convBackwardFilter_scratchStride(job), tid);
      convBackwardFilter(abi.convBackwardFilter_geom(job), abi.convBackwardFilter_x(job), abi.convBackwardFilter_dy(job),
        abi.convBackwardFilter_dw(job), abi.convBackwardFilter_db(job), abi.convBackwardFilter_parts(job),
        abi.convBackwardFilter_partStride(job), scratch, scratch + <usize>gemmScratchBytes(), counter);
      break;
    }
    case abi.JOB_REDUCE:
      reduceParts(abi.reduce_dst(job), abi.reduce_parts(job), abi.reduce_partStride(job), abi.reduce_count(job), abi.reduce_n(job), tid, nth);
      break;
    case abi.JOB_MAX_POOL:
      maxPoolForward(abi.maxPool_geom(job), abi.maxPool_x(job), abi.maxPool_y(job), abi.maxPool_argmax(job), tid, nth);
      break;
    case abi.JOB_MAX_POOL_BACKWARD:
      maxPoolBackward(abi.maxPoolBackward_geom(job), abi.maxPoolBackward_dy(job), abi.maxPoolBackward_argmax(job),
        abi.maxPoolBackward_dx(job), tid, nth);
      break;
    case abi.JOB_AVG_POOL:
      avgPoolForward(abi.avgPool_geom(job), abi.avgPool_x(job), abi.avgPool_y(job), abi.avgPool_countIncludePad(job), tid, nth);
      break;
    case abi.JOB_AVG_POOL_BACKWARD:
      avgPoolBackward(abi.avgPoolBackward_geom(job), abi.avgPoolBackward_dy(job), abi.avgPoolBackward_dx(job),
        abi.avgPoolBackward_countIncludePad(job), tid, nth);
      break;
    case abi.JOB_BATCH_NORM_TRAIN:
      batchNormTrain(abi.batchNormTrain_x(job), abi.batchNormTrain_gamma(job), abi.batchNormTrain_beta(job), abi.batchNormTrain_y(job),
        abi.batchNormTrain_mean(job), abi.batchNormTrain_invStd(job), abi.batchNormTrain_n(job), abi.batchNormTrain_c(job),
        abi.batchNormTrain_spatial(job), abi.batchNormTrain_eps(job), abi.batchNormTrain_relu(job), tid, nth,
        threadScratch(abi.batchNormTrain_scratch(job), abi.batchNormTrain_scratchStride(job), tid));
      break;
    case abi.JOB_BATCH_NORM_APPLY:
      batchNormApply(abi.batchNormApply_x(job), abi.batchNormApply_gamma(job), abi.batchNormApply_beta(job), abi.batchNormApply_y(job),
        abi.batchNormApply_mean(job), abi.batchNormApply_invStd(job), abi.batchNormApply_n(job), abi.batchNormApply_c(job),
        abi.batchNormApply_spatial(job), abi.batchNormApply_relu(job), tid, nth);
      break;
    case abi.JOB_BATCH_NORM_BACKWARD:
      batchNormBackward(abi.batchNormBackward_x(job), abi.batchNormBackward_dy(job), abi.batchNormBackward_mean(job),
        abi.batchNormBackward_invStd(job), abi.batchNormBackward_gamma(job), abi.batchNormBackward_dx(job),
        abi.batchNormBackward_dgamma(job), abi.batchNormBackward_dbeta(job), abi.batchNormBackward_n(job), abi.batchNormBackward_c(job),
        abi.batchNormBackward_spatial(job), abi.batchNormBackward_batchStats(job), abi.batchNormBackward_y(job), tid, nth,
        threadScratch(abi.batchNormBackward_scratch(job), abi.batchNormBackward_scratchStride(job), tid));
      break;
    case abi.JOB_IM2COL:
      // One thread: the public im2col of one image.
      if (tid == 0) {
        const g = abi.im2col_geom(job);
        im2col(abi.im2col_x(job), abi.im2col_col(job), abi.conv_inChannels(g), abi.conv_inH(g), abi.conv_inW(g), abi.conv_kH(g),
          abi.conv_kW(g), abi.conv_strideH(g), abi.conv_strideW(g), abi.conv_padTop(g), abi.conv_padLeft(g), abi.conv_dilationH(g),
          abi.conv_dilationW(g), abi.conv_outW(g), 0, abi.conv_outH(g), abi.conv_outH(g) * abi.conv_outW(g), 0);
      }
      break;
    case abi.JOB_COL2IM:
      if (tid == 0) {
        const g = abi.col2im_geom(job);
        col2im(abi.col2im_col(job), abi.col2im_dx(job), abi.conv_inChannels(g), abi.conv_inH(g), abi.conv_inW(g), abi.conv_kH(g),
          abi.conv_kW(g), abi.conv_strideH(g), abi.conv_strideW(g), abi.conv_padTop(g), abi.conv_padLeft(g), abi.conv_dilationH(g),
          abi.conv_dilationW(g), abi.conv_outW(g), 0, abi.conv_outH(g), abi.conv_outH(g) * abi.conv_outW(g), 0);
      }
      break;
    case abi.JOB_RELU:
      relu(abi.relu_x(job), abi.relu_y(job), abi.relu_n(job), tid, nth);
      break;
    case abi.JOB_RELU_BACKWARD:
      reluBackward(abi.reluBackward_y(job), abi.reluBackward_dy(job), abi.reluBackward_dx(job), abi.reluBackward_n(job), tid, nth);
      break;
    case abi.JOB_ADD:
      addRelu(abi.add_a(job), abi.add_b(job), abi.add_y(job), abi.add_n(job), abi.add_relu(job), tid, nth);
      break;
    case abi.JOB_ACTIVATION:
      activation(abi.activation_x(job), abi.activation_y(job), abi.activation_n(job), abi.activation_kind(job),
        abi.activation_param(job), tid, nth);
      break;
    case abi.JOB_ACTIVATION_BACKWARD:
      activationBackward(abi.activationBackward_saved(job), abi.activationBackward_dy(job), abi.activationBackward_dx(job),
        abi.activationBackward_n(job), abi.activationBackward_kind(job), abi.activationBackward_param(job), tid, nth);
      break;
    case abi.JOB_SGD_MOMENTUM:
      sgdMomentum(abi.sgdMomentum_w(job), abi.sgdMomentum_g(job), abi.sgdMomentum_buf(job), abi.sgdMomentum_n(job),
        abi.sgdMomentum_lr(job), abi.sgdMomentum_keep(job), abi.sgdMomentum_take(job), tid, nth);
      break;
    case abi.JOB_DIRECT_FORWARD:
      directForward(abi.directForward_geom(job), abi.directForward_x(job), abi.directForward_w(job), abi.directForward_bias(job),
        abi.directForward_y(job), abi.directForward_relu(job), abi.directForward_scale(job),
        threadScratch(abi.directForward_scratch(job), abi.directForward_scratchStride(job), tid), counter);
      break;
    case abi.JOB_DIRECT_FILTER:
      // As CONV_BACKWARD_FILTER: slot 0 into dw and db, the others into their parts.
      directBackwardFilter(abi.directFilter_geom(job), abi.directFilter_x(job), abi.directFilter_dy(job), abi.directFilter_dw(job),
        abi.directFilter_db(job), abi.directFilter_parts(job), abi.directFilter_partStride(job),
        threadScratch(abi.directFilter_scratch(job), abi.directFilter_scratchStride(job), tid), counter);
      break;
    case abi.JOB_WINOGRAD_FILTERS:
      winogradFilters(abi.winogradFilters_w(job), abi.winogradFilters_u(job), abi.winogradFilters_cout(job), abi.winogradFilters_cin(job),
        abi.winogradFilters_flip(job), abi.winogradFilters_m(job), counter);
      break;
    case abi.JOB_WINOGRAD:
      winogradConv(abi.winograd_geom(job), abi.winograd_x(job), abi.winograd_u(job), abi.winograd_bias(job), abi.winograd_y(job),
        abi.winograd_relu(job), abi.winograd_scale(job), threadScratch(abi.winograd_scratch(job), abi.winograd_scratchStride(job), tid),
        <usize>gemmScratchBytes(), abi.winograd_m(job), abi.winograd_kBlocks(job), counter);
      break;
    case abi.JOB_WINOGRAD_FILTER_GRAD: {
      // Every slot sums into its own part: S, then the bias gradient.
      const g = abi.winogradFilterGrad_geom(job), m = abi.winogradFilterGrad_m(job);
      winogradFilterGrad(g, abi.winogradFilterGrad_x(job), abi.winogradFilterGrad_dy(job), abi.winogradFilterGrad_parts(job),
        abi.winogradFilterGrad_partStride(job), winogradGradFloats(abi.direct_cout(g), abi.direct_cin(g), m),
        abi.winogradFilterGrad_hasBias(job),
        threadScratch(abi.winogradFilterGrad_scratch(job), abi.winogradFilterGrad_scratchStride(job), tid),
        <usize>gemmScratchBytes(), m, counter);
      break;
    }
    case abi.JOB_WINOGRAD_FILTER_OUT: {
      const cout = abi.winogradFilterOut_cout(job), cin = abi.winogradFilterOut_cin(job), m = abi.winogradFilterOut_m(job);
      const s = abi.winogradFilterOut_s(job), sb = s + (<usize>winogradGradFloats(cout, cin, m) << 2);
      const dw = abi.winogradFilterOut_dw(job), db = abi.winogradFilterOut_db(job);
      if (m == 4) winograd4FilterOut(s, sb, dw, db, cout, cin, counter);
      else winogradFilterOut(s, sb, dw, db, cout, cin, counter);
      break;
    }
    default:
      unreachable();
  }
}
