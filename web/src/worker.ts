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
  buildModel, traceActivations, renderVolume, renderFilters, renderInput, convWeights, volumeOf, evaluate, Rng,
  convolutionDemo, demoCell, demoCellCount, demoIm2col, imagePolarity, invertPixels, INVERTED_NOTE,
  subset, type Dataset, type FilterWeights, type Layer, type ModelInfo, type EpochLog, type FitOptions, type Normalization, type RgbaImage,
} from "stride";
import { fetchMnistDigits } from "./mnist.js";
import { greyToInput, takesDigits, convertDigits, convertedCapacity, sample, CONVERTED_BYTES } from "./convert.js";
import type { ToWorker, FromWorker, ModelView, InputSource, Picture, LayerView, FilterView, MistakeView, TestResults } from "./protocol.js";

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
  /** The test digits in a fixed shuffled order (they are stored sorted by class). */
  testOrder: Int32Array;
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
  data = { train, validation, test, testOrder: new Rng(SEED).permutation(test.length) };
  post({
    type: "ready", backend: describeBackend(), isolated: Boolean((self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated),
    train: train.length, validation: validation.length, test: test.length, testOrder: data.testOrder.slice(),
  });
}

/** The notes' convolution demo, computed here by Conv2d (the page computes nothing). */
function postDemo(): void {
  const demo = convolutionDemo(SEED);
  const cells = Array.from({ length: demoCellCount(demo) }, (_, i) => demoCell(demo, i));
  // The sums written out are computed apart from the layer: if they ever disagree, the page says so.
  const wrong = cells.find((c) => c.channelSums.reduce((a, b) => a + b, c.bias) !== c.value);
  if (wrong) post({ type: "error", message: `the convolution demo's cell ${wrong.index} sums to ${wrong.channelSums.reduce((a, b) => a + b, wrong.bias)} but Conv2d computed ${wrong.value}` });
  post({ type: "demo", demo, cells, im2col: demoIm2col(demo) });
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
  let finished: number;
  try {
    finished = await runFit(model, train, {
      epochs: m.epochs, batchSize: m.batchSize, optimizer, schedule, validation, normalize, seed: m.seed,
      augment: randomCrop({ size: 28, padding: 2 }),
    });
  } finally {
    optimizer.dispose(); // its momentum lives in wasm memory, which the collector does not count
  }
  postResults(model, finished === m.epochs ? `after ${plural(m.epochs, "epoch")}` : `stopped after ${finished} of ${plural(m.epochs, "epoch")}`);
}

/** fit() with the page's progress, epoch logs, pause and stop: shared by training and fine-tuning. Returns the epochs completed. */
async function runFit(net: Layer, train: Dataset, opts: FitOptions & { epochs: number; batchSize: number }): Promise<number> {
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
  return epoch - 1;
}

// ---------------------------------------------------------------------------
// The model on the test digits: accuracy and the confusion matrix from
// evaluate(), the mistakes from predict(), as `stride eval` would report.

const MISTAKES_SHOWN = 40;
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;
/** How many test digits a fine-tuned model is measured on. */
const FINE_TUNE_TEST_DIGITS = 200;

/** True when the model takes the digits as they are and scores the ten classes. */
function readsDigits(net: Layer): boolean {
  const { test } = requireData();
  if (!info.inputShape || !takesDigits(info.inputShape, test.shape)) return false;
  const scores = predict(net, new Tensor(test.shape, exampleView(test, 0).slice()), { k: Infinity, normalize: info.normalization })[0];
  return scores.length === test.classes.length;
}

/** The model on the test digits (the first `limit` in shuffled order), converted to its input when it takes other images. */
function postResults(net: Layer, when: string, limit = Infinity): void {
  const { test, testOrder } = requireData();
  const normalize = info.normalization;
  // In shuffled order, so that position p is test digit order[p] and the mistakes shown mix the classes.
  const order = testOrder.subarray(0, Math.min(limit, testOrder.length));
  const data = convertDigits(subset(test, order, test.name), info.inputShape ?? test.shape);
  const r = evaluate(net, data, { normalize });
  const perClass = r.classes.map((label, i) => ({ label, correct: r.confusion[i][i], total: r.confusion[i].reduce((a, b) => a + b, 0) }));
  const mistakes: MistakeView[] = [];
  const transfer: ArrayBuffer[] = [];
  let mistakeCount = 0;
  const size = data.shape[0] * data.shape[1] * data.shape[2];
  const batch = 250;
  for (let start = 0; start < data.length; start += batch) {
    const count = Math.min(batch, data.length - start);
    const x = new Tensor([count, ...data.shape], data.images.slice(start * size, (start + count) * size));
    const top = predict(net, x, { classes: test.classes, k: 1, normalize });
    top.forEach(([best], k) => {
      const index = order[start + k];
      if (best.index === test.labels[index]) return;
      mistakeCount++;
      if (mistakes.length >= MISTAKES_SHOWN) return;
      const picture = renderInput(exampleView(test, index), test.shape, { scale: 2, gap: 0 });
      transfer.push(picture.data.buffer as ArrayBuffer);
      mistakes.push({ index, label: test.classes[test.labels[index]], predicted: best.label, probability: best.probability, picture });
    });
  }
  const results: TestResults = { accuracy: r.accuracy, count: r.count, perClass, mistakes, mistakeCount, when };
  post({ type: "results", results }, transfer);
}

