/**
 * Training the way the notes teach it: mini-batch SGD (with momentum by
 * default), a learning-rate schedule stepped once per epoch (reduce-on-
 * plateau watches validation accuracy), dropout and augmentation in the
 * training pass only, validation after every epoch, checkpoints that resume
 * exactly, and a guard that stops on a NaN, infinite or exploding loss and
 * keeps the last good checkpoint.
 */
import { Tensor, formatShape } from "../tensor.js";
import { globalRng } from "../random.js";
import type { Layer } from "../layers/layer.js";
import { softmaxCrossEntropy, multiClassHinge, checkLabelSmoothing, type LossResult } from "../layers/loss.js";
import { DataLoader, type DataLoaderState } from "../data/loader.js";
import type { Dataset } from "../data/dataset.js";
import type { Augmentation } from "../data/augment.js";
import { tenCropBatch, flipBatch } from "../data/augment.js";
import { normalizeTensor, type Normalization } from "../data/normalize.js";
import { SGD, type Optimizer, type OptimizerMeta } from "./optimizers.js";
import { unpinParams } from "../layers/param-memory.js";
import { ReduceLROnPlateau, hasHorizon, type Schedule, type ScheduleState } from "./schedules.js";
import { checkTimeBudget, planEpochs, probeBatches, type TimeBudget } from "./time-budget.js";
import { clipGradNorm } from "./clip.js";
import { ClassificationMeter, topK } from "./metrics.js";
import type { ModelInfo } from "../io/model-file.js";
import { createProgress, type Progress, type ProgressMode } from "./progress.js";
import { StrideError } from "../stride-error.js";
import { randomStreams, restoreRandomStreams, type RandomStreams } from "./random-streams.js";

/** The losses fit and evaluate can use: softmax cross-entropy or the multi-class hinge (SVM) loss. */
export type LossName = "cross-entropy" | "hinge";

/** One epoch of training: losses, accuracies, learning rate and speed. */
export interface EpochLog {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  valTop5?: number;
  lr: number;
  seconds: number;
  imagesPerSecond: number;
  /** With a time budget: the epochs planned after this one (the run's length as now planned). */
  plannedEpochs?: number;
}

/** What fit returns: every epoch's log and batch loss, and whether and why it stopped early. */
export interface History {
  epochs: EpochLog[];
  /** The loss of every training batch, in order (what a resumed run must reproduce). */
  batchLosses: number[];
  stoppedEarly: boolean;
  stopReason?: string;
  /** With a time budget: the number of epochs the last plan settled on. */
  plannedEpochs?: number;
}

/** Called after each epoch; return "stop" to end training. */
export interface Callback {
  /** After each epoch, with its log; return "stop" to end training. */
  onEpochEnd?(log: EpochLog, history: History): void | "stop";
  /** After each batch; a returned promise is awaited before the next batch (a way to pause). */
  onBatchEnd?(step: number, loss: number): void | Promise<void>;
}

