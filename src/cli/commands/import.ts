/**
 * `stride import FILE [--arch NAME|DIR] [--out DIR] [--input CxHxW] [--classes imagenet|none|FILE] [--normalize …]`:
 * a pretrained model from elsewhere becomes a stride model folder
 * (model.json + weights.safetensors) that predict, eval, summary, visualize
 * and `train --from` take like any other.
 *
 * - .onnx: the graph is rebuilt from stride's own layers (importOnnx).
 * - .pt / .pth / .bin / .ckpt (torch.save files) and .safetensors: a state
 *   dict, whose architecture is recognised from its names and shapes when it
 *   is one of torchvision's (resnet18 … resnet152, vgg11 … vgg19_bn,
 *   googlenet, alexnet), or given: a torchvision name, or the folder of a
 *   stride model whose layout the weights fill.
 */
import { parseArgs } from "node:util";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, extname, join } from "node:path";
import type { Layer } from "../../layers/layer.js";
import { summary } from "../../models/summary.js";
import { torchvisionModel, recogniseTorchvisionArch, TORCHVISION_ARCHS } from "../../models/zoo/torchvision.js";
import { IMAGENET_CLASSES, IMAGENET_NORMALIZATION } from "../../data/imagenet-classes.js";
import type { Normalization } from "../../data/normalize.js";
import { loadSafetensors, type SafetensorsEntry } from "../../io/safetensors.js";
import { saveModel, loadModelWithInfo, MODEL_JSON, type ModelInfo } from "../../io/model-file.js";
import { loadTorchCheckpoint } from "../../io/torch/node.js";
import { loadWeights } from "../../io/load-weights.js";
import { stateDictToStride } from "../../io/pytorch/names.js";
import { decodeOnnxModel, type OnnxModel } from "../../io/onnx/decode.js";
import { buildGraph } from "../../io/onnx/builder.js";
import { readOnnxFile } from "../../io/onnx/node-file.js";
import { CliError } from "../datasets.js";

export const IMPORT_USAGE = `  import <file>            turn a .onnx, .pt/.pth (torch.save) or .safetensors file into a stride model folder
      --arch NAME|DIR      the architecture a state dict belongs to: a torchvision name (${TORCHVISION_ARCHS.join(", ")};
                           recognised from the weights when omitted) or a stride model folder to fill
      --out DIR            where the model goes (default runs/<file name>)
      --input CxHxW        one example's shape (default 3x224x224, or what the ONNX file declares)
      --classes WHAT       imagenet (the default for 1,000 outputs) | none | a text file with one name per line
      --normalize WHAT     imagenet (default for 3-channel images) | inception (mean 0.5, std 0.5: torchvision's
                           pretrained googlenet, whose transform_input does this) | none | MEAN,MEAN,MEAN/STD,STD,STD`;

const TORCH_EXTENSIONS = [".pt", ".pth", ".bin", ".ckpt", ".tar"];

export async function importCommand(argv: string[]): Promise<number> {
  const { values: o, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: {
      arch: { type: "string" }, out: { type: "string" }, input: { type: "string" },
      classes: { type: "string" }, normalize: { type: "string" },
    },
  });
  if (positionals.length !== 1) throw new CliError("import takes one file: stride import resnet18.pth (or model.onnx, weights.safetensors)");
  const file = positionals[0];
  if (!existsSync(file) || !statSync(file).isFile()) throw new CliError(`${file} does not exist or is not a file`);
  const ext = extname(file).toLowerCase();
  const requestedInput = o.input === undefined ? undefined : parseShape(o.input);

  let model: Layer;
  let inputShape: number[];
  let info: ModelInfo = {};
  let described: string;
  if (ext === ".onnx") {
    if (o.arch !== undefined) throw new CliError("--arch is for state dicts; an ONNX file carries its own architecture");
    const { bytes, readExternal } = readOnnxFile(file);
    const onnx = decodeOnnxModel(bytes, file);
    model = buildGraph(onnx, file, {}, readExternal);
    const declared = onnxInputShape(onnx);
    if (!requestedInput && !declared) throw new CliError(`${file}: the graph does not declare its input's size; pass --input CxHxW`);
    inputShape = requestedInput ?? declared!;
    described = `ONNX graph "${onnx.graph.name}" (${onnx.graph.nodes.length} nodes, opset ${onnx.opset})`;
  } else if (ext === ".safetensors" || TORCH_EXTENSIONS.includes(ext)) {
    const entries = ext === ".safetensors" ? loadSafetensors(file).tensors : loadTorchCheckpoint(file);
    ({ model, inputShape, info, described } = modelForStateDict(file, entries, o.arch, requestedInput));
  } else {
    throw new CliError(`${file}: cannot tell the format from "${ext || "no extension"}"; import reads .onnx, .safetensors and torch.save files (${TORCH_EXTENSIONS.join(", ")})`);
  }

  let outputs: number[];
  try {
    outputs = model.outputShape([1, ...inputShape]);
  } catch (e) {
    throw new CliError(`${file}: the model does not take inputs of shape ${inputShape.join("x")} (${(e as Error).message}); pass --input CxHxW`);
  }
  const numOutputs = outputs.slice(1).reduce((a, b) => a * b, 1);
  const classes = chooseClasses(o.classes, numOutputs, info.classes);
  const normalization = chooseNormalization(o.normalize, inputShape[0], info.normalization);
  const out = o.out ?? join("runs", basename(file, extname(file)).replace(/[^\w.-]+/g, "_"));
  saveModel(model, out, {
    ...info, inputShape, classes, normalization,
    extra: { ...info.extra, importedFrom: basename(file), source: described },
  });

  console.log(summary(model, inputShape).toString());
  console.log("");
  console.log(`stride: imported ${file}: ${described}; ${numOutputs} outputs` +
    (classes ? (classes === IMAGENET_CLASSES ? ", ImageNet class names" : `, ${classes.length} class names`) : "") +
    (normalization ? `; inputs normalised with mean ${fmt(normalization.mean)} std ${fmt(normalization.std)}` : ""));
  console.log(`saved the model to ${out} (model.json + weights.safetensors)`);
  return 0;
}

