/**
 * The wasm backend against the js reference backend (and GEMM against a naive
 * triple loop) on random shapes chosen to hit the SIMD tails, the panel edges,
 * padding, stride, dilation, groups, ceil mode and ties, forward and backward,
 * with one thread and with two.
 */
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { JsBackend } from "../src/kernels/js/index.js";
import { getBackend, setBackend, registerBackend } from "../src/kernels/index.js";
import { Conv2d } from "../src/layers/conv.js";
import { Tensor } from "../src/tensor.js";
import { WasmBackend, wasmSupported } from "../src/kernels/wasm/index.js";
import { windowOutput, type Conv2dGeometry, type Pool2dGeometry } from "../src/shape.js";

const js = new JsBackend();
const supported = wasmSupported();
const wasm = supported ? new WasmBackend(1) : null;
after(() => wasm?.setThreads(1));

/** A small deterministic generator (xorshift), so a failure reproduces. */
function makeRandom(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
  return {
    float: () => next() * 2 - 1,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    array(n: number, f?: () => number): Float32Array {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = f ? f() : next() * 2 - 1;
      return a;
    },
  };
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol = 2e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(e)) {
      assert.ok(Number.isNaN(a), `${what}[${i}]: expected NaN, got ${a}`);
      continue;
    }
    assert.ok(Math.abs(a - e) <= tol * (1 + Math.abs(e)), `${what}[${i}]: ${a} vs ${e} (js)`);
  }
}

function naiveMatmul(a: Float32Array, b: Float32Array, c: Float64Array, m: number, n: number, k: number, tA: boolean, tB: boolean): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = c[i * n + j];
      for (let p = 0; p < k; p++) s += (tA ? a[p * m + i] : a[i * k + p]) * (tB ? b[j * k + p] : b[p * n + j]);
      c[i * n + j] = s;
    }
  }
}

interface ConvCase {
  batch: number; c: number; k: number; h: number; w: number; kh: number; kw: number;
  sh: number; sw: number; pad: [number, number, number, number]; dh: number; dw: number; groups: number;
}

function convGeometry(cc: ConvCase): Conv2dGeometry | null {
  const [pt, pb, pl, pr] = cc.pad;
  try {
    const oh = windowOutput("t", [cc.h], { label: "H", input: cc.h, kernel: cc.kh, stride: cc.sh, padBefore: pt, padAfter: pb, dilation: cc.dh }).size;
    const ow = windowOutput("t", [cc.w], { label: "W", input: cc.w, kernel: cc.kw, stride: cc.sw, padBefore: pl, padAfter: pr, dilation: cc.dw }).size;
    return {
      batch: cc.batch, inChannels: cc.c, inH: cc.h, inW: cc.w, outChannels: cc.k, kH: cc.kh, kW: cc.kw,
      strideH: cc.sh, strideW: cc.sw, padTop: pt, padBottom: pb, padLeft: pl, padRight: pr,
      dilationH: cc.dh, dilationW: cc.dw, groups: cc.groups, outH: oh, outW: ow,
    };
  } catch {
    return null;
  }
}

/** Fixed cases (pointwise, LeNet's and VGG-like layers, depthwise) plus random ones. */
function convCases(seed: number, count: number): Conv2dGeometry[] {
  const fixed: ConvCase[] = [
    { batch: 3, c: 5, k: 7, h: 6, w: 9, kh: 1, kw: 1, sh: 1, sw: 1, pad: [0, 0, 0, 0], dh: 1, dw: 1, groups: 1 },
    { batch: 4, c: 1, k: 6, h: 28, w: 28, kh: 5, kw: 5, sh: 1, sw: 1, pad: [2, 2, 2, 2], dh: 1, dw: 1, groups: 1 },
    { batch: 2, c: 6, k: 16, h: 14, w: 14, kh: 5, kw: 5, sh: 1, sw: 1, pad: [0, 0, 0, 0], dh: 1, dw: 1, groups: 1 },
    { batch: 1, c: 16, k: 19, h: 13, w: 11, kh: 3, kw: 3, sh: 1, sw: 1, pad: [1, 1, 1, 1], dh: 1, dw: 1, groups: 1 },
    { batch: 2, c: 6, k: 6, h: 9, w: 10, kh: 3, kw: 3, sh: 2, sw: 1, pad: [1, 0, 2, 1], dh: 1, dw: 2, groups: 6 },
    { batch: 1, c: 300, k: 9, h: 3, w: 3, kh: 1, kw: 1, sh: 1, sw: 1, pad: [0, 0, 0, 0], dh: 1, dw: 1, groups: 1 },
    // Unfolded columns over 1 MB: the kernels cut them into cache-sized bands of rows.
    { batch: 1, c: 16, k: 4, h: 48, w: 48, kh: 3, kw: 3, sh: 1, sw: 1, pad: [1, 1, 1, 1], dh: 1, dw: 1, groups: 1 },
    { batch: 2, c: 16, k: 3, h: 61, w: 47, kh: 5, kw: 3, sh: 2, sw: 1, pad: [2, 1, 1, 1], dh: 1, dw: 2, groups: 1 },
    // Stride 1 (the direct kernels): the CIFAR demo net's layers, a channel count
    // that is not a multiple of 4, padding wider than the kernel, dilation, rows of 1.
    { batch: 3, c: 3, k: 16, h: 32, w: 32, kh: 5, kw: 5, sh: 1, sw: 1, pad: [2, 2, 2, 2], dh: 1, dw: 1, groups: 1 },
    { batch: 2, c: 16, k: 20, h: 16, w: 16, kh: 5, kw: 5, sh: 1, sw: 1, pad: [2, 2, 2, 2], dh: 1, dw: 1, groups: 1 },
    { batch: 2, c: 5, k: 7, h: 9, w: 17, kh: 2, kw: 3, sh: 1, sw: 1, pad: [3, 0, 4, 1], dh: 1, dw: 1, groups: 1 },
    { batch: 1, c: 2, k: 9, h: 11, w: 13, kh: 3, kw: 3, sh: 1, sw: 1, pad: [1, 2, 0, 2], dh: 2, dw: 3, groups: 1 },
    { batch: 5, c: 3, k: 3, h: 1, w: 21, kh: 1, kw: 4, sh: 1, sw: 1, pad: [0, 0, 1, 2], dh: 1, dw: 1, groups: 1 },
    // 3x3 stride 1 (Winograd F(2x2, 3x3)): odd and even output sizes, asymmetric and wide padding.
    { batch: 3, c: 8, k: 12, h: 7, w: 9, kh: 3, kw: 3, sh: 1, sw: 1, pad: [1, 1, 1, 1], dh: 1, dw: 1, groups: 1 },
    { batch: 2, c: 5, k: 3, h: 6, w: 5, kh: 3, kw: 3, sh: 1, sw: 1, pad: [0, 2, 2, 0], dh: 1, dw: 1, groups: 1 },
    { batch: 1, c: 33, k: 17, h: 10, w: 4, kh: 3, kw: 3, sh: 1, sw: 1, pad: [0, 0, 0, 0], dh: 1, dw: 1, groups: 1 },
    { batch: 2, c: 4, k: 6, h: 3, w: 3, kh: 3, kw: 3, sh: 1, sw: 1, pad: [3, 1, 1, 3], dh: 1, dw: 1, groups: 1 },
    // Stride 2 on small maps (resnet8-wide's 7x7 -> 4x4 and 14x14 -> 7x7): several images
    // per GEMM, in groups that do not divide the batch.
    { batch: 13, c: 16, k: 40, h: 7, w: 7, kh: 3, kw: 3, sh: 2, sw: 2, pad: [1, 1, 1, 1], dh: 1, dw: 1, groups: 1 },
    { batch: 9, c: 8, k: 12, h: 14, w: 14, kh: 3, kw: 3, sh: 2, sw: 2, pad: [1, 1, 1, 1], dh: 1, dw: 1, groups: 1 },
    // Large enough for two threads: Winograd backward filter's runs of tile rows span images.
    { batch: 3, c: 19, k: 21, h: 23, w: 17, kh: 3, kw: 3, sh: 1, sw: 1, pad: [1, 1, 1, 1], dh: 1, dw: 1, groups: 1 },
    { batch: 2, c: 37, k: 6, h: 30, w: 29, kh: 3, kw: 3, sh: 1, sw: 1, pad: [0, 1, 0, 0], dh: 1, dw: 1, groups: 1 },
  ];
  const r = makeRandom(seed);
  const out: Conv2dGeometry[] = [];
  for (const f of fixed) out.push(convGeometry(f)!);
  while (out.length < fixed.length + count) {
    const groups = r.int(1, 3);
    const cc: ConvCase = {
      batch: r.int(1, 4), c: groups * r.int(1, 4), k: groups * r.int(1, 5), h: r.int(1, 13), w: r.int(1, 13),
      kh: r.int(1, 5), kw: r.int(1, 5), sh: r.int(1, 3), sw: r.int(1, 3),
      pad: [r.int(0, 2), r.int(0, 2), r.int(0, 2), r.int(0, 2)], dh: r.int(1, 2), dw: r.int(1, 2), groups,
    };
    const g = convGeometry(cc);
    if (g) out.push(g);
  }
  return out;
}

