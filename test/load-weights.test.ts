/**
 * loadWeights: torchvision checkpoints give torchvision's logits (fixtures
 * from scripts/gen_torchvision_fixtures.py: narrow copies of resnet18,
 * vgg11_bn, googlenet and alexnet built from torchvision's own classes,
 * random weights and batch-norm statistics), on the js and the wasm backend;
 * the name mapping of every full-size torchvision variant against
 * torchvision's state-dict names and shapes; stride-named round trips; and
 * the errors: one strict error listing every missing, unexpected and
 * mis-shaped name, non-finite values, integer weights, unknown layouts.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tensor } from "../src/tensor.js";
import type { Module } from "../src/layers/layer.js";
import { getBackend, setBackend, listBackends } from "../src/kernels/index.js";
import * as zoo from "../src/models/zoo/index.js";
import { namedParams, namedBuffers } from "../src/models/named.js";
import { ModelFileError, type SafetensorsEntry, type TypedTensor } from "../src/io/safetensors.js";
import { loadSafetensors, saveSafetensors } from "../src/node/files.js";
import { loadWeights } from "../src/node/io.js";
import { torchvisionNames, type TorchvisionNames } from "../src/models/zoo/torchvision-names.js";
import * as api from "../src/index.js";
import { SMALL, FULL, readIndex, readF32, build, run, assertClose } from "./helpers/torchvision.js";

const smallIndex = readIndex(SMALL);

function withBackend<T>(name: string, fn: () => T): T {
  const previous = getBackend().name;
  setBackend(name);
  try {
    return fn();
  } finally {
    setBackend(previous);
  }
}

const backends = listBackends().filter((b) => b === "js" || b === "wasm");
const smallSource = (name: string) => loadSafetensors(join(SMALL, smallIndex.models[name].files.safetensors)).tensors;

/** Every parameter and buffer of a model by stride name (copies). */
function snapshot(model: Module): Map<string, Float32Array> {
  return new Map([...namedParams(model).map(([n, p]) => [n, p.value.data.slice()] as const), ...namedBuffers(model).map(([n, b]) => [n, b.value.data.slice()] as const)]);
}

function assertUnchanged(model: Module, before: Map<string, Float32Array>): void {
  for (const [n, v] of snapshot(model)) assert.deepEqual(v, before.get(n), `${n} changed`);
}

// ---------------------------------------------------------------------------

