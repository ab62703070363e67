/**
 * The all-convolutional net (Springenberg, Dosovitskiy, Brox, Riedmiller
 * 2014, "Striving for simplicity"), model All-CNN-C for CIFAR-10: max
 * pooling is replaced by 3x3 convolutions with stride 2, and the FC layers
 * by 1x1 convolutions and global average pooling. 1,369,738 parameters.
 *
 *   input 32x32x3, dropout 0.2
 *   3x3 conv 96, 3x3 conv 96, 3x3 conv 96 stride 2, dropout 0.5
 *   3x3 conv 192, 3x3 conv 192, 3x3 conv 192 stride 2, dropout 0.5
 *   3x3 conv 192 (no padding), 1x1 conv 192, 1x1 conv 10, global average
 *
 * The stride-2 convolutions pad by 1 on 32x32, so their fit is inexact
 * ((32 - 3 + 2)/2 + 1 = 16.5, floored to 16), as in the usual re-implementations.
 */
import { Conv2d } from "../../layers/conv.js";
import { GlobalAvgPool2d } from "../../layers/pool.js";
import { ReLU } from "../../layers/activation.js";
import { Dropout } from "../../layers/dropout.js";
import { Flatten } from "../../layers/reshape.js";
import type { Layer } from "../../layers/layer.js";
import { Sequential } from "../sequential.js";
import { resolve, type ZooOptions } from "./common.js";
import { withMeta } from "../../tensor.js";

/** Options of allConv. */
export interface AllConvOptions extends ZooOptions {
  /** Dropout on the input (0.2) and after each stride-2 layer (0.5); 0 removes them. */
  inputDropout?: number;
  dropout?: number;
}

/** The all-convolutional net (Springenberg et al. 2014): strided convolutions instead of pooling, no fully-connected layers. */
export function allConv(opts: AllConvOptions = {}): Sequential {
  return withMeta(opts?.meta === true, () => buildAllConv(opts));
}

function buildAllConv(opts: AllConvOptions = {}): Sequential {
  const r = resolve("allConv", opts, { numClasses: 10, inputShape: [3, 32, 32] });
  const rng = r.rng;
  const pIn = opts.inputDropout ?? 0.2, p = opts.dropout ?? 0.5;
  for (const [k, v] of [["inputDropout", pIn], ["dropout", p]] as const) {
    if (typeof v !== "number" || !(v >= 0 && v < 1)) throw new Error(`allConv: ${k} = ${JSON.stringify(v)} is not valid; it must be in [0, 1)`);
  }
  const a = r.width(96), b = r.width(192);
  const layers: Layer[] = [];
  if (pIn > 0) layers.push(new Dropout({ p: pIn, name: "drop0", rng }));
  let inC = r.inputShape[0];
  let n = 0;
  const conv = (out: number, k: number, stride = 1, padding = (k - 1) / 2, relu = true) => {
    n++;
    layers.push(new Conv2d({ inChannels: inC, outChannels: out, kernelSize: k, stride, padding, name: `conv${n}`, rng, init: r.init("he") }));
    if (relu) layers.push(new ReLU({ name: `relu${n}` }));
    inC = out;
  };
  conv(a, 3); conv(a, 3); conv(a, 3, 2);
  if (p > 0) layers.push(new Dropout({ p, name: "drop1", rng }));
  conv(b, 3); conv(b, 3); conv(b, 3, 2);
  if (p > 0) layers.push(new Dropout({ p, name: "drop2", rng }));
  conv(b, 3, 1, 0); conv(b, 1); conv(r.numClasses, 1);
  layers.push(new GlobalAvgPool2d({ name: "avgpool" }), new Flatten({ name: "flatten" }));
  return new Sequential(layers, { name: "all-cnn-c" });
}
