/**
 * Weights kept packed in wasm memory for inference (src/kernels/wasm/weight-packs.ts):
 * the outputs are the same to the bit as when every call copies and packs the
 * weights, for every convolution kernel (GEMM, Winograd F(2x2) and F(4x4),
 * direct) and for fully-connected layers; a pack is never used after the
 * weights change (optimiser step, loadWeights, weightsChanged, a new GEMM
 * blocking); and dispose() gives the packs back.
 */
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { Tensor } from "../src/tensor.js";
import { Sequential } from "../src/models/sequential.js";
import { Conv2d } from "../src/layers/conv.js";
import { Linear } from "../src/layers/dense.js";
import { BatchNorm2d } from "../src/layers/norm.js";
import { ReLU } from "../src/layers/activation.js";
import { Flatten } from "../src/layers/reshape.js";
import { makeParam, touchParam, type Param } from "../src/layers/layer.js";
import { SGD } from "../src/train/optimizers.js";
import { softmaxCrossEntropy } from "../src/layers/loss.js";
import { loadWeights } from "../src/io/load-weights.js";
import { namedParams } from "../src/models/named.js";
import { getBackend, setBackend } from "../src/kernels/index.js";
import { WasmBackend, wasmSupported } from "../src/kernels/wasm/index.js";
import { getTuning, setTuning } from "../src/kernels/wasm/tuning.js";
import { KEEP_WINDOW } from "../src/kernels/wasm/weight-packs.js";
import type { ConvAlgorithm } from "../src/kernels/wasm/plan.js";
import { seededFloats } from "./helpers/seeded.js";

const supported = wasmSupported();
const initialBackend = getBackend().name;
const initialTuning = getTuning();
after(() => {
  setTuning({ mc: initialTuning.mc, kc: initialTuning.kc, nc: initialTuning.nc, chunksPerThread: initialTuning.chunksPerThread });
  if (supported) {
    const w = setBackend("wasm") as WasmBackend;
    w.keepWeights = true;
    w.convAlgorithm = "auto";
    w.setThreads(1);
  }
  setBackend(initialBackend);
});

const rand = seededFloats;

const conv = (inChannels: number, outChannels: number, kernelSize: number, o: { padding?: number; stride?: number; groups?: number } = {}) =>
  new Conv2d({ inChannels, outChannels, kernelSize, ...o });
const linear = (inFeatures: number, outFeatures: number) => new Linear({ inFeatures, outFeatures });

/** Conv layers of every kind the kernels take (strided, 1x1, grouped, 3x3 stride 1 with 36 channels so Winograd panels have an edge), BN, FC. */
function net(seed: number): Sequential {
  const m = new Sequential([
    conv(3, 36, 3, { padding: 1 }), new BatchNorm2d({ numFeatures: 36 }), new ReLU(),
    conv(36, 40, 3, { padding: 1, stride: 2 }), new ReLU(),
    conv(40, 40, 3, { padding: 1, groups: 4 }), new ReLU(),
    conv(40, 26, 1), new ReLU(),
    conv(26, 20, 3, { padding: 1 }), new ReLU(),
    new Flatten(), linear(20 * 6 * 6, 30), new ReLU(), linear(30, 10),
  ]);
  let s = seed;
  for (const p of m.params()) p.value.data.set(rand(p.value.size, s++).map((v) => v * 0.3));
  m.weightsChanged();
  return m;
}

const input = new Tensor([2, 3, 12, 12], rand(2 * 3 * 144, 99));
const infer = (m: Sequential, x = input) => m.forward(x, { training: false, noGrad: true }).data.slice();

function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) assert.fail(`${what}: output ${i} is ${a[i]} kept, ${b[i]} copied`);
  }
}

/** The output with packs kept (twice: the second run reads the packs the first made) and without. */
function keptAndCopied(wasm: WasmBackend, m: Sequential, x = input): { kept: Float32Array; again: Float32Array; copied: Float32Array } {
  wasm.keepWeights = true;
  const kept = infer(m, x);
  const again = infer(m, x);
  wasm.keepWeights = false;
  const copied = infer(m, x);
  wasm.keepWeights = true;
  return { kept, again, copied };
}

describe("parameter versions", () => {
  test("a made parameter has a version that touchParam, weightsChanged and an optimiser step change", () => {
    const m = new Sequential([linear(4, 3)]);
    const [w] = m.params();
    const v0 = w.version;
    assert.equal(typeof v0, "number");
    touchParam(w);
    const v1 = w.version!;
    assert.ok(v1 !== v0);
    m.weightsChanged();
    const v2 = w.version!;
    assert.ok(v2 !== v1);
    const opt = new SGD(m.params(), { lr: 0.1 });
    const x = new Tensor([2, 4], rand(8, 3));
    const y = m.forward(x, { training: true });
    m.backward(softmaxCrossEntropy(y, new Int32Array([0, 2])).grad);
    opt.step();
    assert.ok(w.version !== v2, "an optimiser step changes the version");
  });

  test("loadWeights changes the versions of the parameters it loads into", () => {
    const src = new Sequential([linear(4, 3)]);
    const dst = new Sequential([linear(4, 3)]);
    const before = dst.params().map((p) => p.version);
    const tensors = new Map(namedParams(src).map(([name, p]) => [name, new Tensor(p.value.shape, p.value.data.slice())]));
    loadWeights(dst, tensors, { names: "stride" });
    dst.params().forEach((p, i) => assert.ok(p.version !== before[i], `${p.name} has a new version`));
  });

  test("a parameter built by hand has no version and touchParam leaves it so (its weights are never kept)", () => {
    const p: Param = { name: "w", value: new Tensor([2], new Float32Array([1, 2])), grad: Tensor.zeros([2]), trainable: true };
    touchParam(p);
    assert.equal(p.version, undefined);
    assert.equal(typeof makeParam("w", Tensor.zeros([2])).version, "number");
  });
});

