/**
 * Builds a stride Graph from a decoded ONNX model: finds the one data input,
 * binds every other input as a constant, refuses unsupported operators all
 * at once, then walks the nodes in their (topological) order, turning each
 * into stride layers (ops.ts) or folding it into a constant (shapes.ts).
 * Shapes are tracked from the input's declared shape, so every layer is
 * built with its real sizes and checked as it is added.
 */
import { Tensor } from "../../tensor.js";
import { Layer, MergeLayer } from "../../layers/layer.js";
import { Graph } from "../../models/graph.js";
import { Identity } from "../../layers/tensor-ops.js";
import { ModelFileError } from "../safetensors.js";
import type { OnnxAttribute, OnnxModel, OnnxNode, OnnxValueInfo } from "./decode.js";
import { tensorValues, dataTypeName, DATA_TYPES, type ExternalReader } from "./tensors.js";
import type { Const } from "./shapes.js";
import { OPERATORS } from "./ops.js";

/** A value of the ONNX graph during the import: a known constant, or an activation some graph node produces. */
export type Value =
  | { kind: "const"; c: Const }
  | {
      kind: "act";
      /** The stride graph node (or the graph input) holding it. */
      node: string;
      shape: number[];
      /** A zero Pad left for the Conv that reads it to absorb: [top, bottom, left, right]. */
      foldedPad?: [number, number, number, number];
    };

export type Act = Extract<Value, { kind: "act" }>;

/** Options of importOnnx. */
export interface ImportOptions {
  initializers?: Record<string, Tensor>;
}

export class Builder {
  readonly graph: Graph;
  readonly values = new Map<string, Value>();
  /** The ONNX nodes reading each ONNX value (the graph's output is not counted: compare with outputName). */
  readonly readers = new Map<string, OnnxNode[]>();
  /** Nodes an earlier node took over (the Add that became a MatMul's bias): skipped when reached. */
  readonly absorbed = new Set<OnnxNode>();
  private readonly usedNames = new Set<string>();
  node!: OnnxNode;
  private nodeLabel = "";

  constructor(
    readonly model: OnnxModel,
    readonly file: string,
    inputName: string,
    readonly outputName: string,
  ) {
    this.graph = new Graph({ name: sanitize(model.graph.name) || "onnx", input: inputName });
    this.usedNames.add(inputName);
    for (const n of model.graph.nodes) {
      for (const i of n.inputs) {
        if (!i) continue;
        const list = this.readers.get(i);
        if (list) list.push(n);
        else this.readers.set(i, [n]);
      }
    }
  }

  get opset(): number {
    return this.model.opset;
  }

  /** A ModelFileError about the current node. */
  fail(problem: string): never {
    throw new ModelFileError(this.file, `node ${this.nodeLabel}: ${problem}`);
  }

  begin(node: OnnxNode, index: number): void {
    this.node = node;
    this.nodeLabel = `"${node.name || `#${index}`}" (${node.opType})`;
  }

  /** The ONNX nodes reading a value. */
  readersOf(value: string): OnnxNode[] {
    return this.readers.get(value) ?? [];
  }

  // --- inputs of the current node ---------------------------------------------------------

  /** The value of input k, or null when that optional input is absent. */
  input(k: number): Value | null {
    const name = this.node.inputs[k];
    if (name === undefined || name === "") return null;
    const v = this.values.get(name);
    if (!v) this.fail(`reads "${name}", which no earlier node produces and which is not a graph input or initializer`);
    return v;
  }

  /** Input k as an activation; refuses constants (whose layer would have no input). */
  act(k: number, what = `input ${k}`): Act {
    const v = this.input(k);
    if (!v) this.fail(`${what} is missing`);
    if (v.kind !== "act") this.fail(`${what} ("${this.node.inputs[k]}") is a constant; stride imports this operator only on activations computed from the model's input`);
    if (v.foldedPad && this.node.opType !== "Conv") this.fail(`internal: a folded Pad reaches a ${this.node.opType}`);
    return v;
  }

  /** Input k as a constant, or null when absent; refuses activations. */
  constInput(k: number, what = `input ${k}`): Const | null {
    const v = this.input(k);
    if (!v) return null;
    if (v.kind !== "const") this.fail(`${what} ("${this.node.inputs[k]}") must be a constant (an initializer or bound through opts.initializers), but it is computed from the model's input`);
    return v.c;
  }

