/**
 * ONNX operators to stride layers. Each handler reads the current node
 * through the Builder (inputs, attributes) and sets its outputs: layers for
 * what computes on activations, constants for the shape arithmetic. Weights
 * are copied into the layers' Params, so the imported model trains.
 */
import { shapeSize } from "../../tensor.js";
import { Conv2d, Conv1d } from "../../layers/conv.js";
import { MaxPool2d, AvgPool2d, LPPool2d, GlobalAvgPool2d } from "../../layers/pool.js";
import { BatchNorm1d, BatchNorm2d, LocalResponseNorm } from "../../layers/norm.js";
import { Linear } from "../../layers/dense.js";
import { ReLU, LeakyReLU, ELU, Tanh, Sigmoid, Softmax } from "../../layers/activation.js";
import { Dropout } from "../../layers/dropout.js";
import { Flatten } from "../../layers/reshape.js";
import { Concat, Add } from "../../layers/merge.js";
import { Reshape, Pad, GlobalMaxPool2d, BiasAdd, AxisSoftmax, ConstantScale, Transpose, IndexSelect } from "../../layers/tensor-ops.js";
import type { Layer } from "../../layers/layer.js";
import type { Act, Builder, Value } from "./builder.js";
import { tensorValues, DATA_TYPES, dataTypeName } from "./tensors.js";
import {
  constOf, shapeConst, gatherConst, unsqueezeConst, squeezeConst, concatConst, binaryConst, resolveReshape, normAxis, broadcastShapes,
  sliceConst, transposeConst, type Const,
} from "./shapes.js";

type Handler = (b: Builder) => void;

/** A constant's result or a failure message from shapes.ts. */
function ok(b: Builder, r: Const | string): Const {
  if (typeof r === "string") b.fail(r);
  return r as Const;
}

// --- windows: convolution and pooling ----------------------------------------------------------

interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** [begin..., end...] per spatial axis, as ONNX's pads. */
  pads: number[];
}

/** kernel_shape, strides, dilations and pads (explicit or auto_pad) for `spatial` spatial axes of an input. */
function windowOf(b: Builder, spatialIn: number[], kernel: number[]): Window {
  const r = spatialIn.length;
  const strides = b.ints("strides", new Array(r).fill(1));
  const dilations = b.ints("dilations", new Array(r).fill(1));
  if (strides.length !== r || dilations.length !== r || kernel.length !== r) {
    b.fail(`kernel_shape [${kernel}], strides [${strides}] and dilations [${dilations}] must each have ${r} values (the input has ${r} spatial axes)`);
  }
  if ([...strides, ...dilations, ...kernel].some((v) => !Number.isInteger(v) || v < 1)) b.fail("kernel_shape, strides and dilations must be whole numbers >= 1");
  const autoPad = b.str("auto_pad", "NOTSET");
  let pads: number[];
  if (autoPad === "NOTSET") {
    pads = b.ints("pads", new Array(2 * r).fill(0));
    if (pads.length !== 2 * r) b.fail(`pads has ${pads.length} values; it needs ${2 * r} (a begin and an end per spatial axis)`);
    if (pads.some((p) => p < 0)) b.fail(`negative pads [${pads}] (cropping) are not supported`);
  } else if (autoPad === "VALID") {
    pads = new Array(2 * r).fill(0);
  } else if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    // Output ceil(in / stride); the odd pixel of padding goes at the end (UPPER) or the beginning (LOWER).
    pads = new Array(2 * r).fill(0);
    for (let a = 0; a < r; a++) {
      const effective = (kernel[a] - 1) * dilations[a] + 1;
      const total = Math.max(0, (Math.ceil(spatialIn[a] / strides[a]) - 1) * strides[a] + effective - spatialIn[a]);
      const small = Math.floor(total / 2);
      pads[a] = autoPad === "SAME_UPPER" ? small : total - small;
      pads[a + r] = total - pads[a];
    }
  } else b.fail(`auto_pad = "${autoPad}" is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`);
  return { kernel, strides, dilations, pads: pads! };
}

