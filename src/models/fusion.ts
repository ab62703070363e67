/**
 * Which chains of layers a container (Sequential, Graph) runs as one kernel.
 * The container finds the layers that alone read a layer's output (the next
 * one in a Sequential; the only consumer in a Graph) and asks planFusion
 * whether they can run inside it. The answer is a context for the head layer
 * (fuseRelu, foldAffine) and how many followers it absorbs; the container
 * skips those and, in backward, hands their gradient to the head.
 *
 * Nothing is kept in the layers between calls: a fused batch norm or ReLU is
 * still a plain layer when called on its own.
 *
 * The chains:
 * - Conv2d -> ReLU: the ReLU in the convolution's epilogue.
 * - Conv2d -> BatchNorm2d (-> ReLU), inference only (noGrad, not training):
 *   the batch norm's running statistics fold into a per-channel scale and
 *   shift in the convolution's epilogue.
 * - BatchNorm -> ReLU (training too): normalise and clamp in one pass over
 *   the volume, and one backward pass for the ReLU's mask and the batch norm.
 * - Add -> ReLU (ResNet's residual sum): sum and clamp in one pass.
 * - Conv2d -> BatchNorm2d -> Add (-> ReLU), inference only, in a Graph: when
 *   the Add's other input is already computed, the convolution adds it in its
 *   epilogue (ResNet's last convolution of a block and its shortcut), which
 *   saves a pass over the block's output; onnxruntime fuses the same.
 */
import { sameShape, type Tensor } from "../tensor.js";
import type { ForwardContext, Module } from "../layers/layer.js";
import { Conv2d } from "../layers/conv.js";
import { BatchNorm1d, BatchNorm2d } from "../layers/norm.js";
import { ReLU } from "../layers/activation.js";
import { Add } from "../layers/merge.js";

export interface Fusion {
  /** The context the head layer runs with. */
  ctx: ForwardContext | undefined;
  /** How many of the followers run inside the head (0: none). */
  absorbed: number;
}

/**
 * head: the layer about to run on input x; next: the layer that alone reads
 * head's output, after: the one that alone reads next's (undefined when there
 * is none, or several readers).
 */
export function planFusion(
  head: Module, next: Module | undefined, after: Module | undefined, x: Tensor | Tensor[], ctx: ForwardContext | undefined,
): Fusion {
  if (head instanceof Conv2d) {
    if (next instanceof BatchNorm2d && canFold(head, next, x, ctx)) {
      const foldAffine = next.evalAffine()!;
      return after instanceof ReLU ? { ctx: { ...ctx, foldAffine, fuseRelu: true }, absorbed: 2 } : { ctx: { ...ctx, foldAffine }, absorbed: 1 };
    }
    if (next instanceof ReLU) return { ctx: { ...ctx, fuseRelu: true }, absorbed: 1 };
  }
  if ((head instanceof BatchNorm2d || head instanceof BatchNorm1d || head instanceof Add) && next instanceof ReLU) {
    return { ctx: { ...ctx, fuseRelu: true }, absorbed: 1 };
  }
  return { ctx, absorbed: 0 };
}

/**
 * A batch norm folds into the convolution before it only in inference: in
 * training it needs batch statistics, and with gradients wanted its backward
 * needs the convolution's own output, which the fused kernel never writes.
 */
function canFold(conv: Conv2d, bn: BatchNorm2d, x: Tensor | Tensor[], ctx: ForwardContext | undefined): boolean {
  // A mismatch or an unbatched input is left to the layers, which report it.
  return ctx?.noGrad === true && !ctx.training && bn.trackRunningStats && bn.numFeatures === conv.outChannels &&
    !Array.isArray(x) && x.rank === 4;
}

/**
 * Extends `plan` (head a Conv2d whose batch norm folds into it, nothing else
 * absorbed) by the Add that alone reads the batch norm's output: `other` is
 * the Add's other input, undefined when it is not computed yet; `relu` the
 * layer that alone reads the sum. Returns `plan` unchanged when the residual
 * cannot run in the convolution.
 */
export function planResidual(
  head: Module, plan: Fusion, add: Module, other: Tensor | undefined, relu: Module | undefined, x: Tensor | Tensor[],
): Fusion {
  const ctx = plan.ctx;
  if (!(head instanceof Conv2d) || !(add instanceof Add) || plan.absorbed !== 1 || !ctx?.foldAffine || ctx.fuseRelu || !other) return plan;
  // A shortcut of another shape is left to the Add, which reports it.
  if (Array.isArray(x) || !sameShape(head.shapeInfo(x.shape).shape, other.shape)) return plan;
  const withRelu = relu instanceof ReLU;
  return { ctx: { ...ctx, residual: other, fuseRelu: withRelu }, absorbed: withRelu ? 3 : 2 };
}
