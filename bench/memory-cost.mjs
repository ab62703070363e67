/**
 * What keeping parameters as ordinary arrays costs (layers/param-memory.ts):
 * a LeNet-5 training step (the optimiser pins the parameters, so it should
 * cost nothing), and inference on models whose weights the wasm kernels
 * copy in on every call (loaded, not pinned) against pinned ones.
 *
 *   node bench/memory-cost.mjs [dist folder, default ../dist] [rounds] [all | train | infer]
 *
 * Reports each figure's fastest round, on one thread. Give another build's dist/ to compare (e.g. main's): the training numbers
 * are then comparable back to back.
 */
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";

const dist = resolve(process.argv[2] ?? new URL("../dist", import.meta.url).pathname);
const rounds = Number(process.argv[3] ?? 3);
const only = process.argv[4] ?? "all";
const s = await import(pathToFileURL(`${dist}/src/index.js`).href);
s.setBackend("wasm").setThreads?.(1); // one thread: less at the mercy of other processes on a shared machine

function time(fn, reps) {
  fn();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) fn();
  return (performance.now() - t0) / reps;
}

function trainStepMs() {
  s.manualSeed(1);
  const model = s.models.lenet5();
  const opt = new s.SGD(model.params(), { lr: 0.01, momentum: 0.9 });
  const x = s.Tensor.randn([64, 1, 32, 32], 2);
  const labels = Array.from({ length: 64 }, (_, i) => i % 10);
  return time(() => {
    opt.zeroGrad();
    const { grad } = s.softmaxCrossEntropy(model.forward(x, { training: true }), labels);
    model.backward(grad);
    opt.step();
  }, 40);
}

function inferMs(build, shape, reps, pinned) {
  s.manualSeed(1);
  const model = build();
  if (pinned) new s.SGD(model.params(), { lr: 0.01 }); // pins the parameters where the backend can
  const x = s.Tensor.randn(shape, 3);
  return time(() => model.forward(x, { noGrad: true }), reps);
}

const results = {};
const add = (k, v) => (results[k] ??= []).push(v);
for (let r = 0; r < rounds; r++) {
  if (only !== "infer") add("lenet5 train step, batch 64 (ms)", trainStepMs());
  if (only === "train") continue;
  for (const pinned of [false, true]) {
    const tag = pinned ? "pinned" : "ordinary";
    add(`lenet5 predict batch 64, ${tag} (ms)`, inferMs(() => s.models.lenet5(), [64, 1, 32, 32], 40, pinned));
    add(`resnet18 predict 224px batch 1, ${tag} (ms)`, inferMs(() => s.models.resnet(18), [1, 3, 224, 224], 5, pinned));
  }
}
for (const [k, v] of Object.entries(results)) {
  // The fastest round: on a busy machine the slower ones measure the other processes.
  console.log(`${k}: best ${Math.min(...v).toFixed(2)}  (${v.map((x) => x.toFixed(2)).join(", ")})`);
}
