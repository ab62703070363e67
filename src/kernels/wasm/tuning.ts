/**
 * The GEMM's cache blocking, chosen for the machine the code runs on.
 *
 * One process-wide setting, resolved on first use from (first match wins):
 *  1. the STRIDE_TUNING environment variable (Node): "default", or
 *     "mc=120,kc=256,nc=1024,chunks=4" (any subset; the rest as below);
 *  2. a result of `stride tune` saved for this machine and this build of the
 *     kernels (Node: ~/.cache/stride/tuning.json);
 *  3. the CPU's cache sizes (Linux reports them), through blockingFromCaches;
 *  4. the built-in blocking, the one the kernels were first tuned with.
 * setTuning() replaces it at any time; every wasm runtime picks the change up
 * before its next job. The blocking changes the order in which a long dot
 * product is summed (in KC-long pieces), so results can differ in the last
 * bits between settings; one setting always gives the same results.
 */
import { StrideError } from "../../stride-error.js";
import { envVar } from "../../env.js";
import { platform, type MachineInfo } from "./platform.js";
import { SOURCE_HASH } from "./generated/kernels.js";

/** The GEMM's blocking: B is packed kc x nc at a time (for L2), A mc x kc; chunksPerThread: work items per thread in a split product. */
export interface GemmBlocking {
  mc: number;
  kc: number;
  nc: number;
  chunksPerThread: number;
}

/** The blocking in use, where it came from, and the machine it was chosen for. */
export interface KernelTuning extends GemmBlocking {
  /** "built-in", "cache sizes", "tuned <ISO date>", "STRIDE_TUNING" or "setTuning". */
  source: string;
  machine: MachineInfo;
}

/** Thrown for a blocking that cannot be used, or an unreadable STRIDE_TUNING. */
export class TuningError extends StrideError {
  constructor(message: string) {
    super(message);
    this.name = "TuningError";
  }
}

/** The register tile the kernels are built with (gemm.ts MR x NR): mc must be a multiple of MR, nc of NR. */
export const GEMM_TILE = { mr: 6, nr: 8 } as const;

/** The blocking the kernels were developed with (2 MiB L2 per core). */
export const BUILT_IN_BLOCKING: Readonly<GemmBlocking> = Object.freeze({ mc: 120, kc: 256, nc: 1024, chunksPerThread: 4 });

/** The ranges setTuning accepts. */
export const BLOCKING_LIMITS = {
  mc: [GEMM_TILE.mr, 4092],
  kc: [16, 4096],
  nc: [GEMM_TILE.nr, 16384],
  chunksPerThread: [1, 64],
} as const;

const KEYS = ["mc", "kc", "nc", "chunksPerThread"] as const;

/**
 * A blocking from the cache sizes, after the analytical model of Low et al.
 * ("Analytical modeling is enough for high-performance BLIS", 2016), turned
 * for a row-major C, whose micro-kernel runs along C's rows (gemm.ts): a
 * kc x NR panel of B and an MR x kc panel of A take about half of L1 (the
 * other half for C and prefetches); the kc x nc block of B, which every row
 * panel of A streams, about half of L2; the mc x kc block of A, packed while
 * B's block waits in L2, about a quarter. Each is kept within a range where
 * the packing's overhead stays small. The L3 is not used: nothing is read
 * from a block bigger than L2 more than once per pass.
 */
export function blockingFromCaches(caches: MachineInfo["caches"], _cores: number): GemmBlocking {
  const { mr, nr } = GEMM_TILE;
  const l1 = caches.l1d ?? 32 * 1024;
  const l2 = caches.l2 ?? 512 * 1024;
  const kc = clamp(roundDown(l1 / 2 / ((mr + nr) * 4), 16), 128, 512);
  const nc = clamp(roundDown(l2 / 2 / (kc * 4), nr), 128, 4096);
  const mc = clamp(roundDown(l2 / 4 / (kc * 4), mr), 4 * mr, 960);
  return { mc, kc, nc, chunksPerThread: BUILT_IN_BLOCKING.chunksPerThread };
}

/** Checks a (partial) blocking and fills the rest from `base`; throws TuningError naming what is wrong. */
export function checkBlocking(b: Partial<GemmBlocking>, base: GemmBlocking = BUILT_IN_BLOCKING): GemmBlocking {
  if (b === null || typeof b !== "object") throw new TuningError(`setTuning: expected an object such as { mc: 120, kc: 256, nc: 1024 }, got ${String(b)}`);
  for (const key of Object.keys(b)) {
    if (!(KEYS as readonly string[]).includes(key)) {
      throw new TuningError(`setTuning: unknown field "${key}"; the fields are ${KEYS.join(", ")}`);
    }
  }
  const out = { ...base };
  for (const key of KEYS) {
    const v = b[key];
    if (v === undefined) continue;
    const [lo, hi] = BLOCKING_LIMITS[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
      throw new TuningError(`setTuning: ${key} must be an integer from ${lo} to ${hi}, got ${String(v)}`);
    }
    out[key] = v;
  }
  if (out.mc % GEMM_TILE.mr !== 0) {
    throw new TuningError(`setTuning: mc must be a multiple of the register tile's ${GEMM_TILE.mr} rows, got ${out.mc} (try ${roundDown(out.mc, GEMM_TILE.mr) || GEMM_TILE.mr})`);
  }
  if (out.nc % GEMM_TILE.nr !== 0) {
    throw new TuningError(`setTuning: nc must be a multiple of the register tile's ${GEMM_TILE.nr} columns, got ${out.nc} (try ${roundDown(out.nc, GEMM_TILE.nr) || GEMM_TILE.nr})`);
  }
  if (out.kc % 4 !== 0) throw new TuningError(`setTuning: kc must be a multiple of 4, got ${out.kc} (try ${roundDown(out.kc, 4)})`);
  return out;
}

