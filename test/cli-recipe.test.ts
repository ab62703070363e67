/**
 * The time-to-accuracy recipe's flags of `stride train` and `stride eval`, run
 * as a user runs them (node bin/stride.js in a child process) on tiny settings:
 * what is printed, what the checkpoint records, and one clear line for bad values.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const STRIDE = fileURLToPath(new URL("../../bin/stride.js", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "stride-recipe-"));

function stride(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [STRIDE, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tiny = ["--model-width", "0.25", "--progress", "lines", "--backend", "js"];

function latestCheckpoint(out: string): { schedule: { type: string; totalSteps: number; lastEpoch: number } } {
  return JSON.parse(readFileSync(join(out, "checkpoints", "latest.json"), "utf8"));
}

test("stride train with one-cycle, label smoothing, random erasing and test-time flips, then stride eval --tta flip", () => {
  const out = join(work, "recipe");
  const r = stride("train", "lenet5", "--epochs", "2", "--max-batches", "3", "--schedule", "onecycle", "--lr", "0.05",
    "--label-smoothing", "0.1", "--random-erasing", "0.5", "--tta", "flip", "--out", out, ...tiny);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /lr 0\.05 at the one-cycle's peak/);
  assert.match(r.stdout, /label smoothing 0\.1/);
  assert.match(r.stdout, /random erasing p 0\.5/);
  assert.match(r.stdout, /test-time flips/);
  assert.match(r.stdout, /^test accuracy \d+\.\d+% \(\d+\/\d+\) with flips/m);
  // The cycle spans the run: 2 epochs of 3 batches, stepped after each.
  const { schedule } = latestCheckpoint(out);
  assert.equal(schedule.type, "OneCycleLR");
  assert.equal(schedule.totalSteps, 6);
  assert.equal(schedule.lastEpoch, 6);
  const e = stride("eval", out, "--tta", "flip", "--backend", "js");
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout, /\(2000 images, with flips\): accuracy/);

  // The recipe model.json records for stride export: the optimizer as configured (--optimizer momentum's
  // default), the whole one-cycle, label smoothing, the erasing after normalisation (the means fill it: 0), flips.
  const { recipe } = JSON.parse(readFileSync(join(out, "model.json"), "utf8")).extra;
  assert.deepEqual(recipe.optimizer, { type: "SGD", lr: 0.05, weightDecay: 1e-4, momentum: 0.9, dampening: 0, nesterov: false });
  assert.deepEqual(recipe.schedule, { type: "OneCycleLR", interval: "batch", maxLr: 0.05, totalSteps: 6, pctStart: 0.3, annealStrategy: "cos",
    cycleMomentum: true, baseMomentum: 0.85, maxMomentum: 0.95, divFactor: 25, finalDivFactor: 10000, threePhase: false });
  assert.equal(recipe.labelSmoothing, 0.1);
  assert.deepEqual(recipe.augmentation, { randomCrop: { size: [28, 28], padding: 2 }, randomErasing: { p: 0.5, scale: [0.02, 0.33], ratio: [0.3, 3.3], value: 0 } });
  assert.equal(recipe.testTimeAugmentation, "flip");

  // ... and train.py turns it into PyTorch's calls.
  const py = join(work, "recipe-py");
  const x = stride("export", out, "--format", "pytorch", "--out", py);
  assert.equal(x.code, 0, x.stderr);
  const script = readFileSync(join(py, "train.py"), "utf8");
  assert.match(script, /return torch\.optim\.lr_scheduler\.OneCycleLR\(optimizer, max_lr=0\.05 if max_lr is None else max_lr, total_steps=total_steps, pct_start=0\.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0\.85, max_momentum=0\.95, div_factor=25, final_div_factor=10000, three_phase=False\)/);
  assert.match(script, /PER_BATCH = True/);
  // Stepped right after every optimizer step, and not again at the epoch's end; saved in resume.pt.
  assert.match(script, /\n( +)optimizer\.step\(\)\n\1if PER_BATCH:\n\1    schedule\.step\(\)\n/);
  assert.match(script, /if schedule is not None and not PER_BATCH:/);
  assert.match(script, /"schedule": schedule_state\(schedule\)/);
  assert.match(script, /return nn\.CrossEntropyLoss\(label_smoothing=0\.1\)/);
  assert.match(script, /loss = criterion\(logits, y\)/);
  // Erasing comes after Normalize, so its value 0 is the channel mean.
  assert.match(script, /steps\.append\(normalize\)\n[^]*steps\.append\(transforms\.RandomErasing\(p=e\["p"\], scale=tuple\(e\["scale"\]\), ratio=tuple\(e\["ratio"\]\), value=e\["value"\]\)\)/);
  assert.match(script, /TEST_FLIPS = True/);
  assert.match(script, /logits = \(logits \+ model\(torch\.flip\(x, dims=\[3\]\)\)\.flatten\(1\)\) \/ 2/);
  assert.match(script, /evaluate\(model, eval_loader\(test\), device, flip=TEST_FLIPS, ten_crop_padding=TEN_CROP_PADDING\)/);
  assert.match(script, /TEN_CROP_PADDING = None/);
});

test("stride train --tta ten-crop: ten views of the padded image for the final test, recorded for eval and train.py", () => {
  const out = join(work, "ten-crop");
  const r = stride("train", "lenet5", "--epochs", "1", "--max-batches", "3", "--tta", "ten-crop", "--out", out, ...tiny);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /; test-time ten crops of the image padded by 1$/m);
  assert.match(r.stdout, /^test accuracy \d+\.\d+% \(\d+\/\d+\) with ten crops \(padding 1\), top-5/m);
  const { recipe } = JSON.parse(readFileSync(join(out, "model.json"), "utf8")).extra;
  assert.equal(recipe.testTimeAugmentation, "ten-crop:1");
  const e = stride("eval", out, "--tta", "ten-crop:2", "--backend", "js");
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stdout, /\(2000 images, with ten crops \(padding 2\)\): accuracy/);
  const py = join(work, "ten-crop-py");
  const x = stride("export", out, "--format", "pytorch", "--out", py);
  assert.equal(x.code, 0, x.stderr);
  const script = readFileSync(join(py, "train.py"), "utf8");
  assert.match(script, /TEN_CROP_PADDING = 1\n/);
  assert.match(script, /TEST_FLIPS = False/);
  assert.match(script, /views = \[padded\[:, :, t:t \+ h, l:l \+ w\] for t, l in zip\(tops, lefts\)\]/);
});

test("stride train --time-budget plans its epochs (here capped by --epochs) and stretches the schedule to the plan", () => {
  const out = join(work, "budget");
  const r = stride("train", "lenet5", "--time-budget", "1h", "--epochs", "2", "--max-batches", "2", "--schedule", "cosine", "--out", out, ...tiny);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /epochs planned to fit 1h \(at most 2\)/);
  assert.match(r.stdout, /^epoch 2\/2 /m);
  const { schedule } = latestCheckpoint(out);
  assert.equal(schedule.type, "CosineAnnealingLR");
  assert.equal((schedule as unknown as { tMax: number }).tMax, 2);
  // A budget spent before training starts (10 ms: less than loading the data takes) still trains the
  // plan's minimum of one epoch, and the saved recipe (what stride export turns into train.py)
  // records that plan, not the --epochs ceiling.
  const spent = join(work, "spent");
  const s = stride("train", "lenet5", "--time-budget", "0.01s", "--epochs", "5", "--max-batches", "2", "--schedule", "cosine", "--out", spent, ...tiny);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /^epoch 1\/1 /m);
  const info = JSON.parse(readFileSync(join(spent, "model.json"), "utf8"));
  assert.equal(info.extra.recipe.epochs, 1);
  assert.equal(info.extra.recipe.schedule.tMax, 1);
  // A one-cycle is stretched to the plan too: 1 epoch of 2 batches, not the ceiling's 5 x 2.
  const cycle = join(work, "spent-cycle");
  const c = stride("train", "lenet5", "--time-budget", "0.01s", "--epochs", "5", "--max-batches", "2", "--schedule", "onecycle", "--out", cycle, ...tiny);
  assert.equal(c.code, 0, c.stderr);
  const cycleInfo = JSON.parse(readFileSync(join(cycle, "model.json"), "utf8"));
  assert.equal(cycleInfo.extra.recipe.epochs, 1);
  assert.equal(cycleInfo.extra.recipe.schedule.totalSteps, 2);
});

test("bad recipe flags give one clear line", () => {
  const cases: [string[], RegExp][] = [
    [["train", "--label-smoothing", "2"], /--label-smoothing 2 is too large: give a number from 0 to 1/],
    [["train", "--random-erasing=1.5"], /--random-erasing 1.5 is too large: give a number from 0 to 1/],
    [["train", "--time-budget", "1h30"], /--time-budget "1h30" is not a duration; .*60m/],
    [["train", "--tta", "mirror"], /--tta mirror is not valid; use --tta flip .* or --tta ten-crop\[:P\]/],
    [["train", "--tta", "ten-crop:x"], /--tta ten-crop:x is not valid/],
    [["train", "--tta", "ten-crop:100"], /--tta ten-crop:100: a padding of 100 pixels is more than 64/],
    [["train", "--schedule", "onecycle", "--optimizer", "adagrad"], /onecycle cycles momentum, which adagrad has not/],
    [["train", "--time-budget", "10m", "--resume"], /--time-budget plans a run from its start and cannot resume/],
    [["train", "--schedule", "triangle"], /use plateau, step, cosine, onecycle or none/],
  ];
  for (const [args, message] of cases) {
    const r = stride(...args, "--out", join(work, "bad"), ...tiny);
    assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}, ${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], message);
  }
  const e = stride("eval", join(work, "recipe"), "--tta", "flip", "--ten-crop", "24");
  assert.equal(e.code, 2);
  assert.match(e.stderr, /use either --ten-crop N or --tta/);
});