// ---------------------------------------------------------------------------
// Looking inside.

function picture(img: RgbaImage): Picture {
  return { width: img.width, height: img.height, data: img.data };
}

/** The example as a [C, H, W] tensor of raw pixels in [0, 1], and its label if it has one. */
function inputOf(source: InputSource, shape: number[], invert: boolean): { x: Tensor; label?: string; note?: string } {
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
  // A grey (MNIST-like) model reads light strokes on dark: a dark-on-light image is flipped, as `stride predict` does.
  if (invert && c === 1 && imagePolarity(img.data, h, w).darkOnLight) {
    return { x: new Tensor(shape, invertPixels(img.data)), note: INVERTED_NOTE };
  }
  return { x: new Tensor(shape, img.data) };
}

/** At most this many filters, and input channels per filter, of one layer in the picture. */
const FILTERS_SHOWN = 16;
const CHANNELS_SHOWN = 8;

/** A conv layer's first filters as a picture, each weight a few screen pixels wide. */
function filterView(w: FilterWeights): FilterView {
  const [o, i, ...kernel] = w.shape;
  const shownFilters = Math.min(o, FILTERS_SHOWN);
  const shownChannels = i === 3 ? 3 : Math.min(i, CHANNELS_SHOWN);
  const per = kernel.reduce((a, b) => a * b, 1);
  const values = new Float32Array(shownFilters * shownChannels * per);
  for (let f = 0; f < shownFilters; f++) {
    values.set(w.values.subarray((f * i) * per, (f * i + shownChannels) * per), f * shownChannels * per);
  }
  const shape = [shownFilters, shownChannels, ...kernel];
  // Small kernels (3x3) get more pixels per weight than large ones (11x11), so every filter is about 30-45 pixels wide.
  const side = Math.max(...kernel);
  const scale = Math.max(3, Math.min(12, Math.round(36 / side)));
  const picture = renderFilters(values, shape, { scale, maxWidth: 900 });
  return { layer: w.layer, shape: w.shape, shownFilters, shownChannels, picture: { width: picture.width, height: picture.height, data: picture.data } };
}

function inspect(m: Extract<ToWorker, { type: "inspect" }>): void {
  const net = requireModel();
  const shape = info.inputShape;
  if (!shape || shape.length !== 3) throw new Error("the model does not record an image input shape [C, H, W]");
  const { x: raw, label, note } = inputOf(m.source, shape, m.invert);
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
  let filters: FilterView[] = [];
  if (m.purpose === "panel") {
    const trace = traceActivations(net, x, shape);
    layers = trace.layers.map((l) => ({ name: l.name, type: l.type, volume: volumeOf(l.shape), picture: keep(renderVolume(l.values, l.shape, { maxWidth: 900 })) }));
    filters = convWeights(net).filter((w) => w.shape.length === 4).map(filterView);
    for (const f of filters) transfer.push(f.picture.data.buffer as ArrayBuffer);
  }
  post({ type: "inspection", id: m.id, purpose: m.purpose, source: m.source.kind, origin, label, input, predictions: top, layers, filters, note: note ?? "" }, transfer);
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
  // A model for these digits is measured on them at once, as after training.
  if (readsDigits(model)) postResults(model, origin);
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
  let finished: number;
  try {
    finished = await runFit(net, train, { epochs: m.epochs, batchSize: m.batchSize, optimizer, validation, normalize, seed: m.seed });
  } finally {
    optimizer.dispose(); // its momentum lives in wasm memory, which the collector does not count
  }
  // A sample of the test digits, converted as the training ones were: at most 200 (a big model reads them slowly), and what fits beside them.
  const testCount = Math.min(requireData().test.length, FINE_TUNE_TEST_DIGITS, Math.max(50, Math.floor(capacity * 0.2)));
  const epochs = finished === m.epochs ? plural(m.epochs, "epoch") : `stopped after ${finished} of ${plural(m.epochs, "epoch")}`;
  postResults(net, `fine-tuned, ${epochs}; ${testCount < requireData().test.length ? `${testCount} of the test digits, ` : ""}at ${shape.join("x")}`, testCount);
}

// ---------------------------------------------------------------------------

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const m = event.data;
  const run = async (): Promise<void> => {
    switch (m.type) {
      case "init":
        postDemo();
        return init(m.datasetUrl);
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
