#!/usr/bin/env node
// Brings a PyTorch state dict (checkpoint.pt of an exported train.py, or weights.pt) back into a stride model folder,
// until `stride import CHECKPOINT --arch DIR` is on this branch:
//   node scripts/import_pytorch_checkpoint.mjs OUT/checkpoint.pt --arch MODEL_DIR --out NEW_DIR
// The architecture, input shape, classes and normalisation come from MODEL_DIR (the folder that was exported);
// the weights from the checkpoint (PyTorch's names mapped back by fromStateDictNames). Then: stride eval NEW_DIR
import { parseArgs } from "node:util";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { loadModelWithInfo, saveModel, loadTorchCheckpoint, loadWeights, stateDictToStride } = await import(join(root, "dist/src/index.js"));

const { values: o, positionals } = parseArgs({ allowPositionals: true, options: { arch: { type: "string" }, out: { type: "string" } } });
if (positionals.length !== 1 || !o.arch || !o.out) {
  console.error("usage: node scripts/import_pytorch_checkpoint.mjs CHECKPOINT.pt --arch MODEL_DIR --out NEW_DIR");
  process.exit(2);
}
try {
  const { model, info } = loadModelWithInfo(o.arch);
  // PyTorch's names back to stride's (running_mean -> runningMean, num_batches_tracked dropped), then the strict loader.
  const n = loadWeights(model, stateDictToStride(loadTorchCheckpoint(positionals[0])), { names: "auto" }).loaded.length;
  saveModel(model, o.out, { ...info, extra: { ...info.extra, importedFrom: positionals[0] } });
  console.log(`filled ${n} tensors of ${o.arch}'s architecture from ${positionals[0]}; saved ${o.out}`);
} catch (e) {
  console.error(`import_pytorch_checkpoint: ${e.message}`);
  process.exit(2);
}
