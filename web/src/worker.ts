/**
 * The training worker: everything that computes runs here, so the page never
 * freezes. It holds the dataset and the model, trains with the library's own
 * fit() (the recipe of `stride train`), and answers the page's questions
 * (predictions, activations, filters, the model's files) between batches.
 */
import {
  fit, predict, summary, encodeModel, decodeModel, getBackend, getThreads, prepareThreads, splitDataset, computeNormalization,
  randomCrop, SGD, decayGroups, ReduceLROnPlateau, Tensor, normalizeTensor, manualSeed, prepareImage, exampleView,
  type Dataset, type Layer, type ModelInfo, type EpochLog,
} from "stride";
import { buildModel } from "../../src/cli/models.js";
import { traceActivations } from "../../src/viz/activations.js";
import { renderVolume, renderFilters, renderInput, type RgbaImage } from "../../src/viz/render.js";
import { firstConvWeights } from "../../src/viz/filters.js";
import { volumeOf } from "../../src/models/summary.js";
import { fetchMnistDigits } from "./mnist.js";
import type { ToWorker, FromWorker, ModelView, InputSource, Picture, LayerView } from "./protocol.js";

const post = (message: FromWorker, transfer: Transferable[] = []): void => (self as unknown as Worker).postMessage(message, transfer);

// ---------------------------------------------------------------------------
// Pacing. fit() yields to the event loop after every batch through
// setImmediate when there is one; a browser worker has none, so this one
// is provided: a MessageChannel task (no 4 ms timer clamp), held back while
// training is paused. Messages from the page run between those tasks.

let paused = false;
const held: (() => void)[] = [];
const queued: (() => void)[] = [];
const channel = new MessageChannel();
channel.port1.onmessage = () => {
  const fn = queued.shift();
  // A batch queued before the pause arrived waits too, so nothing runs once "paused" is reported.
  if (fn && paused) held.push(fn);
  else fn?.();
};
(globalThis as unknown as { setImmediate: (fn: () => void) => void }).setImmediate = (fn) => {
  if (paused) held.push(fn);
  else {
    queued.push(fn);
    channel.port2.postMessage(0);
  }
};

function setPaused(value: boolean): void {
  paused = value;
  if (!paused) for (const fn of held.splice(0)) (globalThis as unknown as { setImmediate: (fn: () => void) => void }).setImmediate(fn);
}

// ---------------------------------------------------------------------------
// State.

interface Data {
  train: Dataset;
  validation: Dataset;
  test: Dataset;
}

let data: Data | null = null;
let model: Layer | null = null;
let info: ModelInfo = {};
let modelName = "";
/** Where the current model came from, stamped on every answer about it. */
let origin = "";
let training = false;
let stopRequested = false;
/** The newest batch's progress (posted at most every 100 ms, and at once on pause). */
let lastProgress: Extract<FromWorker, { type: "progress" }> | null = null;
const SEED = 1;

class StopTraining extends Error {}

function requireData(): Data {
  if (!data) throw new Error("the digits are still loading; try again in a moment");
  return data;
}

function requireModel(): Layer {
  if (!model) throw new Error("there is no model yet: start training, or load a model's two files");
  return model;
}

function describeBackend(): string {
  const b = getBackend().name;
  if (b !== "wasm") return `${b} (JavaScript; WebAssembly SIMD with shared memory is not available here)`;
  const n = getThreads();
  return `wasm (SIMD, ${n} thread${n === 1 ? "" : "s"})`;
}

function modelView(m: Layer, origin: string): ModelView {
  const inputShape = info.inputShape ?? requireData().train.shape;
  const s = summary(m, inputShape);
  return {
    name: modelName || m.name, params: s.totalParams, origin, inputShape, classes: info.classes ?? [],
    rows: s.rows.map((r) => ({ name: r.name, type: r.type, volume: r.volume, params: r.params, activations: r.activations, macs: r.macs })),
    totals: { params: s.totalParams, activations: s.totalActivations, macs: s.totalMacs },
  };
}

