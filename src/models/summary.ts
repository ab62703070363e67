/**
 * summary(): the arithmetic of an architecture, in the style of the notes'
 * VGG listing, computed from shapes alone (no forward pass, no data):
 *
 *   INPUT:     [224x224x3]    memory: 224*224*3 = 151K     weights: 0
 *   CONV3-64:  [224x224x64]   memory: 224*224*64 = 3.21M   weights: (3*3*3)*64 = 1,728
 *   ...
 *
 * Every layer of a nested container (a ResNet block inside a stage inside
 * the model) is a row with a dotted name, layer1.0.conv1. As in the notes,
 * an element-wise activation, a dropout or a flatten that directly follows
 * a row is folded into it ("Conv2d+ReLU"): it adds no row and no
 * activations. `{ fold: false }` lists every layer on its own row instead.
 * Rows whose sliding window does not fit exactly carry the formula.
 */
import { shapeSize } from "../tensor.js";
import { ShapeError } from "../shape.js";
import { Layer, MergeLayer, Module, type Param } from "../layers/layer.js";
import { Conv2d, Conv1d } from "../layers/conv.js";
import { Linear } from "../layers/dense.js";
import { Sequential } from "./sequential.js";
import { Graph } from "./graph.js";
import { receptiveFieldOf } from "./receptive-field.js";

export type Dtype = "float32" | "float64" | "float16";

export function bytesPerValue(dtype: Dtype): number {
  if (dtype === "float32") return 4;
  if (dtype === "float64") return 8;
  if (dtype === "float16") return 2;
  throw new Error(`dtype = ${JSON.stringify(dtype)} is not valid; use "float32", "float64" or "float16"`);
}

// ---------------------------------------------------------------------------
// The model as one flat DAG of leaf layers, with every shape resolved.

export interface FlatNode {
  /** Dotted path: layer1.0.conv1. */
  name: string;
  layer: Layer | MergeLayer;
  /** Names of the nodes (or "input") this one reads. */
  inputs: string[];
  inputShapes: number[][];
  /** Batched output shape. */
  outputShape: number[];
  notes: string[];
}

export interface FlatModel {
  /** The batched input shape. */
  inputShape: number[];
  nodes: FlatNode[];
  /** The node whose value is the model's output ("input" for an empty model). */
  output: string;
}

const INPUT = "input";

/**
 * Resolves a summary's input shape to a batched one. Rank 4 is [N, C, H, W];
 * every other rank is one example and gets N = 1, unless `batched` says otherwise.
 */
export function batchedShape(inputShape: number[], batched?: boolean): number[] {
  if (!Array.isArray(inputShape) || inputShape.length === 0 || !inputShape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new Error(`inputShape = ${JSON.stringify(inputShape)} is not valid; give one example's shape as whole numbers >= 1, e.g. [3, 224, 224]`);
  }
  const isBatched = batched ?? inputShape.length === 4;
  return isBatched ? inputShape.slice() : [1, ...inputShape];
}

/** Walks the model with its shapes into one list of leaf layers in execution order. */
export function flattenModel(model: Module, batchedInput: number[], opts: { strict?: boolean } = {}): FlatModel {
  const nodes: FlatNode[] = [];
  const shapes = new Map<string, number[]>([[INPUT, batchedInput]]);
  const join = (prefix: string, name: string) => (prefix ? `${prefix}.${name}` : name);

  const leaf = (name: string, layer: Layer | MergeLayer, inputs: string[]): string => {
    if (shapes.has(name)) throw new ShapeError(name, `two layers have the path "${name}"; give the layers of a container distinct names`);
    const inputShapes = inputs.map((i) => shapes.get(i)!);
    const info = layer instanceof MergeLayer ? layer.shapeInfo(inputShapes, opts) : layer.shapeInfo(inputShapes[0], opts);
    nodes.push({ name, layer, inputs, inputShapes, outputShape: info.shape, notes: info.notes });
    shapes.set(name, info.shape);
    return name;
  };

  const walk = (m: Module, path: string, inputs: string[]): string => {
    if (m instanceof Sequential) {
      let cur = inputs[0];
      for (const l of m.layers) cur = walk(l, join(path, l.name), [cur]);
      return cur;
    }
    if (m instanceof Graph) {
      const ids = new Map<string, string>([[m.inputName, inputs[0]]]);
      for (const n of m.nodes) ids.set(n.name, walk(n.layer, join(path, n.name), n.inputs.map((i) => ids.get(i)!)));
      return ids.get(m.output)!;
    }
    if (m instanceof Layer || m instanceof MergeLayer) return leaf(path || m.name, m, inputs);
    throw new Error(`summary: ${String(m)} is not a layer`);
  };

  const output = walk(model, "", [INPUT]);
  return { inputShape: batchedInput, nodes, output };
}