function describeConv(g: Conv2dGeometry): string {
  return `N${g.batch} C${g.inChannels} ${g.inH}x${g.inW} -> K${g.outChannels} k${g.kH}x${g.kW} s${g.strideH},${g.strideW} ` +
    `p${g.padTop},${g.padBottom},${g.padLeft},${g.padRight} d${g.dilationH},${g.dilationW} g${g.groups} out ${g.outH}x${g.outW}`;
}

function poolGeometry(batch: number, c: number, h: number, w: number, k: [number, number], s: [number, number],
  p: [number, number], d: [number, number], ceilMode: boolean): Pool2dGeometry | null {
  try {
    const oh = windowOutput("t", [h], { label: "H", input: h, kernel: k[0], stride: s[0], padBefore: p[0], padAfter: p[0], dilation: d[0], ceilMode }).size;
    const ow = windowOutput("t", [w], { label: "W", input: w, kernel: k[1], stride: s[1], padBefore: p[1], padAfter: p[1], dilation: d[1], ceilMode }).size;
    return {
      batch, channels: c, inH: h, inW: w, kH: k[0], kW: k[1], strideH: s[0], strideW: s[1],
      padTop: p[0], padLeft: p[1], padBottom: p[0], padRight: p[1], dilationH: d[0], dilationW: d[1], outH: oh, outW: ow,
    };
  } catch {
    return null;
  }
}

function poolCases(seed: number, count: number, dilated: boolean): Pool2dGeometry[] {
  const r = makeRandom(seed);
  const out: Pool2dGeometry[] = [
    poolGeometry(4, 6, 28, 28, [2, 2], [2, 2], [0, 0], [1, 1], false)!,
    poolGeometry(2, 3, 7, 7, [3, 3], [2, 2], [1, 1], [1, 1], true)!,
    // 2x2 stride 2 without padding (its own kernel): vector columns and tails, odd sizes, ceil mode.
    poolGeometry(2, 3, 9, 17, [2, 2], [2, 2], [0, 0], [1, 1], false)!,
    poolGeometry(1, 2, 9, 17, [2, 2], [2, 2], [0, 0], [1, 1], true)!,
    poolGeometry(3, 1, 16, 16, [2, 2], [2, 2], [0, 0], [1, 1], true)!,
    poolGeometry(1, 2, 2, 3, [2, 2], [2, 2], [0, 0], [1, 1], true)!,
    poolGeometry(1, 4, 11, 8, [2, 2], [2, 2], [0, 0], [1, 1], true)!,
  ];
  while (out.length < count + 2) {
    const kh = r.int(1, 4), kw = r.int(1, 4);
    const g = poolGeometry(r.int(1, 3), r.int(1, 5), r.int(1, 12), r.int(1, 12), [kh, kw], [r.int(1, 3), r.int(1, 3)],
      [r.int(0, kh >> 1), r.int(0, kw >> 1)], dilated ? [r.int(1, 2), r.int(1, 2)] : [1, 1], r.int(0, 1) === 1);
    if (g) out.push(g);
  }
  return out;
}

function describePool(g: Pool2dGeometry): string {
  return `N${g.batch} C${g.channels} ${g.inH}x${g.inW} k${g.kH}x${g.kW} s${g.strideH},${g.strideW} p${g.padTop},${g.padLeft} ` +
    `d${g.dilationH},${g.dilationW} out ${g.outH}x${g.outW}`;
}