function conv(b: Builder): void {
  const x = b.act(0, "the input X");
  const w = b.constInput(1, "the weight W");
  if (!w) b.fail("the weight W is missing");
  const bias = b.constInput(2, "the bias B");
  const wd = w!.t.dims;
  const rank = x.shape.length;
  if (rank !== 4 && rank !== 3) b.fail(`stride imports 1-D and 2-D convolutions (inputs [N, C, L] or [N, C, H, W]); the input is [${x.shape}]`);
  if (wd.length !== rank) b.fail(`the weight has shape [${wd}] but the input has rank ${rank}`);
  const kernel = b.ints("kernel_shape", wd.slice(2));
  if (kernel.some((k, i) => k !== wd[2 + i])) b.fail(`kernel_shape [${kernel}] does not match the weight's shape [${wd}]`);
  const win = windowOf(b, x.shape.slice(2), kernel);
  const groups = b.int("group", 1);
  const [outC, inPerGroup] = wd;
  if (inPerGroup * groups !== x.shape[1]) b.fail(`the weight [${wd}] with group = ${groups} expects ${inPerGroup * groups} input channels but the input has ${x.shape[1]}`);
  if (bias && shapeSize(bias.t.dims) !== outC) b.fail(`the bias has ${shapeSize(bias.t.dims)} values but there are ${outC} output channels`);
  let layer: Conv2d | Conv1d;
  if (rank === 4) {
    let pad: [number, number, number, number] = [win.pads[0], win.pads[2], win.pads[1], win.pads[3]];
    if (x.foldedPad) pad = pad.map((p, i) => p + x.foldedPad![i]) as typeof pad;
    layer = new Conv2d({
      inChannels: x.shape[1], outChannels: outC, kernelSize: [kernel[0], kernel[1]], stride: [win.strides[0], win.strides[1]],
      padding: pad, dilation: [win.dilations[0], win.dilations[1]], groups, bias: bias !== null,
    });
  } else {
    layer = new Conv1d({
      inChannels: x.shape[1], outChannels: outC, kernelSize: kernel[0], stride: win.strides[0],
      padding: [win.pads[0], win.pads[1]], dilation: win.dilations[0], groups, bias: bias !== null,
    });
  }
  layer.weight.value.data.set(w!.t.data);
  if (bias) layer.bias!.value.data.set(bias.t.data);
  b.setValue(0, b.addLayer(layer, [{ ...x, foldedPad: undefined }]));
}

/**
 * A pooling window's padding as the pooling layers take it: symmetric and at
 * most half the window, as PyTorch requires. Null when it is not.
 */
function layerPadding(win: Window): [number, number] | null {
  const [t, l, bo, r] = win.pads;
  if (t !== bo || l !== r) return null;
  for (let a = 0; a < 2; a++) if (win.pads[a] * 2 > (win.kernel[a] - 1) * win.dilations[a] + 1) return null;
  return [t, l];
}

/** Adds a Pad layer for a pooling's own padding; returns the padded activation. */
function explicitPad(b: Builder, x: Act, win: Window, value: number): Act {
  const [t, l, bo, r] = win.pads;
  return b.addLayer(new Pad({ pads: [0, 0, t, l, 0, 0, bo, r], value }), [x], "pad");
}

function pool2dInput(b: Builder): Act {
  const x = b.act(0, "the input X");
  if (x.shape.length !== 4) b.fail(`stride imports 2-D pooling (inputs [N, C, H, W]); the input is [${x.shape}]`);
  return x;
}

/**
 * The input and window of a 1-D or 2-D pooling, as 2-D: a 1-D input [N, C, L]
 * is seen as [N, C, 1, L] (a Reshape) and its window gets height 1.
 */
function poolSetup(b: Builder): { x: Act; win: Window; oneD: boolean } {
  const x = b.act(0, "the input X");
  const kernel = b.ints("kernel_shape", []);
  if (x.shape.length === 3) {
    const w = windowOf(b, x.shape.slice(2), kernel);
    const x4 = b.addLayer(new Reshape({ shape: [0, 0, 1, -1] }), [x], "to2d");
    const win = { kernel: [1, w.kernel[0]], strides: [1, w.strides[0]], dilations: [1, w.dilations[0]], pads: [0, w.pads[0], 0, w.pads[1]] };
    return { x: x4, win, oneD: true };
  }
  const x4 = pool2dInput(b);
  return { x: x4, win: windowOf(b, x4.shape.slice(2), kernel), oneD: false };
}

/** Sets the pooling's output, back to [N, C, L] for a 1-D pooling. */
function poolDone(b: Builder, y: Act, oneD: boolean): void {
  b.setValue(0, oneD ? b.addLayer(new Reshape({ shape: [0, 0, -1] }), [y], "to1d") : y);
}

function maxPool(b: Builder): void {
  b.onlyFirstOutput("the indices");
  const setup = poolSetup(b);
  let x = setup.x;
  const win = setup.win;
  const ceilMode = b.int("ceil_mode", 0) === 1;
  let padding = layerPadding(win);
  if (!padding) {
    // Padding the layer cannot take: pad with -Infinity first, which a max never picks.
    x = explicitPad(b, x, win, -Infinity);
    padding = [0, 0];
  }
  const layer = new MaxPool2d({
    kernelSize: [win.kernel[0], win.kernel[1]], stride: [win.strides[0], win.strides[1]], padding,
    dilation: [win.dilations[0], win.dilations[1]], ceilMode,
  });
  poolDone(b, b.addLayer(layer, [x]), setup.oneD);
}

