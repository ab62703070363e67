/**
 * GoogLeNet (Szegedy et al. 2014): Inception modules whose expensive 3x3 and
 * 5x5 branches first reduce the depth with 1x1 convolutions, and global
 * average pooling instead of FC layers at the top.
 *
 * The notes' arithmetic: a 5x5 convolution with 32 filters on 28x28x192
 * costs 28*28*32 * 5*5*192 = 120M multiplications; reducing the depth to 16
 * with a 1x1 convolution first costs 28*28*16*192 + 28*28*32*5*5*16 = 12.4M.
 *
 * - `variant: "paper"` (default): biases and ReLU, LRN in the stem, 5x5
 *   branches, dropout 0.4, Xavier initialisation (as Caffe's bvlc_googlenet).
 * - `variant: "torchvision"`: every convolution is conv (no bias) + batch
 *   norm (eps 0.001) + ReLU, and the "5x5" branch is 3x3, a known quirk
 *   torchvision keeps for its weights: 6,624,904 parameters without the
 *   auxiliary classifiers, dropout 0.2, N(0, 0.01) weights.
 *
 * With `aux: true` the two auxiliary classifiers (on inception4a and
 * inception4d) are built and the model's output is [main | aux1 | aux2]
 * concatenated along the class axis, [N, 3 * numClasses]; `googlenetLoss`
 * splits it and weighs the auxiliary losses by 0.3 as the paper does.
 */
import { Tensor } from "../../tensor.js";
import { Conv2d } from "../../layers/conv.js";
import { MaxPool2d, AvgPool2d, GlobalAvgPool2d, AdaptiveAvgPool2d } from "../../layers/pool.js";
import { BatchNorm2d, LocalResponseNorm } from "../../layers/norm.js";
import { Linear } from "../../layers/dense.js";
import { ReLU } from "../../layers/activation.js";
import { Dropout } from "../../layers/dropout.js";
import { Flatten } from "../../layers/reshape.js";
import { Concat } from "../../layers/merge.js";
import { softmaxCrossEntropy, type LossResult } from "../../layers/loss.js";
import { Layer } from "../../layers/layer.js";
import { Sequential } from "../sequential.js";
import { Graph } from "../graph.js";
import { resolve, oneOf, normalInit, type ZooOptions, type Resolved } from "./common.js";
import { withMeta } from "../../tensor.js";

/** Options of googlenet. */
export interface GoogLeNetOptions extends ZooOptions {
  variant?: "paper" | "torchvision";
  /** Build the two auxiliary classifiers (output [N, 3 * numClasses]). */
  aux?: boolean;
  /** Dropout before the classifier (paper 0.4, torchvision 0.2). */
  dropout?: number;
}

/** [in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj] of each module, from the paper's Table 1. */
const MODULES: [string, number, number, number, number, number, number][] = [
  ["3a", 64, 96, 128, 16, 32, 32],
  ["3b", 128, 128, 192, 32, 96, 64],
  ["4a", 192, 96, 208, 16, 48, 64],
  ["4b", 160, 112, 224, 24, 64, 64],
  ["4c", 128, 128, 256, 24, 64, 64],
  ["4d", 112, 144, 288, 32, 64, 64],
  ["4e", 256, 160, 320, 32, 128, 128],
  ["5a", 256, 160, 320, 32, 128, 128],
  ["5b", 384, 192, 384, 48, 128, 128],
];

class Builder {
  constructor(readonly r: Resolved, readonly torchvision: boolean) {}

  /** conv [+ bn] + relu, named prefix, prefix_bn, prefix_relu. */
  conv(name: string, inC: number, outC: number, k: number, stride = 1, padding = 0): Layer[] {
    const tv = this.torchvision;
    const conv = new Conv2d({
      inChannels: inC, outChannels: outC, kernelSize: k, stride, padding, bias: !tv, name, rng: this.r.rng,
      init: this.r.init(tv ? "pytorch" : "xavier"),
    });
    if (tv) normalInit(this.r, conv.weight, 0.01);
    const out: Layer[] = [conv];
    if (tv) out.push(new BatchNorm2d({ numFeatures: outC, eps: 0.001, name: `${name}_bn` }));
    out.push(new ReLU({ name: `${name}_relu` }));
    return out;
  }

  pool(name: string, k: number, s: number): MaxPool2d {
    return new MaxPool2d({ kernelSize: k, stride: s, ceilMode: true, name });
  }

  inception(tag: string, inC: number, spec: number[]): { block: Graph; out: number } {
    const w = this.r.width;
    const [c1, r3, c3, r5, c5, pp] = spec.map(w);
    const k5 = this.torchvision ? 3 : 5;
    const g = new Graph({ name: `inception${tag}` });
    g.add("branch1", new Sequential(this.conv("conv", inC, c1, 1), { name: "branch1" }), "input");
    g.add("branch2", new Sequential([...this.conv("reduce", inC, r3, 1), ...this.conv("conv", r3, c3, 3, 1, 1)], { name: "branch2" }), "input");
    g.add("branch3", new Sequential([...this.conv("reduce", inC, r5, 1), ...this.conv("conv", r5, c5, k5, 1, (k5 - 1) / 2)], { name: "branch3" }), "input");
    g.add("branch4", new Sequential([
      new MaxPool2d({ kernelSize: 3, stride: 1, padding: 1, ceilMode: this.torchvision, name: "pool" }),
      ...this.conv("proj", inC, pp, 1),
    ], { name: "branch4" }), "input");
    g.add("concat", new Concat({ axis: 1 }), ["branch1", "branch2", "branch3", "branch4"]);
    return { block: g, out: c1 + c3 + c5 + pp };
  }

