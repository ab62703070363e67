/**
 * The page: controls, charts, the drawing canvas and the pictures. It
 * computes nothing itself: every forward and backward pass runs in the
 * worker (worker.ts), and the page only draws what the worker sends.
 */
import { drawChart, type Series } from "./chart.js";
import { drawingToDigit } from "./digit.js";
import { showDemo } from "./conv-demo.js";
import type { FromWorker, ToWorker, InputSource, Picture, ModelView, PredictionView, TestResults, FilterView } from "./protocol.js";

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
};

const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
const send = (m: ToWorker, transfer: Transferable[] = []): void => worker.postMessage(m, transfer);

const ui = {
  backend: $("backend"), message: $("message"), state: $("state"), epoch: $("epoch"), speed: $("speed"),
  trainLoss: $("train-loss"), valAccuracy: $("val-accuracy"), dataInfo: $("data-info"),
  model: $<HTMLSelectElement>("model"), epochs: $<HTMLInputElement>("epochs"), batchSize: $<HTMLInputElement>("batch-size"), lr: $<HTMLInputElement>("lr"),
  start: $<HTMLButtonElement>("start"), pause: $<HTMLButtonElement>("pause"), stop: $<HTMLButtonElement>("stop"), download: $<HTMLButtonElement>("download"),
  modelFiles: $<HTMLInputElement>("model-files"), imageFile: $<HTMLInputElement>("image-file"), importSize: $<HTMLInputElement>("import-size"),
  freeze: $<HTMLSelectElement>("freeze"), keepStats: $<HTMLInputElement>("keep-stats"), ftImages: $<HTMLInputElement>("ft-images"), finetune: $<HTMLButtonElement>("finetune"),
  lossChart: $<HTMLCanvasElement>("loss-chart"), accuracyChart: $<HTMLCanvasElement>("accuracy-chart"),
  draw: $<HTMLCanvasElement>("draw"), clear: $<HTMLButtonElement>("clear"), drawPrediction: $("draw-prediction"),
  testIndex: $<HTMLInputElement>("test-index"), nextTest: $<HTMLButtonElement>("next-test"), inspectDrawing: $<HTMLButtonElement>("inspect-drawing"),
  inputImage: $<HTMLCanvasElement>("input-image"), inputLabel: $("input-label"), predictions: $("predictions"),
  filters: $("filters"), activations: $("activations"), inputNote: $("input-note"), invert: $<HTMLInputElement>("invert"),
  summary: $<HTMLTableElement>("summary"), modelName: $("model-name"),
  results: $("results-body"), testAccuracy: $("test-accuracy"), resultsWhen: $("results-when"), perClass: $<HTMLTableElement>("per-class"),
  mistakes: $("mistakes"), mistakesCount: $("mistakes-count"),
  hints: {
    start: $("start-hint"), results: $("results-hint"), draw: $("draw-hint"), inspect: $("inspect-hint"), activations: $("activations-hint"),
    filters: $("filters-hint"), network: $("network-hint"),
  },
};

let state: "idle" | "training" | "paused" = "idle";
let hasModel = false;
let testCount = 0;
/** The test digits in the worker's fixed shuffled order: "Next" walks it (the stored digits are sorted by class). */
let testOrder: Int32Array = new Int32Array(0);

// ---------------------------------------------------------------------------
// Charts: training loss per batch (smoothed), validation loss and both accuracies per epoch.

const history = { batchLoss: [] as [number, number][], valLoss: [] as [number, number][], trainAcc: [] as [number, number][], valAcc: [] as [number, number][] };
let batchesPerEpoch = 1;

