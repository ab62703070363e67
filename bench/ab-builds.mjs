#!/usr/bin/env node
// Before/after of two builds of stride in one process: training steps of the
// same model on the wasm backend, alternated in blocks (A B, then B A) so both
// builds see the same machine load, timed by process CPU time rather than
// wall time (on a shared machine the wall clock mostly measures the others).
// Prints the median CPU milliseconds per step of each build and their ratio.
//
//   node bench/ab-builds.mjs DIST_A DIST_B [lenet5|resnet20] [threads] [rounds] [steps per block]
//
// DIST_A and DIST_B are compiled dist/ folders, e.g. from `git worktree add`
// of the old commit and `npm run build` in each.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [distA, distB, net = "lenet5", threads = "1", rounds = "10", block = "10"] = process.argv.slice(2);
if (!distA || !distB) {
  console.error("usage: node bench/ab-builds.mjs DIST_A DIST_B [lenet5|resnet20] [threads] [rounds] [steps per block]");
  process.exit(2);
}

async function setup(dist) {
  const S = await import(pathToFileURL(resolve(dist, "src/index.js")).href);
  S.setBackend("wasm");
  S.getBackend().setThreads(Number(threads));
  const model = net === "lenet5" ? S.models.lenet5({ seed: 1 }) : S.models.resnetCifar(20, { seed: 1 });
  const shape = net === "lenet5" ? [64, 1, 32, 32] : [32, 3, 32, 32];
  const x = S.Tensor.randn(shape, 1);
  const labels = Array.from({ length: shape[0] }, (_, i) => i % 10);
  const opt = new S.SGD(model.params(), { lr: 0.01, momentum: 0.9 });
  return () => {
    S.setBackend("wasm"); // each build registers its own backend
    opt.zeroGrad();
    const logits = model.forward(x, { training: true, inputGrad: false });
    model.backward(S.softmaxCrossEntropy(logits, labels).grad);
    opt.step();
  };
}

const A = await setup(distA);
const B = await setup(distB);
for (let i = 0; i < 3; i++) { A(); B(); } // warm-up: compile, pin, size the arenas
const cpuMsPerStep = (step) => {
  const start = process.cpuUsage();
  for (let i = 0; i < Number(block); i++) step();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / Number(block);
};
const t = { A: [], B: [] };
for (let r = 0; r < Number(rounds); r++) {
  if (r % 2 === 0) { t.A.push(cpuMsPerStep(A)); t.B.push(cpuMsPerStep(B)); } else { t.B.push(cpuMsPerStep(B)); t.A.push(cpuMsPerStep(A)); }
}
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log(JSON.stringify({
  net, threads: Number(threads), A: distA, B: distB,
  cpuMsPerStepA: +median(t.A).toFixed(2), cpuMsPerStepB: +median(t.B).toFixed(2), ratioBoverA: +(median(t.B) / median(t.A)).toFixed(3),
}));
process.exit(0);
