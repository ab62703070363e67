/**
 * Layers to and from plain JSON: the topology half of a saved model. Each
 * layer is { type, name, config } with config the options that rebuild it;
 * Sequential lists its layers, Graph its nodes with their inputs.
 */
import { Module } from "../layers/layer.js";
import { Conv2d, Conv1d, LocallyConnected2d } from "../layers/conv.js";
import { MaxPool2d, AvgPool2d, LPPool2d, GlobalAvgPool2d, GlobalMaxPool1d, AdaptiveAvgPool2d } from "../layers/pool.js";
import { BatchNorm1d, BatchNorm2d, LocalResponseNorm } from "../layers/norm.js";
import { Linear, Embedding } from "../layers/dense.js";
import { ReLU, LeakyReLU, ELU, Tanh, Sigmoid, Softmax } from "../layers/activation.js";
import { Dropout } from "../layers/dropout.js";
import { Flatten } from "../layers/reshape.js";
import { Concat, Add } from "../layers/merge.js";
import { Reshape, Pad, GlobalMaxPool2d, BiasAdd, AxisSoftmax, ConstantScale, Transpose, IndexSelect, Identity } from "../layers/tensor-ops.js";
import { Sequential } from "./sequential.js";
import { Graph } from "./graph.js";

/** A layer as JSON: its type, name and options, and for containers their children (the topology of model.json). */
export interface LayerSpec {
  type: string;
  name: string;
  config: Record<string, unknown>;
  /** Sequential: its layers in order. */
  layers?: LayerSpec[];
  /** Graph: its nodes in order. */
  nodes?: { inputs: string[]; layer: LayerSpec }[];
}

type Factory = (config: any) => Module;

const factories = new Map<string, Factory>([
  ["Conv2d", (c) => new Conv2d(c)],
  ["Conv1d", (c) => new Conv1d(c)],
  ["LocallyConnected2d", (c) => new LocallyConnected2d(c)],
  ["MaxPool2d", (c) => new MaxPool2d(c)],
  ["AvgPool2d", (c) => new AvgPool2d(c)],
  ["LPPool2d", (c) => new LPPool2d(c)],
  ["GlobalAvgPool2d", (c) => new GlobalAvgPool2d(c)],
  ["GlobalMaxPool1d", (c) => new GlobalMaxPool1d(c)],
  ["AdaptiveAvgPool2d", (c) => new AdaptiveAvgPool2d(c)],
  ["BatchNorm1d", (c) => new BatchNorm1d(c)],
  ["BatchNorm2d", (c) => new BatchNorm2d(c)],
  ["LocalResponseNorm", (c) => new LocalResponseNorm(c)],
  ["Linear", (c) => new Linear(c)],
  ["Embedding", (c) => new Embedding(c)],
  ["ReLU", (c) => new ReLU(c)],
  ["LeakyReLU", (c) => new LeakyReLU(c)],
  ["ELU", (c) => new ELU(c)],
  ["Tanh", (c) => new Tanh(c)],
  ["Sigmoid", (c) => new Sigmoid(c)],
  ["Softmax", (c) => new Softmax(c)],
  ["Dropout", (c) => new Dropout(c)],
  ["Flatten", (c) => new Flatten(c)],
  ["Concat", (c) => new Concat(c)],
  ["Add", (c) => new Add(c)],
  ["Reshape", (c) => new Reshape(c)],
  ["Pad", (c) => new Pad(c)],
  ["GlobalMaxPool2d", (c) => new GlobalMaxPool2d(c)],
  ["BiasAdd", (c) => new BiasAdd(c)],
  ["AxisSoftmax", (c) => new AxisSoftmax(c)],
  ["ConstantScale", (c) => new ConstantScale(c)],
  ["Transpose", (c) => new Transpose(c)],
  ["IndexSelect", (c) => new IndexSelect(c)],
  ["Identity", (c) => new Identity(c)],
]);

/** Makes a custom layer class loadable from saved topologies. */
export function registerLayer(type: string, factory: Factory): void {
  factories.set(type, factory);
}

/** A model's topology as JSON-ready data; fromSpec rebuilds it. */
export function toSpec(m: Module): LayerSpec {
  const spec: LayerSpec = { type: m.type, name: m.name, config: m.config() };
  if (m instanceof Sequential) spec.layers = m.layers.map(toSpec);
  if (m instanceof Graph) spec.nodes = m.nodes.map((n) => ({ inputs: n.inputs.slice(), layer: toSpec(n.layer) }));
  return spec;
}

/** Rebuilds a layer from its spec, checking every field; `where` names the spot for error messages. */
export function fromSpec(spec: unknown, where = "model"): Module {
  if (!isObject(spec)) throw new Error(`${where}: expected a layer object { type, name, config }, got ${describe(spec)}`);
  const { type, name, config } = spec;
  if (typeof type !== "string") throw new Error(`${where}: "type" must be a string, got ${describe(type)}`);
  if (typeof name !== "string") throw new Error(`${where}: "name" must be a string, got ${describe(name)}`);
  if (!isObject(config)) throw new Error(`${where} (${name}): "config" must be an object, got ${describe(config)}`);
  const here = `${where}/${name}`;
  if (type === "Sequential") {
    if (!Array.isArray(spec.layers)) throw new Error(`${here}: a Sequential needs a "layers" array`);
    const layers = spec.layers.map((l, i) => fromSpec(l, `${here}[${i}]`));
    return new Sequential(layers as any, { name });
  }
  if (type === "Graph") {
    if (!Array.isArray(spec.nodes)) throw new Error(`${here}: a Graph needs a "nodes" array`);
    const g = new Graph({ name, input: typeof config.input === "string" ? config.input : undefined });
    spec.nodes.forEach((n, i) => {
      if (!isObject(n) || !Array.isArray(n.inputs) || !n.inputs.every((s) => typeof s === "string")) {
        throw new Error(`${here}.nodes[${i}]: expected { inputs: string[], layer }, got ${describe(n)}`);
      }
      const layer = fromSpec(n.layer, `${here}.nodes[${i}]`);
      g.add(layer.name, layer as any, n.inputs as string[]);
    });
    if (typeof config.output === "string") g.setOutput(config.output);
    return g;
  }
  const factory = factories.get(type);
  if (!factory) throw new Error(`${here}: unknown layer type "${type}"; known types: ${[...factories.keys()].join(", ")}`);
  try {
    return factory({ ...config, name });
  } catch (e) {
    throw new Error(`${here}: cannot rebuild the ${type}: ${(e as Error).message}`);
  }
}

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + "..." : s;
}
