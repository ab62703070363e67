/**
 * The GEMM's machine tuning (src/kernels/wasm/tuning.ts, autotune.ts and
 * `stride tune`): blockings are checked with clear errors, the cache-size
 * model gives usable blockings, every blocking computes the same products
 * (against the js reference) on one and two threads, and a saved tuning is
 * what the next process starts with.
 */
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { JsBackend } from "../src/kernels/js/index.js";
import { WasmBackend, wasmSupported } from "../src/kernels/wasm/index.js";
import {
  checkBlocking, parseTuningSpec, blockingFromCaches, getTuning, setTuning, TuningError, GEMM_TILE, BUILT_IN_BLOCKING,
  type GemmBlocking,
} from "../src/kernels/wasm/tuning.js";
import { tuneBlockingOn } from "../src/kernels/wasm/autotune.js";
import { StrideError } from "../src/stride-error.js";
import type { Conv2dGeometry } from "../src/shape.js";
import { seededFloats } from "./helpers/seeded.js";

const js = new JsBackend();
const supported = wasmSupported();
const wasm = supported ? new WasmBackend(1) : null;
const initial = getTuning();
after(() => {
  setTuning({ mc: initial.mc, kc: initial.kc, nc: initial.nc, chunksPerThread: initial.chunksPerThread });
  wasm?.setThreads(1);
});

const rand = seededFloats;

function maxRelErr(got: Float32Array, want: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i]));
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  return worst;
}

