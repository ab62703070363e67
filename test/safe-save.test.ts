/**
 * What keeps a run's files whole and its mistakes clear: the lock on --out,
 * stale temporaries cleared, checkpoints that cannot point elsewhere, the
 * command line's bounds, the divergence guard, NaN inputs refused and class
 * names printed safely.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { basename, join } from "node:path";
import { PNG } from "pngjs";
import * as s from "../src/index.js";
import { createDataset, type Dataset } from "../src/data/dataset.js";
import { fit, evaluate, predict, TrainingDivergedError } from "../src/train/trainer.js";
import { SGD, Adam } from "../src/train/optimizers.js";
import { saveModel, loadModel } from "../src/node/files.js";
import { ModelFileError } from "../src/io/safetensors.js";
import { lockFolder, FolderLockedError, LOCK_FILE } from "../src/node/lock.js";
import { main } from "../src/cli/main.js";
import { printable } from "../src/cli/printable.js";
import { buildWithinLimit } from "../src/cli/bounds.js";
import { buildModel } from "../src/cli/models.js";
import { CliError } from "../src/cli/errors.js";
import { StrideError } from "../src/stride-error.js";
import { weightsFileOf } from "./helpers/model-folder.js";

const tmp = () => mkdtempSync(join(tmpdir(), "stride-safe-"));

/** The id of a process that has exited (so no process runs under it, unless the system reuses it at once). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(r.stdout);
}

/** Runs the CLI's main in this process, capturing what it prints. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stderr = "", stdout = "";
  const err = process.stderr.write.bind(process.stderr), log = console.log;
  process.stderr.write = ((t: string) => ((stderr += t), true)) as typeof process.stderr.write;
  console.log = (...a: unknown[]) => void (stdout += a.join(" ") + "\n");
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    process.stderr.write = err;
    console.log = log;
  }
}

/** One line on stderr starting "stride", no stack trace. */
function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  assert.match(lines[0], /^stride/);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(stderr, /\n\s+at |node:internal/);
}

const tiny = ["--epochs", "1", "--max-batches", "2", "--batch-size", "16", "--val-fraction", "0", "--schedule", "none", "--progress", "none", "--backend", "js"];

function quadrants(n: number, seed: number): Dataset {
  const rng = new s.Rng(seed);
  const images = new Float32Array(n * 36);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 4;
    for (let j = 0; j < 36; j++) {
      const h = Math.floor(j / 6), w = j % 6;
      images[i * 36 + j] = ((h < 3 ? 0 : 2) + (w < 3 ? 0 : 1) === i % 4 ? 0.8 : 0.1) + 0.1 * rng.normal();
    }
  }
  return createDataset({ name: "quadrants", images, labels, shape: [1, 6, 6], classes: ["tl", "tr", "bl", "br"] });
}

function smallNet(seed = 3): s.Sequential {
  const rng = new s.Rng(seed);
  return new s.Sequential([
    new s.Conv2d({ inChannels: 1, outChannels: 4, kernelSize: 3, padding: 1, rng }), new s.ReLU(),
    new s.MaxPool2d({ kernelSize: 2 }), new s.Flatten(), new s.Linear({ inFeatures: 36, outFeatures: 4, rng }),
  ]);
}

// ---------------------------------------------------------------------------
// The lock on a folder.

test("a second lock on a folder is refused naming the holder; release lets the next one in", () => {
  const dir = tmp();
  const first = lockFolder(dir, "stride train");
  assert.throws(() => lockFolder(dir, "stride import"), (e: unknown) =>
    e instanceof FolderLockedError && e instanceof StrideError && e.owner?.pid === process.pid &&
    e.message.includes(`in use by process ${process.pid} on ${hostname()} (stride train, since `) && /use another --out folder/.test(e.message));
  first.release();
  assert.ok(!existsSync(join(dir, LOCK_FILE)));
  lockFolder(dir, "again").release();
});

