/** Every bad configuration gets a ShapeError that names the layer and the numbers. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as s from "../src/index.js";

/** Asserts that fn throws a ShapeError whose message starts with the layer's name and contains each fragment. */
function refuses(fn: () => unknown, layer: string, ...fragments: (string | RegExp)[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof s.ShapeError, `expected a ShapeError, got ${e}`);
    assert.ok(e.message.startsWith(`${layer}: `), `"${e.message}" does not start with the layer name "${layer}"`);
    for (const f of fragments) {
      if (typeof f === "string") assert.ok(e.message.includes(f), `"${e.message}" does not mention "${f}"`);
      else assert.match(e.message, f);
    }
    assert.ok(!/undefined|NaN/.test(e.message.replace(/NaN is/, "")), `"${e.message}" shows undefined/NaN`);
    return true;
  });
}

test("output size below 1 names the formula and its numbers", () => {
  const conv = new s.Conv2d({ name: "conv3", inChannels: 1, outChannels: 1, kernelSize: 5 });
  refuses(() => conv.outputShape([1, 1, 3, 3]), "conv3", "(3 - 5 + 0)/1 + 1 = -1", "[1, 1, 3, 3]", "below 1");
  refuses(() => conv.forward(s.Tensor.zeros([1, 1, 3, 3])), "conv3", "(3 - 5 + 0)/1 + 1");
  const pool = new s.MaxPool2d({ name: "pool9", kernelSize: 2 });
  refuses(() => pool.outputShape([1, 1, 1, 8]), "pool9", "(H - F + 2P)/S + 1 = (1 - 2 + 0)/2 + 1");
});

test("dilation shows in the formula", () => {
  const conv = new s.Conv2d({ name: "dil", inChannels: 1, outChannels: 1, kernelSize: 3, dilation: 3 });
  refuses(() => conv.outputShape([1, 1, 5, 5]), "dil", "(W + 2P - D(F - 1) - 1)/S + 1 = (5 + 0 - 3*(3 - 1) - 1)/1 + 1 = -1");
});

test("an inexact fit under strict, per layer and per call", () => {
  const conv = new s.Conv2d({ name: "conv1", inChannels: 3, outChannels: 4, kernelSize: 3, stride: 2 });
  assert.deepEqual(conv.outputShape([1, 3, 10, 10]), [1, 4, 4, 4]);
  refuses(() => conv.outputShape([1, 3, 10, 10], { strict: true }), "conv1", "(W - F + 2P)/S + 1 = (10 - 3 + 0)/2 + 1 = 4.5 is not a whole number");
  const pool = new s.MaxPool2d({ name: "pool1", kernelSize: 2, strict: true });
  refuses(() => pool.outputShape([1, 3, 9, 8]), "pool1", "(H - F + 2P)/S + 1 = (9 - 2 + 0)/2 + 1 = 4.5", "height");
});

test("channels that groups does not divide", () => {
  refuses(() => new s.Conv2d({ name: "g", inChannels: 6, outChannels: 4, kernelSize: 3, groups: 4 }), "g", "groups = 4", "inChannels = 6", "6 / 4 = 1.5");
});

test("an input whose channels or rank do not match", () => {
  const conv = new s.Conv2d({ name: "conv2", inChannels: 3, outChannels: 4, kernelSize: 3 });
  refuses(() => conv.outputShape([1, 4, 8, 8]), "conv2", "expects 3 input channels", "[1, 4, 8, 8]", "has 4");
  refuses(() => conv.outputShape([8, 8]), "conv2", "[N, C, H, W]", "rank 2");
  const fc = new s.Linear({ name: "fc6", inFeatures: 100, outFeatures: 10 });
  refuses(() => fc.outputShape([2, 4, 5, 5]), "fc6", "expects 100 input features", "[2, 4, 5, 5]", "Flatten");
  const bn = new s.BatchNorm2d({ name: "bn1", numFeatures: 8 });
  refuses(() => bn.outputShape([2, 4, 3, 3]), "bn1", "expects 8 features", "has 4");
  const c1 = new s.Conv1d({ name: "conv1d", inChannels: 2, outChannels: 2, kernelSize: 9 });
  refuses(() => c1.outputShape([1, 2, 5]), "conv1d", "(L - F + 2P)/S + 1 = (5 - 9 + 0)/1 + 1 = -3", "[1, 2, 5]", "length");
  refuses(() => new s.Add({ name: "add1" }).outputShape([[2, 3], [2, 4]]), "add1", "input 1 has shape [2, 4]", "[2, 3]");
  refuses(() => new s.Concat({ name: "cat" }).outputShape([[2, 3, 4], [2, 3, 5]]), "cat", "[2, 3, 5]", "axis 1");
  const local = new s.LocallyConnected2d({ name: "local3", inChannels: 1, outChannels: 1, inputSize: 6, kernelSize: 3 });
  refuses(() => local.outputShape([1, 1, 7, 6]), "local3", "1x6x6", "[1, 1, 7, 6]");
});

