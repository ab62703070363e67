#!/usr/bin/env node
/**
 * stride side by side with the other libraries, in one run on one machine.
 *
 *   cd bench && npm install && node run.mjs [options]
 *
 * Cells run workload by workload, every library in turn, so that the
 * libraries compared on one workload are measured within minutes of each
 * other rather than a whole run apart (a shared machine's load drifts).
 * Each (library, workload) cell runs in its own child process, one at a time:
 * a crash, a leak or a thread pool in one cannot disturb another, and a cell
 * that hangs is killed. The medians go to a table (stdout) and to
 * BENCHMARKS.md at the repo root, with the ratio of stride's best backend to
 * every other library, the versions, thread counts and the machine.
 *
 * Options:
 *   --libs a,b          only these libraries (ids as in the table, e.g. stride-js,tfjs-wasm,pytorch-1t)
 *   --workloads a,b     only these workloads (e.g. lenet5-train,sgemm)
 *   --budget S          seconds of timed runs per cell (default 3)
 *   --rounds N          measure every cell N times (default 1), the libraries' order reversed every
 *                       other round; a cell's value is then the median of its rounds
 *   --quick             small budgets, for trying the bench out (numbers are rough)
 *   --no-gap            skip the per-layer-kind profile of ResNet-50 / VGG-16 inference (bench/profile-gap.mjs)
 *   --gap-runs N        timed runs per cell of that profile (default 7; 3 with --quick)
 *   --no-sweep          skip stride's sgemm from 128^3 to 2048^3 as shares of the FMA ceiling (bench/sgemm-sweep.mjs)
 *   --no-write          print only; leave BENCHMARKS.md alone
 *   --out FILE          write the report there instead of ../BENCHMARKS.md
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync, cpSync } from "node:fs";
import { tmpdir, cpus, loadavg, availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { WORKLOADS, NETS, SGD, SGEMM_SIZE, analyse, iterationFlops } from "./workloads.mjs";
import { renderReport, formatValue } from "./report.mjs";
import { runChildProcess as runChild } from "./child.mjs";
import { describeMachine, strideTuning, fmaCeiling, probeMachineState } from "./machine.mjs";
import { describeState } from "./machine-state.mjs";
import { profileGap } from "./profile-gap.mjs";
import { sweepMarkdown } from "./sgemm-sweep.mjs";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const ROOT = join(HERE, "..");
const PYTHON = "/usr/bin/python3";

function parseCli(argv) {
  const o = { rounds: 1, budget: 3, longBudget: 30, maxIter: 45, estimateSkip: 60, timeout: 180, write: true, out: join(ROOT, "BENCHMARKS.md"), gap: true, gapRuns: 7, sweep: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--libs") o.libs = value().split(",");
    else if (a === "--workloads") o.workloads = value().split(",");
    else if (a === "--budget") o.budget = Number(value());
    else if (a === "--rounds") {
      o.rounds = Number(value());
      if (!Number.isInteger(o.rounds) || o.rounds < 1) throw new Error(`--rounds takes a whole number from 1, got ${argv[i]}`);
    }
    else if (a === "--quick") Object.assign(o, { budget: 1, longBudget: 8, maxIter: 15, estimateSkip: 20, timeout: 60, gapRuns: 3 });
    else if (a === "--no-gap") o.gap = false;
    else if (a === "--no-sweep") o.sweep = false;
    else if (a === "--gap-runs") o.gapRuns = Number(value());
    else if (a === "--no-write") o.write = false;
    else if (a === "--out") o.out = value();
    else if (a === "--help" || a === "-h") {
      console.log(readFileSync(fileURLToPath(import.meta.url), "utf8").split("*/")[0].replace(/^[#!/].*\n/, "").replace(/^ \*? ?/gm, ""));
      process.exit(0);
    } else throw new Error(`unknown option "${a}" (see node run.mjs --help)`);
  }
  if (!(o.budget > 0)) throw new Error(`--budget must be a positive number of seconds, got ${o.budget}`);
  if (!(Number.isInteger(o.gapRuns) && o.gapRuns >= 1)) throw new Error(`--gap-runs must be a whole number of at least 1, got ${o.gapRuns}`);
  return o;
}

