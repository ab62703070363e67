/**
 * The training worker: everything that computes runs here, so the page never
 * freezes. It holds the dataset and the model, trains with the library's own
 * fit() (the recipe of `stride train`), and answers the page's questions
 * (predictions, activations, filters, the model's files) between batches.
 * It also imports pretrained models (PyTorch, safetensors, ONNX) and
 * fine-tunes them on the digits, converted to the model's input size.
 */
import {
  fit, predict, summary, encodeModel, decodeModel, getBackend, prepareThreads, splitDataset, computeNormalization,
  randomCrop, SGD, decayGroups, ReduceLROnPlateau, Tensor, normalizeTensor, manualSeed, prepareImage, exampleView,
  importModelBytes, replaceHead, freeze, unfreeze, namedModules, findLayer, describeBackend,
  buildModel, traceActivations, renderVolume, renderFilters, renderInput, firstConvWeights, volumeOf,
  type Dataset, type Layer, type ModelInfo, type EpochLog, type FitOptions, type Normalization, type RgbaImage,
} from "stride";
import { fetchMnistDigits } from "./mnist.js";
import { greyToInput, takesDigits, convertDigits, convertedCapacity, sample, CONVERTED_BYTES } from "./convert.js";
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
  if (!model) throw new Error("there is no model yet: start training, or load a model (its two stride files, or one .pth, .safetensors or .onnx file)");
  return model;
}