test("impossible hyper-parameters", () => {
  refuses(() => new s.Conv2d({ name: "k0", inChannels: 1, outChannels: 1, kernelSize: 0 }), "k0", "kernelSize = 0");
  refuses(() => new s.Conv2d({ name: "neg", inChannels: 1, outChannels: 1, kernelSize: 3, padding: -1 }), "neg", "padding = -1");
  refuses(() => new s.Conv2d({ name: "str", inChannels: 1, outChannels: 1, kernelSize: 3, stride: 1.5 }), "str", "stride = 1.5");
  refuses(() => new s.Conv2d({ name: "pad", inChannels: 1, outChannels: 1, kernelSize: 3, padding: "full" as any }), "pad", '"full"');
  refuses(() => new s.Dropout({ name: "drop", p: 1.5 }), "drop", "1.5", "[0, 1]");
  refuses(() => new s.MaxPool2d({ name: "mp", kernelSize: 2, padding: 2 }), "mp", "padding = 2", "padding <= 1");
  refuses(() => new s.BatchNorm2d({ name: "bn", numFeatures: 0 }), "bn", "numFeatures = 0");
  refuses(() => new s.BatchNorm2d({ name: "bn", numFeatures: 2, momentum: 2 }), "bn", "momentum = 2");
  refuses(() => new s.LPPool2d({ name: "lp", normType: -1, kernelSize: 2 }), "lp", "normType = -1");
  refuses(() => new s.Linear({ name: "fc", inFeatures: 3, outFeatures: 2, init: "magic" as any }), "fc", '"magic"', '"he"');
  refuses(() => new s.Conv1d({ name: "c1", inChannels: 1, outChannels: 1, kernelSize: 3, stride: 2, padding: "same" }), "c1", "stride 1");
});

test("batch-norm training on a single value per feature", () => {
  const bn = new s.BatchNorm1d({ name: "bn7", numFeatures: 3 });
  refuses(() => bn.forward(s.Tensor.zeros([1, 3]), { training: true }), "bn7", "more than 1 value", "[1, 3]");
});

test("a Sequential names its layers as the notes do, and errors use those names", () => {
  const net = new s.Sequential([
    new s.Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3 }), new s.ReLU(), new s.MaxPool2d({ kernelSize: 2 }),
    new s.Conv2d({ inChannels: 2, outChannels: 2, kernelSize: 3 }), new s.ReLU(), new s.MaxPool2d({ kernelSize: 2 }),
    new s.Flatten(), new s.Linear({ inFeatures: 8, outFeatures: 2 }),
  ]);
  assert.deepEqual(net.layers.map((l) => l.name), ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten1", "fc1"]);
  refuses(() => net.outputShape([1, 1, 5, 5]), "conv2", "(1 - 3 + 0)/1 + 1 = -1", "[1, 2, 1, 1]");
  refuses(() => net.outputShape([1, 1, 18, 18]), "fc1", "expects 8 input features", "[1, 18]");
});

test("bad tensors, labels and backward calls get clear errors", () => {
  assert.throws(() => new s.Tensor([2, 3], [1, 2, 3]), /holds 6 values but the data has 3/);
  assert.throws(() => new s.Tensor([2, -1]), /every dimension must be a whole number >= 0/);
  assert.throws(() => s.softmaxCrossEntropy(s.Tensor.zeros([2, 3]), [0, 3]), /label 3 of example 1 is not a class index in \[0, 3\)/);
  assert.throws(() => s.softmaxCrossEntropy(s.Tensor.zeros([2, 3]), [0]), /got 1 labels for a batch of 2/);
  assert.throws(() => s.multiClassHinge(s.Tensor.zeros([2, 3, 2]), [0, 1]), /expects logits \[N, C\]/);
  const conv = new s.Conv2d({ name: "c", inChannels: 1, outChannels: 1, kernelSize: 1 });
  assert.throws(() => conv.backward(s.Tensor.zeros([1, 1, 2, 2])), /c: backward\(\) was called without a forward pass/);
  conv.forward(s.Tensor.zeros([1, 1, 2, 2]));
  assert.throws(() => conv.backward(s.Tensor.zeros([1, 1, 3, 2])), /c: backward\(\) got a gradient of shape \[1, 1, 3, 2\] but the last forward produced \[1, 1, 2, 2\]/);
  const g = new s.Graph();
  assert.throws(() => g.add("a", new s.ReLU(), "nothing"), /reads "nothing", which is not the input/);
});

