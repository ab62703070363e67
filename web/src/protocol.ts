/** The messages between the page and the training worker. */

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
  | { type: "inspect"; id: number; purpose: "panel" | "drawing"; source: InputSource }
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
  | { type: "ready"; backend: string; isolated: boolean; train: number; validation: number; test: number }
  | { type: "model"; model: ModelView }
  | { type: "progress"; epoch: number; epochs: number; batch: number; batches: number; step: number; loss: number; imagesPerSecond: number }
  | { type: "epoch"; log: EpochView }
  | { type: "state"; state: "idle" | "training" | "paused" }
  | { type: "inspection"; id: number; purpose: "panel" | "drawing"; source: InputSource["kind"]; origin: string; label?: string; input: Picture; predictions: PredictionView[]; layers: LayerView[]; filters?: { layer: string; picture: Picture } }
  | { type: "exported"; json: string; weights: Uint8Array; name: string }
  | { type: "notice"; message: string }
  | { type: "error"; message: string };
