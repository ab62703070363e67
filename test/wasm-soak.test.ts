// Wasm memory that is given back (layers/param-memory.ts, models/step-memory.ts):
// a loop that loads and runs models must stay flat without gc() or dispose();
// dispose() frees a trained model's wasm memory at once and makes the model
// refuse to run; models that interleave their steps get separate arenas.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  Tensor, Sequential, Conv2d, Conv1d, ReLU, MaxPool2d, Flatten, Linear, SGD, StrideError,
  softmaxCrossEntropy, setBackend, getBackend, manualSeed,
} from "../src/index.js";
import { wasmSupported, WasmBackend } from "../src/kernels/wasm/index.js";
import { stepArenaStats } from "../src/models/step-memory.js";
import { isPinned } from "../src/layers/param-memory.js";
import { createDataset } from "../src/data/dataset.js";
import { fit } from "../src/train/trainer.js";

const supported = wasmSupported();
const MB = 2 ** 20;
/** The bound docs/reliability.md states for 2,000 loads and predictions of a LeNet-5. */
const SOAK_RSS_BOUND_MB = 100;

function onWasm<T>(fn: (backend: WasmBackend) => T): T {
  const previous = getBackend().name;
  try {
    return fn(setBackend("wasm") as WasmBackend);
  } finally {
    setBackend(previous);
  }
}

function smallNet(seed: number): Sequential {
  manualSeed(seed);
  return new Sequential([
    new Conv2d({ inChannels: 1, outChannels: 4, kernelSize: 3, padding: 1 }), new ReLU(), new MaxPool2d({ kernelSize: 2 }),
    new Flatten(), new Linear({ inFeatures: 4 * 4 * 4, outFeatures: 3 }),
  ]);
}

const x = Tensor.randn([4, 1, 8, 8], 5);
const labels = [0, 1, 2, 1];

/** One SGD step; returns the loss and leaves the gradients in the params. */
function step(model: Sequential, opt: SGD): number {
  opt.zeroGrad();
  const { loss, grad } = softmaxCrossEntropy(model.forward(x, { training: true }), labels);
  model.backward(grad);
  opt.step();
  return loss;
}