test("a model given something that is not a Tensor says so", () => {
  const net = new s.Sequential([new s.Conv2d({ inChannels: 1, outChannels: 1, kernelSize: 1 })]);
  refuses(() => net.forward([1, 2, 3] as any), "sequential", "expects a Tensor", "an array of length 3");
  refuses(() => new s.Graph().add("a", new s.ReLU(), "input").forward(new Float32Array(4) as any), "graph", "a Float32Array");
  refuses(() => new s.Conv2d({ name: "c", inChannels: 1, outChannels: 1, kernelSize: 1 }).outputShape(undefined as any), "c", "got no value");
});

test("a misspelt layer option is refused with a suggestion and the valid options", () => {
  const bad = (o: object) => o as any; // the point is to pass what the types forbid
  refuses(() => new s.Conv2d(bad({ inChannels: 1, outChannels: 2, kernal_size: 3 })), "Conv2d",
    "unknown option kernal_size: did you mean kernelSize?", "valid options: inChannels, outChannels, kernelSize");
  refuses(() => new s.MaxPool2d(bad({ kernelSize: 2, strides: 2 })), "MaxPool2d", "strides: did you mean stride?");
  refuses(() => new s.Linear(bad({ inFeatures: 4, outFeature: 2 })), "Linear", "outFeature: did you mean outFeatures?");
  refuses(() => new s.BatchNorm2d(bad({ numFeatures: 4, momentun: 0.1 })), "BatchNorm2d", "momentun: did you mean momentum?");
  refuses(() => new s.Dropout(bad({ rate: 0.5 })), "Dropout", "unknown option rate (valid options: p, name, rng)");
  refuses(() => new s.ReLU(bad({ inplace: true })), "ReLU", "unknown option inplace");
  refuses(() => new s.models.AdaptiveAvgPool2d(bad({ output_size: 1 })), "AdaptiveAvgPool2d", "output_size: did you mean outputSize?");
  refuses(() => new s.Sequential([], bad({ nam: "x" })), "Sequential", "nam: did you mean name?");
  refuses(() => new s.Graph(bad({ inputs: "x" })), "Graph", "inputs: did you mean input?");
  // Several unknown keys are all named.
  refuses(() => new s.Conv2d(bad({ inChannels: 1, outChannels: 2, kernelSize: 3, padd: 1, foo: 1 })), "Conv2d",
    "unknown options padd: did you mean padding?; foo (valid options");
});

test("every zoo model still builds and survives a save/load round trip", () => {
  const fast = { init: false } as const;
  const zoo: s.Layer[] = [
    s.models.lenet5(fast), s.models.lenet5({ ...fast, c3: "partial" }), s.models.alexnet(fast), s.models.zfnet(fast),
    s.models.vgg16(fast), s.models.googlenet({ ...fast, aux: true }), s.models.resnet(18, fast), s.models.resnet(50, fast),
    s.models.resnetCifar(20, fast), s.models.alphagoPolicy(fast), s.models.allConv(fast), s.models.textCnn(fast),
  ];
  for (const m of zoo) {
    const spec = s.toSpec(m);
    assert.deepEqual(s.toSpec(s.fromSpec(JSON.parse(JSON.stringify(spec)))), spec, m.name);
  }
  const model = s.models.lenet5();
  const x = s.Tensor.rand([2, 1, 32, 32]);
  const { json, weights } = s.encodeModel(model);
  const loaded = s.decodeModel(json, weights).model;
  assert.deepEqual(loaded.forward(x).data, model.forward(x).data);
});

test("a tensor built from nested arrays is told to flatten them", () => {
  const nested = [[1, 2], [3, 4]] as any; // what the types forbid, as a JS caller would write it
  assert.throws(() => new s.Tensor([2, 2], nested), /Tensor: the data is a nested array; pass it flat in row-major order \(e\.g\. new Tensor\(\[2, 2\], nested\.flat\(Infinity\)\)\)/);
  // Same length as the shape: without the check these would be NaNs.
  assert.throws(() => new s.Tensor([2], nested), /nested array/);
  assert.throws(() => new s.Tensor([2, 2], [new Float32Array(2), new Float32Array(2)] as any), /nested array/);
  assert.throws(() => new s.Tensor([2, 3], [1, 2, 3]), /shape \[2, 3\] holds 6 values but the data has 3; pass exactly 6 numbers \(2 × 3\) in row-major order/);
  assert.throws(() => new s.Tensor([2], "12" as any), /must be a Float32Array or an array of numbers, got string/);
  assert.deepEqual([...new s.Tensor([2, 2], nested.flat(Infinity)).data], [1, 2, 3, 4]);
});