/** Options of fit: the optimiser, schedule, data handling, callbacks, checkpoints and progress. */
export interface FitOptions {
  /** Passes over the training set (a whole number >= 1); with timeBudget, the most epochs the plan may choose. */
  epochs: number;
  /** Examples per mini-batch (default 64). */
  batchSize?: number;
  /** Default: SGD with momentum 0.9, lr 0.01. */
  optimizer?: Optimizer<any>;
  /**
   * Stepped once per epoch (ReduceLROnPlateau gets the validation accuracy), or
   * after every batch when its interval is "batch" (OneCycleLR).
   */
  schedule?: Schedule;
  /** "cross-entropy" (default) or "hinge". */
  loss?: LossName;
  /** Label smoothing of the cross-entropy in training, in [0, 1] (default 0; 0.1 is usual). Validation loss stays plain. */
  labelSmoothing?: number;
  /**
   * Train for as many whole epochs as fit in this many seconds (with validation
   * and the final evaluation's reserve), planned after the first batches and
   * again after every epoch from the measured pace. A cosine or one-cycle
   * schedule gets its length from the plan (setHorizon). Not with resume.
   */
  timeBudget?: TimeBudget;
  /** Evaluated after every epoch: valLoss, valAccuracy and valTop5 in the epoch log. */
  validation?: Dataset;
  /** Applied to each training example of each batch (never to validation). */
  augment?: Augmentation;
  /** Per-channel normalisation applied to every batch after augmentation, and saved with checkpoints. */
  normalize?: Normalization;
  /** Seeds the batch order and augmentation (default 0). */
  seed?: number;
  /** Clip the gradients' global L2 norm to this value before each step. */
  clipGradNorm?: number;
  /** Called after every epoch (and batch): earlyStopping, saveBest, jsonLinesLogger or your own. */
  callbacks?: Callback[];
  /** "auto": a live bar on a terminal, a line per epoch otherwise. */
  progress?: ProgressMode;
  /** Write a checkpoint here after every epoch (model + optimiser + everything needed to resume). */
  checkpointDir?: string;
  /** Continue from the latest checkpoint in this folder. */
  resume?: string;
  /** Stored in checkpoints' model.json (classes, input shape). */
  modelInfo?: ModelInfo;
  /** For quick runs: at most this many batches per epoch. */
  maxBatchesPerEpoch?: number;
  /** Where the per-epoch lines go (default console.log). */
  log?: (line: string) => void;
  /** Aborting it stops training after the current batch; fit then resolves with stoppedEarly. */
  signal?: AbortSignal;
  /**
   * The divergence guard: training stops with TrainingDivergedError when a
   * batch's loss is NaN or infinite, or above this factor times the larger of
   * the run's first batch loss and the loss of a chance-level guess (ln C for
   * cross-entropy, C - 1 for the hinge loss, C classes). Default 100;
   * Infinity keeps only the NaN/infinity check.
   */
  divergenceFactor?: number;
}

/** The default of FitOptions.divergenceFactor. */
export const DEFAULT_DIVERGENCE_FACTOR = 100;

/** Training stopped because the loss became NaN or infinite, or exploded past the divergence limit. */
export class TrainingDivergedError extends StrideError {
  readonly epoch: number;
  readonly step: number;
  readonly checkpoint?: string;
  /** The limit a finite loss went past (undefined when the loss was NaN or infinite). */
  readonly limit?: number;
  /**
   * @param checkpoint the folder holding the last good checkpoint, if one was written
   * @param more the limit a finite loss passed and how it was set; the checkpointDir of a run that had not written a checkpoint yet
   */
  constructor(epoch: number, step: number, loss: number, lr: number, checkpoint?: string, more: { limit?: number; rule?: string; checkpointDir?: string } = {}) {
    const past = more.limit !== undefined ? `, above the divergence limit ${formatNumber(more.limit)}${more.rule ? ` (${more.rule})` : ""}` : "";
    const kept = checkpoint
      ? `The last good checkpoint is kept in ${checkpoint}.`
      : more.checkpointDir
        ? `No checkpoint had been written to ${more.checkpointDir} yet (training diverged in its first epoch).`
        : `No checkpoint was written (no checkpointDir).`;
    super(
      `training diverged: the loss became ${formatNumber(loss)} at epoch ${epoch}, step ${step} (learning rate ${lr})${past}. ` +
        `Lower the learning rate (try ${formatLr(lr / 10)}), clip gradients, or check that the inputs are normalised (NaN inputs are refused before this). ` + kept,
    );
    this.name = "TrainingDivergedError";
    this.epoch = epoch;
    this.step = step;
    this.checkpoint = checkpoint;
    this.limit = more.limit;
  }
}

function formatNumber(x: number): string {
  return Number.isFinite(x) && Math.abs(x) >= 1e6 ? x.toExponential(2) : Number.isFinite(x) ? Number(x.toPrecision(4)).toString() : String(x);
}

/** The loss of a guess that knows nothing: ln C for cross-entropy (uniform probabilities), C - 1 for the hinge loss (all scores equal). */
function chanceLoss(loss: LossName, classes: number): number {
  return loss === "hinge" ? Math.max(1, classes - 1) : Math.log(Math.max(2, classes));
}

