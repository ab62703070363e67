/**
 * The small seeded models of the PyTorch export fixtures: written to
 * test/fixtures/pytorch-export/ by scripts/write_pytorch_export_fixtures.mjs,
 * run in PyTorch by scripts/gen_pytorch_export_fixtures.py, and rebuilt by
 * test/pytorch-export.test.ts (which must get the same model.py byte for byte).
 */
import { Tensor } from "../../src/tensor.js";
import { Rng } from "../../src/random.js";
import type { Layer } from "../../src/layers/layer.js";
import { Conv2d, Conv1d, LocallyConnected2d } from "../../src/layers/conv.js";
import { MaxPool2d, AvgPool2d, LPPool2d, GlobalAvgPool2d, GlobalMaxPool1d } from "../../src/layers/pool.js";
import { BatchNorm1d, BatchNorm2d, LocalResponseNorm } from "../../src/layers/norm.js";
import { Linear, Embedding } from "../../src/layers/dense.js";
import { ReLU, LeakyReLU, ELU, Tanh, Sigmoid, Softmax } from "../../src/layers/activation.js";
import { Dropout } from "../../src/layers/dropout.js";
import { Flatten } from "../../src/layers/reshape.js";
import { Concat, Add } from "../../src/layers/merge.js";
import { Sequential } from "../../src/models/sequential.js";
import { Graph } from "../../src/models/graph.js";
import { namedParams, namedBuffers } from "../../src/models/named.js";
import { MaskedConv2d, PositionBias, AdaptiveAvgPool2d, ShortcutPad, LENET_C3_CONNECTIONS } from "../../src/models/zoo/layers.js";
import { buildModel } from "../../src/cli/models.js";
import type { ModelInfo } from "../../src/io/model-file.js";
import { trainingRecipe, randomErasingRecipe } from "../../src/io/pytorch/recipe.js";
import { SGD, decayGroups } from "../../src/train/optimizers.js";
import { ReduceLROnPlateau, OneCycleLR } from "../../src/train/schedules.js";

export interface FixtureModel {
  name: string;
  model: Layer;
  /** One example's shape (what model.json records). */
  inputShape: number[];
  /** The batch the fixture runs. */
  input: Tensor;
  /** What model.json would hold besides the input shape (a recipe makes the export write train.py). */
  info?: ModelInfo;
}

