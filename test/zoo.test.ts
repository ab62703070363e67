/**
 * The model zoo: parameter counts against torchvision's published numbers
 * and the papers' tables, MACs against torchvision's, a forward and backward
 * pass through every model (reduced width or input where the full network
 * is too slow for the js backend), gradient checks of the zoo's own layers,
 * and reloading a saved topology that uses them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Tensor, withFloat64 } from "../src/tensor.js";
import { Rng } from "../src/random.js";
import { Layer, type Param } from "../src/layers/layer.js";
import { softmaxCrossEntropy } from "../src/layers/loss.js";
import { toSpec, fromSpec } from "../src/models/registry.js";
import * as models from "../src/models/zoo/index.js";
import { MaskedConv2d, PositionBias, AdaptiveAvgPool2d, ShortcutPad, LENET_C3_CONNECTIONS } from "../src/models/zoo/layers.js";
import { summary } from "../src/models/summary.js";

const count = (m: Layer) => m.params().reduce((a, p) => a + p.value.size, 0);
const fast = { init: false } as const;

test("parameter counts equal torchvision's", () => {
  assert.equal(count(models.alexnet({ ...fast, variant: "torchvision" })), 61_100_840);
  assert.equal(count(models.vgg16(fast)), 138_357_544);
  assert.equal(count(models.vgg19(fast)), 143_667_240);
  assert.equal(count(models.resnet(18, fast)), 11_689_512);
  assert.equal(count(models.resnet(34, fast)), 21_797_672);
  assert.equal(count(models.resnet(50, fast)), 25_557_032);
  assert.equal(count(models.resnet(101, fast)), 44_549_160);
  assert.equal(count(models.resnet(152, fast)), 60_192_808);
  assert.equal(count(models.googlenet({ ...fast, variant: "torchvision" })), 6_624_904);
  assert.equal(count(models.googlenet({ ...fast, variant: "torchvision", aux: true })), 13_004_888);
});

test("VGG parameter counts match the paper's table (millions) and the configurations differ where they should", () => {
  const millions = models.VGG_CONFIGS.map((c) => Math.round(count(models.vgg(c, fast)) / 1e6));
  assert.deepEqual(millions, [133, 133, 133, 134, 138, 144]);
  assert.equal(count(models.vgg("A", fast)), count(models.vgg("A-LRN", fast)), "LRN has no parameters");
  // C adds three 1x1 convolutions to B: 256*256 + 2 * 512*512 weights and their biases.
  assert.equal(count(models.vgg("C", fast)) - count(models.vgg("B", fast)), 256 * 256 + 256 + 2 * (512 * 512 + 512));
});

test("the paper's AlexNet has 60,965,224 parameters, the notes' 34,944 in conv1 and a 55x55x96 first volume", () => {
  const m = models.alexnet(fast);
  assert.equal(count(m), 60_965_224);
  const conv1 = m.layers[0] as any;
  assert.equal(conv1.weight.value.size + conv1.bias.value.size, 34_944);
  assert.deepEqual(conv1.outputShape([1, 3, 227, 227]), [1, 96, 55, 55]);
  assert.equal(count(models.alexnet({ ...fast, groups: 1 })) - count(m), 3 * 0 + (48 * 256 * 25) + (192 * 384 * 9) + (192 * 256 * 9));
});

test("MACs are within 1% of torchvision's", () => {
  const near = (got: number, want: number, what: string) =>
    assert.ok(Math.abs(got - want) / want < 0.01, `${what}: ${got} MACs, torchvision ${want}`);
  const at224 = [1, 3, 224, 224];
  near(models.vgg16(fast).macs(at224), 15.47e9, "vgg16");
  near(models.resnet(50, fast).macs(at224), 4.09e9, "resnet50");
  near(models.resnet(152, fast).macs(at224), 11.51e9, "resnet152");
  near(models.resnet(18, fast).macs(at224), 1.81e9, "resnet18");
  near(models.alexnet({ ...fast, variant: "torchvision" }).macs(at224), 0.714e9, "alexnet");
  near(models.googlenet({ ...fast, variant: "torchvision" }).macs(at224), 1.50e9, "googlenet");
});

test("the other zoo models have the parameter counts their papers' layouts give", () => {
  assert.equal(count(models.lenet5(fast)), 156 + 2416 + 48120 + 10164 + 850);
  // The partial C3: 60 connected 5x5 filters and 16 biases instead of 6*16 filters.
  assert.equal(count(models.lenet5({ ...fast, c3: "partial" })), 156 + (60 * 25 + 16) + 48120 + 10164 + 850);
  assert.equal(count(models.alphagoPolicy(fast)), (48 * 25 * 192 + 192) + 11 * (192 * 9 * 192 + 192) + 192 + 361);
  assert.equal(count(models.allConv(fast)), 1_369_738);
  // CIFAR ResNet-20 with option A shortcuts (no parameters on the shortcut): 0.27M as in the paper's table.
  assert.equal(Math.round(count(models.resnetCifar(20, fast)) / 1e4) / 100, 0.27);
  assert.equal(Math.round(count(models.resnetCifar(110, fast)) / 1e5) / 10, 1.7);
  assert.equal(count(models.textCnn(fast)), 10000 * 5 + (2 * 5 * 2 + 2) + (3 * 5 * 2 + 2) + (4 * 5 * 2 + 2) + (6 * 2 + 2));
});

test("the builders check their options", () => {
  assert.throws(() => models.vgg("F" as any), /cfg = "F" is not valid; use one of "A", "A-LRN"/);
  assert.throws(() => models.resnet(19 as any), /depth = 19 is not valid/);
  assert.throws(() => models.lenet5({ numClasses: 0 }), /numClasses = 0 is not valid/);
  assert.throws(() => models.alexnet({ inputShape: [3, 227] }), /inputShape = \[3,227\] is not valid/);
  assert.throws(() => models.textCnn({ inputShape: [3] }), /shorter than the largest region/);
  assert.throws(() => models.alphagoPolicy({ numClasses: 10 }), /361 points/);
});

// ---------------------------------------------------------------------------
// Forward and backward through every model.

function randomInput(shape: number[], seed: number, vocab?: number): Tensor {
  if (vocab === undefined) return Tensor.randn(shape, seed);
  const rng = new Rng(seed);
  const t = new Tensor(shape);
  for (let i = 0; i < t.size; i++) t.data[i] = Math.floor(rng.next() * vocab);
  return t;
}

/** Runs a training step's forward and backward; checks shapes against summary() and that gradients flow. */
function trainStep(name: string, model: Layer, example: number[], opts: { probabilities?: boolean; vocab?: number } = {}): void {
  const batch = 2;
  const x = randomInput([batch, ...example], 7, opts.vocab);
  const y = model.forward(x, { training: true });
  const s = summary(model, example, { batched: false });
  assert.deepEqual(y.shape.slice(1), s.outputShape, `${name}: summary's output shape`);
  assert.equal(y.shape[0], batch);
  assert.ok(y.data.every(Number.isFinite), `${name}: finite outputs`);
  let dy: Tensor;
  if (opts.probabilities) {
    dy = Tensor.randn(y.shape, 3);
  } else {
    dy = softmaxCrossEntropy(y.reshape([batch, -1]), [0, 1]).grad.reshape(y.shape);
  }
  for (const p of model.params()) p.grad.data.fill(0);
  const dx = model.backward(dy);
  assert.deepEqual(dx.shape, x.shape, `${name}: input gradient shape`);
  assert.ok(dx.data.every(Number.isFinite), `${name}: finite input gradient`);
  const params = model.params();
  const withGrad = params.filter((p) => p.grad.data.some((v) => v !== 0));
  // Every parameter tensor receives some gradient (the first layer's too: the signal goes all the way back).
  assert.equal(withGrad.length, params.length, `${name}: parameters without gradient: ${params.filter((p) => !withGrad.includes(p)).map((p) => p.name).join(", ")}`);
}

