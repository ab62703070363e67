#!/usr/bin/env node
/**
 * Where the inference gap goes: ResNet-50 and VGG-16 at 1x3x224x224, timed
 * per layer kind in stride's wasm backend (1 and 2 threads), onnxruntime-node
 * (1 and 2 threads, its session profiling) and PyTorch (torch.profiler, its
 * faster thread count), each in its own child process, one at a time.
 *
 *   npm run build && cd bench && npm ci && node profile-gap.mjs [options]
 *
 * Options:
 *   --quick            3 runs per cell instead of 7 (numbers are rougher)
 *   --runs N           timed runs per cell (default 7)
 *   --nets a,b         resnet50, vgg16 (default both)
 *   --libs a,b         stride, onnxruntime, pytorch (default all)
 *   --model-dir DIR    ONNX models already exported by torch_bench.py (else exported here)
 *   --json FILE        also write the raw per-run results there
 *
 * bench/run.mjs calls profileGap() after its cells and writes the tables into
 * BENCHMARKS.md ("Where the inference gap goes").
 */
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runChildProcess } from "./child.mjs";
import { describeMachine, strideTuning, fmaCeiling, machineLines } from "./machine.mjs";
import { NETS, WORKLOADS, SGD, SGEMM_SIZE, iterationFlops } from "./workloads.mjs";
import { specByKind, countMismatches } from "./gap/kinds.mjs";
import { summarise, fastest, netTable, gapSection } from "./gap/table.mjs";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const PYTHON = "/usr/bin/python3";
const TITLES = { resnet50: "ResNet-50 inference, 1x3x224x224", vgg16: "VGG-16 inference, 1x3x224x224" };

/** The spec file torch_bench.py and torch_profile.py read (run.mjs writes the same one). */
export function writeSpecs(path) {
  const nets = Object.fromEntries(Object.entries(NETS).map(([k, f]) => [k, f()]));
  writeFileSync(path, JSON.stringify({
    nets, workloads: WORKLOADS, sgd: SGD, sgemmSize: SGEMM_SIZE,
    flops: Object.fromEntries(WORKLOADS.map((w) => [w.id, iterationFlops(w)])),
  }));
}

/** One profiler child; its GAP_RESULT, or { error } saying why there is none. */
async function runProfiler(cmd, args, env, timeoutSec) {
  const r = await runChildProcess(cmd, args, { timeoutSec, env, cwd: HERE, tag: "GAP_RESULT" });
  const res = r.results[r.results.length - 1];
  if (res) return res;
  if (r.timedOut) return { error: `did not finish in ${timeoutSec} s` };
  return { error: `crashed (exit ${r.code ?? r.signal}): ${(r.stderr.trim().split("\n").slice(-1)[0] ?? "").slice(0, 200)}` };
}

/**
 * Profiles the nets; returns the Markdown section and the raw results.
 * distDir: the stride build (dist/src); modelDir: the exported ONNX models
 * (null: onnxruntime is not run); specsPath: the specs file; torch: whether
 * PyTorch is there.
 */
export async function profileGap({ distDir, modelDir, specsPath, tmp, nets = ["resnet50", "vgg16"], libs = ["stride", "onnxruntime", "pytorch"], runs = 7, torch = true, log = console.log }) {
  const node = process.execPath;
  const failures = [];
  const notes = new Set();
  const raw = {};
  const sections = [];
  /** The op types in onnxruntime's optimised graph, per net: what its fusions left. */
  const opsByNet = new Map();
  const timeoutSec = 120 + runs * 30;
  for (const net of nets) {
    const cells = [];
    if (libs.includes("stride")) {
      for (const t of [1, 2]) cells.push({ key: `stride${t}`, id: `stride-wasm-${t}t`, cmd: node, args: ["gap/stride-layers.mjs", "--net", net, "--threads", String(t), "--runs", String(runs), "--dist", distDir] });
    }
    if (libs.includes("onnxruntime")) {
      for (const t of [1, 2]) {
        cells.push(modelDir
          ? { key: `ort${t}`, id: `onnxruntime-${t}t`, cmd: node, args: ["gap/ort-profile.mjs", "--net", net, "--threads", String(t), "--runs", String(runs), "--model-dir", modelDir, "--tmp", tmp] }
          : { key: `ort${t}`, id: `onnxruntime-${t}t`, skip: "no ONNX models (they are exported from PyTorch)" });
      }
    }
    if (libs.includes("pytorch")) {
      for (const t of [1, 2]) {
        cells.push(torch
          ? {
            key: `torch${t}`, id: `pytorch-${t}t`, cmd: PYTHON, args: ["torch_profile.py", "--specs", specsPath, "--net", net, "--threads", String(t), "--runs", String(runs)],
            // As in run.mjs: libgomp's spin-waiting collapses on a shared machine.
            env: { OMP_NUM_THREADS: String(t), OMP_WAIT_POLICY: "passive" },
          }
          : { key: `torch${t}`, id: `pytorch-${t}t`, skip: "PyTorch (python3-torch) is not installed" });
      }
    }
    const s = {};
    raw[net] = {};
    const spec = specByKind(NETS[net]());
    for (const c of cells) {
      if (c.skip) {
        failures.push(`${net} ${c.id}: ${c.skip}`);
        continue;
      }
      const t0 = performance.now();
      const res = await runProfiler(c.cmd, c.args, c.env, timeoutSec);
      raw[net][c.id] = res;
      if (res.error) {
        failures.push(`${net} ${c.id}: ${res.error}`);
        log(`  ${net} ${c.id.padEnd(16)} error: ${res.error}`);
        continue;
      }
      // A layer read as the wrong kind would put its time in the wrong row: the counts per kind must be the spec's.
      const wrong = countMismatches(res.runs[0]?.calls, spec.layers);
      if (wrong.length) {
        failures.push(`${net} ${c.id}: its profile shows ${wrong.join(", ")}; left out of the table`);
        log(`  ${net} ${c.id.padEnd(16)} kinds misread: ${wrong.join(", ")}`);
        continue;
      }
      s[c.key] = summarise(res);
      for (const n of res.notes ?? []) notes.add(`${c.id.replace(/-\dt$/, "")}${res.version ? ` ${res.version}` : ""}: ${n}`);
      if (res.ops) opsByNet.set(net, res.ops);
      log(`  ${net} ${c.id.padEnd(16)} ${s[c.key].totalMs.toFixed(1)} ms per pass (median of ${s[c.key].runs})  [${((performance.now() - t0) / 1000).toFixed(1)} s]`);
    }
    const summaries = { stride1: s.stride1, stride2: s.stride2, ort1: s.ort1, ort2: s.ort2, torch: fastest(s.torch1, s.torch2) };
    sections.push({ net, table: netTable(TITLES[net], summaries, spec.macs) });
  }
  if (opsByNet.size) notes.add(`onnxruntime's optimised graphs hold only these ops: ${[...opsByNet].map(([n, ops]) => `${n} ${ops.join(", ")}`).join("; ")}`);
  return { markdown: gapSection({ nets: sections, runs, failures, notes: [...notes] }), raw };
}