describe("torchvision checkpoints give torchvision's logits", () => {
  assert.ok(backends.includes("js"));
  for (const backend of backends) {
    for (const [name, e] of Object.entries(smallIndex.models)) {
      test(`${name} (${backend})`, () => withBackend(backend, () => {
        const model = build(e);
        const r = loadWeights(model, join(SMALL, e.files.safetensors), { names: "torchvision" });
        assert.equal(r.names, "torchvision");
        assert.equal(r.missing.length, 0);
        assert.equal(r.mismatched.length, 0);
        if (name === "googlenet") {
          // The checkpoint has auxiliary heads, the model does not: listed, not thrown, as torchvision drops them.
          assert.equal(r.unexpected.length, 18);
          assert.ok(r.unexpected.every((n) => n.startsWith("aux1.") || n.startsWith("aux2.")), r.unexpected.join(", "));
        } else {
          assert.deepEqual(r.unexpected, []);
        }
        const x = readF32(join(SMALL, e.files.input), e.input_shape);
        assertClose(run(model, e, x), readF32(join(SMALL, e.files.logits), e.logits_shape), `${name} on ${backend}`);
      }));
    }
  }

  test("googlenet with its auxiliary heads: [main | aux1 | aux2] as torchvision's heads compute them", () => {
    const e = smallIndex.models.googlenet;
    const model = build(e, { aux: true });
    const r = loadWeights(model, smallSource("googlenet"), { names: "torchvision" });
    assert.deepEqual(r.unexpected, []);
    const x = readF32(join(SMALL, e.files.input), e.input_shape);
    const y = run(model, e, x);
    const main = readF32(join(SMALL, e.files.logits), e.logits_shape), aux = readF32(join(SMALL, e.files.aux_logits), e.aux_logits_shape!);
    const [n, k] = main.shape;
    const want = new Tensor([n, 3 * k]);
    for (let b = 0; b < n; b++) {
      want.data.set(main.data.subarray(b * k, (b + 1) * k), b * 3 * k);
      want.data.set(aux.data.subarray(b * 2 * k, (b + 1) * 2 * k), b * 3 * k + k);
    }
    assertClose(y, want, "googlenet with aux heads");
  });

  test("googlenet without googlenetTransformInput does not give the logits (the fixture has transform_input on)", () => {
    const e = smallIndex.models.googlenet;
    const model = build(e);
    loadWeights(model, smallSource("googlenet"), { names: "torchvision" });
    const x = readF32(join(SMALL, e.files.input), e.input_shape);
    const y = (model as unknown as { forward(x: Tensor, c: object): Tensor }).forward(x, { noGrad: true });
    assert.throws(() => assertClose(y, readF32(join(SMALL, e.files.logits), e.logits_shape), "untransformed"));
  });

  test("loading into a model that has already run (nothing stale is kept) gives the logits", () => {
    const e = smallIndex.models.resnet18;
    const model = build(e);
    const x = readF32(join(SMALL, e.files.input), e.input_shape);
    const params = namedParams(model).map(([, p]) => p.value.data);
    const before = run(model, e, x).data.slice();
    loadWeights(model, smallSource("resnet18"));
    // The same arrays (wasm-resident ones stay where the kernels read them), new values.
    assert.ok(namedParams(model).every(([, p], i) => p.value.data === params[i]));
    const y = run(model, e, x);
    assert.notDeepEqual(y.data, before);
    assertClose(y, readF32(join(SMALL, e.files.logits), e.logits_shape), "resnet18 after a forward pass");
  });

  test("vgg11_bn with adaptivePool: true (identity at 224) gives the same logits", () => {
    const e = smallIndex.models.vgg11_bn;
    const model = build(e, { adaptivePool: true });
    loadWeights(model, smallSource("vgg11_bn"), { names: "torchvision" });
    const x = readF32(join(SMALL, e.files.input), e.input_shape);
    assertClose(run(model, e, x), readF32(join(SMALL, e.files.logits), e.logits_shape), "vgg11_bn adaptivePool");
  });

  test("an F16 state dict loads (each weight is the float16 value) and gives nearly the same logits", () => {
    const e = smallIndex.models.resnet18;
    const f32 = build(e), f16 = build(e);
    loadWeights(f32, smallSource("resnet18"), { names: "torchvision" });
    const src = loadSafetensors(join(SMALL, e.files.f16_safetensors)).tensors;
    assert.equal((src.get("conv1.weight") as TypedTensor).dtype, "F16");
    loadWeights(f16, src, { names: "torchvision" });
    const a = snapshot(f32), b = snapshot(f16);
    for (const [n, v] of a) {
      const w = b.get(n)!;
      // float16 keeps 11 significant bits: within 2^-11 relative, or 2^-24 near zero (subnormals).
      for (let i = 0; i < v.length; i++) assert.ok(Math.abs(v[i] - w[i]) <= Math.abs(v[i]) * 2 ** -11 + 2 ** -24, `${n}[${i}]: ${v[i]} vs ${w[i]}`);
    }
    const x = readF32(join(SMALL, e.files.input), e.input_shape);
    assertClose(run(f16, e, x), readF32(join(SMALL, e.files.logits), e.logits_shape), "resnet18 from F16", 0.05, 0.02);
  });
});

