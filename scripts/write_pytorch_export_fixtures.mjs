#!/usr/bin/env node
// Writes model.py, weights.pt and input.pt of each fixture model (test/helpers/pytorch-export-models.ts)
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
  const files = pytorchFiles(f.model, { inputShape: f.inputShape });
  writeFileSync(join(dir, "model.py"), files.get("model.py"));
  writeFileSync(join(dir, "weights.pt"), files.get("weights.pt"));
  writeFileSync(join(dir, "input.pt"), encodeTorchCheckpoint(new Map([["input", f.input]])));
  console.log(`${f.name}: wrote model.py, weights.pt, input.pt to ${dir}`);
}
