/**
 * Transfer learning, the two ways the notes describe it.
 *
 * 1. Fine-tuning: take a trained network, replace its classifier head with a
 *    fresh one for the new classes, freeze the early layers (their generic
 *    edge and blob detectors), and keep training the rest with a small
 *    learning rate. `replaceHead` + `freeze` + `fit`, or `fineTune` for all three.
 *
 * 2. A fixed feature extractor: run the trained network up to a named layer
 *    (AlexNet's 4096-D "fc7" codes, a ResNet's pooled features) and train a
 *    linear classifier on those activations. `extractFeatures`,
 *    `featureDataset` and `linearProbe`.
 *
 * Both work for Sequential and Graph models and for layers nested inside
 * them ("layer2.0.relu" in a ResNet).
 *
 * Frozen parameters stay bit-identical, but a frozen batch-norm layer still
 * normalises with batch statistics while training and updates its running
 * estimates, as in PyTorch when requires_grad is turned off, unless frozen
 * with `statistics: "freeze"` (then it keeps and uses its running
 * statistics, as Keras does). Feature extraction runs in inference mode
 * (running statistics, no dropout).
 */
import { Tensor, formatShape } from "../tensor.js";
import { Rng } from "../random.js";
import { Layer, MergeLayer, Module, type Param } from "../layers/layer.js";
import { Conv2d } from "../layers/conv.js";
import { Linear } from "../layers/dense.js";
import { Flatten } from "../layers/reshape.js";
import { Sequential } from "../models/sequential.js";
import { Graph } from "../models/graph.js";
import { namedModules, findLayer, freeze, type FreezeOptions } from "../models/named.js";
import { createDataset, exampleSize, type Dataset } from "../data/dataset.js";
import { normalizeTensor, type Normalization } from "../data/normalize.js";
import { fit, evaluate, type FitOptions, type History, type EvaluateResult } from "./trainer.js";
import { SGD, decayGroups } from "./optimizers.js";

// ---------------------------------------------------------------------------
// Replacing the classifier head.

/** Options of replaceHead. */
export interface ReplaceHeadOptions {
  /** How many classes the new head scores. */
  numClasses: number;
  /** The layer to replace (dotted path or unique name); default the model's last Linear or Conv2d. */
  layer?: string;
  /** Seed of the new head's initial weights (default 0). */
  seed?: number;
}

/**
 * Swaps the classifier head (a Linear, or a 1x1-style Conv2d as in
 * all-convolutional nets) for a freshly initialised one with the same inputs
 * and `numClasses` outputs, in place. Returns the new head.
 */
export function replaceHead(model: Layer, opts: ReplaceHeadOptions): Linear | Conv2d {
  if (!opts || !Number.isInteger(opts.numClasses) || opts.numClasses < 1) {
    throw new Error(`replaceHead: numClasses = ${JSON.stringify(opts?.numClasses)} is not valid; give the new number of classes, a whole number >= 1`);
  }
  const old = opts.layer !== undefined ? findLayer(model, opts.layer) : lastHead(model);
  const rng = new Rng(opts.seed ?? 0);
  let head: Linear | Conv2d;
  if (old instanceof Linear) {
    head = new Linear({ inFeatures: old.inFeatures, outFeatures: opts.numClasses, bias: old.bias !== null, name: old.name, rng, init: "pytorch" });
  } else if (old instanceof Conv2d && old.groups === 1) {
    head = new Conv2d({
      inChannels: old.inChannels, outChannels: opts.numClasses, kernelSize: old.kernelSize, stride: old.stride,
      padding: old.padding, dilation: old.dilation, bias: old.bias !== null, name: old.name, rng, init: "pytorch",
    });
  } else {
    throw new Error(`replaceHead: "${opts.layer}" is a ${old.type}; the head must be a Linear or an ungrouped Conv2d layer`);
  }
  replaceLayer(model, old, head);
  return head;
}

