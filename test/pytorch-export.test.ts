/**
 * The PyTorch hand-off without Python: the committed fixtures
 * (test/fixtures/pytorch-export/, written by scripts/write_pytorch_export_fixtures.mjs
 * and run in torch 1.13 by scripts/gen_pytorch_export_fixtures.py) must be
 * exactly what the exporter writes today, and PyTorch's recorded outputs must
 * equal stride's own.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Tensor } from "../src/tensor.js";
import { Layer, type ShapeInfo } from "../src/layers/layer.js";
import { Sequential } from "../src/models/sequential.js";
import { Linear } from "../src/layers/dense.js";
import { BatchNorm2d } from "../src/layers/norm.js";
import { Conv2d } from "../src/layers/conv.js";
import { Graph } from "../src/models/graph.js";
import { ReLU } from "../src/layers/activation.js";
import { namedParams, namedBuffers } from "../src/models/named.js";
import { registerLayer } from "../src/models/registry.js";
import { saveModel, loadModelWithInfo } from "../src/node/files.js";
import { loadTorchCheckpoint, saveTorchCheckpoint } from "../src/node/torch-files.js";
import {
  stateDictNames, fromStateDictNames, stateDictToStride, torchStateDict, pytorchFiles, generateModelPy, PytorchExportError, trainingRecipe,
  randomErasingRecipe, type TrainingRecipe,
} from "../src/io/pytorch/index.js";
import { generateTrainPy } from "../src/io/pytorch/train-script.js";
import { SGD, Adam, decayGroups } from "../src/train/optimizers.js";
import { ReduceLROnPlateau, CosineAnnealingLR, OneCycleLR } from "../src/train/schedules.js";
import { computeLoss } from "../src/train/trainer.js";
import { main } from "../src/cli/main.js";
import { loadWeights } from "../src/node/io.js";
import { fixtureModels, ONE_CYCLE_FIXTURE_STEPS } from "./helpers/pytorch-export-models.js";

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "test", "fixtures", "pytorch-export");

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function close(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} values, PyTorch has ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const tol = 1e-4 + 1e-3 * Math.abs(expected[i]);
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: stride ${actual[i]}, PyTorch ${expected[i]}`);
  }
}

describe("fixtures: model.py and weights.pt as PyTorch ran them", () => {
  const models = fixtureModels();
  test("every fixture folder has a model here, and the reverse", () => {
    const folders = readdirSync(FIXTURES).sort();
    assert.deepEqual(folders, models.map((m) => m.name).sort());
  });
  for (const f of models) {
    test(`${f.name}: model.py, weights.pt (and train.py) are what the exporter writes now`, () => {
      const files = pytorchFiles(f.model, { ...f.info, inputShape: f.inputShape });
      const stale = "rerun scripts/write_pytorch_export_fixtures.mjs and scripts/gen_pytorch_export_fixtures.py";
      assert.equal(files.get("model.py"), readFileSync(join(FIXTURES, f.name, "model.py"), "utf8"), `model.py changed: ${stale}`);
      assert.deepEqual(files.get("weights.pt"), new Uint8Array(readFileSync(join(FIXTURES, f.name, "weights.pt"))));
      const trainPy = join(FIXTURES, f.name, "train.py");
      assert.equal(files.has("train.py"), existsSync(trainPy));
      if (existsSync(trainPy)) assert.equal(files.get("train.py"), readFileSync(trainPy, "utf8"), `train.py changed: ${stale}`);
    });
    test(`${f.name}: stride's output equals PyTorch's on the same input`, () => {
      const input = loadTorchCheckpoint(join(FIXTURES, f.name, "input.pt")).get("input") as Tensor;
      assert.deepEqual([...input.data], [...f.input.data]);
      const expected = loadTorchCheckpoint(join(FIXTURES, f.name, "output.pt")).get("output") as Tensor;
      const y = f.model.forward(f.input, { noGrad: true });
      assert.deepEqual(y.shape, expected.shape);
      close(y.data, expected.data, f.name);
    });
  }
});

describe("state dicts", () => {
  const models = fixtureModels();
  test("stride -> saveTorchCheckpoint -> loadTorchCheckpoint is bit-exact, int64 counters included", () => {
    const dir = mkdtempSync(join(tmpdir(), "stride-pyx-"));
    for (const f of models) {
      const sd = torchStateDict(f.model);
      const path = join(dir, `${f.name}.pt`);
      saveTorchCheckpoint(path, sd);
      const back = loadTorchCheckpoint(path);
      assert.deepEqual([...back.keys()], [...sd.keys()]);
      for (const [name, e] of sd) {
        const b = back.get(name)!;
        assert.deepEqual(b.shape, e.shape, name);
        if (e instanceof Tensor) assert.deepEqual(bytesOf((b as Tensor).data), bytesOf(e.data), name);
        else assert.deepEqual(b, e, name);
      }
    }
  });

  test("batch norms export running_mean, running_var and num_batches_tracked (int64 0) as torch writes them", () => {
    const sd = torchStateDict(models[1].model);
    const keys = [...sd.keys()];
    assert.deepEqual(keys.slice(0, 6), ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked"]);
    const counter = sd.get("bn1.num_batches_tracked")!;
    assert.ok(!(counter instanceof Tensor) && counter.dtype === "I64" && counter.shape.length === 0 && counter.data[0] === 0n);
  });

  test("checkpoint.pt as train.py writes it (after one step of its optimizer in PyTorch) loads back into stride", () => {
    const [f] = fixtureModels().filter((m) => m.name === "bn-convnet");
    const entries = loadTorchCheckpoint(join(FIXTURES, "bn-convnet", "checkpoint.pt"));
    // torch counted the training step; stride has no counter and drops it.
    const counter = entries.get("bn1.num_batches_tracked")!;
    assert.ok(!(counter instanceof Tensor) && counter.dtype === "I64" && counter.data[0] === 1n);
    const before = [...f.model.forward(f.input, { noGrad: true }).data];
    const r = loadWeights(f.model, stateDictToStride(entries), { names: "auto" });
    assert.equal(r.loaded.length, stateDictNames(f.model).size);
    const expected = loadTorchCheckpoint(join(FIXTURES, "bn-convnet", "output.pt")).get("after_step") as Tensor;
    const after = f.model.forward(f.input, { noGrad: true });
    assert.notDeepEqual([...after.data], before, "the step changed the weights");
    close(after.data, expected.data, "bn-convnet after one PyTorch step");
  });

  test("the one-cycle recipe's train.py (nesterov SGD, OneCycleLR per batch, label smoothing) takes the steps stride takes", () => {
    // scripts/gen_pytorch_export_fixtures.py ran resnet8's train.py: make_optimizer, make_criterion and
    // make_schedule, stepped after each of ONE_CYCLE_FIXTURE_STEPS batches. The same steps in stride from
    // the recorded recipe must reach the same weights (so lr, momentum and loss all agree at each step).
    const [f] = fixtureModels().filter((m) => m.name === "resnet8");
    const recipe = f.info!.extra!.recipe as TrainingRecipe;
    const s = recipe.schedule!;
    assert.equal(s.type, "OneCycleLR");
    const { type: _type, weightDecay, ...sgdOptions } = recipe.optimizer;
    const optimizer = new SGD(decayGroups(f.model, weightDecay), sgdOptions as ConstructorParameters<typeof SGD>[1]);
    const schedule = new OneCycleLR(optimizer, {
      maxLr: s.maxLr as number, totalSteps: 2 * ONE_CYCLE_FIXTURE_STEPS, pctStart: s.pctStart as number, annealStrategy: s.annealStrategy as "cos",
      cycleMomentum: s.cycleMomentum as boolean, baseMomentum: s.baseMomentum as number, maxMomentum: s.maxMomentum as number,
      divFactor: s.divFactor as number, finalDivFactor: s.finalDivFactor as number, threePhase: s.threePhase as boolean,
    });
    const labels = Array.from({ length: f.input.shape[0] }, (_, i) => i % 10);
    const before = [...f.model.forward(f.input, { noGrad: true }).data];
    for (let step = 0; step < ONE_CYCLE_FIXTURE_STEPS; step++) {
      const logits = f.model.forward(f.input, { training: true, inputGrad: false });
      const { grad } = computeLoss("cross-entropy", logits, labels, recipe.labelSmoothing);
      optimizer.zeroGrad();
      f.model.backward(grad);
      optimizer.step();
      schedule.step();
    }
    const after = f.model.forward(f.input, { noGrad: true });
    assert.notDeepEqual([...after.data], before, "the steps changed the weights");
    const expected = loadTorchCheckpoint(join(FIXTURES, "resnet8", "output.pt")).get("after_step") as Tensor;
    close(after.data, expected.data, `resnet8 after ${ONE_CYCLE_FIXTURE_STEPS} one-cycle steps`);
  });

  test("names round-trip: fromStateDictNames inverts stateDictNames, counters map to null", () => {
    for (const f of models) {
      const names = stateDictNames(f.model);
      const strideNames = [...namedParams(f.model).map(([n]) => n), ...namedBuffers(f.model).map(([n]) => n)];
      assert.deepEqual([...names.keys()].sort(), strideNames.sort());
      const back = fromStateDictNames(torchStateDict(f.model).keys());
      for (const [torchName, strideName] of back) {
        if (torchName.endsWith("num_batches_tracked")) assert.equal(strideName, null);
        else assert.equal(names.get(strideName!), torchName, torchName);
      }
      assert.equal([...back.values()].filter((v) => v !== null).length, names.size);
    }
  });

  test("weights.pt loads back through stateDictToStride + loadWeights (as stride import will): same outputs; other models' refused", () => {
    const [fresh] = fixtureModels().filter((m) => m.name === "resnet8");
    const original = models.find((m) => m.name === "resnet8")!;
    for (const [, p] of namedParams(fresh.model)) p.value.data.fill(0);
    for (const [, b] of namedBuffers(fresh.model)) b.value.data.fill(0);
    const entries = stateDictToStride(loadTorchCheckpoint(join(FIXTURES, "resnet8", "weights.pt")));
    assert.ok(![...entries.keys()].some((k) => k.includes("running_") || k.includes("num_batches")));
    const r = loadWeights(fresh.model, entries, { names: "auto" });
    assert.equal(r.loaded.length, namedParams(fresh.model).length + namedBuffers(fresh.model).length);
    assert.deepEqual([...fresh.model.forward(fresh.input, { noGrad: true }).data], [...original.model.forward(original.input, { noGrad: true }).data]);
    const other = stateDictToStride(loadTorchCheckpoint(join(FIXTURES, "lenet5", "weights.pt")));
    assert.throws(() => loadWeights(fresh.model, other, { names: "auto" }), /found none of the model's names/);
  });
});

/** A layer the exporter does not know. */
class Swish extends Layer {
  readonly type = "Swish";
  constructor(opts: { name?: string } = {}) {
    super(opts.name, "swish");
  }
  config() {
    return {};
  }
  shapeInfo(s: number[]): ShapeInfo {
    return { shape: s.slice(), notes: [] };
  }
  forward(x: Tensor): Tensor {
    return x;
  }
  backward(dy: Tensor): Tensor {
    return dy;
  }
}
registerLayer("Swish", (c) => new Swish(c));

