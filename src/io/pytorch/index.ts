/** Stride models as PyTorch: state-dict names, model.py, train.py (see export.ts). */
export { stateDictNames, fromStateDictNames, stateDictToStride, torchStateDict } from "./names.js";
export { generateModelPy } from "./codegen.js";
export { PytorchExportError } from "./layers.js";
export { pytorchFiles } from "./export.js";
export { trainingRecipe, randomErasingRecipe, type TrainingRecipe, type AugmentationRecipe, type RandomErasingRecipe } from "./recipe.js";