for (const threads of [1, 2]) {
  describe(`wasm backend, ${threads} thread${threads > 1 ? "s" : ""}`, { skip: supported ? false : "no WebAssembly SIMD here" }, () => {
    const be = wasm!;
    const setup = () => {
      be.setThreads(threads);
      // Split even the small products and maps of these tests, so that the threaded paths are the ones checked.
      be.parallelMin = threads > 1 ? { gemmMacs: 1, memoryFloats: 1 } : { gemmMacs: 1 << 22, memoryFloats: 1 << 19 };
    };

    test("sgemm equals a naive triple loop, every transpose variant, with and without accumulate", () => {
      setup();
      const r = makeRandom(11 + threads);
      const shapes: [number, number, number][] = [
        [1, 1, 1], [3, 5, 2], [4, 8, 16], [5, 9, 17], [13, 31, 7], [37, 19, 260], [130, 67, 33], [9, 1030, 5], [260, 3, 70],
        // One to four rows (fully-connected layers at batch 1-4: the GEMV path), tails in n and k.
        [1, 513, 1101], [2, 300, 37], [3, 1030, 258], [4, 257, 5],
      ];
      for (const [m, n, k] of shapes) {
        for (const tA of [false, true]) {
          for (const tB of [false, true]) {
            for (const acc of [false, true]) {
              const a = r.array(m * k), b = r.array(k * n), c0 = r.array(m * n);
              const expected = Float64Array.from(acc ? c0 : new Float32Array(m * n));
              naiveMatmul(a, b, expected, m, n, k, tA, tB);
              const c = c0.slice();
              be.matmul(a, b, c, m, n, k, { transA: tA, transB: tB, accumulate: acc });
              assertClose(c, expected, `matmul ${m}x${n}x${k} tA=${tA} tB=${tB} acc=${acc}`, 1e-4);
            }
          }
        }
      }
    });

    test("a product split by columns, A packed once for every work item, equals the one-thread product to the bit", () => {
      setup();
      const r = makeRandom(23);
      // More rows than a block of A (mc) and a k of several blocks (kc), with edge panels in m and n.
      const shapes: [number, number, number][] = [[310, 70, 700], [7, 260, 45], [64, 1000, 9]];
      for (const [m, n, k] of shapes) {
        for (const tA of [false, true]) {
          for (const acc of [false, true]) {
            const a = r.array(m * k), b = r.array(k * n), c0 = r.array(m * n);
            const got = c0.slice(), want = c0.slice();
            be.matmul(a, b, got, m, n, k, { transA: tA, accumulate: acc });
            be.setThreads(1);
            be.matmul(a, b, want, m, n, k, { transA: tA, accumulate: acc });
            be.setThreads(threads);
            assert.deepEqual(got, want, `matmul ${m}x${n}x${k} tA=${tA} acc=${acc}`);
          }
        }
      }
    });

    test("a fully-connected layer at batch 1 gives each output the same bits wherever its row of weights sits", () => {
      setup();
      const r = makeRandom(29);
      // Rows of B in threes, with one or two left over in a chunk, across chunks of 256; k with 16-, 4- and 1-float tails.
      for (const [n, k] of [[263, 77], [520, 64], [301, 130]] as const) {
        const a = r.array(k), b = r.array(n * k);
        const all = new Float32Array(n);
        be.matmul(a, b, all, 1, n, k, { transB: true });
        // B's rows moved down by one and by two places: each output moves with its row, to the bit.
        for (const shift of [1, 2]) {
          const moved = new Float32Array(n * k), out = new Float32Array(n);
          for (let j = 0; j < n; j++) moved.set(b.subarray(j * k, (j + 1) * k), ((j + shift) % n) * k);
          be.matmul(a, moved, out, 1, n, k, { transB: true });
          const expected = new Float32Array(n);
          for (let j = 0; j < n; j++) expected[(j + shift) % n] = all[j];
          assert.deepEqual(out, expected, `1 x ${n} x ${k}, rows moved by ${shift}`);
        }
        const ref = new Float32Array(n);
        js.matmul(a, b, ref, 1, n, k, { transB: true });
        assertClose(all, ref, `1 x ${n} x ${k} against js`);
      }
    });

    test("matmul leaves C beyond m*n alone and accepts longer operand arrays", () => {
      setup();
      const r = makeRandom(5);
      const a = r.array(6 * 7 + 3), b = r.array(7 * 9 + 5), c = new Float32Array(6 * 9 + 4).fill(42);
      be.matmul(a, b, c, 6, 9, 7);
      const ref = new Float32Array(6 * 9 + 4).fill(42);
      js.matmul(a, b, ref, 6, 9, 7);
      assertClose(c, ref, "matmul");
      assert.equal(c[6 * 9], 42);
    });

    for (const algo of ["gemm", "direct", "winograd", "winograd4"] as const) {
    test(`conv2d forward (bias, fused ReLU, folded scale, no bias) equals js on random geometries (${algo} where it applies)`, () => {
      setup();
      be.convAlgorithm = algo;
      const r = makeRandom(100 + threads);
      for (const g of convCases(7 + threads, 30)) {
        const x = r.array(g.batch * g.inChannels * g.inH * g.inW);
        const w = r.array(g.outChannels * (g.inChannels / g.groups) * g.kH * g.kW);
        const bias = r.array(g.outChannels);
        // Scales of both signs, as a folded batch norm's gamma * invStd can be.
        const scale = r.array(g.outChannels, () => r.float() * 3);
        const n = g.batch * g.outChannels * g.outH * g.outW;
        const variants = [[bias, false, null], [bias, true, null], [null, false, null], [null, true, null],
          [bias, false, scale], [bias, true, scale], [null, true, scale]] as const;
        for (const [b, relu, sc] of variants) {
          const y = new Float32Array(n).fill(7), ref = new Float32Array(n);
          js.conv2d(x, w, b, ref, g, relu, sc);
          be.conv2d(x, w, b, y, g, relu, sc);
          assertClose(y, ref, `conv2d ${describeConv(g)} bias=${b !== null} relu=${relu} scale=${sc !== null}`);
        }
      }
      be.convAlgorithm = "auto";
    });

    test(`conv2d backward data and backward filter (accumulating) equal js (${algo} where it applies)`, () => {
      setup();
      be.convAlgorithm = algo;
      const r = makeRandom(200 + threads);
      for (const g of convCases(17 + threads, 30)) {
        const x = r.array(g.batch * g.inChannels * g.inH * g.inW);
        const wn = g.outChannels * (g.inChannels / g.groups) * g.kH * g.kW;
        const w = r.array(wn);
        const dy = r.array(g.batch * g.outChannels * g.outH * g.outW);
        const dx = new Float32Array(x.length).fill(3), dxRef = new Float32Array(x.length);
        js.conv2dBackwardData(dy, w, dxRef, g);
        be.conv2dBackwardData(dy, w, dx, g);
        assertClose(dx, dxRef, `conv2dBackwardData ${describeConv(g)}`);
        // Gradients accumulate: start from non-zero dw and dbias.
        const dw0 = r.array(wn), db0 = r.array(g.outChannels);
        const dw = dw0.slice(), db = db0.slice(), dwRef = dw0.slice(), dbRef = db0.slice();
        js.conv2dBackwardFilter(x, dy, dwRef, dbRef, g);
        be.conv2dBackwardFilter(x, dy, dw, db, g);
        assertClose(dw, dwRef, `conv2dBackwardFilter dw ${describeConv(g)}`);
        assertClose(db, dbRef, `conv2dBackwardFilter dbias ${describeConv(g)}`);
        const dw2 = dw0.slice(), dwRef2 = dw0.slice();
        js.conv2dBackwardFilter(x, dy, dwRef2, null, g);
        be.conv2dBackwardFilter(x, dy, dw2, null, g);
        assertClose(dw2, dwRef2, `conv2dBackwardFilter without bias ${describeConv(g)}`);
      }
      be.convAlgorithm = "auto";
    });
    }

    // One image: with two threads the kernels split the output channels when the filters outweigh
    // the image's columns (GEMM and Winograd), and cut few runs of tile rows into even shares.
    test("batch-1 work splits (blocks of output channels, balanced runs of tile rows) and Winograd's packed filters equal js, every pass", () => {
      setup();
      const r = makeRandom(300 + threads);
      const cases: [ConvCase, ("auto" | "gemm" | "winograd" | "winograd4")[]][] = [
        [{ batch: 1, c: 128, k: 166, h: 5, w: 5, kh: 1, kw: 1, sh: 1, sw: 1, pad: [0, 0, 0, 0], dh: 1, dw: 1, groups: 1 }, ["auto"]],
        [{ batch: 1, c: 32, k: 70, h: 7, w: 7, kh: 3, kw: 3, sh: 2, sw: 2, pad: [1, 1, 1, 1], dh: 1, dw: 1, groups: 1 }, ["auto"]],
        [{ batch: 1, c: 20, k: 38, h: 6, w: 7, kh: 3, kw: 3, sh: 1, sw: 1, pad: [1, 1, 1, 1], dh: 1, dw: 1, groups: 1 }, ["gemm", "winograd", "winograd4"]],
        [{ batch: 1, c: 38, k: 20, h: 7, w: 6, kh: 3, kw: 3, sh: 1, sw: 1, pad: [1, 1, 1, 1], dh: 1, dw: 1, groups: 1 }, ["winograd", "winograd4"]],
        [{ batch: 1, c: 64, k: 64, h: 24, w: 64, kh: 3, kw: 3, sh: 1, sw: 1, pad: [1, 1, 1, 1], dh: 1, dw: 1, groups: 1 }, ["winograd"]],
        // Winograd's pre-packed filters: more than one GEMM block of input channels (256), rows not a multiple of 4.
        [{ batch: 1, c: 300, k: 10, h: 6, w: 5, kh: 3, kw: 3, sh: 1, sw: 1, pad: [1, 1, 1, 1], dh: 1, dw: 1, groups: 1 }, ["winograd", "winograd4"]],
        [{ batch: 2, c: 10, k: 270, h: 5, w: 6, kh: 3, kw: 3, sh: 1, sw: 1, pad: [1, 1, 1, 1], dh: 1, dw: 1, groups: 1 }, ["winograd", "winograd4"]],
      ];
      for (const [cc, algos] of cases) {
        const g = convGeometry(cc)!;
        const x = r.array(g.batch * g.inChannels * g.inH * g.inW), w = r.array(g.outChannels * g.inChannels * g.kH * g.kW);
        const bias = r.array(g.outChannels), scale = r.array(g.outChannels, () => r.float() * 3);
        const dy = r.array(g.batch * g.outChannels * g.outH * g.outW);
        const ref = new Float32Array(dy.length), dxRef = new Float32Array(x.length), dwRef = new Float32Array(w.length);
        js.conv2d(x, w, bias, ref, g, true, scale);
        js.conv2dBackwardData(dy, w, dxRef, g);
        js.conv2dBackwardFilter(x, dy, dwRef, null, g);
        for (const algo of algos) {
          be.convAlgorithm = algo;
          const y = new Float32Array(dy.length).fill(7), dx = new Float32Array(x.length).fill(7), dw = new Float32Array(w.length);
          be.conv2d(x, w, bias, y, g, true, scale);
          be.conv2dBackwardData(dy, w, dx, g);
          be.conv2dBackwardFilter(x, dy, dw, null, g);
          assertClose(y, ref, `conv2d ${describeConv(g)} ${algo}`);
          assertClose(dx, dxRef, `conv2dBackwardData ${describeConv(g)} ${algo}`);
          assertClose(dw, dwRef, `conv2dBackwardFilter ${describeConv(g)} ${algo}`);
        }
      }
      be.convAlgorithm = "auto";
    });

    // F(4x4, 3x3)'s transforms (constants up to 8 and 1/24) cost float32 accuracy:
    // against a float64 reference its error must stay below 1e-4 of the largest
    // output on typical layers (activations in [0, 1), He-scaled weights). It measures
    // about 1e-5 forward and backward data (the filter gradient: 5e-7); F(2x2) and the GEMM about 5e-7.
    test("Winograd F(4x4) and F(2x2) stay within 1e-4 of the largest output of typical layers, every pass (float64 reference)", () => {
      setup();
      const r = makeRandom(400 + threads);
      for (const [c, k, h, pad] of [[32, 32, 16, 1], [16, 24, 33, 1], [64, 48, 12, 0]]) {
        const g = convGeometry({ batch: 2, c, k, h, w: h, kh: 3, kw: 3, sh: 1, sw: 1, pad: [pad, pad, pad, pad], dh: 1, dw: 1, groups: 1 })!;
        const scale = Math.sqrt(6 / (9 * c));
        const x = r.array(g.batch * c * h * h, () => (r.float() + 1) / 2);
        const w = r.array(k * c * 9, () => r.float() * scale);
        const dy = r.array(g.batch * k * g.outH * g.outW);
        const y64 = new Float64Array(g.batch * k * g.outH * g.outW), dx64 = new Float64Array(x.length), dw64 = new Float64Array(w.length);
        // The js kernels also run on float64 arrays (as for the gradient checks).
        const f64 = (a: Float32Array | Float64Array) => (a instanceof Float64Array ? a : Float64Array.from(a)) as unknown as Float32Array;
        js.conv2d(f64(x), f64(w), null, f64(y64), g);
        js.conv2dBackwardData(f64(dy), f64(w), f64(dx64), g);
        js.conv2dBackwardFilter(f64(x), f64(dy), f64(dw64), null, g);
        for (const algo of ["winograd", "winograd4"] as const) {
          be.convAlgorithm = algo;
          const y = new Float32Array(y64.length), dx = new Float32Array(x.length), dw = new Float32Array(w.length);
          be.conv2d(x, w, null, y, g);
          be.conv2dBackwardData(dy, w, dx, g);
          be.conv2dBackwardFilter(x, dy, dw, null, g);
          for (const [what, got, ref] of [["forward", y, y64], ["backward data", dx, dx64], ["backward filter", dw, dw64]] as const) {
            let err = 0, big = 0;
            for (let i = 0; i < ref.length; i++) {
              err = Math.max(err, Math.abs(got[i] - ref[i]));
              big = Math.max(big, Math.abs(ref[i]));
            }
            assert.ok(err <= 1e-4 * big, `${algo} ${what} ${describeConv(g)}: error ${err} against largest output ${big}`);
          }
        }
      }
      be.convAlgorithm = "auto";
    });

    test("im2col and col2im of one image at an offset equal js", () => {
      setup();
      const r = makeRandom(300 + threads);
      for (const g0 of convCases(27, 12)) {
        const g = { ...g0, batch: 1, inChannels: g0.inChannels / g0.groups, outChannels: g0.outChannels / g0.groups, groups: 1 };
        const image = g.inChannels * g.inH * g.inW;
        const offset = r.int(0, 5);
        const x = r.array(offset + image + 3);
        const colN = g.inChannels * g.kH * g.kW * g.outH * g.outW;
        const col = new Float32Array(colN).fill(9), colRef = new Float32Array(colN);
        js.im2col(x, offset, colRef, g);
        be.im2col(x, offset, col, g);
        assertClose(col, colRef, `im2col ${describeConv(g)}`);
        const cols = r.array(colN);
        const dx = x.slice(), dxRef = x.slice();
        js.col2im(cols, dxRef, offset, g);
        be.col2im(cols, dx, offset, g);
        assertClose(dx, dxRef, `col2im ${describeConv(g)}`);
      }
    });

    test("max pooling: values, switches (first max on ties, NaN wins, -1 for all-padding), backward", () => {
      setup();
      const r = makeRandom(400 + threads);
      for (const g of poolCases(37 + threads, 40, true)) {
        const n = g.batch * g.channels * g.inH * g.inW, on = g.batch * g.channels * g.outH * g.outW;
        // Small integers make ties common; a few NaNs test propagation.
        const x = r.array(n, () => (r.int(0, 40) === 0 ? NaN : r.int(-3, 3)));
        const y = new Float32Array(on), yRef = new Float32Array(on);
        const am = new Int32Array(on), amRef = new Int32Array(on);
        js.maxPool2d(x, yRef, amRef, g);
        be.maxPool2d(x, y, am, g);
        assertClose(y, yRef, `maxPool2d ${describePool(g)}`);
        assert.deepEqual(am, amRef, `maxPool2d switches ${describePool(g)}`);
        const dy = r.array(on);
        const dx = new Float32Array(n).fill(5), dxRef = new Float32Array(n);
        js.maxPool2dBackward(dy, amRef, dxRef, g);
        be.maxPool2dBackward(dy, amRef, dx, g);
        assertClose(dx, dxRef, `maxPool2dBackward ${describePool(g)}`);
      }
    });

    test("average pooling with and without countIncludePad, ceil mode, forward and backward", () => {
      setup();
      const r = makeRandom(500 + threads);
      for (const g of poolCases(47 + threads, 40, false)) {
        const n = g.batch * g.channels * g.inH * g.inW, on = g.batch * g.channels * g.outH * g.outW;
        const x = r.array(n), dy = r.array(on);
        for (const cip of [true, false]) {
          const y = new Float32Array(on), yRef = new Float32Array(on);
          js.avgPool2d(x, yRef, g, cip);
          be.avgPool2d(x, y, g, cip);
          assertClose(y, yRef, `avgPool2d ${describePool(g)} countIncludePad=${cip}`);
          const dx = new Float32Array(n).fill(5), dxRef = new Float32Array(n);
          js.avgPool2dBackward(dy, dxRef, g, cip);
          be.avgPool2dBackward(dy, dx, g, cip);
          assertClose(dx, dxRef, `avgPool2dBackward ${describePool(g)} countIncludePad=${cip}`);
        }
      }
    });

    test("batch norm train, apply and backward (batch and fixed statistics) equal js", () => {
      setup();
      const r = makeRandom(600 + threads);
      // [200, 2, 16]: each channel's lanes go into f64 three times; [3, 300, 2]: channels in two scratch blocks.
      for (const [n, c, spatial] of [[1, 1, 1], [2, 3, 5], [4, 6, 7], [8, 5, 1], [3, 17, 33], [16, 8, 196], [200, 2, 16], [3, 300, 2]]) {
        const total = n * c * spatial;
        // An offset mean tests the two-pass variance.
        const x = r.array(total, () => 3 + r.float() * 2);
        for (const affine of [true, false]) {
          const gamma = affine ? r.array(c) : null, beta = affine ? r.array(c) : null;
          const y = new Float32Array(total), yRef = new Float32Array(total);
          const mean = new Float32Array(c), inv = new Float32Array(c), meanRef = new Float32Array(c), invRef = new Float32Array(c);
          js.batchNormTrain(x, gamma, beta, yRef, meanRef, invRef, n, c, spatial, 1e-5);
          be.batchNormTrain(x, gamma, beta, y, mean, inv, n, c, spatial, 1e-5);
          const what = `n${n} c${c} s${spatial} affine=${affine}`;
          assertClose(mean, meanRef, `batchNormTrain mean ${what}`);
          assertClose(inv, invRef, `batchNormTrain invStd ${what}`, 1e-3);
          assertClose(y, yRef, `batchNormTrain y ${what}`, 1e-3);
          const ya = new Float32Array(total), yaRef = new Float32Array(total);
          js.batchNormApply(x, gamma, beta, yaRef, meanRef, invRef, n, c, spatial);
          be.batchNormApply(x, gamma, beta, ya, meanRef, invRef, n, c, spatial);
          assertClose(ya, yaRef, `batchNormApply ${what}`);
          // A fused ReLU: forward clamps, backward masks dy with the clamped output, both in the same passes.
          const yr = new Float32Array(total), yrRef = new Float32Array(total);
          js.batchNormTrain(x, gamma, beta, yrRef, meanRef, invRef, n, c, spatial, 1e-5, true);
          be.batchNormTrain(x, gamma, beta, yr, mean, inv, n, c, spatial, 1e-5, true);
          assertClose(yr, yrRef, `batchNormTrain + ReLU y ${what}`, 1e-3);
          if (total > 8) assert.ok(yrRef.some((v) => v === 0) && yrRef.some((v) => v > 0), "the ReLU clamps some values, not all");
          const yar = new Float32Array(total), yarRef = new Float32Array(total);
          js.batchNormApply(x, gamma, beta, yarRef, meanRef, invRef, n, c, spatial, true);
          be.batchNormApply(x, gamma, beta, yar, meanRef, invRef, n, c, spatial, true);
          assertClose(yar, yarRef, `batchNormApply + ReLU ${what}`);
          const dy = r.array(total);
          for (const [batchStats, reluOut] of [[true, null], [false, null], [true, yrRef], [false, yrRef]] as const) {
            const dg0 = r.array(c), db0 = r.array(c);
            const dx = new Float32Array(total), dxRef = new Float32Array(total);
            const dg = affine ? dg0.slice() : null, db = affine ? db0.slice() : null;
            const dgRef = affine ? dg0.slice() : null, dbRef = affine ? db0.slice() : null;
            js.batchNormBackward(x, dy, meanRef, invRef, gamma, dxRef, dgRef, dbRef, n, c, spatial, batchStats, reluOut);
            be.batchNormBackward(x, dy, meanRef, invRef, gamma, dx, dg, db, n, c, spatial, batchStats, reluOut);
            assertClose(dx, dxRef, `batchNormBackward dx ${what} batchStats=${batchStats} relu=${reluOut !== null}`, 1e-3);
            if (affine) {
              assertClose(dg!, dgRef!, `batchNormBackward dgamma ${what}`, 1e-3);
              assertClose(db!, dbRef!, `batchNormBackward dbeta ${what}`, 1e-3);
            }
          }
        }
      }
    });

    test("batch norm statistics stay accurate when the mean is large against the spread", () => {
      setup();
      const r = makeRandom(650 + threads);
      // One pass computes the variance from sums shifted by a value of the channel: without the
      // shift, E[x^2] - E[x]^2 in f32 would cancel to nothing at a mean of 10^4 and a spread of 1.
      const n = 64, c = 3, spatial = 49, total = n * c * spatial;
      const x = r.array(total, () => 1e4 + r.float());
      const mean = new Float32Array(c), inv = new Float32Array(c), y = new Float32Array(total);
      be.batchNormTrain(x, null, null, y, mean, inv, n, c, spatial, 1e-5);
      for (let ch = 0; ch < c; ch++) {
        let s = 0, q = 0;
        for (let b = 0; b < n; b++) for (let i = 0; i < spatial; i++) s += x[(b * c + ch) * spatial + i];
        const mu = s / (n * spatial);
        for (let b = 0; b < n; b++) for (let i = 0; i < spatial; i++) q += (x[(b * c + ch) * spatial + i] - mu) ** 2;
        const invStd = 1 / Math.sqrt(q / (n * spatial) + 1e-5);
        assert.ok(Math.abs(mean[ch] - mu) <= 1e-3, `mean ${mean[ch]} against ${mu}`);
        assert.ok(Math.abs(inv[ch] / invStd - 1) <= 1e-4, `invStd ${inv[ch]} against ${invStd}`);
      }
    });

    test("add (with and without the fused ReLU) equals js, NaN included, and may write over its first input", () => {
      setup();
      const r = makeRandom(710 + threads);
      for (const n of [3, 257, 1001, 70001]) {
        const a = r.array(n, () => (r.int(0, 50) === 0 ? NaN : r.float())), b = r.array(n);
        for (const relu of [false, true]) {
          const y = new Float32Array(n).fill(9), ref = new Float32Array(n);
          js.add(a, b, ref, relu);
          be.add(a, b, y, relu);
          assertClose(y, ref, `add n=${n} relu=${relu}`);
          if (relu && n > 8) assert.ok(ref.some((v) => v === 0), "the ReLU clamps some sums");
          const inPlace = a.slice();
          be.add(inPlace, b, inPlace, relu);
          assertClose(inPlace, ref, `add in place n=${n} relu=${relu}`);
        }
      }
    });

    test("relu and its backward equal js, NaN included", () => {
      setup();
      const r = makeRandom(700);
      const x = r.array(1001, () => (r.int(0, 50) === 0 ? NaN : r.float()));
      const y = new Float32Array(x.length), yRef = new Float32Array(x.length);
      js.relu(x, yRef);
      be.relu(x, y);
      assertClose(y, yRef, "relu");
      const dy = r.array(x.length), dx = new Float32Array(x.length), dxRef = new Float32Array(x.length);
      js.reluBackward(yRef, dy, dxRef);
      be.reluBackward(yRef, dy, dx);
      assertClose(dx, dxRef, "reluBackward");
    });

    test("tanh and the sigmoid are within 2 ulp of js (f64, rounded once), with their gradients, NaN, infinities and signed zeros", () => {
      setup();
      const r = makeRandom(710);
      // Values on every scale up to past the exponential's limits, then the edge cases; 4099 is not a multiple of four (the scalar tail).
      const x = r.array(4099, () => r.float() * 10 ** r.int(-8, 2));
      const specials = [0, -0, NaN, Infinity, -Infinity, 0.625, -0.625, 87.3, -87.3, -87.4, 88.5, -88.5, -104, 1e-45, -3e38];
      specials.forEach((v, i) => { x[x.length - 1 - i] = v; });
      const bits = new Int32Array(2), pair = new Float32Array(bits.buffer);
      const ulps = (a: number, b: number) => { pair[0] = a; pair[1] = b; return Math.abs(bits[0] - bits[1]); };
      for (const kind of ["tanh", "sigmoid"] as const) {
        const y = new Float32Array(x.length), ref = new Float32Array(x.length);
        js.activation(kind, x, ref);
        be.activation!(kind, x, y);
        for (let i = 0; i < x.length; i++) {
          const at = `${kind}(${x[i]}): ${y[i]} vs ${ref[i]}`;
          if (Number.isNaN(ref[i])) assert.ok(Number.isNaN(y[i]), at);
          else if (Math.abs(ref[i]) < 1.2e-38) assert.ok(Math.abs(y[i]) < 1.2e-38, at); // subnormal: the kernel may flush it
          else assert.ok(ulps(y[i], ref[i]) <= 2, at);
        }
        if (kind === "tanh") assert.ok(Object.is(y[x.length - 2], -0), "tanh(-0) is -0");
        const dy = r.array(x.length), dx = new Float32Array(x.length), dxRef = new Float32Array(x.length);
        js.activationBackward(kind, ref, dy, dxRef);
        be.activationBackward!(kind, ref, dy, dx);
        assertClose(dx, dxRef, `${kind} backward`, 1e-6);
      }
    });

    test("LeakyReLU equals js to the bit and ELU is within 3 ulp, with their gradients, NaN, infinities and signed zeros", () => {
      setup();
      const r = makeRandom(720);
      const x = r.array(4099, () => r.float() * 10 ** r.int(-8, 2));
      const specials = [0, -0, NaN, Infinity, -Infinity, -0.35, -0.34, -0.7, -87.3, -88.5, -104, 1e-45, -1e-45, -3e38, 3e38];
      specials.forEach((v, i) => { x[x.length - 1 - i] = v; });
      const bits = new Int32Array(2), pair = new Float32Array(bits.buffer);
      const ulps = (a: number, b: number) => { pair[0] = a; pair[1] = b; return Math.abs(bits[0] - bits[1]); };
      const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
      for (const slope of [0.01, 0.2, -0.5, 0, 3]) {
        const y = new Float32Array(x.length), ref = new Float32Array(x.length);
        js.activation("leakyRelu", x, ref, slope);
        be.activation!("leakyRelu", x, y, slope);
        for (let i = 0; i < x.length; i++) assert.ok(same(y[i], ref[i]), `leakyRelu(${x[i]}, ${slope}): ${y[i]} vs ${ref[i]}`);
        // Its gradient reads the input: dy where x > 0, dy * slope elsewhere (NaN included).
        const dy = r.array(x.length), dx = new Float32Array(x.length), dxRef = new Float32Array(x.length);
        js.activationBackward("leakyRelu", x, dy, dxRef, slope);
        be.activationBackward!("leakyRelu", x, dy, dx, slope);
        for (let i = 0; i < x.length; i++) assert.ok(same(dx[i], dxRef[i]), `leakyRelu backward at ${x[i]}: ${dx[i]} vs ${dxRef[i]}`);
      }
      for (const alpha of [1, 0.3, 1.6732632]) {
        const y = new Float32Array(x.length), ref = new Float32Array(x.length);
        js.activation("elu", x, ref, alpha);
        be.activation!("elu", x, y, alpha);
        for (let i = 0; i < x.length; i++) {
          const at = `elu(${x[i]}, ${alpha}): ${y[i]} vs ${ref[i]}`;
          if (Number.isNaN(ref[i])) assert.ok(Number.isNaN(y[i]), at);
          else if (Math.abs(ref[i]) < 1.2e-38) assert.ok(Math.abs(y[i]) < 1.2e-38, at); // subnormal: the kernel may flush it
          else assert.ok(ulps(y[i], ref[i]) <= 3, at);
        }
        assert.ok(Object.is(y[x.length - 2], -0), "elu(-0) is -0");
        const dy = r.array(x.length), dx = new Float32Array(x.length), dxRef = new Float32Array(x.length);
        js.activationBackward("elu", ref, dy, dxRef, alpha);
        be.activationBackward!("elu", ref, dy, dx, alpha);
        assertClose(dx, dxRef, `elu backward, alpha ${alpha}`, 1e-6);
      }
    });
  });
}

