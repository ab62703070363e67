/**
 * AlexNet (Krizhevsky, Sutskever, Hinton 2012) in two layouts, and ZFNet
 * (Zeiler and Fergus 2013), which is AlexNet with a smaller, denser first
 * layer and wider middle layers.
 *
 * - `alexnet()` is the notes' and the paper's network: 227x227x3 input,
 *   CONV1 96 11x11/4 -> 55x55x96, local response normalisation, overlapping
 *   3x3/2 max pooling, 256-384-384-256 filters with the two-GPU split
 *   (groups 2 in conv2, conv4, conv5), FC 4096-4096-1000 with dropout 0.5.
 *   60,965,224 parameters. Initialised as the paper: weights N(0, 0.01),
 *   biases 1 in conv2, conv4, conv5 and the hidden FC layers, 0 elsewhere.
 * - `alexnet({ variant: "torchvision" })` is torchvision's single-GPU
 *   64-192-384-256-256 network on 224x224 with adaptive pooling to 6x6:
 *   61,100,840 parameters, PyTorch's default initialisation.
 * - `zfnet()`: CONV1 96 7x7/2, CONV3,4,5 of 512, 1024, 512 filters, no
 *   groups, on 224x224 (pooling rounds up, as in Caffe, to give the paper's
 *   110 -> 55 and 26 -> 13). Weights N(0, 0.01), biases 0, as in the paper.
 */
import { Conv2d } from "../../layers/conv.js";
import { MaxPool2d, AdaptiveAvgPool2d } from "../../layers/pool.js";
import { LocalResponseNorm } from "../../layers/norm.js";
import { Linear } from "../../layers/dense.js";
import { ReLU } from "../../layers/activation.js";
import { Dropout } from "../../layers/dropout.js";
import { Flatten } from "../../layers/reshape.js";
import type { Layer } from "../../layers/layer.js";
import { Sequential } from "../sequential.js";
import { resolve, oneOf, normalInit, constantInit, type ZooOptions, type Resolved } from "./common.js";
import type { Padding2d } from "../../shape.js";
import { withMeta } from "../../tensor.js";

/** Options of alexnet. */
export interface AlexNetOptions extends ZooOptions {
  /** "paper" (default: the notes' 96-256-384-384-256 with LRN and groups) or "torchvision". */
  variant?: "paper" | "torchvision";
  /** Paper variant: 2 (default) splits conv2, conv4, conv5 as on the two GPUs; 1 connects them fully. */
  groups?: number;
  /** Dropout probability before the hidden FC layers (0.5). */
  dropout?: number;
}

interface ConvSpec {
  out: number;
  k: number;
  s?: number;
  p?: Padding2d;
  groups?: number;
  lrn?: boolean;
  pool?: boolean;
  biasOne?: boolean;
}

/** The AlexNet LRN: b = a / (2 + 1e-4 * sum a^2)^0.75 over 5 maps; PyTorch's alpha is divided by size, so it is 5e-4 here. */
function lrn(name: string): LocalResponseNorm {
  return new LocalResponseNorm({ size: 5, alpha: 5e-4, beta: 0.75, k: 2, name });
}

function roundTo(c: number, multiple: number): number {
  return Math.max(multiple, Math.round(c / multiple) * multiple);
}

