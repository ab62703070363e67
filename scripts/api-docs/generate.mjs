// Generates the API reference (docs/api/, Markdown) from the doc comments of src/index.ts with
// TypeDoc, with TypeDoc's validation as errors: every export documented, no broken links,
// nothing referenced that is not exported.
//
//   node scripts/api-docs/generate.mjs           write docs/api/
//   node scripts/api-docs/generate.mjs --check   generate into a temporary directory and fail
//                                                if docs/api/ differs (test/api-docs.test.ts)
import { Application, LogLevel } from "typedoc";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(import.meta.url), "../../..");
const committed = join(root, "docs/api");
const check = process.argv.includes("--check");
const out = check ? mkdtempSync(join(tmpdir(), "stride-api-")) : committed;

const app = await Application.bootstrapWithPlugins({
  entryPoints: [join(root, "src/index.ts")],
  tsconfig: join(root, "tsconfig.json"),
  plugin: ["typedoc-plugin-markdown"],
  out,
  name: "stride",
  readme: "none",
  excludePrivate: true,
  excludeProtected: true,
  excludeInternal: true,
  disableSources: true,
  skipErrorChecking: true,
  treatWarningsAsErrors: true,
  validation: { notExported: true, invalidLink: true, rewrittenLink: true, notDocumented: true, unusedMergeModuleWith: true },
  // Internal names the API's types mention, left out of the reference on purpose.
  intentionallyNotExported: [
    "src/io/safetensors.ts:DTYPES", "src/io/safetensors.ts:DtypeArrays", "src/data/idx.ts:IDX_TYPES", "src/data/cifar.ts:Parsed",
    "src/data/augment.ts:Size", "src/train/trainer.ts:CheckpointState", "src/train/optimizers.ts:GroupState",
    "src/kernels/backend.ts:StepArena", "src/kernels/index.ts:Factory", "src/models/registry.ts:Factory",
    "src/io/pytorch/recipe.ts:OptimizerLike", "src/models/summary.ts:Dtype", "src/models/memory.ts:FitOptions",
  ],
  requiredToBeDocumented: ["Class", "Function", "Interface", "TypeAlias", "Enum", "Variable", "Namespace"],
  logLevel: LogLevel.Warn,
  hidePageHeader: true,
  hideBreadcrumbs: false,
  entryFileName: "index.md",
});

const project = await app.convert();
if (!project || app.logger.hasErrors()) {
  console.error("api-docs: conversion failed");
  process.exit(1);
}
app.validate(project);
if (app.logger.hasErrors() || app.logger.hasWarnings()) {
  console.error("api-docs: TypeDoc reported problems (above); fix the doc comments");
  process.exit(1);
}
await app.generateOutputs(project);
if (app.logger.hasErrors()) process.exit(1);

if (check) {
  const list = (dir) => {
    const files = new Map();
    const walk = (d) => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        if (statSync(p).isDirectory()) walk(p);
        else files.set(relative(dir, p), readFileSync(p, "utf8"));
      }
    };
    try { walk(dir); } catch { /* missing directory: everything differs */ }
    return files;
  };
  const want = list(out);
  const have = list(committed);
  const stale = [];
  for (const [name, text] of want) if (have.get(name) !== text) stale.push(have.has(name) ? `changed: ${name}` : `missing: ${name}`);
  for (const name of have.keys()) if (!want.has(name)) stale.push(`no longer generated: ${name}`);
  rmSync(out, { recursive: true, force: true });
  if (stale.length) {
    console.error(`docs/api/ is stale (${stale.length} file(s)); run: npm run docs:api\n  ` + stale.slice(0, 20).join("\n  "));
    process.exit(1);
  }
  console.log(`docs/api/ is up to date (${want.size} files)`);
}
