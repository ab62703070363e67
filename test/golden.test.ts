/**
 * Golden tests: every layer and loss that PyTorch also has, replayed from the
 * fixtures scripts/gen_fixtures.py recorded with PyTorch, on every backend.
 * In the order of tinygrad's helper_test_op: the output shape, then the
 * output values, then the gradient w.r.t. every input and every parameter
 * (and, for batch-norm, the running statistics after the forward pass).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import * as stride from "../src/index.js";
import {
  loadFixtures, checkShape, checkValues, checkScalar,
  type LayerCase, type LossCase, type TensorJson,
} from "./helpers/golden.js";

// Compiled to dist/test/golden.test.js: the fixtures are two directories up, in test/fixtures.
const FIXTURE_DIR = fileURLToPath(new URL("../../test/fixtures/", import.meta.url));
const fixtures = loadFixtures(FIXTURE_DIR);

/** The package's exports by name: classes and functions are looked up from the recorded names. */
const exported = stride as unknown as Record<string, unknown>;

function tensorOf(t: TensorJson): stride.Tensor {
  return new stride.Tensor(t.shape, t.data);
}

/** Builds the stride layer the case names, from its recorded options. */
function buildLayer(c: LayerCase): stride.Layer | stride.MergeLayer {
  const Ctor = exported[c.class];
  if (typeof Ctor !== "function") {
    throw new Error(`${c.name}: stride does not export a class ${c.class} (the fixture expects one)`);
  }
  // A copy, so that a layer that keeps or normalises its options cannot change the fixture.
  const layer: unknown = new (Ctor as new (opts: unknown) => unknown)(structuredClone(c.options));
  if (!(layer instanceof stride.Layer) && !(layer instanceof stride.MergeLayer)) {
    throw new Error(`${c.name}: new ${c.class}(...) is neither a Layer nor a MergeLayer`);
  }
  return layer;
}

/** Copies the recorded parameters and buffers into the layer, checking names and shapes. */
function loadState(c: LayerCase, layer: stride.Layer | stride.MergeLayer): Map<string, stride.Param> {
  const params = new Map(layer.params().map((p) => [p.name, p]));
  assert.deepEqual(
    [...params.keys()].sort(), Object.keys(c.params).sort(),
    `${c.name}: stride's ${c.class} has parameters [${[...params.keys()]}], PyTorch's [${Object.keys(c.params)}]`,
  );
  for (const [name, value] of Object.entries(c.params)) {
    const p = params.get(name)!;
    checkShape(`${c.name}: parameter ${name}`, p.value.shape, value.shape);
    p.value.data.set(value.data);
    assert.ok(p.grad.data.every((g) => g === 0), `${c.name}: ${name}.grad of a new layer should start at zero`);
  }
  const buffers = new Map(layer.buffers().map((b) => [b.name, b]));
  for (const [name, value] of Object.entries(c.buffers)) {
    const b = buffers.get(name);
    if (!b) throw new Error(`${c.name}: stride's ${c.class} has no buffer "${name}" (buffers: [${[...buffers.keys()]}])`);
    checkShape(`${c.name}: buffer ${name}`, b.value.shape, value.shape);
    b.value.data.set(value.data);
  }
  return params;
}

function runLayerCase(c: LayerCase): void {
  const layer = buildLayer(c);
  const params = loadState(c, layer);
  const inputs = c.inputs.map(tensorOf);
  const ctx = { training: c.training };
  const exp = c.expected;

  // 1. Shape: what the layer predicts without computing, then what it computes.
  let y: stride.Tensor;
  if (layer instanceof stride.MergeLayer) {
    checkShape(`${c.name}: outputShape()`, layer.outputShape(inputs.map((x) => x.shape)), exp.output.shape);
    y = layer.forward(inputs, ctx);
  } else {
    assert.equal(inputs.length, 1, `${c.name}: a single-input layer with ${inputs.length} recorded inputs`);
    checkShape(`${c.name}: outputShape()`, layer.outputShape(inputs[0].shape), exp.output.shape);
    y = layer.forward(inputs[0], ctx);
  }
  checkShape(`${c.name}: output`, y.shape, exp.output.shape);

  // 2. Values.
  checkValues(`${c.name}: output`, y.data, exp.output);

  // 3. Gradients w.r.t. every input, then every parameter.
  const dxs = layer instanceof stride.MergeLayer ? layer.backward(tensorOf(c.dy)) : [layer.backward(tensorOf(c.dy))];
  assert.equal(dxs.length, exp.inputGrads.length, `${c.name}: backward returned ${dxs.length} input gradients, expected ${exp.inputGrads.length}`);
  dxs.forEach((dx, i) => {
    const what = dxs.length > 1 ? `gradient w.r.t. input ${i}` : "gradient w.r.t. the input";
    checkShape(`${c.name}: ${what}`, dx.shape, exp.inputGrads[i].shape);
    checkValues(`${c.name}: ${what}`, dx.data, exp.inputGrads[i]);
  });
  for (const [name, g] of Object.entries(exp.paramGrads)) {
    const p = params.get(name)!;
    checkShape(`${c.name}: gradient w.r.t. ${name}`, p.grad.shape, g.shape);
    checkValues(`${c.name}: gradient w.r.t. ${name}`, p.grad.data, g);
  }

  // 4. Buffers after the forward pass (running statistics).
  const buffers = new Map(layer.buffers().map((b) => [b.name, b]));
  for (const [name, value] of Object.entries(exp.buffers)) {
    checkValues(`${c.name}: ${name} after forward`, buffers.get(name)!.value.data, value);
  }
}

