/**
 * The AlphaGo policy network (Silver et al. 2016): the 19x19 board as a
 * 48-plane image; conv1 with k 5x5 filters and padding 2, conv2 to conv12
 * with k 3x3 filters and padding 1 (ReLU after each), a final 1x1
 * convolution to one plane with a different bias for every point of the
 * board, and a softmax over the 361 points. With k = 192 (the paper's
 * default) it has 3,882,793 parameters.
 */
import { Conv2d } from "../../layers/conv.js";
import { ReLU, Softmax } from "../../layers/activation.js";
import { Flatten } from "../../layers/reshape.js";
import type { Layer } from "../../layers/layer.js";
import { Sequential } from "../sequential.js";
import { PositionBias } from "./layers.js";
import { resolve, type ZooOptions } from "./common.js";
import { withMeta } from "../../tensor.js";

/** Options of alphagoPolicy. */
export interface AlphaGoPolicyOptions extends ZooOptions {
  /** Filters per hidden layer, k (192; the paper also trained 128, 256 and 384). */
  filters?: number;
  /** Hidden 3x3 layers after conv1 (11: conv2 to conv12). */
  hiddenLayers?: number;
  /** End with the softmax over the points (default true); false gives the logits, for softmaxCrossEntropy. */
  softmax?: boolean;
}

/** AlphaGo's policy network (Silver et al. 2016): 19x19 board planes in, a score per point out. */
export function alphagoPolicy(opts: AlphaGoPolicyOptions = {}): Sequential {
  return withMeta(opts?.meta === true, () => buildAlphagoPolicy(opts));
}

function buildAlphagoPolicy(opts: AlphaGoPolicyOptions = {}): Sequential {
  const r = resolve("alphagoPolicy", opts, { numClasses: 361, inputShape: [48, 19, 19] });
  const k = opts.filters ?? 192;
  const hidden = opts.hiddenLayers ?? 11;
  if (!Number.isInteger(k) || k < 1) throw new Error(`alphagoPolicy: filters = ${JSON.stringify(opts.filters)} is not valid; it must be a whole number >= 1 (the paper's k, 192)`);
  if (!Number.isInteger(hidden) || hidden < 0) throw new Error(`alphagoPolicy: hiddenLayers = ${JSON.stringify(opts.hiddenLayers)} is not valid; it must be a whole number >= 0`);
  const [planes, h, w] = r.inputShape;
  if (opts.numClasses !== undefined && opts.numClasses !== h * w) {
    throw new Error(`alphagoPolicy: the classes are the ${h}x${w} = ${h * w} points of the board; numClasses = ${opts.numClasses} does not match`);
  }
  const rng = r.rng;
  const layers: Layer[] = [
    new Conv2d({ inChannels: planes, outChannels: k, kernelSize: 5, padding: 2, name: "conv1", rng, init: r.init("he") }),
    new ReLU({ name: "relu1" }),
  ];
  for (let i = 2; i < hidden + 2; i++) {
    layers.push(new Conv2d({ inChannels: k, outChannels: k, kernelSize: 3, padding: 1, name: `conv${i}`, rng, init: r.init("he") }), new ReLU({ name: `relu${i}` }));
  }
  layers.push(
    new Conv2d({ inChannels: k, outChannels: 1, kernelSize: 1, bias: false, name: `conv${hidden + 2}`, rng, init: r.init("xavier") }),
    new PositionBias({ shape: [1, h, w], name: "position_bias" }),
    new Flatten({ name: "flatten" }),
  );
  if (opts.softmax ?? true) layers.push(new Softmax({ name: "softmax" }));
  return new Sequential(layers, { name: "alphago-policy" });
}