describe("model.py generation", () => {
  test("a layer with no PyTorch form is an error naming it", () => {
    const m = new Sequential([new Linear({ inFeatures: 2, outFeatures: 2, name: "fc" }), new Swish({ name: "act" })]);
    assert.throws(() => generateModelPy(m), (e: unknown) => e instanceof PytorchExportError && /layer "act" is a Swish, which has no PyTorch form/.test((e as Error).message));
  });

  test("names PyTorch cannot hold are refused with the layer's name; names like 0 and conv1_1 are kept", () => {
    const bad = new Sequential([new Linear({ inFeatures: 2, outFeatures: 2, name: "forward" })]);
    assert.throws(() => generateModelPy(bad), /layer "forward" is named "forward", which nn.Module already uses/);
    const ok = new Sequential([new Linear({ inFeatures: 2, outFeatures: 2, name: "0" }), new Linear({ inFeatures: 2, outFeatures: 2, name: "conv1_1" })]);
    assert.match(generateModelPy(ok), /\("0", nn\.Linear\(2, 2\)\),\n\s+\("conv1_1", nn\.Linear\(2, 2\)\)/);
    const g = new Graph({ name: "g" });
    g.add("4a", new ReLU(), "input").add("in", new ReLU(), "4a");
    const code = generateModelPy(new Sequential([g]));
    assert.match(code, /self\.add_module\("4a", nn\.ReLU\(\)\)/);
    assert.match(code, /n4a = getattr\(self, "4a"\)\(x\)\n\s+in_ = getattr\(self, "in"\)\(n4a\)/);
  });

  test("\"same\" padding of a strided convolution needs the input shape", () => {
    const m = new Sequential([new Conv2d({ inChannels: 1, outChannels: 1, kernelSize: 3, stride: 2, padding: "same", name: "c" })]);
    assert.throws(() => generateModelPy(m), /pads "same" with stride 2x2, which depends on the input size/);
    assert.match(generateModelPy(m, { inputShape: [1, 8, 8] }), /PadConv2d\(1, 1, kernel_size=3, stride=2, pad=\(0, 1, 0, 1\)\)/);
  });
});

