/**
 * receptiveField(): which input pixels each layer's output units see, as the
 * notes reason about it ("three 3x3 CONV layers see 7x7", a dilated
 * convolution's faster growth), computed from shapes alone.
 *
 * Per axis, every layer's output is described by three numbers:
 * - size: how many input pixels one output unit depends on (padding counted);
 * - jump: how many input pixels apart two neighbouring output units are;
 * - start: the input coordinate of the centre of the first output unit's
 *   field (pixel centres are 0, 1, …; padding makes it negative).
 * A window of k taps with dilation d (its span k_eff = d(k-1)+1), stride s and
 * leading padding p maps them as
 *   size' = size + (k_eff - 1) * jump,  jump' = jump * s,
 *   start' = start + ((k_eff - 1) / 2 - p) * jump.
 * A layer that mixes every position (Linear, Flatten, global pooling) sees the
 * whole input (reported as the input's extent); a merge (residual Add, Inception Concat) sees the union of
 * its inputs' fields.
 */
import { shapeSize } from "../tensor.js";
import { ShapeError } from "../shape.js";
import { MergeLayer, Module, type Layer } from "../layers/layer.js";
import { Conv2d, Conv1d, LocallyConnected2d } from "../layers/conv.js";
import { AdaptiveAvgPool2d, MaxPool2d, AvgPool2d, LPPool2d } from "../layers/pool.js";
import { Pad } from "../layers/tensor-ops.js";
import { batchedShape, flattenModel, type FlatModel } from "./summary.js";

/** One layer's receptive field, height first: a sequence's positions are the width (height 1). */
export interface ReceptiveFieldRow {
  /** The layer's dotted path ("input" for the input). */
  name: string;
  /** The layer's type ("Input" for the input). */
  type: string;
  /** Input pixels one output unit sees, [height, width]. */
  size: [number, number];
  /** Input pixels between neighbouring output units, [height, width]. */
  jump: [number, number];
  /** Input coordinate of the centre of the first unit's field, [height, width]. */
  start: [number, number];
  /** True when every output unit sees the whole input (after Linear, Flatten or global pooling). */
  global: boolean;
}

/** What receptiveField returns: one row per layer in execution order, the input first. */
export interface ReceptiveField {
  rows: ReceptiveFieldRow[];
}

/** One axis of a layer's output: its field and how many positions the output has along it. */
interface AxisField {
  size: number;
  jump: number;
  start: number;
  positions: number;
}

interface Field {
  axes: [AxisField, AxisField];
  global: boolean;
}

/** A sliding window along both axes, as the convolution and pooling geometries give it. */
interface Window {
  k: [number, number];
  stride: [number, number];
  dilation: [number, number];
  padBefore: [number, number];
}

/**
 * The receptive field of every layer's output with respect to the model's
 * input (dilation, padding and stride included). `inputShape` is one
 * example's shape, [C, H, W] for images or [L] / [C, L] for sequences.
 */
export function receptiveField(model: Module, inputShape: number[]): ReceptiveField {
  if (!(model instanceof Module)) throw new ShapeError("receptiveField", `the first argument must be a model or layer, got ${String(model)}`);
  const batched = batchedShape(inputShape);
  return receptiveFieldOf(flattenModel(model, batched), batched);
}

/** The same from a model already flattened with its shapes (summary uses this). */
export function receptiveFieldOf(flat: FlatModel, batchedInput: number[]): ReceptiveField {
  const extents = spatialExtents(batchedInput);
  const start: Field = {
    axes: [axisAt(extents[0]), axisAt(extents[1])],
    global: false,
  };
  const fields = new Map<string, Field>([["input", start]]);
  const rows: ReceptiveFieldRow[] = [row("input", "Input", start)];
  for (const node of flat.nodes) {
    const ins = node.inputs.map((i) => fields.get(i)!);
    let field: Field;
    if (node.layer instanceof MergeLayer) field = union(ins);
    else field = through(node.layer, ins[0], node.inputShapes[0], node.outputShape, extents);
    fields.set(node.name, field);
    rows.push(row(node.name, node.layer.type, field));
  }
  return { rows };
}

function axisAt(positions: number): AxisField {
  return { size: 1, jump: 1, start: 0, positions };
}

/** [height, width] positions of a batched shape: [N, C, H, W], [N, C, L] (height 1), [N, L] (tokens or features). */
function spatialExtents(shape: readonly number[]): [number, number] {
  if (shape.length >= 4) return [shape[shape.length - 2], shape[shape.length - 1]];
  if (shape.length === 3) return [1, shape[2]];
  if (shape.length === 2) return [1, shape[1]];
  return [1, 1];
}

function row(name: string, type: string, f: Field): ReceptiveFieldRow {
  const [h, w] = f.axes;
  return { name, type, size: [h.size, w.size], jump: [h.jump, w.jump], start: [h.start, w.start], global: f.global };
}

