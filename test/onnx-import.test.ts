/**
 * importOnnx on small nets exported from PyTorch (scripts/gen_onnx_fixtures.py,
 * opsets 9 and 13): the outputs match PyTorch's, the imported model trains,
 * takes a new head, freezes, saves and reloads; the layers the import adds
 * pass gradient checks; damaged and hostile files give ModelFileError.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as stride from "../src/index.js";
import { decodeOnnxTensor, tensorValues } from "../src/io/onnx/index.js";
import { gradcheck } from "./helpers/gradcheck.js";

// Compiled to dist/test/: the fixtures are two directories up.
const DIR = fileURLToPath(new URL("../../test/fixtures/onnx/", import.meta.url));
const NETS = ["convnet", "residual", "inception", "pool_act", "padding", "lrn_dropout"];

function pb(name: string): stride.Tensor {
  const path = join(DIR, name);
  const t = tensorValues(decodeOnnxTensor(readFileSync(path), path), path);
  return new stride.Tensor(t.dims, Float32Array.from(t.data));
}

function assertClose(got: stride.Tensor, want: stride.Tensor, what: string): void {
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  for (let i = 0; i < want.size; i++) {
    const tol = 1e-4 + 1e-3 * Math.abs(want.data[i]);
    assert.ok(Math.abs(got.data[i] - want.data[i]) <= tol, `${what}: element ${i} is ${got.data[i]}, PyTorch gave ${want.data[i]}`);
  }
}

function graphOf(layer: stride.Layer): stride.Graph {
  assert.ok(layer instanceof stride.Graph, "importOnnx returns a Graph");
  return layer;
}

for (const net of NETS) {
  for (const opset of [9, 13]) {
    test(`${net} (opset ${opset}) gives PyTorch's output`, () => {
      const model = stride.importOnnx(join(DIR, `${net}_opset${opset}.onnx`));
      const y = model.forward(pb(`${net}_input.pb`), { noGrad: true });
      assertClose(y, pb(`${net}_output.pb`), `${net} opset ${opset}`);
    });
  }
}

test("Softmax before opset 13 runs over the axes from `axis` on (2-D coercion), from opset 13 over that one axis", () => {
  const x = pb("softmax_input.pb");
  for (const opset of [11, 13]) {
    const y = stride.importOnnx(join(DIR, `softmax_opset${opset}.onnx`)).forward(x, { noGrad: true });
    assertClose(y, pb(`softmax_opset${opset}_output.pb`), `Softmax axis 1, opset ${opset}`);
  }
});

test("LpPool with asymmetric pads gives PyTorch's L2 pooling of the zero-padded input", () => {
  const y = stride.importOnnx(join(DIR, "lppool.onnx")).forward(pb("lppool_input.pb"), { noGrad: true });
  assertClose(y, pb("lppool_output.pb"), "LpPool");
});

test("Unsqueeze of an activation is a Reshape that keeps any batch", () => {
  const g = graphOf(stride.importOnnx(join(DIR, "unsqueeze_opset13.onnx")));
  assert.deepEqual((g.nodes[0].layer as stride.Reshape).shape, [0, 3, 4, 1]);
  const x = stride.Tensor.randn([2, 3, 4], 7);
  const y = g.forward(x, { noGrad: true });
  assert.deepEqual(y.shape, [2, 3, 4, 1]);
  assert.deepEqual(Array.from(y.data), Array.from(x.data));
});

test("TensorProtos of every element type read to the right numbers, raw and from the typed fields", () => {
  const read = (name: string) => {
    const path = join(DIR, `dtype_${name}.pb`);
    return tensorValues(decodeOnnxTensor(readFileSync(path), path), path);
  };
  const floats = [1.5, -2, 0.25, 3];
  for (const name of ["float_raw", "float_typed", "double_raw", "double_typed", "float16_raw", "float16_typed", "bfloat16_typed"]) {
    const t = read(name);
    assert.deepEqual(Array.from(t.data), floats, name);
    assert.equal(t.integer, false, name);
  }
  assert.deepEqual(read("float_typed").dims, [2, 2]);
  for (const name of ["int64_raw", "int64_typed"]) {
    const t = read(name);
    assert.deepEqual(Array.from(t.data), [-3, 0, 7, 2 ** 40], name);
    assert.equal(t.integer, true, name);
  }
  assert.deepEqual(Array.from(read("int32_raw").data), [-3, 0, 7, 5]);
  assert.deepEqual(Array.from(read("int8_raw").data), [-3, 0, 7, 5]);
  assert.deepEqual(Array.from(read("uint8_raw").data), [3, 0, 7, 255]);
  assert.deepEqual(Array.from(read("bool_raw").data), [1, 0, 1, 1]);
});

test("the same model imports from bytes as from a path", () => {
  const bytes = new Uint8Array(readFileSync(join(DIR, "residual_opset13.onnx")));
  const y = stride.importOnnx(bytes).forward(pb("residual_input.pb"), { noGrad: true });
  assertClose(y, pb("residual_output.pb"), "from bytes");
});

test("nodes are named after the ONNX nodes, and the graph input after the ONNX input (sanitised)", () => {
  const g = graphOf(stride.importOnnx(join(DIR, "residual_opset13.onnx")));
  assert.equal(g.inputName, "input_1"); // "input.1": a dot would split parameter paths
  const names = g.nodes.map((n) => n.name);
  assert.ok(names.includes("/conv1/Conv") && names.includes("/fc/Gemm"), `names: ${names.join(", ")}`);
  assert.ok(g.nodes.some((n) => n.layer instanceof stride.Add && n.inputs.length === 2), "the residual Add joins two branches");
  const s = stride.summary(g, [2, 4, 6, 6]);
  // conv1 4*4*9 + conv2 4*4*9 (batch norms folded by the exporter, biases with them) + their biases 4 + 4, fc 4*3 + 3.
  assert.equal(s.totalParams, 2 * (4 * 4 * 9 + 4) + 4 * 3 + 3);
  assert.ok(s.rows.some((r) => r.name.includes("/conv1/Conv")), "the summary lists the ONNX names");
});

test("x.view(x.size(0), -1) imports as a Reshape that copies the batch, so any batch size runs", () => {
  const g = graphOf(stride.importOnnx(join(DIR, "convnet_opset13.onnx")));
  const reshape = g.nodes.map((n) => n.layer).find((l) => l instanceof stride.Reshape) as stride.Reshape;
  assert.deepEqual(reshape.shape, [0, -1]);
  const x = pb("convnet_input.pb");
  const one = new stride.Tensor([1, ...x.shape.slice(1)], x.data.slice(0, x.size / x.shape[0]));
  const want = pb("convnet_output.pb");
  const y = g.forward(one, { noGrad: true });
  assertClose(y, new stride.Tensor([1, want.shape[1]], want.data.slice(0, want.shape[1])), "batch of 1");
});

test("a zero Pad read only by a Conv folds into the convolution; MatMul + Add becomes one Linear with bias", () => {
  const g = graphOf(stride.importOnnx(join(DIR, "padding_opset13.onnx")));
  const types = g.nodes.map((n) => n.layer.type);
  assert.deepEqual(types, ["Conv2d", "Pad", "MaxPool2d", "Flatten", "Linear"]);
  const conv = g.nodes[0].layer as stride.Conv2d;
  assert.deepEqual(conv.padding, [0, 1, 1, 2]); // F.pad(x, (1, 2, 0, 1)): left 1, right 2, top 0, bottom 1
  assert.equal((g.nodes[1].layer as stride.Pad).value, 0.5);
  assert.ok((g.nodes[4].layer as stride.Linear).bias, "the Add became the Linear's bias");
});

test("BatchNormalization imports its running statistics as buffers and epsilon, and trains as a batch norm", () => {
  const g = graphOf(stride.importOnnx(join(DIR, "convnet_opset9.onnx")));
  const bn = g.nodes.map((n) => n.layer).find((l) => l instanceof stride.BatchNorm2d) as stride.BatchNorm2d;
  assert.ok(bn, "a BatchNorm2d");
  assert.ok(bn.runningVar.data.some((v) => Math.abs(v - 1) > 0.05), "running variances came from the file");
  assert.ok(Math.abs(bn.eps - 1e-5) < 1e-9, `epsilon 1e-5 (a float32 attribute), got ${bn.eps}`);
  assert.ok(Math.abs((bn.momentum ?? 0) - 0.1) < 1e-6, `PyTorch's momentum 0.1, got ${bn.momentum}`);
  const before = bn.runningMean.data.slice();
  g.forward(pb("convnet_input.pb"), { training: true });
  assert.ok(bn.runningMean.data.some((v, i) => v !== before[i]), "a training pass updates the running mean");
});

/** One SGD step on a cross-entropy loss; returns the loss before the step. */
function step(model: stride.Layer, opt: stride.SGD, x: stride.Tensor, labels: number[]): number {
  opt.zeroGrad();
  const logits = model.forward(x, { training: true });
  const { loss, grad } = stride.softmaxCrossEntropy(logits, labels);
  model.backward(grad);
  opt.step();
  return loss;
}

