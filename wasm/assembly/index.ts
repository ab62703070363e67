// The module's entry points. Every thread (the caller and each worker)
// calls runJob(jobBlock, tid) on the same shared memory; the job block holds
// the job's id and its arguments, written by the loader (src/kernels/wasm/).
import { sgemmPart, gemmScratchBytes as gemmBytes } from "./gemm";
import { convForward, convBackwardData, convBackwardFilter, reduceParts, im2col as im2colRange, col2im as col2imAll,
  G_C, G_H, G_W, G_KH, G_KW, G_SH, G_SW, G_PT, G_PL, G_DH, G_DW, G_OH, G_OW } from "./conv";
import { maxPoolForward, maxPoolBackward, avgPoolForward, avgPoolBackward } from "./pool";
import { batchNormTrain, batchNormApply, batchNormBackward } from "./norm";
import { relu, reluBackward, addRelu, sgdMomentum } from "./eltwise";
import { directForward, directBackwardFilter } from "./direct";
import { winogradFilters, winogradConv } from "./winograd";
import { winograd4FilterOut } from "./winograd4";
import { winogradFilterGrad, winogradFilterOut } from "./winograd-filter";

export const JOB_GEMM = 1, JOB_CONV_FORWARD = 2, JOB_CONV_BACKWARD_DATA = 3, JOB_CONV_BACKWARD_FILTER = 4,
  JOB_REDUCE = 5, JOB_MAXPOOL = 6, JOB_MAXPOOL_BACKWARD = 7, JOB_AVGPOOL = 8, JOB_AVGPOOL_BACKWARD = 9,
  JOB_BN_TRAIN = 10, JOB_BN_APPLY = 11, JOB_BN_BACKWARD = 12, JOB_IM2COL = 13, JOB_COL2IM = 14,
  JOB_RELU = 15, JOB_RELU_BACKWARD = 16, JOB_DIRECT_FORWARD = 17, JOB_DIRECT_FILTER = 18,
  JOB_WINOGRAD_FILTERS = 19, JOB_WINOGRAD = 20, JOB_ADD = 21, JOB_WINOGRAD_FILTER_GRAD = 22,
  JOB_WINOGRAD_FILTER_OUT = 23, JOB_SGD_MOMENTUM = 24;

/**
 * Byte offsets inside the job block. The work counter (see work.ts) has a
 * cache line of its own, past the threads' busy-time tallies.
 */
const OFF_JOB = 8, OFF_NTH = 12, OFF_ARGS = 64, OFF_COUNTER = 512;

export function heapBase(): usize {
  return __heap_base;
}

/** Zeroes n bytes at dst with the bulk-memory instruction (a native memset; JavaScript's fill on shared memory is slower). */
export function zeroBytes(dst: usize, n: usize): void {
  memory.fill(dst, 0, n);
}

export function gemmScratchBytes(): i32 {
  return gemmBytes();
}

// @ts-ignore: decorator
@inline function arg(job: usize, i: i32): i32 {
  return load<i32>(job + OFF_ARGS + (<usize>i << 2));
}
// @ts-ignore: decorator
@inline function argf(job: usize, i: i32): f32 {
  return load<f32>(job + OFF_ARGS + (<usize>i << 2));
}
// @ts-ignore: decorator
@inline function ptr(job: usize, i: i32): usize {
  return <usize>load<u32>(job + OFF_ARGS + (<usize>i << 2));
}