  /** Input k as whole numbers (shapes, pads, axes). */
  intsInput(k: number, what: string): number[] | null {
    const c = this.constInput(k, what);
    if (!c) return null;
    const vals = Array.from(c.t.data);
    if (vals.some((v) => !Number.isInteger(v) && Math.abs(v) !== Infinity)) this.fail(`${what} must hold whole numbers, got [${vals.join(", ")}]`);
    return vals;
  }

  // --- attributes ----------------------------------------------------------------------------

  attr(name: string): OnnxAttribute | undefined {
    return this.node.attributes.get(name);
  }

  int(name: string, fallback: number): number {
    const a = this.attr(name);
    return a ? a.i : fallback;
  }

  float(name: string, fallback: number): number {
    const a = this.attr(name);
    return a ? a.f : fallback;
  }

  ints(name: string, fallback: number[]): number[] {
    const a = this.attr(name);
    return a ? a.ints : fallback;
  }

  str(name: string, fallback: string): string {
    const a = this.attr(name);
    return a ? a.s : fallback;
  }

  /** Refuses attributes this import does not implement, naming them. */
  refuseAttrs(names: string[]): void {
    for (const n of names) if (this.attr(n)) this.fail(`attribute ${n} is not supported`);
  }

  // --- outputs --------------------------------------------------------------------------------

  setConst(k: number, c: Const): void {
    const name = this.node.outputs[k];
    if (name) this.values.set(name, { kind: "const", c });
  }

  setValue(k: number, v: Value): void {
    const name = this.node.outputs[k];
    if (name) this.values.set(name, v);
  }

  /** Refuses a node whose outputs past the first are read (MaxPool's indices, BatchNorm's training statistics, Dropout's mask). */
  onlyFirstOutput(what: string): void {
    for (const o of this.node.outputs.slice(1)) {
      if (o && (this.readersOf(o).length > 0 || o === this.outputName)) this.fail(`its output "${o}" (${what}) is used; stride imports only the first output`);
    }
  }

  /**
   * Adds a layer reading the given activations; the stride node is named after
   * the ONNX node (with `suffix` when one ONNX node becomes several layers).
   */
  addLayer(layer: Layer | MergeLayer, inputs: Act[], suffix = ""): Act {
    const base = sanitize(this.node.name) || `${this.node.opType.toLowerCase()}`;
    const name = this.uniqueName(suffix ? `${base}/${suffix}` : base);
    let shape: number[];
    try {
      shape = layer instanceof MergeLayer ? layer.outputShape(inputs.map((i) => i.shape)) : layer.outputShape(inputs[0].shape);
      this.graph.add(name, layer, inputs.map((i) => i.node));
    } catch (e) {
      this.fail((e as Error).message);
    }
    return { kind: "act", node: name, shape };
  }

  private uniqueName(base: string): string {
    let name = base, k = 2;
    while (this.usedNames.has(name)) name = `${base}_${k++}`;
    this.usedNames.add(name);
    return name;
  }
}

/** Node and input names usable as stride names: dots (which separate parameter paths) and odd characters become "_". */
export function sanitize(name: string): string {
  return name.replace(/[^A-Za-z0-9_\-/:]/g, "_");
}

export const SUPPORTED = Object.keys(OPERATORS).sort();