test("an imported model trains: forward, backward and SGD steps change the weights and lower the loss", () => {
  const model = stride.importOnnx(join(DIR, "residual_opset13.onnx"));
  const x = pb("residual_input.pb");
  const labels = [0, 2];
  const params = model.params();
  assert.ok(params.length >= 4 && params.every((p) => p.trainable), "weights are trainable Params");
  const before = params.map((p) => p.value.data.slice());
  const opt = new stride.SGD(params, { lr: 0.05 });
  const first = step(model, opt, x, labels);
  let last = first;
  for (let i = 0; i < 10; i++) last = step(model, opt, x, labels);
  assert.ok(last < first * 0.9, `loss went from ${first} to ${last}`);
  assert.ok(params.every((p, k) => p.value.data.some((v, i) => v !== before[k][i])), "every parameter moved");
});

test("replaceHead and freeze work on an imported model", () => {
  const model = stride.importOnnx(join(DIR, "inception_opset13.onnx"));
  const head = stride.replaceHead(model, { numClasses: 2 });
  assert.equal(head.name, "/fc/Gemm");
  const x = pb("inception_input.pb");
  assert.deepEqual(model.forward(x, { noGrad: true }).shape, [2, 2]);
  const frozen = stride.freeze(model, { until: "/fc/Gemm" });
  assert.ok(frozen.length >= 6, `froze ${frozen.length} parameters`);
  const frozenBefore = frozen.map((p) => p.value.data.slice());
  const headBefore = head.weight.value.data.slice();
  const opt = new stride.SGD(model.params(), { lr: 0.1 });
  step(model, opt, x, [0, 1]);
  assert.ok(frozen.every((p, k) => p.value.data.every((v, i) => v === frozenBefore[k][i])), "frozen weights stay");
  assert.ok(head.weight.value.data.some((v, i) => v !== headBefore[i]), "the new head learns");
});