  auxHead(name: string, inC: number): Sequential {
    const rng = this.r.rng;
    const tv = this.torchvision;
    const pool = tv ? new AdaptiveAvgPool2d({ outputSize: 4, name: "pool" }) : new AvgPool2d({ kernelSize: 5, stride: 3, name: "pool" });
    const conv = this.conv("conv", inC, this.r.width(128), 1);
    const flatIn = this.r.width(128) * 16;
    const hidden = this.r.width(1024);
    const fc1 = new Linear({ inFeatures: flatIn, outFeatures: hidden, name: "fc1", rng, init: this.r.init(tv ? "pytorch" : "xavier") });
    const fc2 = new Linear({ inFeatures: hidden, outFeatures: this.r.numClasses, name: "fc2", rng, init: this.r.init(tv ? "pytorch" : "xavier") });
    if (tv) {
      normalInit(this.r, fc1.weight, 0.01);
      normalInit(this.r, fc2.weight, 0.01);
    }
    return new Sequential([pool, ...conv, new Flatten({ name: "flatten" }), fc1, new ReLU({ name: "relu" }),
      new Dropout({ p: 0.7, name: "dropout", rng }), fc2], { name });
  }
}

/** GoogLeNet (Szegedy et al. 2014) with its Inception modules, optionally with the auxiliary classifiers; or torchvision's variant. */
export function googlenet(opts: GoogLeNetOptions = {}): Sequential | Graph {
  return withMeta(opts?.meta === true, () => buildGooglenet(opts));
}

function buildGooglenet(opts: GoogLeNetOptions = {}): Sequential | Graph {
  const variant = oneOf("googlenet", "variant", opts.variant ?? "paper", ["paper", "torchvision"] as const);
  const tv = variant === "torchvision";
  const r = resolve("googlenet", opts, { numClasses: 1000, inputShape: [3, 224, 224] });
  const p = opts.dropout ?? (tv ? 0.2 : 0.4);
  if (typeof p !== "number" || !(p >= 0 && p < 1)) throw new Error(`googlenet: dropout = ${JSON.stringify(p)} is not valid; it must be in [0, 1)`);
  const b = new Builder(r, tv);
  const w = r.width;
  const lrn = (name: string) => new LocalResponseNorm({ size: 5, alpha: 1e-4, beta: 0.75, k: 1, name });
  const trunk: Layer[] = [
    ...b.conv("conv1", r.inputShape[0], w(64), 7, 2, 3),
    b.pool("pool1", 3, 2),
    ...(tv ? [] : [lrn("norm1")]),
    ...b.conv("conv2", w(64), w(64), 1),
    ...b.conv("conv3", w(64), w(192), 3, 1, 1),
    ...(tv ? [] : [lrn("norm3")]),
    b.pool("pool3", 3, 2),
  ];
  let inC = w(192);
  const auxAt = new Map<string, number>();
  for (const [tag, ...spec] of MODULES) {
    const { block, out } = b.inception(tag, inC, spec);
    trunk.push(block);
    inC = out;
    if (tag === "4a" || tag === "4d") auxAt.set(block.name, out);
    if (tag === "3b") trunk.push(b.pool("pool4", 3, 2));
    if (tag === "4e") trunk.push(tv ? b.pool("pool5", 2, 2) : b.pool("pool5", 3, 2));
  }
  const fc = new Linear({ inFeatures: inC, outFeatures: r.numClasses, name: "fc", rng: r.rng, init: r.init(tv ? "pytorch" : "xavier") });
  if (tv) normalInit(r, fc.weight, 0.01);
  trunk.push(new GlobalAvgPool2d({ name: "avgpool" }), new Flatten({ name: "flatten" }), new Dropout({ p, name: "dropout", rng: r.rng }), fc);
  if (!opts.aux) return new Sequential(trunk, { name: "googlenet" });

  const g = new Graph({ name: "googlenet" });
  let prev = "input";
  const heads: string[] = [];
  for (const l of trunk) {
    g.add(l.name, l, prev);
    prev = l.name;
    if (auxAt.has(l.name)) {
      const head = `aux${heads.length + 1}`;
      g.add(head, b.auxHead(head, auxAt.get(l.name)!), l.name);
      heads.push(head);
    }
  }
  g.add("logits", new Concat({ axis: 1 }), ["fc", ...heads]);
  return g;
}

/**
 * The training loss of GoogLeNet with auxiliary classifiers: cross-entropy of
 * the main output plus 0.3 times that of each auxiliary one, from the
 * concatenated output [N, 3 * numClasses]; the gradient has that shape too.
 */
export function googlenetLoss(logits: Tensor, labels: Int32Array | number[], numClasses: number, auxWeight = 0.3): LossResult {
  const [n, width] = logits.shape;
  const heads = width / numClasses;
  if (logits.rank !== 2 || !Number.isInteger(heads) || heads < 1) {
    throw new Error(`googlenetLoss: expects logits [N, k * ${numClasses}] (main then auxiliary outputs) but got [${logits.shape.join(", ")}]`);
  }
  const grad = new Tensor(logits.shape);
  let loss = 0;
  for (let h = 0; h < heads; h++) {
    const part = new Tensor([n, numClasses]);
    for (let i = 0; i < n; i++) part.data.set(logits.data.subarray(i * width + h * numClasses, i * width + (h + 1) * numClasses), i * numClasses);
    const res = softmaxCrossEntropy(part, labels);
    const weight = h === 0 ? 1 : auxWeight;
    loss += weight * res.loss;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < numClasses; j++) grad.data[i * width + h * numClasses + j] = weight * res.grad.data[i * numClasses + j];
    }
  }
  return { loss, grad };
}
