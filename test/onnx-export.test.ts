/**
 * exportOnnx: every zoo model (small widths and inputs) and a model of every
 * layer type, exported and run in ONNX Runtime (onnxruntime-node, one
 * thread), give stride's inference outputs; at opsets 17 and 13; batches of 1
 * and 3 from one export with a symbolic batch; a fixed batch when asked;
 * stride -> ONNX -> importOnnx gives the same outputs again; and the refusals
 * (opsets below 13, layers with no ONNX form) name what is wrong.
 *
 * With STRIDE_ONNX_EXPORT_DIR set, every exported file is also written there,
 * for scripts/check_onnx_export.py (ONNX's own checker, in Python).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ort from "onnxruntime-node";
import {
  Tensor, Rng, Layer, Sequential, Graph, Conv2d, Conv1d, LocallyConnected2d, MaxPool2d, AvgPool2d, LPPool2d, GlobalAvgPool2d,
  GlobalMaxPool1d, BatchNorm1d, BatchNorm2d, LocalResponseNorm, Linear, Embedding, ReLU, LeakyReLU, ELU, Tanh, Sigmoid, Softmax,
  Dropout, Flatten, Concat, Add, Reshape, Pad, GlobalMaxPool2d, BiasAdd, AxisSoftmax, ConstantScale, Transpose, IndexSelect, Identity,
  MaskedConv2d, PositionBias, AdaptiveAvgPool2d, ShortcutPad, models, exportOnnx, saveOnnx, importOnnx, loadWeights,
  namedBuffers, namedParams, namedModules, ModelFileError, toFullyConvolutional, saveModel, loadModel,
} from "../src/index.js";
import { EMITTERS, MERGE_EMITTERS } from "../src/io/onnx/export-ops.js";
import { decodeOnnxModel } from "../src/io/onnx/decode.js";
import { googlenetTransformInput } from "../src/models/zoo/torchvision-names.js";
import { SMALL, readIndex, readF32, build } from "./helpers/torchvision.js";

const OUT_DIR = process.env.STRIDE_ONNX_EXPORT_DIR;
if (OUT_DIR) mkdirSync(OUT_DIR, { recursive: true });

/**
 * Makes every number matter in the comparison: zero biases get values on the
 * scale of their layer's weights (LeNet-5's paper init is small: its outputs
 * are about 1e-5, and biases of 0.1 would drown what the convolutions
 * compute), and batch norms get running statistics from a training-mode pass
 * (momentum 1 for that pass: the batch's own statistics), as a trained model
 * has. Fresh statistics (0 and 1) would test little, and random ones let a
 * deep ResNet's activations grow to 1e4, where float32 rounding alone breaks
 * the tolerance.
 */
function perturb(model: Layer, example: number[], vocab?: number, seed = 3): Layer {
  const rng = new Rng(seed);
  const norms: (BatchNorm1d | BatchNorm2d)[] = [];
  for (const [, m] of namedModules(model)) {
    if (m.children().length) continue;
    if (m instanceof BatchNorm1d || m instanceof BatchNorm2d) norms.push(m);
    const params = m.params();
    const weight = params.find((p) => p.value.data.some((v: number) => v !== 0));
    let rms = 0.1;
    if (weight) rms = Math.sqrt(weight.value.data.reduce((a: number, v: number) => a + v * v, 0) / weight.value.size);
    for (const p of params) {
      if (p.value.data.every((v: number) => v === 0)) for (let i = 0; i < p.value.size; i++) p.value.data[i] = rms * rng.normal();
    }
  }
  if (norms.length) {
    const saved = norms.map((n) => n.momentum);
    for (const n of norms) (n as { momentum: number | null }).momentum = 1;
    model.forward(input([4, ...example], 99, vocab), { training: true });
    norms.forEach((n, k) => ((n as { momentum: number | null }).momentum = saved[k]));
  }
  return model;
}

