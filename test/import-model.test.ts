/**
 * importModelBytes: the small torchvision fixtures (scripts/gen_torchvision_fixtures.py)
 * as bytes give PyTorch's logits, whichever file they come in; the info it
 * records (ImageNet's classes for 1,000 outputs, ImageNet's normalisation for
 * RGB, GoogLeNet's transform_input folded into it); and its errors.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import {
  importModelBytes, Tensor, ModelFileError, IMAGENET_CLASSES, IMAGENET_NORMALIZATION, googlenetTransformInput,
  normalizeTensor, encodeSafetensors, readTorchCheckpoint, decodeSafetensors, summary, type Layer,
} from "../src/index.js";

const SMALL = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "test", "fixtures", "torchvision");

interface FixtureModel {
  options: { inputShape: number[]; numClasses: number; widthMultiplier: number };
  transform_input: boolean;
  input_shape: number[];
  logits_shape: number[];
  parameters: number;
  files: Record<string, string>;
}
const index = JSON.parse(readFileSync(join(SMALL, "index.json"), "utf8")) as { models: Record<string, FixtureModel> };
const bytesOf = (file: string): Uint8Array => new Uint8Array(readFileSync(join(SMALL, file)));

function readF32(file: string, shape: number[]): Tensor {
  const b = readFileSync(join(SMALL, file));
  return new Tensor(shape, new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
}

function assertClose(got: Tensor, want: Tensor, what: string): void {
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  let worst = 0;
  for (let i = 0; i < want.data.length; i++) worst = Math.max(worst, Math.abs(got.data[i] - want.data[i]) - 1e-3 * Math.abs(want.data[i]));
  assert.ok(worst <= 1e-4, `${what}: logits differ from PyTorch's by ${worst} beyond 1e-3 relative`);
}

function logits(model: Layer, e: FixtureModel, x: Tensor): Tensor {
  return model.forward(e.transform_input ? googlenetTransformInput(x) : x, { noGrad: true });
}

describe("importModelBytes on the torchvision fixtures", () => {
  for (const [arch, e] of Object.entries(index.models)) {
    for (const kind of ["pt", "legacy_pt", "checkpoint_pt", "safetensors"] as const) {
      test(`${arch} from ${e.files[kind]} gives PyTorch's logits`, () => {
        const imported = importModelBytes(e.files[kind], bytesOf(e.files[kind]), { inputShape: e.options.inputShape });
        assert.equal(imported.arch, arch);
        assert.equal(imported.format, kind === "safetensors" ? "safetensors" : "torch");
        // GoogLeNet's auxiliary heads (in the fixture's count) are left out, as torchvision's pretrained googlenet does.
        const aux = [...readTorchCheckpoint(bytesOf(e.files.pt), e.files.pt)].filter(([k]) => /^aux[12]\./.test(k) && !/running_|num_batches/.test(k)).reduce((n, [, t]) => n + t.data.length, 0);
        assert.equal(summary(imported.model, e.options.inputShape).totalParams, e.parameters - aux, "parameter count");
        assert.deepEqual(imported.info.inputShape, e.options.inputShape);
        assert.equal(imported.info.classes, undefined, "10 outputs are not ImageNet's classes");
        assert.match(imported.description, new RegExp(`^torchvision ${arch} \\(width x${e.options.widthMultiplier}, 10 classes, input ${e.options.inputShape.join("x")}`));
        const x = readF32(e.files.input, e.input_shape);
        assertClose(logits(imported.model, e, x), readF32(e.files.logits, e.logits_shape), `${arch} (${e.files[kind]})`);
      });
    }
  }
});

test("RGB models record ImageNet's normalisation; GoogLeNet's transform_input is folded into it exactly", () => {
  const r = importModelBytes("resnet18.pt", bytesOf("resnet18.pt"), { inputShape: [3, 64, 64] });
  assert.deepEqual(r.info.normalization, { mean: [...IMAGENET_NORMALIZATION.mean], std: [...IMAGENET_NORMALIZATION.std] });
  assert.deepEqual(r.info.extra, { model: "resnet18", importedFrom: "resnet18.pt", format: "torch" });

  const g = index.models.googlenet;
  const imported = importModelBytes("googlenet.pt", bytesOf("googlenet.pt"), { inputShape: g.options.inputShape });
  assert.match(imported.description, /transform_input folded into the normalisation/);
  // The fixture's input is ImageNet-normalised: back to pixels, then through the recorded normalisation.
  const x = readF32(g.files.input, g.input_shape);
  const pixels = new Tensor(x.shape, x.data.slice());
  const plane = x.shape[2] * x.shape[3];
  for (let i = 0; i < pixels.data.length; i++) {
    const c = Math.floor(i / plane) % 3;
    pixels.data[i] = x.data[i] * IMAGENET_NORMALIZATION.std[c] + IMAGENET_NORMALIZATION.mean[c];
  }
  normalizeTensor(pixels, imported.info.normalization!);
  const want = googlenetTransformInput(x);
  let worst = 0;
  for (let i = 0; i < want.data.length; i++) worst = Math.max(worst, Math.abs(pixels.data[i] - want.data[i]));
  assert.ok(worst < 1e-5, `the folded normalisation differs from transform_input by ${worst}`);
  assertClose(imported.model.forward(pixels, { noGrad: true }), readF32(g.files.logits, g.logits_shape), "googlenet through the folded normalisation");

  const plain = importModelBytes("googlenet.pt", bytesOf("googlenet.pt"), { inputShape: g.options.inputShape, transformInput: false });
  assert.deepEqual(plain.info.normalization?.mean, [...IMAGENET_NORMALIZATION.mean]);
});

test("1,000 outputs get ImageNet's class names; the default input is 224x224", () => {
  const { tensors } = decodeSafetensors(bytesOf("resnet18.safetensors"));
  const features = (tensors.get("fc.weight") as Tensor).shape[1];
  tensors.set("fc.weight", new Tensor([1000, features]));
  tensors.set("fc.bias", new Tensor([1000]));
  const imported = importModelBytes("wide-head.safetensors", encodeSafetensors(tensors));
  assert.deepEqual(imported.info.classes, [...IMAGENET_CLASSES]);
  assert.deepEqual(imported.info.inputShape, [3, 224, 224]);
  assert.match(imported.description, /ImageNet's 1,000 classes, input 3x224x224/);
  assert.deepEqual(imported.model.outputShape([1, 3, 224, 224]), [1, 1000]);
  assert.deepEqual(importModelBytes("wide-head.safetensors", encodeSafetensors(tensors), { imageSize: 96 }).info.inputShape, [3, 96, 96]);
});

test("errors name the file and say what to do", () => {
  const pt = bytesOf("resnet18.pt");
  assert.throws(() => importModelBytes("resnet18.pt", pt.subarray(0, 5000)), (e: Error) => e instanceof ModelFileError && e.message.startsWith("resnet18.pt: "));
  assert.throws(() => importModelBytes("model.h5", pt), /model\.h5: has the extension "\.h5".*\.pth, \.pt, \.bin.*\.safetensors/);
  const other = encodeSafetensors(new Map([["encoder.weight", new Tensor([4, 4])], ["decoder.weight", new Tensor([4, 4])]]));
  assert.throws(() => importModelBytes("other.safetensors", other), /other\.safetensors: is a state dict of 2 tensors \(encoder\.weight, decoder\.weight\) whose architecture is not one stride recognises/);
  const strideOwn = encodeSafetensors(new Map([["bn.runningMean", new Tensor([4])]]));
  assert.throws(() => importModelBytes("weights.safetensors", strideOwn), /stride's own weights file: load it together with its model\.json/);
  assert.throws(() => importModelBytes("resnet18.pt", pt, { inputShape: [1, 64, 64] }), /take 3-channel images, but inputShape asks for 1 channels; use \[3, 64, 64\]/);
  assert.throws(() => importModelBytes("alexnet.pt", bytesOf("alexnet.pt"), { inputShape: [3, 16, 16] }), /alexnet\.pt: alexnet cannot take 3x16x16 images .*use a larger image size/);
});

describe("importModelBytes on the fixtures' ONNX exports", () => {
  for (const [arch, e] of Object.entries(index.models)) {
    for (const kind of ["onnx_opset13", "onnx_opset9"] as const) {
      if (!e.files[kind]) continue;
      test(`${arch} from ${e.files[kind]} gives PyTorch's logits at the declared input size`, () => {
        const imported = importModelBytes(e.files[kind], bytesOf(e.files[kind]));
        assert.equal(imported.format, "onnx");
        assert.equal(imported.arch, e.files[kind].replace(/\.onnx$/, ""), "named after the file");
        assert.deepEqual(imported.info.inputShape, e.options.inputShape, "the input size declared in the file");
        assert.deepEqual(imported.info.normalization?.mean, [...IMAGENET_NORMALIZATION.mean]);
        assert.match(imported.description, new RegExp(`^ONNX graph.*10 outputs, input ${e.options.inputShape.join("x")}, ImageNet normalisation assumed`));
        const x = readF32(e.files.input, e.input_shape);
        // An ONNX export holds GoogLeNet's transform_input itself.
        assertClose(imported.model.forward(x, { noGrad: true }), readF32(e.files.logits, e.logits_shape), `${arch} (${e.files[kind]})`);
      });
    }
  }

  test("an ONNX file with operators stride lacks is refused, naming them", () => {
    const bytes = new Uint8Array(readFileSync(join(SMALL, "..", "onnx", "unknown_ops.onnx")));
    assert.throws(() => importModelBytes("unknown_ops.onnx", bytes), /^ModelFileError: unknown_ops\.onnx: 2 nodes use operators stride cannot import: "mystery1" \(Hardmax\), "mystery2" \(Erf\)/);
  });

  test("a damaged ONNX file names the file", () => {
    const bytes = bytesOf("resnet18.onnx");
    assert.throws(() => importModelBytes("resnet18.onnx", bytes.subarray(0, bytes.length >> 1)), (err: Error) => err instanceof ModelFileError && err.message.startsWith("resnet18.onnx: "));
  });
});