/** The last Linear or Conv2d in model order: the classifier of every zoo model. */
function lastHead(model: Layer): Linear | Conv2d {
  const heads = namedModules(model).map(([, m]) => m).filter((m): m is Linear | Conv2d => m instanceof Linear || m instanceof Conv2d);
  if (heads.length === 0) throw new Error(`replaceHead: the model has no Linear or Conv2d layer to replace; name the head with { layer }`);
  return heads[heads.length - 1];
}

/** Puts `replacement` where `target` is, in whichever Sequential or Graph holds it. */
export function replaceLayer(root: Module, target: Module, replacement: Layer): void {
  if (root === target) throw new Error(`replaceLayer: "${target.name}" is the whole model, not a layer inside it`);
  for (const [, m] of namedModules(root)) {
    if (m instanceof Sequential) {
      const i = m.layers.indexOf(target as Layer);
      if (i >= 0) {
        m.layers[i] = replacement;
        return;
      }
    } else if (m instanceof Graph) {
      const node = m.nodes.find((n) => n.layer === target);
      if (node) {
        node.layer = replacement;
        replacement.name = node.name;
        return;
      }
    }
  }
  throw new Error(`replaceLayer: "${target.name}" is not inside a Sequential or Graph of the model, so it cannot be swapped`);
}

// ---------------------------------------------------------------------------
// Fine-tuning.

/** Options of fineTune: every fit option, and the head, freeze and default optimiser's settings. */
export interface FineTuneOptions extends FitOptions {
  /** Replace the head for this many classes (default: the training set's count if it differs from the model's). */
  numClasses?: number;
  /** The head to replace (default the last Linear or Conv2d). */
  head?: string;
  /** Freeze every layer before this one (dotted path or unique name), or the layers named in the list. */
  freeze?: FreezeOptions | string[];
  /** Learning rate of the default optimiser (SGD with momentum 0.9; default 0.01). */
  lr?: number;
  /** L2 weight decay of the default optimiser on weights, not biases or batch norm (default 1e-4). */
  weightDecay?: number;
}

/** What fineTune returns. */
export interface FineTuneResult {
  history: History;
  head: Linear | Conv2d | null;
  /** The parameters that were frozen (bit-identical after training). */
  frozen: Param[];
}

/**
 * The notes' recipe: new head, frozen early layers, the rest trained further.
 * Without an optimizer in the options, SGD with momentum over the trainable
 * parameters only, with weight decay off for biases and batch norm.
 */
export async function fineTune(model: Layer, train: Dataset, opts: FineTuneOptions): Promise<FineTuneResult> {
  const numClasses = opts.numClasses ?? train.classes.length;
  const current = scoresPerExample(model, train.shape);
  let head: Linear | Conv2d | null = null;
  if (opts.numClasses !== undefined || current !== numClasses || opts.head !== undefined) {
    head = replaceHead(model, { numClasses, layer: opts.head, seed: opts.seed });
  }
  const frozen = opts.freeze === undefined ? [] : freeze(model, opts.freeze);
  const trainable = new Set(model.params().filter((p) => p.trainable !== false));
  if (trainable.size === 0) throw new Error("fineTune: every parameter is frozen, so there is nothing to train; freeze fewer layers");
  const groups = decayGroups(model, opts.weightDecay ?? 1e-4)
    .map((g) => ({ ...g, params: g.params.filter((p) => trainable.has(p)) }))
    .filter((g) => g.params.length > 0);
  const optimizer = opts.optimizer ?? new SGD(groups, { lr: opts.lr ?? 0.01, momentum: 0.9 });
  const { numClasses: _n, head: _h, freeze: _f, lr: _lr, weightDecay: _wd, ...fitOptions } = opts;
  try {
    const history = await fit(model, train, { ...fitOptions, optimizer });
    return { history, head, frozen };
  } finally {
    if (!opts.optimizer) optimizer.dispose(); // its state in wasm memory, now rather than when collected
  }
}

