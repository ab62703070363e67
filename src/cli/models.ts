/**
 * The models the command line builds by name, for a dataset's input shape and
 * classes. Besides the zoo's LeNet-5 and CIFAR ResNets there are the two
 * networks of the Fashion-MNIST recipes (RESULTS.md):
 *
 * - `bn-convnet`: the notes' INPUT -> [CONV -> BN -> RELU -> POOL]*3 -> FC
 *   pattern, batch norm after every convolution (so SGD with momentum takes
 *   a large learning rate), dropout before the classifier.
 * - `resnet8` / `resnet14`: the CIFAR ResNet of He et al. (section 4.2) with
 *   n = 1 or 2 basic blocks per stage (6n + 2 layers) and the paper's
 *   option-A shortcuts; `resnet20` … `resnet110` are the zoo's own.
 *   `resnet8-wide` doubles resnet8's filters and pools the stem's maps first.
 *
 * `width` scales every hidden width (channels and hidden units), so the same
 * recipe runs as a tiny network in tests.
 */
import { Conv2d } from "../layers/conv.js";
import { Linear, Embedding } from "../layers/dense.js";
import { BatchNorm2d } from "../layers/norm.js";
import { MaxPool2d, GlobalAvgPool2d } from "../layers/pool.js";
import { ReLU } from "../layers/activation.js";
import { Dropout } from "../layers/dropout.js";
import { Flatten } from "../layers/reshape.js";
import { Add } from "../layers/merge.js";
import { initWeight, initBias } from "../layers/init.js";
import { Rng } from "../random.js";
import { namedModules } from "../models/named.js";
import { Sequential } from "../models/sequential.js";
import { Graph } from "../models/graph.js";
import type { Layer } from "../layers/layer.js";
import { lenet5, lenetTheano } from "../models/zoo/lenet.js";
import { textCnn } from "../models/zoo/textcnn.js";
import { resnetCifar, plainCifar, type ResNetCifarDepth } from "../models/zoo/resnet.js";
import { ShortcutPad } from "../models/zoo/layers.js";
import { CliError } from "./errors.js";

/** What a model is built for: the classes, one example's shape, the seed and a width multiplier. */
export interface BuildOptions {
  numClasses: number;
  inputShape: number[];
  seed: number;
  /** Scales every hidden width; 1 (default) is the network as documented. */
  width?: number;
  /** Tokens in the vocabulary, for models of sentences (textcnn). */
  vocabSize?: number;
  /** Starting word vectors for textcnn: vocabSize x dim values (rows of zeros for words the file lacked, which start random). */
  wordVectors?: { weights: Float32Array; dim: number; present: Uint8Array };
}

interface ModelEntry {
  build: (o: BuildOptions) => Layer;
  /** One line for `stride --help`. */
  about: string;
}

const entries: Record<string, ModelEntry> = {
  lenet5: {
    // LeNet-5's layout with today's ReLU, max pooling and He initialisation: it trains in a few epochs.
    build: (o) => heInit(lenet5({ ...zooOptions(o), activation: "relu", pooling: "max" }), o.seed),
    about: "LeNet-5 with ReLU, max pooling and He initialisation (default)",
  },
  "lenet5-paper": {
    // The paper's LeNet-5: tanh, average-pooling subsampling, its uniform initialisation.
    build: (o) => lenet5(zooOptions(o)),
    about: "the paper's LeNet-5: tanh, average pooling, its uniform initialisation",
  },
  "lenet-theano": {
    build: (o) => lenetTheano(zooOptions(o)),
    about: "the Theano tutorial's LeNet: 20 and 50 5x5 filters, max pooling, tanh, 500 hidden units",
  },
  textcnn: {
    build: (o) => sentenceCnn(o),
    about: "Kim's text CNN for sentences (--dataset austen): 64-d word vectors, 100 filters each of 3, 4, 5 words, 1-max pooling, dropout 0.5",
  },
  "bn-convnet": {
    build: (o) => bnConvNet(o),
    about: "[3x3 conv-BN-ReLU-2x2 max pool] with 32, 64, 128 filters, dropout 0.25, FC",
  },
  resnet8: { build: (o) => smallResNet(1, o), about: "CIFAR ResNet with one basic block per stage (16-32-64 filters)" },
  resnet14: { build: (o) => smallResNet(2, o), about: "CIFAR ResNet with two basic blocks per stage" },
  "resnet8-wide": {
    // Twice the filters at a quarter of the positions: the stem pools 28x28 to 14x14 before the
    // blocks, so it costs about what resnet8 costs but has 6x its parameters.
    build: (o) => smallResNet(1, o, { base: 32, stemPool: true, name: "resnet8-wide" }),
    about: "resnet8 with 32-64-128 filters after a 2x2 max pool of the stem (the Fashion-MNIST recipe)",
  },
  ...Object.fromEntries(
    ([20, 32, 44, 56, 110] as ResNetCifarDepth[]).map((d) => [
      `resnet${d}`,
      { build: (o: BuildOptions) => resnetCifar(d, zooOptions(o)), about: `the paper's CIFAR ResNet-${d}` },
    ]),
  ),
  ...Object.fromEntries(
    ([20, 56] as ResNetCifarDepth[]).map((d) => [
      `plain${d}`,
      { build: (o: BuildOptions) => plainCifar(d, zooOptions(o)), about: `resnet${d} without its shortcuts (the paper's plain net)` },
    ]),
  ),
};