function averagePool(b: Builder): void {
  const setup = poolSetup(b);
  let x = setup.x;
  const win = setup.win;
  if (win.dilations.some((d) => d !== 1)) b.fail(`dilations [${win.dilations}] are not supported for average pooling`);
  const ceilMode = b.int("ceil_mode", 0) === 1;
  const countIncludePad = b.int("count_include_pad", 0) === 1;
  let padding = layerPadding(win);
  const explicit = padding === null;
  if (explicit) {
    x = explicitPad(b, x, win, 0); // zeros that count in the average; corrected below when they must not
    padding = [0, 0];
  }
  const layer = new AvgPool2d({
    kernelSize: [win.kernel[0], win.kernel[1]], stride: [win.strides[0], win.strides[1]], padding: padding!, ceilMode,
    countIncludePad: explicit ? true : countIncludePad,
  });
  let y = b.addLayer(layer, [x]);
  if (explicit && !countIncludePad) {
    // Each window averaged over `padded` cells (clipped to the padded input) but only `valid` are input:
    // multiply by padded / valid, a fixed map over the output positions.
    const [outH, outW] = y.shape.slice(2);
    const [inH, inW] = [x.shape[2] - win.pads[0] - win.pads[2], x.shape[3] - win.pads[1] - win.pads[3]];
    const fix = new ConstantScale({ shape: [outH, outW] });
    const span = (o: number, a: number, size: number, padBefore: number) => {
      const start = o * win.strides[a], end = start + win.kernel[a];
      const padded = Math.min(end, size + win.pads[a] + win.pads[a + 2]) - start;
      const valid = Math.min(end, padBefore + size) - Math.max(start, padBefore);
      return [padded, valid];
    };
    for (let i = 0; i < outH; i++) {
      const [ph, vh] = span(i, 0, inH, win.pads[0]);
      for (let j = 0; j < outW; j++) {
        const [pw, vw] = span(j, 1, inW, win.pads[1]);
        fix.scale.data[i * outW + j] = vh > 0 && vw > 0 ? (ph * pw) / (vh * vw) : 0;
      }
    }
    y = b.addLayer(fix, [y], "count");
  }
  poolDone(b, y, setup.oneD);
}

function lpPool(b: Builder): void {
  let x = pool2dInput(b);
  const win = windowOf(b, x.shape.slice(2), b.ints("kernel_shape", []));
  if (win.dilations.some((d) => d !== 1)) b.fail(`dilations [${win.dilations}] are not supported for LpPool`);
  if (b.int("ceil_mode", 0) !== 0) b.fail("ceil_mode = 1 is not supported for LpPool");
  const p = b.int("p", 2);
  // stride's LPPool2d (PyTorch's) sums x^p, ONNX sums |x|^p: the same for even p.
  if (p < 2 || p % 2 !== 0) b.fail(`p = ${p} is not supported: stride's LPPool2d sums x^p, which equals ONNX's |x|^p only for even p`);
  if (win.pads.some((v) => v > 0)) x = explicitPad(b, x, win, 0); // |0|^p adds nothing
  const layer = new LPPool2d({ normType: p, kernelSize: [win.kernel[0], win.kernel[1]], stride: [win.strides[0], win.strides[1]] });
  b.setValue(0, b.addLayer(layer, [x]));
}

function globalPool(max: boolean): Handler {
  return (b) => {
    const x = pool2dInput(b);
    b.setValue(0, b.addLayer(max ? new GlobalMaxPool2d() : new GlobalAvgPool2d(), [x]));
  };
}

// --- normalisation -----------------------------------------------------------------------------

function batchNorm(b: Builder): void {
  b.onlyFirstOutput("training statistics");
  if (b.int("training_mode", 0) !== 0) b.fail("training_mode = 1 (batch statistics at inference) is not supported; export the model in eval mode");
  if (b.opset < 9 && b.int("spatial", 1) !== 1) b.fail("spatial = 0 (statistics per position) is not supported");
  if (b.opset < 7 && b.int("is_test", 0) === 0) b.fail("is_test = 0 (training mode, batch statistics) is not supported; export the model in eval mode");
  const x = b.act(0, "the input X");
  const names = ["scale", "B", "mean", "var"];
  const [scale, bias, mean, variance] = names.map((n, i) => {
    const c = b.constInput(i + 1, `the ${n}`);
    if (!c) b.fail(`the ${n} input is missing`);
    if (shapeSize(c!.t.dims) !== x.shape[1]) b.fail(`the ${n} has ${shapeSize(c!.t.dims)} values but the input has ${x.shape[1]} channels`);
    return c!.t.data;
  });
  const rank = x.shape.length;
  if (rank < 2 || rank > 4) b.fail(`stride imports batch normalization of inputs [N, C], [N, C, L] or [N, C, H, W]; the input is [${x.shape}]`);
  // ONNX's momentum weighs the old running value, PyTorch's the new batch.
  const opts = { numFeatures: x.shape[1], eps: b.float("epsilon", 1e-5), momentum: 1 - b.float("momentum", 0.9) };
  const layer = rank === 4 ? new BatchNorm2d(opts) : new BatchNorm1d(opts);
  layer.weight!.value.data.set(scale);
  layer.bias!.value.data.set(bias);
  layer.runningMean.data.set(mean);
  layer.runningVar.data.set(variance);
  b.setValue(0, b.addLayer(layer, [x]));
}