/**
 * Refuses a batch holding NaN or an infinity: it would give NaN predictions
 * without a word, or stop training as if the learning rate were too high.
 * One sum tells (a NaN or infinity makes it non-finite); only then is the value found.
 */
function refuseNonFinite(x: Tensor, describe: (example: number, value: number) => string): void {
  const d = x.data;
  let sum = 0;
  for (let i = 0; i < d.length; i++) sum += d[i];
  if (Number.isFinite(sum)) return;
  const per = x.size / x.shape[0];
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i])) throw new StrideError(describe(Math.floor(i / per), d[i]) + "; inputs must be finite numbers: fix or remove that example");
  }
}

function formatLr(lr: number): string {
  return Number(lr.toPrecision(2)).toString();
}

/** The named loss of logits against labels, and its gradient; labelSmoothing applies to cross-entropy. */
export function computeLoss(name: LossName, logits: Tensor, labels: Int32Array | number[], labelSmoothing = 0): LossResult {
  return name === "hinge" ? multiClassHinge(logits, labels) : softmaxCrossEntropy(logits, labels, { labelSmoothing });
}

/** Lets a progress bar draw between batches (compute is synchronous). */
const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => {
    // Looked up on each call: a page may install its own setImmediate (the app's pausable one) after this module loads.
    const immediate = (globalThis as { setImmediate?: (f: () => void) => unknown }).setImmediate;
    if (typeof immediate === "function") immediate(resolve);
    else setTimeout(resolve, 0);
  });