type LossFn = (logits: stride.Tensor, labels: number[], margin?: number) => { loss: number; grad: stride.Tensor };

function runLossCase(c: LossCase): void {
  const fn = exported[c.function];
  if (typeof fn !== "function") throw new Error(`${c.name}: stride does not export a function ${c.function}`);
  const logits = tensorOf(c.logits);
  const args: [stride.Tensor, number[], number?] = [logits, c.labels.slice()];
  if (c.options.margin !== undefined) args.push(c.options.margin);
  const { loss, grad } = (fn as LossFn)(...args);
  checkScalar(`${c.name}: loss`, loss, c.expected.loss);
  checkShape(`${c.name}: gradient w.r.t. the logits`, grad.shape, c.expected.grad.shape);
  checkValues(`${c.name}: gradient w.r.t. the logits`, grad.data, c.expected.grad);
  assert.deepEqual(logits.data, new Float32Array(c.logits.data), `${c.name}: the loss changed its logits`);
}

for (const backend of stride.listBackends()) {
  for (const file of fixtures) {
    for (const c of file.cases) {
      test(`golden [${backend}] ${file.family}: ${c.name}`, () => {
        const previous = stride.getBackend().name;
        stride.setBackend(backend);
        try {
          if (c.kind === "layer") runLayerCase(c);
          else runLossCase(c);
        } finally {
          stride.setBackend(previous);
        }
      });
    }
  }
}

// ---------------------------------------------------------------------------
// Coverage: a layer added to stride without fixtures is noticed.

/** Every stride layer and loss with a PyTorch equivalent (API.md), each of which needs fixtures. */
const WITH_PYTORCH_EQUIVALENT = [
  "Conv2d", "Conv1d", "MaxPool2d", "AvgPool2d", "LPPool2d", "GlobalAvgPool2d", "GlobalMaxPool1d", "Linear",
  "BatchNorm2d", "BatchNorm1d", "LocalResponseNorm", "ReLU", "LeakyReLU", "ELU", "Tanh", "Sigmoid", "Softmax",
  "Dropout", "Flatten", "Concat", "Add", "Embedding", "softmaxCrossEntropy", "multiClassHinge", "AdaptiveAvgPool2d",
];

/** Exported layer classes that have no single PyTorch layer to compare with, and why. */
const WITHOUT_PYTORCH_EQUIVALENT: Record<string, string> = {
  Module: "abstract base",
  Layer: "abstract base",
  MergeLayer: "abstract base",
  LocallyConnected2d: "PyTorch has no locally connected layer",
  Sequential: "a container: its layers are tested one by one",
  Graph: "a container: its layers are tested one by one",
  MaskedConv2d: "LeNet-5's partial C3 connectivity has no PyTorch layer (gradient-checked in test/zoo.test.ts)",
  PositionBias: "the AlphaGo policy net's per-position bias has no PyTorch layer (gradient-checked in test/zoo.test.ts)",
  ShortcutPad: "the CIFAR ResNets' zero-padding shortcut has no PyTorch layer (gradient-checked in test/zoo.test.ts)",
};

const covered = new Set(fixtures.flatMap((f) => f.cases.map((c) => (c.kind === "layer" ? c.class : c.function))));

test("golden fixtures cover every layer and loss that has a PyTorch equivalent", () => {
  const missing = WITH_PYTORCH_EQUIVALENT.filter((name) => !covered.has(name));
  assert.deepEqual(missing, [], `no golden fixtures for ${missing.join(", ")}: add cases to scripts/gen_fixtures.py and re-run it`);
});

test("every exported layer class has golden fixtures or a stated reason not to", () => {
  const layerClasses = Object.entries(exported)
    .filter(([, v]) => typeof v === "function" && (v === stride.Module || (v as { prototype?: unknown }).prototype instanceof stride.Module))
    .map(([name]) => name);
  assert.ok(layerClasses.includes("Conv2d"), "the layer classes are found among the exports");
  const unaccounted = layerClasses.filter((name) => !covered.has(name) && !(name in WITHOUT_PYTORCH_EQUIVALENT));
  assert.deepEqual(
    unaccounted, [],
    `exported layer classes without golden fixtures: ${unaccounted.join(", ")}; add PyTorch cases to scripts/gen_fixtures.py, ` +
      `or, if PyTorch has no such layer, list it in WITHOUT_PYTORCH_EQUIVALENT in test/golden.test.ts with the reason`,
  );
});

test("every fixture names a stride export", () => {
  const unknown = [...covered].filter((name) => typeof exported[name] !== "function");
  assert.deepEqual(unknown, [], `fixtures name ${unknown.join(", ")}, which stride does not export`);
});