function lrn(b: Builder): void {
  const x = b.act(0, "the input X");
  const size = b.int("size", 0);
  // Both divide alpha by size; the channel window agrees for odd sizes only
  // (ONNX centres an even window one channel later than PyTorch).
  if (size < 1 || size % 2 !== 1) b.fail(`size = ${size} is not supported: stride's LocalResponseNorm matches ONNX's channel window for odd sizes`);
  const layer = new LocalResponseNorm({ size, alpha: b.float("alpha", 1e-4), beta: b.float("beta", 0.75), k: b.float("bias", 1) });
  b.setValue(0, b.addLayer(layer, [x]));
}

// --- fully connected ---------------------------------------------------------------------------

/** A Linear with weight [out, in] (already transposed) and an optional bias. */
function linear(b: Builder, x: Act, weight: Float32Array, outF: number, inF: number, bias: ArrayLike<number> | null): Act {
  const layer = new Linear({ inFeatures: inF, outFeatures: outF, bias: bias !== null });
  layer.weight.value.data.set(weight);
  if (bias) layer.bias!.value.data.set(bias);
  return b.addLayer(layer, [x]);
}

function transpose(data: ArrayLike<number>, rows: number, cols: number, scale = 1): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = data[i * cols + j] * scale;
  return out;
}

function gemm(b: Builder): void {
  let x = b.act(0, "A");
  const w = b.constInput(1, "B");
  if (!w) b.fail("B is missing");
  const c = b.constInput(2, "C");
  if (x.shape.length !== 2) b.fail(`A must be a matrix, got shape [${x.shape}]`);
  // Linear reads rows of A: a transposed A is transposed back first.
  if (b.int("transA", 0) === 1) x = b.addLayer(new Transpose({ perm: [1, 0] }), [x], "transA");
  const alpha = b.float("alpha", 1), beta = b.float("beta", 1);
  const wd = w!.t.dims;
  if (wd.length !== 2) b.fail(`B must be a matrix, got shape [${wd}]`);
  const transB = b.int("transB", 0) === 1;
  const [outF, inF] = transB ? wd : [wd[1], wd[0]];
  if (inF !== x.shape[1]) b.fail(`A [${x.shape}] and B [${wd}]${transB ? " (transposed)" : ""} do not multiply`);
  // alpha A B' + beta C: alpha goes into the weight, beta into the bias.
  const weight = transB ? Float32Array.from(w!.t.data, (v) => v * alpha) : transpose(w!.t.data, inF, outF, alpha);
  let bias: Float32Array | null = null;
  let fullC: Const | null = null;
  if (c && beta !== 0) {
    const n = shapeSize(c.t.dims);
    const rowLike = c.t.dims.length <= 1 || (c.t.dims.length === 2 && c.t.dims[0] === 1);
    if (n === outF && rowLike) bias = Float32Array.from(c.t.data, (v) => v * beta);
    else if (n === 1) bias = new Float32Array(outF).fill(c.t.data[0] * beta);
    else fullC = c; // a whole [M, N] (or column) term: added after
  }
  let y = linear(b, x, weight, outF, inF, bias);
  if (fullC) {
    y = biasAdd(b, y, constOf(fullC.t.dims, Array.from(fullC.t.data, (v) => v * beta), false), "c");
  }
  b.setValue(0, y);
}

function matMul(b: Builder): void {
  const x = b.act(0, "A (a constant times an activation is not supported)");
  const w = b.constInput(1, "B");
  if (!w) b.fail("B is missing");
  const wd = w!.t.dims;
  if (wd.length !== 2) b.fail(`B must be a constant matrix, got shape [${wd}]`);
  const [inF, outF] = wd;
  if (x.shape[x.shape.length - 1] !== inF) b.fail(`A [${x.shape}] and B [${wd}] do not multiply`);
  // An Add of a constant vector right after, its only reader, becomes the Linear's bias (torch's x @ W + b).
  const out = b.node.outputs[0];
  const readers = b.readersOf(out);
  const add = readers.length === 1 && readers[0].opType === "Add" && out !== b.outputName ? readers[0] : null;
  const other = add && add.inputs.length === 2 ? b.values.get(add.inputs[add.inputs[0] === out ? 1 : 0]) : undefined;
  const bias = other?.kind === "const" && shapeSize(other.c.t.dims) === outF && other.c.t.dims.length <= x.shape.length ? other.c.t.data : null;
  const y = linear(b, x, transpose(w!.t.data, inF, outF), outF, inF, bias);
  b.setValue(0, y);
  if (bias) {
    b.absorbed.add(add!);
    b.values.set(add!.outputs[0], y);
  }
}

