#!/usr/bin/env node
// Before/after of two builds of stride in one process: training steps of the
// same model on the wasm backend, alternated in blocks (A B, then B A) so both
// builds see the same machine load, timed by process CPU time rather than
// wall time (on a shared machine the wall clock mostly measures the others).
// Prints the median CPU milliseconds per step of each build and their ratio.
//
//   node bench/ab-builds.mjs DIST_A DIST_B [lenet5|resnet20|resnet8-wide] [threads] [rounds] [steps per block]
//
// DIST_A and DIST_B are compiled dist/ folders, e.g. from `git worktree add`
// of the old commit and `npm run build` in each.
//
// On more than one thread the two builds' worker pools share the process and
// slow each other unevenly (resnet20 on 2 threads: 197 ms a step alone, 223
// and 331 side by side): compare two-thread runs in separate processes.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [distA, distB, net = "lenet5", threads = "1", rounds = "10", block = "10"] = process.argv.slice(2);
if (!distA || !distB) {
  console.error("usage: node bench/ab-builds.mjs DIST_A DIST_B [lenet5|resnet20|resnet8-wide] [threads] [rounds] [steps per block]");
  process.exit(2);
}

async function setup(dist) {
  const S = await import(pathToFileURL(resolve(dist, "src/index.js")).href);
  S.setBackend("wasm");
  S.getBackend().setThreads(Number(threads));
  // resnet8-wide at batch 128 on 28x28: the Fashion-MNIST recipe's network (issue 17).
  const { buildModel } = await import(pathToFileURL(resolve(dist, "src/cli/models.js")).href);
  const model = net === "lenet5" ? S.models.lenet5({ seed: 1 }) : net === "resnet8-wide"
    ? buildModel("resnet8-wide", { numClasses: 10, inputShape: [1, 28, 28] }) : S.models.resnetCifar(20, { seed: 1 });
  const shape = net === "lenet5" ? [64, 1, 32, 32] : net === "resnet8-wide" ? [128, 1, 28, 28] : [32, 3, 32, 32];
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
// Process CPU and wall milliseconds per step over one block (wall matters too on two threads).
const msPerStep = (step, into) => {
  const start = process.cpuUsage();
  const wall0 = performance.now();
  for (let i = 0; i < Number(block); i++) step();
  const used = process.cpuUsage(start);
  into.cpu.push((used.user + used.system) / 1000 / Number(block));
  into.wall.push((performance.now() - wall0) / Number(block));
};
const t = { A: { cpu: [], wall: [] }, B: { cpu: [], wall: [] } };
for (let r = 0; r < Number(rounds); r++) {
  if (r % 2 === 0) { msPerStep(A, t.A); msPerStep(B, t.B); } else { msPerStep(B, t.B); msPerStep(A, t.A); }
}
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log(JSON.stringify({
  net, threads: Number(threads), A: distA, B: distB,
  cpuMsPerStepA: +median(t.A.cpu).toFixed(2), cpuMsPerStepB: +median(t.B.cpu).toFixed(2), ratioBoverA: +(median(t.B.cpu) / median(t.A.cpu)).toFixed(3),
  wallMsPerStepA: +median(t.A.wall).toFixed(2), wallMsPerStepB: +median(t.B.wall).toFixed(2), wallRatioBoverA: +(median(t.B.wall) / median(t.A.wall)).toFixed(3),
}));
process.exit(0);