/** Trains a model in place on a dataset with mini-batch gradient descent; resolves with the history of every epoch. */
export async function fit(model: Layer, train: Dataset, opts: FitOptions): Promise<History> {
  const epochs = opts.epochs;
  if (!Number.isInteger(epochs) || epochs < 1) throw new Error(`fit: epochs = ${epochs} must be a whole number >= 1`);
  const batchSize = opts.batchSize ?? 64;
  const lossName = opts.loss ?? "cross-entropy";
  if (lossName !== "cross-entropy" && lossName !== "hinge") throw new Error(`fit: loss = "${lossName}" is not valid; use "cross-entropy" or "hinge"`);
  const labelSmoothing = checkLabelSmoothing("fit", opts.labelSmoothing ?? 0);
  if (labelSmoothing > 0 && lossName === "hinge") throw new StrideError("fit: labelSmoothing applies to the cross-entropy loss; leave it out with loss: \"hinge\"");
  const budget = opts.timeBudget !== undefined ? checkTimeBudget(opts.timeBudget) : undefined;
  if (budget && opts.resume) {
    throw new StrideError("fit: timeBudget plans a whole run from its start and cannot resume one; resume with a fixed number of epochs instead");
  }
  const budgetStart = budget ? budget.clock() : 0;
  const factor = opts.divergenceFactor ?? DEFAULT_DIVERGENCE_FACTOR;
  if (typeof factor !== "number" || !(factor > 1)) throw new StrideError(`fit: divergenceFactor = ${factor} is not valid; give a number > 1 (default ${DEFAULT_DIVERGENCE_FACTOR}, Infinity for only the NaN check)`);
  checkModelFits(model, train);
  if (opts.validation) checkModelFits(model, opts.validation);
  const ownOptimizer = opts.optimizer === undefined;
  const optimizer = opts.optimizer ?? new SGD(model.params(), { lr: 0.01, momentum: 0.9 });
  const loader = new DataLoader(train, { batchSize, shuffle: true, seed: opts.seed ?? 0, augment: opts.augment, normalize: opts.normalize });
  const log = opts.log ?? ((line: string) => console.log(line));
  const history: History = { epochs: [], batchLosses: [], stoppedEarly: false };
  const info: ModelInfo = { inputShape: train.shape, classes: train.classes, ...opts.modelInfo, ...(opts.normalize ? { normalization: opts.normalize } : {}) };

  let startEpoch = 0;
  if (opts.resume) {
    const state = checkpoints("resume").load(opts.resume, model, optimizer, opts.schedule);
    loader.setState(state.loader);
    restoreRandomStreams(model, state.randomStreams, opts.resume, log);
    globalRng.setState(state.rng);
    history.epochs.push(...state.history.epochs);
    history.batchLosses.push(...state.history.batchLosses);
    startEpoch = state.epoch;
    if (startEpoch >= epochs) return history;
  }

  const chance = chanceLoss(lossName, train.classes.length);
  const batchesPerEpoch = Math.min(loader.length, opts.maxBatchesPerEpoch ?? Infinity);
  // Mutable: the progress lines read `epochs` each time, and a time budget's plan changes it.
  const shown = { epochs, batchesPerEpoch, log };
  const progress: Progress = createProgress(opts.progress ?? "auto", shown);
  let plannedEpochs = epochs;
  let evalSecondsPerExample: number | undefined;
  /**
   * Plans the run's length from the pace so far and gives the schedule its horizon.
   * After the second epoch the plan may only shrink: a longer plan would pull a
   * one-cycle or cosine lr back up, while a shorter one is what keeps the budget.
   * (The first epoch pays for compiling and warming up, so the second may still lengthen it.)
   */
  const replan = (epochsDone: number, secondsPerBatch: number) => {
    if (!budget) return;
    const planned = planEpochs({
      budgetSeconds: budget.seconds, elapsedSeconds: budget.clock() - budgetStart, epochsDone, maxEpochs: epochs,
      batchesPerEpoch, secondsPerBatch,
      secondsPerEvalExample: evalSecondsPerExample ?? 0,
      validationExamples: opts.validation?.length ?? 0, finalEvalExamples: budget.finalEvalExamples,
    });
    const settled = epochsDone > 2;
    if (settled && planned >= plannedEpochs) return;
    plannedEpochs = planned;
    shown.epochs = plannedEpochs;
    history.plannedEpochs = plannedEpochs;
    if (opts.schedule && hasHorizon(opts.schedule)) opts.schedule.setHorizon(plannedEpochs, batchesPerEpoch);
  };
  const probe = probeBatches(batchesPerEpoch);
  let trainedSeconds = 0, trainedBatches = 0;
  let lastCheckpoint: string | undefined = opts.checkpointDir && checkpoints("checkpointDir").hasLatest(opts.checkpointDir) ? opts.checkpointDir : undefined;
  try {
    for (let epoch = startEpoch; epoch < plannedEpochs; epoch++) {
      const started = performance.now();
      let trainStart = budget ? budget.clock() : 0;
      const meter = new ClassificationMeter(train.classes.length, 1);
      progress.startEpoch(epoch + 1);
      let b = 0;
      for (const batch of loader) {
        refuseNonFinite(batch.x, (n, v) => `fit: training example ${batch.indices[n]} of "${train.name}" holds ${v} after augmentation and normalisation` +
          (opts.normalize ? " (a std of 0 in the normalisation gives infinities)" : ""));
        const logits = model.forward(batch.x, { training: true, inputGrad: false });
        const { loss, grad } = computeLoss(lossName, logits, batch.labels, labelSmoothing);
        // The limit follows the run's first batch (a resumed run's too), and never sits below chance level.
        const limit = factor * Math.max(history.batchLosses[0] ?? loss, chance);
        if (!Number.isFinite(loss) || loss > limit) {
          const rule = `${factor} × the larger of the first batch's loss and chance level ${formatNumber(chance)}`;
          throw new TrainingDivergedError(epoch + 1, b + 1, loss, optimizer.lr, lastCheckpoint,
            { ...(Number.isFinite(loss) ? { limit, rule } : {}), checkpointDir: opts.checkpointDir });
        }
        optimizer.zeroGrad();
        model.backward(grad);
        if (opts.clipGradNorm !== undefined) clipGradNorm(model.params(), opts.clipGradNorm);
        optimizer.step();
        if (opts.schedule?.interval === "batch") opts.schedule.step();
        meter.add(loss, flatScores(logits), batch.labels);
        history.batchLosses.push(loss);
        for (const cb of opts.callbacks ?? []) await cb.onBatchEnd?.(history.batchLosses.length, loss);
        b++;
        if (budget && epoch === startEpoch && b === probe) {
          const secondsPerBatch = (budget.clock() - trainStart) / b;
          // One inference pass over this batch times evaluation (it changes no state: no gradients, no dropout).
          const evalStart = budget.clock();
          model.forward(batch.x, { noGrad: true });
          const evalSeconds = budget.clock() - evalStart;
          evalSecondsPerExample = evalSeconds / batch.x.shape[0];
          trainStart += evalSeconds; // not training time: keep it out of the epoch's pace
          replan(0, secondsPerBatch);
        }
        const seconds = (performance.now() - started) / 1000;
        progress.batch(b, { loss: meter.loss, accuracy: meter.accuracy, imagesPerSecond: meter.count / seconds });
        await yieldToEventLoop();
        if (b >= batchesPerEpoch || opts.signal?.aborted) break;
      }
      if (opts.signal?.aborted) {
        history.stoppedEarly = true;
        history.stopReason = `aborted during epoch ${epoch + 1}, after ${b} batches`;
        break;
      }
      if (b < loader.length) loader.endEpoch(); // a shortened epoch still ends where a full one would
      let secondsPerBatch = 0;
      if (budget) {
        // The slower of this epoch's pace and the run's average: a busy machine's noise should
        // shorten the plan rather than make it overrun the budget.
        const epochSeconds = budget.clock() - trainStart;
        trainedSeconds += epochSeconds;
        trainedBatches += b;
        secondsPerBatch = Math.max(epochSeconds / Math.max(b, 1), trainedSeconds / Math.max(trainedBatches, 1));
      }
      const seconds = (performance.now() - started) / 1000;
      const entry: EpochLog = {
        epoch: epoch + 1, trainLoss: meter.loss, trainAccuracy: meter.accuracy, lr: optimizer.lr,
        seconds, imagesPerSecond: meter.count / seconds,
      };
      if (opts.validation) {
        const evalStart = budget ? budget.clock() : 0;
        const v = evaluate(model, opts.validation, { loss: lossName, normalize: opts.normalize });
        if (budget) evalSecondsPerExample = (budget.clock() - evalStart) / Math.max(opts.validation.length, 1);
        entry.valLoss = v.loss;
        entry.valAccuracy = v.accuracy;
        entry.valTop5 = v.top5;
      }
      if (opts.schedule && opts.schedule.interval === "epoch") {
        if (opts.schedule instanceof ReduceLROnPlateau) opts.schedule.step(entry.valAccuracy ?? -entry.trainLoss);
        else opts.schedule.step();
      }
      if (budget) {
        replan(epoch + 1, secondsPerBatch);
        entry.plannedEpochs = plannedEpochs;
      }
      history.epochs.push(entry);
      progress.endEpoch(entry);
      if (opts.checkpointDir) {
        checkpoints("checkpointDir").write(opts.checkpointDir, {
          model, info, optimizer, schedule: opts.schedule, loader: loader.getState(), randomStreams: randomStreams(model), epoch: epoch + 1, history,
        });
        lastCheckpoint = opts.checkpointDir;
      }
      const stop = (opts.callbacks ?? []).map((cb) => cb.onEpochEnd?.(entry, history)).includes("stop");
      if (stop) {
        history.stoppedEarly = true;
        history.stopReason ??= `stopped by a callback after epoch ${epoch + 1}`;
        break;
      }
    }
  } finally {
    progress.done();
    // The trained model holds no wasm memory once fit returns, so dropping it frees everything (layers/param-memory.ts).
    if (!model.disposed) unpinParams(model.params());
    if (ownOptimizer) optimizer.dispose();
  }
  return history;
}