const small = { seed: 1 };

test("LeNet-5 runs forward and backward (32x32, 28x28 with padding 2, partial C3)", () => {
  trainStep("lenet5", models.lenet5(small), [1, 32, 32]);
  trainStep("lenet5 28", models.lenet5({ ...small, inputShape: [1, 28, 28] }), [1, 28, 28]);
  trainStep("lenet5 partial", models.lenet5({ ...small, c3: "partial", activation: "relu", pooling: "max" }), [1, 32, 32]);
});

test("AlexNet (paper and torchvision) and ZFNet run forward and backward at reduced width and input", () => {
  trainStep("alexnet", models.alexnet({ ...small, widthMultiplier: 1 / 16, inputShape: [3, 67, 67] }), [3, 67, 67]);
  trainStep("alexnet tv", models.alexnet({ ...small, variant: "torchvision", widthMultiplier: 1 / 16, inputShape: [3, 63, 63] }), [3, 63, 63]);
  trainStep("zfnet", models.zfnet({ ...small, widthMultiplier: 1 / 16, inputShape: [3, 64, 64] }), [3, 64, 64]);
});

test("every VGG configuration runs forward and backward at reduced width on 32x32", () => {
  for (const cfg of models.VGG_CONFIGS) {
    trainStep(`vgg-${cfg}`, models.vgg(cfg, { ...small, widthMultiplier: 1 / 16, inputShape: [3, 32, 32] }), [3, 32, 32]);
  }
  trainStep("vgg16-bn", models.vgg16({ ...small, batchNorm: true, widthMultiplier: 1 / 16, inputShape: [3, 32, 32] }), [3, 32, 32]);
});