// --- element-wise --------------------------------------------------------------------------------

function unary(make: (b: Builder) => Layer): Handler {
  return (b) => b.setValue(0, b.addLayer(make(b), [b.act(0, "the input X")]));
}

/** A constant's dims for a fixed broadcast into an activation: leading 1s beyond its rank dropped; refused if it would change the shape. */
function broadcastDims(b: Builder, x: Act, c: Const, what: string): number[] {
  let dims = c.t.dims.slice();
  while (dims.length > x.shape.length && dims[0] === 1) dims = dims.slice(1);
  const out = broadcastShapes(x.shape, dims);
  if (!out || dims.length > x.shape.length || out.some((d, i) => d !== x.shape[i])) {
    b.fail(`${what} a constant of shape [${c.t.dims}] and an activation of shape [${x.shape}] would change its shape; stride supports constants that broadcast into the activation`);
  }
  return dims;
}

function biasAdd(b: Builder, x: Act, c: Const, suffix = ""): Act {
  const layer = new BiasAdd({ shape: broadcastDims(b, x, c, "adding") });
  layer.bias.value.data.set(c.t.data);
  return b.addLayer(layer, [x], suffix);
}

/**
 * The activation and the constant of a binary element-wise node (Add, Mul)
 * with one constant operand, the constant's axes lined up as the opset says.
 */
function activationAndConstant(b: Builder): [Act, Const] {
  const l = b.input(0)!, r = b.input(1)!;
  let [x, c] = l.kind === "act" ? [b.act(0), (r as { c: Const }).c] : [b.act(1), (l as { c: Const }).c];
  if (b.opset < 7 && b.int("broadcast", 0) === 1 && b.attr("axis")) {
    // Before opset 7, B's axes line up with A's from `axis` on, not from the end: add trailing 1s.
    const axis = normAxis(b.int("axis", 0), x.shape.length);
    if (axis === null || axis + c.t.dims.length > x.shape.length) b.fail(`broadcast axis ${b.int("axis", 0)} does not fit B [${c.t.dims}] into A [${x.shape}]`);
    c = { ...c, t: { ...c.t, dims: [...c.t.dims, ...new Array(x.shape.length - axis! - c.t.dims.length).fill(1)] } };
  }
  return [x, c];
}

function add(b: Builder): void {
  const l = b.input(0), r = b.input(1);
  if (!l || !r) b.fail("Add needs two inputs");
  if (l!.kind === "const" && r!.kind === "const") return b.setConst(0, ok(b, binaryConst(l!.c, r!.c, (p, q) => p + q)));
  if (l!.kind === "act" && r!.kind === "act") {
    const [x, y] = [b.act(0), b.act(1)];
    if (x.shape.length !== y.shape.length || x.shape.some((d, i) => d !== y.shape[i])) {
      b.fail(`adding activations of shapes [${x.shape}] and [${y.shape}] needs broadcasting, which stride's Add does not do (equal shapes only)`);
    }
    return b.setValue(0, b.addLayer(new Add(), [x, y]));
  }
  const [x, c] = activationAndConstant(b);
  b.setValue(0, biasAdd(b, x, c));
}

/**
 * Mul by a constant (torchvision's GoogLeNet scales its input channels so,
 * with transform_input): a fixed ConstantScale. The product of two
 * activations has no stride layer.
 */
function mul(b: Builder): void {
  const l = b.input(0), r = b.input(1);
  if (!l || !r) b.fail("Mul needs two inputs");
  if (l!.kind === "const" && r!.kind === "const") return b.setConst(0, ok(b, binaryConst(l!.c, r!.c, (p, q) => p * q)));
  if (l!.kind === "act" && r!.kind === "act") b.fail("multiplying two activations is not supported (stride has no element-wise product layer); only Mul by a constant is");
  const [x, c] = activationAndConstant(b);
  const layer = new ConstantScale({ shape: broadcastDims(b, x, c, "multiplying") });
  layer.scale.data.set(c.t.data);
  b.setValue(0, b.addLayer(layer, [x]));
}

function softmax(b: Builder): void {
  const x = b.act(0, "the input");
  const r = x.shape.length;
  const axis = normAxis(b.int("axis", b.opset >= 13 ? -1 : 1), r);
  if (axis === null) b.fail(`axis ${b.int("axis", 0)} is out of range for an input of rank ${r}`);
  // Before opset 13 the input is seen as 2-D [before axis, from axis on]; from 13 on, one axis.
  const end = b.opset >= 13 ? axis! : r - 1;
  const layer = axis === 1 && end === 1 ? new Softmax() : new AxisSoftmax({ startDim: axis!, endDim: end });
  b.setValue(0, b.addLayer(layer, [x]));
}

