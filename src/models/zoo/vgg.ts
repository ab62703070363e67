/**
 * VGG (Simonyan and Zisserman 2014): stacks of 3x3 convolutions with
 * padding 1 and 2x2/2 max pooling, then FC 4096-4096-1000. The six
 * configurations of the paper's Table 1:
 *
 *   A      11 weight layers                       133M parameters
 *   A-LRN  A with local response normalisation     133M
 *   B      13 layers                               133M
 *   C      16 layers, three of them 1x1 convs      134M
 *   D      16 layers (VGG-16)                      138M (138,357,544)
 *   E      19 layers (VGG-19)                      144M (143,667,240)
 *
 * torchvision's layout and initialisation: Kaiming normal (fan-out) for
 * the convolutions, N(0, 0.01) for the FC layers, zero biases, dropout 0.5
 * after fc6 and fc7. At 224x224 the last pooling gives 7x7x512, which is
 * where torchvision's adaptive pooling is the identity; it is left out
 * unless `adaptivePool: true`, so the FC input follows the given input size.
 */
import { Conv2d } from "../../layers/conv.js";
import { MaxPool2d, AdaptiveAvgPool2d } from "../../layers/pool.js";
import { BatchNorm2d, LocalResponseNorm } from "../../layers/norm.js";
import { Linear } from "../../layers/dense.js";
import { ReLU } from "../../layers/activation.js";
import { Dropout } from "../../layers/dropout.js";
import { Flatten } from "../../layers/reshape.js";
import type { Layer } from "../../layers/layer.js";
import { Sequential } from "../sequential.js";
import { resolve, oneOf, normalInit, constantInit, type ZooOptions } from "./common.js";
import { withMeta } from "../../tensor.js";

/** A configuration of the VGG paper's table 1: D is VGG-16, E is VGG-19. */
export type VggConfig = "A" | "A-LRN" | "B" | "C" | "D" | "E";
/** The configurations of the VGG paper's table 1. */
export const VGG_CONFIGS: readonly VggConfig[] = ["A", "A-LRN", "B", "C", "D", "E"];

/** Per block: the convolutions as [filters, kernel size]. */
const BLOCKS: Record<VggConfig, [number, number][][]> = (() => {
  const c3 = (n: number, k: number): [number, number][] => Array.from({ length: n }, () => [k, 3] as [number, number]);
  const a = [c3(1, 64), c3(1, 128), c3(2, 256), c3(2, 512), c3(2, 512)];
  const b = [c3(2, 64), c3(2, 128), c3(2, 256), c3(2, 512), c3(2, 512)];
  const c = [c3(2, 64), c3(2, 128), [...c3(2, 256), [256, 1]], [...c3(2, 512), [512, 1]], [...c3(2, 512), [512, 1]]] as [number, number][][];
  const d = [c3(2, 64), c3(2, 128), c3(3, 256), c3(3, 512), c3(3, 512)];
  const e = [c3(2, 64), c3(2, 128), c3(4, 256), c3(4, 512), c3(4, 512)];
  return { A: a, "A-LRN": a, B: b, C: c, D: d, E: e };
})();

/** Options of the VGG builders. */
export interface VggOptions extends ZooOptions {
  /** Batch normalisation after every convolution (torchvision's vgg*_bn). */
  batchNorm?: boolean;
  /** Dropout probability after fc6 and fc7 (0.5). */
  dropout?: number;
  /** torchvision's AdaptiveAvgPool2d(7) before the classifier (default false: identity at 224). */
  adaptivePool?: boolean;
}

/** VGG (Simonyan and Zisserman 2014) in one of the paper's configurations, optionally with batch norm. */
export function vgg(cfg: VggConfig = "D", opts: VggOptions = {}): Sequential {
  return withMeta(opts?.meta === true, () => buildVgg(cfg, opts));
}

function buildVgg(cfg: VggConfig = "D", opts: VggOptions = {}): Sequential {
  const name = `vgg-${cfg}`;
  oneOf("vgg", "cfg", cfg, VGG_CONFIGS);
  const r = resolve(name, opts, { numClasses: 1000, inputShape: [3, 224, 224] });
  const p = opts.dropout ?? 0.5;
  if (typeof p !== "number" || !(p >= 0 && p < 1)) throw new Error(`${name}: dropout = ${JSON.stringify(p)} is not valid; it must be in [0, 1)`);
  const rng = r.rng;
  const layers: Layer[] = [];
  let inC = r.inputShape[0];
  BLOCKS[cfg].forEach((block, b) => {
    block.forEach(([filters, k], i) => {
      const tag = `${b + 1}_${i + 1}`;
      const out = r.width(filters);
      layers.push(new Conv2d({
        inChannels: inC, outChannels: out, kernelSize: k, padding: k === 3 ? 1 : 0,
        name: `conv${tag}`, rng, init: r.init("he-fan-out"),
      }));
      if (opts.batchNorm) layers.push(new BatchNorm2d({ numFeatures: out, name: `bn${tag}` }));
      layers.push(new ReLU({ name: `relu${tag}` }));
      // A-LRN: LRN after the first layer, with AlexNet's settings (PyTorch's alpha is divided by the size).
      if (cfg === "A-LRN" && b === 0 && i === 0) layers.push(new LocalResponseNorm({ size: 5, alpha: 5e-4, beta: 0.75, k: 2, name: "norm1" }));
      inC = out;
    });
    layers.push(new MaxPool2d({ kernelSize: 2, stride: 2, name: `pool${b + 1}` }));
  });
  if (opts.adaptivePool) layers.push(new AdaptiveAvgPool2d({ outputSize: 7, name: "avgpool" }));
  layers.push(new Flatten({ name: "flatten" }));
  const flat = new Sequential(layers.slice()).outputShape([1, ...r.inputShape])[1];
  const hidden = r.width(4096);
  const fc = (n: number, inF: number, outF: number) => {
    const l = new Linear({ inFeatures: inF, outFeatures: outF, name: `fc${n}`, rng, init: "zeros" });
    normalInit(r, l.weight, 0.01);
    constantInit(l.bias, 0);
    return l;
  };
  layers.push(fc(6, flat, hidden), new ReLU({ name: "relu6" }), new Dropout({ p, name: "drop6", rng }));
  layers.push(fc(7, hidden, hidden), new ReLU({ name: "relu7" }), new Dropout({ p, name: "drop7", rng }));
  layers.push(fc(8, hidden, r.numClasses));
  return new Sequential(layers, { name });
}

/** VGG-16 (configuration D). */
export function vgg16(opts: VggOptions = {}): Sequential {
  return vgg("D", opts);
}

/** VGG-19 (configuration E). */
export function vgg19(opts: VggOptions = {}): Sequential {
  return vgg("E", opts);
}
