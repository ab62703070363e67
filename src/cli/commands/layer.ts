/**
 * `stride layer "<layers>" --input CxHxW`: the notes' layer arithmetic at the
 * command line, one layer or a small stack, each with its formulas filled in:
 *
 *   stride layer "conv 3x3 s2 p1 n2" --input 3x7x7
 *   stride layer "conv 11 s4 n96, pool 3 s2, conv 5 p2 n256" --input 3x227x227
 *   stride layer "conv1d 3 n2" --input 5x7
 *
 * Layers are separated by commas. Each is a kind, a size and options:
 *   conv F[xF] | conv1d F | pool F[xF] (max) | avgpool F[xF] | fc N
 *   sS stride (pooling: default F), pP zero-padding, dD dilation, nN filters, gG groups;
 *   "/S" after the size is the stride too ("3x3/2").
 * The models are built with meta: true: nothing is allocated, any size works.
 */
import { Conv2d, Conv1d } from "../../layers/conv.js";
import { Linear } from "../../layers/dense.js";
import { MaxPool2d, AvgPool2d } from "../../layers/pool.js";
import { Flatten } from "../../layers/reshape.js";
import type { Layer } from "../../layers/layer.js";
import { Sequential } from "../../models/sequential.js";
import { summary, withCommas, volumeOf, type SummaryRow } from "../../models/summary.js";
import { ShapeError, windowOutput } from "../../shape.js";
import { StrideError } from "../../stride-error.js";

const USAGE = 'usage: stride layer "<layer>, <layer>, …" --input CxHxW (or CxL for conv1d)\n' +
  "  layers: conv F[xF] | conv1d F | pool F[xF] | avgpool F[xF] | fc N\n" +
  "  options: sS stride (or F/S), pP zero-padding, dD dilation, nN filters, gG groups\n" +
  '  e.g. stride layer "conv 3x3 s2 p1 n2" --input 3x7x7';

/** A layer of the command's little language, parsed. */
export interface LayerSpec {
  kind: "conv" | "conv1d" | "pool" | "avgpool" | "fc";
  /** Window [height, width] (fc: [1, outputs]). */
  size: [number, number];
  stride?: number;
  padding: number;
  dilation: number;
  filters?: number;
  groups: number;
  /** The text it was parsed from, for messages. */
  text: string;
}

/** Thrown for a layer list or input the command cannot read; the message says what is expected. */
export class LayerSpecError extends StrideError {
  constructor(message: string) {
    super(message);
    this.name = "LayerSpecError";
  }
}

const KINDS = ["conv", "conv1d", "pool", "maxpool", "avgpool", "fc"];

/** Parses "conv 3x3 s2 p1 n2, pool 2" into layer specs. */
export function parseLayers(text: string): LayerSpec[] {
  const items = text.split(",").map((t) => t.trim());
  if (items.some((t) => t === "")) throw new LayerSpecError(`"${text}" has an empty layer; separate layers with single commas`);
  return items.map(parseLayer);
}

function parseLayer(text: string): LayerSpec {
  const [kindWord, sizeWord, ...options] = text.split(/\s+/);
  const kind = kindWord.toLowerCase();
  if (!KINDS.includes(kind)) throw new LayerSpecError(`"${text}": unknown layer "${kindWord}"; use one of ${KINDS.join(", ")}`);
  if (sizeWord === undefined) throw new LayerSpecError(`"${text}": give the ${kind === "fc" ? "number of outputs" : "window size"}, e.g. "${kind} ${kind === "fc" ? "10" : "3"}"`);
  const m = /^(\d+)(?:x(\d+))?(?:\/(\d+))?$/.exec(sizeWord);
  if (!m) throw new LayerSpecError(`"${text}": the size "${sizeWord}" is not valid; write F, FxF or F/S (stride S), e.g. 3x3/2`);
  const h = Number(m[1]), w = Number(m[2] ?? m[1]);
  const spec: LayerSpec = {
    kind: kind === "maxpool" ? "pool" : (kind as LayerSpec["kind"]), size: [h, w], padding: 0, dilation: 1, groups: 1, text,
    stride: m[3] !== undefined ? Number(m[3]) : undefined,
  };
  if (spec.kind === "conv1d" && m[2] !== undefined) throw new LayerSpecError(`"${text}": a conv1d window is one number (its width in words)`);
  if (spec.kind === "fc" && (m[2] !== undefined || m[3] !== undefined)) throw new LayerSpecError(`"${text}": fc takes the number of outputs, e.g. "fc 10"`);
  for (const opt of options) {
    const o = /^([spdng])(\d+)$/.exec(opt);
    if (!o) throw new LayerSpecError(`"${text}": the option "${opt}" is not valid; use sS (stride), pP (padding), dD (dilation), nN (filters) or gG (groups), e.g. s2`);
    const v = Number(o[2]);
    if (o[1] === "s") spec.stride = v;
    else if (o[1] === "p") spec.padding = v;
    else if (o[1] === "d") spec.dilation = v;
    else if (o[1] === "n") spec.filters = v;
    else spec.groups = v;
  }
  const positive: [string, number | undefined][] = [["size", Math.min(h, w)], ["stride", spec.stride], ["dilation", spec.dilation], ["filters", spec.filters], ["groups", spec.groups]];
  for (const [name, v] of positive) {
    if (v !== undefined && !(v >= 1)) throw new LayerSpecError(`"${text}": ${name} must be at least 1`);
  }
  if ((spec.kind === "pool" || spec.kind === "avgpool") && (spec.filters !== undefined || spec.groups !== 1)) {
    throw new LayerSpecError(`"${text}": pooling keeps the depth; it takes no filters (n) or groups (g)`);
  }
  if (spec.kind === "fc" && (spec.stride !== undefined || spec.padding !== 0 || spec.dilation !== 1 || spec.filters !== undefined)) {
    throw new LayerSpecError(`"${text}": fc takes only the number of outputs, e.g. "fc 10"`);
  }
  return spec;
}