describe("checking a blocking", () => {
  test("fills missing fields and accepts whole tiles", () => {
    assert.deepEqual(checkBlocking({ kc: 128 }), { ...BUILT_IN_BLOCKING, kc: 128 });
    assert.deepEqual(checkBlocking({ mc: 6, kc: 16, nc: 8, chunksPerThread: 1 }), { mc: 6, kc: 16, nc: 8, chunksPerThread: 1 });
  });
  test("refuses what the kernels cannot use, saying what to give", () => {
    const cases: [Partial<GemmBlocking>, RegExp][] = [
      [{ mc: 7 }, /mc must be a multiple of the register tile's 6 rows, got 7 \(try 6\)/],
      [{ nc: 100 }, /nc must be a multiple of the register tile's 8 columns, got 100 \(try 96\)/],
      [{ kc: 130 }, /kc must be a multiple of 4, got 130 \(try 128\)/],
      [{ kc: 8 }, /kc must be an integer from 16 to 4096, got 8/],
      [{ mc: 7.5 }, /mc must be an integer/],
      [{ chunksPerThread: 0 }, /chunksPerThread must be an integer from 1 to 64/],
      [{ kc: Number.NaN }, /kc must be an integer/],
      [{ MC: 120 } as unknown as Partial<GemmBlocking>, /unknown field "MC"; the fields are mc, kc, nc, chunksPerThread/],
    ];
    for (const [b, re] of cases) {
      assert.throws(() => checkBlocking(b), (e: unknown) => e instanceof TuningError && e instanceof StrideError && re.test((e as Error).message), JSON.stringify(b));
    }
  });
  test("STRIDE_TUNING's text", () => {
    assert.deepEqual(parseTuningSpec("mc=120, kc=256,nc=1024,chunks=2"), { mc: 120, kc: 256, nc: 1024, chunksPerThread: 2 });
    assert.deepEqual(parseTuningSpec(""), {});
    assert.throws(() => parseTuningSpec("kc=fast"), /STRIDE_TUNING: cannot read "kc=fast"; write "default" or fields such as/);
    assert.throws(() => parseTuningSpec("mr=4"), TuningError);
  });
});

describe("the cache-size model", () => {
  const zen3 = blockingFromCaches({ l1d: 32 << 10, l2: 512 << 10, l3: 32 << 20 }, 8);
  const xeon = blockingFromCaches({ l1d: 48 << 10, l2: 2 << 20, l3: 105 << 20 }, 2);
  const nothing = blockingFromCaches({}, 1);
  test("gives blockings the kernels accept, bigger for bigger caches", () => {
    for (const b of [zen3, xeon, nothing]) assert.deepEqual(checkBlocking(b), b);
    assert.ok(xeon.kc >= zen3.kc && xeon.mc > zen3.mc, `${JSON.stringify(xeon)} vs ${JSON.stringify(zen3)}`);
  });
  test("keeps the packed blocks inside the caches they are meant for", () => {
    const { mr, nr } = GEMM_TILE;
    // The kc-long micro-panels of A and B in half of L1; B's kc x nc block in half of L2 and
    // A's mc x kc block beside it in a quarter, so that packing A does not push B out.
    for (const [b, l1, l2] of [[zen3, 32 << 10, 512 << 10], [xeon, 48 << 10, 2 << 20]] as const) {
      assert.ok((mr + nr) * b.kc * 4 <= l1 / 2, JSON.stringify(b));
      assert.ok(b.kc * b.nc * 4 <= l2 / 2, JSON.stringify(b));
      assert.ok(b.mc * b.kc * 4 <= l2 / 4, JSON.stringify(b));
      // Not so small that packing dominates: at least a quarter of what fits.
      assert.ok(b.kc * b.nc * 4 > l2 / 8, JSON.stringify(b));
    }
  });
});

describe("every blocking computes the same products", { skip: !supported }, () => {
  const blockings: GemmBlocking[] = [
    { mc: 6, kc: 16, nc: 8, chunksPerThread: 1 }, // every loop runs many times, every edge is hit
    { mc: 18, kc: 20, nc: 24, chunksPerThread: 3 },
    { mc: 606, kc: 432, nc: 4096, chunksPerThread: 8 },
    { ...BUILT_IN_BLOCKING },
  ];
  const shapes: [number, number, number][] = [[37, 29, 53], [64, 130, 300], [7, 300, 41], [130, 9, 77]];
  for (const threads of [1, 2]) {
    test(`matmul, all four transposes, ${threads} thread(s)`, () => {
      wasm!.setThreads(threads);
      const min = wasm!.parallelMin.gemmMacs;
      wasm!.parallelMin.gemmMacs = 1; // split even these small products between the threads
      for (const b of blockings) {
        setTuning(b);
        for (const [m, n, k] of shapes) {
          for (const transA of [false, true]) {
            for (const transB of [false, true]) {
              const a = rand(m * k, m + k), bb = rand(k * n, n + 7);
              const want = new Float32Array(m * n), got = new Float32Array(m * n);
              js.matmul(a, bb, want, m, n, k, { transA, transB });
              wasm!.matmul(a, bb, got, m, n, k, { transA, transB });
              assert.ok(maxRelErr(got, want) < 1e-5, `${JSON.stringify(b)} ${m}x${n}x${k} ${transA} ${transB}`);
            }
          }
        }
      }
      wasm!.parallelMin.gemmMacs = min;
    });
    test(`convolutions by GEMM and Winograd after blocking changes, ${threads} thread(s)`, () => {
      // The workers take the blocking from the job block: a worker left on the
      // old one would cut its scratch differently and corrupt these results.
      wasm!.setThreads(threads);
      // Big enough (about 30 million multiply-adds) to be split between threads.
      const g: Conv2dGeometry = {
        batch: 4, inChannels: 29, inH: 27, inW: 25, outChannels: 40, kH: 3, kW: 3, strideH: 1, strideW: 1,
        padTop: 1, padBottom: 1, padLeft: 1, padRight: 1, dilationH: 1, dilationW: 1, groups: 1, outH: 27, outW: 25,
      };
      const x = rand(4 * 29 * 27 * 25, 3), w = rand(40 * 29 * 9, 4), bias = rand(40, 5);
      const want = new Float32Array(4 * 40 * 27 * 25);
      js.conv2d(x, w, bias, want, g);
      const before = wasm!.convAlgorithm;
      try {
        for (const algorithm of ["gemm", "winograd", "winograd4"] as const) {
          wasm!.convAlgorithm = algorithm;
          for (const b of blockings) {
            setTuning(b);
            const got = new Float32Array(want.length);
            wasm!.conv2d(x, w, bias, got, g);
            assert.ok(maxRelErr(got, want) < 1e-4, `${algorithm} ${JSON.stringify(b)}`);
          }
        }
      } finally {
        wasm!.convAlgorithm = before;
      }
    });
  }
  test("the TypeScript side's register tile is the kernels'", () => {
    assert.equal(wasm!.rt.exports.gemmBlocking(4), GEMM_TILE.mr);
    assert.equal(wasm!.rt.exports.gemmBlocking(5), GEMM_TILE.nr);
    setTuning({ mc: 18, kc: 20, nc: 24, chunksPerThread: 3 });
    assert.deepEqual([0, 1, 2, 3].map((i) => wasm!.rt.exports.gemmBlocking(i)), [18, 20, 24, 3]);
  });
});

describe("self-tuning and the saved result", { skip: !supported }, () => {
  test("tuneBlocking measures candidates and leaves the best in use", () => {
    const r = tuneBlockingOn(wasm!, { quick: true, msPerShape: 6, threads: 1 });
    assert.ok(r.tried.length >= 4, `${r.tried.length} candidates`);
    assert.ok(r.tried.every((c) => c.gflops > 0 && Number.isFinite(c.gflops)));
    assert.ok(r.tried.includes(r.best));
    const now = getTuning();
    assert.deepEqual({ mc: now.mc, kc: now.kc, nc: now.nc, chunksPerThread: now.chunksPerThread }, r.best.blocking);
  });

  const bin = join(process.cwd(), "bin", "stride.js");
  const run = (args: string[], env: Record<string, string>) =>
    execFileSync(process.execPath, [bin, ...args], { env: { ...process.env, ...env, STRIDE_TUNING: env.STRIDE_TUNING ?? "" }, encoding: "utf8" });

  test("stride tune saves for this machine; the next process starts with it; --reset forgets it", () => {
    const dir = mkdtempSync(join(tmpdir(), "stride-tune-"));
    try {
      const env = { STRIDE_CACHE_DIR: dir };
      assert.match(run(["tune", "--show"], env), /\(from (cache sizes|built-in)\)/);
      const out = run(["tune", "--quick", "--threads", "1"], env);
      const best = /best: mc (\d+) kc (\d+) nc (\d+) chunks (\d+)/.exec(out);
      assert.ok(best, out);
      assert.match(out, /saved to .*tuning\.json/);
      const shown = run(["tune", "--show"], env);
      assert.match(shown, new RegExp(`blocking: mc ${best[1]} kc ${best[2]} nc ${best[3]}, ${best[4]} work items per thread \\(from tuned 20`));
      // STRIDE_TUNING wins over the saved result.
      assert.match(run(["tune", "--show"], { ...env, STRIDE_TUNING: "kc=64" }), /kc 64 .*\(from STRIDE_TUNING\)/);
      assert.match(run(["tune", "--reset"], env), /forgot the saved blocking/);
      assert.doesNotMatch(run(["tune", "--show"], env), /from tuned/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a damaged tuning file is ignored, a bad STRIDE_TUNING is one clear line", () => {
    const dir = mkdtempSync(join(tmpdir(), "stride-tune-"));
    try {
      writeFileSync(join(dir, "tuning.json"), "{ not json");
      assert.match(run(["tune", "--show"], { STRIDE_CACHE_DIR: dir }), /blocking: mc \d+/);
      let err = "";
      try {
        run(["tune", "--show"], { STRIDE_CACHE_DIR: dir, STRIDE_TUNING: "mc=7" });
      } catch (e) {
        err = String((e as { stderr?: string }).stderr);
      }
      assert.match(err, /STRIDE_TUNING=mc=7: mc must be a multiple of the register tile's 6 rows/);
      assert.doesNotMatch(err, /\n\s+at /, "no stack trace");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