test("GoogLeNet (paper, torchvision with auxiliary classifiers) runs forward and backward", () => {
  // The paper's 3x3/2 pooling after inception4e needs at least 64x64 (2x2 maps there).
  trainStep("googlenet", models.googlenet({ ...small, widthMultiplier: 1 / 8, inputShape: [3, 64, 64] }), [3, 64, 64]);
  const aux = models.googlenet({ ...small, variant: "torchvision", aux: true, widthMultiplier: 1 / 8, inputShape: [3, 32, 32], numClasses: 5 });
  const x = Tensor.randn([2, 3, 32, 32], 2);
  const y = aux.forward(x, { training: true });
  assert.deepEqual(y.shape, [2, 15]);
  const { loss, grad } = models.googlenetLoss(y, [1, 4], 5);
  // The combined loss is main + 0.3 (aux1 + aux2).
  const part = (h: number) => softmaxCrossEntropy(new Tensor([2, 5], [...y.data.slice(h * 5, h * 5 + 5), ...y.data.slice(15 + h * 5, 15 + h * 5 + 5)]), [1, 4]).loss;
  assert.ok(Math.abs(loss - (part(0) + 0.3 * (part(1) + part(2)))) < 1e-5);
  const dx = aux.backward(grad);
  assert.deepEqual(dx.shape, x.shape);
  assert.ok(aux.params().every((p) => p.grad.data.some((v) => v !== 0)), "aux heads and trunk all get gradients");
});

test("ResNets (basic and bottleneck, ImageNet and CIFAR with both shortcuts) run forward and backward", () => {
  trainStep("resnet18", models.resnet(18, { ...small, widthMultiplier: 1 / 8, inputShape: [3, 32, 32] }), [3, 32, 32]);
  trainStep("resnet50", models.resnet(50, { ...small, widthMultiplier: 1 / 8, inputShape: [3, 32, 32] }), [3, 32, 32]);
  trainStep("resnet20-cifar A", models.resnetCifar(20, { ...small, inputShape: [3, 16, 16] }), [3, 16, 16]);
  trainStep("resnet20-cifar B", models.resnetCifar(20, { ...small, shortcut: "B", widthMultiplier: 0.5, inputShape: [3, 16, 16] }), [3, 16, 16]);
});

test("the AlphaGo policy net, All-CNN-C and the text CNN run forward and backward", () => {
  const go = models.alphagoPolicy({ ...small, filters: 8, inputShape: [48, 9, 9] });
  trainStep("alphago", go, [48, 9, 9], { probabilities: true });
  const p = go.forward(Tensor.randn([1, 48, 9, 9], 5));
  assert.deepEqual(p.shape, [1, 81]);
  assert.ok(Math.abs(p.data.reduce((a, b) => a + b, 0) - 1) < 1e-5, "a distribution over the points");
  trainStep("allconv", models.allConv({ ...small, widthMultiplier: 1 / 8 }), [3, 32, 32]);
  trainStep("textcnn", models.textCnn({ ...small, vocabSize: 50, softmax: false }), [7], { vocab: 50 });
});

test("LeNet-5's partial C3: output map 0 sees only S2 maps 0, 1, 2", () => {
  const c3 = new MaskedConv2d({ inChannels: 6, outChannels: 16, kernelSize: 5, connections: LENET_C3_CONNECTIONS, rng: new Rng(3) });
  assert.equal(c3.params().reduce((a, p) => a + p.value.size, 0), 1516);
  const x = Tensor.randn([1, 6, 14, 14], 4);
  const y0 = c3.forward(x);
  const x2 = x.clone();
  for (let i = 3 * 196; i < 4 * 196; i++) x2.data[i] += 1; // change S2 map 3
  const y1 = c3.forward(x2);
  const plane = 100;
  for (let i = 0; i < plane; i++) assert.equal(y1.data[i], y0.data[i], "map 0 does not read map 3");
  assert.ok(y1.data.slice(plane, 2 * plane).some((v, i) => v !== y0.data[plane + i]), "map 1 reads map 3");
  assert.throws(() => new MaskedConv2d({ inChannels: 6, outChannels: 2, kernelSize: 3, connections: [[0], [6]] }), /distinct input map index in \[0, 6\)/);
});

// ---------------------------------------------------------------------------
// Gradient checks of the zoo's layers, by central differences in float64.