function modelView(m: Layer, origin: string): ModelView {
  const inputShape = info.inputShape ?? requireData().train.shape;
  const s = summary(m, inputShape);
  return {
    name: modelName || m.name, params: s.totalParams, origin, inputShape, classes: info.classes ?? [],
    rows: s.rows.map((r) => ({ name: r.name, type: r.type, volume: r.volume, params: r.params, activations: r.activations, macs: r.macs })),
    totals: { params: s.totalParams, activations: s.totalActivations, macs: s.totalMacs },
    layers: namedModules(m).filter(([path, l]) => path && l.children().length === 0 && l.params().length > 0).map(([path]) => path),
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
  try {
    await runFit(model, train, {
      epochs: m.epochs, batchSize: m.batchSize, optimizer, schedule, validation, normalize, seed: m.seed,
      augment: randomCrop({ size: 28, padding: 2 }),
    });
  } finally {
    optimizer.dispose(); // its momentum lives in wasm memory, which the collector does not count
  }
}

/** fit() with the page's progress, epoch logs, pause and stop: shared by training and fine-tuning. */
async function runFit(net: Layer, train: Dataset, opts: FitOptions & { epochs: number; batchSize: number }): Promise<void> {
  const batchesPerEpoch = Math.ceil(train.length / opts.batchSize);
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
    await fit(net, train, {
      ...opts, progress: "none", log: () => {},
      callbacks: [{
        onBatchEnd(step, loss) {
          if (stopRequested) throw new StopTraining();
          lossSum += loss;
          lossCount++;
          const batch = step - (epoch - 1) * batchesPerEpoch;
          const now = performance.now();
          const seconds = (now - epochStarted) / 1000;
          lastProgress = {
            type: "progress", epoch, epochs: opts.epochs, batch, batches: batchesPerEpoch, step, loss: lossSum / lossCount,
            imagesPerSecond: Math.min(batch * opts.batchSize, train.length) / Math.max(seconds, 1e-6),
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
            log: { epoch: log.epoch, epochs: opts.epochs, trainLoss: log.trainLoss, trainAccuracy: log.trainAccuracy, valLoss: log.valLoss, valAccuracy: log.valAccuracy, lr: log.lr, imagesPerSecond: log.imagesPerSecond },
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
    const digit = exampleView(test, source.index);
    const label = test.classes[test.labels[source.index]];
    if (takesDigits(shape, test.shape)) return { x: new Tensor(shape, digit.slice()), label };
    // An imported model's input (3x224x224, say): the digit resized as `stride predict` resizes an image file.
    return { x: new Tensor(shape, greyToInput(digit, test.shape[1], test.shape[2], shape)), label };
  }
  if (source.kind === "pixels") {
    const side = Math.round(Math.sqrt(source.pixels.length));
    if (c === 1 && source.pixels.length === h * w) return { x: new Tensor(shape, source.pixels) };
    return { x: new Tensor(shape, greyToInput(source.pixels, side, side, shape)) };
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

function importFile(m: Extract<ToWorker, { type: "import-file" }>): void {
  if (training) throw new Error("stop training before loading another model");
  let imported: ReturnType<typeof importModelBytes>;
  try {
    imported = importModelBytes(m.name, m.bytes, { imageSize: m.imageSize });
  } catch (e) {
    // The library's file errors already begin with the file's name; anything else is given it here.
    const message = e instanceof Error ? e.message : String(e);
    throw new Error(message.startsWith(`${m.name}:`) ? message : `${m.name} could not be imported: ${message}`);
  }
  model = imported.model;
  info = imported.info;
  modelName = imported.arch;
  origin = `imported from ${m.name}: ${imported.description}`;
  post({ type: "model", model: modelView(model, origin) });
}

/** Fine-tuning: a new 10-class head, the layers before the chosen one frozen, the digits at the model's input size. */
async function fineTune(m: Extract<ToWorker, { type: "finetune" }>): Promise<void> {
  if (training) throw new Error("training is already running; stop it first");
  const net = requireModel();
  const { train: allTrain, validation: allValidation } = requireData();
  const shape = info.inputShape;
  if (!shape || shape.length !== 3 || (shape[0] !== 1 && shape[0] !== 3)) {
    throw new Error(`the model takes ${shape ? shape.join("x") : "unknown"} inputs; fine-tuning on the digits needs a 1- or 3-channel image model`);
  }
  // The converted digits stay under CONVERTED_BYTES: a fifth of that for validation.
  const capacity = convertedCapacity(shape);
  const trainCount = Math.min(m.images, allTrain.length, Math.floor(capacity * 0.8));
  const validationCount = Math.min(allValidation.length, Math.max(Math.ceil(trainCount / 4), 50), Math.floor(capacity * 0.2));
  if (trainCount < 10 || validationCount < 1) throw new Error(`a ${shape.join("x")} input is too large to fine-tune on in the page (${capacity} images fit in ${CONVERTED_BYTES / 1e6} MB)`);
  const train = convertDigits(sample(allTrain, trainCount, m.seed), shape);
  const validation = convertDigits(sample(allValidation, validationCount, m.seed), shape);
  const megabytes = ((train.images.byteLength + validation.images.byteLength) / 1e6).toFixed(1);
  const capped = trainCount < Math.min(m.images, allTrain.length) ? ` (capped: at ${shape.join("x")} only ${capacity} images fit in ${CONVERTED_BYTES / 1e6} MB)` : "";
  post({ type: "notice", message: `fine-tuning on ${train.length} training and ${validation.length} validation digits converted to ${shape.join("x")}, ${megabytes} MB${capped}` });

  // A layer name that does not exist fails here, before the head is replaced.
  if (m.freeze !== "head" && m.freeze !== "none") findLayer(net, m.freeze);
  manualSeed(m.seed);
  unfreeze(net);
  const head = replaceHead(net, { numClasses: allTrain.classes.length, seed: m.seed });
  const until = m.freeze === "head" ? namedModules(net).find(([, l]) => l === head)![0] : m.freeze;
  // By default frozen batch norms still adapt their statistics to the digits (PyTorch's behaviour); kept, the frozen layers compute exactly what they did.
  if (m.freeze !== "none") freeze(net, { until, statistics: m.keepStatistics ? "freeze" : "update" });
  const trainable = new Set(net.params().filter((p) => p.trainable !== false));
  const frozen = net.params().length - trainable.size;
  // SGD over the trainable parameters only, no weight decay on biases and batch norm (the fineTune recipe).
  const groups = decayGroups(net, 1e-4).map((g) => ({ ...g, params: g.params.filter((p) => trainable.has(p)) })).filter((g) => g.params.length > 0);
  const optimizer = new SGD(groups, { lr: m.lr, momentum: 0.9 });
  // The model's own normalisation (ImageNet's for an imported RGB model), not the digits'.
  const normalize: Normalization | undefined = info.normalization;
  const base = modelName.replace(/ \(fine-tuned on digits\)$/, "");
  modelName = `${base} (fine-tuned on digits)`;
  info = { ...info, classes: allTrain.classes.slice(), extra: { ...info.extra, model: base, fineTunedOn: "mnist-digits", trainedIn: "browser" } };
  origin = `${origin.replace(/; fine-tuned .*$/, "")}; fine-tuned on ${train.length} digits (${frozen} of ${net.params().length} parameter tensors frozen)`;
  post({ type: "model", model: modelView(net, origin) });
  try {
    await runFit(net, train, { epochs: m.epochs, batchSize: m.batchSize, optimizer, validation, normalize, seed: m.seed });
  } finally {
    optimizer.dispose(); // its momentum lives in wasm memory, which the collector does not count
  }
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
      case "import-file": return importFile(m);
      case "finetune": return fineTune(m);
    }
  };
  run().catch((e: unknown) => post({ type: "error", message: e instanceof Error ? e.message : String(e) }));
};