function input(shape: number[], seed: number, vocab?: number): Tensor {
  if (vocab === undefined) return Tensor.randn(shape, seed);
  const rng = new Rng(seed);
  const t = new Tensor(shape);
  for (let i = 0; i < t.size; i++) t.data[i] = Math.floor(rng.next() * vocab);
  return t;
}

async function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { executionProviders: ["cpu"], intraOpNumThreads: 1, interOpNumThreads: 1 });
}

async function runOrt(s: ort.InferenceSession, x: Tensor): Promise<{ dims: number[]; data: Float32Array }> {
  const out = await s.run({ input: new ort.Tensor("float32", Float32Array.from(x.data), x.shape) });
  const y = out.output;
  return { dims: y.dims.map(Number), data: y.data as Float32Array };
}

/**
 * Equal to 1e-4 absolute + 1e-3 relative; for outputs that are small as a
 * whole (LeNet-5's are about 1e-5) the absolute part shrinks with them, so
 * that it still tells a right model from a wrong one.
 */
function assertClose(got: { dims: number[]; data: ArrayLike<number> }, want: Tensor, what: string): void {
  assert.deepEqual(got.dims, want.shape, `${what}: shape`);
  let scale = 0;
  for (let i = 0; i < want.size; i++) scale = Math.max(scale, Math.abs(want.data[i]));
  assert.ok(scale > 0, `${what}: stride's output is all zeros, which compares nothing`);
  const abs = Math.min(1e-4, 1e-3 * scale);
  for (let i = 0; i < want.size; i++) {
    const tol = abs + 1e-3 * Math.abs(want.data[i]);
    assert.ok(Math.abs(got.data[i] - want.data[i]) <= tol, `${what}: element ${i} is ${got.data[i]}, stride gives ${want.data[i]}`);
  }
}

function save(name: string, bytes: Uint8Array): void {
  if (OUT_DIR) writeFileSync(join(OUT_DIR, `${name.replace(/[^A-Za-z0-9_.-]+/g, "_")}.onnx`), bytes);
}

interface Case {
  name: string;
  model: Layer;
  example: number[];
  vocab?: number;
  /** Also stride -> ONNX -> importOnnx (models whose every ONNX operator the importer reads). */
  roundTrip?: boolean;
}

/**
 * Exports at opset 17 and 13, runs batches of 1 and 3 through the one
 * symbolic-batch export of each, and compares with stride's noGrad forward.
 */
async function check(c: Case): Promise<void> {
  const model = perturb(c.model, c.example, c.vocab);
  const x1 = input([1, ...c.example], 11, c.vocab);
  const x3 = input([3, ...c.example], 12, c.vocab);
  const y1 = model.forward(x1, { noGrad: true });
  const y3 = model.forward(x3, { noGrad: true });
  for (const opset of [17, 13]) {
    const bytes = exportOnnx(model, c.example, { opset });
    save(`${c.name}-opset${opset}`, bytes);
    const s = await session(bytes);
    assertClose(await runOrt(s, x1), y1, `${c.name} (opset ${opset}, batch 1)`);
    assertClose(await runOrt(s, x3), y3, `${c.name} (opset ${opset}, batch 3)`);
    await s.release();
  }
  if (c.roundTrip) {
    const back = importOnnx(exportOnnx(model, c.example));
    const got = back.forward(x3, { noGrad: true });
    assertClose({ dims: got.shape, data: got.data }, y3, `${c.name} (stride -> ONNX -> stride)`);
  }
}

// --- the zoo ------------------------------------------------------------------------------------

