/**
 * ONNX's own backend test cases (Debian's libonnx-testdata), run through
 * importOnnx. Every case whose operators all lie in the imported set is
 * run on each of its test_data_set_N folders: the first non-initializer
 * graph input is the data, the others are bound with opts.initializers, and
 * the first output is compared with ONNX's reference output using the
 * tolerances of onnx's backend test runner: |got - want| <= atol + rtol * |want|
 * with rtol = 1e-3, atol = 1e-7. The cases that are selected but cannot run
 * are listed in SKIPPED with the reason; every other selected case must pass.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as stride from "../src/index.js";
import { decodeOnnxModel, decodeOnnxTensor, tensorValues } from "../src/io/onnx/index.js";

const DATA = "/usr/share/libonnx-testdata/data";

/**
 * The operators of importOnnx's contract, and Mul (by a constant: the
 * transform_input of torchvision's GoogLeNet). A case is selected when all
 * its operators are among them. (The importer also folds Cast, Slice, Transpose,
 * Squeeze and ConstantOfShape on constants, for torch.onnx's F.pad; their
 * own test cases run them on activations, so they do not select a case.)
 */
const CONTRACT_OPERATORS = [
  "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool", "BatchNormalization", "LRN", "Gemm",
  "MatMul", "Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh", "Softmax", "Dropout", "Flatten", "Reshape", "Concat", "Add",
  "Pad", "Constant", "Identity", "Shape", "Gather", "Unsqueeze", "Mul",
];
const RTOL = 1e-3;
const ATOL = 1e-7;

/**
 * Selected cases (all operators in the contract) that the import refuses, and
 * why; each must fail with a ModelFileError (a clear refusal, never a wrong
 * number). The test fails if one of them starts to pass (then drop it from
 * the list) or if a case outside the list fails.
 */
const INTEGER_INPUT = "Integer data inputs: a stride model's input is floating-point (its layers compute in float32).";
const VOLUMETRIC = "3-D (volumetric) convolution, pooling and batch norm: stride's layers are 1-D and 2-D.";
const TRAINING_MODE = "Training-mode outputs (batch statistics, random dropout masks at inference): the import is of inference graphs; the model then trains in stride.";
const SEVERAL_INPUTS = "Several data inputs: a stride model has one input; binding the others as constants leaves a Concat of an activation and a constant, or a batched MatMul/Gemm of a constant, which the import refuses.";
const NOTHING_TO_RUN = "No data input, or an output that does not depend on it (Constant, Shape): nothing for a stride model to compute.";
const GATHER_ON_ACTIVATIONS = "Gather of an activation along the batch axis, or with indices of rank 2: only constant scalar or list indices on another axis (IndexSelect) are imported.";
const NOT_TENSORS = "Optional and sequence values (not tensors): input_0.pb is not a TensorProto.";
const NON_CONSTANT_PAD = "Reflect and edge padding: the import supports constant padding only.";

