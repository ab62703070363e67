/**
 * What each stride layer becomes in ONNX, in inference form: the inverse of
 * ops.ts. Every emitter adds its nodes through the OnnxWriter, names its main
 * node after the layer's dotted path (helpers get path/what) and its
 * initializers after the parameters (path.weight), and returns the value it
 * produces with its shape. Shapes carry the export's concrete batch; Reshapes
 * copy the batch with 0 so that the batch dimension stays free.
 */
import type { Layer, MergeLayer, Param } from "../../layers/layer.js";
import type { Conv2d, Conv1d, LocallyConnected2d } from "../../layers/conv.js";
import type { MaxPool2d, AvgPool2d, LPPool2d } from "../../layers/pool.js";
import type { BatchNorm1d, BatchNorm2d, LocalResponseNorm } from "../../layers/norm.js";
import type { Linear, Embedding } from "../../layers/dense.js";
import type { LeakyReLU, ELU } from "../../layers/activation.js";
import type { Flatten } from "../../layers/reshape.js";
import type { Concat } from "../../layers/merge.js";
import type { Reshape, Pad, BiasAdd, AxisSoftmax, ConstantScale, Transpose, IndexSelect } from "../../layers/tensor-ops.js";
import type { MaskedConv2d, PositionBias, ShortcutPad } from "../../models/zoo/layers.js";
import type { AdaptiveAvgPool2d } from "../../layers/pool.js";
import { resolvePadding2d, type Pair } from "../../shape.js";
import { ModelFileError } from "../safetensors.js";
import { attr, type OnnxWriter, type Val } from "./export-writer.js";

export type Emitter = (w: OnnxWriter, layer: Layer, x: Val, path: string) => Val;
export type MergeEmitter = (w: OnnxWriter, layer: MergeLayer, xs: Val[], path: string) => Val;

const INT64_MAX = 9223372036854775807n;

function fail(path: string, type: string, problem: string): never {
  throw new ModelFileError("ONNX export", `layer "${path}" (${type}): ${problem}`);
}