function parseCli(argv) {
  const o = { runs: 7, nets: ["resnet50", "vgg16"], libs: ["stride", "onnxruntime", "pytorch"] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--quick") o.runs = 3;
    else if (a === "--runs") o.runs = Number(value());
    else if (a === "--nets") o.nets = value().split(",");
    else if (a === "--libs") o.libs = value().split(",");
    else if (a === "--model-dir") o.modelDir = value();
    else if (a === "--json") o.json = value();
    else if (a === "--help" || a === "-h") {
      console.log(readFileSync(fileURLToPath(import.meta.url), "utf8").split("*/")[0].replace(/^[#!/].*\n/, "").replace(/^ \*? ?/gm, ""));
      process.exit(0);
    } else throw new Error(`unknown option "${a}" (see node profile-gap.mjs --help)`);
  }
  if (!(Number.isInteger(o.runs) && o.runs >= 1)) throw new Error(`--runs must be a whole number of at least 1, got ${o.runs}`);
  for (const n of o.nets) if (!TITLES[n]) throw new Error(`--nets: unknown net "${n}"; known: ${Object.keys(TITLES).join(", ")}`);
  for (const l of o.libs) if (!["stride", "onnxruntime", "pytorch"].includes(l)) throw new Error(`--libs: unknown library "${l}"; known: stride, onnxruntime, pytorch`);
  return o;
}

async function main() {
  const opts = parseCli(process.argv.slice(2));
  const distDir = join(HERE, "..", "dist", "src");
  if (opts.libs.includes("stride") && !existsSync(join(distDir, "index.js"))) throw new Error("dist/src/index.js is missing; build the library first: npm run build (at the repo root)");
  if (opts.libs.includes("onnxruntime") && !existsSync(join(HERE, "node_modules", "onnxruntime-node"))) throw new Error("onnxruntime-node is not installed; run: cd bench && npm ci");
  const machine = describeMachine();
  machine.tuning = await strideTuning(distDir);
  machine.fmaCeiling = await fmaCeiling(machine.cores);
  console.log(machineLines(machine).join("\n") + "\n");
  const tmp = mkdtempSync(join(tmpdir(), "stride-gap-"));
  try {
    const specsPath = join(tmp, "specs.json");
    writeSpecs(specsPath);
    const torch = existsSync(PYTHON) && (await runChildProcess(PYTHON, ["-c", "import torch; print('BENCH_RESULT 1')"], { timeoutSec: 60 })).results.length > 0;
    let modelDir = opts.modelDir ?? null;
    if (!modelDir && torch && opts.libs.includes("onnxruntime")) {
      const r = await runChildProcess(PYTHON, ["torch_bench.py", "export", "--specs", specsPath, "--out", join(tmp, "models")], { timeoutSec: 600, cwd: HERE });
      if (r.results[0]?.exported) modelDir = join(tmp, "models");
      else console.log(`the ONNX export from PyTorch failed: ${r.stderr.trim().split("\n").slice(-1)[0]}`);
    }
    const { markdown, raw } = await profileGap({ distDir, modelDir, specsPath, tmp, nets: opts.nets, libs: opts.libs, runs: opts.runs, torch });
    console.log(`\n## Where the inference gap goes\n\n${markdown}`);
    if (opts.json) writeFileSync(opts.json, JSON.stringify({ machine, raw }, null, 1));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err) => {
    console.error(`profile-gap: ${err.message}`);
    process.exit(1);
  });
}
