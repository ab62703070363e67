#!/usr/bin/env node
// Before/after of two builds of stride: training steps (or single-image
// inference, for the *-infer nets) of the same model on
// the wasm backend, alternated in blocks (A B, then B A) so both builds see
// the same machine load. Each build runs in its own child process, started
// once and kept: two builds' worker pools in one process slowed each other
// unevenly (resnet20 on 2 threads: 197 ms a step alone, 223 and 331 side by
// side), while a child that waits for its next block holds no core.
// Prints the median process CPU and wall milliseconds per step of each build
// and their ratios (CPU time is what another process's load inflates least;
// wall time is what two threads are for).
//
//   node bench/ab-builds.mjs DIST_A DIST_B [lenet5|resnet20|resnet8-wide] [threads] [rounds] [steps per block]
//
// DIST_A and DIST_B are compiled dist/ folders, e.g. from `git worktree add`
// of the old commit and `npm run build` in each. The machine-state probe
// (bench/machine-state.mjs) runs before and after, and its shares are in the
// output: on a disturbed machine the two builds may not slow down alike.
import { fork } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { probeMachineState } from "./machine.mjs";

const NETS = ["lenet5", "resnet20", "resnet8-wide", "resnet50-infer", "vgg16-infer"];

/** The child: builds the model once, then runs a block of steps whenever the parent asks. */
async function child(dist, net, threads) {
  const S = await import(pathToFileURL(resolve(dist, "src/index.js")).href);
  S.setBackend("wasm");
  S.getBackend().setThreads(threads);
  // resnet8-wide at batch 128 on 28x28: the Fashion-MNIST recipe's network (issue 17).
  const { buildModel } = await import(pathToFileURL(resolve(dist, "src/cli/models.js")).href);
  if (net.endsWith("-infer")) {
    // Inference, one 224x224 image: what BENCHMARKS.md's ResNet-50 and VGG-16 rows time.
    const model = net === "resnet50-infer" ? S.models.resnet(50) : S.models.vgg16();
    const x = S.Tensor.randn([1, 3, 224, 224], 1);
    return serve(() => model.forward(x, { training: false, noGrad: true }));
  }
  const model = net === "lenet5" ? S.models.lenet5({ seed: 1 }) : net === "resnet8-wide"
    ? buildModel("resnet8-wide", { numClasses: 10, inputShape: [1, 28, 28] }) : S.models.resnetCifar(20, { seed: 1, shortcut: "B" });
  // resnet20 as BENCHMARKS.md times it: option B shortcuts, batch 64 (until 2026-12-03 17:20: option A, batch 32).
  const shape = net === "lenet5" ? [64, 1, 32, 32] : net === "resnet8-wide" ? [128, 1, 28, 28] : [64, 3, 32, 32];
  const x = S.Tensor.randn(shape, 1);
  const labels = Array.from({ length: shape[0] }, (_, i) => i % 10);
  const opt = new S.SGD(model.params(), { lr: 0.01, momentum: 0.9 });
  const step = () => {
    opt.zeroGrad();
    const logits = model.forward(x, { training: true, inputGrad: false });
    model.backward(S.softmaxCrossEntropy(logits, labels).grad);
    opt.step();
  };
  serve(step);
}

/** Warms `step` up, then runs a block of steps whenever the parent asks and reports their CPU and wall ms. */
function serve(step) {
  for (let i = 0; i < 3; i++) step(); // warm-up: compile, pin, size the arenas, pack the weights
  process.on("message", ({ steps }) => {
    if (steps === 0) process.exit(0);
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    for (let i = 0; i < steps; i++) step();
    const used = process.cpuUsage(cpu0);
    process.send({ cpu: (used.user + used.system) / 1000 / steps, wall: (performance.now() - wall0) / steps });
  });
  process.send({ ready: true });
}

/** Starts a child on one build and waits until its model is warm. */
function start(dist, net, threads) {
  const proc = fork(fileURLToPath(import.meta.url), ["--child", dist, net, String(threads)]);
  const next = () => new Promise((done, fail) => {
    const exited = (code) => fail(new Error(`ab-builds: the child on ${dist} exited (${code})`));
    proc.once("exit", exited);
    proc.once("message", (reply) => {
      proc.off("exit", exited); // one listener per block would pile up
      done(reply);
    });
  });
  return next().then(() => ({
    /** Runs a block of steps; resolves to its CPU and wall ms per step. */
    block(steps) {
      const reply = next();
      proc.send({ steps });
      return reply;
    },
    stop() { proc.send({ steps: 0 }); },
  }));
}

if (process.argv[2] === "--child") {
  const [, , , dist, net, threads] = process.argv;
  await child(dist, net, Number(threads));
} else {
  const [distA, distB, net = "lenet5", threads = "1", rounds = "10", block = "10"] = process.argv.slice(2);
  if (!distA || !distB || !NETS.includes(net)) {
    console.error(`usage: node bench/ab-builds.mjs DIST_A DIST_B [${NETS.join("|")}] [threads] [rounds] [steps per block]`);
    process.exit(2);
  }
  // The probe takes the build's dist/src, as bench/run.mjs gives it.
  const stateBefore = await probeMachineState(resolve(distB, "src"));
  const A = await start(resolve(distA), net, Number(threads));
  const B = await start(resolve(distB), net, Number(threads));
  const t = { A: { cpu: [], wall: [] }, B: { cpu: [], wall: [] } };
  const record = (into, r) => { into.cpu.push(r.cpu); into.wall.push(r.wall); };
  for (let r = 0; r < Number(rounds); r++) {
    const order = r % 2 === 0 ? [[A, t.A], [B, t.B]] : [[B, t.B], [A, t.A]];
    for (const [build, into] of order) record(into, await build.block(Number(block)));
  }
  A.stop();
  B.stop();
  const stateAfter = await probeMachineState(resolve(distB, "src"));
  const share = (s) => (s ? +s.share.toFixed(2) : null);
  const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  console.log(JSON.stringify({
    net, threads: Number(threads), A: distA, B: distB,
    cpuMsPerStepA: +median(t.A.cpu).toFixed(2), cpuMsPerStepB: +median(t.B.cpu).toFixed(2), ratioBoverA: +(median(t.B.cpu) / median(t.A.cpu)).toFixed(3),
    wallMsPerStepA: +median(t.A.wall).toFixed(2), wallMsPerStepB: +median(t.B.wall).toFixed(2), wallRatioBoverA: +(median(t.B.wall) / median(t.A.wall)).toFixed(3),
    // sgemm 256^3 against the FMA probe, one thread: near 0.97 on a quiet machine; under 0.8 the comparison is suspect.
    cacheBoundShareBefore: share(stateBefore), cacheBoundShareAfter: share(stateAfter),
  }));
}
