/**
 * onnxruntime-node (CPU execution provider), inference only:
 * `node libs/onnxruntime.mjs --workload ID --threads N --model-dir DIR`.
 * The models are the bench's nets exported from PyTorch by torch_bench.py
 * into a temporary directory at bench time (DIR/<workload>.onnx).
 */
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { runChild, measure, toUnit, randomFloats } from "../harness.mjs";
import { NETS, iterationFlops, SGEMM_SIZE } from "../workloads.mjs";

const require = createRequire(import.meta.url);

await runChild((args) => `onnxruntime-${args.threads ?? 1}t`, async (w, timing, args) => {
  const threads = Number(args.threads ?? 1);
  const version = require("onnxruntime-node/package.json").version;
  const base = { lib: `onnxruntime-${threads}t`, version, threads };
  if (w.kind === "train") return { ...base, status: "unsupported", note: "onnxruntime-node has inference sessions only (no training API)" };
  if (!args.modelDir) throw new Error("needs --model-dir DIR with the exported ONNX models");
  const path = join(args.modelDir, `${w.id}.onnx`);
  if (!existsSync(path)) throw new Error(`no model at ${path} (the PyTorch export did not write it)`);

  const session = await ort.InferenceSession.create(path, {
    executionProviders: ["cpu"], intraOpNumThreads: threads, interOpNumThreads: 1,
    executionMode: "sequential", graphOptimizationLevel: "all",
  });
  let feeds;
  if (w.kind === "sgemm") {
    const n = SGEMM_SIZE;
    feeds = { a: new ort.Tensor("float32", randomFloats(n * n, 1), [n, n]), b: new ort.Tensor("float32", randomFloats(n * n, 2), [n, n]) };
  } else {
    const spec = NETS[w.net]();
    const dims = [w.batch, ...spec.input];
    feeds = { x: new ort.Tensor("float32", randomFloats(dims.reduce((p, d) => p * d, 1)), dims) };
  }
  const step = async () => {
    const out = await session.run(feeds);
    for (const t of Object.values(out)) t.dispose?.();
  };
  const m = await measure(step, timing);
  const details = ["CPU provider, graph optimisation all, model exported from PyTorch"];
  if (m.status !== "ok") return { ...base, ...m, details };
  return {
    ...base, status: "ok", unit: w.unit, value: toUnit(w, m.median, iterationFlops(w)),
    runs: m.secPerIter.length, itersPerRun: m.itersPerRun, coldSec: m.coldSec, details,
  };
});
