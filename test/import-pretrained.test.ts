/**
 * Pretrained models in, end to end: the torchvision fixtures' ONNX exports
 * give PyTorch's logits through importOnnx (the .pt files do through
 * loadWeights: load-weights.test.ts); the full-size models too when
 * scripts/gen_torchvision_fixtures.py --full has been run; and the command
 * line a user follows: `stride import` of a .pt, .onnx and .safetensors file,
 * `stride predict` with ImageNet's class names, and transfer learning with
 * `stride train --from DIR --freeze-until fc` on a small image folder.
 */
import { test, describe, before } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PNG } from "pngjs";
import { Tensor } from "../src/tensor.js";
import type { Layer } from "../src/layers/layer.js";
import { importOnnx, loadWeights } from "../src/node/io.js";
import { loadModelWithInfo, saveModel, saveSafetensors } from "../src/node/files.js";
import { readTorchCheckpoint } from "../src/io/torch/read.js";
import { lenet5 } from "../src/models/zoo/lenet.js";
import { namedParams, namedBuffers } from "../src/models/named.js";
import { resnet } from "../src/models/zoo/resnet.js";
import { torchvisionNames, type TorchvisionNames } from "../src/models/zoo/torchvision-names.js";
import { normalizeTensor } from "../src/data/normalize.js";
import { loadImage } from "../src/node/data.js";
import { IMAGENET_CLASSES } from "../src/data/imagenet-classes.js";
import { SMALL, FULL, readIndex, readF32, build, run, assertClose } from "./helpers/torchvision.js";

const smallIndex = readIndex(SMALL);
const STRIDE = fileURLToPath(new URL("../../bin/stride.js", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "stride-import-"));