function scoresPerExample(model: Layer, shape: readonly number[]): number {
  return model.outputShape([1, ...shape]).slice(1).reduce((a, b) => a * b, 1);
}

// ---------------------------------------------------------------------------
// A trained network as a fixed feature extractor.

/**
 * The activations of the named layer for a batch x ([N, C, H, W], or one
 * example [C, H, W]), in inference mode. Only the layers the target needs
 * are run: everything after it in a Sequential is skipped.
 */
export function extractFeatures(model: Layer, layer: string, x: Tensor): Tensor {
  const target = findLayer(model, layer);
  const input = x.rank === 3 ? x.reshape([1, ...x.shape]) : x;
  return forwardTo(model, target, input, layer);
}

function contains(root: Module, target: Module): boolean {
  return namedModules(root).some(([, m]) => m === target);
}

function forwardTo(root: Layer, target: Module, x: Tensor, label: string): Tensor {
  const ctx = { noGrad: true };
  if (root === target) return root.forward(x, ctx);
  if (root instanceof Sequential) {
    for (const l of root.layers) {
      if (l === target) return l.forward(x, ctx);
      if (contains(l, target)) return forwardTo(l, target, x, label);
      x = l.forward(x, ctx);
    }
  } else if (root instanceof Graph) {
    const values = new Map<string, Tensor>([[root.inputName, x]]);
    for (const n of root.nodes) {
      const xs = n.inputs.map((i) => values.get(i)!);
      if (n.layer === target) return n.layer instanceof MergeLayer ? n.layer.forward(xs, ctx) : n.layer.forward(xs[0], ctx);
      if (n.layer instanceof Layer && contains(n.layer, target)) return forwardTo(n.layer, target, xs[0], label);
      values.set(n.name, n.layer instanceof MergeLayer ? n.layer.forward(xs, ctx) : n.layer.forward(xs[0], ctx));
    }
  }
  throw new Error(`extractFeatures: "${label}" is inside a ${root.type} ("${root.name}"), whose intermediate activations cannot be read; name a layer of a Sequential or Graph`);
}

/** Options of featureDataset. */
export interface FeatureDatasetOptions {
  /** Applied to the images before the network sees them (the normalisation it was trained with). */
  normalize?: Normalization;
  batchSize?: number;
}

/**
 * The dataset of a layer's activations: one example per image, with the
 * image's label. Convolutional activations keep their [C, H, W] shape; flat
 * ones become [D, 1, 1].
 */
export function featureDataset(model: Layer, layer: string, data: Dataset, opts: FeatureDatasetOptions = {}): Dataset {
  const batchSize = opts.batchSize ?? 256;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`featureDataset: batchSize = ${batchSize} must be a whole number >= 1`);
  if (data.length === 0) throw new Error(`featureDataset: "${data.name}" has no examples`);
  const per = exampleSize(data);
  let images: Float32Array | null = null;
  let shape: [number, number, number] = [1, 1, 1];
  let featureSize = 0;
  for (let start = 0; start < data.length; start += batchSize) {
    const n = Math.min(batchSize, data.length - start);
    const x = new Tensor([n, ...data.shape], data.images.slice(start * per, (start + n) * per));
    if (opts.normalize) normalizeTensor(x, opts.normalize);
    const f = extractFeatures(model, layer, x);
    if (!images) {
      featureSize = f.size / n;
      shape = f.rank === 4 ? [f.shape[1], f.shape[2], f.shape[3]] : [featureSize, 1, 1];
      images = new Float32Array(data.length * featureSize);
    }
    if (f.size !== n * featureSize) throw new Error(`featureDataset: "${layer}" gave ${formatShape(f.shape)} for ${n} examples; expected ${featureSize} values each`);
    images.set(f.data, start * featureSize);
  }
  return createDataset({ name: `${data.name} (${layer} features)`, images: images!, labels: data.labels.slice(), shape, classes: data.classes });
}

