/**
 * A model folder is always one whole version: child processes saving a
 * LeNet-5 in a loop are killed with SIGKILL at random moments, and after every
 * kill the folder loads (the old or the new version, a matched pair); loads
 * running while another process saves never fail.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadModelWithInfo, saveModel } from "../src/node/files.js";
import { loadCheckpoint } from "../src/node/train.js";
import { lenet5 } from "../src/models/zoo/lenet.js";
import { SGD } from "../src/train/optimizers.js";
import { tinyNet } from "./helpers/tiny-run.js";

const SAVER = fileURLToPath(new URL("./helpers/save-loop.js", import.meta.url));
const TRAINER = fileURLToPath(new URL("./helpers/checkpoint-loop.js", import.meta.url));
// Each child numbers its versions from its own block (kept under 2^24, exact as a float32 weight).
const SEQ_STRIDE = 10_000;

interface Saver {
  child: ChildProcess;
  /** Resolves when the child has built its model, then when it has saved once. */
  ready: Promise<void>;
  saved: Promise<void>;
  exited: Promise<void>;
}

function startSaver(dir: string, firstSeq: number, script = SAVER): Saver {
  const child = spawn(process.execPath, [script, dir, String(firstSeq)], { stdio: ["pipe", "pipe", "inherit"] });
  let text = "";
  const line = (word: string) => new Promise<void>((resolve, reject) => {
    const look = () => {
      if (text.includes(word)) resolve();
    };
    child.stdout!.on("data", (d) => {
      text += d;
      look();
    });
    child.once("exit", () => reject(new Error(`the saver exited before saying "${word}"`)));
  });
  const ready = line("ready");
  const saved = line(script === SAVER ? "saved" : "checkpointed");
  saved.catch(() => {}); // a child killed before its first save is expected
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return { child, ready, saved, exited };
}

/** Ends the children started ahead of their turn (a failed check must not leave them waiting). */
function stopAll(pool: Saver[]): void {
  for (const saver of pool) {
    saver.ready.catch(() => {}); // never waited for: its "exited before ready" is expected
    saver.child.kill("SIGKILL");
  }
}

function versionZero() {
  const model = lenet5({ numClasses: 10, inputShape: [1, 32, 32], seed: 1 });
  model.params()[0].value.data[0] = 0;
  return model;
}

/** The version a folder holds, checking that its weights are the ones model.json describes. */
function loadVersion(dir: string): number {
  const { model, info } = loadModelWithInfo(dir);
  const seq = info.extra?.seq as number;
  assert.equal(model.params()[0].value.data[0], seq, "model.json and the weights are of different versions");
  return seq;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("100 SIGKILLs at random moments of saveModel always leave a folder that loads, never an older version", async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), "stride-kill-")), "model");
  saveModel(versionZero(), dir, { extra: { seq: 0 } });
  const KILLS = 100;
  // Children start ahead of their turn (Node's start-up is the slow part), so kills follow each other quickly.
  const pool: Saver[] = [];
  let started = 0;
  const refill = () => {
    while (pool.length < 3 && started < KILLS) pool.push(startSaver(dir, ++started * SEQ_STRIDE));
  };
  let last = -1;
  let failures = 0;
  let midSave = 0;
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  try {
    for (let k = 0; k < KILLS; k++) {
      refill();
      const saver = pool.shift()!;
      await saver.ready;
      saver.child.stdin!.write("go\n");
      // Mostly once saving is under way, sometimes during the first save.
      if (k % 4 !== 0) await saver.saved;
      await sleep(random() * 20);
      saver.child.kill("SIGKILL");
      await saver.exited;
      // Files stamped with the killed process's id show the kill landed inside a save.
      if (readdirSync(dir).some((f) => f.includes(`.${saver.child.pid}.`) || f.includes(`-${saver.child.pid}-`))) midSave++;
      try {
        const seq = loadVersion(dir);
        assert.ok(seq >= last, `went back from version ${last} to ${seq}`);
        last = seq;
      } catch (e) {
        failures++;
        if (failures === 1) console.error(`after kill ${k + 1}: ${(e as Error).message}`);
      }
    }
  } finally {
    stopAll(pool);
  }
  t.diagnostic(`${midSave} of ${KILLS} kills landed inside a save; ${failures} left a folder that does not load`);
  assert.equal(failures, 0, `${failures} of ${KILLS} kills left a folder that does not load`);
  assert.ok(midSave >= 10, `only ${midSave} of ${KILLS} kills landed inside a save`);
  // The next save clears what the killed ones left behind: model.json and one weights file remain.
  saveModel(versionZero(), dir);
  assert.deepEqual(readdirSync(dir).filter((f) => f !== "model.json").length, 1, `left behind: ${readdirSync(dir).join(", ")}`);
});