describe("train.py", () => {
  const model = new Sequential([new Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3, name: "conv" }), new BatchNorm2d({ numFeatures: 2, name: "bn" })]);
  test("the recipe's optimizer and schedule become torch.optim calls with PyTorch's keywords", () => {
    const sgd = new SGD(decayGroups(model, 5e-4), { lr: 0.05, momentum: 0.9, nesterov: true });
    const plateau = new ReduceLROnPlateau(sgd, { mode: "max", factor: 0.1, patience: 3, threshold: 1e-3 });
    const recipe = trainingRecipe({ optimizer: sgd, schedule: plateau, batchSize: 64, epochs: 3, seed: 7, valFraction: 0.1,
      augmentation: { randomCrop: { size: [28, 28], padding: 2 }, horizontalFlip: { p: 0.5 } }, dataset: "fashion-mnist" });
    assert.equal(recipe.optimizer.weightDecay, 5e-4);
    const py = generateTrainPy({ recipe, inputShape: [1, 28, 28], normalization: { mean: [0.25], std: [0.5] } });
    assert.match(py, /return torch\.optim\.SGD\(groups, lr=0\.05, momentum=0\.9, dampening=0, nesterov=True\)/);
    assert.match(py, /torch\.optim\.lr_scheduler\.ReduceLROnPlateau\(optimizer, mode="max", factor=0\.1, patience=3, threshold=0\.001, threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8\)/);
    assert.match(py, /PLATEAU = True/);
    assert.match(py, /MEAN = \[0\.25\]\nSTD = \[0\.5\]/);
    assert.match(py, /"seed": 7,/);
    const adam = new Adam(decayGroups(model, 0), { lr: 0.001 });
    const cos = trainingRecipe({ optimizer: adam, schedule: new CosineAnnealingLR(adam, 10), batchSize: 32, epochs: 10, seed: 1, valFraction: 0, augmentation: null, dataset: "x" });
    const py2 = generateTrainPy({ recipe: cos, inputShape: [3, 8, 8] });
    assert.match(py2, /torch\.optim\.Adam\(groups, lr=0\.001, betas=\(0\.9, 0\.999\), eps=1e-8, amsgrad=False\)/);
    assert.match(py2, /CosineAnnealingLR\(optimizer, T_max=10, eta_min=0\)/);
    assert.match(py2, /"augmentation": None/);
  });

  test("a recipe without the newer fields (an older model.json) trains as before: per-epoch schedule, plain loss, no flips", () => {
    const sgd = new SGD(decayGroups(model, 0), { lr: 0.1 });
    const recipe = trainingRecipe({ optimizer: sgd, schedule: new CosineAnnealingLR(sgd, 4), batchSize: 8, epochs: 4, seed: 1, valFraction: 0,
      augmentation: { randomCrop: { size: [8, 8], padding: 1 } }, dataset: "x" });
    assert.ok(!("labelSmoothing" in recipe) && !("testTimeAugmentation" in recipe) && recipe.schedule?.interval === undefined);
    const py = generateTrainPy({ recipe, inputShape: [1, 8, 8] });
    assert.match(py, /PER_BATCH = False/);
    assert.match(py, /TEST_FLIPS = False/);
    assert.match(py, /return nn\.CrossEntropyLoss\(\)\n/);
    assert.doesNotMatch(py, /"randomErasing": \{/);
  });

  test("one-cycle per group, linear, with pct_start written as a float; an older name-only OneCycleLR is refused", () => {
    const adam = new Adam(decayGroups(model, 1e-4), { lr: 0.01 });
    const cycle = new OneCycleLR(adam, { maxLr: [0.01, 0.02], totalSteps: 12, pctStart: 0, annealStrategy: "linear", threePhase: true, baseMomentum: [0.8, 0.85] });
    const recipe = trainingRecipe({ optimizer: adam, schedule: cycle, batchSize: 8, epochs: 3, seed: 1, valFraction: 0, augmentation: null, dataset: "x" });
    assert.deepEqual(recipe.schedule, { type: "OneCycleLR", interval: "batch", maxLr: [0.01, 0.02], totalSteps: 12, pctStart: 0, annealStrategy: "linear",
      cycleMomentum: true, baseMomentum: [0.8, 0.85], maxMomentum: 0.95, divFactor: 25, finalDivFactor: 10000, threePhase: true });
    const py = generateTrainPy({ recipe, inputShape: [1, 8, 8] });
    assert.match(py, /OneCycleLR\(optimizer, max_lr=\(0\.01, 0\.02\) if max_lr is None else max_lr, total_steps=total_steps, pct_start=0\.0, anneal_strategy="linear", cycle_momentum=True, base_momentum=\(0\.8, 0\.85\), max_momentum=0\.95, div_factor=25, final_div_factor=10000, three_phase=True\)/);
    assert.match(py, /PER_BATCH = True/);
    const old = { ...recipe, schedule: { type: "OneCycleLR" } };
    assert.throws(() => generateTrainPy({ recipe: old, inputShape: [1, 8, 8] }),
      (e: unknown) => e instanceof PytorchExportError && /OneCycleLR lacks maxLr, totalSteps, .* train the model again/.test((e as Error).message));
    assert.throws(() => generateTrainPy({ recipe: { ...recipe, labelSmoothing: 2 }, inputShape: [1, 8, 8] }), /labelSmoothing 2 is not a number from 0 to 1/);
  });

  test("random erasing's fill moves into normalised units: the channel means become 0; noise fills are refused", () => {
    const n = { mean: [0.25, 0.5], std: [0.5, 0.25] };
    const box = { p: 0.3, scale: [0.1, 0.2] as [number, number], ratio: [0.5, 2] as [number, number] };
    assert.deepEqual(randomErasingRecipe({ ...box, value: n.mean }, n), { ...box, value: 0 });
    assert.deepEqual(randomErasingRecipe({ ...box, value: 0 }, n), { ...box, value: [-0.5, -2] });
    assert.deepEqual(randomErasingRecipe({ ...box, value: [0.75, 0.75] }, n), { ...box, value: 1 });
    assert.throws(() => randomErasingRecipe({ ...box, value: "random" }, n), /noise fill .* has no torchvision counterpart/);
    assert.throws(() => randomErasingRecipe({ ...box, value: [0, 0, 0] }, n), /3 fill values for 2-channel normalisation/);
  });
});