describe("the name mapping", () => {
  const shapes = JSON.parse(readFileSync(join(SMALL, "state-dict-shapes.json"), "utf8")) as Record<string, Record<string, number[]>>;
  const fast = { init: false } as const;
  const variants: [string, () => Module][] = [
    ...[18, 34, 50, 101, 152].map((d) => [`resnet${d}`, () => zoo.resnet(d as 18, fast)] as [string, () => Module]),
    ...([["11", "A"], ["13", "B"], ["16", "D"], ["19", "E"]] as const).flatMap(([d, cfg]) => [
      [`vgg${d}`, () => zoo.vgg(cfg, fast)] as [string, () => Module],
      [`vgg${d}_bn`, () => zoo.vgg(cfg, { ...fast, batchNorm: true })] as [string, () => Module],
    ]),
    ["alexnet", () => zoo.alexnet({ ...fast, variant: "torchvision" })],
    ["googlenet", () => zoo.googlenet({ ...fast, variant: "torchvision", aux: true })],
  ];
  for (const [name, make] of variants) {
    test(`${name}: every name and shape is torchvision's (full size)`, () => {
      const model = make();
      const tv = torchvisionNames(model);
      assert.ok(!("reason" in tv), `not recognised: ${(tv as { reason: string }).reason}`);
      const want = shapes[name];
      const own = new Map([...namedParams(model).map(([n, p]) => [n, p.value.shape] as const), ...namedBuffers(model).map(([n, b]) => [n, b.value.shape] as const)]);
      const got = new Map([...(tv as TorchvisionNames).names].map(([s, t]) => [t, own.get(s)!]));
      const expected = Object.keys(want).filter((k) => !k.endsWith("num_batches_tracked"));
      assert.deepEqual([...got.keys()].sort(), expected.sort());
      for (const k of expected) assert.deepEqual(got.get(k), want[k], k);
    });
  }

  test("the positions torchvision gives its modules", () => {
    const names = (m: Module) => [...(torchvisionNames(m) as TorchvisionNames).names.values()];
    const fast = { init: false, widthMultiplier: 1 / 16 };
    const vgg = names(zoo.vgg("A", { ...fast, batchNorm: true }));
    assert.deepEqual(vgg.filter((n) => n.startsWith("classifier") && n.endsWith("weight")), ["classifier.0.weight", "classifier.3.weight", "classifier.6.weight"]);
    assert.ok(vgg.includes("features.1.running_var") && vgg.includes("features.4.weight"), "conv, bn, relu, pool, conv");
    const alex = names(zoo.alexnet({ ...fast, variant: "torchvision" }));
    assert.deepEqual(alex.filter((n) => n.startsWith("classifier") && n.endsWith("weight")), ["classifier.1.weight", "classifier.4.weight", "classifier.6.weight"]);
    assert.deepEqual(alex.filter((n) => n.startsWith("features") && n.endsWith("weight")), [0, 3, 6, 8, 10].map((i) => `features.${i}.weight`));
    const g = torchvisionNames(zoo.googlenet({ ...fast, variant: "torchvision", aux: true })) as TorchvisionNames;
    assert.equal(g.names.get("conv1_bn.runningMean"), "conv1.bn.running_mean");
    assert.equal(g.names.get("inception3a.branch1.conv.weight"), "inception3a.branch1.conv.weight");
    assert.equal(g.names.get("inception3a.branch2.conv_bn.weight"), "inception3a.branch2.1.bn.weight");
    assert.equal(g.names.get("inception4e.branch4.proj.weight"), "inception4e.branch4.1.conv.weight");
    assert.equal(g.names.get("aux2.conv.weight"), "aux2.conv.conv.weight");
    assert.equal(g.names.get("aux1.fc1.bias"), "aux1.fc1.bias");
    const r = torchvisionNames(zoo.resnet(50, fast)) as TorchvisionNames;
    assert.equal(r.names.get("layer2.0.downsample.1.runningVar"), "layer2.0.downsample.1.running_var");
  });

  test("models that are not torchvision variants are not recognised, with the reason", () => {
    for (const m of [zoo.alexnet({ init: false }), zoo.vgg("A-LRN", { init: false }), zoo.googlenet({ init: false }), zoo.resnetCifar(20, { init: false }), zoo.lenet5()]) {
      const tv = torchvisionNames(m);
      assert.ok("reason" in tv, `${m.name} recognised as ${(tv as TorchvisionNames).family}`);
    }
    assert.throws(() => loadWeights(zoo.alexnet({ init: false }), new Map(), { names: "torchvision" }), (err: Error) =>
      err instanceof ModelFileError && /torchvision variants/.test(err.message) && /names: "stride"/.test(err.message) && /LocalResponseNorm/.test(err.message));
  });
});

