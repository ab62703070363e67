/** The models the command line builds by name, for a dataset's input shape and classes. */
import { Conv2d } from "../layers/conv.js";
import { Linear } from "../layers/dense.js";
import { initWeight, initBias } from "../layers/init.js";
import { Rng } from "../random.js";
import { namedModules } from "../models/named.js";
import type { Layer } from "../layers/layer.js";
import { lenet5 } from "../models/zoo/lenet.js";
import { CliError } from "./datasets.js";

export interface BuildOptions {
  numClasses: number;
  inputShape: number[];
  seed: number;
}

const builders: Record<string, (o: BuildOptions) => Layer> = {
  // LeNet-5's layout with today's ReLU, max pooling and He initialisation: it trains in a few epochs.
  lenet5: (o) => heInit(lenet5({ ...o, activation: "relu", pooling: "max" }), o.seed),
  // The paper's LeNet-5: tanh, average-pooling subsampling, its uniform initialisation.
  "lenet5-paper": (o) => lenet5(o),
};

export const MODEL_NAMES = Object.keys(builders);

export function buildModel(name: string, o: BuildOptions): Layer {
  const build = builders[name];
  if (!build) throw new CliError(`unknown model "${name}"; use one of ${MODEL_NAMES.join(", ")}`);
  return build(o);
}

/** Re-initialises every convolution and linear layer with He normal weights and zero biases. */
function heInit(model: Layer, seed: number): Layer {
  const rng = new Rng(seed);
  for (const [, m] of namedModules(model)) {
    if (m instanceof Conv2d) {
      const fanIn = (m.inChannels / m.groups) * m.kernelSize[0] * m.kernelSize[1];
      initWeight(m.weight.value, "he", fanIn, 0, rng);
      if (m.bias) initBias(m.bias.value, "he", fanIn, rng);
    } else if (m instanceof Linear) {
      initWeight(m.weight.value, "he", m.inFeatures, 0, rng);
      if (m.bias) initBias(m.bias.value, "he", m.inFeatures, rng);
    }
  }
  return model;
}
