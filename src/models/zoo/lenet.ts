/**
 * LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998): CONV-POOL-CONV-POOL-FC-FC-FC
 * on 32x32 digits. A 28x28 input (MNIST as stored) gets padding 2 in the
 * first convolution, which makes it the same 32x32 problem.
 *
 * The paper's C3 layer connects each of its 16 maps to a subset of the 6 S2
 * maps (Table I), to break symmetry and save connections: 1,516 parameters
 * instead of 2,416. `c3: "partial"` builds that table; the default "full"
 * is the connectivity every modern re-implementation uses.
 */
import { Conv2d } from "../../layers/conv.js";
import { AvgPool2d, MaxPool2d } from "../../layers/pool.js";
import { Linear } from "../../layers/dense.js";
import { ReLU, Tanh } from "../../layers/activation.js";
import { Flatten } from "../../layers/reshape.js";
import { theanoFanOut } from "../../layers/init.js";
import type { Layer } from "../../layers/layer.js";
import { Sequential } from "../sequential.js";
import { MaskedConv2d, LENET_C3_CONNECTIONS } from "./layers.js";
import { resolve, oneOf, uniformInit, constantInit, type ZooOptions } from "./common.js";
import { withMeta } from "../../tensor.js";

export interface LeNet5Options extends ZooOptions {
  /** "full" (default, as used today) or "partial" (the paper's C3 connection table). */
  c3?: "full" | "partial";
  /** "tanh" (default, the paper's squashing function) or "relu". */
  activation?: "tanh" | "relu";
  /** "avg" (default, the paper's subsampling) or "max". */
  pooling?: "avg" | "max";
}

export function lenet5(opts: LeNet5Options = {}): Sequential {
  return withMeta(opts?.meta === true, () => buildLenet5(opts));
}

function buildLenet5(opts: LeNet5Options = {}): Sequential {
  const r = resolve("lenet5", opts, { numClasses: 10, inputShape: [1, 32, 32] });
  const c3 = oneOf("lenet5", "c3", opts.c3 ?? "full", ["full", "partial"] as const);
  const act = oneOf("lenet5", "activation", opts.activation ?? "tanh", ["tanh", "relu"] as const);
  const pooling = oneOf("lenet5", "pooling", opts.pooling ?? "avg", ["avg", "max"] as const);
  const [inC, h] = r.inputShape;
  const c1 = r.width(6), c3maps = r.width(16), c5 = r.width(120), f6 = r.width(84);
  if (c3 === "partial" && (c1 !== 6 || c3maps !== 16)) {
    throw new Error(`lenet5: the partial C3 table connects 6 maps to 16; it cannot be used with widthMultiplier = ${opts.widthMultiplier}`);
  }
  const activation = (): Layer => (act === "tanh" ? new Tanh() : new ReLU());
  const pool = (name: string): Layer => (pooling === "avg" ? new AvgPool2d({ kernelSize: 2, name }) : new MaxPool2d({ kernelSize: 2, name }));
  const rng = r.rng;
  const features: Layer[] = [
    new Conv2d({ inChannels: inC, outChannels: c1, kernelSize: 5, padding: h === 28 ? 2 : 0, name: "c1", rng, init: r.init("he") }),
    activation(),
    pool("s2"),
    c3 === "partial"
      ? new MaskedConv2d({ inChannels: c1, outChannels: c3maps, kernelSize: 5, connections: LENET_C3_CONNECTIONS, name: "c3", rng, init: r.init("he") })
      : new Conv2d({ inChannels: c1, outChannels: c3maps, kernelSize: 5, name: "c3", rng, init: r.init("he") }),
    activation(),
    pool("s4"),
    new Flatten(),
  ];
  const flat = new Sequential(features).outputShape([1, ...r.inputShape])[1];
  const layers: Layer[] = [
    ...features,
    new Linear({ inFeatures: flat, outFeatures: c5, name: "c5", rng, init: r.init("he") }),
    activation(),
    new Linear({ inFeatures: c5, outFeatures: f6, name: "f6", rng, init: r.init("he") }),
    activation(),
    new Linear({ inFeatures: f6, outFeatures: r.numClasses, name: "output", rng, init: r.init("he") }),
  ];
  // The paper: weights uniform in (-2.4/Fi, 2.4/Fi), Fi the fan-in of the unit.
  for (const l of r.initWeights ? layers : []) {
    if (l instanceof Conv2d) {
      uniformInit(r, l.weight, 2.4 / (l.inChannels * l.kernelSize[0] * l.kernelSize[1]));
      constantInit(l.bias, 0);
    } else if (l instanceof MaskedConv2d) {
      let j = 0;
      const area = 25;
      for (const row of l.connections) {
        const bound = 2.4 / (row.length * area);
        for (let k = 0; k < row.length * area; k++) l.weight.value.data[j++] = rng.uniform(-bound, bound);
      }
      constantInit(l.bias, 0);
    } else if (l instanceof Linear) {
      uniformInit(r, l.weight, 2.4 / l.inFeatures);
      constantInit(l.bias, 0);
    }
  }
  return new Sequential(layers, { name: "lenet5" });
}