const seed = { seed: 1 };
const ZOO: Case[] = [
  { name: "lenet5", model: models.lenet5(seed), example: [1, 32, 32], roundTrip: true },
  { name: "lenet5-partial-c3", model: models.lenet5({ ...seed, c3: "partial", activation: "relu", pooling: "max" }), example: [1, 32, 32], roundTrip: true },
  { name: "alexnet", model: models.alexnet({ ...seed, widthMultiplier: 1 / 16, inputShape: [3, 67, 67] }), example: [3, 67, 67], roundTrip: true },
  { name: "alexnet-torchvision", model: models.alexnet({ ...seed, variant: "torchvision", widthMultiplier: 1 / 16, inputShape: [3, 63, 63] }), example: [3, 63, 63], roundTrip: true },
  { name: "zfnet", model: models.zfnet({ ...seed, widthMultiplier: 1 / 16, inputShape: [3, 64, 64] }), example: [3, 64, 64], roundTrip: true },
  ...models.VGG_CONFIGS.flatMap((cfg: string) => [false, true].map((bn) => ({
    name: `vgg-${cfg}${bn ? "-bn" : ""}`,
    model: models.vgg(cfg as "A", { ...seed, batchNorm: bn, widthMultiplier: 1 / 16, inputShape: [3, 32, 32], numClasses: 10 }),
    example: [3, 32, 32],
    roundTrip: cfg === "A",
  }))),
  { name: "googlenet", model: models.googlenet({ ...seed, widthMultiplier: 1 / 8, inputShape: [3, 64, 64], numClasses: 10 }), example: [3, 64, 64], roundTrip: true },
  { name: "googlenet-torchvision-aux", model: models.googlenet({ ...seed, variant: "torchvision", aux: true, widthMultiplier: 1 / 8, inputShape: [3, 32, 32], numClasses: 5 }), example: [3, 32, 32], roundTrip: true },
  ...([18, 34, 50, 101, 152] as const).map((d) => ({
    name: `resnet${d}`, model: models.resnet(d, { ...seed, widthMultiplier: 1 / 16, inputShape: [3, 32, 32], numClasses: 10 }), example: [3, 32, 32], roundTrip: d === 18 || d === 50,
  })),
  ...([20, 32, 44, 56, 110] as const).map((d) => ({
    name: `resnet${d}-cifar-A`, model: models.resnetCifar(d, { ...seed, widthMultiplier: 0.25, inputShape: [3, 8, 8] }), example: [3, 8, 8],
  })),
  { name: "resnet20-cifar-B", model: models.resnetCifar(20, { ...seed, shortcut: "B", widthMultiplier: 0.5, inputShape: [3, 16, 16] }), example: [3, 16, 16], roundTrip: true },
  { name: "alphago-policy", model: models.alphagoPolicy({ ...seed, filters: 8, inputShape: [48, 9, 9] }), example: [48, 9, 9], roundTrip: true },
  { name: "allconv", model: models.allConv({ ...seed, widthMultiplier: 1 / 8 }), example: [3, 32, 32], roundTrip: true },
  { name: "textcnn", model: models.textCnn({ ...seed, vocabSize: 50 }), example: [7], vocab: 50 },
];

for (const c of ZOO) {
  test(`zoo: ${c.name} runs in ONNX Runtime with stride's outputs (opsets 17 and 13, batches 1 and 3)${c.roundTrip ? ", and imports back" : ""}`, () => check(c));
}

// --- a model of every layer type ----------------------------------------------------------------

/** Convolutions: groups, dilation, asymmetric and "same" padding (odd total at stride 2), no bias, 1-D. */
function convModel(): Layer {
  return new Sequential([
    new Conv2d({ inChannels: 3, outChannels: 4, kernelSize: 3, stride: [2, 1], padding: [1, 0, 2, 1], name: "asym" }),
    new Conv2d({ inChannels: 4, outChannels: 4, kernelSize: 3, groups: 2, dilation: 2, padding: "same", name: "grouped" }),
    new BatchNorm2d({ numFeatures: 4, eps: 1e-3, name: "bn" }),
    new LeakyReLU({ negativeSlope: 0.2 }),
    new Conv2d({ inChannels: 4, outChannels: 6, kernelSize: [2, 3], stride: 2, padding: "same", name: "same_s2" }),
    new ELU({ alpha: 0.5 }),
    new Conv2d({ inChannels: 6, outChannels: 4, kernelSize: 1, padding: "valid", bias: false, name: "pointwise" }),
    new BatchNorm2d({ numFeatures: 4, affine: false, name: "bn_plain" }),
    new Tanh(),
    new Softmax({ name: "softmax_channels" }), // over axis 1 of [N, C, H, W]
  ]);
}