function dropout(b: Builder): void {
  b.onlyFirstOutput("the mask");
  let ratio = b.float("ratio", 0.5);
  if (b.opset >= 12) {
    const r = b.constInput(1, "the ratio");
    ratio = r ? r.t.data[0] : 0.5;
    const training = b.constInput(2, "training_mode");
    if (training && training.t.data[0] !== 0) b.fail("training_mode = true (dropping at inference) is not supported");
  }
  if (b.opset < 7 && b.int("is_test", 0) === 0) b.fail("is_test = 0 is not supported");
  b.setValue(0, b.addLayer(new Dropout({ p: ratio }), [b.act(0, "the input")]));
}

// --- shapes ----------------------------------------------------------------------------------

function flatten(b: Builder): void {
  const v = b.input(0);
  if (!v) b.fail("the input is missing");
  const shape = v!.kind === "act" ? v!.shape : v!.c.t.dims;
  const r = shape.length;
  const given = b.int("axis", 1);
  const axis = given < 0 ? given + r : given; // r itself is allowed: [everything, 1]
  if (axis < 0 || axis > r) b.fail(`axis ${given} is out of range for rank ${r}`);
  const target = [shapeSize(shape.slice(0, axis)), shapeSize(shape.slice(axis))];
  if (v!.kind === "const") return b.setConst(0, { t: { ...v!.c.t, dims: target }, dimOf: null });
  const x = b.act(0);
  // Axis 1 keeps the batch free; other axes are fixed to the sizes seen at import.
  const layer = axis === 1 && r >= 2 ? new Flatten({ startDim: 1, endDim: -1 }) : new Reshape({ shape: target });
  b.setValue(0, b.addLayer(layer, [x]));
}

function reshape(b: Builder): void {
  const v = b.input(0);
  if (!v) b.fail("the input is missing");
  let target: number[];
  let dimOf: Const["dimOf"] = null;
  if (b.opset < 5 || b.attr("shape")) target = b.ints("shape", []);
  else {
    const s = b.constInput(1, "the shape");
    if (!s) b.fail("the shape input is missing");
    target = b.intsInput(1, "the shape")!;
    dimOf = s!.dimOf;
  }
  const allowZero = b.int("allowzero", 0) === 1;
  const inShape = v!.kind === "act" ? v!.shape : v!.c.t.dims;
  const resolved = resolveReshape(inShape, target, allowZero);
  if (typeof resolved === "string") b.fail(resolved);
  if (v!.kind === "const") return b.setConst(0, { t: { ...v!.c.t, dims: resolved as number[] }, dimOf: v!.c.dimOf });
  const x = b.act(0);
  // A size read off the batch axis of an activation (torch.onnx's x.size(0)) becomes "copy the batch" (0).
  const spec = target.map((d, i) => {
    const from = dimOf?.[i];
    if (i === 0 && from && from.axis === 0 && d === inShape[0] && !allowZero) return 0;
    return d;
  });
  b.setValue(0, b.addLayer(new Reshape({ shape: spec, allowZero }), [x]));
}

function concat(b: Builder): void {
  const vals = b.node.inputs.map((_, k) => b.input(k)).filter((v) => v !== null);
  if (vals.length === 0) b.fail("Concat needs at least one input");
  const axis = b.int("axis", b.opset < 4 ? 1 : NaN);
  if (Number.isNaN(axis)) b.fail("the axis attribute is missing");
  if (vals.every((v) => v!.kind === "const")) return b.setConst(0, ok(b, concatConst(vals.map((v) => (v as { c: Const }).c), axis)));
  if (vals.some((v) => v!.kind === "const")) b.fail("joining constants and activations is not supported");
  const xs = b.node.inputs.map((name, k) => (name ? b.act(k) : null)).filter((x): x is Act => x !== null);
  b.setValue(0, b.addLayer(new Concat({ axis }), xs));
}