function gradCheck(name: string, make: () => Layer, shape: number[], seed: number): void {
  withFloat64(() => {
    const layer = make();
    const x = Tensor.randn(shape, seed);
    const y = layer.forward(x, { training: true });
    const r = Tensor.randn(y.shape, seed + 1);
    const f = (): number => {
      const out = layer.forward(x, { training: true });
      let s = 0;
      for (let i = 0; i < out.size; i++) s += out.data[i] * r.data[i];
      return s;
    };
    f();
    for (const p of layer.params()) p.grad.data.fill(0);
    const dx = layer.backward(r);
    const eps = 1e-6;
    const check = (values: Float32Array, analytic: Float32Array, what: string) => {
      for (let i = 0; i < values.length; i++) {
        const old = values[i];
        values[i] = old + eps;
        const up = f();
        values[i] = old - eps;
        const down = f();
        values[i] = old;
        const numeric = (up - down) / (2 * eps);
        assert.ok(Math.abs(numeric - analytic[i]) <= 1e-7 + 1e-6 * Math.abs(numeric), `${name} ${what}[${i}]: numeric ${numeric}, analytic ${analytic[i]}`);
      }
    };
    check(x.data, dx.data, "dx");
    layer.params().forEach((p: Param) => check(p.value.data, p.grad.data, p.name));
  });
}

test("gradient checks: MaskedConv2d, PositionBias, AdaptiveAvgPool2d, ShortcutPad", () => {
  gradCheck("MaskedConv2d", () => new MaskedConv2d({ inChannels: 3, outChannels: 4, kernelSize: 3, padding: 1, stride: 2, connections: [[0], [1, 2], [0, 2], [0, 1, 2]], rng: new Rng(1) }), [2, 3, 5, 5], 10);
  gradCheck("PositionBias", () => {
    const l = new PositionBias({ shape: [2, 3, 3] });
    l.bias.value.data.forEach((_, i, d) => (d[i] = i / 7));
    return l;
  }, [2, 2, 3, 3], 20);
  gradCheck("AdaptiveAvgPool2d 5x7 -> 3x2", () => new AdaptiveAvgPool2d({ outputSize: [3, 2] }), [2, 2, 5, 7], 30);
  gradCheck("AdaptiveAvgPool2d upsampling 2x2 -> 3x3", () => new AdaptiveAvgPool2d({ outputSize: 3 }), [1, 2, 2, 2], 40);
  gradCheck("ShortcutPad", () => new ShortcutPad({ inChannels: 2, outChannels: 4, stride: 2 }), [2, 2, 5, 5], 50);
});

test("AdaptiveAvgPool2d follows PyTorch's windows", () => {
  // 5 -> 3: rows [0, 2), [1, 4), [3, 5).
  const x = new Tensor([1, 1, 5, 1], [1, 2, 3, 4, 5]);
  const y = new AdaptiveAvgPool2d({ outputSize: [3, 1] }).forward(x);
  assert.deepEqual(Array.from(y.data), [1.5, 3, 4.5]);
});

test("a saved topology with the zoo's layers reloads and computes the same", () => {
  const m = models.lenet5({ seed: 4, c3: "partial" });
  const go = models.alphagoPolicy({ seed: 5, filters: 4, hiddenLayers: 1, inputShape: [48, 5, 5] });
  for (const [model, shape] of [[m, [2, 1, 32, 32]], [go, [1, 48, 5, 5]]] as const) {
    const spec = JSON.parse(JSON.stringify(toSpec(model)));
    const copy = fromSpec(spec) as Layer;
    const a = model.params(), b = copy.params();
    assert.equal(a.length, b.length);
    a.forEach((p, i) => b[i].value.data.set(p.value.data));
    const x = Tensor.randn([...shape], 6);
    assert.deepEqual(Array.from(copy.forward(x).data), Array.from(model.forward(x).data));
  }
});

test("AdaptiveAvgPool2d sits with the pooling layers and still loads from old saves", async () => {
  const root = await import("../src/index.js");
  const { AdaptiveAvgPool2d: fromPool } = await import("../src/layers/pool.js");
  // One class, wherever it is imported from.
  assert.equal(models.AdaptiveAvgPool2d, fromPool);
  assert.equal(root.AdaptiveAvgPool2d, fromPool);
  assert.equal(root.models.AdaptiveAvgPool2d, fromPool);
  assert.equal(AdaptiveAvgPool2d, fromPool);
  // A topology saved before the move: type "AdaptiveAvgPool2d", config { outputSize }.
  const saved = { type: "Sequential", name: "m", config: {}, layers: [{ type: "AdaptiveAvgPool2d", name: "avgpool", config: { outputSize: [2, 2] } }] };
  const m = fromSpec(saved) as Layer;
  assert.deepEqual(toSpec(m), saved);
  const y = m.forward(new Tensor([1, 1, 4, 4], Array.from({ length: 16 }, (_, i) => i)));
  assert.deepEqual([...y.data], [2.5, 4.5, 10.5, 12.5]);
});
