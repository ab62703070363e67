/**
 * Exporting a stride model for PyTorch: its weights as a torch.save state
 * dict (--format torch), or a folder with model.py, weights.pt, train.py and
 * README.md (--format pytorch).
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Layer } from "../../layers/layer.js";
import type { ModelInfo } from "../model-file.js";
import { saveTorchCheckpoint } from "../torch/node.js";
import { encodeTorchCheckpoint } from "../torch/write.js";
import { generateModelPy } from "./codegen.js";
import { torchStateDict, torchvisionStateDict } from "./names.js";
import { PytorchExportError } from "./layers.js";
import { generateReadme, generateTrainPy } from "./train-script.js";
import type { TrainingRecipe } from "./recipe.js";

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

/** The files of an exported PyTorch folder, in memory: name -> contents. */
export function pytorchFiles(model: Layer, info: ModelInfo = {}): Map<string, string | Uint8Array> {
  const files = new Map<string, string | Uint8Array>();
  const name = typeof info.extra?.model === "string" ? info.extra.model : model.name;
  files.set("model.py", generateModelPy(model, { inputShape: info.inputShape, title: `${name}: exported from stride` }));
  files.set("weights.pt", encodeTorchCheckpoint(torchStateDict(model)));
  const recipe = info.extra?.recipe as TrainingRecipe | undefined;
  if (recipe) {
    if (!info.inputShape) throw new PytorchExportError("the model records a training recipe but no input shape; train.py needs both (stride train records them)");
    files.set("train.py", generateTrainPy({ recipe, inputShape: info.inputShape, normalization: info.normalization, classes: info.classes }));
  }
  files.set("README.md", generateReadme({ modelName: name, dataset: recipe?.dataset, hasRecipe: recipe !== undefined }));
  return files;
}

/** Writes model.py, weights.pt, train.py (when the model records its recipe) and README.md into `out`. */
export function exportPytorch(model: Layer, info: ModelInfo, out: string): string[] {
  if (existsSync(out) && !statSync(out).isDirectory()) throw new PytorchExportError(`${out} is a file; --format pytorch writes a folder: give a folder path`);
  const files = pytorchFiles(model, info); // everything is generated before anything is written
  mkdirSync(out, { recursive: true });
  for (const [file, contents] of files) writeFileSync(join(out, file), contents);
  return [...files.keys()];
}
