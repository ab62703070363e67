/**
 * summary(): the notes' VGG-16 listing row by row, their small examples, the
 * Inception arithmetic, inexact-fit notes, nested names and the CLI command.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ShapeError } from "../src/shape.js";
import { Conv2d } from "../src/layers/conv.js";
import { ReLU } from "../src/layers/activation.js";
import { Sequential } from "../src/models/sequential.js";
import * as models from "../src/models/zoo/index.js";
import { summary } from "../src/models/summary.js";
import { summaryCommand } from "../src/cli/commands/summary.js";

const fast = { init: false } as const;

test("VGG-16 reproduces the notes' per-layer listing", () => {
  const s = summary(models.vgg16(fast), [3, 224, 224]);
  // The notes' rows: [volume HxWxD, weights (biases excluded)].
  const notes: [string, number][] = [
    ["224x224x3", 0],
    ["224x224x64", 3 * 3 * 3 * 64], ["224x224x64", 3 * 3 * 64 * 64], ["112x112x64", 0],
    ["112x112x128", 3 * 3 * 64 * 128], ["112x112x128", 3 * 3 * 128 * 128], ["56x56x128", 0],
    ["56x56x256", 3 * 3 * 128 * 256], ["56x56x256", 3 * 3 * 256 * 256], ["56x56x256", 3 * 3 * 256 * 256], ["28x28x256", 0],
    ["28x28x512", 3 * 3 * 256 * 512], ["28x28x512", 3 * 3 * 512 * 512], ["28x28x512", 3 * 3 * 512 * 512], ["14x14x512", 0],
    ["14x14x512", 3 * 3 * 512 * 512], ["14x14x512", 3 * 3 * 512 * 512], ["14x14x512", 3 * 3 * 512 * 512], ["7x7x512", 0],
    ["1x1x4096", 7 * 7 * 512 * 4096], ["1x1x4096", 4096 * 4096], ["1x1x1000", 4096 * 1000],
  ];
  assert.deepEqual(s.rows.map((r) => [r.volume, r.weights]), notes);
  assert.equal(s.rows[1].activations, 3_211_264); // 224*224*64 = 3.2M
  assert.equal(s.rows[1].weights, 1_728);
  assert.equal(s.rows[19].weights, 102_760_448);
  assert.equal(s.rows[20].weights, 16_777_216);
  assert.equal(s.rows[21].weights, 4_096_000);
  assert.equal(s.rows[18].activations, 25_088); // 7*7*512 = 25K
  assert.equal(s.totalParams, 138_357_544);
  // The true sum of the rows (input included), computed from the volumes themselves.
  const sum = notes.reduce((a, [v]) => a + v.split("x").map(Number).reduce((x, y) => x * y, 1), 0);
  assert.equal(s.totalActivations, sum);
  assert.equal(sum, 15_237_608);
  assert.equal(s.forwardBytes, sum * 4);
  assert.equal(s.forwardBackwardBytes, sum * 8);
  assert.ok(Math.abs(s.totalMacs - 15.47e9) / 15.47e9 < 0.01);
  assert.equal(s.totalFlops, 2 * s.totalMacs);
  assert.ok(s.rows.every((r) => r.note === undefined), "every fit of VGG-16 at 224 is exact");
  const table = s.toString();
  assert.match(table, /conv1_1 +Conv2d\+ReLU +224x224x64 +\[64, 224, 224\] +224\*224\*64 = 3\.21M +\(3\*3\*3\)\*64 = 1,728/);
  assert.match(table, /fc6 .*25088\*4096 = 102,760,448/);
  assert.match(table, /params: 138,357,544 \(138M\)/);
  assert.match(table, /activations per example: 15,237,608/);
});

test("the notes' small examples: 32x32x3 with ten 5x5 filters, pad 2, and AlexNet's conv1", () => {
  const s = summary(new Sequential([new Conv2d({ inChannels: 3, outChannels: 10, kernelSize: 5, padding: 2 })]), [3, 32, 32]);
  assert.equal(s.rows[1].volume, "32x32x10");
  assert.equal(s.rows[1].params, 760);
  const alex = summary(models.alexnet(fast), [3, 227, 227]);
  assert.equal(alex.rows[1].volume, "55x55x96");
  assert.equal(alex.rows[1].params, 34_944);
  assert.equal(alex.rows[1].note, undefined);
});

test("an inexact fit carries its formula: AlexNet at 224 instead of 227; strict refuses it", () => {
  const m = models.alexnet({ ...fast, inputShape: [3, 224, 224] });
  const s = summary(m, [3, 224, 224]);
  assert.equal(s.rows[1].volume, "54x54x96");
  assert.match(s.rows[1].note ?? "", /\(224 - 11 \+ 0\)\/4 \+ 1 = 54\.25, floored to 54/);
  assert.match(s.toString(), /note: height and width: \(W - F \+ 2P\)\/S \+ 1 = \(224 - 11 \+ 0\)\/4 \+ 1 = 54\.25/);
  assert.throws(() => summary(m, [3, 224, 224], { strict: true }), (e: unknown) => e instanceof ShapeError && /conv1: .*54\.25 is not a whole number/.test(e.message));
});

test("the Inception arithmetic: 120M multiplies for the 5x5 branch on 28x28x192, 12.4M with the 1x1 reduction", () => {
  const direct = summary(new Sequential([new Conv2d({ inChannels: 192, outChannels: 32, kernelSize: 5, padding: 2, init: "zeros" })]), [192, 28, 28]);
  assert.equal(direct.totalMacs, 28 * 28 * 32 * 5 * 5 * 192);
  assert.equal(Math.round(direct.totalMacs / 1e6), 120);
  const g = summary(models.googlenet(fast), [3, 224, 224]);
  const reduce = g.rows.find((r) => r.name === "inception3a.branch3.reduce")!;
  const conv = g.rows.find((r) => r.name === "inception3a.branch3.conv")!;
  assert.equal(reduce.volume, "28x28x16");
  assert.equal(conv.volume, "28x28x32");
  assert.equal(reduce.macs + conv.macs, 28 * 28 * 16 * 192 + 28 * 28 * 32 * 5 * 5 * 16);
  assert.equal(Math.round((reduce.macs + conv.macs) / 1e5) / 10, 12.4);
  assert.equal(g.rows.find((r) => r.name === "inception3a.concat")!.volume, "28x28x256");
});

test("nested containers are rows with dotted names; fold: false lists every layer", () => {
  const m = models.resnet(18, fast);
  const s = summary(m, [3, 224, 224]);
  const names = s.rows.map((r) => r.name);
  for (const n of ["conv1", "layer1.0.conv1", "layer1.0.bn2", "layer2.0.downsample.0", "layer2.0.downsample.1", "layer4.1.add", "fc"]) {
    assert.ok(names.includes(n), `row ${n}`);
  }
  assert.equal(s.rows.find((r) => r.name === "layer4.1.add")!.volume, "7x7x512");
  assert.equal(s.rows.find((r) => r.name === "layer1.0.add")!.type, "Add+ReLU");
  const all = summary(m, [3, 224, 224], { fold: false });
  assert.ok(all.rows.some((r) => r.name === "layer1.0.relu"));
  // Unfolded, every ReLU (and the flatten) adds its volume again.
  const extra = all.rows.filter((r) => r.type === "ReLU" || r.type === "Flatten").reduce((a, r) => a + r.activations, 0);
  assert.ok(extra > 0);
  assert.equal(all.totalActivations, s.totalActivations + extra);
  assert.equal(all.totalParams, s.totalParams);
  assert.equal(all.totalMacs, s.totalMacs);
});

test("a batched input shape gives per-example totals", () => {
  const m = models.lenet5(fast);
  const one = summary(m, [1, 32, 32]);
  const four = summary(m, [4, 1, 32, 32]);
  assert.equal(four.totalActivations, one.totalActivations);
  assert.equal(four.totalMacs, one.totalMacs);
  assert.deepEqual(four.inputShape, [1, 32, 32]);
  // LeNet-5: C1 28x28x6, S2 14x14x6, C3 10x10x16, S4 5x5x16, C5 120, F6 84, output 10.
  assert.deepEqual(one.rows.map((r) => r.volume), ["32x32x1", "28x28x6", "14x14x6", "10x10x16", "5x5x16", "1x1x120", "1x1x84", "1x1x10"]);
  assert.equal(one.totalMacs, 28 * 28 * 6 * 25 + 10 * 10 * 16 * 25 * 6 + 400 * 120 + 120 * 84 + 84 * 10);
  assert.throws(() => summary(m, [1, 32, -1]), /inputShape = \[1,32,-1\] is not valid/);
});

test("a model whose shapes do not fit says where", () => {
  assert.throws(() => summary(models.vgg16(fast), [3, 100, 100]), (e: unknown) => e instanceof ShapeError && /fc6: expects 25088 input features/.test(e.message));
  assert.throws(() => summary(new Sequential([new ReLU()]), [3, 8, 8], { dtype: "int8" as any }), /dtype = "int8" is not valid/);
});

test("stride summary <model>: the table and the memory estimate; bad arguments exit with 2", async () => {
  const run = async (argv: string[]) => {
    const out: string[] = [], err: string[] = [];
    const code = await summaryCommand(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
    return { code, out: out.join("\n"), err: err.join("\n") };
  };
  const ok = await run(["vgg16", "--batch", "8", "--optimizer", "momentum"]);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /params: 138,357,544/);
  assert.match(ok.out, /memory for a batch of 8 \(float32, 4 bytes per value\), optimizer momentum/);
  assert.match(ok.out, /optimizer state \(1 copy of the parameters\)/);
  const input = await run(["alexnet", "--input=3x224x224"]);
  assert.equal(input.code, 0, input.err);
  assert.match(input.out, /54\.25, floored to 54/);
  const strict = await run(["alexnet", "--input", "3x224x224", "--strict"]);
  assert.equal(strict.code, 1);
  assert.match(strict.err, /54\.25 is not a whole number/);
  for (const bad of [["nosuchnet"], [], ["vgg16", "--batch", "0"], ["vgg16", "--input", "3x22a"], ["vgg16", "--optimizer", "lbfgs"], ["vgg16", "--frobnicate"], ["vgg16", "resnet18"]]) {
    const r = await run(bad);
    assert.equal(r.code, 2, `${bad.join(" ")}: ${r.err}`);
    assert.equal(r.err.split("\n").length, 1, "one line");
    assert.match(r.err, /^stride summary: /);
  }
  const text = await run(["textcnn", "--input", "12"]);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /regions\.region4\.conv/);
});

test("stride summary prints a saved folder's layer names without their control characters", async () => {
  const { saveModel } = await import("../src/node/files.js");
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = join(mkdtempSync(join(tmpdir(), "stride-summary-")), "m");
  saveModel(new Sequential([new Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3, name: "conv\x1b]0;owned\x07" })]), dir, { inputShape: [1, 8, 8] });
  const out: string[] = [];
  assert.equal(await summaryCommand([dir], { out: (t) => out.push(t), err: (t) => out.push(t) }), 0, out.join("\n"));
  const text = out.join("\n");
  assert.ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(text), "no raw control characters");
  assert.match(text, /conv\\x1b\]0;owned\\x07/);
});
