/**
 * A pretrained model's file, as bytes, into a stride model and what is known
 * about it: the one step `stride import FILE` and the browser app share.
 * Browser-clean: no node:* imports, nothing read from disk.
 *
 *   .pth .pt .bin .ckpt a torch.save state dict (readTorchCheckpoint: nothing is executed)
 *   .safetensors        a state dict in safetensors
 *   .onnx               an ONNX model (importOnnx's graph builder)
 *
 * A state dict holds weights, not the network, so its architecture is
 * recognised from the names and shapes (recogniseTorchvisionArch: torchvision's
 * resnet, vgg, googlenet and alexnet, also narrow copies), the zoo builds that
 * network and loadWeights fills it. A state dict does not say which image size
 * it was trained at either: torchvision's are 224x224 (the default here), and
 * these architectures accept others (opts.inputShape). An ONNX file records
 * both its network and its input size; its normalisation it does not record,
 * so RGB models are assumed to take ImageNet's (as torchvision's exports do).
 */
import type { Layer } from "../layers/layer.js";
import { recogniseTorchvisionArch, torchvisionModel, TORCHVISION_ARCHS, type TorchvisionArch } from "../models/zoo/torchvision.js";
import { IMAGENET_CLASSES, IMAGENET_NORMALIZATION } from "../data/imagenet-classes.js";
import { loadWeights } from "./load-weights.js";
import { readTorchCheckpoint } from "./torch/read.js";
import { ModelFileError, decodeSafetensors, type SafetensorsEntry } from "./safetensors.js";
import type { ModelInfo } from "./model-file.js";
// The builder and decoder, not ./onnx/index.js, whose file reader is Node's.
import { decodeOnnxModel } from "./onnx/decode.js";
import { buildGraph } from "./onnx/builder.js";
import type { ExternalReader } from "./onnx/tensors.js";

/** Options of importModelBytes. */
export interface ImportModelOptions {
  /**
   * One example's [C, H, W] for a state dict, which does not record it.
   * Default [C, 224, 224] with C the stem's input channels. Its C must match the weights.
   * For an ONNX file, only used where the file leaves a dimension symbolic.
   */
  inputShape?: number[];
  /** For a state dict without inputShape: the image side (default 224); the channels come from the weights. */
  imageSize?: number;
  /**
   * GoogLeNet only: the model expects torchvision's `transform_input` (true in
   * its pretrained weights, and the default). It is folded into the recorded
   * normalisation: ImageNet's mean and std followed by transform_input is
   * exactly (pixel - 0.5) / 0.5, so info.normalization is that.
   */
  transformInput?: boolean;
  /**
   * A state dict's torchvision architecture ("resnet50"), for when it should
   * not be recognised from the names: the weights must then fit it.
   */
  arch?: string;
  /** Reads an ONNX file's external data (Node: readOnnxFile's reader); without it such files are refused. */
  readExternal?: ExternalReader;
}

/** The kind of file importModelBytes read. */
export type ImportedFormat = "torch" | "safetensors" | "onnx";

/** What importModelBytes returns: the model, what is known about its inputs and outputs, and where it came from. */
export interface ImportedModel {
  model: Layer;
  /** inputShape, classes (ImageNet's names for 1,000 outputs), normalization (ImageNet's for 3-channel inputs), extra. */
  info: ModelInfo;
  /** One line for people: "torchvision resnet18 (width x0.0625, 10 classes, input 3x64x64)". */
  description: string;
  format: ImportedFormat;
  /** The recognised torchvision architecture ("resnet18"); for ONNX, the file's name without its extension (exporters name every graph alike, "torch_jit"). */
  arch: string;
}

/** The extensions torch.save files go by. */
export const TORCH_EXTENSIONS = [".pth", ".pt", ".bin", ".ckpt", ".tar"];
const SAFETENSORS_EXTENSIONS = [".safetensors"];
const ONNX_EXTENSIONS = [".onnx"];

function baseName(name: string): string {
  const base = name.slice(name.lastIndexOf("/") + 1);
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(0, dot) : base;
}

function extensionOf(name: string): string {
  const base = name.slice(name.lastIndexOf("/") + 1).toLowerCase();
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(dot) : "";
}

/** Builds the model a pretrained file holds. `name` is the file's name: its extension chooses the reader, and errors name it. */
export function importModelBytes(name: string, bytes: Uint8Array, opts: ImportModelOptions = {}): ImportedModel {
  if (!(bytes instanceof Uint8Array)) throw new ModelFileError(name, "importModelBytes expects the file's bytes as a Uint8Array");
  const ext = extensionOf(name);
  if (TORCH_EXTENSIONS.includes(ext)) return fromStateDict(name, readTorchCheckpoint(bytes, name), "torch", opts);
  if (SAFETENSORS_EXTENSIONS.includes(ext)) {
    return fromStateDict(name, decodeSafetensors(bytes, name).tensors, "safetensors", opts);
  }
  if (ONNX_EXTENSIONS.includes(ext)) return fromOnnx(name, bytes, opts);
  throw new ModelFileError(
    name,
    `has the extension "${ext || "(none)"}", which is not a model file this can import; ` +
      `use a PyTorch state dict (${TORCH_EXTENSIONS.join(", ")}) a safetensors state dict (.safetensors) or an ONNX model (.onnx)`,
  );
}