test("a lock left by a process that no longer runs is taken over with a note", () => {
  const dir = tmp();
  const pid = deadPid();
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, host: hostname(), since: "2026-01-01T00:00:00Z", purpose: "stride train", token: "old" }));
  const notes: string[] = [];
  const lock = lockFolder(dir, "stride train", (line) => notes.push(line));
  assert.equal(lock.owner.pid, process.pid);
  assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")).pid, process.pid);
  assert.equal(notes.length, 1);
  assert.match(notes[0], new RegExp(`took over the lock on .* left by process ${pid} on `));
  lock.release();
});

test("a lock held on another host is refused with how to clear it; an unreadable one too", () => {
  const dir = tmp();
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: "elsewhere.example", since: "2026-01-01T00:00:00Z", purpose: "stride train", token: "x" }));
  assert.throws(() => lockFolder(dir, "stride train"), /in use by process 1 on elsewhere\.example .*if that process is gone, delete .*\.stride\.lock/);
  writeFileSync(join(dir, LOCK_FILE), "{garbage");
  assert.throws(() => lockFolder(dir, "stride train"), (e: unknown) => e instanceof FolderLockedError && /cannot be read; if no stride process writes/.test((e as Error).message));
});

test("stride train refuses an --out another trainer holds, and takes over a dead trainer's lock", async () => {
  const dir = join(tmp(), "run");
  const held = lockFolder(dir, "stride train");
  try {
    const r = await cli("train", ...tiny, "--out", dir);
    assert.equal(r.code, 2);
    assertOneLine(r.stderr, new RegExp(`${dir} is in use by process ${process.pid} on `));
    assert.ok(!existsSync(join(dir, "model.json")));
  } finally {
    held.release();
  }
  const pid = deadPid();
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, host: hostname(), since: "2026-01-01T00:00:00Z", purpose: "stride train", token: "old" }));
  const r = await cli("train", ...tiny, "--out", dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`^stride: note: took over the lock on ${dir} left by process ${pid} on `));
  assert.ok(existsSync(join(dir, "model.json")));
  assert.ok(!existsSync(join(dir, LOCK_FILE)), "the lock is released when training ends");
});

// ---------------------------------------------------------------------------
// Leftovers of killed saves.

test("the next save removes temporaries and uncommitted weights of dead processes and its own, and leaves other live ones", () => {
  const dir = join(tmp(), "model");
  saveModel(smallNet(), dir);
  const dead = deadPid();
  // This process's own: saves are synchronous, so none of them can be under way (a killed saver can leave our old weights).
  const own = [`.model.json.${process.pid}.abc.0.tmp`, `weights-abc-${process.pid}-99.safetensors`];
  const stale = [`.model.json.${dead}.abc.0.tmp`, `weights-abc-${dead}-3.safetensors`, `.stride.lock.${dead}.0a1b.0.tmp`, ...own];
  // The parent process (the test runner) runs, and could be saving.
  const live = [`.model.json.${process.ppid}.abc.0.tmp`, `weights-abc-${process.ppid}-99.safetensors`];
  for (const f of [...stale, ...live]) writeFileSync(join(dir, f), "partial");
  saveModel(smallNet(4), dir);
  const left = readdirSync(dir);
  for (const f of stale) assert.ok(!left.includes(f), `${f} is still there`);
  for (const f of live) assert.ok(left.includes(f), `${f} of a running process was removed`);
  assert.ok(loadModel(dir));
});

// ---------------------------------------------------------------------------
// Checkpoints.

async function checkpointed(): Promise<string> {
  const dir = tmp();
  const model = smallNet();
  await fit(model, quadrants(16, 1), { epochs: 1, batchSize: 8, optimizer: new SGD(model.params(), { lr: 0.05 }), checkpointDir: dir, progress: "none" });
  return dir;
}

function resume(dir: string, epochs = 2): Promise<unknown> {
  const model = smallNet();
  return fit(model, quadrants(16, 1), { epochs, batchSize: 8, optimizer: new SGD(model.params(), { lr: 0.05 }), resume: dir, progress: "none" });
}