describe("wasm backend, image groups in the GEMM convolution", { skip: supported ? false : "no WebAssembly SIMD here" }, () => {
  // Small output planes run several images per GEMM (plan.ts, gemmImages). Each
  // output of the forward and backward-data passes is still the same sum in the
  // same order as one image at a time, so the bits must not change.
  const shapes: ConvCase[] = [
    { batch: 11, c: 16, k: 40, h: 7, w: 7, kh: 3, kw: 3, sh: 2, sw: 2, pad: [1, 1, 1, 1], dh: 1, dw: 1, groups: 1 },
    { batch: 7, c: 8, k: 13, h: 14, w: 14, kh: 3, kw: 3, sh: 2, sw: 2, pad: [1, 1, 1, 1], dh: 1, dw: 1, groups: 1 },
    { batch: 5, c: 3, k: 6, h: 9, w: 8, kh: 5, kw: 3, sh: 1, sw: 2, pad: [2, 1, 0, 1], dh: 1, dw: 1, groups: 1 },
  ];
  for (const threads of [1, 2]) {
    test(`forward and backward data of a batch equal the same images one at a time, to the bit (${threads} thread${threads > 1 ? "s" : ""})`, () => {
      const be = wasm!;
      be.setThreads(threads);
      be.convAlgorithm = "gemm";
      const r = makeRandom(40 + threads);
      for (const cc of shapes) {
        const g = convGeometry(cc)!;
        const one = { ...g, batch: 1 };
        const inImage = g.inChannels * g.inH * g.inW, outImage = g.outChannels * g.outH * g.outW;
        const x = r.array(g.batch * inImage), w = r.array(g.outChannels * g.inChannels * g.kH * g.kW);
        const bias = r.array(g.outChannels), scale = r.array(g.outChannels), dy = r.array(g.batch * outImage);
        const y = new Float32Array(g.batch * outImage), dx = new Float32Array(g.batch * inImage);
        be.conv2d(x, w, bias, y, g, true, scale);
        be.conv2dBackwardData(dy, w, dx, g);
        for (let n = 0; n < g.batch; n++) {
          const yn = new Float32Array(outImage), dxn = new Float32Array(inImage);
          be.conv2d(x.subarray(n * inImage, (n + 1) * inImage), w, bias, yn, one, true, scale);
          be.conv2dBackwardData(dy.subarray(n * outImage, (n + 1) * outImage), w, dxn, one);
          assert.deepEqual(y.subarray(n * outImage, (n + 1) * outImage), yn, `${describeConv(g)}: image ${n}'s output`);
          assert.deepEqual(dx.subarray(n * inImage, (n + 1) * inImage), dxn, `${describeConv(g)}: image ${n}'s input gradient`);
        }
        // The filter gradient sums over the images, grouped by the shape alone: any thread count gives the same bits.
        const dw1 = r.array(w.length), dw2 = dw1.slice(), db1 = r.array(g.outChannels), db2 = db1.slice();
        be.conv2dBackwardFilter(x, dy, dw1, db1, g);
        be.setThreads(threads === 1 ? 2 : 1);
        be.conv2dBackwardFilter(x, dy, dw2, db2, g);
        be.setThreads(threads);
        assert.deepEqual(dw1, dw2, `${describeConv(g)}: filter gradient on 1 and 2 threads`);
        assert.deepEqual(db1, db2, `${describeConv(g)}: bias gradient on 1 and 2 threads`);
      }
      be.convAlgorithm = "auto";
      be.setThreads(1);
    });
  }
});