function redrawCharts(): void {
  // Both charts share the epoch axis: the loss runs batch by batch ahead of the per-epoch accuracy.
  const xEnd = Math.max(0, ...Object.values(history).flatMap((points) => points.map((p) => p[0])));
  const loss: Series[] = [
    { label: "training", color: "#5b9bd5", points: history.batchLoss },
    { label: "validation", color: "#f0a868", points: history.valLoss, dots: true },
  ];
  drawChart(ui.lossChart, loss, {
    title: "loss (log scale)", xLabel: "epoch", xEnd, format: (y) => y.toFixed(2), logY: true,
    empty: "the training loss, batch by batch, and the validation\nloss after each epoch: press Start training",
  });
  const acc: Series[] = [
    { label: "training", color: "#5b9bd5", points: history.trainAcc, dots: true },
    { label: "validation", color: "#f0a868", points: history.valAcc, dots: true },
  ];
  drawChart(ui.accuracyChart, acc, {
    title: "accuracy", xLabel: "epoch", xEnd, format: (y) => `${Math.round(100 * y)}%`, yMax: 1,
    empty: "training and validation accuracy after each epoch\nappear here",
  });
}

/** Everything that described the previous model, cleared: charts, numbers, results, pictures, with the hints back. */
function resetViews(): void {
  history.batchLoss = [];
  history.valLoss = [];
  history.trainAcc = [];
  history.valAcc = [];
  for (const el of [ui.epoch, ui.speed, ui.trainLoss, ui.valAccuracy]) el.textContent = "–";
  ui.valAccuracy.dataset.value = "";
  redrawCharts();
  showResults(null);
  ui.filters.replaceChildren();
  ui.activations.replaceChildren();
  ui.predictions.replaceChildren();
  delete ui.predictions.dataset.source;
  delete ui.predictions.dataset.origin;
  ui.inputLabel.textContent = "";
  ui.inputNote.textContent = "";
  ui.drawPrediction.textContent = "–";
  ui.drawPrediction.dataset.label = "";
  const input = ui.inputImage.getContext("2d")!;
  input.clearRect(0, 0, ui.inputImage.width, ui.inputImage.height);
  for (const hint of [ui.hints.results, ui.hints.inspect, ui.hints.activations, ui.hints.filters]) hint.hidden = false;
}

// ---------------------------------------------------------------------------

function setState(next: typeof state): void {
  state = next;
  ui.state.textContent = next;
  ui.start.disabled = next !== "idle" || testCount === 0;
  ui.pause.disabled = next === "idle";
  ui.pause.textContent = next === "paused" ? "Resume" : "Pause";
  ui.stop.disabled = next === "idle";
  ui.download.disabled = !hasModel;
  ui.modelFiles.disabled = next !== "idle";
  ui.finetune.disabled = next !== "idle" || !hasModel || testCount === 0;
}

function showMessage(text: string): void {
  ui.message.textContent = text;
}

function putPicture(canvas: HTMLCanvasElement, p: Picture, zoom = 1): void {
  canvas.width = p.width;
  canvas.height = p.height;
  canvas.style.width = `${p.width * zoom}px`;
  canvas.style.height = `${p.height * zoom}px`;
  canvas.getContext("2d")!.putImageData(new ImageData(new Uint8ClampedArray(p.data), p.width, p.height), 0, 0);
}

function showModel(m: ModelView): void {
  hasModel = true;
  // A new model: nothing on the page may still describe the previous one.
  resetViews();
  for (const hint of [ui.hints.start, ui.hints.network, ui.hints.draw]) hint.hidden = true;
  ui.modelName.textContent = `${m.name}: ${m.params.toLocaleString("en-US")} parameters, ${m.origin}`;
  const body = ui.summary.tBodies[0];
  body.replaceChildren(...m.rows.map((r) => {
    const tr = document.createElement("tr");
    for (const v of [r.name, r.type, r.volume, r.params.toLocaleString("en-US"), r.activations.toLocaleString("en-US"), r.macs.toLocaleString("en-US")]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.append(td);
    }
    return tr;
  }));
  // Where fine-tuning may start training: the new head only, everything, or from a chosen layer on.
  const chosen = ui.freeze.value;
  ui.freeze.replaceChildren(
    new Option("only the new head (fast)", "head"),
    new Option("every layer", "none"),
    ...m.layers.map((l) => new Option(`from ${l} on`, l)),
  );
  ui.freeze.value = [...ui.freeze.options].some((o) => o.value === chosen) ? chosen : "head";
  ui.summary.querySelector("tfoot")?.remove();
  const foot = ui.summary.createTFoot();
  const tr = foot.insertRow();
  for (const v of ["total", "", "", m.totals.params.toLocaleString("en-US"), m.totals.activations.toLocaleString("en-US"), m.totals.macs.toLocaleString("en-US")]) {
    tr.insertCell().textContent = v;
  }
  setState(state);
  requestPanel();
}