test("--resume refuses a latest.json that points outside its folder: ../, an absolute path, a symbolic link out", async () => {
  const dir = await checkpointed();
  const other = await checkpointed();
  const latestPath = join(dir, "latest.json");
  const latest = JSON.parse(readFileSync(latestPath, "utf8"));
  const pointTo = (folder: string) => writeFileSync(latestPath, JSON.stringify({ ...latest, folder }));

  pointTo(`../${basename(other)}/${latest.folder}`);
  await assert.rejects(resume(dir), (e: unknown) => e instanceof ModelFileError && e.path === latestPath && /points outside its folder/.test((e as Error).message));
  pointTo(join(other, latest.folder));
  await assert.rejects(resume(dir), /points outside its folder/);
  pointTo("..");
  await assert.rejects(resume(dir), /points outside its folder/);
  pointTo("checkpoint-of-someone");
  await assert.rejects(resume(dir), /is not an epoch-NNNN checkpoint folder/);
  symlinkSync(join(other, latest.folder), join(dir, "epoch-0007"));
  pointTo("epoch-0007");
  await assert.rejects(resume(dir), /epoch-0007: is a symbolic link out of /);
  pointTo(latest.folder);
  await resume(dir); // the untouched pointer resumes

  // Through the command line: one clear line, exit code 2.
  const run = join(tmp(), "run");
  assert.equal((await cli("train", ...tiny, "--out", run)).code, 0);
  const cliLatest = join(run, "checkpoints", "latest.json");
  writeFileSync(cliLatest, JSON.stringify({ ...JSON.parse(readFileSync(cliLatest, "utf8")), folder: "../../other-run" }));
  const r = await cli("train", ...tiny, "--epochs", "2", "--resume", "--out", run);
  assert.equal(r.code, 2);
  assertOneLine(r.stderr, /latest\.json: points outside its folder/);
});

test("resume clears what a killed run left: temporaries and unfinished epoch folders", async () => {
  const dir = await checkpointed();
  const dead = deadPid();
  writeFileSync(join(dir, `.latest.json.${dead}.abc.0.tmp`), "{");
  mkdirSync(join(dir, "epoch-0002"));
  writeFileSync(join(dir, "epoch-0002", "model.json"), "{");
  await resume(dir, 1); // already at epoch 1: restores and returns
  assert.deepEqual(readdirSync(dir).sort(), [JSON.parse(readFileSync(join(dir, "latest.json"), "utf8")).folder, "latest.json"].sort());
});

test("a new run into a checkpoint folder never rewrites the folder latest.json names", async () => {
  const dir = await checkpointed();
  const before = JSON.parse(readFileSync(join(dir, "latest.json"), "utf8")).folder;
  const beforeWeights = readFileSync(weightsFileOf(join(dir, before)));
  const model = smallNet(9);
  // Its epoch 1 goes to a fresh folder: until latest.json is replaced, the old epoch 1 stays whole.
  await fit(model, quadrants(16, 1), { epochs: 1, batchSize: 8, optimizer: new SGD(model.params(), { lr: 0.05 }), checkpointDir: dir, progress: "none" });
  const after = JSON.parse(readFileSync(join(dir, "latest.json"), "utf8")).folder;
  assert.notEqual(after, before);
  assert.match(after, /^epoch-0001-[0-9a-z]+$/);
  assert.deepEqual(readFileSync(weightsFileOf(join(dir, before))), beforeWeights, "the previous checkpoint is kept as it was");
  await resume(dir, 2);
});

// ---------------------------------------------------------------------------
// Command-line bounds.