/** Builds the specs as a meta model (shapes only) for an input of one example, shape by shape. */
export function buildLayers(specs: LayerSpec[], input: number[]): Sequential {
  const layers: Layer[] = [];
  let shape = [1, ...input];
  const add = (layer: Layer) => {
    shape = layer.shapeInfo(shape).shape;
    layers.push(layer);
  };
  specs.forEach((s, i) => {
    const name = `${s.kind}${i + 1}`;
    const flat = shape.length === 2 && input.length !== 2;
    const depth = shape[1];
    if (s.kind === "conv" || s.kind === "conv1d") {
      if (flat) throw new LayerSpecError(`"${s.text}": a convolution needs positions, but its input is a vector (after fc)`);
      if (s.kind === "conv" && shape.length !== 4) throw new LayerSpecError(`"${s.text}": conv needs an image input CxHxW; for a sequence CxL use conv1d`);
      if (s.kind === "conv1d" && shape.length !== 3) throw new LayerSpecError(`"${s.text}": conv1d needs a sequence input CxL (channels x length), e.g. --input 5x7`);
      const common = { inChannels: depth, outChannels: s.filters ?? depth, stride: s.stride ?? 1, dilation: s.dilation, groups: s.groups, name, meta: true };
      add(s.kind === "conv"
        ? new Conv2d({ ...common, kernelSize: s.size, padding: s.padding })
        : new Conv1d({ ...common, kernelSize: s.size[1], padding: s.padding }));
    } else if (s.kind === "pool" || s.kind === "avgpool") {
      if (shape.length !== 4) throw new LayerSpecError(`"${s.text}": pooling needs an image input CxHxW`);
      const opts = { kernelSize: s.size, stride: s.stride ?? s.size, padding: s.padding, name };
      add(s.kind === "pool" ? new MaxPool2d({ ...opts, dilation: s.dilation }) : new AvgPool2d(opts));
    } else {
      if (shape.length > 2) add(new Flatten({ name: `flatten${i + 1}` }));
      add(new Linear({ inFeatures: shape[1], outFeatures: s.size[1], name, meta: true }));
    }
  });
  return new Sequential(layers, { name: "layers" });
}

/** The report: every layer's formulas with the numbers in, its volume, parameters, multiply-adds and field. */
export function describeLayers(specs: LayerSpec[], input: number[]): string {
  const model = buildLayers(specs, input);
  const s = summary(model, input);
  const rows = new Map(s.rows.map((r) => [r.name, r]));
  const out: string[] = [`input: ${volumeOf(input)} (${input.length === 3 ? "HxWxD" : input.length === 2 ? "length x channels" : "vector"}) = ${withCommas(s.rows[0].activations)} values`];
  let inShape = input;
  model.layers.forEach((layer) => {
    const r = rows.get(layer.name) ?? s.rows.find((row) => row.folded.includes(layer.name));
    if (!r || r.folded.includes(layer.name)) return; // a Flatten folded into the row before
    const spec = specs[Number(/(\d+)$/.exec(layer.name)![1]) - 1];
    out.push("");
    out.push(`${layer.name}: ${spec.text.trim()}  on ${volumeOf(inShape)}`);
    out.push(...formulas(spec, layer, inShape).map((l) => `  ${l}`));
    out.push(`  output volume: ${r.volume} = ${withCommas(r.activations)} ${spec.kind === "pool" || spec.kind === "avgpool" ? "values" : "neurons"}`);
    out.push(...counts(spec, r, inShape).map((l) => `  ${l}`));
    inShape = r.outputShape;
  });
  out.push("");
  out.push(`total: ${withCommas(s.totalParams)} parameters, ${withCommas(s.totalMacs)} multiply-adds per example`);
  return out.join("\n");
}