function showPredictions(list: HTMLElement, predictions: PredictionView[]): void {
  list.replaceChildren(...predictions.map((p) => {
    const li = document.createElement("li");
    li.dataset.label = p.label;
    li.dataset.probability = String(p.probability);
    li.textContent = `${p.label}  ${(100 * p.probability).toFixed(1)}%`;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.round(120 * p.probability)}px`;
    li.append(bar);
    return li;
  }));
}

// ---------------------------------------------------------------------------
// What the inspection panel looks at: a test image, the drawing, or an image file.

let panelSource: InputSource = { kind: "test", index: 0 };
/** The source of the request in flight, so its answer can say which test digit it shows. */
let panelSent: InputSource = panelSource;
let requestId = 0;
let latestPanel = 0;
let latestDrawing = 0;
let panelBusy = false;
let panelWanted = false;

function requestPanel(source?: InputSource): void {
  if (source) panelSource = source;
  if (!hasModel) return;
  // One request in flight at a time; the latest wish is sent when it returns.
  if (panelBusy) {
    panelWanted = true;
    return;
  }
  panelBusy = true;
  latestPanel = ++requestId;
  panelSent = panelSource;
  send({ type: "inspect", id: latestPanel, purpose: "panel", source: panelSource, invert: ui.invert.checked });
}

function showInspection(m: Extract<FromWorker, { type: "inspection" }>): void {
  if (m.purpose === "drawing") {
    if (m.id !== latestDrawing) return;
    const top = m.predictions[0];
    ui.drawPrediction.textContent = top ? `${top.label} (${(100 * top.probability).toFixed(1)}%)` : "–";
    ui.drawPrediction.dataset.label = top?.label ?? "";
    return;
  }
  panelBusy = false;
  if (panelWanted) {
    panelWanted = false;
    requestPanel();
  }
  if (m.id !== latestPanel) return;
  putPicture(ui.inputImage, m.input, 1);
  ui.inputLabel.textContent = m.label !== undefined ? `label ${m.label}` : "";
  ui.inputLabel.dataset.index = panelSent.kind === "test" ? String(panelSent.index) : "";
  ui.inputNote.textContent = m.note;
  for (const hint of [ui.hints.inspect, ui.hints.activations]) hint.hidden = true;
  showPredictions(ui.predictions, m.predictions);
  // What these predictions are of, for a reader (and the end-to-end test) to tell answers apart.
  ui.predictions.dataset.source = m.source;
  ui.predictions.dataset.origin = m.origin;
  showFilters(m.filters);
  // Reuse the blocks when the layers are the same, so the page does not jump while training.
  const blocks = [...ui.activations.querySelectorAll<HTMLElement>(".layer-block")];
  const same = blocks.length === m.layers.length && blocks.every((b, i) => b.dataset.layer === m.layers[i].name);
  if (!same) {
    ui.activations.replaceChildren(...m.layers.map((l) => {
      const block = document.createElement("div");
      block.className = "layer-block";
      block.dataset.layer = l.name;
      const title = document.createElement("div");
      title.className = "title";
      title.innerHTML = `<b></b> <span></span>`;
      title.querySelector("b")!.textContent = l.name;
      title.querySelector("span")!.textContent = `${l.type}  ${l.volume}`;
      block.append(title, document.createElement("canvas"));
      return block;
    }));
  }
  const current = [...ui.activations.querySelectorAll<HTMLElement>(".layer-block")];
  m.layers.forEach((l, i) => putPicture(current[i].querySelector("canvas")!, l.picture));
}

/** One block per conv layer: its name, its weights' shape, and its filters (reused while the layers stay the same). */
function showFilters(filters: FilterView[]): void {
  ui.hints.filters.hidden = filters.length > 0;
  const blocks = [...ui.filters.querySelectorAll<HTMLElement>(".filter-block")];
  if (blocks.length !== filters.length || blocks.some((b, i) => b.dataset.layer !== filters[i].layer)) {
    ui.filters.replaceChildren(...filters.map((f) => {
      const block = document.createElement("div");
      block.className = "filter-block";
      block.dataset.layer = f.layer;
      const title = document.createElement("div");
      title.className = "title";
      const [o, i, ...k] = f.shape;
      const shown = f.shownFilters < o || f.shownChannels < i ? `, the first ${f.shownFilters} filters × ${f.shownChannels} channels shown` : "";
      title.innerHTML = "<b></b> <span></span>";
      title.querySelector("b")!.textContent = f.layer;
      title.querySelector("span")!.textContent = `${o} filters of ${k.join("x")}x${i}${shown}`;
      const canvas = document.createElement("canvas");
      canvas.className = "picture";
      block.append(title, canvas);
      return block;
    }));
  }
  const current = [...ui.filters.querySelectorAll<HTMLElement>(".filter-block canvas")] as HTMLCanvasElement[];
  filters.forEach((f, i) => putPicture(current[i], f.picture));
}

/** Test accuracy, a row per class, and the digits read wrong; null clears them back to the hint. */
function showResults(r: TestResults | null): void {
  ui.hints.results.hidden = r !== null;
  ui.results.hidden = r === null;
  if (!r) {
    ui.testAccuracy.textContent = "–";
    ui.testAccuracy.dataset.value = "";
    ui.perClass.tBodies[0].replaceChildren();
    ui.mistakes.replaceChildren();
    return;
  }
  ui.testAccuracy.textContent = `${(100 * r.accuracy).toFixed(2)}% of ${r.count.toLocaleString("en-US")}`;
  ui.testAccuracy.dataset.value = String(r.accuracy);
  ui.testAccuracy.dataset.count = String(r.count);
  ui.resultsWhen.textContent = `(${r.when})`;
  ui.perClass.tBodies[0].replaceChildren(...r.perClass.map((c) => {
    const tr = document.createElement("tr");
    const accuracy = c.total ? c.correct / c.total : 0;
    tr.dataset.label = c.label;
    tr.dataset.correct = String(c.correct);
    tr.dataset.total = String(c.total);
    for (const v of [c.label, `${c.correct}/${c.total}`, `${(100 * accuracy).toFixed(1)}%`]) tr.insertCell().textContent = v;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.round(100 * accuracy)}px`;
    tr.insertCell().append(bar);
    return tr;
  }));
  ui.mistakesCount.textContent = r.mistakeCount === 0 ? "(none)" :
    `(${r.mistakeCount} of ${r.count}${r.mistakeCount > r.mistakes.length ? `; the first ${r.mistakes.length} in shuffled order` : ""}; click one to inspect it)`;
  ui.mistakes.replaceChildren(...r.mistakes.map((m) => {
    const figure = document.createElement("figure");
    figure.className = "mistake";
    figure.dataset.index = String(m.index);
    figure.dataset.label = m.label;
    figure.dataset.predicted = m.predicted;
    figure.title = `test digit ${m.index}: a ${m.label}, read as ${m.predicted} (${(100 * m.probability).toFixed(0)}%)`;
    const canvas = document.createElement("canvas");
    putPicture(canvas, m.picture);
    const caption = document.createElement("figcaption");
    caption.textContent = `${m.predicted} (true ${m.label})`;
    figure.append(canvas, caption);
    figure.addEventListener("click", () => {
      ui.testIndex.value = String(m.index);
      requestPanel(testSource());
    });
    return figure;
  }));
}