function flatScores(logits: Tensor): Tensor {
  return logits.rank === 2 ? logits : logits.reshape([logits.shape[0], logits.size / logits.shape[0]]);
}

/** Refuses a model whose input or output does not fit the data, before any compute. */
export function checkModelFits(model: Layer, data: Dataset): void {
  const out = model.outputShape([1, ...data.shape]);
  const classes = out.slice(1).reduce((a, b) => a * b, 1);
  if (classes !== data.classes.length) {
    throw new Error(
      `the model outputs ${formatShape(out)} (${classes} scores) per example, but "${data.name}" has ${data.classes.length} classes; ` +
        `build the model with numClasses: ${data.classes.length}`,
    );
  }
}

// ---------------------------------------------------------------------------
// Evaluation and prediction.

/** Options of evaluate. */
export interface EvaluateOptions {
  batchSize?: number;
  loss?: LossName;
  normalize?: Normalization;
  /** AlexNet's test-time 10-crop: average the softmax over the four corners, the centre and their mirrors at this size. */
  tenCrop?: number | [number, number];
  /**
   * Pixels of black (0 before normalisation) added on every side of each image
   * before the ten crops (torchvision's Pad, then TenCrop). With tenCrop the
   * input's own size, the views are the image and its diagonal shifts by this
   * many pixels, and their mirrors: the test-time counterpart of training on
   * crops of the padded image. Default 0.
   */
  tenCropPadding?: number;
  /** Test-time flips: average the logits of each image and of its left-right mirror. */
  flip?: boolean;
  k?: number;
}

