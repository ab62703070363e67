/**
 * The soak run of test/wasm-soak.test.ts, in a process of its own so that its
 * resident set says something: saves a LeNet-5 once, then loads it and
 * predicts one image `iterations` times on the wasm backend, never calling
 * gc() nor releasing anything, and prints one JSON line with the resident set
 * before and after (and the wasm memory's size).
 *
 *   node dist/test/helpers/wasm-soak.js <iterations> <folder>
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { setBackend, getBackend } from "../../src/kernels/index.js";
import { lenet5 } from "../../src/models/zoo/lenet.js";
import { saveModel, loadModel } from "../../src/node/files.js";
import { predict } from "../../src/train/trainer.js";
import { Tensor } from "../../src/tensor.js";
import type { WasmRuntime } from "../../src/kernels/wasm/runtime.js";

const iterations = Number(process.argv[2] ?? 2000);
const dir = process.argv[3];
if (!Number.isInteger(iterations) || iterations < 1 || !dir) {
  console.error("usage: node wasm-soak.js <iterations> <folder>");
  process.exit(2);
}
setBackend("wasm");
mkdirSync(dir, { recursive: true });
const saved = join(dir, "lenet5");
saveModel(lenet5(), saved);
const image = new Tensor([1, 1, 32, 32], Float32Array.from({ length: 1024 }, (_, i) => Math.sin(i)));

// A hundred rounds first, so that the baseline includes what every run needs once (compiled code, the runtime, its first arena).
const once = () => predict(loadModel(saved), image);
for (let i = 0; i < 100; i++) once();
const rt = (getBackend() as unknown as { rt: WasmRuntime }).rt;
const before = { rss: process.memoryUsage().rss, wasm: rt.memory.buffer.byteLength };
let top = "";
for (let i = 0; i < iterations; i++) top = once()[0][0].label;
const after = { rss: process.memoryUsage().rss, wasm: rt.memory.buffer.byteLength };
console.log(JSON.stringify({ iterations, rssBefore: before.rss, rssAfter: after.rss, wasmBefore: before.wasm, wasmAfter: after.wasm, top }));
