/**
 * The JS <-> wasm boundary is generated from one table (scripts/wasm-abi/kernels.mjs):
 * the committed generated files must be what the table gives now, the
 * generator must refuse a table it cannot honour, the dispatcher must handle
 * every job, the module must export what the loader calls, and the kernel
 * sources must not import each other in a circle.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { JOB, KERNEL_EXPORT_ARITY } from "../src/kernels/wasm/generated/abi.js";
import { WasmRuntime, checkExports, wasmSupported } from "../src/kernels/wasm/runtime.js";
import { StrideError } from "../src/stride-error.js";

const root = resolve(fileURLToPath(import.meta.url), "../../..");
const assemblyDir = join(root, "wasm", "assembly");

interface Generator {
  staleFiles(): string[];
  generateAbi(table: unknown): Record<string, string>;
}
interface Table {
  jobBlock: { argSlots: number };
  records: { name: string; fields: [string, string, string?][] }[];
  jobs: { id: number; name: string; fields: [string, string, string?][] }[];
  functions: unknown[];
}

async function load(): Promise<{ gen: Generator; table: Table }> {
  const gen = (await import(pathToFileURL(join(root, "scripts/wasm-abi/generate.mjs")).href)) as Generator;
  const table = (await import(pathToFileURL(join(root, "scripts/wasm-abi/kernels.mjs")).href)) as Table;
  return { gen, table };
}

/** A deep copy of the table that a test may break. */
function copy(table: Table): Table {
  return JSON.parse(JSON.stringify({ jobBlock: table.jobBlock, records: table.records, jobs: table.jobs, functions: table.functions }));
}

test("the committed generated boundary files are what the table gives now", async () => {
  const { gen } = await load();
  assert.deepEqual(gen.staleFiles(), [], "regenerate with: node scripts/wasm-abi/generate.mjs (npm run build does it)");
});

test("the committed kernel binaries were built from the sources and table as they are now", async () => {
  const { sourceHash } = (await import(pathToFileURL(join(root, "scripts/wasm-abi/sources.mjs")).href)) as { sourceHash(): string };
  const { SOURCE_HASH } = await import("../src/kernels/wasm/generated/kernels.js");
  assert.equal(SOURCE_HASH, sourceHash(), "src/kernels/wasm/generated/kernels.ts is stale: run node scripts/build-wasm.mjs and commit it");
});

test("the generator refuses a table with a repeated job id, an unknown field type or too many fields", async () => {
  const { gen, table } = await load();
  assert.doesNotThrow(() => gen.generateAbi(copy(table)));

  const repeated = copy(table);
  repeated.jobs[1].id = repeated.jobs[0].id;
  assert.throws(() => gen.generateAbi(repeated), new RegExp(`job ${repeated.jobs[1].name} has a missing or repeated id`));

  const badType = copy(table);
  badType.jobs[0].fields[0][1] = "u64";
  assert.throws(() => gen.generateAbi(badType), /unknown type "u64"/);

  const tooMany = copy(table);
  tooMany.jobs[0].fields = Array.from({ length: tooMany.jobBlock.argSlots + 1 }, (_, i) => [`f${i}`, "i32"]);
  assert.throws(() => gen.generateAbi(tooMany), /the job block holds/);

  const floatRecord = copy(table);
  floatRecord.records[0].fields[0][1] = "f32";
  assert.throws(() => gen.generateAbi(floatRecord), /records hold i32 and bool fields/);
});

test("runJob dispatches every job of the table, each once", () => {
  const dispatcher = readFileSync(join(assemblyDir, "index.ts"), "utf8");
  for (const name of Object.keys(JOB)) {
    const cases = dispatcher.split(`case abi.JOB_${name}:`).length - 1;
    assert.equal(cases, 1, `wasm/assembly/index.ts has ${cases} cases for JOB_${name}`);
  }
});

test("the kernel module exports what the loader calls, and a module that does not is refused clearly", { skip: !wasmSupported() }, () => {
  const rt = new WasmRuntime();
  for (const name of Object.keys(KERNEL_EXPORT_ARITY)) assert.equal(typeof (rt.exports as unknown as Record<string, unknown>)[name], "function");
  const partial: Record<string, unknown> = { ...(rt.exports as unknown as Record<string, unknown>) };
  delete partial.winogradConvScratchBytes;
  assert.throws(() => checkExports(partial as WebAssembly.Exports), (e: unknown) =>
    e instanceof StrideError && /export winogradConvScratchBytes is missing/.test(e.message) && /build-wasm\.mjs --force/.test(e.message));
  const wrongArity = { ...partial, winogradConvScratchBytes: (g: number) => g };
  assert.throws(() => checkExports(wrongArity as WebAssembly.Exports), /winogradConvScratchBytes is missing or has the wrong parameters/);
});

test("the kernel sources import each other without a cycle", () => {
  const files = readdirSync(assemblyDir).filter((f) => f.endsWith(".ts"));
  const imports = new Map<string, string[]>();
  for (const f of files) {
    const text = readFileSync(join(assemblyDir, f), "utf8");
    imports.set(f.slice(0, -3), [...text.matchAll(/from "\.\/([\w.-]+)"/g)].map((m) => m[1]));
  }
  // Depth-first search; a module met again while still on the path closes a cycle.
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (m: string): void => {
    const at = path.indexOf(m);
    assert.ok(at < 0, `import cycle: ${[...path.slice(at), m].join(" -> ")}`);
    if (done.has(m)) return;
    path.push(m);
    for (const next of imports.get(m) ?? []) visit(next);
    path.pop();
    done.add(m);
  };
  for (const m of imports.keys()) visit(m);
  assert.ok(imports.get("winograd")?.includes("winograd-layout"), "winograd.ts takes its layout from winograd-layout.ts");
});

test("the worker's slots agree with the job block of the table", async () => {
  const abi = await import("../src/kernels/wasm/generated/abi.js");
  const worker = await import("../src/kernels/wasm/worker.js");
  assert.equal(worker.SLOT_JOB * 4, abi.JOB_ID_BYTE, "the job id slot");
  assert.equal(worker.SLOT_NTH * 4, abi.JOB_THREADS_BYTE, "the thread count slot");
  // Control slots end before the arguments; the busy tallies lie between the arguments and the counter.
  assert.ok(Math.max(worker.SLOT_GEN, worker.SLOT_PENDING, worker.SLOT_ERROR, worker.SLOT_READY, worker.SLOT_EPOCH) * 4 < abi.JOB_ARGS_BYTE);
  assert.ok(worker.BUSY_F64 * 8 >= abi.JOB_ARGS_BYTE + 4 * abi.JOB_ARG_SLOTS, "busy tallies overlap the arguments");
  assert.ok((worker.BUSY_F64 + worker.BUSY_THREADS) * 8 <= abi.JOB_COUNTER_BYTE, "busy tallies overlap the work counter");
  assert.ok(abi.JOB_COUNTER_BYTE + 64 <= abi.JOB_BLOCK_BYTES, "the work counter has a cache line of its own");
  // The worker's body is shipped as source text, so it repeats the numbers: they must be the same.
  const source = worker.workerSource();
  const literal = (name: string) => Number(new RegExp(`\\b${name} = (\\d+)`).exec(source)?.[1]);
  assert.equal(literal("NTH"), worker.SLOT_NTH);
  assert.equal(literal("GEN"), worker.SLOT_GEN);
  assert.equal(literal("PENDING"), worker.SLOT_PENDING);
  assert.equal(literal("BUSY"), worker.BUSY_F64);
});