function formulas(spec: LayerSpec, layer: Layer, inShape: number[]): string[] {
  if (spec.kind === "fc") return [`every output sees all ${withCommas(inShape.reduce((a, b) => a * b, 1))} inputs`];
  const axes: { label: "H" | "W" | "L"; name: string; input: number; k: number }[] = spec.kind === "conv1d"
    ? [{ label: "L", name: "length", input: inShape[1], k: spec.size[1] }]
    : [{ label: "H", name: "height", input: inShape[1], k: spec.size[0] }, { label: "W", name: "width", input: inShape[2], k: spec.size[1] }];
  const stride = spec.stride ?? (spec.kind === "conv" || spec.kind === "conv1d" ? 1 : spec.size[0]);
  const lines = axes.map((a) => {
    const fit = windowOutput(layer.name, inShape, {
      label: a.label, input: a.input, kernel: a.k, stride, padBefore: spec.padding, padAfter: spec.padding, dilation: spec.dilation,
    });
    return `${a.name}: ${fit.formula}${fit.exact ? "" : `, not a whole number: floored to ${fit.size} (the last ${spec.kind.includes("pool") ? "window" : "filter position"} does not fit; --strict layers refuse it)`}`;
  });
  // The notes write one formula when the two axes agree.
  if (lines.length === 2 && lines[0].slice("height: ".length).replace(/\(H /g, "(W ") === lines[1].slice("width: ".length)) {
    return [`height and width: ${lines[1].slice("width: ".length)}`];
  }
  return lines;
}

function counts(spec: LayerSpec, r: SummaryRow, inShape: number[]): string[] {
  if (spec.kind === "pool" || spec.kind === "avgpool") return ["parameters: 0 (pooling has no weights)", `receptive field: ${field(r)}`];
  const biases = r.params - r.weights;
  const lines = [`parameters: ${r.weightsFormula} weights + ${withCommas(biases)} ${biases === 1 ? "bias" : "biases"} = ${withCommas(r.params)}`];
  const perOutput = r.activations > 0 ? r.macs / r.activations : 0;
  lines.push(`multiply-adds: ${withCommas(r.activations)} outputs x ${withCommas(perOutput)} each = ${withCommas(r.macs)}`);
  if (spec.kind !== "fc") lines.push(`receptive field: ${field(r)}`);
  else if (inShape.length > 1) lines.push("receptive field: the whole input");
  return lines;
}

function field(r: SummaryRow): string {
  const f = r.receptiveField;
  if (f.global) return "the whole input";
  const image = r.outputShape.length === 3;
  return image ? `${f.size[0]}x${f.size[1]}, neighbouring outputs ${f.jump[0]} apart` : `${f.size[1]} positions, neighbouring outputs ${f.jump[1]} apart`;
}

export interface LayerIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const defaultIo: LayerIo = {
  out: (t) => process.stdout.write(t + "\n"),
  err: (t) => process.stderr.write(t + "\n"),
};

/** Runs the command; 0 on success, 2 for a bad argument, 1 when a layer does not fit its input. */
export function layerCommand(argv: string[], io: LayerIo = defaultIo): number {
  let text: string | undefined;
  let input: number[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") {
      io.out(USAGE);
      return 0;
    }
    if (a === "--input" || a.startsWith("--input=")) {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : argv[++i];
      if (!v || !/^\d+(x\d+){0,2}$/.test(v) || v.split("x").some((d) => Number(d) < 1 || Number(d) > 1e6)) {
        io.err(`stride layer: --input ${v ?? ""} is not valid; give one example's shape as CxHxW (e.g. 3x7x7), CxL for conv1d (e.g. 5x7), each from 1 to 1,000,000`);
        return 2;
      }
      input = v.split("x").map(Number);
    } else if (a.startsWith("-")) {
      io.err(`stride layer: unknown option ${a}\n${USAGE}`);
      return 2;
    } else if (text === undefined) text = a;
    else {
      io.err(`stride layer: give the layers as one quoted argument, e.g. "conv 3 p1 n8, pool 2"\n${USAGE}`);
      return 2;
    }
  }
  if (text === undefined || input === undefined) {
    io.err(`stride layer: ${text === undefined ? "no layers given" : "no --input given"}\n${USAGE}`);
    return 2;
  }
  let specs: LayerSpec[];
  try {
    specs = parseLayers(text);
  } catch (e) {
    if (e instanceof LayerSpecError) {
      io.err(`stride layer: ${e.message}`);
      return 2;
    }
    throw e;
  }
  try {
    io.out(describeLayers(specs, input));
    return 0;
  } catch (e) {
    if (e instanceof ShapeError || e instanceof LayerSpecError) {
      io.err(`stride layer: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