/** The field after one single-input layer. */
function through(layer: Layer, f: Field, inShape: number[], outShape: number[], input: [number, number]): Field {
  if (f.global) return f; // nothing gets wider than the whole input
  const window = windowOf(layer, inShape, outShape);
  if (window) return slide(f, window, spatialExtents(outShape));
  const before = spatialExtents(inShape), after = spatialExtents(outShape);
  // Same positions, same rank: an element-wise or per-position layer (ReLU, batch norm, LRN, dropout, an embedding).
  if (before[0] === after[0] && before[1] === after[1] && sameSpatialRank(inShape, outShape)) return f;
  return whole(input);
}

function sameSpatialRank(a: number[], b: number[]): boolean {
  // [N, L] token ids become [N, D, L] word vectors (an embedding in NCL layout): the positions are the same.
  if (a.length === 2 && b.length === 3) return a[1] === b[2];
  return a.length === b.length;
}

/**
 * What Linear, Flatten and global pooling see: the whole input, reported as
 * the input's own extent (the fields of the units they mix reach further, into
 * the padding, but no unit sees more than the input has).
 */
function whole(input: [number, number]): Field {
  const axes = input.map((n) => ({ size: n, jump: n, start: (n - 1) / 2, positions: 1 })) as [AxisField, AxisField];
  return { axes, global: true };
}

function slide(f: Field, w: Window, outPositions: [number, number]): Field {
  const axes = f.axes.map((a, i) => {
    const span = w.dilation[i] * (w.k[i] - 1) + 1;
    return {
      size: a.size + (span - 1) * a.jump,
      jump: a.jump * w.stride[i],
      start: a.start + ((span - 1) / 2 - w.padBefore[i]) * a.jump,
      positions: outPositions[i],
    };
  }) as [AxisField, AxisField];
  return { axes, global: false };
}

/** Several inputs merged position by position (Add, Concat): each unit sees the union of the inputs' fields. */
function union(ins: Field[]): Field {
  if (ins.some((f) => f.global)) return { axes: ins.find((f) => f.global)!.axes, global: true };
  const axes = [0, 1].map((i) => {
    const parts = ins.map((f) => f.axes[i]);
    const lo = Math.min(...parts.map((a) => a.start - (a.size - 1) / 2));
    const hi = Math.max(...parts.map((a) => a.start + (a.size - 1) / 2));
    return { size: hi - lo + 1, jump: Math.max(...parts.map((a) => a.jump)), start: (lo + hi) / 2, positions: parts[0].positions };
  }) as [AxisField, AxisField];
  return { axes, global: false };
}

/** The sliding window of a convolution, pooling or padding layer; null for any other layer. */
function windowOf(layer: Layer, inShape: number[], outShape: number[]): Window | null {
  if (layer instanceof Conv2d || layer instanceof MaxPool2d || layer instanceof AvgPool2d || layer instanceof LPPool2d) {
    const { geom: g } = layer.geometry(inShape);
    return { k: [g.kH, g.kW], stride: [g.strideH, g.strideW], dilation: [g.dilationH, g.dilationW], padBefore: [g.padTop, g.padLeft] };
  }
  if (layer instanceof Conv1d) {
    const g = layer.geometry(inShape);
    return { k: [1, g.kW], stride: [1, g.strideW], dilation: [1, g.dilationW], padBefore: [0, g.padLeft] };
  }
  if (layer instanceof LocallyConnected2d) {
    const [kH, kW] = layer.kernelSize;
    return { k: [kH, kW], stride: layer.stride, dilation: [1, 1], padBefore: layer.padding };
  }
  if (layer instanceof AdaptiveAvgPool2d) {
    // Exact when the output divides the input (then it is an ordinary pooling); otherwise windows of
    // uneven size, of which the widest (ceil(in/out) + 1 at most) bounds the field.
    const [inH, inW] = spatialExtents(inShape), [outH, outW] = spatialExtents(outShape);
    const axis = (i: number, o: number): [number, number] => (i % o === 0 ? [i / o, i / o] : [Math.ceil(i / o) + 1, i / o]);
    const [kH, sH] = axis(inH, outH), [kW, sW] = axis(inW, outW);
    return { k: [kH, kW], stride: [sH, sW], dilation: [1, 1], padBefore: [0, 0] };
  }
  if (layer instanceof Pad && inShape.length >= 3 && shapeSize(inShape) > 0) {
    // Padding shifts the coordinates of what follows: a 1-tap window that starts before the input.
    const r = inShape.length, p = layer.pads;
    const before: [number, number] = inShape.length >= 4 ? [p[r - 2], p[r - 1]] : [0, p[r - 1]];
    return { k: [1, 1], stride: [1, 1], dilation: [1, 1], padBefore: before };
  }
  return null;
}