describe("wasm memory given back", { skip: supported ? false : "no WebAssembly SIMD here" }, () => {
  test(`2,000 × (loadModel + predict) of a LeNet-5 without gc(): wasm memory flat, RSS growth under ${SOAK_RSS_BOUND_MB} MB`, () => {
    const dir = mkdtempSync(join(tmpdir(), "stride-soak-"));
    try {
      const helper = fileURLToPath(new URL("./helpers/wasm-soak.js", import.meta.url));
      // A process of its own, with a capped heap, so that the resident set is this loop's alone.
      const run = spawnSync(process.execPath, ["--max-old-space-size=256", helper, "2000", dir], { encoding: "utf8", timeout: 120000 });
      assert.equal(run.status, 0, `the soak run failed: ${run.stderr}`);
      const r = JSON.parse(run.stdout.trim().split("\n").pop()!);
      assert.equal(r.iterations, 2000);
      assert.equal(r.wasmAfter, r.wasmBefore, `wasm memory grew from ${r.wasmBefore / MB} MB to ${r.wasmAfter / MB} MB`);
      const growth = (r.rssAfter - r.rssBefore) / MB;
      assert.ok(growth < SOAK_RSS_BOUND_MB, `RSS grew by ${growth.toFixed(0)} MB (from ${(r.rssBefore / MB).toFixed(0)} MB), over the ${SOAK_RSS_BOUND_MB} MB bound`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a model that is only run pins nothing (it keeps packs of its weights); an optimiser pins what it trains", () => {
    onWasm((backend) => {
      smallNet(0).forward(x, { noGrad: true }); // the pool's first arena exists from here on
      const model = smallNet(1);
      const before = backend.rt.residentBytes;
      model.forward(x, { noGrad: true });
      assert.ok(model.params().every((p) => !backend.rt.isResident(p.value.data)), "inference pins nothing");
      const weightBytes = model.params().filter((p) => p.name === "weight").reduce((a, p) => a + p.value.size * 4, 0);
      const packs = backend.rt.residentBytes - before;
      assert.ok(packs >= weightBytes && packs < 4 * weightBytes + 4096, `packs of the weights for inference: ${packs} bytes for ${weightBytes}`);
      const opt = new SGD(model.params(), { lr: 0.1, momentum: 0.9 });
      assert.ok(model.params().every((p) => backend.rt.isResident(p.value.data) && backend.rt.isResident(p.grad.data)));
      const paramBytes = model.params().reduce((a, p) => a + p.value.size * 4, 0);
      assert.ok(backend.rt.residentBytes - before >= 2 * paramBytes, "values and gradients are in wasm memory");
      step(model, opt);
      // Freed now, so that no collection frees them later, under another test's count.
      model.dispose();
      opt.dispose();
      assert.equal(backend.rt.residentBytes, before);
    });
  });

  test("dispose() gives a trained model's wasm memory back at once, and the model then refuses to run", () => {
    onWasm((backend) => {
      const model = smallNet(2);
      const before = backend.rt.residentBytes;
      const opt = new SGD(model.params(), { lr: 0.1, momentum: 0.9 });
      step(model, opt);
      const paramBytes = model.params().reduce((a, p) => a + p.value.size * 4, 0);
      const conv = model.layers[0] as Conv2d;
      const trained = backend.rt.residentBytes;
      assert.ok(trained > before);
      model.dispose();
      // What stays is the optimiser's momentum buffers (its own, one per parameter): under a block each more than the values.
      const left = backend.rt.residentBytes - before;
      assert.ok(left <= paramBytes + 4 * 64, `${left} bytes are still resident (parameters: ${paramBytes})`);
      assert.ok(trained - before >= 3 * paramBytes, "before: values, gradients and momentum");
      assert.ok(model.disposed);
      assert.throws(() => model.forward(x, { noGrad: true }), (e: unknown) => e instanceof StrideError && /was disposed.*load or build the model again/.test((e as Error).message));
      assert.throws(() => conv.forward(x), (e: unknown) => e instanceof StrideError && /was disposed/.test((e as Error).message), "a layer of it refuses too");
      assert.throws(() => opt.step(), StrideError, "so does the optimiser");
      model.dispose(); // twice: nothing more
      opt.dispose();
      assert.equal(backend.rt.residentBytes, before, "with the optimiser's state, everything is back");
      assert.throws(() => opt.step(), (e: unknown) => e instanceof StrideError && /optimiser was disposed/.test((e as Error).message));
    });
  });

  test("fit() trains with pinned parameters and hands back a model that holds no wasm memory", async () => {
    const previous = getBackend().name;
    const backend = setBackend("wasm") as WasmBackend;
    try {
      smallNet(0).forward(x, { noGrad: true }); // the pool's first arena exists from here on
      const images = Float32Array.from({ length: 16 * 64 }, (_, i) => Math.sin(i * 0.37));
      const data = createDataset({ name: "waves", images, labels: Int32Array.from({ length: 16 }, (_, i) => i % 3), shape: [1, 8, 8], classes: ["a", "b", "c"] });
      const model = smallNet(11);
      const before = backend.rt.residentBytes;
      let pinnedDuring = false;
      const history = await fit(model, data, {
        epochs: 2, batchSize: 8, progress: "none", log: () => {},
        callbacks: [{ onBatchEnd: () => void (pinnedDuring ||= isPinned(model.params()[0].value)) }],
      });
      assert.ok(pinnedDuring, "the parameters were in wasm memory while training");
      assert.equal(history.epochs.length, 2);
      assert.ok(model.params().every((p) => !isPinned(p.value) && !isPinned(p.grad)), "moved back out at the end");
      assert.equal(backend.rt.residentBytes, before, "its own optimiser's momentum freed too");
    } finally {
      setBackend(previous);
    }
  });

  test("dispose() on the js backend refuses later use the same way", () => {
    const model = smallNet(3);
    model.forward(x, { noGrad: true });
    model.dispose();
    assert.throws(() => model.forward(x), StrideError);
  });

  test("models that interleave their steps compute what they compute alone", () => {
    const alone = onWasm(() => {
      const a = smallNet(4), opt = new SGD(a.params(), { lr: 0.1 });
      const losses = [step(a, opt), step(a, opt)];
      return { losses, weights: a.params().map((p) => p.value.data.slice()) };
    });
    const interleaved = onWasm(() => {
      const a = smallNet(4), opt = new SGD(a.params(), { lr: 0.1 });
      const losses: number[] = [];
      // Others run between A's forward and backward: a teacher in inference, and six models
      // whose training forwards never get a backward (more than the pool has arenas).
      const others = Array.from({ length: 6 }, (_, i) => smallNet(10 + i));
      for (let s = 0; s < 2; s++) {
        opt.zeroGrad();
        const out = a.forward(x, { training: true });
        smallNet(9).forward(x, { noGrad: true });
        for (const o of others) o.forward(x, { training: true });
        const { loss, grad } = softmaxCrossEntropy(out, labels);
        a.backward(grad);
        opt.step();
        losses.push(loss);
      }
      return { losses, weights: a.params().map((p) => p.value.data.slice()) };
    });
    assert.deepEqual(interleaved.losses, alone.losses);
    interleaved.weights.forEach((w, k) => assert.deepEqual(w, alone.weights[k], `param ${k}`));
    onWasm((backend) => assert.ok(stepArenaStats(backend).arenas <= 4, "the pool stays small"));
  });

  test("backward() again after another model reused the arena says to run forward() again", () => {
    onWasm(() => {
      const a = smallNet(6), b = smallNet(7);
      const { grad } = softmaxCrossEntropy(a.forward(x, { training: true }), labels);
      a.backward(grad);
      b.forward(x, { noGrad: true }); // takes A's arena: A's step is over
      assert.throws(() => a.backward(grad), (e: unknown) => e instanceof StrideError && /run forward\(\) again/.test((e as Error).message));
    });
  });

  test("a Conv1d trained on wasm (its 1-D weight pinned, the 2-D view following) matches js", () => {
    const trainConv1d = () => {
      manualSeed(8);
      const model = new Sequential([new Conv1d({ inChannels: 2, outChannels: 3, kernelSize: 3 }), new Flatten(), new Linear({ inFeatures: 3 * 6, outFeatures: 3 })]);
      const opt = new SGD(model.params(), { lr: 0.1, momentum: 0.9 });
      const input = Tensor.randn([4, 2, 8], 9);
      const losses: number[] = [];
      for (let s = 0; s < 3; s++) {
        opt.zeroGrad();
        const { loss, grad } = softmaxCrossEntropy(model.forward(input, { training: true }), labels);
        model.backward(grad);
        opt.step();
        losses.push(loss);
      }
      return { losses, pinned: isPinned(model.params()[0].value) };
    };
    const js = trainConv1d();
    const wasm = onWasm(trainConv1d);
    assert.ok(wasm.pinned, "the 1-D weight lives in wasm memory");
    wasm.losses.forEach((l, i) => assert.ok(Math.abs(l - js.losses[i]) < 1e-5, `step ${i}: ${l} vs ${js.losses[i]}`));
    assert.ok(js.losses[2] < js.losses[0], "it trains");
  });
});