async function init(datasetUrl: string): Promise<void> {
  const [all] = await Promise.all([fetchMnistDigits(datasetUrl), getBackend().name === "wasm" ? prepareThreads() : 0]);
  // The same split as `stride train` (seed 1): 8,000 / 2,000, then 10% of training held out.
  const { train: trainAll, test } = splitDataset(all, 0.2, SEED);
  const { train, test: validation } = splitDataset(trainAll, 0.1, SEED);
  train.name = "mnist-digits (train)";
  validation.name = "mnist-digits (validation)";
  test.name = "mnist-digits (test)";
  data = { train, validation, test };
  post({ type: "ready", backend: describeBackend(), isolated: Boolean((self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated), train: train.length, validation: validation.length, test: test.length });
}

async function start(m: Extract<ToWorker, { type: "start" }>): Promise<void> {
  if (training) throw new Error("training is already running; stop it first");
  const { train, validation } = requireData();
  manualSeed(m.seed);
  const normalize = computeNormalization(train);
  modelName = m.model;
  model = buildModel(m.model, { numClasses: train.classes.length, inputShape: train.shape, seed: m.seed });
  info = {
    inputShape: train.shape, classes: train.classes, normalization: normalize,
    extra: { model: m.model, dataset: "mnist", trainedIn: "browser" },
  };
  origin = "trained in this page";
  post({ type: "model", model: modelView(model, origin) });
  const optimizer = new SGD(decayGroups(model, 1e-4), { lr: m.lr, momentum: 0.9 });
  const schedule = new ReduceLROnPlateau(optimizer, { mode: "max", factor: 0.1, patience: 3, threshold: 1e-3 });
  const batchesPerEpoch = Math.ceil(train.length / m.batchSize);
  training = true;
  stopRequested = false;
  setPaused(false);
  post({ type: "state", state: "training" });
  let epoch = 1;
  let epochStarted = performance.now();
  let lastPost = 0;
  let lossSum = 0;
  let lossCount = 0;
  try {
    await fit(model, train, {
      epochs: m.epochs, batchSize: m.batchSize, optimizer, schedule, validation, normalize, seed: m.seed,
      augment: randomCrop({ size: 28, padding: 2 }), progress: "none", log: () => {},
      callbacks: [{
        onBatchEnd(step, loss) {
          if (stopRequested) throw new StopTraining();
          lossSum += loss;
          lossCount++;
          const batch = step - (epoch - 1) * batchesPerEpoch;
          const now = performance.now();
          const seconds = (now - epochStarted) / 1000;
          lastProgress = {
            type: "progress", epoch, epochs: m.epochs, batch, batches: batchesPerEpoch, step, loss: lossSum / lossCount,
            imagesPerSecond: Math.min(batch * m.batchSize, train.length) / Math.max(seconds, 1e-6),
          };
          if (now - lastPost > 100 || batch === batchesPerEpoch) {
            post(lastProgress);
            lossSum = 0;
            lossCount = 0;
            lastPost = now;
          }
        },
        onEpochEnd(log: EpochLog) {
          post({
            type: "epoch",
            log: { epoch: log.epoch, epochs: m.epochs, trainLoss: log.trainLoss, trainAccuracy: log.trainAccuracy, valLoss: log.valLoss, valAccuracy: log.valAccuracy, lr: log.lr, imagesPerSecond: log.imagesPerSecond },
          });
          epoch = log.epoch + 1;
          epochStarted = performance.now();
        },
      }],
    });
  } catch (e) {
    if (!(e instanceof StopTraining)) throw e;
  } finally {
    training = false;
    setPaused(false);
    post({ type: "state", state: "idle" });
  }
}

// ---------------------------------------------------------------------------
// Looking inside.

function picture(img: RgbaImage): Picture {
  return { width: img.width, height: img.height, data: img.data };
}

/** The example as a [C, H, W] tensor of raw pixels in [0, 1], and its label if it has one. */
function inputOf(source: InputSource, shape: number[]): { x: Tensor; label?: string } {
  const [c, h, w] = shape;
  if (source.kind === "test") {
    const { test } = requireData();
    if (!Number.isInteger(source.index) || source.index < 0 || source.index >= test.length) {
      throw new Error(`test image ${source.index} does not exist; choose 0 to ${test.length - 1}`);
    }
    if (test.shape.join("x") !== shape.join("x")) throw new Error(`the model takes ${shape.join("x")} images, but the digits are ${test.shape.join("x")}`);
    return { x: new Tensor(shape, exampleView(test, source.index).slice()), label: test.classes[test.labels[source.index]] };
  }
  if (source.kind === "pixels") {
    if (c !== 1 || source.pixels.length !== h * w) throw new Error(`a drawing is ${source.pixels.length} grey pixels; the model takes ${shape.join("x")}`);
    return { x: new Tensor(shape, source.pixels) };
  }
  if (c !== 1 && c !== 3) throw new Error(`the model takes ${shape.join("x")} inputs, not images`);
  // The same conversion as `stride predict` applies to an image file.
  const img = prepareImage({ width: source.width, height: source.height, rgba: new Uint8Array(source.rgba.buffer, source.rgba.byteOffset, source.rgba.byteLength) }, { size: [h, w], channels: c as 1 | 3 });
  return { x: new Tensor(shape, img.data) };
}

function inspect(m: Extract<ToWorker, { type: "inspect" }>): void {
  const net = requireModel();
  const shape = info.inputShape;
  if (!shape || shape.length !== 3) throw new Error("the model does not record an image input shape [C, H, W]");
  const { x: raw, label } = inputOf(m.source, shape);
  const x = new Tensor(shape, raw.data.slice());
  if (info.normalization) normalizeTensor(x, info.normalization);
  const [top] = predict(net, x, { classes: info.classes, k: 5 });
  const transfer: Transferable[] = [];
  const keep = (img: RgbaImage): Picture => {
    transfer.push(img.data.buffer as ArrayBuffer);
    return picture(img);
  };
  const input = keep(renderInput(raw.data, shape, { scale: 4 }));
  let layers: LayerView[] = [];
  let filters: { layer: string; picture: Picture } | undefined;
  if (m.purpose === "panel") {
    const trace = traceActivations(net, x, shape);
    layers = trace.layers.map((l) => ({ name: l.name, type: l.type, volume: volumeOf(l.shape), picture: keep(renderVolume(l.values, l.shape, { maxWidth: 900 })) }));
    const w = firstConvWeights(net);
    if (w) filters = { layer: w.layer, picture: keep(renderFilters(w.values, w.shape, { minSide: 40, maxWidth: 290 })) };
  }
  post({ type: "inspection", id: m.id, purpose: m.purpose, source: m.source.kind, origin, label, input, predictions: top, layers, filters }, transfer);
}

function exportModel(): void {
  const { json, weights } = encodeModel(requireModel(), info);
  post({ type: "exported", json, weights, name: modelName || "model" }, [weights.buffer as ArrayBuffer]);
}

function importModel(m: Extract<ToWorker, { type: "import" }>): void {
  if (training) throw new Error("stop training before loading another model");
  const loaded = decodeModel(m.json, m.weights, m.where);
  if (!loaded.info.inputShape) throw new Error(`${m.where}: model.json does not record the input shape, so the page cannot feed it images`);
  model = loaded.model;
  info = loaded.info;
  modelName = String(loaded.info.extra?.model ?? loaded.model.name);
  origin = `loaded from ${m.where}`;
  post({ type: "model", model: modelView(model, origin) });
}

// ---------------------------------------------------------------------------

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const m = event.data;
  const run = async (): Promise<void> => {
    switch (m.type) {
      case "init": return init(m.datasetUrl);
      case "start": return start(m);
      case "pause":
        if (training) {
          setPaused(true);
          if (lastProgress) post(lastProgress);
          post({ type: "state", state: "paused" });
        }
        return;
      case "resume":
        if (training) {
          setPaused(false);
          post({ type: "state", state: "training" });
        }
        return;
      case "stop":
        stopRequested = true;
        setPaused(false);
        return;
      case "inspect": return inspect(m);
      case "export": return exportModel();
      case "import": return importModel(m);
    }
  };
  run().catch((e: unknown) => post({ type: "error", message: e instanceof Error ? e.message : String(e) }));
};