/** The importer's core: a decoded model to a Graph. `readExternal` is given by the Node-only file loader. */
export function buildGraph(model: OnnxModel, file: string, opts: ImportOptions = {}, readExternal?: ExternalReader): Graph {
  const g = model.graph;
  const fail = (problem: string): never => {
    throw new ModelFileError(file, problem);
  };
  // Opsets 7 and newer are the contract; older files are read too, with their legacy attributes
  // (Add's broadcast/axis, BatchNormalization's and Dropout's is_test) checked by the operators.
  const unsupported = g.nodes.filter((n) => (n.domain !== "" && n.domain !== "ai.onnx") || !Object.hasOwn(OPERATORS, n.opType));
  if (unsupported.length > 0) {
    const list = unsupported.map((n) => {
      const domain = n.domain && n.domain !== "ai.onnx" ? `${n.domain}.` : "";
      return `"${n.name || `#${g.nodes.indexOf(n)}`}" (${domain}${n.opType})`;
    });
    fail(
      `${list.length} node${list.length > 1 ? "s use operators" : " uses an operator"} stride cannot import: ${list.join(", ")}. ` +
        `Supported operators: ${SUPPORTED.join(", ")}`,
    );
  }
  // Constants: initializers, then inputs bound by the caller.
  const constants = new Map<string, Const>();
  for (const t of g.initializers) constants.set(t.name, { t: tensorValues(t, file, readExternal), dimOf: null });
  const bound = opts.initializers ?? {};
  for (const [name, tensor] of Object.entries(bound)) {
    if (!(tensor instanceof Tensor)) fail(`opts.initializers["${name}"] is not a Tensor`);
    const info = g.inputs.find((i) => i.name === name);
    if (!info) fail(`opts.initializers names "${name}", which is not an input of the graph (inputs: ${g.inputs.map((i) => i.name).join(", ")})`);
    const integer = info!.elemType ? DATA_TYPES[info!.elemType]?.kind === "int" : tensor.data.every((v) => Number.isInteger(v));
    if (integer && !tensor.data.every((v) => Number.isInteger(v))) fail(`opts.initializers["${name}"] must hold whole numbers (the input is ${dataTypeName(info!.elemType)})`);
    constants.set(name, { t: { dims: tensor.shape.slice(), data: integer ? Float64Array.from(tensor.data) : tensor.data, integer }, dimOf: null });
  }
  const dataInputs = g.inputs.filter((i) => !constants.has(i.name));
  if (dataInputs.length === 0) fail(`the graph has no input left to feed: every input is an initializer or bound; stride needs one data input`);
  if (dataInputs.length > 1) {
    fail(
      `the graph has ${dataInputs.length} inputs that are neither initializers nor bound: ${dataInputs.map((i) => `"${i.name}"`).join(", ")}; ` +
        `a stride model takes one input: bind the others with importOnnx(file, { initializers: { name: tensor } })`,
    );
  }
  const input = dataInputs[0];
  const inputShape = declaredShape(input, fail);
  if (g.outputs.length === 0) fail("the graph declares no output");
  const outputName = g.outputs[0].name;
  const b = new Builder(model, file, sanitize(input.name) || "input", outputName);
  for (const [name, c] of constants) b.values.set(name, { kind: "const", c });
  b.values.set(input.name, { kind: "act", node: b.graph.inputName, shape: inputShape });
  g.nodes.forEach((node, index) => {
    if (b.absorbed.has(node)) return;
    b.begin(node, index);
    try {
      OPERATORS[node.opType](b);
    } catch (e) {
      // A layer refusing its options (a zero kernel, a bad group count) is a bad file too: name the node.
      if (e instanceof ModelFileError) throw e;
      b.fail((e as Error).message ?? String(e));
    }
  });
  const out = b.values.get(outputName);
  if (!out) fail(`the graph's output "${outputName}" is produced by no node`);
  if (out!.kind !== "act") fail(`the graph's output "${outputName}" is a constant that does not depend on the input "${input.name}"; there is nothing to run`);
  const act = out as Act;
  if (act.foldedPad) fail(`the graph's output "${outputName}" is a Pad stride meant to fold into a convolution`);
  if (act.node === b.graph.inputName) {
    // The output is the input itself: the graph still needs a node.
    b.begin({ name: "output", opType: "Identity", domain: "", inputs: [], outputs: [], attributes: new Map() }, -1);
    b.addLayer(new Identity(), [act]);
    return b.graph;
  }
  b.graph.setOutput(act.node);
  return b.graph;
}

/** The data input's shape as declared; symbolic dimensions (the batch "N") count as 1. */
function declaredShape(input: OnnxValueInfo, fail: (p: string) => never): number[] {
  if (!input.shape) fail(`the input "${input.name}" declares no shape; stride needs its rank and sizes (re-export with a fixed input shape)`);
  if (input.elemType && DATA_TYPES[input.elemType]?.kind !== "float") {
    fail(`the input "${input.name}" holds ${dataTypeName(input.elemType)} values; stride models take floating-point inputs`);
  }
  return input.shape!.map((d) => (typeof d === "number" ? d : 1));
}

