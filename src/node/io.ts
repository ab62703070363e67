/**
 * The path-taking forms of the importers and exporters (Node only): the same
 * functions as the browser entry's, plus reading and writing files.
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Layer, Module } from "../layers/layer.js";
import type { SafetensorsEntry } from "../io/safetensors.js";
import type { ModelInfo } from "../io/model-file.js";
import { loadWeightsWith, type LoadWeightsOptions, type LoadWeightsResult } from "../io/load-weights.js";
import { importOnnx as importOnnxBytes, type ImportOptions } from "../io/onnx/index.js";
import { decodeOnnxModel } from "../io/onnx/decode.js";
import { buildGraph } from "../io/onnx/builder.js";
import { pytorchFiles } from "../io/pytorch/export.js";
import { torchStateDict, torchvisionStateDict } from "../io/pytorch/names.js";
import { exportOnnx, type OnnxExportOptions } from "../io/onnx/export.js";
import { writeFileAtomic } from "./files.js";
import { PytorchExportError } from "../io/pytorch/layers.js";
import { readOnnxFile } from "./onnx-file.js";
import { readWeightsFile } from "./weights-file.js";
import { saveTorchCheckpoint } from "./torch-files.js";

/**
 * Copies weights into a model by name, shape-checked (see src/io/load-weights.ts);
 * `source` may also be the path of a .safetensors or torch.save file.
 */
export function loadWeights(model: Module, source: string | Map<string, SafetensorsEntry>, opts: LoadWeightsOptions = {}): LoadWeightsResult {
  return loadWeightsWith(model, source, opts, readWeightsFile);
}

/** An ONNX model as a stride Graph (see src/io/onnx/index.ts); `source` may also be a file path, needed for external data. */
export function importOnnx(source: string | Uint8Array, opts: ImportOptions = {}): Layer {
  if (typeof source !== "string") return importOnnxBytes(source, opts);
  const { bytes, readExternal } = readOnnxFile(source);
  return buildGraph(decodeOnnxModel(bytes, source), source, opts, readExternal);
}

/**
 * Writes the model's state dict (PyTorch's names, num_batches_tracked
 * included) as a .pt file: torchvision's names when the model is one of its
 * architectures, so torchvision's own builder loads it. Says which.
 */
export function saveTorchStateDict(model: Layer, path: string): "torchvision" | "stride" {
  const torchvision = torchvisionStateDict(model);
  saveTorchCheckpoint(path, torchvision ?? torchStateDict(model));
  return torchvision ? "torchvision" : "stride";
}

/**
 * Writes the model as an ONNX file at `path` (a temporary file renamed into
 * place, so a failed export leaves no half-written model); inputShape and
 * opts as for exportOnnx.
 */
export function saveOnnx(model: Layer, inputShape: number[], path: string, opts: OnnxExportOptions = {}): void {
  writeFileAtomic(path, exportOnnx(model, inputShape, opts));
}

/** Writes model.py, weights.pt, train.py (when the model records its recipe) and README.md into `out`. */
export function exportPytorch(model: Layer, info: ModelInfo, out: string): string[] {
  if (existsSync(out) && !statSync(out).isDirectory()) throw new PytorchExportError(`${out} is a file; --format pytorch writes a folder: give a folder path`);
  const files = pytorchFiles(model, info); // everything is generated before anything is written
  mkdirSync(out, { recursive: true });
  for (const [file, contents] of files) writeFileSync(join(out, file), contents);
  return [...files.keys()];
}