/** CONV-RELU[-LRN][-POOL] stages, then FC-RELU-DROPOUT twice and the classifier. */
function alexLike(
  name: string, r: Resolved, convs: ConvSpec[],
  o: { ceilPool?: boolean; adaptive?: number; dropout: number; hidden: number; dropoutFirst: boolean; paperInit: boolean; fcBiasOne?: boolean },
): Sequential {
  const rng = r.rng;
  const layers: Layer[] = [];
  let inC = r.inputShape[0];
  const biasOne: Layer[] = [];
  convs.forEach((c, i) => {
    const n = i + 1;
    const groups = c.groups ?? 1;
    const out = roundTo(r.width(c.out), groups);
    const conv = new Conv2d({
      inChannels: inC, outChannels: out, kernelSize: c.k, stride: c.s ?? 1, padding: c.p ?? 0, groups,
      name: `conv${n}`, rng, init: o.paperInit ? "zeros" : r.init("pytorch"),
    });
    if (c.biasOne) biasOne.push(conv);
    layers.push(conv, new ReLU({ name: `relu${n}` }));
    if (c.lrn) layers.push(lrn(`norm${n}`));
    if (c.pool) layers.push(new MaxPool2d({ kernelSize: 3, stride: 2, ceilMode: o.ceilPool ?? false, name: `pool${n}` }));
    inC = out;
  });
  if (o.adaptive) layers.push(new AdaptiveAvgPool2d({ outputSize: o.adaptive, name: "avgpool" }));
  layers.push(new Flatten({ name: "flatten" }));
  const flat = new Sequential(layers.slice()).outputShape([1, ...r.inputShape])[1];
  const hidden = r.width(o.hidden);
  const fc = (i: number, inF: number, outF: number) =>
    new Linear({ inFeatures: inF, outFeatures: outF, name: `fc${i}`, rng, init: o.paperInit ? "zeros" : r.init("pytorch") });
  const fc6 = fc(6, flat, hidden), fc7 = fc(7, hidden, hidden), fc8 = fc(8, hidden, r.numClasses);
  if (o.dropoutFirst) {
    // torchvision: Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear.
    layers.push(new Dropout({ p: o.dropout, name: "drop6", rng }), fc6, new ReLU({ name: "relu6" }));
    layers.push(new Dropout({ p: o.dropout, name: "drop7", rng }), fc7, new ReLU({ name: "relu7" }), fc8);
  } else {
    // The paper (Caffe's bvlc_alexnet): dropout on the outputs of fc6 and fc7.
    layers.push(fc6, new ReLU({ name: "relu6" }), new Dropout({ p: o.dropout, name: "drop6", rng }));
    layers.push(fc7, new ReLU({ name: "relu7" }), new Dropout({ p: o.dropout, name: "drop7", rng }), fc8);
  }
  if (o.fcBiasOne) biasOne.push(fc6, fc7);
  if (o.paperInit) {
    for (const l of layers) {
      if (l instanceof Conv2d || l instanceof Linear) {
        normalInit(r, l.weight, 0.01);
        constantInit(l.bias, biasOne.includes(l) ? 1 : 0);
      }
    }
  }
  return new Sequential(layers, { name });
}

function dropoutOf(model: string, p: unknown): number {
  if (typeof p !== "number" || !(p >= 0 && p < 1)) throw new Error(`${model}: dropout = ${JSON.stringify(p)} is not valid; it must be in [0, 1)`);
  return p;
}

/** AlexNet (Krizhevsky et al. 2012), or torchvision's variant of it. */
export function alexnet(opts: AlexNetOptions = {}): Sequential {
  return withMeta(opts?.meta === true, () => buildAlexnet(opts));
}

function buildAlexnet(opts: AlexNetOptions = {}): Sequential {
  const variant = oneOf("alexnet", "variant", opts.variant ?? "paper", ["paper", "torchvision"] as const);
  const dropout = dropoutOf("alexnet", opts.dropout ?? 0.5);
  if (variant === "torchvision") {
    const r = resolve("alexnet", opts, { numClasses: 1000, inputShape: [3, 224, 224] });
    return alexLike("alexnet", r, [
      { out: 64, k: 11, s: 4, p: 2, pool: true },
      { out: 192, k: 5, p: 2, pool: true },
      { out: 384, k: 3, p: 1 },
      { out: 256, k: 3, p: 1 },
      { out: 256, k: 3, p: 1, pool: true },
    ], { adaptive: 6, dropout, hidden: 4096, dropoutFirst: true, paperInit: false });
  }
  const r = resolve("alexnet", opts, { numClasses: 1000, inputShape: [3, 227, 227] });
  const g = oneOf("alexnet", "groups", opts.groups ?? 2, [1, 2] as const);
  return alexLike("alexnet", r, [
    { out: 96, k: 11, s: 4, lrn: true, pool: true },
    { out: 256, k: 5, p: 2, groups: g, lrn: true, pool: true, biasOne: true },
    { out: 384, k: 3, p: 1 },
    { out: 384, k: 3, p: 1, groups: g, biasOne: true },
    { out: 256, k: 3, p: 1, groups: g, pool: true, biasOne: true },
  ], { dropout, hidden: 4096, dropoutFirst: false, paperInit: true, fcBiasOne: true });
}

/** Options of zfnet. */
export interface ZFNetOptions extends ZooOptions {
  dropout?: number;
}

/** ZFNet (Zeiler and Fergus 2013): AlexNet with a 7x7 stride-2 first layer and wider middle layers. */
export function zfnet(opts: ZFNetOptions = {}): Sequential {
  return withMeta(opts?.meta === true, () => buildZfnet(opts));
}

function buildZfnet(opts: ZFNetOptions = {}): Sequential {
  const r = resolve("zfnet", opts, { numClasses: 1000, inputShape: [3, 224, 224] });
  const dropout = dropoutOf("zfnet", opts.dropout ?? 0.5);
  return alexLike("zfnet", r, [
    { out: 96, k: 7, s: 2, p: 1, lrn: true, pool: true },
    { out: 256, k: 5, s: 2, lrn: true, pool: true },
    { out: 512, k: 3, p: 1 },
    { out: 1024, k: 3, p: 1 },
    { out: 512, k: 3, p: 1, pool: true },
  ], { ceilPool: true, dropout, hidden: 4096, dropoutFirst: false, paperInit: true });
}