/** The model a state dict fills: a stride model folder, a named or recognised torchvision architecture. */
function modelForStateDict(
  file: string, entries: Map<string, SafetensorsEntry>, arch: string | undefined, requestedInput: number[] | undefined,
): { model: Layer; inputShape: number[]; info: ModelInfo; described: string } {
  if (arch !== undefined && existsSync(join(arch, MODEL_JSON))) {
    const { model, info } = loadModelWithInfo(arch);
    // A state dict saved by PyTorch (stride export's weights.pt, train.py's checkpoint.pt) spells batch norm's
    // buffers running_mean/running_var and adds num_batches_tracked: back to stride's names first.
    const r = loadWeights(model, stateDictToStride(entries), { names: "auto" });
    const inputShape = requestedInput ?? info.inputShape;
    if (!inputShape) throw new CliError(`${arch} does not record its input shape; pass --input CxHxW`);
    return { model, inputShape, info, described: `the layout of ${arch}, ${r.loaded.length} tensors` };
  }
  const recognised = recogniseTorchvisionArch(entries);
  if (arch !== undefined && !(TORCHVISION_ARCHS as readonly string[]).includes(arch)) {
    throw new CliError(`--arch ${arch} is neither a torchvision architecture (${TORCHVISION_ARCHS.join(", ")}) nor a stride model folder`);
  }
  const name = arch ?? recognised?.arch;
  if (!name) {
    const names = [...entries.keys()];
    throw new CliError(
      `${file}: the weights (${names.length} tensors: ${names.slice(0, 4).join(", ")}${names.length > 4 ? ", …" : ""}) are not one of ` +
        `torchvision's architectures that stride recognises; pass --arch with a stride model folder of the same layout ` +
        `(its names and shapes must match), or export the model to ONNX (torch.onnx.export) and import the .onnx file`,
    );
  }
  const size = requestedInput ?? [recognised?.inChannels ?? 3, 224, 224];
  const model = torchvisionModel(name, {
    numClasses: recognised?.numClasses, inputShape: size, widthMultiplier: recognised?.widthMultiplier, init: false,
  });
  const r = loadWeights(model, entries, { names: "torchvision" });
  const scale = recognised && recognised.widthMultiplier !== 1 ? ` at ${recognised.widthMultiplier}x width` : "";
  return { model, inputShape: size, info: {}, described: `torchvision ${name}${scale}, ${r.loaded.length} tensors` };
}

/** One example's shape as the ONNX graph declares its data input (the first input that is not an initializer). */
function onnxInputShape(onnx: OnnxModel): number[] | null {
  const constants = new Set(onnx.graph.initializers.map((t) => t.name));
  const input = onnx.graph.inputs.find((i) => !constants.has(i.name));
  const dims = input?.shape?.slice(1);
  return dims && dims.length > 0 && dims.every((d): d is number => typeof d === "number" && d > 0) ? dims : null;
}

function parseShape(text: string): number[] {
  const dims = text.split("x").map(Number);
  if (!/^\d+(x\d+)*$/.test(text) || dims.some((d) => d < 1)) throw new CliError(`--input ${text} is not valid; give one example's shape as CxHxW, e.g. 3x224x224`);
  return dims;
}

function chooseClasses(option: string | undefined, outputs: number, saved: string[] | undefined): string[] | undefined {
  if (option === undefined) return saved ?? (outputs === 1000 ? (IMAGENET_CLASSES as string[]) : undefined);
  if (option === "none") return undefined;
  if (option === "imagenet") {
    if (outputs !== 1000) throw new CliError(`--classes imagenet names 1,000 classes, but the model has ${outputs} outputs`);
    return IMAGENET_CLASSES as string[];
  }
  if (!existsSync(option)) throw new CliError(`--classes ${option}: no such file; give imagenet, none, or a text file with one class name per line`);
  const names = readFileSync(option, "utf8").split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  if (names.length !== outputs) throw new CliError(`--classes ${option} has ${names.length} names, but the model has ${outputs} outputs`);
  return names;
}

function chooseNormalization(option: string | undefined, channels: number, saved: Normalization | undefined): Normalization | undefined {
  const imagenet = { mean: [...IMAGENET_NORMALIZATION.mean], std: [...IMAGENET_NORMALIZATION.std] };
  if (option === undefined) return saved ?? (channels === 3 ? imagenet : undefined);
  if (option === "none") return undefined;
  if (option === "imagenet") return imagenet;
  if (option === "inception") return { mean: Array(channels).fill(0.5), std: Array(channels).fill(0.5) };
  const m = /^([^/]+)\/([^/]+)$/.exec(option);
  const mean = m?.[1].split(",").map(Number);
  const std = m?.[2].split(",").map(Number);
  if (!mean || !std || mean.length !== channels || std.length !== channels || ![...mean, ...std].every(Number.isFinite) || std.some((s) => s <= 0)) {
    throw new CliError(`--normalize ${option} is not valid; use imagenet, inception, none, or ${channels} means and ${channels} stds (> 0) as M,M,M/S,S,S`);
  }
  return { mean, std };
}

const fmt = (v: number[]) => `[${v.map((x) => +x.toFixed(4)).join(", ")}]`;
