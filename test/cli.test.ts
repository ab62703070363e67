/**
 * The `stride` command as a user runs it: `node bin/stride.js …` in a child
 * process, on tiny settings (one epoch of a few batches) so the whole file
 * takes seconds. Checks what the user sees: exit codes, the lines printed,
 * the files written, and that bad input gives one clear line, never a stack trace.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, existsSync, cpSync, truncateSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PNG } from "pngjs";
import { mnistDigitsSplit } from "../src/node/mnist.js";
import { loadModelWithInfo } from "../src/node/files.js";
import { weightsFileOf } from "./helpers/model-folder.js";
import { loadImage } from "../src/node/data.js";
import { predict } from "../src/train/trainer.js";
import { findLayer } from "../src/models/named.js";
import { Conv2d } from "../src/layers/conv.js";

// dist/test/cli.test.js -> the repository's bin/stride.js
const STRIDE = fileURLToPath(new URL("../../bin/stride.js", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "stride-cli-"));
const modelDir = join(work, "lenet");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function stride(...args: string[]): Run {
  const r = spawnSync(process.execPath, [STRIDE, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** One clear line on stderr, exit code 2, and no stack trace. */
function assertUsageError(r: Run, pattern: RegExp): void {
  assert.equal(r.code, 2, `exit code ${r.code}; stderr: ${r.stderr}`);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line, got:\n${r.stderr}`);
  assert.match(lines[0], /^stride: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at |Error:|node:internal/);
}

const percent = (line: string, what: string): number => {
  const m = line.match(new RegExp(`${what} (\\d+\\.\\d+)%`));
  assert.ok(m, `no "${what} …%" in: ${line}`);
  return Number(m[1]);
};

let trainRun: Run;

before(() => {
  trainRun = stride(
    "train", "--epochs", "1", "--max-batches", "4", "--batch-size", "32", "--val-fraction", "0", "--schedule", "none",
    "--progress", "lines", "--out", modelDir,
  );
});

test("stride train with tiny settings trains LeNet-5 on the built-in digits, reports test accuracy and saves the model", () => {
  assert.equal(trainRun.code, 0, trainRun.stderr);
  const out = trainRun.stdout;
  assert.match(out, /^stride: training lenet5 \([\d,]+ parameters\) on mnist: \d+ training, 0 validation, \d+ test images of 1x28x28/m);
  assert.match(out, /batch 32, 1 epochs of at most 4 batches/);
  assert.match(out, /^epoch 1\/1 {2}loss \d+\.\d+ {2}acc \d+\.\d+%.* img\/s/m);
  assert.match(out, /^test accuracy \d+\.\d+% \(\d+\/\d+\), top-5 \d+\.\d+%, loss \d+\.\d+$/m);
  assert.ok(existsSync(join(modelDir, "model.json")) && existsSync(weightsFileOf(modelDir)));
  assert.ok(existsSync(join(modelDir, "checkpoints", "latest.json")));
  const { info } = loadModelWithInfo(modelDir);
  assert.deepEqual(info.inputShape, [1, 28, 28]);
  assert.equal(info.classes?.length, 10);
  assert.equal(trainRun.stderr, "");
});

test("stride eval reports the same test accuracy as the training run, with the confusion matrix", () => {
  const r = stride("eval", modelDir, "--backend", "js");
  assert.equal(r.code, 0, r.stderr);
  const trainLine = trainRun.stdout.split("\n").find((l) => l.startsWith("test accuracy"))!;
  const evalLine = r.stdout.split("\n")[0];
  assert.match(evalLine, /on mnist test \(\d+ images\): accuracy \d+\.\d+%, top-5 \d+\.\d+%, loss/);
  // The same held-out digits and the same weights: the same accuracy (to the printed precision).
  assert.equal(percent(evalLine, "accuracy"), percent(trainLine, "test accuracy"));
  assert.match(r.stdout, /<- predicted/);
  // Ten rows of counts that add up to the number of test images.
  const count = Number(evalLine.match(/\((\d+) images/)![1]);
  const rows = r.stdout.trim().split("\n").slice(2);
  assert.equal(rows.length, 10);
  const total = rows.flatMap((row) => row.trim().split(/\s+/).slice(1).map(Number)).reduce((a, b) => a + b, 0);
  assert.equal(total, count);
});

test("stride predict prints the top-5 labels of a PNG, the same as the library's predict()", () => {
  // A real test digit, written as an 8-bit grey PNG.
  const { test: digits } = mnistDigitsSplit({ seed: 1 });
  const png = new PNG({ width: 28, height: 28 });
  for (let i = 0; i < 28 * 28; i++) {
    const v = Math.round(digits.images[i] * 255);
    png.data.set([v, v, v, 255], i * 4);
  }
  const file = join(work, "digit.png");
  writeFileSync(file, PNG.sync.write(png, { colorType: 0 }));
  const r = stride("predict", modelDir, file, "--backend", "js");
  assert.equal(r.code, 0, r.stderr);
  const line = r.stdout.trim();
  assert.ok(line.startsWith(`${file}: `), line);
  const entries = line.slice(file.length + 2).split(", ").map((e) => {
    const [label, p] = e.split(" ");
    return { label, p: Number(p.replace("%", "")) };
  });
  assert.equal(entries.length, 5);
  for (let i = 1; i < 5; i++) assert.ok(entries[i - 1].p >= entries[i].p, `not sorted: ${line}`);
  const { model, info } = loadModelWithInfo(modelDir);
  const [expected] = predict(model, loadImage(file, { size: [28, 28], channels: 1 }), { classes: info.classes, k: 5, normalize: info.normalization });
  assert.deepEqual(entries.map((e) => e.label), expected.map((e) => e.label));
  entries.forEach((e, i) => assert.ok(Math.abs(e.p - 100 * expected[i].probability) < 0.051, `${e.p} vs ${100 * expected[i].probability}`));
});

test("bad arguments give one clear line and exit code 2", () => {
  assertUsageError(stride("train", "--epochs", "0"), /--epochs 0 is not valid/);
  assertUsageError(stride("train", "--model-width=0"), /--model-width 0 is not valid/);
  assertUsageError(stride("train", "--max-batches", "1.5"), /--max-batches 1\.5 is not valid/);
  assertUsageError(stride("train", "--frobnicate"), /frobnicate/);
  assertUsageError(stride("train", "--optimizer", "newton", "--max-batches", "1"), /--optimizer newton is not valid; use momentum/);
  assertUsageError(stride("train", "no-such-net", "--max-batches", "1"), /unknown model "no-such-net"; use one of lenet5, .*bn-convnet/);
  // Found by the fuzzer: a model named after a member of Object.prototype crashed with a stack trace.
  assertUsageError(stride("train", "constructor", "--max-batches", "1"), /unknown model "constructor"; use one of lenet5/);
  const summary = stride("summary", "constructor");
  assert.equal(summary.code, 2, summary.stderr);
  assert.match(summary.stderr, /^stride summary: unknown model "constructor"; use one of lenet5[^\n]*\n$/);
  assertUsageError(stride("train", "--dataset", "/no/such/folder"), /unknown dataset "\/no\/such\/folder"/);
  assertUsageError(stride("predict", modelDir), /predict takes a saved model's folder and one or more images/);
  assertUsageError(stride("eval", join(work, "nothing-here")), /nothing-here: does not exist/);
  assertUsageError(stride("predict", modelDir, join(work, "missing.png"), "--backend", "js"), /missing\.png/);
  const unknown = stride("frobnicate");
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr.split("\n")[0], /^stride: unknown command "frobnicate"$/);
});

test("a damaged model folder gives the ModelFileError line naming the file and the problem", () => {
  const truncated = join(work, "truncated");
  cpSync(modelDir, truncated, { recursive: true });
  const weights = weightsFileOf(truncated);
  truncateSync(weights, Math.floor(statSync(weights).size / 2));
  const r = stride("eval", truncated, "--backend", "js");
  assertUsageError(r, /weights-[^/]+\.safetensors: /);

  const badJson = join(work, "bad-json");
  cpSync(modelDir, badJson, { recursive: true });
  const json = join(badJson, "model.json");
  writeFileSync(json, readFileSync(json, "utf8").slice(0, 40));
  assertUsageError(stride("predict", badJson, join(work, "digit.png"), "--backend", "js"), /model\.json: is not valid JSON/);
});

test("--help lists every model with what it is; --model-width shrinks the recipe models", () => {
  const help = stride("--help");
  assert.equal(help.code, 0);
  for (const name of ["lenet5", "bn-convnet", "resnet8-wide", "resnet20"]) assert.match(help.stdout, new RegExp(`^  ${name} +\\S`, "m"));
  assert.match(help.stdout, /--model-width X/);
  assert.match(help.stdout, /--max-batches N/);
  const trainHelp = stride("train", "--help");
  assert.equal(trainHelp.code, 0, trainHelp.stderr);
  assert.equal(trainHelp.stdout, help.stdout);

  const dir = join(work, "bn");
  const r = stride(
    "train", "bn-convnet", "--model-width", "0.25", "--epochs", "1", "--max-batches", "2", "--batch-size", "16",
    "--val-fraction", "0", "--schedule", "none", "--progress", "none", "--out", dir,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /width x0\.25/);
  const { model } = loadModelWithInfo(dir);
  // 32, 64, 128 filters at a quarter width.
  assert.deepEqual(["conv1", "conv2", "conv3"].map((n) => (findLayer(model, n) as Conv2d).outChannels), [8, 16, 32]);
});