/** A recipe as stride train records it, so the fixture also has a train.py (whose checkpoint format is tested). */
function recipeInfo(model: Layer): ModelInfo {
  const optimizer = new SGD(decayGroups(model, 1e-3), { lr: 0.1, momentum: 0.9, nesterov: true });
  const schedule = new ReduceLROnPlateau(optimizer, { mode: "max", factor: 0.1, patience: 3, threshold: 1e-3 });
  const recipe = trainingRecipe({ optimizer, schedule, batchSize: 2, epochs: 1, seed: 1, valFraction: 0.1,
    augmentation: { randomCrop: { size: [28, 28], padding: 2 }, horizontalFlip: { p: 0.5 } }, dataset: "fashion-mnist" });
  return { normalization: { mean: [0.286], std: [0.353] }, classes: ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"], extra: { recipe } };
}

/**
 * The time-to-accuracy recipe as stride train records it (nesterov SGD, a one-cycle stepped per batch,
 * label smoothing, random erasing, test-time flips): scripts/gen_pytorch_export_fixtures.py takes
 * ONE_CYCLE_FIXTURE_STEPS steps of its train.py and the test takes the same steps in stride.
 */
export const ONE_CYCLE_FIXTURE_STEPS = 2;
export const ONE_CYCLE_FIXTURE_NORMALIZATION = { mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26] };
function oneCycleRecipeInfo(model: Layer): ModelInfo {
  const optimizer = new SGD(decayGroups(model, 5e-4), { lr: 0.2, momentum: 0.9, nesterov: true });
  // As configured (the one-cycle moves lr and momentum to its start, as stride train records it).
  const configured = { type: optimizer.type, paramGroups: optimizer.paramGroups.map((g) => ({ options: structuredClone(g.options) })) };
  const schedule = new OneCycleLR(optimizer, { maxLr: 0.2, epochs: 2, stepsPerEpoch: 2 });
  const normalization = ONE_CYCLE_FIXTURE_NORMALIZATION;
  const erasing = randomErasingRecipe({ p: 0.5, scale: [0.02, 0.33], ratio: [0.3, 3.3], value: normalization.mean }, normalization);
  const recipe = trainingRecipe({ optimizer: configured, schedule, batchSize: 2, epochs: 2, seed: 1, valFraction: 0, labelSmoothing: 0.1,
    augmentation: { randomCrop: { size: [16, 16], padding: 2 }, horizontalFlip: { p: 0.5 }, randomErasing: erasing },
    testTimeAugmentation: "flip", dataset: "images" });
  return { normalization, classes: ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"], extra: { recipe } };
}

/** Every parameter and buffer drawn anew (running variances positive), so nothing sits at a neutral default. */
function randomize(model: Layer, seed: number): Layer {
  const rng = new Rng(seed);
  for (const [, p] of namedParams(model)) for (let i = 0; i < p.value.size; i++) p.value.data[i] = 0.3 * rng.normal();
  for (const [name, b] of namedBuffers(model)) {
    const variance = name.endsWith("runningVar");
    for (let i = 0; i < b.value.size; i++) b.value.data[i] = variance ? 0.5 + rng.next() : 0.2 * rng.normal();
  }
  return model;
}

function images(shape: number[], seed: number): Tensor {
  const rng = new Rng(seed);
  const t = new Tensor(shape);
  for (let i = 0; i < t.size; i++) t.data[i] = rng.normal();
  return t;
}

/** A GoogLeNet-style network: stem, two inception Graphs (branches are Sequentials joined by Concat), a projection shortcut named "downsample.0/1". */
function inceptionNet(): Layer {
  const rng = new Rng(5);
  const cbr = (name: string, i: number, o: number, k: number, p = 0) => [
    new Conv2d({ inChannels: i, outChannels: o, kernelSize: k, padding: p, name, rng }), new ReLU({ name: `${name}_relu` }),
  ];
  const inception = (name: string, i: number, [c1, r3, c3, r5, c5, pp]: number[]) => {
    const g = new Graph({ name });
    g.add("branch1", new Sequential(cbr("conv", i, c1, 1), { name: "branch1" }), "input");
    g.add("branch2", new Sequential([...cbr("reduce", i, r3, 1), ...cbr("conv", r3, c3, 3, 1)], { name: "branch2" }), "input");
    g.add("branch3", new Sequential([...cbr("reduce", i, r5, 1), ...cbr("conv", r5, c5, 5, 2)], { name: "branch3" }), "input");
    g.add("branch4", new Sequential([new MaxPool2d({ kernelSize: 3, stride: 1, padding: 1, ceilMode: true, name: "pool" }), ...cbr("proj", i, pp, 1)], { name: "branch4" }), "input");
    g.add("concat", new Concat({ axis: 1 }), ["branch1", "branch2", "branch3", "branch4"]);
    return g;
  };
  // A residual block whose shortcut is a projection with torchvision's dotted names.
  const res = new Graph({ name: "res" });
  res.add("conv1", new Conv2d({ inChannels: 16, outChannels: 12, kernelSize: 3, stride: 2, padding: 1, bias: false, name: "conv1", rng }), "input")
    .add("bn1", new BatchNorm2d({ numFeatures: 12, name: "bn1" }), "conv1")
    .add("downsample.0", new Conv2d({ inChannels: 16, outChannels: 12, kernelSize: 1, stride: 2, bias: false, rng }), "input")
    .add("downsample.1", new BatchNorm2d({ numFeatures: 12 }), "downsample.0")
    .add("add", new Add(), ["bn1", "downsample.1"])
    .add("relu", new ReLU(), "add")
    .add("bn_out", new BatchNorm2d({ numFeatures: 12, name: "bn_out" }), "relu");
  return new Sequential([
    ...cbr("conv1", 3, 8, 3, 1),
    new MaxPool2d({ kernelSize: 3, stride: 2, ceilMode: true, name: "pool1" }),
    inception("inception3a", 8, [4, 4, 6, 2, 3, 3]),
    inception("inception3b", 16, [4, 4, 6, 2, 3, 3]),
    res,
    new GlobalAvgPool2d({ name: "avgpool" }),
    new Flatten({ name: "flatten" }),
    new Dropout({ p: 0.4, name: "dropout" }),
    new Linear({ inFeatures: 12, outFeatures: 5, name: "fc", rng }),
  ], { name: "inception-small" });
}

/** Every other image layer: padding of every form, pooling variants, normalisations, the zoo's own layers. */
function everyLayer(): Layer {
  const rng = new Rng(6);
  return new Sequential([
    new Conv2d({ inChannels: 3, outChannels: 6, kernelSize: 3, padding: [0, 1, 1, 2], name: "conv_asym", rng }),          // 13x14 -> 12x15
    new ELU({ alpha: 0.7, name: "elu" }),
    new Conv2d({ inChannels: 6, outChannels: 6, kernelSize: 3, stride: 2, padding: "same", groups: 2, name: "conv_same", rng }), // -> 6x8
    new LeakyReLU({ negativeSlope: 0.05, name: "leaky" }),
    new Conv2d({ inChannels: 6, outChannels: 6, kernelSize: 3, padding: "same", dilation: 2, name: "conv_dil", rng }),
    new LocalResponseNorm({ size: 3, alpha: 1e-2, beta: 0.75, k: 2, name: "lrn" }),
    new MaxPool2d({ kernelSize: 3, stride: 2, padding: 1, ceilMode: true, name: "pool_max" }),                             // -> 4x5
    new MaskedConv2d({ inChannels: 6, outChannels: 16, kernelSize: 2, padding: [0, 1, 0, 1], connections: LENET_C3_CONNECTIONS, name: "c3", rng }),
    new Tanh({ name: "tanh" }),
    new AvgPool2d({ kernelSize: 2, stride: 2, padding: 1, ceilMode: true, countIncludePad: false, name: "pool_avg" }),      // -> 3x3 (ceil)
    new PositionBias({ shape: [16, 3, 3], name: "posbias" }),
    new Sigmoid({ name: "sigmoid" }),
    new LPPool2d({ normType: 2, kernelSize: 2, stride: 1, ceilMode: false, name: "pool_lp" }),                             // -> 2x2
    new BatchNorm2d({ numFeatures: 16, eps: 1e-3, momentum: 0.05, name: "bn2d" }),
    new AdaptiveAvgPool2d({ outputSize: [3, 2], name: "adaptive" }),
    new LocallyConnected2d({ inChannels: 16, outChannels: 4, inputSize: [3, 2], kernelSize: [2, 2], padding: [1, 0], name: "local", rng }),
    new ShortcutPad({ inChannels: 4, outChannels: 6, stride: 2, name: "shortcut" }),
    new Flatten({ name: "flatten" }),
    new BatchNorm1d({ numFeatures: 12, name: "bn1d" }),
    new Linear({ inFeatures: 12, outFeatures: 7, name: "fc", rng }),
    new Softmax({ name: "softmax" }),
  ], { name: "every-layer" });
}

/** The sequence layers: embedding, 1-D convolutions (asymmetric and "same" padding), max over time. */
function textNet(): Layer {
  const rng = new Rng(7);
  return new Sequential([
    new Embedding({ numEmbeddings: 20, embeddingDim: 6, layout: "NCL", name: "embed", rng }),
    new Conv1d({ inChannels: 6, outChannels: 8, kernelSize: 4, padding: [1, 2], name: "conv_a", rng }),
    new ReLU({ name: "relu" }),
    new Conv1d({ inChannels: 8, outChannels: 8, kernelSize: 3, padding: "same", dilation: 2, groups: 2, bias: false, name: "conv_b", rng }),
    new GlobalMaxPool1d({ name: "maxpool" }),
    new BatchNorm1d({ numFeatures: 8, affine: false, name: "bn" }),
    new Linear({ inFeatures: 8, outFeatures: 3, name: "fc", rng }),
  ], { name: "text" });
}

/** The models at reduced widths keep the committed weights small (under 100 KB each). */
export function fixtureModels(): FixtureModel[] {
  const tokens = new Tensor([3, 9]);
  const rng = new Rng(8);
  for (let i = 0; i < tokens.size; i++) tokens.data[i] = rng.int(20);
  return [
    { name: "lenet5", model: randomize(buildModel("lenet5", { numClasses: 10, inputShape: [1, 32, 32], seed: 1, width: 0.5 }), 11), inputShape: [1, 32, 32], input: images([2, 1, 32, 32], 21) },
    (() => {
      const model = randomize(buildModel("bn-convnet", { numClasses: 10, inputShape: [1, 28, 28], seed: 1, width: 0.25 }), 12);
      return { name: "bn-convnet", model, inputShape: [1, 28, 28], input: images([2, 1, 28, 28], 22), info: recipeInfo(model) };
    })(),
    (() => {
      const model = randomize(buildModel("resnet8", { numClasses: 10, inputShape: [3, 16, 16], seed: 1, width: 0.5 }), 13);
      return { name: "resnet8", model, inputShape: [3, 16, 16], input: images([2, 3, 16, 16], 23), info: oneCycleRecipeInfo(model) };
    })(),
    { name: "inception-small", model: randomize(inceptionNet(), 14), inputShape: [3, 15, 15], input: images([2, 3, 15, 15], 24) },
    { name: "every-layer", model: randomize(everyLayer(), 15), inputShape: [3, 13, 14], input: images([3, 3, 13, 14], 25) },
    { name: "text", model: randomize(textNet(), 16), inputShape: [9], input: tokens },
  ];
}
