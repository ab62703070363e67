/**
 * How much memory a model needs, from its shapes alone, the way the notes
 * count it:
 *
 * - training keeps every activation for the backward pass and, during it,
 *   a gradient of the same size; the parameters have a gradient each and
 *   the optimiser keeps state per parameter (momentum one more copy, Adam
 *   two: the notes' "x3 for parameters under momentum"); plus the input batch.
 * - inference keeps only the live activations: as the model runs, each
 *   value is dropped once its last reader has run (what Sequential and
 *   Graph do under noGrad), so the peak is the widest cut of the graph.
 *
 * Activations here are what stride allocates: every layer's output is a
 * new tensor (layers do not work in place), except Flatten, a view, and
 * Dropout at inference, the identity. So a Conv2d followed by a ReLU
 * counts two volumes, where summary() folds the ReLU into the conv's row
 * as the notes' listing does.
 *
 * fitBatchSize(): the notes' "make it fit" heuristic: the activations grow
 * with the batch and the rest does not, so the largest batch that fits is
 * (budget - fixed bytes) / bytes per example.
 */
import { shapeSize } from "../tensor.js";
import { Module } from "../layers/layer.js";
import { batchedShape, bytesPerValue, flattenModel, humanBytes, uniqueParams, withCommas, type Dtype, type FlatModel } from "./summary.js";

/** Optimisers by how much state they keep per parameter (SGD none, momentum one, Adam two, ...). */
export type OptimizerName = "sgd" | "momentum" | "nesterov" | "adam" | "adamw" | "rmsprop" | "adagrad";

/** Copies of the parameters each optimiser keeps besides the parameters and their gradients. */
export const OPTIMIZER_STATE: Record<OptimizerName, number> = {
  sgd: 0, momentum: 1, nesterov: 1, rmsprop: 1, adagrad: 1, adam: 2, adamw: 2,
};

/** Options of estimateMemory. */
export interface MemoryOptions {
  batchSize?: number;
  optimizer?: OptimizerName;
  dtype?: Dtype;
  /** Whether inputShape includes the batch axis (default: only for rank 4, whose N is then ignored). */
  batched?: boolean;
}

/** Bytes needed to train, by kind. */
export interface TrainingMemory {
  input: number;
  activations: number;
  activationGradients: number;
  parameters: number;
  parameterGradients: number;
  optimizerState: number;
  /** Saved non-trained state, e.g. batch-norm running statistics. */
  buffers: number;
  total: number;
}

/** Bytes needed to run inference, by kind. */
export interface InferenceMemory {
  input: number;
  /** The largest set of activations alive at one time. */
  activations: number;
  parameters: number;
  buffers: number;
  total: number;
}

/** What estimateMemory returns: bytes for training and inference, by kind. */
export interface MemoryEstimate {
  batchSize: number;
  optimizer: OptimizerName;
  dtype: Dtype;
  bytesPerValue: number;
  /** Values per example: every activation kept for training, and the inference peak. */
  activationsPerExample: number;
  peakActivationsPerExample: number;
  params: number;
  /** All in bytes. */
  training: TrainingMemory;
  inference: InferenceMemory;
  /** Bytes that grow with each example of the batch, and bytes that do not. */
  trainingBytesPerExample: number;
  trainingFixedBytes: number;
  inferenceBytesPerExample: number;
  inferenceFixedBytes: number;
  /** The totals in human units: "1.23 GB (1.15 GiB)". */
  human: { training: string; inference: string };
  /** A printable report. */
  toString(): string;
}

/** Layers whose output shares its input's memory. */
function isView(type: string, training: boolean): boolean {
  return type === "Flatten" || (!training && type === "Dropout");
}

/** Values of every activation stride allocates in a training forward pass (input excluded). */
function trainingActivations(flat: FlatModel): number {
  return flat.nodes.reduce((a, n) => a + (isView(n.layer.type, true) ? 0 : shapeSize(n.outputShape)), 0);
}