function stride(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [STRIDE, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const forward = (model: Layer, x: Tensor) => model.forward(x, { noGrad: true });

describe("torch.onnx exports of torchvision models give PyTorch's logits through importOnnx", () => {
  for (const [name, e] of Object.entries(smallIndex.models)) {
    const onnxFiles = [e.files.onnx_opset13, e.files.onnx_opset9].filter(Boolean);
    for (const file of onnxFiles) {
      test(`${name}: ${file}`, () => {
        const model = importOnnx(join(SMALL, file));
        // The export holds the whole forward, GoogLeNet's transform_input included: the raw input goes in.
        const x = readF32(join(SMALL, e.files.input), e.input_shape);
        assertClose(forward(model, x), readF32(join(SMALL, e.files.logits), e.logits_shape), `${name} from ${file}`);
      });
    }
  }
});

test("full-size torchvision models: torch.save (zip and legacy) and ONNX give PyTorch's logits", async (t) => {
  if (!existsSync(join(FULL, "index.json"))) {
    t.skip("test/fixtures/torchvision-full/ is absent (too big to commit): run /usr/bin/python3 scripts/gen_torchvision_fixtures.py --full");
    return;
  }
  for (const [name, e] of Object.entries(readIndex(FULL).models)) {
    const x = readF32(join(FULL, e.files.input), e.input_shape);
    const want = readF32(join(FULL, e.files.logits), e.logits_shape);
    for (const kind of ["pt", "legacy_pt"]) {
      await t.test(`${name}: ${e.files[kind]}`, () => {
        const model = build(e, { init: false });
        loadWeights(model, join(FULL, e.files[kind]), { names: "torchvision" });
        assertClose(run(model, e, x), want, `full ${name} from ${e.files[kind]}`);
      });
    }
    await t.test(`${name}: ${e.files.onnx_opset13}`, () => {
      assertClose(forward(importOnnx(join(FULL, e.files.onnx_opset13)), x), want, `full ${name} from ONNX`);
    });
  }
});

// ---------------------------------------------------------------------------
// The command line.

describe("stride import, predict and train --from", () => {
  const r18 = smallIndex.models.resnet18;
  const x = () => readF32(join(SMALL, r18.files.input), r18.input_shape);
  const want = () => readF32(join(SMALL, r18.files.logits), r18.logits_shape);

  /** A saved model's logits for the raw fixture input (the import records ImageNet's normalisation, which the fixture's input does not use). */
  function savedLogits(dir: string): Tensor {
    const { model, info } = loadModelWithInfo(dir);
    assert.deepEqual(info.inputShape, [3, 64, 64]);
    return forward(model, x());
  }

  test("a torch.save file: the architecture and its width are recognised, the logits are PyTorch's", () => {
    const out = join(work, "r18-pt");
    const r = stride("import", join(SMALL, r18.files.pt), "--input", "3x64x64", "--out", out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /torchvision resnet18 \(width x0\.0625, 10 classes, input 3x64x64\)/);
    assert.match(r.stdout, /layer4\.1\.conv2/); // the summary table
    assertClose(savedLogits(out), want(), "stride import resnet18.pt");
  });

  test("an ONNX file: its declared input size is used, the logits are PyTorch's", () => {
    const out = join(work, "r18-onnx");
    const r = stride("import", join(SMALL, r18.files.onnx_opset13), "--out", out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ONNX graph .*opset 13/);
    assertClose(savedLogits(out), want(), "stride import resnet18.onnx");
  });

  test("a 1,000-class model gets ImageNet's class names and normalisation; predict prints names", () => {
    // A narrow resnet18 with 1,000 outputs under torchvision's names, as a .safetensors state dict.
    const model = resnet(18, { numClasses: 1000, widthMultiplier: 1 / 16, inputShape: [3, 32, 32], seed: 3 });
    const names = (torchvisionNames(model) as TorchvisionNames).names;
    const tensors = new Map<string, Tensor>([...namedParams(model), ...namedBuffers(model)].map(([n, p]) => [names.get(n)!, p.value]));
    const file = join(work, "imagenet-resnet18.safetensors");
    saveSafetensors(file, tensors);
    const out = join(work, "imagenet");
    const r = stride("import", file, "--input", "3x32x32", "--out", out);
    assert.equal(r.code, 0, r.stderr);
    const { info, model: saved } = loadModelWithInfo(out);
    assert.deepEqual(info.classes, [...IMAGENET_CLASSES]);
    assert.deepEqual(info.normalization, { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    // The imported weights are the ones saved: same logits for the same normalised input.
    const img = Tensor.randn([1, 3, 32, 32], 5);
    assert.deepEqual([...forward(saved, img).data], [...forward(model, img).data]);
    const png = join(work, "photo.png");
    writePng(png, 32, (i) => [(i * 7) % 256, (i * 13) % 256, (i * 29) % 256]);
    const p = stride("predict", out, png);
    assert.equal(p.code, 0, p.stderr);
    // The top class, computed here the way predict does it, printed by its ImageNet name.
    const raw = loadImage(png, { size: [32, 32], channels: 3 });
    normalizeTensor(raw, info.normalization!);
    const logits = forward(model, raw).data;
    const best = logits.indexOf(Math.max(...logits));
    assert.match(p.stdout, new RegExp(`^${png.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: ${IMAGENET_CLASSES[best].replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\d`));
  });

  test("a state dict of no known architecture, a damaged file, a wrong --classes: one clear line, exit 2", () => {
    const unknown = join(work, "unknown.safetensors");
    saveSafetensors(unknown, new Map([["encoder.weight", Tensor.randn([4, 4], 1)]]));
    for (const [args, pattern] of [
      [[unknown], /architecture is not one stride recognises/],
      [[join(SMALL, "resnet18.onnx"), "--arch", "resnet18"], /--arch is for state dicts/],
      [[join(SMALL, r18.files.pt), "--input", "3x64x64", "--classes", "imagenet"], /names 1,000 classes, but the model has 10 outputs/],
      [[join(work, "missing.pt")], /does not exist/],
    ] as [string[], RegExp][]) {
      const r = stride("import", ...args, "--out", join(work, "never"));
      assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}, ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, pattern);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
    const damaged = join(work, "damaged.pt");
    const bytes = readFileSync(join(SMALL, r18.files.pt));
    writeFileSync(damaged, bytes.subarray(0, bytes.length >> 1));
    const r = stride("import", damaged);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^stride: .*damaged\.pt/);
    assert.ok(!existsSync(join(work, "never")));
  });

  test("export --format torch writes torchvision's own state dict back for a torchvision architecture, stride's names otherwise", () => {
    for (const [name, e] of Object.entries(smallIndex.models)) {
      const dir = join(work, `${name}-roundtrip`);
      const input = `${e.input_shape[1]}x${e.input_shape[2]}x${e.input_shape[3]}`;
      assert.equal(stride("import", join(SMALL, e.files.pt), "--input", input, "--out", dir).code, 0);
      const out = join(work, `${name}-exported.pt`);
      const r = stride("export", dir, "--format", "torch", "--out", out);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /torchvision's names/);
      // The import builds GoogLeNet without its auxiliary heads (as torchvision's googlenet(weights=...) does).
      const original = new Map([...readTorchCheckpoint(readFileSync(join(SMALL, e.files.pt)))].filter(([k]) => !/^aux[12]\./.test(k)));
      const exported = readTorchCheckpoint(readFileSync(out));
      assert.deepEqual([...exported.keys()].sort(), [...original.keys()].sort(), `${name}: the names differ from torchvision's`);
      for (const [k, v] of original) {
        if (k.endsWith("num_batches_tracked")) continue;
        assert.deepEqual((exported.get(k) as Tensor).data, (v as Tensor).data, `${name}: ${k} differs`);
      }
    }
    // A network torchvision does not have keeps stride's paths, in PyTorch's spelling.
    const lenet = join(work, "lenet");
    saveModel(lenet5({ seed: 1 }), lenet, { inputShape: [1, 32, 32] });
    const r = stride("export", lenet, "--format", "torch", "--out", join(work, "lenet.pt"));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /PyTorch's spelling of stride's names/);
    assert.ok(readTorchCheckpoint(readFileSync(join(work, "lenet.pt"))).has("c1.weight"));
  });

  test("export --format onnx: PyTorch's .pt through stride into ONNX Runtime gives PyTorch's logits", async () => {
    const ort = await import("onnxruntime-node");
    const dir = join(work, "r18-for-onnx");
    assert.equal(stride("import", join(SMALL, r18.files.pt), "--input", "3x64x64", "--out", dir).code, 0);
    for (const opset of ["17", "13"]) {
      const file = join(work, `r18-opset${opset}.onnx`);
      const r = stride("export", dir, "--format", "onnx", "--opset", opset, "--out", file);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`ONNX opset ${opset}, input "input" \\[N, 3, 64, 64\\]`));
      const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
      const input = x();
      const { output } = await session.run({ input: new ort.Tensor("float32", input.data, input.shape) });
      assertClose(new Tensor(output.dims as number[], output.data as Float32Array), want(), `opset ${opset} in onnxruntime`);
    }
    const bad = stride("export", dir, "--format", "onnx", "--opset", "9", "--out", join(work, "never.onnx"));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /opset 9/);
  });

  describe("transfer learning from the command line", () => {
    const imported = join(work, "r18-transfer");
    const tuned = join(work, "r18-tuned");
    const folder = join(work, "shapes");
    let run1: ReturnType<typeof stride>;

    before(() => {
      assert.equal(stride("import", join(SMALL, r18.files.pt), "--input", "3x64x64", "--out", imported).code, 0);
      // Two classes a network can tell apart: bright on the left or bright on the top, with noise.
      for (const [cls, bright] of [["left", (i: number) => i % 64 < 32], ["top", (i: number) => i < 64 * 32]] as const) {
        mkdirSync(join(folder, cls), { recursive: true });
        for (let k = 0; k < 24; k++) {
          writePng(join(folder, cls, `${k}.png`), 64, (i) => {
            const v = bright(i) ? 200 + ((i * (k + 3)) % 50) : (i * (k + 7)) % 60;
            return [v, v, v];
          });
        }
      }
      run1 = stride("train", "--from", imported, "--dataset", folder, "--freeze-until", "fc", "--epochs", "10", "--lr", "0.01", "--batch-size", "8",
        "--val-fraction", "0", "--schedule", "none", "--no-augment", "--progress", "lines", "--out", tuned);
    });

    test("the head is replaced for the folder's classes and only it trains", () => {
      assert.equal(run1.code, 0, run1.stderr);
      // 44,838 parameters in all; the new head is fc (32 features x 2 classes + 2 biases), the rest frozen.
      assert.match(run1.stdout, /fine-tuning r18-transfer \(44,838 parameters, 44,772 of them frozen\)/);
      const before = loadModelWithInfo(imported).model;
      const { model: after, info } = loadModelWithInfo(tuned);
      assert.deepEqual(info.classes, ["left", "top"]);
      assert.deepEqual(info.normalization, loadModelWithInfo(imported).info.normalization);
      const was = new Map(namedParams(before).map(([n, p]) => [n, p.value.data]));
      for (const [n, p] of namedParams(after)) {
        if (n.startsWith("fc.")) assert.equal(p.value.shape[0], 2, n);
        else assert.deepEqual(p.value.data, was.get(n), `${n} changed although frozen`);
      }
      // The frozen batch norms kept their running statistics (statistics: "freeze").
      const stats = new Map(namedBuffers(before).map(([n, b]) => [n, b.value.data]));
      for (const [n, b] of namedBuffers(after)) assert.deepEqual(b.value.data, stats.get(n), `${n} changed although frozen`);
    });

    test("it learns the new classes, and predict names them", () => {
      const acc = Number(/test accuracy (\d+\.\d+)%/.exec(run1.stdout)?.[1]);
      assert.ok(acc >= 80, `test accuracy ${acc}% after fine-tuning:\n${run1.stdout}`);
      const p = stride("predict", tuned, join(folder, "top", "0.png"), "--k", "2");
      assert.equal(p.code, 0, p.stderr);
      assert.match(p.stdout, /: (left|top) \d+\.\d%, (left|top) \d+\.\d%/);
    });
  });
});

// ---------------------------------------------------------------------------

function writePng(path: string, side: number, rgb: (i: number) => number[]): void {
  const png = new PNG({ width: side, height: side });
  for (let i = 0; i < side * side; i++) {
    const [r, g, b] = rgb(i);
    png.data.set([r, g, b, 255], 4 * i);
  }
  writeFileSync(path, PNG.sync.write(png));
}