/** Runs a child to completion or until `timeoutSec`; returns its BENCH_RESULT lines parsed. */
function runChildProcess(cmd, args, { timeoutSec, env = {}, cwd = HERE }) {
  return runChild(cmd, args, { timeoutSec, env, cwd });
}

function sh(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

/**
 * Copies the built library (dist/src) aside, so that every stride cell of the
 * run loads the same build even if dist/ is rebuilt meanwhile (other work in
 * the same tree, an editor's watch mode).
 */
function snapshotDist(dir) {
  const src = join(ROOT, "dist/src");
  if (!existsSync(join(src, "index.js"))) return null;
  // Inside the repo, so that the library's own imports (cli-progress, …) resolve from the root node_modules.
  const dest = join(dir, "dist/src");
  cpSync(src, dest, { recursive: true, filter: (f) => !f.endsWith(".map") && !f.endsWith(".d.ts") });
  return dest;
}

async function strideBackends(distDir) {
  const index = distDir && join(distDir, "index.js");
  if (!index || !existsSync(index)) return { error: "dist/src/index.js is missing; build the library first: npx tsc -p . (at the repo root)" };
  // For each backend: its name, and whether its thread count can be set (then each count up to the cores is measured).
  const probe = `const s = await import(${JSON.stringify("file://" + index)});
    const found = s.listBackends().map((name) => { const b = s.setBackend(name); return { name, threaded: typeof b.setThreads === "function" }; });
    console.log("BENCH_RESULT " + JSON.stringify(found)); process.exit(0);`;
  const r = await runChildProcess(process.execPath, ["--input-type=module", "-e", probe], { timeoutSec: 60 });
  if (!r.results.length) {
    const why = r.stderr.split("\n").find((l) => /Error/.test(l)) ?? r.stderr.trim().split("\n").slice(-1)[0];
    return { error: `the built library did not load: ${why}` };
  }
  return { backends: r.results[0] };
}

function torchInfo() {
  const v = sh(PYTHON, ["-c", "import torch; print(torch.__version__)"]);
  if (!v) return null;
  const deb = sh("dpkg-query", ["-W", "-f=${Version}", "python3-torch"]);
  const blas = sh("readlink", ["-f", "/usr/lib/x86_64-linux-gnu/libblas.so.3"]);
  return { version: v, debian: deb, blas };
}

/** The libraries, in the order they run, each a function from workload to a child command. */
function libraries(backends, distDir, torch, modelDir, specsPath) {
  const node = process.execPath;
  const libs = [];
  for (const { name, threaded } of backends) {
    const counts = threaded ? Array.from({ length: availableParallelism?.() ?? cpus().length }, (_, i) => i + 1) : [null];
    for (const n of counts) {
      libs.push({
        id: `stride-${name}${n ? `-${n}t` : ""}`, stride: true,
        cmd: (w, t) => [node, ["libs/stride.mjs", "--dist", distDir, "--backend", name, ...(n ? ["--threads", String(n)] : []), "--workload", w, ...t]],
      });
    }
  }
  libs.push(
    { id: "tfjs-cpu", cmd: (w, t) => [node, ["libs/tfjs.mjs", "--backend", "cpu", "--workload", w, ...t]] },
    { id: "tfjs-wasm", cmd: (w, t) => [node, ["libs/tfjs.mjs", "--backend", "wasm", "--workload", w, ...t]] },
    { id: "convnetjs", cmd: (w, t) => [node, ["libs/convnetjs.mjs", "--workload", w, ...t]] },
  );
  for (const n of [1, 2]) {
    libs.push({
      id: `onnxruntime-${n}t`,
      unavailable: modelDir ? null : "needs PyTorch (python3-torch) to export its ONNX models",
      cmd: (w, t) => [node, ["libs/onnxruntime.mjs", "--threads", String(n), "--model-dir", modelDir, "--workload", w, ...t]],
    });
  }
  for (const n of [1, 2]) {
    libs.push({
      id: `pytorch-${n}t`,
      unavailable: torch ? null : "Debian's python3-torch is not installed",
      // libgomp's default spin-waiting collapses (10x and worse) when another process holds a core,
      // as on a shared machine; passive waiting keeps PyTorch's numbers about its kernels.
      env: { OMP_NUM_THREADS: String(n), OMP_WAIT_POLICY: "passive" },
      cmd: (w, t) => [PYTHON, ["torch_bench.py", "bench", "--specs", specsPath, "--threads", String(n), "--workload", w, ...t]],
    });
  }
  return libs;
}

/** A library's effective speed on one workload, used to estimate how long a bigger one would take. */
function speed(flopsPerSec, from) {
  return { flopsPerSec, source: `${(flopsPerSec / 1e9).toFixed(2)} GFLOP/s`, from };
}

const fmtSec = (s) => (s >= 100 ? s.toFixed(0) : s.toFixed(1));

async function main() {
  const opts = parseCli(process.argv.slice(2));
  const started = performance.now();
  const machine = describeMachine();
  console.log(`stride bench: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB.toFixed(1)} GiB, Node ${machine.node}, load ${machine.loadAtStart}`);

  for (const dep of ["@tensorflow/tfjs-core", "convnetjs", "onnxruntime-node"]) {
    if (!existsSync(join(HERE, "node_modules", dep))) {
      console.error(`bench: ${dep} is not installed; run: cd bench && npm install`);
      process.exit(1);
    }
  }
  const tmp = mkdtempSync(join(tmpdir(), "stride-bench-"));
  const snapshot = join(HERE, `.stride-snapshot-${process.pid}`);
  const cleanUp = () => {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(snapshot, { recursive: true, force: true });
  };
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.on(sig, () => {
      cleanUp();
      process.exit(130);
    });
  }
  const distDir = snapshotDist(snapshot);
  const sb = await strideBackends(distDir);
  if (sb.error) {
    cleanUp();
    console.error(`bench: ${sb.error}`);
    process.exit(1);
  }
  machine.tuning = await strideTuning(distDir);
  console.log(`stride kernel tuning: ${machine.tuning}`);
  machine.fmaCeiling = await fmaCeiling(machine.cores);
  console.log(`128-bit SIMD ceiling: ${machine.fmaCeiling}`);
  machine.state = { start: await probeMachineState(distDir), end: null };
  if (machine.state.start) console.log(`cache-bound probe: ${describeState(machine.state.start)}`);
  const torch = torchInfo();
  const specsPath = join(tmp, "specs.json");
  const modelsPath = join(tmp, "models");
  const nets = Object.fromEntries(Object.entries(NETS).map(([k, f]) => [k, f()]));
  writeFileSync(specsPath, JSON.stringify({
    nets, workloads: WORKLOADS, sgd: SGD, sgemmSize: SGEMM_SIZE,
    flops: Object.fromEntries(WORKLOADS.map((w) => [w.id, iterationFlops(w)])),
  }));

  const timingArgs = ["--budget", String(opts.budget), "--long-budget", String(opts.longBudget), "--max-iter", String(opts.maxIter)];
  const workloads = WORKLOADS.filter((w) => !opts.workloads || opts.workloads.includes(w.id));
  if (!workloads.length) throw new Error(`--workloads matched none of ${WORKLOADS.map((w) => w.id).join(", ")}`);

  let modelDir = null;
  let exportNote = null;
  const wantOrt = !opts.libs || opts.libs.some((l) => l.startsWith("onnxruntime"));
  if (torch && wantOrt) {
    const t = performance.now();
    const r = await runChildProcess(PYTHON, ["torch_bench.py", "export", "--specs", specsPath, "--out", modelsPath], { timeoutSec: 600 });
    if (r.results[0]?.exported) {
      modelDir = modelsPath;
      console.log(`exported the ONNX models from PyTorch in ${fmtSec((performance.now() - t) / 1000)} s`);
    } else {
      exportNote = `the ONNX export from PyTorch failed: ${r.stderr.trim().split("\n").slice(-1)[0]}`;
      console.log(exportNote);
    }
  }

  const libs = libraries(sb.backends, distDir, torch, modelDir, specsPath).filter((l) => !opts.libs || opts.libs.includes(l.id));
  for (const l of libs) if (l.id.startsWith("onnxruntime") && !modelDir && exportNote) l.unavailable = exportNote;
  /** Each cell's measurement per round, by `${lib}|${workload}`. */
  const rounds = new Map();
  /** The 1-minute load average before each cell: the machine may be shared, and the report says how busy it was. */
  const loads = [];
  /** Per library, the effective GFLOP/s it reached per kind of workload, for estimating the next ones. */
  const ratesOf = new Map(libs.map((l) => [l.id, {}]));
  const perRound = libs.length * workloads.length;
  let done = 0;
  let gap = null;
  let sweep = null;
  try {
    for (let round = 0; round < opts.rounds; round++) {
      const order = round % 2 === 0 ? libs : [...libs].reverse();
      for (const w of workloads) {
        for (const lib of order) {
          const key = `${lib.id}|${w.id}`;
          // Later rounds measure again only what the first one could measure.
          if (round > 0 && rounds.get(key)?.[0].status !== "ok") continue;
          const rates = ratesOf.get(lib.id);
          done++;
          const flops = iterationFlops(w);
          const count = round === 0 ? `${String(done).padStart(2)}/${perRound}` : `round ${round + 1}`;
          const head = `[${count}] ${lib.id.padEnd(14)} ${w.id.padEnd(15)}`;
          let cell;
          if (lib.unavailable) {
            cell = { lib: lib.id, workload: w.id, status: "unavailable", note: lib.unavailable };
          } else {
            const rate = w.kind !== "sgemm" ? rates[w.kind] : undefined;
            const estimate = rate ? flops / rate.flopsPerSec : 0;
            if (estimate > opts.estimateSkip) {
              const minutes = (4 * estimate) / 60;
              cell = {
                lib: lib.id, workload: w.id, status: "skipped", estimated: true,
                note: `would take ~${minutes.toFixed(0)} min (one iteration ≈ ${fmtSec(estimate)} s at the ${rate.source} speed it showed on ${rate.from})`,
              };
            } else {
              loads.push(loadavg()[0]);
              const [cmd, args] = lib.cmd(w.id, timingArgs);
              const t = performance.now();
              const r = await runChildProcess(cmd, args, { timeoutSec: opts.timeout, env: lib.env });
              const wall = (performance.now() - t) / 1000;
              if (r.results.length) {
                cell = { ...r.results[r.results.length - 1], lib: lib.id, wallSec: wall };
                // Every library must have built the same network: its parameter count is the check.
                const expected = w.net ? analyse(NETS[w.net]()).params : undefined;
                if (cell.params !== undefined && expected !== undefined && cell.params !== expected) {
                  cell.details = [...(cell.details ?? []), `${w.id}: ${cell.params} parameters, the spec has ${expected}`];
                }
              } else if (r.timedOut) {
                cell = { lib: lib.id, workload: w.id, status: "skipped", note: `one iteration did not finish in ${opts.timeout} s`, wallSec: wall };
              } else {
                const last = r.stderr.trim().split("\n").filter(Boolean).slice(-1)[0] ?? "";
                cell = { lib: lib.id, workload: w.id, status: "error", note: `crashed (exit ${r.code ?? r.signal}): ${last.slice(0, 200)}`, wallSec: wall };
              }
            }
          }
          rounds.set(key, [...(rounds.get(key) ?? []), cell]);
          if (cell.status === "ok") {
            const perIter = secPerIteration(w, cell);
            rates[w.kind] = speed(flops / perIter, w.id);
          } else if (cell.coldSec) {
            rates[w.kind] = speed(flops / cell.coldSec, `${w.id} (one iteration)`);
          }
          const shown = cell.status === "ok"
            ? `${formatValue(cell.value)} ${cell.unit}  (${cell.runs} run${cell.runs > 1 ? "s" : ""} x ${cell.itersPerRun} it)`
            : `${cell.status}: ${cell.note}`;
          console.log(`${head} ${shown}${cell.wallSec ? `  [${fmtSec(cell.wallSec)} s]` : ""}`);
        }
      }
    }
    machine.state.end = await probeMachineState(distDir);
    if (machine.state.end) console.log(`cache-bound probe at the end of the cells: ${describeState(machine.state.end)}`);
    gap = await gapProfile(opts, workloads, { distDir, modelDir, specsPath, tmp, torch });
    if (opts.sweep && workloads.some((w) => w.kind === "sgemm")) {
      // Alone in a child process, on the build copied aside, like every other cell.
      console.log("\nstride's sgemm from 128^3 to 2048^3 on 1 and 2 threads (bench/sgemm-sweep.mjs)");
      const json = execFileSync(process.execPath, [join(HERE, "sgemm-sweep.mjs"), "--dist", distDir, "--json", ...(opts.budget < 3 ? ["--quick"] : [])], { encoding: "utf8" });
      sweep = sweepMarkdown(JSON.parse(json));
      console.log(sweep);
    }
  } finally {
    cleanUp();
  }

  const cells = [...rounds.values()].map(medianRound);
  const elapsedMin = (performance.now() - started) / 60000;
  if (loads.length) {
    const sorted = [...loads].sort((a, b) => a - b);
    machine.loadDuring = { min: sorted[0], median: sorted[sorted.length >> 1], max: sorted[sorted.length - 1] };
  }
  const report = renderReport({
    machine, cells, libs: libs.map((l) => ({ id: l.id, stride: !!l.stride, unavailable: l.unavailable })),
    workloads, torch, strideBackends: sb.backends.map((b) => b.name), elapsedMin, gap, sweep,
    strideCommit: sh("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"]), options: opts,
    nets: Object.fromEntries(Object.entries(nets).map(([k, s]) => [k, analyse(s)])),
  });
  console.log("\n" + report.terminal);
  if (opts.write) {
    writeFileSync(opts.out, report.markdown);
    console.log(`wrote ${opts.out} (${elapsedMin.toFixed(1)} min)`);
  }
}