describe("stride names", () => {
  test("round trip: namedParams and namedBuffers into a fresh model are exact", () => {
    const a = zoo.resnet(18, { widthMultiplier: 1 / 16, numClasses: 10, inputShape: [3, 32, 32], seed: 1 });
    // Running statistics that are not the defaults, so that buffers are seen to load.
    for (const [, b] of namedBuffers(a)) b.value.data.forEach((_, i, d) => (d[i] = 0.5 + ((i * 7919) % 13) / 10));
    const map = new Map<string, SafetensorsEntry>([...namedParams(a).map(([n, p]) => [n, p.value] as const), ...namedBuffers(a).map(([n, b]) => [n, b.value] as const)]);
    const b = zoo.resnet(18, { widthMultiplier: 1 / 16, numClasses: 10, inputShape: [3, 32, 32], seed: 2 });
    const r = loadWeights(b, map, { names: "stride" });
    assert.equal(r.loaded.length, map.size);
    assert.deepEqual([r.missing, r.unexpected, r.mismatched], [[], [], []]);
    const sa = snapshot(a), sb = snapshot(b);
    for (const [n, v] of sa) assert.deepEqual(sb.get(n), v, n);
    const x = new Tensor([2, 3, 32, 32], Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.sin(i)));
    assert.deepEqual(b.forward(x, { noGrad: true }).data, a.forward(x, { noGrad: true }).data);
  });

  test("round trip of a model torchvision has no names for (LeNet-5's masked convolution), names: auto", () => {
    const a = zoo.lenet5({ seed: 5 }), b = zoo.lenet5({ seed: 6 });
    assert.ok("reason" in torchvisionNames(a));
    const r = loadWeights(b, new Map(namedParams(a).map(([n, p]) => [n, p.value])));
    assert.equal(r.names, "stride");
    const sa = snapshot(a);
    for (const [n, v] of snapshot(b)) assert.deepEqual(v, sa.get(n), n);
  });

  test("round trip through a .safetensors file, names: auto", () => {
    const dir = mkdtempSync(join(tmpdir(), "stride-lw-"));
    try {
      const a = zoo.vgg("A", { widthMultiplier: 1 / 32, numClasses: 5, inputShape: [3, 32, 32], batchNorm: true, seed: 3 });
      const file = join(dir, "vgg.safetensors");
      saveSafetensors(file, new Map([...namedParams(a).map(([n, p]) => [n, p.value] as const), ...namedBuffers(a).map(([n, b]) => [n, b.value] as const)]));
      const b = zoo.vgg("A", { widthMultiplier: 1 / 32, numClasses: 5, inputShape: [3, 32, 32], batchNorm: true, seed: 4 });
      assert.equal(loadWeights(b, file).names, "stride");
      const sa = snapshot(a);
      for (const [n, v] of snapshot(b)) assert.deepEqual(v, sa.get(n), n);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("names: auto", () => {
  test("picks torchvision's names for a torchvision checkpoint, stride's for stride's", () => {
    const e = smallIndex.models.alexnet;
    const m = build(e);
    assert.equal(loadWeights(m, smallSource("alexnet")).names, "torchvision");
    const own = new Map<string, SafetensorsEntry>(namedParams(m).map(([n, p]) => [n, p.value]));
    assert.equal(loadWeights(build(e), own).names, "stride");
    assert.equal(api.loadWeights, loadWeights);
  });

  test("none of the names: an error showing some of each side", () => {
    const m = build(smallIndex.models.resnet18);
    const src = new Map<string, SafetensorsEntry>([["encoder.block.0.weight", new Tensor([2])], ["decoder.head.bias", new Tensor([2])]]);
    assert.throws(() => loadWeights(m, src), (err: Error) =>
      err instanceof ModelFileError && /conv1\.weight/.test(err.message) && /bn1\.running_mean/.test(err.message) && /encoder\.block\.0\.weight/.test(err.message));
  });
});

describe("errors and non-strict loading", () => {
  test("strict: one error lists every missing, unexpected and mis-shaped name, with both shapes; nothing is written", () => {
    const e = smallIndex.models.resnet18;
    const src = new Map(smallSource("resnet18"));
    src.delete("layer3.1.conv2.weight");
    src.delete("layer1.0.bn1.running_var");
    src.set("layer5.0.conv1.weight", new Tensor([1, 1, 1, 1]));
    src.set("layer2.0.conv1.weight", new Tensor([8, 4, 1, 1]));
    const model = build(e);
    const before = snapshot(model);
    assert.throws(() => loadWeights(model, src, { names: "torchvision" }), (err: Error) => {
      assert.ok(err instanceof ModelFileError);
      const m = err.message;
      assert.match(m, /2 missing, 1 unexpected, 1 mis-shaped/);
      assert.match(m, /layer3\.1\.conv2\.weight/);
      assert.match(m, /layer1\.0\.bn1\.running_var \(model: layer1\.0\.bn1\.runningVar\)/);
      assert.match(m, /layer5\.0\.conv1\.weight/);
      assert.match(m, /layer2\.0\.conv1\.weight: source \[8, 4, 1, 1\], model \[8, 4, 3, 3\]/);
      return true;
    });
    assertUnchanged(model, before);
  });

  test("long lists are cut with a count", () => {
    const src = new Map<string, SafetensorsEntry>();
    for (let i = 0; i < 30; i++) src.set(`extra${i}.weight`, new Tensor([1]));
    const model = zoo.resnet(18, { widthMultiplier: 1 / 16, numClasses: 10, seed: 1 });
    for (const [n, p] of namedParams(model)) src.set(n, p.value);
    for (const [n, b] of namedBuffers(model)) src.set(n, b.value);
    assert.throws(() => loadWeights(model, src, { names: "stride" }), /extra19\.weight\n\s+… and 10 more/);
  });

  test("non-strict: loads what fits and returns the lists", () => {
    const e = smallIndex.models.resnet18;
    const full = smallSource("resnet18");
    const src = new Map(full);
    src.delete("fc.weight");
    src.set("head.weight", new Tensor([3]));
    src.set("layer1.0.conv1.weight", new Tensor([1, 2, 3, 3]));
    const model = build(e);
    const before = snapshot(model);
    const r = loadWeights(model, src, { names: "torchvision", strict: false });
    assert.deepEqual(r.missing, ["fc.weight"]);
    assert.deepEqual(r.unexpected, ["head.weight"]);
    assert.equal(r.mismatched.length, 1);
    assert.match(r.mismatched[0], /^layer1\.0\.conv1\.weight: source \[1, 2, 3, 3\], model \[4, 4, 3, 3\]/);
    assert.equal(r.loaded.length, 102 - 2);
    const after = snapshot(model);
    assert.deepEqual(after.get("fc.weight"), before.get("fc.weight"), "missing: left as it was");
    assert.deepEqual(after.get("layer1.0.conv1.weight"), before.get("layer1.0.conv1.weight"), "mis-shaped: left as it was");
    assert.deepEqual(after.get("layer1.0.bn1.runningMean"), (full.get("layer1.0.bn1.running_mean") as Tensor).data);
    assert.deepEqual(after.get("conv1.weight"), (full.get("conv1.weight") as Tensor).data);
  });

  test("num_batches_tracked is ignored, also when strict, and never listed", () => {
    const src = smallSource("resnet18");
    assert.ok([...src.keys()].filter((k) => k.endsWith("num_batches_tracked")).length === 20);
    assert.equal((src.get("bn1.num_batches_tracked") as TypedTensor).dtype, "I64");
    const r = loadWeights(build(smallIndex.models.resnet18), src, { names: "torchvision" });
    assert.ok(!r.loaded.some((n) => n.includes("num_batches")) && r.unexpected.length === 0);
    // Stride-named too (weights converted by hand from a torchvision model).
    const m = build(smallIndex.models.resnet18);
    const own = new Map<string, SafetensorsEntry>([...namedParams(m).map(([n, p]) => [n, p.value] as const), ...namedBuffers(m).map(([n, b]) => [n, b.value] as const)]);
    own.set("bn1.num_batches_tracked", { dtype: "I64", shape: [], data: new BigInt64Array([5n]) });
    assert.deepEqual(loadWeights(m, own, { names: "stride" }).unexpected, []);
  });

  test("a non-finite value is refused, naming the tensor; nothing is written", () => {
    const model = build(smallIndex.models.alexnet);
    const before = snapshot(model);
    const src = new Map(smallSource("alexnet"));
    const w = src.get("classifier.4.weight") as Tensor;
    const bad = new Tensor(w.shape, w.data.slice());
    bad.data[17] = NaN;
    src.set("classifier.4.weight", bad);
    assert.throws(() => loadWeights(model, src), (err: Error) => err instanceof ModelFileError && /classifier\.4\.weight \(model: fc7\.weight\) holds NaN at index 17/.test(err.message));
    assertUnchanged(model, before);
    // An F16 infinity (0x7c00) too.
    const f16 = new Map(loadSafetensors(join(SMALL, smallIndex.models.alexnet.files.f16_safetensors)).tensors);
    const b = f16.get("features.0.bias") as TypedTensor<"F16">;
    const data = (b.data as Uint16Array).slice();
    data[0] = 0x7c00;
    f16.set("features.0.bias", { dtype: "F16", shape: b.shape, data });
    assert.throws(() => loadWeights(model, f16, { strict: false }), /features\.0\.bias \(model: conv1\.bias\) holds Infinity at index 0/);
  });

  test("integer weights are mismatches; F64 and BF16 load", () => {
    const model = build(smallIndex.models.alexnet);
    const src = new Map(smallSource("alexnet"));
    const b = src.get("features.3.bias") as Tensor;
    src.set("features.3.bias", { dtype: "I32", shape: b.shape, data: new Int32Array(b.size) });
    assert.throws(() => loadWeights(model, src), /features\.3\.bias \(model: conv2\.bias\): source I32 \[3\], model F32 \[3\]/);
    src.set("features.3.bias", { dtype: "F64", shape: b.shape, data: Float64Array.from(b.data) });
    const w = src.get("classifier.6.bias") as Tensor;
    // BF16: the top 16 bits of each float32.
    const bits = new Uint32Array(Float32Array.from(w.data).buffer);
    src.set("classifier.6.bias", { dtype: "BF16", shape: w.shape, data: Uint16Array.from(bits, (x) => x >>> 16) });
    loadWeights(model, src);
    const after = snapshot(model);
    assert.deepEqual(after.get("conv2.bias"), b.data);
    after.get("fc8.bias")!.forEach((v, i) => assert.equal(v, new Float32Array(new Uint32Array([bits[i] & 0xffff0000]).buffer)[0]));
  });

  test("hints: numClasses, widthMultiplier, input size", () => {
    const e = smallIndex.models.resnet18;
    assert.throws(() => loadWeights(build(e, { numClasses: 5 }), smallSource("resnet18")), /build the model with numClasses: 10/);
    assert.throws(() => loadWeights(build(e, { widthMultiplier: 1 / 8 }), smallSource("resnet18")), /2 times narrower .*widthMultiplier 0\.5 times its own/);
    const v = smallIndex.models.vgg11_bn;
    assert.throws(() => loadWeights(build(v, { inputShape: [3, 64, 64] }), smallSource("vgg11_bn")), /classifier\.0\.weight takes 32 inputs in the model and 392 in the weights.*inputShape.*adaptivePool: true/s);
  });

  test("hints: the other naming", () => {
    const e = smallIndex.models.resnet18;
    assert.throws(() => loadWeights(build(e), smallSource("resnet18"), { names: "stride" }), /source has the model's torchvision names: pass names: "torchvision"/);
    const m = build(e);
    const own = new Map<string, SafetensorsEntry>([...namedParams(m).map(([n, p]) => [n, p.value] as const), ...namedBuffers(m).map(([n, b]) => [n, b.value] as const)]);
    assert.throws(() => loadWeights(build(e), own, { names: "torchvision" }), /source has the model's stride names: pass names: "stride"/);
  });

  test("an unknown extension is a clear ModelFileError", () => {
    const m = build(smallIndex.models.resnet18);
    assert.throws(() => loadWeights(m, "weights.h5"), (err: Error) => err instanceof ModelFileError && /\.safetensors/.test(err.message) && /\.pth/.test(err.message));
  });
});

// ---------------------------------------------------------------------------

describe("torch.save files (zip, legacy, nested training checkpoint, float16) give PyTorch's logits", () => {
  for (const [name, e] of Object.entries(smallIndex.models)) {
    const x = () => readF32(join(SMALL, e.files.input), e.input_shape);
    for (const kind of ["pt", "legacy_pt", "checkpoint_pt"]) {
      test(`${name}: ${e.files[kind]}`, () => {
        const model = build(e);
        const r = loadWeights(model, join(SMALL, e.files[kind]), { names: "torchvision" });
        assert.equal(r.missing.length, 0);
        assertClose(run(model, e, x()), readF32(join(SMALL, e.files.logits), e.logits_shape), `${name} from ${e.files[kind]}`);
      });
    }
    test(`${name}: ${e.files.f16_pt} gives the logits of the float16-rounded weights`, () => {
      const model = build(e);
      loadWeights(model, join(SMALL, e.files.f16_pt), { names: "torchvision" });
      assertClose(run(model, e, x()), readF32(join(SMALL, e.files.f16_logits), e.logits_shape), `${name} from ${e.files.f16_pt}`);
    });
  }
});

// ---------------------------------------------------------------------------

test("full-size torchvision models give torchvision's logits", async (t) => {
  if (!existsSync(join(FULL, "index.json"))) {
    t.skip(`test/fixtures/torchvision-full/ is absent (too big to commit): run /usr/bin/python3 scripts/gen_torchvision_fixtures.py --full`);
    return;
  }
  const index = readIndex(FULL);
  for (const [name, e] of Object.entries(index.models)) {
    await t.test(name, () => {
      const model = build(e, { init: false });
      const r = loadWeights(model, join(FULL, e.files.safetensors), { names: "torchvision" });
      assert.deepEqual([r.missing, r.unexpected, r.mismatched], [[], [], []]);
      const x = readF32(join(FULL, e.files.input), e.input_shape);
      assertClose(run(model, e, x), readF32(join(FULL, e.files.logits), e.logits_shape), `full ${name}`);
    });
  }
});