// ---------------------------------------------------------------------------
// The drawing canvas: white strokes on black, as the digits are.

const pen = ui.draw.getContext("2d", { willReadFrequently: true })!;
function clearDrawing(): void {
  pen.fillStyle = "#000";
  pen.fillRect(0, 0, ui.draw.width, ui.draw.height);
  ui.drawPrediction.textContent = "–";
  ui.drawPrediction.dataset.label = "";
}
clearDrawing();

function drawingPixels(): Float32Array | null {
  const { width, height } = ui.draw;
  const rgba = pen.getImageData(0, 0, width, height).data;
  const grey = new Float32Array(width * height);
  for (let i = 0; i < grey.length; i++) grey[i] = rgba[4 * i] / 255;
  return drawingToDigit(grey, width, height);
}

let drawTimer: number | undefined;
function predictDrawing(): void {
  if (!hasModel) return;
  const pixels = drawingPixels();
  if (!pixels) return;
  latestDrawing = ++requestId;
  send({ type: "inspect", id: latestDrawing, purpose: "drawing", source: { kind: "pixels", pixels }, invert: false }, [pixels.buffer]);
}

let drawing = false;
let last: [number, number] | null = null;
const at = (e: PointerEvent): [number, number] => {
  const r = ui.draw.getBoundingClientRect();
  return [((e.clientX - r.left) * ui.draw.width) / r.width, ((e.clientY - r.top) * ui.draw.height) / r.height];
};
ui.draw.addEventListener("pointerdown", (e) => {
  drawing = true;
  last = at(e);
  ui.draw.setPointerCapture(e.pointerId);
});
ui.draw.addEventListener("pointermove", (e) => {
  if (!drawing || !last) return;
  const p = at(e);
  pen.strokeStyle = "#fff";
  pen.lineWidth = 20;
  pen.lineCap = "round";
  pen.beginPath();
  pen.moveTo(...last);
  pen.lineTo(...p);
  pen.stroke();
  last = p;
  // Live, but at most ~8 predictions a second.
  drawTimer ??= window.setTimeout(() => {
    drawTimer = undefined;
    predictDrawing();
  }, 120);
});
const endStroke = (): void => {
  if (!drawing) return;
  drawing = false;
  last = null;
  predictDrawing();
};
ui.draw.addEventListener("pointerup", endStroke);
ui.draw.addEventListener("pointercancel", endStroke);
ui.clear.addEventListener("click", clearDrawing);
ui.inspectDrawing.addEventListener("click", () => {
  const pixels = drawingPixels();
  if (!pixels) return showMessage("draw a digit first");
  requestPanel({ kind: "pixels", pixels });
});