/** Every distinct parameter of a model (a layer used twice counts once). */
export function uniqueParams(model: Module): Param[] {
  return [...new Set(model.params())];
}

// ---------------------------------------------------------------------------

/** One layer's line of a summary. */
export interface SummaryRow {
  name: string;
  /** The layer's type; folded layers are appended: "Conv2d+ReLU". */
  type: string;
  /** One example's output shape (NCHW without N: [C, H, W]). */
  outputShape: number[];
  /** The output volume as the notes write it: HxWxD (1x1xF for a vector). */
  volume: string;
  params: number;
  /** Parameters named "weight" (the notes' "weights": biases excluded). */
  weights: number;
  /** Values in the output volume of one example. */
  activations: number;
  /** Multiply-accumulates per example. */
  macs: number;
  /** What one output unit sees of the input (see receptiveField): [height, width] pixels and the jump between units. */
  receptiveField: { size: [number, number]; jump: [number, number]; global: boolean };
  /** Inexact fits and other remarks, with their formulas. */
  note?: string;
  /** Names of the layers folded into this row. */
  folded: string[];
  /** How the notes would write the numbers: "224*224*64" and "(3*3*3)*64". */
  memoryFormula: string;
  weightsFormula: string;
}

/** Options of summary. */
export interface SummaryOptions {
  /** Refuse inexact fits (throws ShapeError on the first one). */
  strict?: boolean;
  /** Fold activations, dropout and flatten into the row before them (default true). */
  fold?: boolean;
  /** Whether inputShape includes the batch axis (default: only for rank 4). */
  batched?: boolean;
  /** For the byte counts (default "float32"). */
  dtype?: Dtype;
}

/** What summary returns: one row per layer and the totals. */
export interface ModelSummary {
  rows: SummaryRow[];
  totalParams: number;
  trainableParams: number;
  /** Sum of the rows' activations, input row included, per example. */
  totalActivations: number;
  /**
   * Multiply-adds per example: what the notes and the papers call "FLOPs"
   * (VGG-16's 15.5G, ResNet-152's 11.3G).
   */
  totalMacs: number;
  /** Floating-point operations counting the multiply and the add apart: 2 x totalMacs. */
  totalFlops: number;
  /** Units of the convolutional and fully connected layers: what AlexNet's paper counts as its "650,000 neurons". */
  neurons: number;
  /** Bytes of all activations of one example: the forward pass. */
  forwardBytes: number;
  /** Twice that: every activation has a gradient in the backward pass (the notes' "~*2 for bwd"). */
  forwardBackwardBytes: number;
  /** Bytes of the parameters. */
  paramBytes: number;
  dtype: Dtype;
  /** One example's input shape. */
  inputShape: number[];
  /** One example's output shape (a folded Flatten changes it after its row). */
  outputShape: number[];
  /** The table as text, as `stride summary` prints it. */
  toString(): string;
}

const FOLDABLE = new Set(["ReLU", "LeakyReLU", "ELU", "Tanh", "Sigmoid", "Dropout", "Flatten"]);