/** What evaluate measures: loss, accuracy, top-k accuracy and the confusion matrix. */
export interface EvaluateResult {
  loss: number;
  accuracy: number;
  top5: number;
  count: number;
  /** confusion[true][predicted] */
  confusion: number[][];
  classes: string[];
}

/** Loss, accuracy, top-k accuracy and confusion matrix of a model on a dataset, in inference mode. */
export function evaluate(model: Layer, data: Dataset, opts: EvaluateOptions = {}): EvaluateResult {
  if (opts.flip && opts.tenCrop !== undefined) {
    throw new StrideError("evaluate: tenCrop already averages over mirrored views; use either tenCrop or flip");
  }
  const padding = opts.tenCropPadding ?? 0;
  if (!Number.isInteger(padding) || padding < 0) throw new StrideError(`evaluate: tenCropPadding = ${padding} must be a whole number >= 0`);
  if (padding > 0 && opts.tenCrop === undefined) throw new StrideError("evaluate: tenCropPadding pads the images for tenCrop; give tenCrop too (the input's size, for shifted views)");
  // The padding is black before normalisation: in the normalised batch, -mean / std of each channel.
  const fill = opts.normalize ? opts.normalize.mean.map((m, c) => -m / opts.normalize!.std[c]) : 0;
  const loader = new DataLoader(data, { batchSize: opts.batchSize ?? 256, shuffle: false, normalize: opts.normalize });
  const meter = new ClassificationMeter(data.classes.length, opts.k ?? 5);
  for (const batch of loader) {
    refuseNonFinite(batch.x, (n, v) => `evaluate: example ${batch.indices[n]} of "${data.name}" holds ${v}${opts.normalize ? " after normalisation" : ""}`);
    let scores: Tensor;
    let loss: number;
    if (opts.tenCrop !== undefined) {
      const views = tenCropBatch(batch.x, opts.tenCrop, { padding, fill });
      const probs = averageCrops(softmax(flatScores(model.forward(views, { noGrad: true }))), 10);
      scores = probs;
      loss = -meanLogProb(probs, batch.labels);
    } else {
      scores = flatScores(model.forward(batch.x, { noGrad: true }));
      if (opts.flip) scores = averageWith(scores, flatScores(model.forward(flipBatch(batch.x), { noGrad: true })));
      loss = computeLoss(opts.loss ?? "cross-entropy", scores, batch.labels).loss;
    }
    meter.add(loss, scores, batch.labels);
  }
  return {
    loss: meter.loss, accuracy: meter.accuracy, top5: meter.topkAccuracy, count: meter.count,
    confusion: meter.confusion, classes: data.classes,
  };
}

/** One class of a prediction, with its softmax probability. */
export interface Prediction {
  index: number;
  label: string;
  probability: number;
}

/**
 * The top-k classes of each example with their softmax probabilities.
 * x is [N, C, H, W] or one example [C, H, W], already normalised unless
 * `normalize` is given.
 */