/** A linear classifier over features of a given shape: Flatten, then one Linear layer. */
export function linearClassifier(featureShape: readonly number[], numClasses: number, seed = 0): Sequential {
  const inFeatures = featureShape.reduce((a, b) => a * b, 1);
  return new Sequential(
    [new Flatten({ name: "flatten" }), new Linear({ inFeatures, outFeatures: numClasses, name: "fc", rng: new Rng(seed), init: "pytorch" })],
    { name: "linear-classifier" },
  );
}

/** Options of linearProbe: fit's options, the network's normalisation, and held-out images. */
export interface LinearProbeOptions extends Omit<FitOptions, "normalize" | "augment" | "validation"> {
  /** The normalisation the network was trained with, applied to the images before extraction. */
  normalize?: Normalization;
  /** Images to validate on after each epoch (their features are extracted like the training images'). */
  validation?: Dataset;
  /** Held-out images to report the classifier's accuracy on. */
  test?: Dataset;
  /** Learning rate of the default optimiser (SGD with momentum 0.9; default 0.01). */
  lr?: number;
  weightDecay?: number;
}

/** What linearProbe returns: the trained classifier, its history, and its test result. */
export interface LinearProbeResult {
  /** Flatten + Linear, taking the layer's activations. */
  classifier: Sequential;
  history: History;
  trainFeatures: Dataset;
  test?: EvaluateResult;
}

/**
 * Trains a linear classifier on the activations of `layer` for the training
 * images (the network itself is never changed), and evaluates it on `test`.
 * Features are standardised by their training mean and deviation first.
 */
export async function linearProbe(model: Layer, layer: string, train: Dataset, opts: LinearProbeOptions): Promise<LinearProbeResult> {
  const { normalize, test, lr, weightDecay, ...fitOptions } = opts;
  const trainFeatures = featureDataset(model, layer, train, { normalize });
  const featureNorm = standardization(trainFeatures);
  const classifier = linearClassifier(trainFeatures.shape, train.classes.length, opts.seed ?? 0);
  const optimizer = opts.optimizer ?? new SGD(decayGroups(classifier, weightDecay ?? 1e-4), { lr: lr ?? 0.01, momentum: 0.9 });
  const history = await fit(classifier, trainFeatures, {
    ...fitOptions,
    optimizer,
    normalize: featureNorm,
    validation: fitOptions.validation ? featureDataset(model, layer, fitOptions.validation, { normalize }) : undefined,
  }).finally(() => {
    if (!opts.optimizer) optimizer.dispose(); // its state in wasm memory, now rather than when collected
  });
  const result: LinearProbeResult = { classifier, history, trainFeatures };
  if (test) result.test = evaluate(classifier, featureDataset(model, layer, test, { normalize }), { normalize: featureNorm });
  return result;
}

/**
 * Per-channel mean and standard deviation of a feature dataset, so that
 * features of very different scales (ReLU codes in the tens) suit one
 * learning rate.
 */
function standardization(data: Dataset): Normalization {
  const [c, h, w] = data.shape;
  const area = h * w;
  const mean = new Array<number>(c).fill(0);
  const sq = new Array<number>(c).fill(0);
  for (let i = 0; i < data.length; i++) {
    for (let ch = 0; ch < c; ch++) {
      const base = (i * c + ch) * area;
      for (let k = 0; k < area; k++) {
        const v = data.images[base + k];
        mean[ch] += v;
        sq[ch] += v * v;
      }
    }
  }
  const count = data.length * area;
  const std = mean.map((s, ch) => {
    const m = s / count;
    mean[ch] = m;
    const variance = Math.max(0, sq[ch] / count - m * m);
    return Math.sqrt(variance) || 1; // a dead unit stays 0 instead of dividing by 0
  });
  return { mean, std };
}