/** Each layer's output volume, parameters, weights, memory and multiply-accumulates for an input shape, as the CS231n notes tabulate them. */
export function summary(model: Module, inputShape: number[], options: SummaryOptions = {}): ModelSummary {
  if (!(model instanceof Module)) throw new Error(`summary: the first argument must be a model or layer, got ${String(model)}`);
  const dtype = options.dtype ?? "float32";
  const bpv = bytesPerValue(dtype);
  const batched = batchedShape(inputShape, options.batched);
  const n = batched[0];
  const flat = flattenModel(model, batched, { strict: options.strict });
  const fold = options.fold ?? true;

  const example = batched.slice(1);
  const rows: SummaryRow[] = [{
    name: "input", type: "Input", outputShape: example, volume: volumeOf(example), params: 0, weights: 0,
    activations: shapeSize(example), macs: 0, folded: [], memoryFormula: memoryFormula(example), weightsFormula: "0",
    receptiveField: { size: [1, 1], jump: [1, 1], global: false },
  }];
  const fields = new Map(receptiveFieldOf(flat, batched).rows.map((r) => [r.name, r]));
  const rowOf = new Map<string, SummaryRow>([[INPUT, rows[0]]]);
  for (const node of flat.nodes) {
    const layer = node.layer;
    const prev = rows[rows.length - 1];
    if (fold && FOLDABLE.has(layer.type) && node.inputs.length === 1 && rowOf.get(node.inputs[0]) === prev && prev.name !== "input") {
      prev.type += `+${layer.type}`;
      prev.folded.push(node.name); // the row keeps its own field: a folded Flatten would make it "all"
      if (node.notes.length) prev.note = [prev.note, ...node.notes].filter(Boolean).join("; ");
      rowOf.set(node.name, prev);
      continue;
    }
    const out = node.outputShape.slice(1);
    const params = layer.params();
    const weights = params.filter((p) => p.name === "weight").reduce((a, p) => a + p.value.size, 0);
    const macs = layer instanceof MergeLayer ? layer.macs(node.inputShapes) : layer.macs(node.inputShapes[0]);
    const field = fields.get(node.name)!;
    const row: SummaryRow = {
      name: node.name, type: layer.type, outputShape: out, volume: volumeOf(out),
      receptiveField: { size: field.size, jump: field.jump, global: field.global },
      params: params.reduce((a, p) => a + p.value.size, 0), weights, activations: shapeSize(out), macs: macs / n,
      folded: [], memoryFormula: memoryFormula(out), weightsFormula: weightsFormula(layer, weights),
    };
    if (node.notes.length) row.note = mergeAxisNotes(node.notes);
    rows.push(row);
    rowOf.set(node.name, row);
  }

  const all = uniqueParams(model);
  const totalParams = all.reduce((a, p) => a + p.value.size, 0);
  const trainableParams = all.filter((p) => p.trainable !== false).reduce((a, p) => a + p.value.size, 0);
  const totalActivations = rows.reduce((a, r) => a + r.activations, 0);
  const totalMacs = rows.reduce((a, r) => a + r.macs, 0);
  const neurons = rows.filter((r) => /^(Conv|MaskedConv|LocallyConnected|Linear)/.test(r.type)).reduce((a, r) => a + r.activations, 0);
  const result: ModelSummary = {
    rows, totalParams, trainableParams, totalActivations, totalMacs, totalFlops: 2 * totalMacs, neurons,
    forwardBytes: totalActivations * bpv, forwardBackwardBytes: 2 * totalActivations * bpv, paramBytes: totalParams * bpv,
    dtype, inputShape: example,
    outputShape: (flat.output === INPUT ? batched : flat.nodes.find((nd) => nd.name === flat.output)!.outputShape).slice(1),
    toString: () => formatSummary(model.name, result),
  };
  return result;
}

// ---------------------------------------------------------------------------
// Formatting.

/** "height … = 112.5, floored to 112" and the same for width become one note for both axes. */
function mergeAxisNotes(notes: string[]): string {
  if (notes.length === 2 && notes[0].startsWith("height ") && notes[1].startsWith("width ")) {
    const asWidth = notes[0].replace(/^height /, "width ").replace(/\(H /g, "(W ");
    if (asWidth === notes[1]) return `height and width: ${notes[1].slice("width ".length)}`;
  }
  return notes.join("; ");
}

/** HxWxD as in the notes; a vector [F] is 1x1xF, a sequence [C, L] is LxC. */
export function volumeOf(shape: number[]): string {
  if (shape.length === 3) return `${shape[1]}x${shape[2]}x${shape[0]}`;
  if (shape.length === 1) return `1x1x${shape[0]}`;
  if (shape.length === 2) return `${shape[1]}x${shape[0]}`;
  return shape.join("x");
}

function memoryFormula(shape: number[]): string {
  const dims = shape.length === 3 ? [shape[1], shape[2], shape[0]] : shape.length === 2 ? [shape[1], shape[0]] : shape;
  return dims.length > 1 ? dims.join("*") : String(dims[0] ?? 1);
}

function weightsFormula(layer: Module, weights: number): string {
  if (layer instanceof Conv2d) {
    const [kH, kW] = layer.kernelSize;
    return `(${kH}*${kW}*${layer.inChannels / layer.groups})*${layer.outChannels}`;
  }
  if (layer instanceof Conv1d) return `(${layer.kernelSize}*${layer.inChannels / layer.groups})*${layer.outChannels}`;
  if (layer instanceof Linear) return `${layer.inFeatures}*${layer.outFeatures}`;
  return String(weights);
}

/** 1,728 for small counts; 3.21M, 803K, 15.5G (three significant digits) for large ones. */
export function humanCount(n: number): string {
  if (Math.abs(n) < 10000) return withCommas(n);
  const units: [number, string][] = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "K"]];
  for (const [size, unit] of units) {
    if (Math.abs(n) >= size) return `${Number((n / size).toPrecision(3))}${unit}`;
  }
  return String(n);
}