function fromStateDict(name: string, weights: Map<string, SafetensorsEntry>, format: ImportedFormat, opts: ImportModelOptions): ImportedModel {
  const recognised = recogniseTorchvisionArch(weights);
  if (opts.arch !== undefined && !(TORCHVISION_ARCHS as readonly string[]).includes(opts.arch)) {
    throw new ModelFileError(name, `arch "${opts.arch}" is not a torchvision architecture stride builds; use one of ${TORCHVISION_ARCHS.join(", ")}`);
  }
  const found = opts.arch === undefined ? recognised : { numClasses: 1000, inChannels: 3, widthMultiplier: 1, ...recognised, arch: opts.arch as TorchvisionArch };
  if (!found) {
    const some = [...weights.keys()].slice(0, 4).join(", ");
    const stride = [...weights.keys()].some((k) => /\.(runningMean|runningVar)$/.test(k));
    throw new ModelFileError(
      name,
      `is a state dict of ${weights.size} tensors (${some}${weights.size > 4 ? ", …" : ""}) whose architecture is not one stride recognises ` +
        `(torchvision's resnet18-152, vgg11-19 with or without _bn, googlenet, alexnet)` +
        (stride ? "; it looks like stride's own weights file: load it together with its model.json" : "; export the model to ONNX instead, which records the network"),
    );
  }
  const side = opts.imageSize ?? 224;
  const inputShape = opts.inputShape ?? [found.inChannels, side, side];
  if (inputShape.length !== 3 || !inputShape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new ModelFileError(name, `inputShape = ${JSON.stringify(opts.inputShape)} is not valid; give [channels, height, width] as whole numbers`);
  }
  if (inputShape[0] !== found.inChannels) {
    throw new ModelFileError(name, `the weights take ${found.inChannels}-channel images, but inputShape asks for ${inputShape[0]} channels; use [${found.inChannels}, ${inputShape[1]}, ${inputShape[2]}]`);
  }
  let model: Layer;
  try {
    model = torchvisionModel(found.arch, { numClasses: found.numClasses, inputShape, widthMultiplier: found.widthMultiplier, init: false });
    // Too small an image shrinks to nothing somewhere inside: say so now, not at the first prediction.
    model.outputShape([1, ...inputShape]);
  } catch (e) {
    throw new ModelFileError(name, `${found.arch} cannot take ${inputShape.join("x")} images (${(e as Error).message}); use a larger image size`);
  }
  loadWeights(model, weights, { names: "torchvision", strict: true });

  const googlenet = found.arch === "googlenet";
  const transformInput = googlenet && (opts.transformInput ?? true);
  const info: ModelInfo = {
    inputShape,
    ...(found.numClasses === 1000 ? { classes: [...IMAGENET_CLASSES] } : {}),
    ...(found.inChannels === 3 ? { normalization: transformInput ? { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] } : { mean: [...IMAGENET_NORMALIZATION.mean], std: [...IMAGENET_NORMALIZATION.std] } } : {}),
    extra: { model: found.arch, importedFrom: name, format, ...(googlenet ? { transformInput } : {}) },
  };
  const details = [
    ...(found.widthMultiplier !== 1 ? [`width x${found.widthMultiplier}`] : []),
    found.numClasses === 1000 ? "ImageNet's 1,000 classes" : `${found.numClasses} classes`,
    `input ${inputShape.join("x")}`,
    ...(transformInput ? ["transform_input folded into the normalisation"] : []),
  ];
  return { model, info, description: `torchvision ${found.arch} (${details.join(", ")})`, format, arch: found.arch };
}

function fromOnnx(name: string, bytes: Uint8Array, opts: ImportModelOptions): ImportedModel {
  const decoded = decodeOnnxModel(bytes, name);
  const g = decoded.graph;
  // Unsupported operators and damaged weights are reported first: they are what is wrong with most files.
  const model = buildGraph(decoded, name, {}, opts.readExternal);
  // The data input: the graph input that is not a weight (old exporters list weights as inputs too).
  const weights = new Set(g.initializers.map((t) => t.name));
  const data = g.inputs.filter((v) => !weights.has(v.name));
  if (data.length !== 1) {
    throw new ModelFileError(name, `has ${data.length} data inputs (${data.map((v) => v.name).join(", ") || "none"}); only models with one image input can be imported here`);
  }
  const declared = data[0].shape;
  if (!declared || declared.length !== 4) {
    throw new ModelFileError(name, `its input "${data[0].name}" is declared as ${declared ? `[${declared.join(", ")}]` : "having no shape"}; an image model's input is [N, C, H, W]`);
  }
  const inputShape = declared.slice(1).map((d, i) => (typeof d === "number" && d > 0 ? d : opts.inputShape?.[i]));
  if (!inputShape.every((d): d is number => Number.isInteger(d) && (d as number) >= 1)) {
    throw new ModelFileError(name, `its input "${data[0].name}" is [${declared.join(", ")}]: give the missing sizes with inputShape [C, H, W]`);
  }
  let out: number[];
  try {
    out = model.outputShape([1, ...inputShape]);
  } catch (e) {
    throw new ModelFileError(name, `the graph cannot take a ${inputShape.join("x")} input (${(e as Error).message})`);
  }
  const classes = out.slice(1).reduce((a, b) => a * b, 1);
  const info: ModelInfo = {
    inputShape,
    ...(classes === 1000 ? { classes: [...IMAGENET_CLASSES] } : {}),
    ...(inputShape[0] === 3 ? { normalization: { mean: [...IMAGENET_NORMALIZATION.mean], std: [...IMAGENET_NORMALIZATION.std] } } : {}),
    extra: { model: baseName(name), importedFrom: name, format: "onnx", opset: decoded.opset },
  };
  const details = [
    `opset ${decoded.opset}`, `${g.nodes.length} nodes`,
    classes === 1000 ? "ImageNet's 1,000 classes" : `${classes} outputs`,
    `input ${inputShape.join("x")}`,
    ...(inputShape[0] === 3 ? ["ImageNet normalisation assumed"] : []),
  ];
  return { model, info, description: `ONNX graph${g.name ? ` "${g.name}"` : ""} (${details.join(", ")})`, format: "onnx", arch: baseName(name) };
}
