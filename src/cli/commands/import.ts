/**
 * `stride import FILE [--arch NAME|DIR] [--out DIR] [--input CxHxW] [--classes imagenet|none|FILE] [--normalize …]`:
 * a pretrained model from elsewhere becomes a stride model folder
 * (model.json + its weights file) that predict, eval, summary, visualize
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
import { TORCHVISION_ARCHS } from "../../models/zoo/torchvision.js";
import { IMAGENET_CLASSES, IMAGENET_NORMALIZATION } from "../../data/imagenet-classes.js";
import type { Normalization } from "../../data/normalize.js";
import { MODEL_JSON, type ModelInfo } from "../../io/model-file.js";
import { loadSafetensors, saveModel, loadModelWithInfo } from "../../node/files.js";
import { loadTorchCheckpoint } from "../../node/torch-files.js";
import { loadWeights } from "../../io/load-weights.js";
import { importModelBytes, TORCH_EXTENSIONS } from "../../io/import-model.js";
import { stateDictToStride } from "../../io/pytorch/names.js";
import { readOnnxFile } from "../../node/onnx-file.js";
import { lockFolder } from "../../node/lock.js";
import { checkInputShape } from "../bounds.js";
import { CliError } from "../datasets.js";

export const IMPORT_USAGE = `  import <file>            turn a .onnx, .pt/.pth (torch.save) or .safetensors file into a stride model folder
      --arch NAME|DIR      the architecture a state dict belongs to: a torchvision name (${TORCHVISION_ARCHS.join(", ")};
                           recognised from the weights when omitted) or a stride model folder to fill
      --out DIR            where the model goes (default runs/<file name>)
      --input CxHxW        one example's shape (a state dict's default 3x224x224; an ONNX file declares its own)
      --classes WHAT       imagenet (the default for 1,000 outputs) | none | a text file with one name per line
      --normalize WHAT     imagenet (default for 3-channel images; googlenet: inception) | inception (mean 0.5,
                           std 0.5: what torchvision's pretrained googlenet's transform_input amounts to) | none |
                           MEAN,MEAN,MEAN/STD,STD,STD`;

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
  if (ext === ".onnx" && o.arch !== undefined) throw new CliError("--arch is for state dicts; an ONNX file carries its own architecture");

  let imported: { model: Layer; info: ModelInfo; description: string };
  if (o.arch !== undefined && existsSync(join(o.arch, MODEL_JSON))) {
    imported = fillStrideModel(file, ext, o.arch, requestedInput);
  } else if (ext === ".onnx") {
    const { bytes, readExternal } = readOnnxFile(file);
    imported = importModelBytes(file, bytes, { inputShape: requestedInput, readExternal });
  } else {
    if (o.arch !== undefined && !(TORCHVISION_ARCHS as readonly string[]).includes(o.arch)) {
      throw new CliError(`--arch ${o.arch} is neither a torchvision architecture (${TORCHVISION_ARCHS.join(", ")}) nor a stride model folder`);
    }
    imported = importModelBytes(file, readFileSync(file), { inputShape: requestedInput, arch: o.arch });
  }
  const { model, info } = imported;
  const inputShape = info.inputShape!;
  const numOutputs = model.outputShape([1, ...inputShape]).slice(1).reduce((a, b) => a * b, 1);
  const classes = chooseClasses(o.classes, numOutputs, info.classes);
  const normalization = chooseNormalization(o.normalize, inputShape[0], info.normalization);
  const out = o.out ?? join("runs", basename(file, extname(file)).replace(/[^\w.-]+/g, "_"));
  const lock = lockFolder(out, "stride import", (line) => process.stderr.write(`stride: ${line}\n`));
  try {
    saveModel(model, out, { ...info, classes, normalization });
  } finally {
    lock.release();
  }

  console.log(summary(model, inputShape).toString());
  console.log("");
  console.log(`stride: imported ${file}: ${imported.description}` +
    (classes ? (classes.length === 1000 && classes[0] === IMAGENET_CLASSES[0] ? "; ImageNet class names" : `; ${classes.length} class names`) : "") +
    (normalization ? `; inputs normalised with mean ${fmt(normalization.mean)} std ${fmt(normalization.std)}` : ""));
  console.log(`saved the model to ${out} (model.json + its weights file)`);
  return 0;
}

/** A state dict (stride's names, or what `stride export --format pytorch` trained on) into the layout of a saved stride model. */
function fillStrideModel(file: string, ext: string, dir: string, requestedInput: number[] | undefined): { model: Layer; info: ModelInfo; description: string } {
  if (ext !== ".safetensors" && !TORCH_EXTENSIONS.includes(ext)) {
    throw new CliError(`--arch ${dir} fills a stride model with a state dict: give a .safetensors or torch.save file (${TORCH_EXTENSIONS.join(", ")})`);
  }
  const entries = ext === ".safetensors" ? loadSafetensors(file).tensors : loadTorchCheckpoint(file);
  const { model, info } = loadModelWithInfo(dir);
  // A state dict saved by PyTorch (stride export's weights.pt, train.py's checkpoint.pt) spells batch norm's
  // buffers running_mean/running_var and adds num_batches_tracked: back to stride's names first.
  const r = loadWeights(model, stateDictToStride(entries), { names: "auto" });
  const inputShape = requestedInput ?? info.inputShape;
  if (!inputShape) throw new CliError(`${dir} does not record its input shape; pass --input CxHxW`);
  return {
    model, info: { ...info, inputShape, extra: { ...info.extra, importedFrom: basename(file) } },
    description: `the layout of ${dir}, ${r.loaded.length} tensors (${r.names} names)`,
  };
}

function parseShape(text: string): number[] {
  const dims = text.split("x").map(Number);
  if (!/^\d+(x\d+)*$/.test(text) || dims.some((d) => d < 1)) throw new CliError(`--input ${text} is not valid; give one example's shape as CxHxW, e.g. 3x224x224`);
  return checkInputShape("--input", dims);
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