function pad(b: Builder): void {
  const x = b.act(0, "the data");
  const mode = b.str("mode", "constant");
  if (mode !== "constant") b.fail(`mode = "${mode}" is not supported; stride imports constant padding only`);
  let pads: number[];
  let value: number;
  if (b.opset < 11) {
    pads = b.ints("pads", b.ints("paddings", []));
    value = b.float("value", 0);
  } else {
    pads = b.intsInput(1, "the pads") ?? b.fail("the pads input is missing");
    const v = b.constInput(2, "the constant value");
    value = v && v.t.data.length ? v.t.data[0] : 0;
    const axes = b.intsInput(3, "the axes");
    if (axes) {
      // Opset 18: pads only for the listed axes; expand to every axis.
      const r = x.shape.length, full = new Array(2 * r).fill(0);
      axes.forEach((a, i) => {
        const ax = normAxis(a, r);
        if (ax === null) b.fail(`axis ${a} is out of range`);
        full[ax!] = pads[i];
        full[ax! + r] = pads[i + axes.length];
      });
      pads = full;
    }
  }
  const r = x.shape.length;
  if (pads.length !== 2 * r) b.fail(`pads has ${pads.length} values; an input of rank ${r} needs ${2 * r}`);
  if (pads.some((p) => p < 0)) b.fail(`negative pads [${pads}] (cropping) are not supported`);
  // A zero padding of H and W read only by a convolution becomes the convolution's own padding.
  const readers = b.readersOf(b.node.outputs[0]);
  const spatialOnly = r === 4 && pads[0] === 0 && pads[1] === 0 && pads[4] === 0 && pads[5] === 0;
  if (value === 0 && spatialOnly && readers.length === 1 && readers[0].opType === "Conv" && readers[0].inputs[0] === b.node.outputs[0]
    && b.node.outputs[0] !== b.outputName && !x.foldedPad) {
    return b.setValue(0, { ...x, foldedPad: [pads[2], pads[6], pads[3], pads[7]] });
  }
  b.setValue(0, b.addLayer(new Pad({ pads, value }), [x]));
}

function constant(b: Builder): void {
  const a = b.node.attributes;
  if (a.get("value")?.t) return b.setConst(0, { t: tensorValues(a.get("value")!.t!, b.file), dimOf: null });
  if (a.has("value_float")) return b.setConst(0, constOf([], [a.get("value_float")!.f], false));
  if (a.has("value_floats")) return b.setConst(0, constOf([a.get("value_floats")!.floats.length], a.get("value_floats")!.floats, false));
  if (a.has("value_int")) return b.setConst(0, constOf([], [a.get("value_int")!.i], true));
  if (a.has("value_ints")) return b.setConst(0, constOf([a.get("value_ints")!.ints.length], a.get("value_ints")!.ints, true));
  b.fail(`only tensor, float(s) and int(s) values are supported (got ${[...a.keys()].join(", ") || "no value"})`);
}

function identity(b: Builder): void {
  const v = b.input(0);
  if (!v) b.fail("the input is missing");
  b.setValue(0, v!);
}

function shape(b: Builder): void {
  const v = b.input(0);
  if (!v) b.fail("the input is missing");
  const start = b.int("start", 0);
  const end = b.attr("end") ? b.int("end", 0) : undefined;
  if (v!.kind === "const") return b.setConst(0, shapeConst("", v!.c.t.dims, start, end));
  if (v!.foldedPad) b.fail("internal: Shape of a folded Pad");
  b.setConst(0, shapeConst(b.node.inputs[0], v!.shape, start, end));
}

/**
 * Gather: shape arithmetic on constants, or slices of an activation picked by
 * constant indices (torchvision's GoogLeNet takes x[:, 0], x[:, 1], x[:, 2]
 * with transform_input): an IndexSelect layer.
 */
function gather(b: Builder): void {
  const data = b.input(0);
  const indices = b.constInput(1, "the indices");
  if (!data || !indices) b.fail("Gather needs data and indices");
  if (data!.kind === "const") return b.setConst(0, ok(b, gatherConst(data!.c, indices!, b.int("axis", 0))));
  const x = b.act(0);
  const axis = normAxis(b.int("axis", 0), x.shape.length);
  if (axis === null) b.fail(`axis ${b.int("axis", 0)} is out of range for an input of rank ${x.shape.length}`);
  if (axis === 0) b.fail("gathering along the batch axis of an activation is not supported (the batch size is not part of the model)");
  if (indices!.t.dims.length > 1) b.fail(`indices of shape [${indices!.t.dims}] are not supported on an activation; only a scalar or a list`);
  const size = x.shape[axis!];
  const picked = Array.from(indices!.t.data, (i) => (i < 0 ? i + size : i));
  if (picked.some((i) => !Number.isInteger(i) || i < 0 || i >= size)) b.fail(`indices [${Array.from(indices!.t.data)}] are out of range for axis ${axis} of size ${size}`);
  b.setValue(0, b.addLayer(new IndexSelect({ axis: axis!, indices: picked, squeeze: indices!.t.dims.length === 0 }), [x]));
}

function unsqueeze(b: Builder): void {
  const v = b.input(0);
  const axes = b.opset >= 13 ? b.intsInput(1, "the axes") : b.ints("axes", []);
  if (!v || !axes) b.fail("Unsqueeze needs data and axes");
  const rank = (v!.kind === "act" ? v!.shape.length : v!.c.t.dims.length) + axes!.length;
  reshapeLike(b, v!, (c) => unsqueezeConst(c, axes!), axes!.some((a) => normAxis(a, rank) === 0));
}

// torch.onnx (opset 11 and newer) computes F.pad's pads with these, on constants (Transpose also on activations).