// ---------------------------------------------------------------------------
// Controls.

function readNumber(input: HTMLInputElement, what: string, check: (x: number) => boolean): number {
  const x = Number(input.value);
  if (!Number.isFinite(x) || !check(x)) throw new Error(`${what} = ${input.value} is not valid (allowed: ${input.min} to ${input.max})`);
  return x;
}

/** The shared training settings, checked, with the charts cleared for a new run. */
function newRun(): { epochs: number; batchSize: number; lr: number } {
  const epochs = readNumber(ui.epochs, "epochs", (x) => Number.isInteger(x) && x >= 1 && x <= 100);
  const batchSize = readNumber(ui.batchSize, "batch size", (x) => Number.isInteger(x) && x >= 1 && x <= 1024);
  const lr = readNumber(ui.lr, "learning rate", (x) => x > 0 && x <= 1);
  showMessage("");
  ui.hints.start.hidden = true;
  resetViews();
  return { epochs, batchSize, lr };
}

ui.start.addEventListener("click", () => {
  try {
    send({ type: "start", model: ui.model.value, ...newRun(), seed: 1 });
  } catch (e) {
    showMessage((e as Error).message);
  }
});
ui.finetune.addEventListener("click", () => {
  try {
    const images = readNumber(ui.ftImages, "digits", (x) => Number.isInteger(x) && x >= 10 && x <= 7200);
    send({ type: "finetune", ...newRun(), seed: 1, images, freeze: ui.freeze.value, keepStatistics: ui.keepStats.checked });
  } catch (e) {
    showMessage((e as Error).message);
  }
});
ui.pause.addEventListener("click", () => send({ type: state === "paused" ? "resume" : "pause" }));
ui.stop.addEventListener("click", () => send({ type: "stop" }));
ui.download.addEventListener("click", () => send({ type: "export" }));

