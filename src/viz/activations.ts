/**
 * Every layer's output for one input, as the notes' figure shows them:
 * the model is walked as one flat graph of leaf layers (a ResNet block's
 * convolutions, its shortcut and its add each get their own volume), run
 * node by node in inference mode, and each node's output is kept.
 */
import { Tensor, formatShape } from "../tensor.js";
import { Layer, MergeLayer, type Module } from "../layers/layer.js";
import { flattenModel } from "../models/summary.js";

/** One layer's output for one example: its name, type, shape and values. */
export interface LayerActivation {
  /** Dotted path of the layer (layer1.0.conv1). */
  name: string;
  /** The layer's type (Conv2d, ReLU, …). */
  type: string;
  /** One example's output shape, without the batch axis. */
  shape: number[];
  /** The output values of the example, row-major. */
  values: Float32Array;
}

/** Every layer's activation for one input, in model order. */
export interface ActivationTrace {
  /** One example's input shape. */
  inputShape: number[];
  layers: LayerActivation[];
  /** The model's output for the example (the last node's values), flattened to scores. */
  scores: Float32Array;
}

/**
 * Runs one example through the model layer by layer. `x` is [C, H, W]
 * (or any example shape) or a batch of exactly one, [1, C, H, W].
 */
export function traceActivations(model: Module, x: Tensor, inputShape?: number[]): ActivationTrace {
  // One example gets a batch axis of 1; a rank-4 input (or one rank above inputShape) already has it.
  const exampleRank = inputShape?.length ?? (x.rank === 4 ? 3 : x.rank);
  const batched = x.rank === exampleRank ? x.reshape([1, ...x.shape]) : x;
  if (batched.rank !== exampleRank + 1 || batched.shape[0] !== 1) {
    throw new Error(`traceActivations: give one example ([C, H, W] or [1, C, H, W]), got ${formatShape(x.shape)}`);
  }
  if (inputShape && formatShape(batched.shape.slice(1)) !== formatShape(inputShape)) {
    throw new Error(`traceActivations: the model takes ${formatShape(inputShape)} but the input is ${formatShape(batched.shape.slice(1))}`);
  }
  const flat = flattenModel(model, batched.shape);
  const values = new Map<string, Tensor>([["input", batched]]);
  const layers: LayerActivation[] = [];
  for (const node of flat.nodes) {
    const inputs = node.inputs.map((name) => values.get(name)!);
    const y = node.layer instanceof MergeLayer
      ? node.layer.forward(inputs, { noGrad: true })
      : (node.layer as Layer).forward(inputs[0], { noGrad: true });
    values.set(node.name, y);
    layers.push({ name: node.name, type: node.layer.type, shape: y.shape.slice(1), values: y.data.slice() });
  }
  const out = values.get(flat.output)!;
  return { inputShape: batched.shape.slice(1), layers, scores: out.data.slice() };
}