/** Pooling: max with padding, dilation and ceil mode (a window dropped as PyTorch does), average both ways, LP. */
function poolModel(): Layer {
  return new Sequential([
    new MaxPool2d({ kernelSize: 3, stride: 2, padding: 1, ceilMode: true, name: "max_ceil" }),
    new MaxPool2d({ kernelSize: 2, stride: 1, dilation: 2, name: "max_dilated" }),
    new AvgPool2d({ kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false, name: "avg_ceil_exclude" }),
    new AvgPool2d({ kernelSize: 2, stride: 1, padding: 1, countIncludePad: true, name: "avg_include" }),
    new AvgPool2d({ kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: true, name: "avg_ceil_include" }),
  ]);
}

function lpModel(): Layer {
  return new Sequential([
    new Sigmoid(), // LP pooling of odd p takes x^p: positive inputs keep both sides real
    new LPPool2d({ normType: 2, kernelSize: 2, stride: 2, name: "lp2" }),
    new LPPool2d({ normType: 3, kernelSize: 2, stride: 2, ceilMode: true, name: "lp3_ceil" }),
    new LPPool2d({ normType: 4, kernelSize: 2, stride: 2, ceilMode: true, name: "lp4_ceil" }),
    new LPPool2d({ normType: 1.5, kernelSize: 1, name: "lp1_5" }),
  ]);
}

function normModel(): Layer {
  return new Sequential([
    new LocalResponseNorm({ size: 5, alpha: 1e-2, beta: 0.75, k: 2, name: "lrn5" }),
    new LocalResponseNorm({ size: 4, alpha: 0.5, beta: 0.6, k: 1, name: "lrn4_even" }),
    new LocalResponseNorm({ size: 2, alpha: 1, beta: 1, k: 0.5, name: "lrn2_even" }),
  ]);
}

/** Fully connected: Linear on [N, F] (Gemm) and on [N, C, H, W] (MatMul), BatchNorm1d, Dropout, Softmax, Flatten of a middle range. */
function denseModel(): Layer {
  return new Sequential([
    new Linear({ inFeatures: 5, outFeatures: 3, name: "per_row" }),
    new Flatten({ startDim: 2, name: "flatten_hw" }),
    new BatchNorm1d({ numFeatures: 3, name: "bn_ncl" }),
    new Flatten({ name: "flatten" }),
    new Linear({ inFeatures: 36, outFeatures: 8, name: "fc1" }),
    new BatchNorm1d({ numFeatures: 8, name: "bn1" }),
    new ReLU(),
    new Dropout({ p: 0.5 }),
    new Linear({ inFeatures: 8, outFeatures: 4, bias: false, name: "fc2" }),
    new Softmax(),
  ]);
}

/** The tensor plumbing of imported models. */
function tensorOpsModel(): Layer {
  const scale = new ConstantScale({ shape: [3, 1, 1], name: "scale" });
  scale.scale.data.set([0.5, -2, 3]);
  return new Sequential([
    scale,
    new BiasAdd({ shape: [1, 4, 1], name: "bias" }),
    new Pad({ pads: [0, 1, 2, 0, 0, 0, 1, 3], value: -0.5, name: "pad" }),
    new Transpose({ perm: [0, 2, 3, 1], name: "nhwc" }),
    new IndexSelect({ axis: 3, indices: [3, 0, 1], name: "pick" }),
    new AxisSoftmax({ startDim: 1, endDim: 2, name: "softmax_hw" }),
    new AxisSoftmax({ startDim: -1, name: "softmax_last" }),
    new AxisSoftmax({ startDim: 1, name: "softmax_h" }),
    new Reshape({ shape: [0, -1, 3], name: "reshape" }),
    new IndexSelect({ axis: 2, indices: [1], squeeze: true, name: "squeeze" }),
    new Identity({ name: "same" }),
    new Reshape({ shape: [0, 2, 7, -1], name: "to4d" }),
    new Flatten(),
  ]);
}

