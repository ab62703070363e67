/**
 * Wasm memory above 2 GiB: byte addresses there do not fit a signed 32-bit
 * integer, so the runtime must turn them into float indices with an unsigned
 * shift. (Fine-tuning ResNet-18 at 224x224 with batch 16 reaches that far; a
 * signed shift made Float32Array.set throw "offset is out of bounds".) In a
 * file of its own: the memory grows to over 2 GiB and never shrinks.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createWasmBackend, wasmSupported } from "../src/kernels/wasm/index.js";
import type { WasmRuntime } from "../src/kernels/wasm/runtime.js";

test("arrays copied in and out of wasm memory above 2 GiB arrive intact", { skip: !wasmSupported() && "no wasm SIMD here" }, () => {
  const rt = (createWasmBackend() as unknown as { rt: WasmRuntime }).rt;
  rt.reset();
  rt.allocBytes(2 ** 31); // everything allocated after this lies above 2 GiB
  const src = Float32Array.from({ length: 1000 }, (_, i) => i - 500.5);
  const at = rt.put(src);
  assert.ok(at >= 2 ** 31, `the copy went to byte ${at}, not above 2 GiB`);
  const back = new Float32Array(src.length);
  rt.getF32(at, back);
  assert.deepEqual(back, src);
  const ints = Int32Array.from({ length: 64 }, (_, i) => i * 7 - 3);
  const atInts = rt.put(ints);
  const intsBack = new Int32Array(ints.length);
  rt.getI32(atInts, intsBack);
  assert.deepEqual(intsBack, ints);
  rt.reset();
});