/**
 * The per-layer-kind profile of the single-image inference workloads in the
 * run (bench/profile-gap.mjs), for the libraries the run measured; its
 * Markdown, or null when there is nothing to profile.
 */
async function gapProfile(opts, workloads, { distDir, modelDir, specsPath, tmp, torch }) {
  if (!opts.gap) return null;
  const nets = ["resnet50", "vgg16"].filter((n) => workloads.some((w) => w.id === `${n}-infer`));
  const libs = ["stride", "onnxruntime", "pytorch"].filter((f) => !opts.libs || opts.libs.some((id) => id.startsWith(f)));
  if (!nets.length || !libs.includes("stride")) return null;
  console.log(`\nwhere the inference gap goes: ${nets.join(", ")} per layer kind (${libs.join(", ")}; ${opts.gapRuns} runs per cell)`);
  const r = await profileGap({ distDir, modelDir, specsPath, tmp, nets, libs, runs: opts.gapRuns, torch: !!torch });
  return r.markdown;
}

/**
 * One cell from its rounds: the round with the median value (the first
 * round's cell when it was not measured), with every round's value.
 */
function medianRound(list) {
  const ok = list.filter((c) => c.status === "ok");
  if (ok.length < 2) return list[0];
  const sorted = [...ok].sort((a, b) => a.value - b.value);
  return { ...sorted[(sorted.length - 1) >> 1], roundValues: ok.map((c) => c.value) };
}

/** Seconds per iteration behind an ok cell's value. */
function secPerIteration(w, cell) {
  if (cell.unit === "GFLOP/s") return iterationFlops(w) / (cell.value * 1e9);
  if (cell.unit === "ms") return (cell.value / 1000) * w.batch;
  return w.batch / cell.value;
}

main().catch((err) => {
  console.error(`bench: ${err.message}`);
  process.exit(1);
});
