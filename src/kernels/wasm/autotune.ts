/**
 * A short self-tuning run of the GEMM's blocking, as FFTW and ATLAS do: time a
 * few products shaped like the ones convolutions make, for a handful of
 * blockings around the current one, one parameter at a time, and keep a change
 * only when it is clearly faster (a shared machine's noise is a few per cent).
 * `stride tune` runs it and saves the result for the machine (tuning.ts).
 */
import type { WasmBackend } from "./backend.js";
import { checkBlocking, getTuning, setTuning, GEMM_TILE, type GemmBlocking } from "./tuning.js";

/** Options of tuneBlocking. */
export interface TuneOptions {
  /** Threads to tune for (default: the backend's). */
  threads?: number;
  /** Milliseconds each product is timed for, per measurement (default 150; quick: 60). */
  msPerShape?: number;
  /** Fewer candidates and shorter timings (for tests and a first look). */
  quick?: boolean;
  /** A candidate must be this much faster to replace the best so far (default 0.03: 3%). */
  margin?: number;
  /** Called with one line per measured candidate. */
  onProgress?: (line: string) => void;
}

/** One blocking as tuneBlocking measured it. */
export interface TunedCandidate {
  blocking: GemmBlocking;
  /** Geometric mean GFLOP/s over the shapes. */
  gflops: number;
  /** GFLOP/s per shape, in the order of `shapes`. */
  perShape: number[];
}

/** What tuneBlocking measured and chose. */
export interface TuneResult {
  /** The products timed: [m, n, k]. */
  shapes: [number, number, number][];
  threads: number;
  /** Where the search started (the blocking in use) and its speed, measured in the same run. */
  start: TunedCandidate;
  best: TunedCandidate;
  tried: TunedCandidate[];
}

/** Square products and the shapes of convolutions as im2col + GEMM runs them (filters x pixels x taps). */
const SHAPES: [number, number, number][] = [
  [512, 512, 512],
  [1024, 1024, 1024],
  [64, 3136, 576], // ResNet-50's 3x3, 64 channels at 56x56
  [256, 196, 2304], // 3x3, 256 channels at 14x14
  [128, 784, 1152], // 3x3, 128 channels at 28x28
  [512, 49, 4608], // 3x3, 512 channels at 7x7
];
const QUICK_SHAPES: [number, number, number][] = [[256, 256, 256], [64, 784, 576]];

/**
 * Tunes the blocking on `backend` and returns what it found; the blocking in
 * use afterwards is the best one (setTuning). The caller decides whether to
 * save it (saveMachineTuning, as `stride tune` does).
 */
export function tuneBlockingOn(backend: WasmBackend, options: TuneOptions = {}): TuneResult {
  const quick = options.quick ?? false;
  const ms = options.msPerShape ?? (quick ? 40 : 150);
  const margin = options.margin ?? 0.03;
  const threads = options.threads ?? backend.threads;
  const before = backend.threads;
  backend.setThreads(threads);
  const shapes = quick ? QUICK_SHAPES : SHAPES;
  const operands = shapes.map(([m, n, k]) => ({
    a: filled(backend, m * k, 1),
    b: filled(backend, k * n, 2),
    c: backend.allocResident(m * n) ?? new Float32Array(m * n),
  }));
  const measure = (blocking: GemmBlocking): TunedCandidate => {
    setTuning(blocking);
    const perShape = shapes.map(([m, n, k], i) => {
      const { a, b, c } = operands[i];
      backend.matmul(a, b, c, m, n, k); // warm: packing buffers, code tiers
      let best = Infinity;
      // The fastest of three timings: noise on a shared machine only ever adds time.
      for (let rep = 0; rep < 3; rep++) {
        const t0 = performance.now();
        let calls = 0;
        do {
          backend.matmul(a, b, c, m, n, k);
          calls++;
        } while (performance.now() - t0 < ms / 3);
        best = Math.min(best, (performance.now() - t0) / calls);
      }
      return (2 * m * n * k) / (best * 1e6);
    });
    const gflops = Math.exp(perShape.reduce((s, g) => s + Math.log(g), 0) / perShape.length);
    const cand = { blocking: { ...blocking }, gflops, perShape };
    options.onProgress?.(
      `mc ${blocking.mc} kc ${blocking.kc} nc ${blocking.nc} chunks ${blocking.chunksPerThread}: ${gflops.toFixed(1)} GFLOP/s`,
    );
    return cand;
  };
  const { mc, kc, nc, chunksPerThread } = getTuning();
  const startBlocking = checkBlocking({ mc, kc, nc, chunksPerThread });
  try {
    const start = measure(startBlocking);
    const tried: TunedCandidate[] = [start];
    let best = start;
    const { mr, nr } = GEMM_TILE;
    const axes: [keyof GemmBlocking, number[]][] = [
      ["kc", quick ? [128, 384] : [128, 192, 256, 384, 512]],
      ["mc", quick ? [10 * mr, 40 * mr] : [10 * mr, 20 * mr, 40 * mr, 80 * mr, 160 * mr]],
      ["nc", quick ? [256, 1024] : [32 * nr, 64 * nr, 128 * nr, 256 * nr, 512 * nr]],
      ["chunksPerThread", threads > 1 && !quick ? [2, 4, 8] : []],
    ];
    for (const [key, values] of axes) {
      for (const v of values) {
        if (v === best.blocking[key]) continue;
        const cand = measure({ ...best.blocking, [key]: v });
        tried.push(cand);
        if (cand.gflops > best.gflops * (1 + margin)) {
          // Confirm against the incumbent measured again now, so one lucky timing does not win.
          const again = measure(best.blocking);
          tried.push(again);
          if (cand.gflops > again.gflops * (1 + margin)) best = cand;
          else best = again.gflops > best.gflops ? again : best;
        }
      }
    }
    setTuning(best.blocking);
    return { shapes, threads, start, best, tried };
  } catch (e) {
    setTuning(startBlocking);
    throw e;
  } finally {
    backend.setThreads(before);
    for (const o of operands) for (const arr of [o.a, o.b, o.c]) if (backend.rt.isResident(arr)) backend.freeResident(arr);
  }
}

/**
 * The multiply-add ceiling of one core as this build of the kernels reaches
 * it (GFLOP/s): twelve independent four-lane multiply-add chains with no
 * memory traffic, fastest of three timings of about ms / 3 each.
 */
export function fmaCeilingOn(backend: WasmBackend, ms = 150): number {
  const probe = backend.rt.exports.fmaProbe;
  probe(1000); // compiled and warm
  let rounds = 1 << 16;
  for (;;) {
    const t0 = performance.now();
    probe(rounds);
    if (performance.now() - t0 >= ms / 30 || rounds >= 1 << 30) break;
    rounds *= 2;
  }
  let best = Infinity;
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    let calls = 0;
    do {
      probe(rounds);
      calls++;
    } while (performance.now() - t0 < ms / 3);
    best = Math.min(best, (performance.now() - t0) / calls);
  }
  return (rounds * 12 * 8) / (best * 1e6);
}

function filled(backend: WasmBackend, n: number, seed: number): Float32Array {
  const a = backend.allocResident(n) ?? new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sin((i + seed) * 12.9898) * 0.5;
  return a;
}