function squeeze(b: Builder): void {
  const v = b.input(0);
  if (!v) b.fail("the input is missing");
  const axes = b.opset >= 13 ? b.intsInput(1, "the axes") ?? [] : b.ints("axes", []);
  const shape = v!.kind === "act" ? v!.shape : v!.c.t.dims;
  reshapeLike(b, v!, (c) => squeezeConst(c, axes), axes.length === 0 ? shape[0] === 1 : axes.some((a) => normAxis(a, shape.length) === 0));
}

/**
 * Unsqueeze and Squeeze: folded on a constant; on an activation, a Reshape to
 * the new shape, which copies the batch (0) unless axis 0 is inserted or removed.
 */
function reshapeLike(b: Builder, v: Value, apply: (c: Const) => Const | string, movesBatch: boolean): void {
  if (v.kind === "const") return b.setConst(0, ok(b, apply(v.c)));
  const x = b.act(0);
  // The same arithmetic on a stand-in of the activation's shape (only its dims are read) gives the new shape.
  const out = ok(b, apply({ t: { dims: x.shape, data: new Float32Array(0), integer: false }, dimOf: null })).t.dims;
  const spec = movesBatch || out.length === 0 ? out : [0, ...out.slice(1)];
  b.setValue(0, b.addLayer(new Reshape({ shape: spec }), [x]));
}

function constantOfShape(b: Builder): void {
  const dims = b.intsInput(0, "the shape") ?? b.fail("the shape input is missing");
  if (dims.some((d) => d < 0) || shapeSize(dims) > 1 << 24) b.fail(`shape [${dims}] is not a small shape of whole numbers`);
  const v = b.attr("value")?.t;
  const value = v ? tensorValues(v, b.file) : { data: [0], integer: false };
  b.setConst(0, constOf(dims, new Array(shapeSize(dims)).fill(value.data[0] ?? 0), value.integer));
}

function slice(b: Builder): void {
  const data = b.constInput(0, "the data (Slice is imported only as shape arithmetic on constants)");
  let starts: number[], ends: number[], axes: number[] | null, steps: number[] | null;
  if (b.opset < 10) {
    starts = b.ints("starts", []);
    ends = b.ints("ends", []);
    axes = b.attr("axes") ? b.ints("axes", []) : null;
    steps = null;
  } else {
    starts = b.intsInput(1, "the starts") ?? b.fail("the starts are missing");
    ends = b.intsInput(2, "the ends") ?? b.fail("the ends are missing");
    axes = b.intsInput(3, "the axes");
    steps = b.intsInput(4, "the steps");
  }
  b.setConst(0, ok(b, sliceConst(data!, starts, ends, axes ?? starts.map((_, k) => k), steps ?? starts.map(() => 1))));
}

function transposeOp(b: Builder): void {
  const v = b.input(0);
  if (!v) b.fail("the input is missing");
  if (v!.kind === "const") return b.setConst(0, ok(b, transposeConst(v!.c, b.ints("perm", []))));
  const x = b.act(0);
  const perm = b.ints("perm", x.shape.map((_, a) => x.shape.length - 1 - a));
  b.setValue(0, b.addLayer(new Transpose({ perm }), [x]));
}

function cast(b: Builder): void {
  const data = b.constInput(0, "the data (Cast is imported only as shape arithmetic on constants)");
  const to = b.int("to", 0);
  const type = DATA_TYPES[to];
  if (!type) b.fail(`casting to ${dataTypeName(to)} is not supported`);
  const integer = type.kind === "int";
  b.setConst(0, constOf(data!.t.dims, integer ? Array.from(data!.t.data, Math.trunc) : data!.t.data, integer, data!.dimOf));
}

/** The operators stride imports, by ONNX op_type. */
export const OPERATORS: Record<string, Handler> = {
  Conv: conv,
  MaxPool: maxPool,
  AveragePool: averagePool,
  GlobalAveragePool: globalPool(false),
  GlobalMaxPool: globalPool(true),
  LpPool: lpPool,
  BatchNormalization: batchNorm,
  LRN: lrn,
  Gemm: gemm,
  MatMul: matMul,
  Relu: unary(() => new ReLU()),
  LeakyRelu: unary((b) => new LeakyReLU({ negativeSlope: b.float("alpha", 0.01) })),
  Elu: unary((b) => new ELU({ alpha: b.float("alpha", 1) })),
  Sigmoid: unary(() => new Sigmoid()),
  Tanh: unary(() => new Tanh()),
  Softmax: softmax,
  Dropout: dropout,
  Flatten: flatten,
  Reshape: reshape,
  Concat: concat,
  Add: add,
  Mul: mul,
  Pad: pad,
  Constant: constant,
  Identity: identity,
  Shape: shape,
  Gather: gather,
  Unsqueeze: unsqueeze,
  Squeeze: squeeze,
  ConstantOfShape: constantOfShape,
  Slice: slice,
  Transpose: transposeOp,
  Cast: cast,
};
