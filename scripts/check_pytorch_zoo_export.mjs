#!/usr/bin/env node
// Exports every zoo model (stride summary's list) as model.py + weights.pt with random weights, plus one input and
// stride's output for it, into DIR/<name>/; scripts/check_pytorch_zoo_export.py then runs them in PyTorch and compares.
// Opt-in (a minute or two):  npx tsc -p tsconfig.json && node scripts/check_pytorch_zoo_export.mjs DIR [names…]
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { SUMMARY_MODELS } = await import(join(root, "dist/src/cli/commands/summary.js"));
const { pytorchFiles } = await import(join(root, "dist/src/io/pytorch/index.js"));
const { encodeTorchCheckpoint } = await import(join(root, "dist/src/io/torch/index.js"));
const { Rng, Tensor, namedParams, namedBuffers } = await import(join(root, "dist/src/index.js"));

const [dir, ...only] = process.argv.slice(2);
if (!dir) {
  console.error("usage: node scripts/check_pytorch_zoo_export.mjs DIR [model names…]");
  process.exit(2);
}
for (const [name, entry] of Object.entries(SUMMARY_MODELS)) {
  if (only.length && !only.includes(name)) continue;
  const model = entry.build({ init: false });
  const rng = new Rng(1);
  // Small random weights keep activations finite through 19-layer stacks without batch norm.
  for (const [, p] of namedParams(model)) {
    const fanIn = p.value.shape.slice(1).reduce((a, b) => a * b, 1) || 1;
    for (let i = 0; i < p.value.size; i++) p.value.data[i] = rng.normal() * Math.sqrt(1 / fanIn);
  }
  for (const [n, b] of namedBuffers(model)) for (let i = 0; i < b.value.size; i++) b.value.data[i] = n.endsWith("runningVar") ? 0.5 + rng.next() : 0.1 * rng.normal();
  const shape = [2, ...entry.input];
  const x = new Tensor(shape);
  for (let i = 0; i < x.size; i++) x.data[i] = name === "textcnn" ? rng.int(10) : rng.normal();
  const y = model.forward(x, { noGrad: true });
  const out = join(dir, name);
  mkdirSync(out, { recursive: true });
  const files = pytorchFiles(model, { inputShape: entry.input });
  writeFileSync(join(out, "model.py"), files.get("model.py"));
  writeFileSync(join(out, "weights.pt"), files.get("weights.pt"));
  writeFileSync(join(out, "io.pt"), encodeTorchCheckpoint(new Map([["input", x], ["output", y]])));
  console.log(`${name}: wrote ${out}`);
}