/** The peak of live activations in an inference pass, by reference counting (input excluded). */
function inferencePeak(flat: FlatModel): number {
  const readers = new Map<string, number>();
  for (const n of flat.nodes) for (const i of n.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
  readers.set(flat.output, (readers.get(flat.output) ?? 0) + 1);
  // Views share a storage with their input; a storage is freed when nothing reads it or its views.
  const storageOf = new Map<string, string>([["input", "input"]]);
  const refs = new Map<string, number>();
  const size = new Map<string, number>();
  let live = 0, peak = 0;
  for (const n of flat.nodes) {
    const view = isView(n.layer.type, false) && n.inputs.length === 1;
    if (view) {
      const s = storageOf.get(n.inputs[0])!;
      storageOf.set(n.name, s);
      refs.set(s, (refs.get(s) ?? 0) + (readers.get(n.name) ?? 0));
    } else {
      const bytes = shapeSize(n.outputShape);
      storageOf.set(n.name, n.name);
      refs.set(n.name, readers.get(n.name) ?? 0);
      size.set(n.name, bytes);
      live += bytes;
      peak = Math.max(peak, live);
    }
    for (const i of n.inputs) {
      const s = storageOf.get(i)!;
      if (s === "input") continue; // the caller holds the input batch: counted apart
      const left = refs.get(s)! - 1;
      refs.set(s, left);
      if (left === 0) live -= size.get(s) ?? 0;
    }
    if (!view && refs.get(n.name) === 0) live -= size.get(n.name)!; // an output nobody reads
  }
  return peak;
}

/** The memory a model needs to train (activations kept for backward, gradients, optimizer state) and to run, as the notes compute it. */
export function estimateMemory(model: Module, inputShape: number[], options: MemoryOptions = {}): MemoryEstimate {
  const batchSize = options.batchSize ?? 1;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`estimateMemory: batchSize = ${JSON.stringify(options.batchSize)} is not valid; it must be a whole number >= 1`);
  }
  const optimizer = options.optimizer ?? "sgd";
  if (!Object.hasOwn(OPTIMIZER_STATE, optimizer)) {
    throw new Error(`estimateMemory: optimizer = ${JSON.stringify(optimizer)} is not valid; use one of ${Object.keys(OPTIMIZER_STATE).join(", ")}`);
  }
  const dtype = options.dtype ?? "float32";
  const b = bytesPerValue(dtype);
  const one = batchedShape(inputShape, options.batched);
  one[0] = 1;
  const flat = flattenModel(model, one);
  const inputValues = shapeSize(one);
  const acts = trainingActivations(flat);
  const peak = inferencePeak(flat);
  const params = uniqueParams(model).reduce((a, p) => a + p.value.size, 0);
  const buffers = [...new Set(flat.nodes.flatMap((n) => n.layer.buffers()))].reduce((a, x) => a + x.value.size, 0);
  const state = OPTIMIZER_STATE[optimizer];

  const training: TrainingMemory = {
    input: batchSize * inputValues * b,
    activations: batchSize * acts * b,
    activationGradients: batchSize * acts * b,
    parameters: params * b,
    parameterGradients: params * b,
    optimizerState: state * params * b,
    buffers: buffers * b,
    total: 0,
  };
  training.total = training.input + training.activations + training.activationGradients + training.parameters +
    training.parameterGradients + training.optimizerState + training.buffers;
  const inference: InferenceMemory = {
    input: batchSize * inputValues * b,
    activations: batchSize * peak * b,
    parameters: params * b,
    buffers: buffers * b,
    total: 0,
  };
  inference.total = inference.input + inference.activations + inference.parameters + inference.buffers;

  const est: MemoryEstimate = {
    batchSize, optimizer, dtype, bytesPerValue: b,
    activationsPerExample: acts, peakActivationsPerExample: peak, params,
    training, inference,
    trainingBytesPerExample: (inputValues + 2 * acts) * b,
    trainingFixedBytes: (params * (2 + state) + buffers) * b,
    inferenceBytesPerExample: (inputValues + peak) * b,
    inferenceFixedBytes: (params + buffers) * b,
    human: { training: humanBytes(training.total), inference: humanBytes(inference.total) },
    toString: () => formatMemory(est),
  };
  return est;
}

function formatMemory(e: MemoryEstimate): string {
  const t = e.training, i = e.inference;
  const row = (label: string, bytes: number) => `  ${label.padEnd(50)} ${humanBytes(bytes)}`;
  return [
    `memory for a batch of ${e.batchSize} (${e.dtype}, ${e.bytesPerValue} bytes per value), optimizer ${e.optimizer}:`,
    `training: ${e.human.training}`,
    row("input batch", t.input),
    row(`activations (${withCommas(e.activationsPerExample)} per example)`, t.activations),
    row("activation gradients", t.activationGradients),
    row(`parameters (${withCommas(e.params)})`, t.parameters),
    row("parameter gradients", t.parameterGradients),
    row(`optimizer state (${OPTIMIZER_STATE[e.optimizer]} ${OPTIMIZER_STATE[e.optimizer] === 1 ? "copy" : "copies"} of the parameters)`, t.optimizerState),
    ...(t.buffers ? [row("buffers (running statistics)", t.buffers)] : []),
    `inference: ${e.human.inference}`,
    row("input batch", i.input),
    row(`live activations at the peak (${withCommas(e.peakActivationsPerExample)} per example)`, i.activations),
    row("parameters", i.parameters),
    ...(i.buffers ? [row("buffers", i.buffers)] : []),
  ].join("\n");
}

export interface FitOptions {
  optimizer?: OptimizerName;
  dtype?: Dtype;
  /** Fit a training step (default) or inference only. */
  mode?: "training" | "inference";
  batched?: boolean;
}

/**
 * The largest batch whose estimated memory fits in `bytes` (0 when not even
 * one example fits: the parameters alone, or one example, are too large).
 */
export function fitBatchSize(model: Module, inputShape: number[], bytes: number, options: FitOptions = {}): number {
  if (typeof bytes !== "number" || !(bytes > 0)) {
    throw new Error(`fitBatchSize: bytes = ${JSON.stringify(bytes)} is not valid; give the memory budget in bytes, e.g. 8e9 for 8 GB`);
  }
  const mode = options.mode ?? "training";
  if (mode !== "training" && mode !== "inference") throw new Error(`fitBatchSize: mode = ${JSON.stringify(mode)} is not valid; use "training" or "inference"`);
  const e = estimateMemory(model, inputShape, { optimizer: options.optimizer, dtype: options.dtype, batched: options.batched });
  const fixed = mode === "training" ? e.trainingFixedBytes : e.inferenceFixedBytes;
  const per = mode === "training" ? e.trainingBytesPerExample : e.inferenceBytesPerExample;
  return Math.max(0, Math.floor((bytes - fixed) / per));
}