/** A parameter as an initializer named path.name. */
function param(w: OnnxWriter, path: string, p: Param): string {
  return w.floats(`${path}.${p.name}`, p.value.shape, p.value.data);
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A Reshape that copies the first `keep` dimensions (the batch and whatever precedes the change) with 0. */
function reshape(w: OnnxWriter, x: Val, name: string, target: number[], keep: number, outShape: number[]): Val {
  const spec = target.map((d, i) => (i < keep ? 0 : d));
  return w.node("Reshape", [x.name, w.int64s(`${name}.shape`, [spec.length], spec)], name, outShape);
}

// --- convolutions ------------------------------------------------------------------------------

function conv2d(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as Conv2d;
  const { geom: g } = l.geometry(x.shape);
  const inputs = [x.name, param(w, path, l.weight)];
  if (l.bias) inputs.push(param(w, path, l.bias));
  return w.node("Conv", inputs, path, [g.batch, g.outChannels, g.outH, g.outW], {
    kernel_shape: attr.ints([g.kH, g.kW]),
    strides: attr.ints([g.strideH, g.strideW]),
    pads: attr.ints([g.padTop, g.padLeft, g.padBottom, g.padRight]), // ONNX: all begins, then all ends
    dilations: attr.ints([g.dilationH, g.dilationW]),
    group: attr.int(g.groups),
  });
}

function conv1d(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as Conv1d;
  const len = x.shape[2];
  const p = l.padding;
  let pads: Pair;
  if (p === "valid") pads = [0, 0];
  else if (p === "same") {
    const r = resolvePadding2d(path, "same", 1, len, [1, l.kernelSize], [1, l.stride], [1, l.dilation]);
    pads = [r[2], r[3]];
  } else pads = typeof p === "number" ? [p, p] : [p[0], p[1]];
  const inputs = [x.name, param(w, path, l.weight)];
  if (l.bias) inputs.push(param(w, path, l.bias));
  return w.node("Conv", inputs, path, l.outputShape(x.shape), {
    kernel_shape: attr.ints([l.kernelSize]),
    strides: attr.ints([l.stride]),
    pads: attr.ints(pads),
    dilations: attr.ints([l.dilation]),
    group: attr.int(l.groups),
  });
}

/** LeNet's C3: the connected filters scattered into a full filter bank (zeros elsewhere), as an ordinary Conv. */
function maskedConv2d(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as MaskedConv2d;
  const c = l.config() as { kernelSize: Pair; stride: Pair; padding: Parameters<typeof resolvePadding2d>[1] };
  const [kH, kW] = c.kernelSize, area = kH * kW;
  const inC = l.inChannels, outC = l.outChannels;
  const bank = new Float32Array(outC * inC * area);
  let j = 0;
  l.connections.forEach((row, k) => row.forEach((ch) => {
    bank.set(l.weight.value.data.subarray(j * area, (j + 1) * area), (k * inC + ch) * area);
    j++;
  }));
  const [h, wd] = x.shape.slice(2);
  const pad = resolvePadding2d(path, c.padding, h, wd, c.kernelSize, c.stride, [1, 1]);
  const inputs = [x.name, w.floats(`${path}.weight`, [outC, inC, kH, kW], bank)];
  if (l.bias) inputs.push(param(w, path, l.bias));
  return w.node("Conv", inputs, path, l.outputShape(x.shape), {
    kernel_shape: attr.ints([kH, kW]),
    strides: attr.ints(c.stride),
    pads: attr.ints([pad[0], pad[2], pad[1], pad[3]]),
  });
}

/**
 * Weights per output position: the input's patches unfolded by a Conv of
 * one-hot kernels (channel c*kH*kW + i*kW + j holds pixel (i, j) of channel c,
 * the order of the weight's last three axes), then one matrix product per
 * position (MatMul batched over the positions), then the bias per position.
 */
function locallyConnected2d(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as LocallyConnected2d;
  const [n, inC] = x.shape;
  const [kH, kW] = l.kernelSize;
  const [, outC, outH, outW] = l.outputShape(x.shape);
  const area = kH * kW, R = inC * area, P = outH * outW;
  const eye = new Float32Array(R * area);
  for (let r = 0; r < R; r++) eye[r * area + (r % area)] = 1;
  const unfold = w.node("Conv", [x.name, w.floats(`${path}.unfold_kernel`, [R, 1, kH, kW], eye)], `${path}/unfold`, [n, R, outH, outW], {
    kernel_shape: attr.ints([kH, kW]),
    strides: attr.ints(l.stride),
    pads: attr.ints([l.padding[0], l.padding[1], l.padding[0], l.padding[1]]),
    group: attr.int(inC),
  });
  const cols = reshape(w, unfold, `${path}/columns`, [n, R, P], 1, [n, R, P]);
  const byPosition = w.node("Transpose", [cols.name], `${path}/by_position`, [P, n, R], { perm: attr.ints([2, 0, 1]) });
  // The weight [P, K, R] as [P, R, K], so that [P, N, R] x [P, R, K] = [P, N, K].
  const src = l.weight.value.data;
  const wt = new Float32Array(P * R * outC);
  for (let p = 0; p < P; p++) for (let k = 0; k < outC; k++) for (let r = 0; r < R; r++) wt[(p * R + r) * outC + k] = src[(p * outC + k) * R + r];
  const prod = w.node("MatMul", [byPosition.name, w.floats(`${path}.weight`, [P, R, outC], wt)], `${path}/matmul`, [P, n, outC]);
  const back = w.node("Transpose", [prod.name], `${path}/to_nkp`, [n, outC, P], { perm: attr.ints([1, 2, 0]) });
  const y = reshape(w, back, l.bias ? `${path}/to_nchw` : path, [n, outC, outH, outW], 1, [n, outC, outH, outW]);
  if (!l.bias) return y;
  return w.node("Add", [y.name, param(w, path, l.bias)], path, y.shape);
}

// --- pooling -----------------------------------------------------------------------------------

/**
 * Whether the last window of one pooling axis hangs past the padded input
 * (ceil mode). Without overhang, floor gives stride's size and no ceil mode is
 * needed. With it, ONNX's plain ceil gives stride's size too: PyTorch's rule
 * drops a last window only when it would start in the end padding, and then
 * the window before it ends inside the padded input (no overhang).
 */
function overhangs(input: number, kernel: number, stride: number, dilation: number, before: number, after: number, out: number): boolean {
  const effective = (kernel - 1) * dilation + 1;
  return (out - 1) * stride + effective > input + before + after;
}

function maxPool2d(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as MaxPool2d;
  const { geom: g } = l.geometry(x.shape);
  const ceil = overhangs(g.inH, g.kH, g.strideH, g.dilationH, g.padTop, g.padBottom, g.outH)
    || overhangs(g.inW, g.kW, g.strideW, g.dilationW, g.padLeft, g.padRight, g.outW);
  // A max never picks padding, so windows that hang past it need only ceil_mode.
  return w.node("MaxPool", [x.name], path, [g.batch, g.channels, g.outH, g.outW], {
    kernel_shape: attr.ints([g.kH, g.kW]),
    strides: attr.ints([g.strideH, g.strideW]),
    pads: attr.ints([g.padTop, g.padLeft, g.padBottom, g.padRight]),
    dilations: attr.ints([g.dilationH, g.dilationW]),
    ceil_mode: attr.int(ceil ? 1 : 0),
  });
}

function avgPool2d(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as AvgPool2d;
  const { geom: g } = l.geometry(x.shape);
  const out = [g.batch, g.channels, g.outH, g.outW];
  if (!overhangs(g.inH, g.kH, g.strideH, 1, g.padTop, g.padBottom, g.outH) && !overhangs(g.inW, g.kW, g.strideW, 1, g.padLeft, g.padRight, g.outW)) {
    return w.node("AveragePool", [x.name], path, out, {
      kernel_shape: attr.ints([g.kH, g.kW]),
      strides: attr.ints([g.strideH, g.strideW]),
      pads: attr.ints([g.padTop, g.padLeft, g.padBottom, g.padRight]),
      count_include_pad: attr.int(l.countIncludePad ? 1 : 0),
    });
  }
  // Windows hanging past the padding (ceil mode): ONNX's spec (to opset 17) does not say whether the
  // cells past the padding count in the divisor (ONNX Runtime 1.30 leaves them out, as PyTorch does),
  // so spell it out: zero-pad so that every window is whole, average over the full window, then rescale
  // each output position to PyTorch's divisor, where padding counts (countIncludePad) but overhang does not.
  const endH = (g.outH - 1) * g.strideH + g.kH - g.inH - g.padTop;
  const endW = (g.outW - 1) * g.strideW + g.kW - g.inW - g.padLeft;
  const pads = [0, 0, g.padTop, g.padLeft, 0, 0, endH, endW];
  const padded = w.node("Pad", [x.name, w.int64s(`${path}.pads`, [8], pads), w.floats(`${path}.pad_value`, [], [0])], `${path}/pad`,
    [g.batch, g.channels, g.inH + g.padTop + endH, g.inW + g.padLeft + endW], { mode: attr.str("constant") });
  const pooled = w.node("AveragePool", [padded.name], `${path}/pool`, out, {
    kernel_shape: attr.ints([g.kH, g.kW]),
    strides: attr.ints([g.strideH, g.strideW]),
  });
  const divisor = (o: number, stride: number, k: number, input: number, before: number, after: number) => {
    const start = o * stride, end = start + k;
    return l.countIncludePad ? Math.min(end, input + before + after) - start : Math.min(end, before + input) - Math.max(start, before);
  };
  const fix = new Float32Array(g.outH * g.outW);
  for (let i = 0; i < g.outH; i++) {
    const dh = divisor(i, g.strideH, g.kH, g.inH, g.padTop, g.padBottom);
    for (let j = 0; j < g.outW; j++) {
      const dw = divisor(j, g.strideW, g.kW, g.inW, g.padLeft, g.padRight);
      fix[i * g.outW + j] = (g.kH * g.kW) / (dh * dw);
    }
  }
  return w.node("Mul", [pooled.name, w.floats(`${path}.divisor_fix`, [g.outH, g.outW], fix)], path, out);
}

/**
 * LPPool2d (PyTorch's): (sum over the window of x^p)^(1/p), a window cut
 * short by ceil mode rescaled to the full area. ONNX's LpPool sums |x|^p
 * (the same for even p) and has no ceil mode before opset 18; other cases
 * are written out: Pow, average over the real window, times the area, Pow.
 */
function lpPool2d(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as LPPool2d;
  const { geom: g } = l.geometry(x.shape);
  const out = [g.batch, g.channels, g.outH, g.outW];
  const p = l.normType;
  const ceil = overhangs(g.inH, g.kH, g.strideH, 1, 0, 0, g.outH) || overhangs(g.inW, g.kW, g.strideW, 1, 0, 0, g.outW);
  const window = { kernel_shape: attr.ints([g.kH, g.kW]), strides: attr.ints([g.strideH, g.strideW]) };
  if (Number.isInteger(p) && p % 2 === 0 && !ceil) return w.node("LpPool", [x.name], path, out, { ...window, p: attr.int(p) });
  const powered = w.node("Pow", [x.name, w.floats(`${path}.p`, [], [p])], `${path}/pow`, x.shape);
  const mean = w.node("AveragePool", [powered.name], `${path}/mean`, out, {
    ...window, ceil_mode: attr.int(ceil ? 1 : 0), count_include_pad: attr.int(0),
  });
  const sum = w.node("Mul", [mean.name, w.floats(`${path}.area`, [], [g.kH * g.kW])], `${path}/sum`, out);
  return w.node("Pow", [sum.name, w.floats(`${path}.inv_p`, [], [1 / p])], path, out);
}

function globalAvgPool(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  return w.node("GlobalAveragePool", [x.name], path, layer.outputShape(x.shape));
}

function globalMaxPool2d(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  return w.node("GlobalMaxPool", [x.name], path, layer.outputShape(x.shape));
}

/** Max over the last axis; ReduceMax takes its axes as an attribute up to opset 17. */
function globalMaxPool1d(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  return w.node("ReduceMax", [x.name], path, layer.outputShape(x.shape), { axes: attr.ints([-1]), keepdims: attr.int(0) });
}

/**
 * PyTorch's adaptive average pooling: a GlobalAveragePool for 1x1, an
 * AveragePool when the input divides evenly; otherwise the windows overlap
 * unevenly, and the pooling is a fixed matrix [H*W, oH*oW] applied by MatMul.
 */
function adaptiveAvgPool2d(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as AdaptiveAvgPool2d;
  const [n, c, h, wd] = x.shape;
  const [oh, ow] = l.outputSize;
  const out = [n, c, oh, ow];
  if (oh === 1 && ow === 1) return w.node("GlobalAveragePool", [x.name], path, out);
  if (h % oh === 0 && wd % ow === 0) {
    const k = [h / oh, wd / ow];
    return w.node("AveragePool", [x.name], path, out, { kernel_shape: attr.ints(k), strides: attr.ints(k) });
  }
  const m = new Float32Array(h * wd * oh * ow);
  for (let i = 0; i < oh; i++) {
    const h0 = Math.floor((i * h) / oh), h1 = Math.ceil(((i + 1) * h) / oh);
    for (let j = 0; j < ow; j++) {
      const w0 = Math.floor((j * wd) / ow), w1 = Math.ceil(((j + 1) * wd) / ow);
      const inv = 1 / ((h1 - h0) * (w1 - w0));
      for (let y = h0; y < h1; y++) for (let xx = w0; xx < w1; xx++) m[(y * wd + xx) * (oh * ow) + i * ow + j] = inv;
    }
  }
  const flat = reshape(w, x, `${path}/flatten`, [n, c, h * wd], 1, [n, c, h * wd]);
  const pooled = w.node("MatMul", [flat.name, w.floats(`${path}.pooling_matrix`, [h * wd, oh * ow], m)], `${path}/matmul`, [n, c, oh * ow]);
  return reshape(w, pooled, path, out, 1, out);
}

// --- normalisation -----------------------------------------------------------------------------

function batchNorm(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as BatchNorm1d | BatchNorm2d;
  if (!l.trackRunningStats) {
    fail(path, l.type, "it has no running statistics (trackRunningStats: false), so it normalises with batch statistics even in inference, which ONNX's BatchNormalization does not do; train it with trackRunningStats on to export it");
  }
  const c = l.numFeatures;
  const scale = l.weight ? param(w, path, l.weight) : w.floats(`${path}.weight`, [c], new Float32Array(c).fill(1));
  const shift = l.bias ? param(w, path, l.bias) : w.floats(`${path}.bias`, [c], new Float32Array(c));
  const mean = w.floats(`${path}.runningMean`, [c], l.runningMean.data);
  const variance = w.floats(`${path}.runningVar`, [c], l.runningVar.data);
  return w.node("BatchNormalization", [x.name, scale, shift, mean, variance], path, x.shape, { epsilon: attr.float(l.eps) });
}

/**
 * Local response normalisation. ONNX's LRN divides alpha by size as PyTorch
 * does, and its channel window [c - floor((size-1)/2), c + ceil((size-1)/2)]
 * is stride's [c - floor(size/2), c + floor((size-1)/2)] for odd sizes. An
 * even size is written out: the squares averaged over stride's window (an
 * AveragePool along the channels that counts the zero padding), then
 * x * (k + alpha * mean)^-beta.
 */
function lrn(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as LocalResponseNorm;
  if (l.size % 2 === 1) {
    return w.node("LRN", [x.name], path, x.shape, {
      size: attr.int(l.size), alpha: attr.float(l.alpha), beta: attr.float(l.beta), bias: attr.float(l.k),
    });
  }
  const [n, c] = x.shape;
  const rest = size(x.shape.slice(2));
  const sq = w.node("Mul", [x.name, x.name], `${path}/square`, x.shape);
  const planes = reshape(w, sq, `${path}/channels_as_rows`, [n, 1, c, rest], 1, [n, 1, c, rest]);
  const mean = w.node("AveragePool", [planes.name], `${path}/window_mean`, [n, 1, c, rest], {
    kernel_shape: attr.ints([l.size, 1]),
    pads: attr.ints([Math.floor(l.size / 2), 0, Math.floor((l.size - 1) / 2), 0]),
    count_include_pad: attr.int(1),
  });
  const back = reshape(w, mean, `${path}/back`, x.shape, 1, x.shape);
  const scaled = w.node("Mul", [back.name, w.floats(`${path}.alpha`, [], [l.alpha])], `${path}/alpha`, x.shape);
  const base = w.node("Add", [scaled.name, w.floats(`${path}.k`, [], [l.k])], `${path}/k`, x.shape);
  const denom = w.node("Pow", [base.name, w.floats(`${path}.neg_beta`, [], [-l.beta])], `${path}/pow`, x.shape);
  return w.node("Mul", [x.name, denom.name], path, x.shape);
}

// --- fully connected ---------------------------------------------------------------------------

/** Gemm (transB = 1) on [N, F]; on higher ranks MatMul with the transposed weight and an Add. */
function linear(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as Linear;
  const out = l.outputShape(x.shape);
  const weight = param(w, path, l.weight);
  if (x.shape.length === 2) {
    const inputs = [x.name, weight];
    if (l.bias) inputs.push(param(w, path, l.bias));
    return w.node("Gemm", inputs, path, out, { transB: attr.int(1) });
  }
  const wt = w.node("Transpose", [weight], `${path}/weight_t`, [l.inFeatures, l.outFeatures], { perm: attr.ints([1, 0]) });
  if (!l.bias) return w.node("MatMul", [x.name, wt.name], path, out);
  const prod = w.node("MatMul", [x.name, wt.name], `${path}/matmul`, out);
  return w.node("Add", [prod.name, param(w, path, l.bias)], path, out);
}

/** Token ids arrive as floats (stride's input): cast to int64, then gather rows of the table. */
function embedding(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as Embedding;
  const [n, len] = x.shape;
  const ids = w.node("Cast", [x.name], `${path}/ids`, x.shape, { to: attr.int(7) });
  const nlc = [n, len, l.embeddingDim];
  if (l.layout === "NLC") return w.node("Gather", [param(w, path, l.weight), ids.name], path, nlc, { axis: attr.int(0) });
  const rows = w.node("Gather", [param(w, path, l.weight), ids.name], `${path}/gather`, nlc, { axis: attr.int(0) });
  return w.node("Transpose", [rows.name], path, [n, l.embeddingDim, len], { perm: attr.ints([0, 2, 1]) });
}

// --- activations and plumbing ------------------------------------------------------------------

function unary(op: string, attrs: (l: Layer) => Record<string, ReturnType<typeof attr.int>> = () => ({})): Emitter {
  return (w, layer, x, path) => w.node(op, [x.name], path, x.shape, attrs(layer));
}

/** Dropout (inference) and Identity: no node, the value passes through. */
function passThrough(_w: OnnxWriter, _layer: Layer, x: Val): Val {
  return x;
}

function flatten(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as Flatten;
  const r = x.shape.length;
  const s = l.startDim < 0 ? r + l.startDim : l.startDim;
  const e = l.endDim < 0 ? r + l.endDim : l.endDim;
  const out = l.outputShape(x.shape);
  if (s === 1 && e === r - 1) return w.node("Flatten", [x.name], path, out, { axis: attr.int(1) });
  return reshape(w, x, path, [...x.shape.slice(0, s), -1, ...x.shape.slice(e + 1)], s, out);
}

/**
 * Stride's Reshape has ONNX's meaning of 0 (copy) and -1. allowZero needs no
 * attribute: a 0 that means 0 makes an empty tensor, which no export input has.
 */
function reshapeLayer(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as Reshape;
  return w.node("Reshape", [x.name, w.int64s(`${path}.shape`, [l.shape.length], l.shape)], path, l.outputShape(x.shape));
}

function pad(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as Pad;
  return w.node("Pad", [x.name, w.int64s(`${path}.pads`, [l.pads.length], l.pads), w.floats(`${path}.value`, [], [l.value])], path,
    l.outputShape(x.shape), { mode: attr.str("constant") });
}

function addConstant(field: "bias"): Emitter {
  return (w, layer, x, path) => {
    const p = (layer as BiasAdd | PositionBias)[field];
    return w.node("Add", [x.name, param(w, path, p)], path, layer.outputShape(x.shape));
  };
}

function constantScale(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as ConstantScale;
  return w.node("Mul", [x.name, w.floats(`${path}.scale`, l.shape, l.scale.data)], path, x.shape);
}

/** Softmax over axes s..e: one Softmax when it is one axis, else merged into one axis and back. */
function axisSoftmax(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as AxisSoftmax;
  const r = x.shape.length;
  const s = l.startDim < 0 ? r + l.startDim : l.startDim;
  const e = l.endDim < 0 ? r + l.endDim : l.endDim;
  l.outputShape(x.shape); // checks the axes
  if (s === e) return w.node("Softmax", [x.name], path, x.shape, { axis: attr.int(s) });
  const mergedShape = [...x.shape.slice(0, s), size(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  const merged = reshape(w, x, `${path}/merge`, [...x.shape.slice(0, s), -1, ...x.shape.slice(e + 1)], s, mergedShape);
  const soft = w.node("Softmax", [merged.name], `${path}/softmax`, mergedShape, { axis: attr.int(s) });
  return reshape(w, soft, path, s === 0 ? [-1, ...x.shape.slice(1)] : x.shape, s, x.shape);
}

function transpose(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as Transpose;
  return w.node("Transpose", [x.name], path, l.outputShape(x.shape), { perm: attr.ints(l.perm) });
}

function indexSelect(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as IndexSelect;
  const indices = l.squeeze ? w.int64s(`${path}.indices`, [], l.indices) : w.int64s(`${path}.indices`, [l.indices.length], l.indices);
  return w.node("Gather", [x.name, indices], path, l.outputShape(x.shape), { axis: attr.int(l.axis) });
}

/** The option-A shortcut: every stride-th pixel (Slice with steps), then zero channels appended (Pad). */
function shortcutPad(w: OnnxWriter, layer: Layer, x: Val, path: string): Val {
  const l = layer as ShortcutPad;
  const out = l.outputShape(x.shape);
  const [n, c] = x.shape;
  let v = x;
  if (l.stride > 1) {
    const s = l.stride;
    v = w.node("Slice", [
      x.name,
      w.int64s(`${path}.starts`, [2], [0, 0]),
      w.int64s(`${path}.ends`, [2], [INT64_MAX, INT64_MAX]),
      w.int64s(`${path}.axes`, [2], [2, 3]),
      w.int64s(`${path}.steps`, [2], [s, s]),
    ], l.outChannels > c ? `${path}/subsample` : path, [n, c, out[2], out[3]]);
  }
  if (l.outChannels === c) return l.stride > 1 ? v : w.node("Identity", [x.name], path, out);
  const pads = [0, 0, 0, 0, 0, l.outChannels - c, 0, 0];
  return w.node("Pad", [v.name, w.int64s(`${path}.pads`, [8], pads), w.floats(`${path}.value`, [], [0])], path, out, { mode: attr.str("constant") });
}

// --- several inputs ----------------------------------------------------------------------------

function concat(w: OnnxWriter, layer: MergeLayer, xs: Val[], path: string): Val {
  const l = layer as Concat;
  const r = xs[0].shape.length;
  return w.node("Concat", xs.map((v) => v.name), path, l.outputShape(xs.map((v) => v.shape)), { axis: attr.int(l.axis < 0 ? r + l.axis : l.axis) });
}

/** A chain of two-input Adds (rather than Sum, which importers read less often); one input passes through. */
function add(w: OnnxWriter, _layer: MergeLayer, xs: Val[], path: string): Val {
  let acc = xs[0];
  for (let k = 1; k < xs.length; k++) acc = w.node("Add", [acc.name, xs[k].name], k === xs.length - 1 ? path : `${path}/add${k}`, acc.shape);
  return acc;
}

/** The single-input layers that export, by their type. */
export const EMITTERS: Record<string, Emitter> = {
  Conv2d: conv2d,
  Conv1d: conv1d,
  MaskedConv2d: maskedConv2d,
  LocallyConnected2d: locallyConnected2d,
  MaxPool2d: maxPool2d,
  AvgPool2d: avgPool2d,
  LPPool2d: lpPool2d,
  GlobalAvgPool2d: globalAvgPool,
  GlobalMaxPool2d: globalMaxPool2d,
  GlobalMaxPool1d: globalMaxPool1d,
  AdaptiveAvgPool2d: adaptiveAvgPool2d,
  BatchNorm1d: batchNorm,
  BatchNorm2d: batchNorm,
  LocalResponseNorm: lrn,
  Linear: linear,
  Embedding: embedding,
  ReLU: unary("Relu"),
  LeakyReLU: unary("LeakyRelu", (l) => ({ alpha: attr.float((l as LeakyReLU).negativeSlope) })),
  ELU: unary("Elu", (l) => ({ alpha: attr.float((l as ELU).alpha) })),
  Tanh: unary("Tanh"),
  Sigmoid: unary("Sigmoid"),
  Softmax: unary("Softmax", () => ({ axis: attr.int(1) })),
  Dropout: passThrough,
  Identity: passThrough,
  Flatten: flatten,
  Reshape: reshapeLayer,
  Pad: pad,
  BiasAdd: addConstant("bias"),
  PositionBias: addConstant("bias"),
  ConstantScale: constantScale,
  AxisSoftmax: axisSoftmax,
  Transpose: transpose,
  IndexSelect: indexSelect,
  ShortcutPad: shortcutPad,
};

/** The layers with several inputs that export. */
export const MERGE_EMITTERS: Record<string, MergeEmitter> = {
  Concat: concat,
  Add: add,
};