test("nested data passed where the shape goes is told apart, with the call to write instead", () => {
  const nested = [[1, 2, 3], [4, 5, 6]] as any;
  assert.throws(() => new s.Tensor(nested), (e: unknown) =>
    e instanceof s.TensorError &&
    /the first argument is the shape, but it holds nested arrays/.test((e as Error).message) &&
    (e as Error).message.includes("new Tensor([2, 3], values.flat(Infinity))"));
  // Ragged: no shape to suggest, still the same advice.
  assert.throws(() => new s.Tensor([[1, 2], [3]] as any), /the first argument is the shape.*new Tensor\(shape, flatValues\)/);
  assert.throws(() => new s.Tensor([new Float32Array(4)] as any), /new Tensor\(\[1, 4\], values\.flat\(Infinity\)\)/);
});

test("a tensor's own errors are TensorErrors: shape, data, reshape, index", () => {
  const t = new s.Tensor([2, 3]);
  const cases: [() => unknown, RegExp][] = [
    [() => new s.Tensor([2, -1]), /every dimension must be a whole number >= 0/],
    [() => new s.Tensor([2], [1, 2, 3]), /holds 2 values but the data has 3/],
    [() => t.reshape([4, 2]), /the sizes must agree/],
    [() => t.reshape([4, -1]), /cannot reshape \[2, 3\] into \[4, -1\]/],
    [() => t.get(2, 0), /index \[2, 0\] is out of bounds for shape \[2, 3\]/],
    [() => t.get(0), /index \[0\] has 1 dimensions, the tensor 2/],
  ];
  for (const [fn, message] of cases) {
    assert.throws(fn, (e: unknown) => e instanceof s.TensorError && e instanceof s.StrideError && e.name === "TensorError" && message.test((e as Error).message));
  }
});

test("every error the library raises on purpose is a StrideError and keeps its name", () => {
  const errors: [Error, string][] = [
    [new s.ShapeError("conv1", "bad"), "ShapeError"],
    [new s.ModelFileError("m.json", "bad"), "ModelFileError"],
    [new s.TrainingDivergedError(1, 2, NaN, 0.1), "TrainingDivergedError"],
    [new s.IdxFormatError("a.idx", "bad"), "IdxFormatError"],
    [new s.CifarFormatError("b.bin", "bad"), "CifarFormatError"],
    [new s.ImageReadError("c.png", "bad"), "ImageReadError"],
    [new s.PytorchExportError("bad"), "PytorchExportError"],
    [new s.TensorError("bad"), "TensorError"],
  ];
  for (const [e, name] of errors) {
    assert.ok(e instanceof s.StrideError && e instanceof Error, name);
    assert.equal(e.name, name);
    assert.match(String(e), new RegExp(`^${name}: `));
  }
  // Fields and messages are as before.
  const m = new s.ModelFileError("m.json", "truncated");
  assert.equal(m.message, "m.json: truncated");
  assert.equal(m.path, "m.json");
  assert.equal(m.problem, "truncated");
  assert.equal(new s.ShapeError("conv1", "bad", [1, 2]).layer, "conv1");
  assert.equal(new s.TrainingDivergedError(3, 4, NaN, 0.1).epoch, 3);
  // A real thrown one: a shape error from a layer.
  assert.throws(() => new s.Conv2d({ inChannels: 1, outChannels: 1, kernelSize: 0 }), s.StrideError);
  assert.ok(!(new Error("x") instanceof s.StrideError));
});

test("sizes past what the kernels index (2^31 - 1) are refused where the layer is built, and CLI errors are StrideErrors", async () => {
  // 1e308 is a whole number to JavaScript; a stride of 2^32 once reached the wasm kernel as 0.
  assert.throws(() => new s.Conv2d({ inChannels: 1, outChannels: 1, kernelSize: 3, stride: 2 ** 32 }), /stride = 4294967296 is not valid; it must be a whole number from 1 to 2,147,483,647/);
  assert.throws(() => new s.Linear({ inFeatures: 1e308, outFeatures: 2 }), /inFeatures = 1e\+308 is not valid/);
  assert.throws(() => new s.MaxPool2d({ kernelSize: 2 ** 31 }), s.ShapeError);
  assert.equal(new s.Conv2d({ inChannels: 1, outChannels: 1, kernelSize: 3, stride: 2 ** 31 - 1, meta: true }).stride[0], 2 ** 31 - 1);
  const { CliError } = await import("../src/cli/errors.js");
  const e = new CliError("--epochs 0 is not valid");
  assert.ok(e instanceof s.StrideError);
  assert.equal(e.name, "CliError");
});
