/**
 * `stride tune`: a short self-tuning run of the wasm GEMM's cache blocking on
 * this machine (about a minute; --quick: seconds), saved so that every later
 * stride process on the machine starts with it.
 *
 *   stride tune               tune and save
 *   stride tune --show        the machine, its caches and the blocking in use, and where it came from
 *   stride tune --reset       forget the saved result (back to the cache-size model)
 *   stride tune --no-save     tune and print, keep nothing
 */
import { parseArgs } from "node:util";
import { createWasmBackend, wasmSupported } from "../../kernels/wasm/index.js";
import { getTuning, saveMachineTuning, setTuning, type KernelTuning } from "../../kernels/wasm/tuning.js";
import { tuneBlockingOn } from "../../kernels/wasm/autotune.js";
import { CliError } from "../datasets.js";
import { flagNumber, maxThreads } from "../bounds.js";

export function tuneCommand(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      show: { type: "boolean", default: false },
      reset: { type: "boolean", default: false },
      "no-save": { type: "boolean", default: false },
      quick: { type: "boolean", default: false },
      threads: { type: "string" },
    },
    allowPositionals: false,
  });
  if (!wasmSupported()) throw new CliError("stride tune: this runtime has no WebAssembly SIMD, so there is no wasm GEMM to tune");
  if (values.show) {
    process.stdout.write(describe(getTuning()));
    return 0;
  }
  if (values.reset) {
    const file = saveMachineTuning(null);
    const now = setTuning("machine");
    process.stdout.write(`stride tune: forgot the saved blocking${file ? ` in ${file}` : ""}\n${describe(now)}`);
    return 0;
  }
  const backend = createWasmBackend();
  const threads = flagNumber("threads", values.threads, backend.threads, { integer: true, min: 1, max: maxThreads() });
  const start = getTuning();
  process.stdout.write(describe(start));
  process.stdout.write(`timing ${values.quick ? "2" : "6"} products on ${threads} thread${threads > 1 ? "s" : ""}, one blocking parameter at a time:\n`);
  const result = tuneBlockingOn(backend, { threads, quick: values.quick, onProgress: (line) => process.stdout.write(`  ${line}\n`) });
  const gain = result.best.gflops / result.start.gflops;
  const b = result.best.blocking;
  process.stdout.write(
    `best: mc ${b.mc} kc ${b.kc} nc ${b.nc} chunks ${b.chunksPerThread}: ${result.best.gflops.toFixed(1)} GFLOP/s, ` +
      `${gain.toFixed(2)}x the starting blocking (${result.start.gflops.toFixed(1)} GFLOP/s) in this run\n`,
  );
  if (values["no-save"]) {
    process.stdout.write("not saved (--no-save)\n");
    return 0;
  }
  const file = saveMachineTuning(b);
  process.stdout.write(file ? `saved to ${file}; stride processes on this machine now start with it (stride tune --reset forgets it)\n` : "nowhere to save it here\n");
  return 0;
}

function describe(t: KernelTuning): string {
  const kib = (n: number | undefined) => (n === undefined ? "unknown" : n >= 1 << 20 ? `${+(n / (1 << 20)).toFixed(1)} MiB` : `${n >> 10} KiB`);
  const c = t.machine.caches;
  return (
    `machine: ${t.machine.cpu}, ${t.machine.cores} cores; L1d ${kib(c.l1d)}, L2 ${kib(c.l2)} (per core), L3 ${kib(c.l3)}\n` +
    `blocking: mc ${t.mc} kc ${t.kc} nc ${t.nc}, ${t.chunksPerThread} work items per thread (from ${t.source})\n`
  );
}
