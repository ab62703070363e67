#!/usr/bin/env node
// Writes model.py, weights.pt (train.py when the fixture has a recipe) and input.pt of each fixture model (test/helpers/pytorch-export-models.ts)
// into test/fixtures/pytorch-export/<name>/; then scripts/gen_pytorch_export_fixtures.py runs them in PyTorch.
// Run after `npx tsc -p tsconfig.json`:  node scripts/write_pytorch_export_fixtures.mjs
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { fixtureModels } = await import(join(root, "dist/test/helpers/pytorch-export-models.js"));
const { pytorchFiles } = await import(join(root, "dist/src/io/pytorch/index.js"));
const { encodeTorchCheckpoint } = await import(join(root, "dist/src/io/torch/index.js"));

for (const f of fixtureModels()) {
  const dir = join(root, "test/fixtures/pytorch-export", f.name);
  mkdirSync(dir, { recursive: true });
  const files = pytorchFiles(f.model, { ...f.info, inputShape: f.inputShape });
  for (const name of ["model.py", "weights.pt", "train.py"]) if (files.has(name)) writeFileSync(join(dir, name), files.get(name));
  writeFileSync(join(dir, "input.pt"), encodeTorchCheckpoint(new Map([["input", f.input]])));
  console.log(`${f.name}: wrote ${[...files.keys()].filter((n) => n !== "README.md").join(", ")}, input.pt to ${dir}`);
}