/** The names `stride train` and buildModel accept. */
export const MODEL_NAMES = Object.keys(entries);

/** "  name   what it is" lines for the usage text. */
export function describeModels(indent = "  "): string {
  const wide = Math.max(...MODEL_NAMES.map((n) => n.length));
  return MODEL_NAMES.map((n) => `${indent}${n.padEnd(wide)}  ${entries[n].about}`).join("\n");
}

/** The model `stride train NAME` trains, built for a dataset's shape and classes. */
export function buildModel(name: string, o: BuildOptions): Layer {
  // Own keys only: "constructor" or "toString" must not find Object.prototype's.
  const entry = Object.hasOwn(entries, name) ? entries[name] : undefined;
  if (!entry) throw new CliError(`unknown model "${name}"; use one of ${MODEL_NAMES.join(", ")}`);
  if (o.width !== undefined && !(o.width > 0 && Number.isFinite(o.width))) {
    throw new CliError(`--model-width ${o.width} is not valid; it must be a number > 0 (1 for the documented widths)`);
  }
  return entry.build(o);
}

function zooOptions(o: BuildOptions) {
  return { numClasses: o.numClasses, inputShape: o.inputShape, seed: o.seed, widthMultiplier: o.width ?? 1 };
}

function scaled(o: BuildOptions, channels: number): number {
  return Math.max(1, Math.round(channels * (o.width ?? 1)));
}

/** 3x3 convolution without bias (the batch norm after it has the shift), He initialised. */
function conv3x3(name: string, inC: number, outC: number, stride: number, rng: Rng): Conv2d {
  return new Conv2d({ inChannels: inC, outChannels: outC, kernelSize: 3, stride, padding: 1, bias: false, name, rng, init: "he" });
}

/**
 * The batch-norm ConvNet of the Fashion-MNIST recipe: three stages of
 * 3x3 conv -> BN -> ReLU -> 2x2 max pool with 32, 64 and 128 filters
 * (28 -> 14 -> 7 -> 3), dropout, and one FC layer over the 3x3x128 volume.
 * About 7.5M multiply-accumulates per 28x28 image: doubling the filters as
 * the maps shrink keeps each stage's cost about equal.
 */
function bnConvNet(o: BuildOptions): Sequential {
  const rng = new Rng(o.seed);
  const layers: Layer[] = [];
  let [inC, h, w] = o.inputShape;
  [32, 64, 128].forEach((filters, i) => {
    const outC = scaled(o, filters);
    const k = i + 1;
    layers.push(
      conv3x3(`conv${k}`, inC, outC, 1, rng), new BatchNorm2d({ numFeatures: outC, name: `bn${k}` }),
      new ReLU({ name: `relu${k}` }), new MaxPool2d({ kernelSize: 2, name: `pool${k}` }),
    );
    inC = outC;
    h = Math.floor(h / 2);
    w = Math.floor(w / 2);
  });
  if (h < 1 || w < 1) throw new CliError(`bn-convnet halves the image three times; ${o.inputShape.slice(1).join("x")} images are too small (use at least 8x8)`);
  layers.push(
    new Flatten({ name: "flatten" }),
    new Dropout({ p: 0.25, name: "dropout", rng }),
    new Linear({ inFeatures: inC * h * w, outFeatures: o.numClasses, name: "fc", rng, init: "pytorch" }),
  );
  return new Sequential(layers, { name: "bn-convnet" });
}

