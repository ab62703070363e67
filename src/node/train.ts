/**
 * Training's Node edge: callbacks that write files, checkpoints in folders,
 * and the live progress bar on stderr. Importing this module (the Node entry
 * does) gives fit() its file-system checkpoint store and terminal.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { dirname, isAbsolute, join, relative } from "node:path";
import cliProgress from "cli-progress";
import type { Tensor } from "../tensor.js";
import type { Layer } from "../layers/layer.js";
import { globalRng } from "../random.js";
import { namedParams, namedBuffers } from "../models/named.js";
import { toFloat32Tensor } from "../io/safetensors.js";
import type { ModelInfo } from "../io/model-file.js";
import type { Optimizer } from "../train/optimizers.js";
import type { Schedule } from "../train/schedules.js";
import { setCheckpointStore, type Callback, type CheckpointContents, type CheckpointState, type EpochLog } from "../train/trainer.js";
import { better, checkMonitor, read, type Monitor } from "../train/callbacks.js";
import { setProgressTerminal, type Terminal } from "../train/progress.js";
import { loadModelWithInfo, loadSafetensors, removeStaleTemporaries, saveModel, saveSafetensors, writeFileAtomic } from "./files.js";
import { ModelFileError } from "../io/safetensors.js";
import { quoteValue } from "../stride-error.js";

/** Saves the model to `dir` whenever the monitored metric reaches a new best. */
export function saveBest(model: Layer, dir: string, opts: { monitor?: Monitor; info?: ModelInfo } = {}): Callback & { bestEpoch: number } {
  const monitor = checkMonitor("saveBest", opts.monitor ?? "valAccuracy");
  let best = monitor.endsWith("Accuracy") ? -Infinity : Infinity;
  const cb = {
    bestEpoch: 0,
    onEpochEnd(log: EpochLog): void {
      const v = read(monitor, log);
      if (!better(monitor, v, best, 0)) return;
      best = v;
      cb.bestEpoch = log.epoch;
      saveModel(model, dir, { ...opts.info, extra: { ...opts.info?.extra, epoch: log.epoch, [monitor]: v } });
    },
  };
  return cb;
}

/** Appends each epoch's log as one JSON line to a file (for plotting learning curves). */
export function jsonLinesLogger(path: string): Callback {
  mkdirSync(dirname(path), { recursive: true });
  return {
    onEpochEnd(log: EpochLog): void {
      appendFileSync(path, JSON.stringify(log) + "\n");
    },
  };
}

// Checkpoints: a folder per epoch and a pointer file renamed into place, so
// the latest checkpoint is always complete. A new checkpoint never goes into
// the folder latest.json names (a rerun reaching the same epoch gets a fresh
// folder), so a kill mid-write leaves the pointer at a whole checkpoint.

const LATEST = "latest.json";
const EPOCH_FOLDER = /^epoch-\d+(-[0-9a-z]+)?$/;

function writeCheckpoint(dir: string, c: CheckpointContents): void {
  const { model, info, optimizer, schedule, loader, randomStreams, epoch, history } = c;
  mkdirSync(dir, { recursive: true });
  removeStaleTemporaries(dir);
  const previous = readLatest(dir);
  let folder = `epoch-${String(epoch).padStart(4, "0")}`;
  if (previous?.folder === folder) folder += `-${Date.now().toString(36)}`;
  const path = join(dir, folder);
  rmSync(path, { recursive: true, force: true }); // a leftover of a killed or earlier run, never the current checkpoint
  saveModel(model, path, info);
  const opt = optimizer.stateDict();
  saveSafetensors(join(path, "optimizer.safetensors"), opt.tensors, { format: "stride-optimizer" });
  const state: CheckpointState = {
    format: "stride-checkpoint", version: 1, epoch, folder, loader, rng: globalRng.getState(), randomStreams,
    optimizer: opt.meta, schedule: schedule?.stateDict(), history,
  };
  const json = new TextEncoder().encode(JSON.stringify(state));
  writeFileAtomic(join(path, "training.json"), json);
  writeFileAtomic(join(dir, LATEST), json);
  // Keep the previous checkpoint too, so there is always a good one besides the newest.
  const older = readdirEpochs(dir).filter((f) => f !== folder && f !== previous?.folder);
  for (const f of older) rmSync(join(dir, f), { recursive: true, force: true });
}
function readdirEpochs(dir: string): string[] {
  return readdirSync(dir).filter((f) => EPOCH_FOLDER.test(f));
}

function readLatest(dir: string): CheckpointState | null {
  const p = join(dir, LATEST);
  if (!existsSync(p)) return null;
  try {
    return JSON.parse(readFileSync(p, "utf8")) as CheckpointState;
  } catch {
    return null;
  }
}

/**
 * The folder latest.json names, refused unless it is one of the checkpoint's
 * own epoch folders: a pointer edited to ../other-run, an absolute path or a
 * symbolic link out of `dir` would resume another run's weights.
 */