describe("stride export", () => {
  const dir = mkdtempSync(join(tmpdir(), "stride-export-"));
  const modelDir = join(dir, "model");
  const f = fixtureModels()[1];
  saveModel(f.model, modelDir, { inputShape: f.inputShape });
  const swishDir = join(dir, "swish");
  saveModel(new Sequential([new Linear({ inFeatures: 2, outFeatures: 2, name: "fc" }), new Swish({ name: "act" })]), swishDir, { inputShape: [2] });

  async function run(...args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
    let stderr = "", stdout = "";
    const err = process.stderr.write.bind(process.stderr), log = console.log;
    process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof process.stderr.write;
    console.log = (...a: unknown[]) => void (stdout += a.join(" ") + "\n");
    try {
      return { code: await main(["export", ...args]), stderr, stdout };
    } finally {
      process.stderr.write = err;
      console.log = log;
    }
  }
  const oneLine = (s: string) => s.trim().split("\n").length === 1;

  test("--format torch writes the state dict; --format pytorch the folder (no train.py without a recipe)", async () => {
    const pt = join(dir, "w.pt");
    assert.equal((await run(modelDir, "--format", "torch", "--out", pt)).code, 0);
    assert.deepEqual([...loadTorchCheckpoint(pt).keys()], [...torchStateDict(f.model).keys()]);
    const out = join(dir, "py");
    const r = await run(modelDir, "--format", "pytorch", "--out", out);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(out, "model.py")) && existsSync(join(out, "weights.pt")) && existsSync(join(out, "README.md")));
    assert.ok(!existsSync(join(out, "train.py")));
    assert.match(r.stdout, /no train\.py: the model records no training recipe/);
  });

  test("stride train records its recipe in model.json, and the export turns it into train.py", async () => {
    const trained = join(dir, "trained");
    const log = console.log;
    console.log = () => {};
    let code: number;
    try {
      code = await main(["train", "lenet5", "--epochs", "1", "--max-batches", "2", "--batch-size", "16", "--optimizer", "nesterov",
        "--lr", "0.05", "--weight-decay", "0.0005", "--schedule", "cosine", "--seed", "3", "--out", trained, "--progress", "none"]);
    } finally {
      console.log = log;
    }
    assert.equal(code, 0);
    const json = JSON.parse(readFileSync(join(trained, "model.json"), "utf8"));
    assert.deepEqual(json.extra.recipe, {
      optimizer: { type: "SGD", lr: 0.05, weightDecay: 0.0005, momentum: 0.9, dampening: 0, nesterov: true },
      weightDecayExempt: "biases and batch-norm parameters",
      schedule: { type: "CosineAnnealingLR", tMax: 1, etaMin: 0 },
      batchSize: 16, epochs: 1, seed: 3, valFraction: 0.1, loss: "cross-entropy",
      augmentation: { randomCrop: { size: [28, 28], padding: 2 } }, dataset: "mnist", maxBatchesPerEpoch: 2,
    });
    const out = join(dir, "trained-py");
    assert.equal((await run(trained, "--format", "pytorch", "--out", out)).code, 0);
    const py = readFileSync(join(out, "train.py"), "utf8");
    assert.match(py, /torch\.optim\.SGD\(groups, lr=0\.05, momentum=0\.9, dampening=0, nesterov=True\)/);
    assert.match(py, /CosineAnnealingLR\(optimizer, T_max=1, eta_min=0\)/);
    assert.match(py, new RegExp(`MEAN = \\[${json.normalization.mean[0]}\\]`));
  });

  test("stride import takes weights.pt back with --arch (PyTorch's batch-norm names mapped back)", async () => {
    const pt = join(dir, "back.pt");
    assert.equal((await run(modelDir, "--format", "torch", "--out", pt)).code, 0);
    const back = join(dir, "back");
    const log = console.log;
    console.log = () => {};
    let code: number;
    try {
      code = await main(["import", pt, "--arch", modelDir, "--out", back]);
    } finally {
      console.log = log;
    }
    assert.equal(code, 0);
    const { model } = loadModelWithInfo(back);
    assert.deepEqual([...model.forward(f.input, { noGrad: true }).data], [...f.model.forward(f.input, { noGrad: true }).data]);
  });

  test("errors are one line naming the problem", async () => {
    let r = await run(modelDir, "--format", "keras", "--out", join(dir, "k"));
    assert.equal(r.code, 2);
    assert.ok(oneLine(r.stderr));
    assert.match(r.stderr, /--format keras is not valid; use one of onnx, torch, pytorch/);
    r = await run(modelDir, "--format", "pytorch");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /export needs --out/);
    r = await run(modelDir, "--out", join(dir, "x"));
    assert.match(r.stderr, /export needs --format/);
    r = await run(modelDir, "--format", "onnx", "--opset", "9", "--out", join(dir, "m.onnx"));
    assert.equal(r.code, 2);
    assert.ok(oneLine(r.stderr));
    assert.match(r.stderr, /opset 9 is not supported; stride exports opsets 13 to 17/);
    assert.ok(!existsSync(join(dir, "m.onnx")));
    r = await run(join(dir, "no-such-model"), "--format", "torch", "--out", join(dir, "n.pt"));
    assert.equal(r.code, 2);
    assert.ok(oneLine(r.stderr));
    assert.match(r.stderr, /no-such-model: does not exist/);
    r = await run(modelDir, "--format", "torch", "--out", dir);
    assert.match(r.stderr, /is a folder; --format torch writes one \.pt file/);
    r = await run(swishDir, "--format", "pytorch", "--out", join(dir, "sw"));
    assert.equal(r.code, 2);
    assert.ok(oneLine(r.stderr));
    assert.match(r.stderr, /cannot export .*swish: layer "act" is a Swish, which has no PyTorch form/);
    assert.ok(!existsSync(join(dir, "sw")), "nothing is written when the export fails");
  });
});
