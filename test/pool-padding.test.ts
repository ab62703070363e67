/**
 * Pooling padded per side and "same" (TensorFlow's and SAS's rule): the
 * one-sided padding whose right-hand windows shrink, checked against
 * explicit padding, on both backends, through save/load, ONNX Runtime and
 * the exporters' refusals.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import ort from "onnxruntime-node";
import { Tensor } from "../src/tensor.js";
import { MaxPool2d, AvgPool2d } from "../src/layers/pool.js";
import { Pad } from "../src/layers/tensor-ops.js";
import { Sequential } from "../src/models/sequential.js";
import { setBackend, getBackend } from "../src/kernels/index.js";
import { encodeModel, decodeModel } from "../src/io/model-file.js";
import { exportOnnx } from "../src/io/onnx/export.js";
import { generateModelPy } from "../src/io/pytorch/codegen.js";

const row = (values: number[]) => new Tensor([1, 1, 1, values.length], values);

test("one-sided padding: a 3-wide max window at stride 1 padded only on the right gives [6, 6, 6, 5, 5, 3, 2]", () => {
  const pool = new MaxPool2d({ kernelSize: [1, 3], stride: 1, padding: [0, 0, 0, 2] });
  assert.deepEqual(Array.from(pool.forward(row([6, 2, 6, 1, 5, 3, 2])).data), [6, 6, 6, 5, 5, 3, 2]);
  // Averages over the real pixels only: the right-hand windows shrink to 2 and then 1 pixel.
  const avg = new AvgPool2d({ kernelSize: [1, 3], stride: 1, padding: [0, 0, 0, 2], countIncludePad: false });
  assert.deepEqual(Array.from(avg.forward(row([6, 2, 6, 1, 5, 3, 2])).data).map((v) => +v.toFixed(4)),
    [14 / 3, 3, 4, 3, 10 / 3, 2.5, 2].map((v) => +v.toFixed(4)));
});

test('"same": ceil(input / stride) outputs, the odd pixel of padding at the bottom and right', () => {
  const pool = new MaxPool2d({ kernelSize: 3, stride: 2, padding: "same" });
  assert.deepEqual(pool.pads(7, 8), [1, 1, 0, 1]); // 7: total 2 -> 1 + 1; 8: total 1 -> 0 + 1
  assert.deepEqual(pool.outputShape([1, 1, 7, 8]), [1, 1, 4, 4]);
  assert.deepEqual(new MaxPool2d({ kernelSize: 2, padding: "same" }).outputShape([2, 3, 5, 5]), [2, 3, 3, 3]);
  // "same" averages leave the padding out unless asked.
  assert.equal(new AvgPool2d({ kernelSize: 2, padding: "same" }).countIncludePad, false);
  assert.throws(() => new MaxPool2d({ kernelSize: 2, padding: "same", ceilMode: true }), /cannot be combined with ceilMode/);
  assert.throws(() => new MaxPool2d({ kernelSize: 2, padding: [0, 2, 0, 0] }), /padding\[1\] \(bottom\) = 2 is as wide as the window/);
  assert.throws(() => new MaxPool2d({ kernelSize: 3, padding: [0, -1, 0, 0] }), /padding\[1\] \(bottom\) = -1 is not valid/);
});

test("per-side max pooling equals padding with -infinity first, forward and backward, on js and wasm", () => {
  const saved = getBackend().name;
  try {
    for (const backend of ["js", "wasm"]) {
      setBackend(backend);
      const x = Tensor.randn([2, 3, 9, 10], 5);
      const pads: [number, number, number, number] = [0, 2, 1, 2];
      const pooled = new MaxPool2d({ kernelSize: 3, stride: 2, padding: pads });
      const reference = new Sequential([new Pad({ pads: [0, 0, pads[0], pads[2], 0, 0, pads[1], pads[3]], value: -Infinity }), new MaxPool2d({ kernelSize: 3, stride: 2 })]);
      const y = pooled.forward(x, { training: true });
      const want = reference.forward(x, { training: true });
      assert.deepEqual(y.shape, want.shape);
      assert.deepEqual(Array.from(y.data), Array.from(want.data), backend);
      const dy = Tensor.randn(y.shape, 6);
      assert.deepEqual(Array.from(pooled.backward(dy).data), Array.from(reference.backward(dy).data), `${backend} backward`);
    }
  } finally {
    setBackend(saved);
  }
});

test("per-side average pooling averages the real pixels of each window (countIncludePad false) on js and wasm", () => {
  const saved = getBackend().name;
  try {
    const x = Tensor.randn([1, 2, 6, 7], 8);
    const results: number[][] = [];
    for (const backend of ["js", "wasm"]) {
      setBackend(backend);
      const y = new AvgPool2d({ kernelSize: [2, 3], stride: [2, 2], padding: "same" }).forward(x);
      // By hand: windows start at o*s - padBefore and are clipped to the image.
      const [top, , left] = new AvgPool2d({ kernelSize: [2, 3], stride: [2, 2], padding: "same" }).pads(6, 7);
      const [, c, oh, ow] = y.shape;
      for (let ch = 0; ch < c; ch++) {
        for (let i = 0; i < oh; i++) {
          for (let j = 0; j < ow; j++) {
            let s = 0, n = 0;
            for (let h = i * 2 - top; h < i * 2 - top + 2; h++) {
              for (let w = j * 2 - left; w < j * 2 - left + 3; w++) {
                if (h >= 0 && h < 6 && w >= 0 && w < 7) { s += x.data[(ch * 6 + h) * 7 + w]; n++; }
              }
            }
            assert.ok(Math.abs(y.data[(ch * oh + i) * ow + j] - s / n) < 1e-6, `${backend} (${ch}, ${i}, ${j})`);
          }
        }
      }
      results.push(Array.from(y.data));
    }
    results[0].forEach((v, i) => assert.ok(Math.abs(v - results[1][i]) < 1e-6, `js and wasm differ at ${i}`));
  } finally {
    setBackend(saved);
  }
});

test("per-side and same pooling save and load, export to ONNX (ONNX Runtime agrees), and are refused by the PyTorch exporter with the way out", async () => {
  const net = new Sequential([
    new MaxPool2d({ kernelSize: 3, stride: 2, padding: "same", name: "same" }),
    new AvgPool2d({ kernelSize: 2, stride: 1, padding: [0, 1, 1, 0], countIncludePad: false, name: "sides" }),
  ]);
  const x = Tensor.randn([1, 2, 9, 8], 9);
  const y = net.forward(x);
  const { json, weights } = encodeModel(net, { inputShape: [2, 9, 8] });
  const back = decodeModel(json, weights, "mem");
  assert.deepEqual(Array.from(back.model.forward(x).data), Array.from(y.data));

  const s = await ort.InferenceSession.create(exportOnnx(net, [2, 9, 8]), { intraOpNumThreads: 1 });
  const out = await s.run({ input: new ort.Tensor("float32", x.data, x.shape) });
  const got = out[s.outputNames[0]].data as Float32Array;
  y.data.forEach((v, i) => assert.ok(Math.abs(got[i] - v) < 1e-5, `ONNX Runtime element ${i}: ${got[i]} vs ${v}`));
  await s.release();

  assert.throws(() => generateModelPy(net, { inputShape: [2, 9, 8] }), /pads its windows as "same", which nn\.MaxPool2d cannot[^]*export to ONNX instead/);
});
