/** The messages between the page and the training worker. */
import type { ConvolutionDemo, DemoCell, Im2col } from "stride";

export interface Picture {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

export interface SummaryRowView {
  name: string;
  type: string;
  volume: string;
  params: number;
  activations: number;
  macs: number;
}

export interface ModelView {
  name: string;
  params: number;
  rows: SummaryRowView[];
  totals: { params: number; activations: number; macs: number };
  inputShape: number[];
  classes: string[];
  /** Where it came from: trained here, or loaded from files. */
  origin: string;
  /** The layers with parameters, in model order (dotted paths): where fine-tuning may start training. */
  layers: string[];
}

export interface PredictionView {
  index: number;
  label: string;
  probability: number;
}

export interface LayerView {
  name: string;
  type: string;
  volume: string;
  picture: Picture;
}

/** One conv layer's filters as a picture; large layers show only their first filters and input channels. */
export interface FilterView {
  layer: string;
  /** [O, I, kH, kW] of the whole layer. */
  shape: number[];
  /** How many filters and input channels the picture holds (at most a few dozen of each). */
  shownFilters: number;
  shownChannels: number;
  picture: Picture;
}

/** A test digit the trained model got wrong. */
export interface MistakeView {
  index: number;
  label: string;
  predicted: string;
  probability: number;
  picture: Picture;
}

/** The model on the test digits, after training (or on loading a model that takes digits). */
export interface TestResults {
  accuracy: number;
  count: number;
  /** Per class: how many of its test digits were read right. */
  perClass: { label: string; correct: number; total: number }[];
  /** The first mistakes in shuffled test order. */
  mistakes: MistakeView[];
  /** How many there are in all. */
  mistakeCount: number;
  /** What was evaluated: "after 3 of 10 epochs", "loaded from …". */
  when: string;
}

export type InputSource =
  | { kind: "test"; index: number }
  | { kind: "pixels"; pixels: Float32Array }
  | { kind: "image"; width: number; height: number; rgba: Uint8ClampedArray };

export type ToWorker =
  | { type: "init"; datasetUrl: string }
  | { type: "start"; model: string; epochs: number; batchSize: number; lr: number; seed: number }
  | { type: "pause" }
  | { type: "resume" }
  | { type: "stop" }
  /** invert: flip a dark-on-light image for a grey model (MNIST digits are light on dark). */
  | { type: "inspect"; id: number; purpose: "panel" | "drawing"; source: InputSource; invert: boolean }
  | { type: "export" }
  | { type: "import"; json: string; weights: Uint8Array; where: string }
  /** One pretrained file (.pth/.pt/.bin, .safetensors, .onnx); imageSize is the side for state dicts, which do not record it. */
  | { type: "import-file"; name: string; bytes: Uint8Array; imageSize: number }
  /**
   * Fine-tune the current model on the digits with a new 10-class head.
   * freeze: "head" trains only the new head, "none" everything, else the dotted path of the first layer to train.
   * keepStatistics: the frozen batch norms normalise with, and keep, their running statistics.
   */
  | { type: "finetune"; epochs: number; batchSize: number; lr: number; seed: number; images: number; freeze: string; keepStatistics: boolean };

export interface EpochView {
  epoch: number;
  epochs: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  lr: number;
  imagesPerSecond: number;
}

export type FromWorker =
  /** testOrder: the test digits in a fixed shuffled order, for "Next" (the stored digits are sorted by class). */
  | { type: "ready"; backend: string; isolated: boolean; train: number; validation: number; test: number; testOrder: Int32Array }
  | { type: "model"; model: ModelView }
  | { type: "progress"; epoch: number; epochs: number; batch: number; batches: number; step: number; loss: number; imagesPerSecond: number }
  | { type: "epoch"; log: EpochView }
  | { type: "state"; state: "idle" | "training" | "paused" }
  | { type: "demo"; demo: ConvolutionDemo; cells: DemoCell[]; im2col: Im2col }
  /** note: what was done to the input on the way in (the dark-on-light inversion), or "". */
  | { type: "inspection"; id: number; purpose: "panel" | "drawing"; source: InputSource["kind"]; origin: string; label?: string; input: Picture; predictions: PredictionView[]; layers: LayerView[]; filters: FilterView[]; note: string }
  | { type: "results"; results: TestResults }
  | { type: "exported"; json: string; weights: Uint8Array; name: string }
  | { type: "notice"; message: string }
  | { type: "error"; message: string };