test("out-of-range flags get one line naming the flag, the limit and what to give", async () => {
  const cases: [string[], RegExp][] = [
    [["train", "--threads", "10000"], /--threads 10000 is too large: give a whole number from 1 to \d+ \(four per core/],
    [["train", "--threads", "0"], /--threads 0 is not valid: give a whole number from 1 to \d+/],
    [["eval", "somewhere", "--threads", "1e9"], /--threads 1e9 is too large/],
    [["train", "--model-width", "1e6"], /--model-width 1e6 is too large: give a number > 0 and at most 8/],
    [["train", "--model-width", "0"], /--model-width 0 is not valid: give a number > 0 and at most 8/],
    [["train", "--batch-size", "1e9"], /--batch-size 1e9 is too large: give a whole number from 1 to 65536/],
    [["train", "--epochs", "0"], /--epochs 0 is not valid: give a whole number from 1 to 1000000/],
    [["train", "--epochs", "2.5"], /--epochs 2\.5 is not valid: give a whole number/],
    [["train", "--lr=-1"], /--lr -1 is not valid: give a number > 0/],
    [["train", "--lr", "-1"], /Option '--lr' argument is ambiguous\. Did you forget/],
    [["train", "--lr", "Infinity"], /--lr Infinity is not valid/],
    [["train", "--lr", "nan"], /--lr nan is not valid/],
    [["train", "--image-size", "100000"], /--image-size 100000 is too large: give a whole number from 4 to 4096/],
    [["train", "--val-fraction", "1"], /--val-fraction 1 is not valid: give a number >= 0 and below 1/],
    [["train", "--divergence-factor", "1"], /--divergence-factor 1 is not valid: give a number > 1/],
    [["import", "/nonexistent.pth", "--input", "1x20000x20000"], /does not exist/],
  ];
  for (const [args, pattern] of cases) {
    const r = await cli(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}, ${r.stderr}`);
    assertOneLine(r.stderr, pattern);
  }
});

test("input shapes past the limits are refused before anything is allocated", async () => {
  const file = join(tmp(), "w.safetensors");
  s.saveSafetensors(file, new Map([["fc.weight", { dtype: "F32", shape: [2, 2], data: new Float32Array(4) }]]) as any);
  let r = await cli("import", file, "--input", "1x20000x20000");
  assert.equal(r.code, 2);
  assertOneLine(r.stderr, /--input 1x20000x20000 is 400000000 values per example, more than the limit of 67108864/);
  r = await cli("import", file, "--input", "1x1x100000");
  assertOneLine(r.stderr, /--input 1x1x100000: a dimension of 100000 is more than the limit of 65536/);
  r = await cli("summary", "lenet5", "--input", "1x20000x20000");
  assert.equal(r.code, 2);
  assertOneLine(r.stderr, /--input 1x20000x20000 is 400000000 values per example/);
});

test("a model the command line builds is refused past 2^29 values instead of running out of memory", () => {
  // Under the per-example limit, but LeNet-5's layers on 8000x8000 would hold 7.7 billion weights.
  assert.throws(() => buildWithinLimit("lenet5 for 1x8000x8000 inputs", () => buildModel("lenet5", { numClasses: 10, inputShape: [1, 8000, 8000], seed: 1 })),
    (e: unknown) => e instanceof CliError &&
      /^lenet5 for 1x8000x8000 inputs needs a tensor of shape \[120, 63808144\] \(7656977280 values\), more than the 536870912 values \(parameters and gradients\)/.test((e as Error).message));
  // A model within the limit builds as usual.
  assert.equal(buildWithinLimit("lenet5", () => buildModel("lenet5", { numClasses: 10, inputShape: [1, 28, 28], seed: 1 })).params().length, 10);
});

// ---------------------------------------------------------------------------
// The divergence guard.

test("a finite loss that explodes stops training, naming the limit and the checkpoint folder", async () => {
  const dir = tmp();
  const model = smallNet();
  await assert.rejects(
    fit(model, quadrants(32, 1), { epochs: 3, batchSize: 8, optimizer: new Adam(model.params(), { lr: 1e4 }), checkpointDir: dir, progress: "none" }),
    (e: unknown) => {
      assert.ok(e instanceof TrainingDivergedError);
      assert.ok(e.limit !== undefined && e.limit >= 100 * Math.log(4), `limit ${e.limit}`);
      assert.match(e.message, /above the divergence limit [\d.]+ \(100 × the larger of the first batch's loss and chance level 1\.386\)/);
      // Diverged in epoch 1: no checkpoint yet, and the message says where they would have been.
      assert.equal(e.checkpoint, undefined);
      assert.ok(e.message.includes(`No checkpoint had been written to ${dir} yet`), e.message);
      return true;
    },
  );
  // A lower factor stops a healthy-looking run early; Infinity never stops one on a finite loss.
  const calm = smallNet();
  await assert.rejects(fit(calm, quadrants(32, 1), { epochs: 1, batchSize: 8, optimizer: new SGD(calm.params(), { lr: 5 }), divergenceFactor: 1.01, progress: "none" }),
    (e: unknown) => e instanceof TrainingDivergedError && e.limit !== undefined);
  const steady = smallNet();
  const h = await fit(steady, quadrants(32, 1), { epochs: 2, batchSize: 8, optimizer: new SGD(steady.params(), { lr: 0.05 }), divergenceFactor: Infinity, progress: "none" });
  assert.equal(h.epochs.length, 2);
  await assert.rejects(fit(smallNet(), quadrants(8, 1), { epochs: 1, divergenceFactor: 0.5, progress: "none" }), (e: unknown) => e instanceof StrideError && /divergenceFactor = 0\.5 is not valid; give a number > 1/.test((e as Error).message));
});

test("stride train that diverges exits 3 and leaves the model already in --out as it was", async () => {
  const run = join(tmp(), "run");
  assert.equal((await cli("train", ...tiny, "--out", run)).code, 0);
  const weights = readFileSync(weightsFileOf(run));
  const json = readFileSync(join(run, "model.json"), "utf8");
  const r = await cli("train", ...tiny, "--epochs", "2", "--max-batches", "4", "--optimizer", "adam", "--lr", "1e4", "--out", run);
  assert.equal(r.code, 3, r.stderr);
  assertOneLine(r.stderr, new RegExp(`training diverged: .*above the divergence limit .*The model saved in ${run} was not replaced\\.`));
  assert.ok(r.stderr.includes(join(run, "checkpoints")), "the message names the checkpoint folder");
  assert.equal(readFileSync(join(run, "model.json"), "utf8"), json);
  assert.deepEqual(readFileSync(weightsFileOf(run)), weights);
});

// ---------------------------------------------------------------------------
// NaN and infinite inputs.

test("NaN or infinite inputs are refused by fit, evaluate and predict, naming the example", async () => {
  const data = quadrants(16, 1);
  data.images[5 * 36 + 7] = NaN;
  const model = smallNet();
  await assert.rejects(fit(model, data, { epochs: 1, batchSize: 8, progress: "none" }),
    (e: unknown) => e instanceof StrideError && /^fit: training example 5 of "quadrants" holds NaN .*inputs must be finite numbers/.test((e as Error).message));
  assert.throws(() => evaluate(model, data), /evaluate: example 5 of "quadrants" holds NaN; inputs must be finite numbers/);
  const x = new s.Tensor([2, 1, 6, 6]);
  x.data[36 + 3] = -Infinity;
  assert.throws(() => predict(model, x), (e: unknown) => e instanceof StrideError && /^predict: example 1 of the input holds -Infinity/.test((e as Error).message));
  x.data[36 + 3] = 0;
  assert.equal(predict(model, x).length, 2);
});

// ---------------------------------------------------------------------------
// Class names with control characters.

test("printable escapes control characters and bidirectional overrides, and leaves other text alone", () => {
  assert.equal(printable("\u001b]0;owned\u0007cat"), "\\x1b]0;owned\\x07cat");
  assert.equal(printable("a\u202eb\u009bc\u007f"), "a\\u202eb\\x9bc\\x7f");
  assert.equal(printable("chat, Käse, 猫 ✓"), "chat, Käse, 猫 ✓");
});

test("stride predict prints class names with their escape sequences escaped", async () => {
  const dir = join(tmp(), "model");
  const classes = ["\u001b]0;pwned\u0007title", "\u001b[2Jclear", "plain"];
  const model = new s.Sequential([new s.Flatten(), new s.Linear({ inFeatures: 28 * 28, outFeatures: 3, rng: new s.Rng(1) })]);
  saveModel(model, dir, { inputShape: [1, 28, 28], classes });
  const png = new PNG({ width: 28, height: 28 });
  png.data.fill(128);
  const image = join(tmp(), "x.png");
  writeFileSync(image, PNG.sync.write(png));
  const r = await cli("predict", dir, image, "--backend", "js");
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /[\u0000-\u0009\u000b-\u001f]/, "a raw control character reached the terminal");
  assert.ok(r.stdout.includes("\\x1b]0;pwned\\x07title") && r.stdout.includes("\\x1b[2Jclear") && r.stdout.includes("plain"), r.stdout);
});