/** The zoo's own layers: adaptive pooling (uneven, even, 1x1), the option-A shortcut on an odd size, a position bias, a masked conv. */
function zooLayersModel(): Layer {
  const g = new Graph({ name: "zoo_layers" });
  g.add("masked", new MaskedConv2d({ inChannels: 3, outChannels: 3, kernelSize: 3, padding: 1, connections: [[0], [0, 2], [1, 2, 0]] }), "input")
    .add("posbias", new PositionBias({ shape: [3, 11, 11] }), "masked")
    .add("uneven", new AdaptiveAvgPool2d({ outputSize: [4, 3] }), "posbias")
    .add("uneven_flat", new Flatten(), "uneven")
    .add("shortcut", new ShortcutPad({ inChannels: 3, outChannels: 5, stride: 2 }), "posbias")
    .add("even", new AdaptiveAvgPool2d({ outputSize: [2, 3] }), "shortcut")
    .add("even_flat", new Flatten(), "even")
    .add("one", new AdaptiveAvgPool2d({ outputSize: 1 }), "shortcut")
    .add("one_flat", new Flatten(), "one")
    .add("gap", new GlobalAvgPool2d(), "shortcut")
    .add("gap_flat", new Flatten(), "gap")
    .add("gmp", new GlobalMaxPool2d(), "posbias")
    .add("gmp_flat", new Flatten(), "gmp")
    .add("joined", new Concat({ axis: -1 }), ["uneven_flat", "even_flat", "one_flat", "gap_flat", "gmp_flat"]);
  return g;
}

/** Token ids through both embedding layouts, 1-D convolutions and max over time; a Linear on [N, L, C]. */
function textModel(): Layer {
  const g = new Graph({ name: "text" });
  g.add("embed_ncl", new Embedding({ numEmbeddings: 20, embeddingDim: 4, layout: "NCL" }), "input")
    .add("conv_same", new Conv1d({ inChannels: 4, outChannels: 6, kernelSize: 4, padding: "same" }), "embed_ncl")
    .add("conv_strided", new Conv1d({ inChannels: 6, outChannels: 4, kernelSize: 3, stride: 2, padding: [1, 2], dilation: 2, groups: 2 }), "conv_same")
    .add("max_over_time", new GlobalMaxPool1d(), "conv_strided")
    .add("embed_nlc", new Embedding({ numEmbeddings: 20, embeddingDim: 3 }), "input")
    .add("per_token", new Linear({ inFeatures: 3, outFeatures: 2 }), "embed_nlc")
    .add("tokens_flat", new Flatten(), "per_token")
    .add("joined", new Concat({ axis: 1 }), ["max_over_time", "tokens_flat"]);
  return g;
}

function localModel(): Layer {
  return new Sequential([
    new LocallyConnected2d({ inChannels: 2, outChannels: 3, inputSize: [7, 6], kernelSize: [3, 2], stride: [2, 1], padding: [1, 0], name: "local" }),
    new ReLU(),
    new LocallyConnected2d({ inChannels: 3, outChannels: 2, inputSize: [4, 5], kernelSize: 2, bias: false, name: "local_nobias" }),
  ]);
}

/** Nested containers: a Graph inside a Sequential inside a Graph, a three-way Add (Sum) and a one-input Add. */
function nestedModel(): Layer {
  const inner = new Graph({ name: "inner" });
  inner.add("a", new Conv2d({ inChannels: 4, outChannels: 4, kernelSize: 3, padding: 1 }), "input")
    .add("b", new Conv2d({ inChannels: 4, outChannels: 4, kernelSize: 1 }), "input")
    .add("sum3", new Add(), ["a", "b", "input"])
    .add("relu", new ReLU(), "sum3");
  const block = new Sequential([new Conv2d({ inChannels: 2, outChannels: 4, kernelSize: 1, name: "widen" }), inner], { name: "block" });
  const outer = new Graph({ name: "outer" });
  outer.add("block", block, "input")
    .add("alone", new Add(), ["block"])
    .add("drop", new Dropout({ p: 0.3 }), "alone")
    .add("sig", new Sigmoid(), "drop");
  return outer;
}