/**
 * He et al.'s CIFAR ResNet (6n + 2 layers) for any n, built like the zoo's
 * resnetCifar: blocks are Graphs ending in add and relu, stages are
 * Sequentials layer1..layer3, shortcuts that change shape zero-pad (option A).
 */
function smallResNet(n: number, o: BuildOptions, shape: { base: number; stemPool: boolean; name: string } = { base: 16, stemPool: false, name: `resnet${6 * n + 2}` }): Sequential {
  const rng = new Rng(o.seed);
  const first = scaled(o, shape.base);
  const layers: Layer[] = [
    conv3x3("conv1", o.inputShape[0], first, 1, rng),
    new BatchNorm2d({ numFeatures: first, name: "bn1" }),
    new ReLU({ name: "relu" }),
  ];
  if (shape.stemPool) layers.push(new MaxPool2d({ kernelSize: 2, name: "maxpool" }));
  let inC = first;
  for (let stage = 0; stage < 3; stage++) {
    const planes = scaled(o, shape.base * 2 ** stage);
    const blocks: Layer[] = [];
    for (let i = 0; i < n; i++) {
      const stride = i === 0 && stage > 0 ? 2 : 1;
      const g = new Graph({ name: String(i) });
      g.add("conv1", conv3x3("conv1", inC, planes, stride, rng), "input")
        .add("bn1", new BatchNorm2d({ numFeatures: planes, name: "bn1" }), "conv1")
        .add("relu1", new ReLU(), "bn1")
        .add("conv2", conv3x3("conv2", planes, planes, 1, rng), "relu1")
        .add("bn2", new BatchNorm2d({ numFeatures: planes, name: "bn2" }), "conv2");
      let shortcut = "input";
      if (stride !== 1 || inC !== planes) {
        g.add("shortcut", new ShortcutPad({ inChannels: inC, outChannels: planes, stride }), "input");
        shortcut = "shortcut";
      }
      g.add("add", new Add(), ["bn2", shortcut]).add("relu", new ReLU(), "add");
      blocks.push(g);
      inC = planes;
    }
    layers.push(new Sequential(blocks, { name: `layer${stage + 1}` }));
  }
  layers.push(
    new GlobalAvgPool2d({ name: "avgpool" }),
    new Flatten({ name: "flatten" }),
    new Linear({ inFeatures: inC, outFeatures: o.numClasses, name: "fc", rng, init: "pytorch" }),
  );
  return new Sequential(layers, { name: shape.name });
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

/**
 * The text CNN for a sentence dataset, whose examples are rows of token ids
 * shaped [1, 1, length] like images: a Flatten makes them the [N, length]
 * the embedding takes. Kim's CNN-rand: random 64-d word vectors (Kim: 300),
 * 100 filters of 3, 4 and 5 words, max over time, dropout 0.5, logits.
 */
function sentenceCnn(o: BuildOptions): Sequential {
  if (o.vocabSize === undefined) throw new CliError("textcnn reads sentences: train it on a sentence dataset (--dataset austen)");
  const [c, h, length] = o.inputShape;
  if (c !== 1 || h !== 1) throw new CliError(`textcnn reads rows of token ids (1x1xlength), not ${o.inputShape.join("x")} images; use --dataset austen`);
  const net = textCnn({
    numClasses: o.numClasses, inputShape: [length], vocabSize: o.vocabSize, embeddingDim: o.wordVectors?.dim ?? scaled(o, 64),
    regionSizes: [3, 4, 5], filters: scaled(o, 100), dropout: 0.5, softmax: false, seed: o.seed,
  });
  // Kim's random word vectors: uniform in ±0.25, about the spread of pretrained ones (the layer's
  // default, PyTorch's N(0, 1), starts the logits so large that the first epochs are spent shrinking them).
  const embedding = net.layers.find((l) => l instanceof Embedding) as Embedding;
  const rng = new Rng(o.seed + 1);
  const table = embedding.weight.value.data;
  for (let i = 0; i < table.length; i++) table[i] = rng.uniform(-0.25, 0.25);
  // Kim's CNN-static/non-static start: the file's vector for every word it has (then trained further).
  const wv = o.wordVectors;
  if (wv) {
    for (let id = 0; id < o.vocabSize; id++) {
      if (wv.present[id]) table.set(wv.weights.subarray(id * wv.dim, (id + 1) * wv.dim), id * wv.dim);
    }
  }
  return new Sequential([new Flatten({ name: "tokens" }), ...net.layers], { name: "textcnn" });
}