export function predict(model: Layer, x: Tensor, opts: { classes?: string[]; k?: number; normalize?: Normalization } = {}): Prediction[][] {
  // One image [C, H, W] is a batch of one.
  let input = x.rank === 3 ? x.reshape([1, ...x.shape]) : x;
  if (opts.normalize) {
    input = new Tensor(input.shape, input.data.slice());
    normalizeTensor(input, opts.normalize);
  }
  refuseNonFinite(input, (n, v) => `predict: example ${n} of the input holds ${v}${opts.normalize ? " after normalisation" : ""}`);
  const probs = softmax(flatScores(model.forward(input, { noGrad: true })));
  const k = opts.k ?? 5;
  const out: Prediction[][] = [];
  for (let i = 0; i < probs.shape[0]; i++) {
    out.push(topK(probs, i, k).map((j) => ({ index: j, label: opts.classes?.[j] ?? String(j), probability: probs.data[i * probs.shape[1] + j] })));
  }
  return out;
}

/** Row-wise softmax of [N, C] scores. */
export function softmax(scores: Tensor): Tensor {
  const [n, c] = scores.shape;
  const out = new Tensor([n, c]);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < c; j++) max = Math.max(max, scores.data[i * c + j]);
    let sum = 0;
    for (let j = 0; j < c; j++) sum += Math.exp(scores.data[i * c + j] - max);
    for (let j = 0; j < c; j++) out.data[i * c + j] = Math.exp(scores.data[i * c + j] - max) / sum;
  }
  return out;
}

/** The element-wise mean of two score tensors of one shape. */
function averageWith(a: Tensor, b: Tensor): Tensor {
  const out = new Tensor(a.shape);
  for (let i = 0; i < a.size; i++) out.data[i] = (a.data[i] + b.data[i]) / 2;
  return out;
}

function averageCrops(probs: Tensor, views: number): Tensor {
  const [m, c] = probs.shape;
  const n = m / views;
  const out = new Tensor([n, c]);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < c; j++) out.data[Math.floor(i / views) * c + j] += probs.data[i * c + j] / views;
  }
  return out;
}

function meanLogProb(probs: Tensor, labels: ArrayLike<number>): number {
  const c = probs.shape[1];
  let s = 0;
  for (let i = 0; i < probs.shape[0]; i++) s += Math.log(Math.max(probs.data[i * c + labels[i]], 1e-30));
  return s / probs.shape[0];
}

// ---------------------------------------------------------------------------
// Checkpoints: written and read by a store, because they are files and this
// module runs in browsers too. The Node entry registers the file-system store
// (src/node/checkpoints.ts) when it is imported.

export interface CheckpointState {
  format: "stride-checkpoint";
  version: 1;
  epoch: number;
  folder: string;
  loader: DataLoaderState;
  /** The global generator's state. */
  rng: number[];
  /** The generators of the model's own layers (Dropout), by layer path; absent in checkpoints of older versions. */
  randomStreams?: RandomStreams;
  optimizer: OptimizerMeta;
  schedule?: ScheduleState;
  history: History;
}

export interface CheckpointContents {
  model: Layer;
  info: ModelInfo;
  optimizer: Optimizer<any>;
  schedule: Schedule | undefined;
  loader: DataLoaderState;
  randomStreams: RandomStreams;
  epoch: number;
  history: History;
}

export interface CheckpointStore {
  /** Whether `dir` already holds a complete checkpoint. */
  hasLatest(dir: string): boolean;
  write(dir: string, contents: CheckpointContents): void;
  /** Restores the model, optimiser and schedule from the latest checkpoint in `dir`. */
  load(dir: string, model: Layer, optimizer: Optimizer<any>, schedule?: Schedule): CheckpointState;
}

let checkpointStore: CheckpointStore | null = null;

/** Sets where fit's checkpointDir / resume read and write (the Node entry sets the file system). */
export function setCheckpointStore(store: CheckpointStore | null): void {
  checkpointStore = store;
}

function checkpoints(option: string): CheckpointStore {
  if (checkpointStore) return checkpointStore;
  throw new Error(
    `fit: ${option} needs a file system, and this is stride's browser entry, which has none. ` +
      `In Node, import from "stride" (the Node entry provides checkpoints); in a browser, leave ${option} out ` +
      `and keep the model with encodeModel instead.`,
  );
}