const LAYER_CASES: Case[] = [
  { name: "layers-conv", model: convModel(), example: [3, 13, 10], roundTrip: true },
  { name: "layers-pool", model: poolModel(), example: [2, 12, 11] },
  { name: "layers-lppool", model: lpModel(), example: [2, 19, 21] },
  { name: "layers-norm", model: normModel(), example: [7, 3, 2] },
  { name: "layers-dense", model: denseModel(), example: [3, 4, 5] },
  { name: "layers-tensor-ops", model: tensorOpsModel(), example: [3, 4, 5] },
  { name: "layers-zoo", model: zooLayersModel(), example: [3, 11, 11] },
  { name: "layers-text", model: textModel(), example: [9], vocab: 20 },
  { name: "layers-local", model: localModel(), example: [2, 7, 6] },
  { name: "layers-nested", model: nestedModel(), example: [2, 5, 5], roundTrip: true },
];

for (const c of LAYER_CASES) {
  test(`layer types: ${c.name} runs in ONNX Runtime with stride's outputs (opsets 17 and 13, batches 1 and 3)${c.roundTrip ? ", and imports back" : ""}`, () => check(c));
}

test("the layer models and the zoo cover every layer type that exports", () => {
  const seen = new Set<string>();
  for (const c of [...LAYER_CASES, ...ZOO]) for (const [, m] of namedModules(c.model)) seen.add(m.type);
  const missing = [...Object.keys(EMITTERS), ...Object.keys(MERGE_EMITTERS)].filter((t) => !seen.has(t));
  assert.deepEqual(missing, [], `no test model has ${missing.join(", ")}`);
});