/** Parses STRIDE_TUNING's "mc=120,kc=256,nc=1024,chunks=4" (any subset). */
export function parseTuningSpec(spec: string): Partial<GemmBlocking> {
  const out: Partial<GemmBlocking> = {};
  for (const part of spec.split(",").map((s) => s.trim()).filter(Boolean)) {
    const m = /^(mc|kc|nc|chunks|chunksPerThread)\s*=\s*(\d+)$/.exec(part);
    if (!m) {
      throw new TuningError(
        `STRIDE_TUNING: cannot read "${part}"; write "default" or fields such as "mc=120,kc=256,nc=1024,chunks=4"`,
      );
    }
    const key = m[1] === "chunks" ? "chunksPerThread" : (m[1] as keyof GemmBlocking);
    out[key] = Number(m[2]);
  }
  return out;
}

/** The key a saved tuning is stored under: it holds only for the same CPU, core count, caches and kernels. */
export function machineKey(machine: MachineInfo, kernelHash: string): string {
  const c = machine.caches;
  return [machine.cpu, `${machine.cores} cores`, `L1d ${c.l1d ?? "?"} L2 ${c.l2 ?? "?"} L3 ${c.l3 ?? "?"}`, kernelHash].join(" | ");
}

// ---- the process-wide setting -------------------------------------------

interface Listener {
  applyBlocking(b: GemmBlocking): void;
}

let current: KernelTuning | null = null;
const listeners = new Set<WeakRef<Listener>>();
/** A saved tuning holds for the kernels' sources it was measured with. */
const kernelHash = SOURCE_HASH;

function resolveMachineTuning(): KernelTuning {
  const machine = platform.machine();
  const fromCaches = machine.caches.l1d !== undefined && machine.caches.l2 !== undefined;
  const base = fromCaches ? blockingFromCaches(machine.caches, machine.cores) : { ...BUILT_IN_BLOCKING };
  const baseSource = fromCaches ? "cache sizes" : "built-in";
  const env = envVar("STRIDE_TUNING");
  if (env !== undefined && env.trim() !== "") {
    if (env.trim() === "default") return { ...BUILT_IN_BLOCKING, source: "STRIDE_TUNING=default (built-in)", machine };
    try {
      return { ...checkBlocking(parseTuningSpec(env), base), source: "STRIDE_TUNING", machine };
    } catch (e) {
      if (e instanceof TuningError) throw new TuningError(`${e.message.replace(/^setTuning: /, `STRIDE_TUNING=${env}: `)}`);
      throw e;
    }
  }
  const saved = platform.loadTuning(machineKey(machine, kernelHash));
  if (saved) {
    try {
      return { ...checkBlocking(saved.blocking, base), source: `tuned ${saved.date}`, machine };
    } catch {
      // A saved entry from an incompatible build: ignore it (stride tune writes a new one).
    }
  }
  return { ...base, source: baseSource, machine };
}

/** The blocking in use (resolved on first call) and where it came from. */
export function getTuning(): KernelTuning {
  if (!current) current = resolveMachineTuning();
  return { ...current, machine: { ...current.machine, caches: { ...current.machine.caches } } };
}

/**
 * Sets the GEMM blocking for every wasm runtime in the process: an object
 * (missing fields keep their current values), "machine" (what the process
 * would pick by itself: STRIDE_TUNING, a saved `stride tune` result, the
 * cache sizes) or "default" (the built-in blocking). Returns the new setting.
 * Only speed changes, and the last bits of long sums (see the module notes).
 */
export function setTuning(t: Partial<GemmBlocking> | "machine" | "default"): KernelTuning {
  const machine = platform.machine();
  if (t === "machine") current = resolveMachineTuning();
  else if (t === "default") current = { ...BUILT_IN_BLOCKING, source: "built-in", machine };
  else current = { ...checkBlocking(t, getTuning()), source: "setTuning", machine };
  for (const ref of listeners) {
    const l = ref.deref();
    if (l) l.applyBlocking(current);
    else listeners.delete(ref);
  }
  return getTuning();
}

/** A runtime asks to be told of every change, and gets the current blocking now. */
export function followTuning(l: Listener): void {
  listeners.add(new WeakRef(l));
  l.applyBlocking(getTuning());
}

/**
 * Saves a blocking as this machine's (Node: in ~/.cache/stride/tuning.json,
 * or $STRIDE_CACHE_DIR), so that later processes start with it; null forgets
 * the saved one. Returns the file, or null where nothing can be kept (a browser).
 */
export function saveMachineTuning(blocking: GemmBlocking | null): string | null {
  const key = machineKey(platform.machine(), kernelHash);
  return platform.saveTuning(key, blocking ? { blocking: checkBlocking(blocking), date: new Date().toISOString() } : null);
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function roundDown(v: number, step: number): number {
  return Math.floor(v / step) * step;
}
