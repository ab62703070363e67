/**
 * exportOnnx: a stride model as an ONNX model that ONNX Runtime runs with
 * stride's outputs. This file walks the model (Sequential and Graph
 * containers flatten into one ONNX graph, named by the layers' dotted paths)
 * and encodes the ModelProto with protobufjs and the same JSON descriptor the
 * importer decodes with; export-ops.ts has what each layer becomes.
 * Uses no Node module itself: saveOnnx (src/node/io.ts) is the only part that writes files.
 */
import protobuf from "protobufjs/light.js";
import { Layer, MergeLayer, type Module } from "../../layers/layer.js";
import { Sequential } from "../../models/sequential.js";
import { Graph } from "../../models/graph.js";
import { ModelFileError } from "../safetensors.js";
import { onnxSchema } from "./schema.js";
import { EMITTERS, MERGE_EMITTERS } from "./export-ops.js";
import { OnnxWriter, FLOAT, type Val } from "./export-writer.js";

/** How exportOnnx and saveOnnx write the model. */
export interface OnnxExportOptions {
  /** The ONNX operator set, 13 to 17 (default 17). */
  opset?: number;
  /** A symbolic batch dimension "N" (default true); false fixes it to the batch of inputShape. */
  dynamicBatch?: boolean;
}

export const MIN_EXPORT_OPSET = 13;
export const MAX_EXPORT_OPSET = 17;
/** IR version 8 goes with opsets up to 17 (ONNX 1.12). */
const IR_VERSION = 8;

/** Export problems are ModelFileErrors; there is no file yet, so "ONNX export" stands in for its path. */
function fail(problem: string): never {
  throw new ModelFileError("ONNX export", problem);
}

/** Every leaf layer (not a Sequential or Graph) with its dotted path. */
function leaves(m: Module, path: string, out: [string, Module][]): [string, Module][] {
  if (m instanceof Sequential || m instanceof Graph) {
    for (const c of m.children()) leaves(c, path ? `${path}.${c.name}` : c.name, out);
  } else out.push([path || m.name, m]);
  return out;
}

/** Emits a layer (or a container, recursively) reading `x`; returns its output value. */
function emit(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  if (layer instanceof Sequential) {
    let v = x;
    for (const l of layer.layers) v = emit(w, l, v, path ? `${path}.${l.name}` : l.name);
    return v;
  }
  if (layer instanceof Graph) {
    const values = new Map<string, Val>([[layer.inputName, x]]);
    for (const n of layer.nodes) {
      const ins = n.inputs.map((i) => values.get(i)!);
      const p = path ? `${path}.${n.name}` : n.name;
      const v = n.layer instanceof MergeLayer ? emitMerge(w, n.layer, ins, p) : emit(w, n.layer, ins[0], p);
      values.set(n.name, v);
    }
    return values.get(layer.output)!;
  }
  const emitter = Object.hasOwn(EMITTERS, layer.type) ? EMITTERS[layer.type] : undefined;
  if (!emitter) fail(`layer "${path}" (${layer.type}) has no ONNX form`);
  const expected = layer.outputShape(x.shape);
  const y = emitter(w, layer, x, path);
  if (y.shape.length !== expected.length || y.shape.some((d, i) => d !== expected[i])) {
    // An internal check: what the nodes compute must have the layer's own output shape.
    fail(`layer "${path}" (${layer.type}): its ONNX nodes give shape [${y.shape}] but the layer gives [${expected}]`);
  }
  return y;
}

function emitMerge(w: OnnxWriter, layer: MergeLayer, xs: Val[], path: string): Val {
  const emitter = Object.hasOwn(MERGE_EMITTERS, layer.type) ? MERGE_EMITTERS[layer.type] : undefined;
  if (!emitter) fail(`layer "${path}" (${layer.type}) has no ONNX form`);
  layer.outputShape(xs.map((v) => v.shape));
  return emitter(w, layer, xs, path);
}

/** The batched input shape: inputShape is one example unless adding a batch axis makes it invalid for the model. */
function batchedShape(model: Layer, inputShape: number[]): number[] {
  if (!Array.isArray(inputShape) || inputShape.length === 0 || !inputShape.every((d) => Number.isInteger(d) && d >= 1)) {
    fail(`inputShape = ${JSON.stringify(inputShape)} is not valid; give one example's shape ([C, H, W]) or a batch's ([N, C, H, W]) as whole numbers >= 1`);
  }
  try {
    model.outputShape([1, ...inputShape]);
    return [1, ...inputShape];
  } catch (first) {
    try {
      model.outputShape(inputShape);
    } catch {
      throw first; // neither reading works: the error for one example says why
    }
    return inputShape.slice();
  }
}