test("saveModel / loadModel round-trip an imported model, new layers included", () => {
  const dir = mkdtempSync(join(tmpdir(), "stride-onnx-"));
  try {
    for (const net of ["pool_act_opset9", "padding_opset13", "convnet_opset13"]) {
      const model = stride.importOnnx(join(DIR, `${net}.onnx`));
      const x = pb(`${net.replace(/_opset\d+$/, "")}_input.pb`);
      const want = model.forward(x, { noGrad: true });
      stride.saveModel(model, join(dir, net));
      const back = stride.loadModel(join(dir, net));
      assertClose(back.forward(x, { noGrad: true }), want, `${net} reloaded`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("external data loads from the model's folder, and from bytes alone gives a clear error", () => {
  const path = join(DIR, "external", "model.onnx");
  const y = stride.importOnnx(path).forward(pb("lrn_dropout_input.pb"), { noGrad: true });
  assertClose(y, pb("lrn_dropout_output.pb"), "external data");
  assert.throws(() => stride.importOnnx(new Uint8Array(readFileSync(path))), (e: unknown) =>
    e instanceof stride.ModelFileError && /stored outside the model.*from a file path/.test(e.message));
});

test("external data escaping the model's folder is refused", () => {
  assert.throws(() => stride.importOnnx(join(DIR, "escape.onnx")), (e: unknown) =>
    e instanceof stride.ModelFileError && /outside the model's folder/.test(e.message));
});

test("a tensor claiming 2^40 elements with 10 bytes fails at once, naming the tensor", () => {
  assert.throws(() => stride.importOnnx(join(DIR, "huge_dims.onnx")), (e: unknown) =>
    e instanceof stride.ModelFileError && /tensor "huge".*dims \[1048576, 1048576\]/.test(e.message));
});

test("unsupported operators are all listed in one error, with the supported list", () => {
  assert.throws(() => stride.importOnnx(join(DIR, "unknown_ops.onnx")), (e: unknown) => {
    assert.ok(e instanceof stride.ModelFileError);
    assert.match(e.message, /2 nodes use operators stride cannot import: "mystery1" \(Hardmax\), "mystery2" \(Erf\)/);
    assert.match(e.message, /Supported operators: .*Conv/);
    return true;
  });
});

test("graph inputs that are neither initializers nor bound are named in the error", () => {
  // ONNX's own Conv test feeds the weight W as a second input.
  const path = "/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding/model.onnx";
  assert.throws(() => stride.importOnnx(path), (e: unknown) =>
    e instanceof stride.ModelFileError && /"x", "W".*initializers/.test(e.message));
});

test("opts.initializers binds graph inputs: a weight, and a Reshape's shape as a Tensor of whole numbers", () => {
  const data = "/usr/share/libonnx-testdata/data/node";
  const set = (c: string, f: string) => {
    const path = join(data, c, "test_data_set_0", f);
    const t = tensorValues(decodeOnnxTensor(readFileSync(path), path), path);
    return new stride.Tensor(t.dims, Float32Array.from(t.data));
  };
  const conv = "test_conv_with_strides_padding";
  const g = stride.importOnnx(join(data, conv, "model.onnx"), { initializers: { W: set(conv, "input_1.pb") } });
  assertClose(g.forward(set(conv, "input_0.pb"), { noGrad: true }), set(conv, "output_0.pb"), "Conv with W bound");
  const reshape = "test_reshape_negative_dim";
  const shape = set(reshape, "input_1.pb");
  assert.ok(shape.data.every((v) => Number.isInteger(v)) && shape.data.includes(-1));
  const r = stride.importOnnx(join(data, reshape, "model.onnx"), { initializers: { shape } });
  assertClose(r.forward(set(reshape, "input_0.pb"), { noGrad: true }), set(reshape, "output_0.pb"), "Reshape with its shape bound");
  assert.throws(() => stride.importOnnx(join(data, reshape, "model.onnx"), { initializers: { shape: new stride.Tensor([3], [2, -1.5, 2]) } }),
    (e: unknown) => e instanceof stride.ModelFileError && /must hold whole numbers/.test(e.message));
  assert.throws(() => stride.importOnnx(join(data, conv, "model.onnx"), { initializers: { weights: shape } }),
    (e: unknown) => e instanceof stride.ModelFileError && /"weights", which is not an input of the graph \(inputs: x, W\)/.test(e.message));
});

test("truncated, corrupted and non-ONNX bytes give ModelFileError, never another error", () => {
  const good = new Uint8Array(readFileSync(join(DIR, "convnet_opset13.onnx")));
  const isFileError = (e: unknown) => e instanceof stride.ModelFileError;
  assert.throws(() => stride.importOnnx(good.slice(0, good.length - 7)), isFileError);
  assert.throws(() => stride.importOnnx(good.slice(0, 40)), isFileError);
  assert.throws(() => stride.importOnnx(new Uint8Array(0)), isFileError);
  assert.throws(() => stride.importOnnx(new TextEncoder().encode("not an onnx file at all")), isFileError);
  // Field 7 (graph), length-delimited, with a varint length of 2^35: far past the end.
  assert.throws(() => stride.importOnnx(new Uint8Array([0x3a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00])), (e: unknown) =>
    isFileError(e) && /cannot decode/.test((e as Error).message));
  // A varint that never ends.
  assert.throws(() => stride.importOnnx(new Uint8Array([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), isFileError);
  // Random damage: every outcome is a model or a ModelFileError.
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  let refused = 0;
  for (let trial = 0; trial < 300; trial++) {
    const bad = good.slice();
    for (let k = 0; k < 3; k++) bad[Math.floor(rand() * bad.length)] = Math.floor(rand() * 256);
    try {
      stride.importOnnx(bad);
    } catch (e) {
      assert.ok(isFileError(e), `trial ${trial}: ${(e as Error)?.constructor?.name}: ${(e as Error).message}`);
      refused++;
    }
  }
  assert.ok(refused > 0, "some damaged files were refused");
});

test("the layers the import adds pass gradient checks", () => {
  gradcheck(() => new stride.Reshape({ shape: [0, -1, 2] }), [[2, 3, 4]]);
  gradcheck(() => new stride.Pad({ pads: [0, 1, 2, 0, 0, 2, 1, 1], value: 0.5 }), [[1, 2, 3, 3]]);
  gradcheck(() => new stride.GlobalMaxPool2d(), [[2, 3, 3, 4]]);
  gradcheck(() => {
    const b = new stride.BiasAdd({ shape: [3, 1, 1] });
    b.bias.value.data.set([0.5, -1, 2]);
    return b;
  }, [[2, 3, 2, 2]]);
  gradcheck(() => new stride.AxisSoftmax({ startDim: 1, endDim: -1 }), [[2, 3, 2]]);
  gradcheck(() => new stride.AxisSoftmax({ startDim: 0, endDim: 0 }), [[3, 4]]);
  gradcheck(() => new stride.Transpose({ perm: [2, 0, 1] }), [[2, 3, 4]]);
  gradcheck(() => {
    const s = new stride.ConstantScale({ shape: [2, 3] });
    s.scale.data.set([1, 2, 0.5, 3, 1, 1.5]);
    return s;
  }, [[2, 2, 2, 3]]);
});

test("a Pad with -Infinity (before a max pooling) saves and reloads its value", () => {
  const pad = new stride.Pad({ pads: [0, 0, 1, 0, 0, 0, 0, 1], value: -Infinity });
  const back = stride.fromSpec(JSON.parse(JSON.stringify(stride.toSpec(pad)))) as stride.Pad;
  assert.equal(back.value, -Infinity);
  const y = back.forward(new stride.Tensor([1, 1, 1, 1], [2]), { noGrad: true });
  assert.deepEqual(Array.from(y.data), [-Infinity, -Infinity, 2, -Infinity]);
});

test("the new layers refuse inputs they cannot take, with ShapeError", () => {
  assert.throws(() => new stride.Reshape({ shape: [-1, -1] }), stride.ShapeError);
  assert.throws(() => new stride.Reshape({ shape: [5, -1] }).outputShape([2, 3]), /cannot reshape \[2, 3\]/);
  assert.throws(() => new stride.Pad({ pads: [1, 1, 1] }), /begin and an end/);
  assert.throws(() => new stride.Pad({ pads: [0, 0, 1, 1] }).outputShape([1, 2, 3]), /rank 2/);
  assert.throws(() => new stride.BiasAdd({ shape: [4] }).outputShape([2, 3]), /does not broadcast/);
  assert.throws(() => new stride.AxisSoftmax({ startDim: 3 }).outputShape([2, 3]), /axes 3\.\.3/);
  assert.throws(() => new stride.GlobalMaxPool2d().outputShape([2, 3]), stride.ShapeError);
});