describe("kept weights on the wasm backend", { skip: !supported && "no WebAssembly SIMD" }, () => {
  for (const threads of [1, 2]) {
    for (const algorithm of ["auto", "gemm", "winograd", "winograd4", "direct"] as ConvAlgorithm[]) {
      test(`outputs are the same to the bit as copying every call (${algorithm}, ${threads} thread${threads > 1 ? "s" : ""})`, () => {
        const wasm = setBackend("wasm") as WasmBackend;
        wasm.setThreads(threads);
        wasm.convAlgorithm = algorithm;
        try {
          const m = net(7);
          const { kept, again, copied } = keptAndCopied(wasm, m);
          sameBits(kept, copied, "first run");
          sameBits(again, copied, "second run, from the kept packs");
          m.dispose();
        } finally {
          wasm.convAlgorithm = "auto";
          wasm.setThreads(1);
        }
      });
    }
  }

  test("a batch of 1 (fully-connected layers by the GEMV) reads the kept weights too", () => {
    const wasm = setBackend("wasm") as WasmBackend;
    const m = net(11);
    const one = new Tensor([1, 3, 12, 12], input.data.slice(0, 3 * 144));
    const { kept, again, copied } = keptAndCopied(wasm, m, one);
    sameBits(kept, copied, "first run");
    sameBits(again, copied, "second run");
    m.dispose();
  });

  test("packs are made once and given back by dispose()", () => {
    const wasm = setBackend("wasm") as WasmBackend;
    wasm.keepWeights = true;
    const before = wasm.rt.residentBytes;
    const m = net(3);
    infer(m);
    const held = wasm.rt.residentBytes - before;
    const weightBytes = m.params().reduce((s, p) => s + p.value.size * 4, 0);
    assert.ok(held >= weightBytes / 2, `packs hold ${held} bytes for ${weightBytes} bytes of weights`);
    infer(m);
    assert.equal(wasm.rt.residentBytes - before, held, "a second run makes no new packs");
    m.dispose();
    assert.equal(wasm.rt.residentBytes, before, "dispose() gave every pack back");
  });

  test(`models run once and dropped without dispose() hold the packs of at most ${KEEP_WINDOW} calls`, () => {
    const wasm = setBackend("wasm") as WasmBackend;
    const x = new Tensor([1, 64], rand(64, 5));
    const start = wasm.rt.residentBytes;
    const held: number[] = [];
    for (let i = 0; i < 3 * KEEP_WINDOW; i++) {
      const m = new Sequential([linear(64, 64)]);
      m.forward(x, { training: false, noGrad: true });
      held.push(wasm.rt.residentBytes - start);
    }
    const packBytes = 64 * 64 * 4;
    assert.ok(held[held.length - 1] <= KEEP_WINDOW * packBytes, `${held[held.length - 1]} bytes held at the end`);
    assert.equal(held[held.length - 1], held[2 * KEEP_WINDOW - 1], "flat once the window is full");
  });

  test("after an optimiser step, inference uses the new weights (not the packs of the old ones)", () => {
    const wasm = setBackend("wasm") as WasmBackend;
    const m = net(5);
    const opt = new SGD(m.params(), { lr: 0.05, momentum: 0.9 });
    const train = () => {
      opt.zeroGrad();
      const y = m.forward(input, { training: true });
      m.backward(softmaxCrossEntropy(y, new Int32Array([1, 7])).grad);
      opt.step();
    };
    // The first step moves the weights into wasm memory (new arrays); packs are then made of those.
    train();
    const first = infer(m);
    train();
    train();
    const { kept, copied } = keptAndCopied(wasm, m);
    sameBits(kept, copied, "after training");
    assert.ok(kept.some((v, i) => v !== first[i]), "training changed the output");
    m.dispose();
    opt.dispose?.();
  });

  test("weights written by hand are used once weightsChanged() says so", () => {
    const wasm = setBackend("wasm") as WasmBackend;
    const m = net(9);
    infer(m);
    for (const p of m.params()) p.value.data.set(rand(p.value.size, 1234).map((v) => v * 0.2));
    m.weightsChanged();
    const { kept, copied } = keptAndCopied(wasm, m);
    sameBits(kept, copied, "after weightsChanged()");
    m.dispose();
  });

  test("a new GEMM blocking makes new packs (their panels depend on KC)", () => {
    const wasm = setBackend("wasm") as WasmBackend;
    wasm.convAlgorithm = "gemm";
    try {
      const m = net(13);
      infer(m);
      setTuning({ kc: 16 });
      const { kept, copied } = keptAndCopied(wasm, m);
      sameBits(kept, copied, "after setTuning({ kc: 16 })");
      m.dispose();
    } finally {
      wasm.convAlgorithm = "auto";
      setTuning({ kc: initialTuning.kc });
    }
  });
});