/**
 * The output's dimensions with a symbolic batch: those that follow the batch
 * (the model's shape arithmetic at another batch size tells) are "N", or
 * left unnamed when they change otherwise; the rest are fixed. A model whose
 * shapes fail at another batch size cannot have a symbolic batch.
 */
function batchDependence(model: Layer, shape: number[], out: number[]): object[] {
  const n = shape[0];
  let other: number[];
  try {
    other = model.outputShape([n + 1, ...shape.slice(1)]);
  } catch (e) {
    fail(`the model takes only a batch of ${n} (${(e as Error).message}), so its batch cannot be symbolic; export with dynamicBatch: false`);
  }
  return out.map((d, i) => (other[i] === d ? { dimValue: d } : d === n && other[i] === n + 1 ? { dimParam: "N" } : {}));
}

let modelType: protobuf.Type | null = null;

/**
 * A stride model as the bytes of an ONNX model: one float input "input"
 * (batch dimension "N" unless dynamicBatch is false), one output "output".
 * inputShape is one example ([C, H, W]; [L] for token ids) or a whole batch
 * ([N, C, H, W]: taken as a batch when a batch axis cannot be added). The
 * model is exported in inference form (dropout removed, batch norm with its
 * running statistics). Throws ModelFileError naming every layer that has no
 * ONNX form, and for opsets outside 13..17.
 */
export function exportOnnx(model: Layer, inputShape: number[], opts: OnnxExportOptions = {}): Uint8Array {
  if (!(model instanceof Layer)) fail(`exportOnnx expects a stride model (a Layer), got ${model === null ? "null" : typeof model}`);
  const opset = opts.opset ?? 17;
  if (!Number.isInteger(opset) || opset < MIN_EXPORT_OPSET || opset > MAX_EXPORT_OPSET) {
    fail(
      `opset ${JSON.stringify(opts.opset)} is not supported; stride exports opsets ${MIN_EXPORT_OPSET} to ${MAX_EXPORT_OPSET} ` +
        `(default 17): before 13, Softmax coerces its input to 2-D and Squeeze, Split and ReduceSum take their axes as ` +
        `attributes; from 18, ReduceMax takes its axes as an input. Use 17, or 13 for runtimes older than opset 17.`,
    );
  }
  const dynamicBatch = opts.dynamicBatch ?? true;
  const missing = leaves(model, "", []).filter(([, m]) => !Object.hasOwn(EMITTERS, m.type) && !Object.hasOwn(MERGE_EMITTERS, m.type));
  if (missing.length) {
    fail(
      `${missing.length === 1 ? "a layer has" : `${missing.length} layers have`} no ONNX form: ` +
        `${missing.map(([p, m]) => `"${p}" (${m.type})`).join(", ")}. Layers that export: ` +
        `${[...Object.keys(EMITTERS), ...Object.keys(MERGE_EMITTERS)].sort().join(", ")}. Replace the layer (replaceLayer) or leave it out of the exported model.`,
    );
  }
  const shape = batchedShape(model, inputShape);
  const w = new OnnxWriter(opset, dynamicBatch);
  const input: Val = { name: w.unique("input"), shape };
  w.unique("output");
  let out = emit(w, model, input, model instanceof Sequential || model instanceof Graph ? "" : model.name);
  if (out.name === input.name) {
    // The model is the identity (only dropout or Identity layers): still one node from input to output.
    out = w.node("Identity", [input.name], "identity", out.shape);
  }
  w.rename(out.name, "output");

  const inDims = shape.map((d, i) => (i === 0 && dynamicBatch ? { dimParam: "N" } : { dimValue: d }));
  const outDims = dynamicBatch ? batchDependence(model, shape, out.shape) : out.shape.map((d) => ({ dimValue: d }));
  const tensorType = (dim: object[]) => ({ tensorType: { elemType: FLOAT, shape: { dim } } });
  const modelProto = {
    irVersion: IR_VERSION,
    producerName: "stride",
    producerVersion: "0.1.0",
    opsetImport: [{ domain: "", version: opset }],
    graph: {
      name: model.name || "stride",
      node: w.nodes,
      initializer: w.initializers,
      input: [{ name: input.name, type: tensorType(inDims) }],
      output: [{ name: "output", type: tensorType(outDims) }],
    },
  };
  if (!modelType) modelType = protobuf.Root.fromJSON(onnxSchema as unknown as protobuf.INamespace).lookupType("onnx.ModelProto");
  return modelType.encode(modelType.fromObject(modelProto)).finish();
}
