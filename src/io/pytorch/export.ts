/**
 * Exporting a stride model for PyTorch: its weights as a torch.save state
 * dict (--format torch), or a folder with model.py, weights.pt, train.py and
 * README.md (--format pytorch).
 */
import type { Layer } from "../../layers/layer.js";
import type { ModelInfo } from "../model-file.js";
import { encodeTorchCheckpoint } from "../torch/write.js";
import { generateModelPy } from "./codegen.js";
import { torchStateDict } from "./names.js";
import { PytorchExportError } from "./layers.js";
import { generateReadme, generateTrainPy } from "./train-script.js";
import type { TrainingRecipe } from "./recipe.js";

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