/** Options of lenetTheano. */
export interface LeNetTheanoOptions extends ZooOptions {
  /** Filters of the two convolutions (the tutorial's nkerns, [20, 50]). */
  filters?: [number, number];
  /** Units of the hidden layer (500). */
  hidden?: number;
}

/**
 * The LeNet of the Theano deep learning tutorial ("Convolutional Neural
 * Networks (LeNet)"), on 28x28 MNIST digits: two convolution + 2x2 max
 * pooling stages of 20 and 50 5x5 filters, each followed by tanh
 * (28 -> 24 -> 12 -> 8 -> 4), a tanh hidden layer of 500 units over the
 * 4x4x50 = 800 features, and a softmax layer of 10 (logits here).
 * The tutorial adds the bias after pooling; max pooling commutes with a
 * per-map constant, so conv + bias, then pooling, is the same function.
 * Its initialisation: convolutions uniform in ±sqrt(6 / (fanIn + fanOut))
 * with the fan-out divided by the pooling area (theanoFanOut), the hidden
 * layer the same without pooling, the softmax layer and every bias zero.
 */
export function lenetTheano(opts: LeNetTheanoOptions = {}): Sequential {
  return withMeta(opts?.meta === true, () => buildLenetTheano(opts));
}

function buildLenetTheano(opts: LeNetTheanoOptions): Sequential {
  const r = resolve("lenetTheano", opts, { numClasses: 10, inputShape: [1, 28, 28] });
  const [k1, k2] = (opts.filters ?? [20, 50]).map((f) => r.width(f));
  const hidden = r.width(opts.hidden ?? 500);
  for (const [name, v] of [["filters[0]", k1], ["filters[1]", k2], ["hidden", hidden]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`lenetTheano: ${name} = ${JSON.stringify(v)} is not valid; it must be a whole number >= 1`);
  }
  const rng = r.rng;
  const conv1 = new Conv2d({ inChannels: r.inputShape[0], outChannels: k1, kernelSize: 5, name: "conv1", rng, init: "zeros" });
  const conv2 = new Conv2d({ inChannels: k1, outChannels: k2, kernelSize: 5, name: "conv2", rng, init: "zeros" });
  const features: Layer[] = [
    conv1, new MaxPool2d({ kernelSize: 2, name: "pool1" }), new Tanh({ name: "tanh1" }),
    conv2, new MaxPool2d({ kernelSize: 2, name: "pool2" }), new Tanh({ name: "tanh2" }),
    new Flatten({ name: "flatten" }),
  ];
  const flat = new Sequential(features).outputShape([1, ...r.inputShape])[1];
  const fc = new Linear({ inFeatures: flat, outFeatures: hidden, name: "hidden", rng, init: "zeros" });
  const out = new Linear({ inFeatures: hidden, outFeatures: r.numClasses, name: "logistic", rng, init: "zeros" });
  for (const c of [conv1, conv2]) {
    const fanIn = c.inChannels * 25;
    uniformInit(r, c.weight, Math.sqrt(6 / (fanIn + theanoFanOut(c.outChannels, 5, 5, 2, 2))));
  }
  uniformInit(r, fc.weight, Math.sqrt(6 / (flat + hidden)));
  return new Sequential([...features, fc, new Tanh({ name: "tanh3" }), out], { name: "lenet-theano" });
}
