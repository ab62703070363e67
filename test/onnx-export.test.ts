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
  MaskedConv2d, PositionBias, AdaptiveAvgPool2d, ShortcutPad, models, exportOnnx, saveOnnx, importOnnx,
  namedBuffers, namedParams, namedModules, ModelFileError,
} from "../src/index.js";
import { EMITTERS, MERGE_EMITTERS } from "../src/io/onnx/export-ops.js";

const OUT_DIR = process.env.STRIDE_ONNX_EXPORT_DIR;
if (OUT_DIR) mkdirSync(OUT_DIR, { recursive: true });

/** Gives batch-norm running statistics and all-zero parameters (biases) values, so that they matter in the comparison. */
function perturb(model: Layer, seed = 3): Layer {
  const rng = new Rng(seed);
  for (const [name, b] of namedBuffers(model)) {
    if (name.endsWith("runningMean")) for (let i = 0; i < b.value.size; i++) b.value.data[i] = 0.1 * rng.normal();
    if (name.endsWith("runningVar")) for (let i = 0; i < b.value.size; i++) b.value.data[i] = 0.5 + rng.next();
  }
  for (const [, p] of namedParams(model)) {
    if (p.value.data.every((v: number) => v === 0)) for (let i = 0; i < p.value.size; i++) p.value.data[i] = 0.1 * rng.normal();
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

function assertClose(got: { dims: number[]; data: ArrayLike<number> }, want: Tensor, what: string): void {
  assert.deepEqual(got.dims, want.shape, `${what}: shape`);
  for (let i = 0; i < want.size; i++) {
    const tol = 1e-4 + 1e-3 * Math.abs(want.data[i]);
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
  const model = perturb(c.model);
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