const SKIPPED: Record<string, string> = {
  // Integer data inputs: a stride model's input is floating-point (its layers compute in float32).
  "node/test_add_uint8": INTEGER_INPUT,
  "node/test_mul_uint8": INTEGER_INPUT,
  "pytorch-operator/test_operator_non_float_params": INTEGER_INPUT,
  "node/test_maxpool_2d_uint8": INTEGER_INPUT,
  "node/test_edge_pad": INTEGER_INPUT,
  "node/test_reflect_pad": INTEGER_INPUT,
  "pytorch-converted/test_Embedding": INTEGER_INPUT,
  "pytorch-converted/test_Embedding_sparse": INTEGER_INPUT,
  // 3-D (volumetric) convolution, pooling and batch norm: stride's layers are 1-D and 2-D.
  "node/test_averagepool_3d_default": VOLUMETRIC,
  "node/test_maxpool_3d_default": VOLUMETRIC,
  "pytorch-converted/test_AvgPool3d": VOLUMETRIC,
  "pytorch-converted/test_AvgPool3d_stride": VOLUMETRIC,
  "pytorch-converted/test_AvgPool3d_stride1_pad0_gpu_input": VOLUMETRIC,
  "pytorch-converted/test_BatchNorm3d_eval": VOLUMETRIC,
  "pytorch-converted/test_BatchNorm3d_momentum_eval": VOLUMETRIC,
  "pytorch-converted/test_Conv3d": VOLUMETRIC,
  "pytorch-converted/test_Conv3d_dilated": VOLUMETRIC,
  "pytorch-converted/test_Conv3d_dilated_strided": VOLUMETRIC,
  "pytorch-converted/test_Conv3d_groups": VOLUMETRIC,
  "pytorch-converted/test_Conv3d_no_bias": VOLUMETRIC,
  "pytorch-converted/test_Conv3d_stride": VOLUMETRIC,
  "pytorch-converted/test_Conv3d_stride_padding": VOLUMETRIC,
  "pytorch-converted/test_MaxPool3d": VOLUMETRIC,
  "pytorch-converted/test_MaxPool3d_stride": VOLUMETRIC,
  "pytorch-converted/test_MaxPool3d_stride_padding": VOLUMETRIC,
  // Training-mode outputs (batch statistics, random dropout masks at inference): the import is of inference graphs; the model then trains in stride.
  "node/test_batchnorm_epsilon_training_mode": TRAINING_MODE,
  "node/test_batchnorm_example_training_mode": TRAINING_MODE,
  "node/test_training_dropout": TRAINING_MODE,
  "node/test_training_dropout_default": TRAINING_MODE,
  "node/test_training_dropout_default_mask": TRAINING_MODE,
  "node/test_training_dropout_mask": TRAINING_MODE,
  "node/test_training_dropout_zero_ratio": TRAINING_MODE,
  "node/test_training_dropout_zero_ratio_mask": TRAINING_MODE,
  // Several data inputs: a stride model has one input; binding the others as constants leaves a Concat of an activation and a constant, or a batched MatMul/Gemm of a constant, which the import refuses.
  "node/test_concat_1d_axis_0": SEVERAL_INPUTS,
  "node/test_concat_1d_axis_negative_1": SEVERAL_INPUTS,
  "node/test_concat_2d_axis_0": SEVERAL_INPUTS,
  "node/test_concat_2d_axis_1": SEVERAL_INPUTS,
  "node/test_concat_2d_axis_negative_1": SEVERAL_INPUTS,
  "node/test_concat_2d_axis_negative_2": SEVERAL_INPUTS,
  "node/test_concat_3d_axis_0": SEVERAL_INPUTS,
  "node/test_concat_3d_axis_1": SEVERAL_INPUTS,
  "node/test_concat_3d_axis_2": SEVERAL_INPUTS,
  "node/test_concat_3d_axis_negative_1": SEVERAL_INPUTS,
  "node/test_concat_3d_axis_negative_2": SEVERAL_INPUTS,
  "node/test_concat_3d_axis_negative_3": SEVERAL_INPUTS,
  "pytorch-operator/test_operator_concat2": SEVERAL_INPUTS,
  "node/test_matmul_3d": SEVERAL_INPUTS,
  "node/test_matmul_4d": SEVERAL_INPUTS,
  "pytorch-operator/test_operator_addmm": SEVERAL_INPUTS,
  // No data input, or an output that does not depend on it (Constant, Shape): nothing for a stride model to compute.
  "node/test_constant": NOTHING_TO_RUN,
  "node/test_shape": NOTHING_TO_RUN,
  "node/test_shape_clip_end": NOTHING_TO_RUN,
  "node/test_shape_clip_start": NOTHING_TO_RUN,
  "node/test_shape_end_1": NOTHING_TO_RUN,
  "node/test_shape_end_negative_1": NOTHING_TO_RUN,
  "node/test_shape_example": NOTHING_TO_RUN,
  "node/test_shape_start_1": NOTHING_TO_RUN,
  "node/test_shape_start_1_end_2": NOTHING_TO_RUN,
  "node/test_shape_start_1_end_negative_1": NOTHING_TO_RUN,
  "node/test_shape_start_negative_1": NOTHING_TO_RUN,
  // Gather of an activation along the batch axis, or with 2-D indices.
  "node/test_gather_0": GATHER_ON_ACTIVATIONS,
  "node/test_gather_2d_indices": GATHER_ON_ACTIVATIONS,
  "node/test_gather_negative_indices": GATHER_ON_ACTIVATIONS,
  // Optional and sequence values (not tensors): input_0.pb is not a TensorProto.
  "node/test_identity_opt": NOT_TENSORS,
  "node/test_identity_sequence": NOT_TENSORS,
  // Reflect and edge padding: the import supports constant padding only.
  "pytorch-converted/test_ReflectionPad2d": NON_CONSTANT_PAD,
  "pytorch-converted/test_ReplicationPad2d": NON_CONSTANT_PAD,
  "pytorch-operator/test_operator_pad": NON_CONSTANT_PAD,
};

interface CaseResult {
  name: string;
  status: "passed" | "skipped" | "unselected" | "failed";
  detail: string;
}

function listCases(): string[] {
  const out: string[] = [];
  for (const group of readdirSync(DATA).sort()) {
    for (const c of readdirSync(join(DATA, group)).sort()) out.push(join(group, c));
  }
  return out;
}

function tensorFile(path: string): stride.Tensor {
  const t = tensorValues(decodeOnnxTensor(readFileSync(path), path), path);
  return new stride.Tensor(t.dims, Float32Array.from(t.data));
}