describe("wasm backend, general", { skip: supported ? false : "no WebAssembly SIMD here" }, () => {
  test("float64 arrays (gradient checks) fall back to the js kernels", () => {
    const r = makeRandom(800);
    const a = Float64Array.from(r.array(12)), b = Float64Array.from(r.array(20)), c = new Float64Array(15);
    const ref = new Float64Array(15);
    wasm!.matmul(a as unknown as Float32Array, b as unknown as Float32Array, c as unknown as Float32Array, 3, 5, 4);
    js.matmul(a as unknown as Float32Array, b as unknown as Float32Array, ref as unknown as Float32Array, 3, 5, 4);
    assert.deepEqual(c, ref);
  });

  test("setThreads rejects a bad count with a message that says what to pass", () => {
    assert.throws(() => wasm!.setThreads(0), /whole number >= 1/);
    assert.throws(() => wasm!.setThreads(1.5), /whole number >= 1/);
  });

  test("resident arrays are used in place: same results as ordinary arrays, accumulation into them, in-place outputs", () => {
    wasm!.setThreads(2);
    const r = makeRandom(901);
    const m = 7, n = 33, k = 45;
    const a = r.array(m * k), b = r.array(k * n), c0 = r.array(m * n);
    const ra = wasm!.allocResident(m * k)!, rb = wasm!.allocResident(k * n)!, rc = wasm!.allocResident(m * n)!;
    assert.ok(wasm!.rt.isResident(ra) && !wasm!.rt.isResident(a));
    ra.set(a);
    rb.set(b);
    rc.set(c0);
    const ref = c0.slice();
    js.matmul(a, b, ref, m, n, k, { accumulate: true });
    wasm!.matmul(ra, rb, rc, m, n, k, { accumulate: true });
    assertClose(rc, ref, "matmul accumulating into a resident C");
    assert.deepEqual(ra, a, "a resident input is left as it was");
    // A resident output written by a kernel whose result lands elsewhere in the arena.
    const out = wasm!.allocResident(m * n)!;
    wasm!.matmul(ra, rb, out, m, n, k);
    const ref2 = new Float32Array(m * n);
    js.matmul(a, b, ref2, m, n, k);
    assertClose(out, ref2, "matmul into a resident C");
    // A convolution with resident filters (what layers' parameters are).
    const g = convGeometry({ batch: 2, c: 5, k: 6, h: 9, w: 8, kh: 3, kw: 3, sh: 1, sw: 1, pad: [1, 1, 1, 1], dh: 1, dw: 1, groups: 1 })!;
    const x = r.array(2 * 5 * 9 * 8), w = r.array(6 * 5 * 9);
    const rw = wasm!.allocResident(w.length)!;
    rw.set(w);
    const y = new Float32Array(2 * 6 * g.outH * g.outW), yRef = y.slice();
    wasm!.conv2d(x, rw, null, y, g);
    js.conv2d(x, w, null, yRef, g);
    assertClose(y, yRef, "conv2d with resident filters");
    assert.deepEqual(rw, w, "the filters are unchanged");
  });

  test("the SGD-with-momentum kernel updates resident arrays as the optimiser's loop does, and declines ordinary ones", () => {
    const r = makeRandom(902);
    for (const [n, threads] of [[1, 1], [7, 1], [1003, 2], [300000, 2]] as const) {
      wasm!.setThreads(threads);
      const w0 = r.array(n), g0 = r.array(n), b0 = r.array(n);
      const w = wasm!.allocResident(n)!, g = wasm!.allocResident(n)!, buf = wasm!.allocResident(n)!;
      w.set(w0);
      g.set(g0);
      buf.set(b0);
      assert.equal(wasm!.sgdMomentum(w, g, buf, 0.05, 0.9, 0.75), true);
      const wRef = w0.slice(), bRef = b0.slice();
      for (let i = 0; i < n; i++) {
        bRef[i] = 0.9 * bRef[i] + 0.75 * g0[i];
        wRef[i] -= 0.05 * bRef[i];
      }
      assertClose(buf, bRef, `momentum buffer, n=${n}`);
      assertClose(w, wRef, `weights, n=${n}`);
      assert.deepEqual(g, g0, "the gradient is left as it was");
    }
    assert.equal(wasm!.sgdMomentum(new Float32Array(8), new Float32Array(8), new Float32Array(8), 0.1, 0.9, 1), false);
  });
  test("the resident heap reuses freed blocks (zeroed), gives its end back to the arena, and refuses past its limit", () => {
    const rt = new WasmBackend(1).rt;
    const internals = rt as unknown as { heapEnd: number; residentLimit: number };
    const first = rt.allocResident(100)!;
    const second = rt.allocResident(1000)!;
    const end = internals.heapEnd;
    first.fill(7);
    const bytes = rt.residentBytes;
    rt.freeResident(first);
    assert.equal(rt.residentBytes, bytes - 448, "100 floats take a 64-byte aligned block of 448 bytes");
    const again = rt.allocResident(50)!;
    assert.equal(again.byteOffset, first.byteOffset, "the freed block is reused");
    assert.ok(again.every((v) => v === 0), "a reused block comes back zeroed");
    assert.equal(internals.heapEnd, end);
    rt.freeResident(second);
    assert.ok(internals.heapEnd < end, "freeing the last block shrinks the heap");
    // The arena now starts where the heap ends: a call's operands may not overlap a live resident array.
    again.fill(3);
    const big = new Float32Array(5000).fill(1), outArr = new Float32Array(5000);
    new WasmBackend(1); // another backend has its own memory: untouched
    rt.reset();
    const p = rt.put(big);
    assert.ok(p >= again.byteOffset + again.byteLength, "arena operands lie above the resident heap");
    rt.getF32(p, outArr);
    assert.ok(again.every((v) => v === 3));
    assert.equal(rt.allocResident(internals.residentLimit / 4 + 16), null, "over the limit: null, and the caller uses an ordinary array");
  });

  test("when the wasm memory cannot grow, a parameter falls back to an ordinary array and a kernel call says it is out of memory", () => {
    const previous = getBackend().name, original = setBackend("wasm");
    const fresh = new WasmBackend(1); // a small memory: a large layer must grow it
    registerBackend(fresh);
    try {
      setBackend("wasm");
      (fresh.rt.memory as { grow(pages: number): number }).grow = () => {
        throw new RangeError("WebAssembly.Memory.grow(): Maximum memory size exceeded");
      };
      assert.equal(fresh.rt.allocResident(16 << 20), null, "no room: null");
      const conv = new Conv2d({ inChannels: 256, outChannels: 256, kernelSize: 3 }); // 2.4 MB of weights, 2.4 of gradient
      assert.equal(fresh.rt.isResident(conv.weight.value.data), false);
      assert.ok(conv.weight.value.data.some((v) => v !== 0), "initialised all the same");
      // A kernel call that needs more memory than there is says so, and what to do.
      const x = Tensor.randn([1, 256, 4, 4], 1);
      assert.throws(() => conv.forward(x), /wasm backend: out of memory: .*smaller batch or model, or setBackend\("js"\)/);
      delete (fresh.rt.memory as { grow?: unknown }).grow; // the prototype's grow again
      assert.deepEqual(conv.forward(x).shape, [1, 256, 2, 2]);
    } finally {
      registerBackend(original);
      setBackend(previous);
    }
  });

  test("a large problem grows the wasm memory and stays correct", () => {
    wasm!.setThreads(2);
    const r = makeRandom(900);
    const m = 300, n = 400, k = 500;
    const a = r.array(m * k), b = r.array(k * n);
    const c = new Float32Array(m * n), ref = new Float32Array(m * n);
    js.matmul(a, b, ref, m, n, k);
    wasm!.matmul(a, b, c, m, n, k);
    assertClose(c, ref, "matmul 300x400x500");
  });
});