test("loads while another process saves into the same folder never fail", async (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), "stride-readers-")), "model");
  saveModel(versionZero(), dir, { extra: { seq: 0 } });
  const saver = startSaver(dir, 1);
  await saver.ready;
  saver.child.stdin!.write("go\n");
  await saver.saved;
  const seen = new Set<number>();
  let failures = 0;
  let firstFailure = "";
  try {
    for (let i = 0; i < 300; i++) {
      try {
        seen.add(loadVersion(dir));
      } catch (e) {
        failures++;
        firstFailure ||= (e as Error).message;
      }
      if (i % 10 === 9) await sleep(1); // lets the child's version numbers advance between bursts
    }
  } finally {
    saver.child.kill("SIGKILL");
    await saver.exited;
  }
  t.diagnostic(`300 loads saw ${seen.size} versions; ${failures} failed`);
  assert.equal(failures, 0, `${failures} of 300 loads failed during saves; the first: ${firstFailure}`);
  assert.ok(seen.size > 10, `the loads saw only ${seen.size} versions: the saves did not run alongside them`);
});

test("30 SIGKILLs of runs writing checkpoints into one folder always leave a checkpoint that resumes", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "stride-ckpt-kill-"));
  const KILLS = 30;
  // On a loaded machine fewer kills land inside a write: go on (up to MAX_KILLS) until 3 have.
  const MAX_KILLS = 120;
  const pool: Saver[] = [];
  let started = 0;
  let failures = 0;
  let midWrite = 0;
  let kills = 0;
  let seed = 777;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  try {
    let k = 0;
    for (; k < MAX_KILLS && (k < KILLS || midWrite < 3); k++) {
      while (pool.length < 3 && started < MAX_KILLS) pool.push(startSaver(dir, ++started, TRAINER));
      const trainer = pool.shift()!;
      await trainer.ready;
      trainer.child.stdin!.write("go\n");
      await trainer.saved;
      await sleep(random() * 20);
      trainer.child.kill("SIGKILL");
      await trainer.exited;
      // An epoch folder without training.json, or a temporary file: the kill landed inside a checkpoint.
      const names = readdirSync(dir);
      if (names.some((f) => f.endsWith(".tmp")) || names.some((f) => f.startsWith("epoch-") && !readdirSync(join(dir, f)).includes("training.json"))) midWrite++;
      try {
        const model = tinyNet();
        const state = loadCheckpoint(dir, model, new SGD(model.params(), { lr: 0.05, momentum: 0.9 }));
        assert.ok(state.epoch >= 1 && model.params().every((p) => p.value.data.every(Number.isFinite)));
      } catch (e) {
        failures++;
        if (failures === 1) console.error(`after kill ${k + 1}: ${(e as Error).message}`);
      }
    }
    kills = k;
  } finally {
    stopAll(pool);
  }
  t.diagnostic(`${midWrite} of ${kills} kills landed inside a checkpoint; ${failures} left no checkpoint that resumes`);
  assert.equal(failures, 0, `${failures} of ${kills} kills left no checkpoint that resumes`);
  assert.ok(midWrite >= 3, `only ${midWrite} of ${kills} kills landed inside a checkpoint`);
});
