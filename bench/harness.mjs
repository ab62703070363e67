/**
 * Timing, shared by every JavaScript adapter (bench/torch_bench.py follows
 * the same rules). One cold iteration first: it warms the JIT, the
 * allocators and the caches, and tells how long an iteration takes. Then:
 *
 * - an iteration that fits the budget many times: one more warm-up, then up
 *   to maxRuns runs, each of enough iterations to last about a tenth of the
 *   budget, and the median of the runs;
 * - a long iteration (more than a quarter of the budget): fewer runs of one
 *   iteration each, as many as fit in `longBudgetSec` (at least one), with
 *   the cold iteration as the only warm-up;
 * - an iteration longer than `maxIterSec`: no runs at all; the cell is
 *   "skipped" with the time a three-run median would have taken, measured
 *   from that single iteration.
 *
 * Adapters run as child processes of run.mjs and report one JSON line on
 * stdout (see `report`); everything else they print goes to stderr.
 */

export const DEFAULTS = { budgetSec: 5, longBudgetSec: 40, maxIterSec: 30, minRuns: 3, maxRuns: 7 };

/** Options from the command line run.mjs passes: --workload ID --budget S --long-budget S --max-iter S ... */
export function parseArgs(argv = process.argv.slice(2)) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument "${a}"; options are --name value`);
    const key = a.slice(2).replace(/-([a-z])/g, (_, ch) => ch.toUpperCase());
    const value = argv[i + 1];
    if (value === undefined || value.startsWith("--")) throw new Error(`option ${a} needs a value`);
    out[key] = value;
    i++;
  }
  return out;
}

export function timingOptions(args) {
  const num = (v, d) => (v === undefined ? d : Number(v));
  return {
    budgetSec: num(args.budget, DEFAULTS.budgetSec),
    longBudgetSec: num(args.longBudget, DEFAULTS.longBudgetSec),
    maxIterSec: num(args.maxIter, DEFAULTS.maxIterSec),
    minRuns: DEFAULTS.minRuns,
    maxRuns: DEFAULTS.maxRuns,
  };
}

const now = () => performance.now() / 1000;

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Times `step` (sync or async; one call = one iteration). Returns seconds
 * per iteration for each run, or a skip with the measured cold iteration.
 */
export async function measure(step, opts) {
  const t0 = now();
  await step();
  const cold = now() - t0;
  if (cold > opts.maxIterSec) {
    const minutes = ((1 + opts.minRuns) * cold) / 60;
    return {
      status: "skipped",
      coldSec: cold,
      note: `would take ${minutes.toFixed(1)} min (one iteration took ${cold.toFixed(1)} s)`,
    };
  }
  const perRun = [];
  let itersPerRun = 1;
  if (cold > opts.budgetSec / 4) {
    const runs = Math.max(1, Math.min(opts.minRuns, Math.floor(opts.longBudgetSec / cold)));
    for (let r = 0; r < runs; r++) {
      const t = now();
      await step();
      perRun.push(now() - t);
    }
  } else {
    // A second warm-up: the first call often pays for compilation alone.
    const t1 = now();
    await step();
    const warm = Math.max(now() - t1, 1e-6);
    itersPerRun = Math.max(1, Math.round(opts.budgetSec / 10 / warm));
    const runs = Math.max(opts.minRuns, Math.min(opts.maxRuns, Math.floor(opts.budgetSec / (itersPerRun * warm))));
    for (let r = 0; r < runs; r++) {
      const t = now();
      for (let i = 0; i < itersPerRun; i++) await step();
      perRun.push((now() - t) / itersPerRun);
    }
  }
  return { status: "ok", coldSec: cold, itersPerRun, secPerIter: perRun, median: median(perRun) };
}

/** Converts seconds per iteration into the unit of the workload. */
export function toUnit(w, secPerIter, flops) {
  if (w.unit === "GFLOP/s") return flops / secPerIter / 1e9;
  if (w.unit === "ms") return (secPerIter * 1000) / w.batch;
  return w.batch / secPerIter;
}

/** The one line a child process reports to run.mjs. */
export function report(result) {
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
}

/** Deterministic random data (a tiny LCG: the values do not matter, only that every library gets some). */
export function randomFloats(n, seed = 1) {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

export function randomLabels(n, classes, seed = 2) {
  const out = new Int32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s % classes;
  }
  return out;
}

/**
 * Runs an adapter's `run(workload, timing)` and reports its result, turning
 * a thrown error into an "error" cell (the message says what failed) rather
 * than a crash with nothing reported.
 */
export async function runChild(libName, run) {
  const args = parseArgs();
  const lib = typeof libName === "function" ? libName(args) : libName;
  const { workload } = await import("./workloads.mjs");
  const w = workload(args.workload);
  const timing = timingOptions(args);
  try {
    const result = await run(w, timing, args);
    report({ lib, workload: w.id, ...result });
  } catch (err) {
    console.error(err);
    report({ lib, workload: w.id, status: "error", note: String(err && err.message ? err.message : err).split("\n")[0] });
  }
}