function checkpointFolder(dir: string, folder: unknown, latestPath: string): string {
  const fix = `give --resume (or fit's resume) the checkpoint folder of this run, or delete ${latestPath} to start over`;
  if (typeof folder !== "string") throw new ModelFileError(latestPath, `has no "folder" naming the latest checkpoint; the file is damaged: ${fix}`);
  if (isAbsolute(folder) || /[\\/]/.test(folder) || folder.includes("..")) {
    throw new ModelFileError(latestPath, `points outside its folder (folder ${quoteValue(folder)}); a checkpoint's folder is an epoch-NNNN folder next to it: ${fix}`);
  }
  if (!EPOCH_FOLDER.test(folder)) throw new ModelFileError(latestPath, `names ${quoteValue(folder)}, which is not an epoch-NNNN checkpoint folder: ${fix}`);
  const path = join(dir, folder);
  if (!existsSync(path)) throw new ModelFileError(path, `is missing; ${latestPath} names it as the latest checkpoint: ${fix}`);
  if (relative(realpathSync(dir), realpathSync(path)) !== folder) {
    throw new ModelFileError(path, `is a symbolic link out of ${dir}; a checkpoint's folders must be inside it: ${fix}`);
  }
  return path;
}

/** Restores the model's weights, the optimiser and schedule from the latest checkpoint in dir. */
export function loadCheckpoint(dir: string, model: Layer, optimizer: Optimizer<any>, schedule?: Schedule): CheckpointState {
  const p = join(dir, LATEST);
  if (!existsSync(p)) throw new Error(`resume: ${dir} has no ${LATEST}; give the checkpoint folder a previous run wrote (its --out folder's checkpoints)`);
  let state: CheckpointState;
  try {
    state = JSON.parse(readFileSync(p, "utf8"));
  } catch (e) {
    throw new Error(`resume: ${p} is not valid JSON (${(e as Error).message})`);
  }
  if (state?.format !== "stride-checkpoint") throw new Error(`resume: ${p} is not a stride checkpoint`);
  const path = checkpointFolder(dir, state.folder, p);
  // What a killed run left: temporaries, and epoch folders it had not finished (no training.json yet).
  removeStaleTemporaries(dir);
  for (const f of readdirEpochs(dir)) {
    if (f !== state.folder && !existsSync(join(dir, f, "training.json"))) rmSync(join(dir, f), { recursive: true, force: true });
  }
  const saved = loadModelWithInfo(path).model;
  const src = namedParams(saved);
  const dst = namedParams(model);
  if (src.length !== dst.length || src.some(([n, q], i) => n !== dst[i][0] || q.value.size !== dst[i][1].value.size)) {
    throw new Error(`resume: the checkpoint in ${path} is of a different model (its parameters do not match this model's)`);
  }
  src.forEach(([, q], i) => dst[i][1].value.data.set(q.value.data));
  model.weightsChanged();
  // Buffers (batch-norm running statistics) travel with the weights too.
  const bufSrc = collectBuffers(saved);
  const bufDst = collectBuffers(model);
  bufSrc.forEach((b, i) => bufDst[i]?.data.set(b.data));
  const tensors = loadSafetensors(join(path, "optimizer.safetensors")).tensors;
  const asFloat = new Map([...tensors].map(([k, v]) => [k, toFloat32Tensor(v)]));
  optimizer.loadStateDict({ meta: state.optimizer, tensors: asFloat });
  if (schedule && state.schedule) schedule.loadStateDict(state.schedule);
  return state;
}

function collectBuffers(model: Layer): Tensor[] {
  return namedBuffers(model).map(([, b]) => b.value);
}

/** The live bar on stderr (cli-progress), when stderr is a terminal and not CI. */
const stderrTerminal: Terminal = {
  interactive: () => Boolean(process.stderr.isTTY) && !process.env.CI,
  startBar(epoch, epochs, batches) {
    const bar = new cliProgress.SingleBar({
      format: `epoch ${epoch}/${epochs} {bar} {percentage}% | loss {loss} | acc {acc} | {ips} img/s | ETA {eta_formatted}`,
      hideCursor: true, clearOnComplete: true, etaBuffer: 50, stream: process.stderr,
    }, cliProgress.Presets.shades_classic);
    bar.start(batches, 0, { loss: "-", acc: "-", ips: "-" });
    return {
      update: (done, s) => bar.update(done, { loss: s.loss.toFixed(4), acc: `${(100 * s.accuracy).toFixed(1)}%`, ips: Math.round(s.imagesPerSecond) }),
      stop: () => bar.stop(),
    };
  },
};

setCheckpointStore({ hasLatest: (dir) => existsSync(join(dir, LATEST)), write: writeCheckpoint, load: loadCheckpoint });
setProgressTerminal(stderrTerminal);