function saveFile(name: string, data: BlobPart, type: string): void {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

ui.modelFiles.addEventListener("change", async () => {
  const files = [...(ui.modelFiles.files ?? [])];
  ui.modelFiles.value = "";
  if (files.length === 1 && /\.(pth|pt|bin|safetensors|onnx)$/i.test(files[0].name)) {
    // One pretrained file. Its bytes (47 MB for resnet18) move to the worker, not copied.
    try {
      const imageSize = readNumber(ui.importSize, "image size", (x) => Number.isInteger(x) && x >= 16 && x <= 512);
      const bytes = new Uint8Array(await files[0].arrayBuffer());
      showMessage(`reading ${files[0].name} (${(bytes.length / 1e6).toFixed(1)} MB)…`);
      send({ type: "import-file", name: files[0].name, bytes, imageSize }, [bytes.buffer]);
    } catch (e) {
      showMessage(`${files[0].name} could not be read (${(e as Error).message})`);
    }
    return;
  }
  const json = files.find((f) => f.name.endsWith(".json"));
  const weights = files.find((f) => f.name.endsWith(".safetensors"));
  if (!json || !weights || files.length !== 2) {
    return showMessage(
      `choose one pretrained file (.pth, .pt, .bin, .safetensors or .onnx), or the two files of a saved stride model together: model.json and its .safetensors weights file (got ${files.map((f) => f.name).join(", ") || "none"})`,
    );
  }
  const bytes = new Uint8Array(await weights.arrayBuffer());
  showMessage("");
  send({ type: "import", json: await json.text(), weights: bytes, where: `${json.name} + ${weights.name}` }, [bytes.buffer]);
});

ui.imageFile.addEventListener("change", async () => {
  const file = ui.imageFile.files?.[0];
  ui.imageFile.value = "";
  if (!file) return;
  try {
    // Decoded as stored, with no colour conversion, so the pixels equal what `stride predict` reads from the file.
    const bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const g = canvas.getContext("2d")!;
    g.drawImage(bitmap, 0, 0);
    const rgba = g.getImageData(0, 0, bitmap.width, bitmap.height).data;
    requestPanel({ kind: "image", width: bitmap.width, height: bitmap.height, rgba });
  } catch (e) {
    showMessage(`${file.name} could not be read as an image (${(e as Error).message}); use a PNG or JPEG file`);
  }
});

function testSource(): InputSource {
  const index = Math.max(0, Math.min(testCount - 1, Math.floor(Number(ui.testIndex.value) || 0)));
  ui.testIndex.value = String(index);
  return { kind: "test", index };
}
ui.testIndex.addEventListener("change", () => requestPanel(testSource()));
ui.nextTest.addEventListener("click", () => {
  // The next digit in the shuffled order after the one shown, so "Next" does not walk through 200 zeros first.
  if (testOrder.length === 0) return;
  const at = testOrder.indexOf(Number(ui.testIndex.value));
  ui.testIndex.value = String(testOrder[(at + 1) % testOrder.length]);
  requestPanel(testSource());
});
ui.invert.addEventListener("change", () => requestPanel());

// ---------------------------------------------------------------------------

let lastLiveRefresh = 0;

worker.onmessage = (event: MessageEvent<FromWorker>) => {
  const m = event.data;
  switch (m.type) {
    case "ready":
      ui.backend.textContent = `backend: ${m.backend}`;
      ui.backend.dataset.backend = m.backend.split(" ")[0];
      ui.backend.classList.toggle("fallback", !m.backend.startsWith("wasm"));
      ui.backend.title = m.isolated
        ? "the page is cross-origin isolated: WebAssembly threads are allowed"
        : "the page is not cross-origin isolated, so wasm runs on one thread: serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp for every core";
      testCount = m.test;
      testOrder = m.testOrder;
      ui.testIndex.max = String(m.test - 1);
      ui.testIndex.value = String(testOrder[0] ?? 0);
      panelSource = { kind: "test", index: testOrder[0] ?? 0 };
      ui.dataInfo.textContent = `${m.train.toLocaleString("en-US")} training, ${m.validation} validation, ${m.test.toLocaleString("en-US")} test digits`;
      setState("idle");
      break;
    case "model":
      showModel(m.model);
      // An imported model says where it came from; the reading… notice is done.
      if (m.model.origin.startsWith("imported from") && !m.model.origin.includes("fine-tuned")) showMessage(m.model.origin);
      break;
    case "notice":
      showMessage(m.message);
      break;
    case "state":
      setState(m.state);
      if (m.state === "idle") requestPanel();
      break;
    case "progress": {
      batchesPerEpoch = m.batches;
      ui.epoch.textContent = `${m.epoch}/${m.epochs} (batch ${m.batch}/${m.batches})`;
      ui.speed.textContent = Math.round(m.imagesPerSecond).toLocaleString("en-US");
      ui.trainLoss.textContent = m.loss.toFixed(4);
      history.batchLoss.push([m.step / batchesPerEpoch, m.loss]);
      redrawCharts();
      // Watch the activations change while it learns (about once a second).
      if (performance.now() - lastLiveRefresh > 1000) {
        lastLiveRefresh = performance.now();
        requestPanel();
      }
      break;
    }
    case "epoch": {
      const l = m.log;
      history.trainAcc.push([l.epoch, l.trainAccuracy]);
      if (l.valLoss !== undefined) history.valLoss.push([l.epoch, l.valLoss]);
      if (l.valAccuracy !== undefined) {
        history.valAcc.push([l.epoch, l.valAccuracy]);
        ui.valAccuracy.textContent = `${(100 * l.valAccuracy).toFixed(2)}%`;
        ui.valAccuracy.dataset.value = String(l.valAccuracy);
      }
      ui.speed.textContent = Math.round(l.imagesPerSecond).toLocaleString("en-US");
      redrawCharts();
      requestPanel();
      break;
    }
    case "inspection":
      showInspection(m);
      break;
    case "results":
      showResults(m.results);
      break;
    case "demo":
      showDemo(m);
      break;
    case "exported": {
      const base = m.name.replace(/[^\w.-]+/g, "_");
      saveFile("model.json", m.json, "application/json");
      saveFile("weights.safetensors", m.weights as Uint8Array<ArrayBuffer>, "application/octet-stream");
      showMessage(`downloaded ${base}'s model.json and weights.safetensors: put them in one folder to use it with stride (loadModel, stride predict)`);
      break;
    }
    case "error":
      panelBusy = false;
      showMessage(m.message);
      break;
  }
};
worker.onerror = (e) => showMessage(`the worker failed: ${e.message}`);

send({ type: "init", datasetUrl: new URL("mnist-digits.bin", document.baseURI).href });
redrawCharts();
window.addEventListener("resize", redrawCharts);