/** Runs one case folder; throws with what differs. */
function runCase(dir: string): void {
  const modelPath = join(dir, "model.onnx");
  const model = decodeOnnxModel(readFileSync(modelPath), modelPath);
  const initNames = new Set(model.graph.initializers.map((t) => t.name));
  const inputs = model.graph.inputs.filter((i) => !initNames.has(i.name));
  const sets = readdirSync(dir).filter((f) => f.startsWith("test_data_set_")).sort();
  if (sets.length === 0) throw new Error("no test_data_set_N folder");
  for (const set of sets) {
    const files = readdirSync(join(dir, set));
    const fed = inputs.map((_, k) => tensorFile(join(dir, set, `input_${k}.pb`)));
    const initializers: Record<string, stride.Tensor> = {};
    inputs.slice(1).forEach((info, k) => (initializers[info.name] = fed[k + 1]));
    const graph = stride.importOnnx(modelPath, { initializers });
    const y = graph.forward(fed[0], { noGrad: true });
    if (!files.includes("output_0.pb")) throw new Error(`${set} has no output_0.pb`);
    const want = tensorFile(join(dir, set, "output_0.pb"));
    const sameShape = y.shape.length === want.shape.length && y.shape.every((d, i) => d === want.shape[i]);
    // A scalar or [1] output may come back as [1, 1] from layers that keep a batch axis: compare sizes then.
    if (!sameShape && y.size !== want.size) throw new Error(`${set}: shape [${y.shape}], expected [${want.shape}]`);
    for (let i = 0; i < want.size; i++) {
      const w = want.data[i], g = y.data[i];
      const bothNaN = Number.isNaN(w) && Number.isNaN(g);
      if (!bothNaN && !(Math.abs(g - w) <= ATOL + RTOL * Math.abs(w)) && g !== w) {
        throw new Error(`${set}: element ${i} is ${g}, expected ${w} (rtol ${RTOL}, atol ${ATOL})`);
      }
    }
  }
}

function operatorsOf(modelPath: string): string[] {
  const m = decodeOnnxModel(readFileSync(modelPath), modelPath);
  return [...new Set(m.graph.nodes.map((n) => (n.domain && n.domain !== "ai.onnx" ? `${n.domain}.` : "") + n.opType))];
}

test("ONNX backend test cases (libonnx-testdata) whose operators stride imports", () => {
  assert.ok(
    existsSync(DATA),
    `${DATA} is missing: install ONNX's backend test data with \`apt-get install libonnx-testdata\` (CI installs it)`,
  );
  const supported = new Set(CONTRACT_OPERATORS);
  const results: CaseResult[] = [];
  for (const name of listCases()) {
    const dir = join(DATA, name);
    const modelPath = join(dir, "model.onnx");
    if (!existsSync(modelPath)) {
      results.push({ name, status: "unselected", detail: "no model.onnx in the package (downloaded models)" });
      continue;
    }
    const ops = operatorsOf(modelPath);
    const outside = ops.filter((o) => !supported.has(o));
    if (outside.length > 0) {
      results.push({ name, status: "unselected", detail: outside.join(", ") });
      continue;
    }
    const key = name;
    try {
      runCase(dir);
      results.push({ name, status: SKIPPED[key] ? "failed" : "passed", detail: SKIPPED[key] ? "listed as skipped but passes: remove it from SKIPPED" : "" });
    } catch (e) {
      const msg = (e as Error).message.replace(/\s+/g, " ");
      const refused = e instanceof stride.ModelFileError;
      if (SKIPPED[key] && refused) results.push({ name, status: "skipped", detail: SKIPPED[key] });
      else results.push({ name, status: "failed", detail: SKIPPED[key] ? `listed as skipped, but not refused with a ModelFileError: ${msg}` : msg });
    }
  }
  const count = (s: CaseResult["status"]) => results.filter((r) => r.status === s).length;
  const selected = results.filter((r) => r.status !== "unselected").length;
  console.log(
    `ONNX conformance: ${selected} cases selected of ${results.length}: ${count("passed")} passed, ` +
      `${count("skipped")} skipped, ${count("failed")} failed`,
  );
  console.log(`  passed: ${results.filter((r) => r.status === "passed").map((r) => r.name).join(", ")}`);
  for (const r of results.filter((r) => r.status === "skipped")) console.log(`  skipped ${r.name}: ${r.detail}`);
  const failed = results.filter((r) => r.status === "failed");
  for (const r of failed) console.log(`  FAILED ${r.name}: ${r.detail}`);
  assert.equal(failed.length, 0, `${failed.length} ONNX test cases failed:\n${failed.map((r) => `${r.name}: ${r.detail}`).join("\n")}`);
  assert.ok(count("passed") > 50, `only ${count("passed")} cases passed; the selection looks wrong`);
});