test("models made by the library's other tools export too: a fully convolutional VGG on a larger image, a model saved and loaded", async () => {
  const vgg = models.vgg("A", { seed: 4, widthMultiplier: 1 / 16, inputShape: [3, 32, 32], numClasses: 5 });
  await check({ name: "vgg-A-fully-convolutional", model: toFullyConvolutional(vgg, { inputShape: [3, 32, 32] }), example: [3, 48, 40] });
  const dir = mkdtempSync(join(tmpdir(), "stride-onnx-export-"));
  try {
    saveModel(perturb(models.resnetCifar(20, { seed: 5, widthMultiplier: 0.5, inputShape: [3, 8, 8] }), [3, 8, 8]), join(dir, "m"));
    await check({ name: "resnet20-cifar-loaded", model: loadModel(join(dir, "m")) as Layer, example: [3, 8, 8] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// --- PyTorch's numbers -------------------------------------------------------------------------

// The small torchvision fixtures (scripts/gen_torchvision_fixtures.py): PyTorch's weights loaded into
// stride's zoo model, and PyTorch's own ONNX export imported into stride, both exported again, give
// PyTorch's logits in ONNX Runtime.
for (const [name, e] of Object.entries(readIndex(SMALL).models)) {
  test(`torchvision ${name}: PyTorch's weights in stride, and PyTorch's ONNX file through importOnnx, export to ONNX with PyTorch's logits`, async () => {
    const x = readF32(join(SMALL, e.files.input), e.input_shape);
    const want = readF32(join(SMALL, e.files.logits), e.logits_shape);
    const example = e.input_shape.slice(1);
    const model = build(e, { init: false }) as unknown as Layer;
    loadWeights(model, join(SMALL, e.files.pt), { names: "torchvision" });
    const fromWeights = exportOnnx(model, example);
    save(`torchvision-${name}-weights`, fromWeights);
    let s = await session(fromWeights);
    // GoogLeNet's transform_input is not part of stride's model: its input gets it first, as stride's does.
    assertClose(await runOrt(s, e.transform_input ? googlenetTransformInput(x) : x), want, `${name}: weights -> stride -> ONNX`);
    await s.release();

    const again = exportOnnx(importOnnx(join(SMALL, e.files.onnx_opset13)), example, { opset: 13 });
    save(`torchvision-${name}-reexported`, again);
    s = await session(again);
    assertClose(await runOrt(s, x), want, `${name}: PyTorch's ONNX -> stride -> ONNX`);
    await s.release();
  });
}

// --- the graph's form ---------------------------------------------------------------------------

test("nodes are named by the layers' dotted paths and initializers by the parameters; dropout leaves no node; the batch is N", () => {
  const model = models.resnet(18, { seed: 1, widthMultiplier: 1 / 16, inputShape: [3, 32, 32], numClasses: 10 });
  const onnx = decodeOnnxModel(exportOnnx(model, [3, 32, 32]), "resnet18");
  assert.equal(onnx.opset, 17);
  const nodes = new Map(onnx.graph.nodes.map((n) => [n.name, n]));
  const conv = nodes.get("layer1.0.conv1");
  assert.ok(conv && conv.opType === "Conv", "layer1.0.conv1 is a Conv node");
  assert.deepEqual(conv!.inputs.slice(1), ["layer1.0.conv1.weight"]);
  const bn = nodes.get("layer1.0.bn1")!;
  assert.equal(bn.opType, "BatchNormalization");
  assert.deepEqual(bn.inputs.slice(1), ["layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.0.bn1.runningMean", "layer1.0.bn1.runningVar"]);
  assert.ok(Math.abs(bn.attributes.get("epsilon")!.f - 1e-5) < 1e-9);
  const inits = new Set(onnx.graph.initializers.map((t) => t.name));
  for (const [name] of namedParams(model)) assert.ok(inits.has(name), `initializer ${name}`);
  assert.equal(nodes.get("fc")!.opType, "Gemm");
  assert.equal(nodes.get("fc")!.attributes.get("transB")!.i, 1);
  assert.deepEqual(onnx.graph.inputs.map((v) => [v.name, v.shape]), [["input", ["N", 3, 32, 32]]]);
  assert.deepEqual(onnx.graph.outputs.map((v) => [v.name, v.shape]), [["output", ["N", 10]]]);

  const vgg = decodeOnnxModel(exportOnnx(models.vgg("A", { seed: 1, widthMultiplier: 1 / 16, inputShape: [3, 32, 32] }), [3, 32, 32]), "vgg");
  assert.ok(!vgg.graph.nodes.some((n) => n.opType === "Dropout"), "no Dropout nodes in inference form");
});

test("dynamicBatch false fixes the batch; a batch-shaped inputShape gives the batch; saveOnnx writes a file ONNX Runtime loads", async () => {
  const model = perturb(models.lenet5({ seed: 2 }), [1, 32, 32]);
  const x = input([2, 1, 32, 32], 5);
  const want = model.forward(x, { noGrad: true });
  const fixed = exportOnnx(model, [2, 1, 32, 32], { dynamicBatch: false });
  const onnx = decodeOnnxModel(fixed, "fixed");
  assert.deepEqual(onnx.graph.inputs[0].shape, [2, 1, 32, 32]);
  assert.deepEqual(onnx.graph.outputs[0].shape, [2, 10]);
  save("lenet5-fixed-batch", fixed);
  const s = await session(fixed);
  assertClose(await runOrt(s, x), want, "fixed batch of 2");
  await assert.rejects(runOrt(s, input([3, 1, 32, 32], 6)), /dimension|shape|Got/i, "a fixed batch refuses other batch sizes");
  await s.release();

  const dir = mkdtempSync(join(tmpdir(), "stride-onnx-export-"));
  try {
    const path = join(dir, "lenet5.onnx");
    saveOnnx(model, [1, 32, 32], path, { opset: 13 });
    assert.equal(decodeOnnxModel(readFileSync(path), path).opset, 13);
    const fromFile = await ort.InferenceSession.create(path, { intraOpNumThreads: 1 });
    assertClose(await runOrt(fromFile, x), want, "saved file");
    await fromFile.release();
    const imported = importOnnx(path).forward(x, { noGrad: true });
    assertClose({ dims: imported.shape, data: imported.data }, want, "saved file imported");
    assert.throws(() => saveOnnx(model, [1, 32, 32], join(dir, "missing", "m.onnx")), (e: unknown) => e instanceof ModelFileError && /missing\/m\.onnx: cannot be written/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// --- refusals -----------------------------------------------------------------------------------

class Mystery extends Layer {
  readonly type = "Mystery";
  constructor() {
    super(undefined, "mystery");
  }
  config() {
    return {};
  }
  shapeInfo(s: number[]) {
    return { shape: s, notes: [] };
  }
  forward(x: Tensor) {
    return x;
  }
  backward(dy: Tensor) {
    return dy;
  }
}

test("opsets below 13 (and above 17) are refused, naming the supported range", () => {
  const model = models.lenet5({ seed: 1 });
  for (const opset of [9, 12, 18]) {
    assert.throws(() => exportOnnx(model, [1, 32, 32], { opset }), (e: unknown) => {
      assert.ok(e instanceof ModelFileError);
      assert.match(e.message, new RegExp(`opset ${opset} is not supported; stride exports opsets 13 to 17`));
      return true;
    });
  }
});

test("a layer with no ONNX form is named with its path and type, all of them at once; other refusals say how to fix", () => {
  const inner = new Sequential([new Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3, name: "conv" }), new Mystery()], { name: "features" });
  const model = new Sequential([inner, new Flatten(), new Mystery()]);
  assert.throws(() => exportOnnx(model, [1, 8, 8]), (e: unknown) => {
    assert.ok(e instanceof ModelFileError);
    assert.match(e.message, /2 layers have no ONNX form: "features\.mystery1" \(Mystery\), "mystery1" \(Mystery\)/);
    assert.match(e.message, /Layers that export: .*Conv2d/);
    return true;
  });
  const batchStats = new Sequential([new BatchNorm2d({ numFeatures: 1, trackRunningStats: false, name: "bn" })]);
  assert.throws(() => exportOnnx(batchStats, [1, 4, 4]), /layer "bn" \(BatchNorm2d\): it has no running statistics \(trackRunningStats: false\)/);
  assert.throws(() => exportOnnx(models.lenet5(), [1, 2, 32, 32]), /ShapeError|channels/i);
  assert.throws(() => exportOnnx(models.lenet5(), [1, 0, 32]), /inputShape = \[1,0,32\] is not valid/);
});

test("a symbolic batch follows the batch to the output's axes; a model fixed to one batch size must say dynamicBatch: false", () => {
  // The batch moved to the last axis, and one merged into the features.
  const moved = new Sequential([new Flatten(), new Transpose({ perm: [1, 0], name: "t" })]);
  assert.deepEqual(decodeOnnxModel(exportOnnx(moved, [2, 3]), "moved").graph.outputs[0].shape, [6, "N"]);
  const merged = new Sequential([new Reshape({ shape: [-1], name: "all" })]);
  assert.deepEqual(decodeOnnxModel(exportOnnx(merged, [2, 3]), "merged").graph.outputs[0].shape, [null]);
  const fixed = new Sequential([new Reshape({ shape: [2, 15], name: "pairs" })]); // 30 values: one example of [2, 5, 3] only
  assert.throws(() => exportOnnx(fixed, [2, 5, 3]), /takes only a batch of 1 .*pairs.*export with dynamicBatch: false/);
  assert.deepEqual(decodeOnnxModel(exportOnnx(fixed, [2, 5, 3], { dynamicBatch: false }), "fixed").graph.outputs[0].shape, [2, 15]);
});