export function withCommas(n: number): string {
  const rounded = Number.isInteger(n) ? n : Math.round(n * 100) / 100;
  return rounded.toLocaleString("en-US");
}

/** Bytes in decimal units, with the binary ones beside: "61 MB (58.1 MiB)". */
export function humanBytes(bytes: number): string {
  const dec: [number, string][] = [[1e12, "TB"], [1e9, "GB"], [1e6, "MB"], [1e3, "kB"]];
  const bin: [number, string][] = [[2 ** 40, "TiB"], [2 ** 30, "GiB"], [2 ** 20, "MiB"], [2 ** 10, "KiB"]];
  const pick = (units: [number, string][]) => {
    for (const [size, unit] of units) if (bytes >= size) return `${Number((bytes / size).toPrecision(3))} ${unit}`;
    return `${bytes} B`;
  };
  const d = pick(dec), b = pick(bin);
  return d.endsWith(" B") ? d : `${d} (${b})`;
}

function pad(s: string, width: number, right = false): string {
  return right ? s.padStart(width) : s.padEnd(width);
}

function formatSummary(title: string, s: ModelSummary): string {
  // A receptive field means something where the input has positions: images and sequences.
  const showField = s.inputShape.length >= 2 || s.rows.some((r) => r.type.startsWith("Conv1d"));
  const header = ["layer", "type", "volume (HxWxD)", "NCHW", "memory (activations)", "weights", "params", "MACs", ...(showField ? ["receptive field"] : [])];
  const body = s.rows.map((r) => [
    r.name,
    r.type,
    r.volume,
    `[${r.outputShape.join(", ")}]`,
    `${r.memoryFormula} = ${humanCount(r.activations)}`,
    r.weights === 0 ? "0" : r.weightsFormula === String(r.weights) ? withCommas(r.weights) : `${r.weightsFormula} = ${withCommas(r.weights)}`,
    withCommas(r.params),
    r.macs === 0 ? "0" : humanCount(r.macs),
    ...(showField ? [fieldText(r.receptiveField, s.inputShape.length >= 3)] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const rightAligned = new Set([6, 7]);
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i], rightAligned.has(i))).join("  ").trimEnd();
  const out: string[] = [];
  out.push(`${title}: input ${volumeOf(s.inputShape)} [${s.inputShape.join(", ")}]`);
  out.push(line(header));
  out.push(widths.map((w) => "-".repeat(w)).join("  "));
  s.rows.forEach((r, i) => {
    out.push(line(body[i]));
    if (r.note) out.push(`${" ".repeat(widths[0] + 2)}note: ${r.note}`);
  });
  out.push(widths.map((w) => "-".repeat(w)).join("  "));
  const bpv = bytesPerValue(s.dtype);
  out.push(`params: ${withCommas(s.totalParams)} (${humanCount(s.totalParams)}), trainable ${withCommas(s.trainableParams)}; ${humanBytes(s.paramBytes)} in ${s.dtype}`);
  out.push(
    `activations per example: ${withCommas(s.totalActivations)} (${humanCount(s.totalActivations)}) * ${bpv} bytes = ` +
      `${humanBytes(s.forwardBytes)} forward, ${humanBytes(s.forwardBackwardBytes)} forward + backward`,
  );
  out.push(
    `multiply-adds (MACs) per example: ${withCommas(s.totalMacs)} (${humanCount(s.totalMacs)}), the papers' "FLOPs"; ` +
      `${humanCount(s.totalFlops)} floating-point operations counting the multiply and the add apart`,
  );
  out.push(`neurons (units of the convolutional and fully connected layers): ${withCommas(s.neurons)} (${humanCount(s.neurons)})`);
  return out.join("\n");
}

/** "7x7 /2": the field and the jump between units ("all" once every unit sees the whole input); one number for sequences. */
function fieldText(f: SummaryRow["receptiveField"], image: boolean): string {
  if (f.global) return "all";
  const size = image ? `${f.size[0]}x${f.size[1]}` : String(f.size[1]);
  const jump = image ? (f.jump[0] === f.jump[1] ? String(f.jump[0]) : `${f.jump[0]}x${f.jump[1]}`) : String(f.jump[1]);
  return `${size} /${jump}`;
}