/** Runs thread tid's share of the job described at `job`. */
export function runJob(job: usize, tid: i32): void {
  const id = load<i32>(job + OFF_JOB);
  const nth = load<i32>(job + OFF_NTH);
  const counter = job + OFF_COUNTER;
  switch (id) {
    case JOB_GEMM: {
      const scratch = ptr(job, 12) + <usize>tid * ptr(job, 13);
      sgemmPart(arg(job, 0), arg(job, 1), arg(job, 2), ptr(job, 3), arg(job, 4), arg(job, 5) != 0,
        ptr(job, 6), arg(job, 7), arg(job, 8) != 0, ptr(job, 9), arg(job, 10), arg(job, 11) != 0, scratch, nth, counter);
      break;
    }
    case JOB_CONV_FORWARD: {
      const scratch = ptr(job, 6) + <usize>tid * ptr(job, 7);
      // args: g x w bias y relu scratchBase stride gemmBytes scale
      convForward(ptr(job, 0), ptr(job, 1), ptr(job, 2), ptr(job, 3), ptr(job, 4), arg(job, 5) != 0, ptr(job, 9),
        scratch, scratch + ptr(job, 8), counter);
      break;
    }
    case JOB_CONV_BACKWARD_DATA: {
      const scratch = ptr(job, 4) + <usize>tid * ptr(job, 5);
      convBackwardData(ptr(job, 0), ptr(job, 1), ptr(job, 2), ptr(job, 3), scratch, scratch + ptr(job, 6), counter);
      break;
    }
    case JOB_CONV_BACKWARD_FILTER: {
      // args: g x dy dw db scratchBase stride gemmBytes partBase partStride
      const scratch = ptr(job, 5) + <usize>tid * ptr(job, 6);
      convBackwardFilter(ptr(job, 0), ptr(job, 1), ptr(job, 2), ptr(job, 3), ptr(job, 4), ptr(job, 8), ptr(job, 9),
        scratch, scratch + ptr(job, 7), counter);
      break;
    }
    case JOB_REDUCE:
      reduceParts(ptr(job, 0), ptr(job, 1), ptr(job, 2), arg(job, 3), arg(job, 4), tid, nth);
      break;
    case JOB_MAXPOOL:
      maxPoolForward(ptr(job, 0), ptr(job, 1), ptr(job, 2), ptr(job, 3), tid, nth);
      break;
    case JOB_MAXPOOL_BACKWARD:
      maxPoolBackward(ptr(job, 0), ptr(job, 1), ptr(job, 2), ptr(job, 3), tid, nth);
      break;
    case JOB_AVGPOOL:
      avgPoolForward(ptr(job, 0), ptr(job, 1), ptr(job, 2), arg(job, 3) != 0, tid, nth);
      break;
    case JOB_AVGPOOL_BACKWARD:
      avgPoolBackward(ptr(job, 0), ptr(job, 1), ptr(job, 2), arg(job, 3) != 0, tid, nth);
      break;
    case JOB_BN_TRAIN:
      batchNormTrain(ptr(job, 0), ptr(job, 1), ptr(job, 2), ptr(job, 3), ptr(job, 4), ptr(job, 5),
        arg(job, 6), arg(job, 7), arg(job, 8), argf(job, 9), arg(job, 10) != 0, tid, nth);
      break;
    case JOB_BN_APPLY:
      batchNormApply(ptr(job, 0), ptr(job, 1), ptr(job, 2), ptr(job, 3), ptr(job, 4), ptr(job, 5),
        arg(job, 6), arg(job, 7), arg(job, 8), arg(job, 9) != 0, tid, nth);
      break;
    case JOB_BN_BACKWARD:
      batchNormBackward(ptr(job, 0), ptr(job, 1), ptr(job, 2), ptr(job, 3), ptr(job, 4), ptr(job, 5),
        ptr(job, 6), ptr(job, 7), arg(job, 8), arg(job, 9), arg(job, 10), arg(job, 11) != 0, ptr(job, 12), tid, nth);
      break;
    case JOB_IM2COL:
      // One thread: the public im2col of one image. args: g x col
      if (tid == 0) {
        const g = ptr(job, 0);
        im2colRange(ptr(job, 1), ptr(job, 2), load<i32>(g + (<usize>G_C << 2)), load<i32>(g + (<usize>G_H << 2)),
          load<i32>(g + (<usize>G_W << 2)), load<i32>(g + (<usize>G_KH << 2)), load<i32>(g + (<usize>G_KW << 2)),
          load<i32>(g + (<usize>G_SH << 2)), load<i32>(g + (<usize>G_SW << 2)), load<i32>(g + (<usize>G_PT << 2)),
          load<i32>(g + (<usize>G_PL << 2)), load<i32>(g + (<usize>G_DH << 2)), load<i32>(g + (<usize>G_DW << 2)),
          load<i32>(g + (<usize>G_OW << 2)), 0, load<i32>(g + (<usize>G_OH << 2)));
      }
      break;
    case JOB_COL2IM:
      if (tid == 0) {
        const g = ptr(job, 0);
        col2imAll(ptr(job, 1), ptr(job, 2), load<i32>(g + (<usize>G_C << 2)), load<i32>(g + (<usize>G_H << 2)),
          load<i32>(g + (<usize>G_W << 2)), load<i32>(g + (<usize>G_KH << 2)), load<i32>(g + (<usize>G_KW << 2)),
          load<i32>(g + (<usize>G_SH << 2)), load<i32>(g + (<usize>G_SW << 2)), load<i32>(g + (<usize>G_PT << 2)),
          load<i32>(g + (<usize>G_PL << 2)), load<i32>(g + (<usize>G_DH << 2)), load<i32>(g + (<usize>G_DW << 2)),
          load<i32>(g + (<usize>G_OW << 2)), 0, load<i32>(g + (<usize>G_OH << 2)));
      }
      break;
    case JOB_RELU:
      relu(ptr(job, 0), ptr(job, 1), arg(job, 2), tid, nth);
      break;
    case JOB_RELU_BACKWARD:
      reluBackward(ptr(job, 0), ptr(job, 1), ptr(job, 2), arg(job, 3), tid, nth);
      break;
    case JOB_ADD:
      // args: a b y n relu
      addRelu(ptr(job, 0), ptr(job, 1), ptr(job, 2), arg(job, 3), arg(job, 4) != 0, tid, nth);
      break;
    case JOB_SGD_MOMENTUM:
      // args: w g buf n lr keep take
      sgdMomentum(ptr(job, 0), ptr(job, 1), ptr(job, 2), arg(job, 3), argf(job, 4), argf(job, 5), argf(job, 6), tid, nth);
      break;
    case JOB_DIRECT_FORWARD:
      // args: d x w bias y relu scratchBase stride scale
      directForward(ptr(job, 0), ptr(job, 1), ptr(job, 2), ptr(job, 3), ptr(job, 4), arg(job, 5) != 0, ptr(job, 8),
        ptr(job, 6) + <usize>tid * ptr(job, 7), counter);
      break;
    case JOB_DIRECT_FILTER:
      // args: d x dy dw db scratchBase stride partBase partStride
      directBackwardFilter(ptr(job, 0), ptr(job, 1), ptr(job, 2), ptr(job, 3), ptr(job, 4), ptr(job, 7), ptr(job, 8),
        ptr(job, 5) + <usize>tid * ptr(job, 6), counter);
      break;
    case JOB_WINOGRAD_FILTERS:
      // args: w u cout cin flip m
      winogradFilters(ptr(job, 0), ptr(job, 1), arg(job, 2), arg(job, 3), arg(job, 4) != 0, arg(job, 5), counter);
      break;
    case JOB_WINOGRAD:
      // args: d x u bias y relu scratchBase stride gemmBytes m (output tile size, 2 or 4) scale kBlocks
      winogradConv(ptr(job, 0), ptr(job, 1), ptr(job, 2), ptr(job, 3), ptr(job, 4), arg(job, 5) != 0, ptr(job, 10),
        ptr(job, 6) + <usize>tid * ptr(job, 7), ptr(job, 8), arg(job, 9), arg(job, 11), counter);
      break;
    case JOB_WINOGRAD_FILTER_GRAD:
      // args: d x dy scratchBase stride gemmBytes partBase partStride sFloats hasBias m
      winogradFilterGrad(ptr(job, 0), ptr(job, 1), ptr(job, 2), ptr(job, 6), ptr(job, 7), arg(job, 8), arg(job, 9) != 0,
        ptr(job, 3) + <usize>tid * ptr(job, 4), ptr(job, 5), arg(job, 10), counter);
      break;
    case JOB_WINOGRAD_FILTER_OUT:
      // args: s sb dw db cout cin m
      if (arg(job, 6) == 4) winograd4FilterOut(ptr(job, 0), ptr(job, 1), ptr(job, 2), ptr(job, 3), arg(job, 4), arg(job, 5), counter);
      else winogradFilterOut(ptr(job, 0), ptr(job, 1), ptr(job, 2), ptr(job, 3), arg(job, 4), arg(job, 5), counter);
      break;
    default:
      unreachable();
  }
}
