/**
 * onnxruntime-node's side of the inference-gap profile:
 *   node gap/ort-profile.mjs --net resnet50 --threads 2 --runs 7 --model-dir DIR --tmp DIR
 *
 * Runs the model the main bench runs (DIR/<net>-infer.onnx, exported from
 * PyTorch, graph optimisation "all") with session profiling on, and reads
 * the per-node durations from the JSON trace onnxruntime writes. Its graph
 * optimiser folds batch norm into the convolutions and fuses ReLU and the
 * residual add into them (a Conv node with a fourth "sum" input), and on
 * x86 reorders tensors into blocked NCHWc layout: the node names no longer
 * say the layer, so the kind comes from the node's op and shapes (the weight
 * [O, I, kH, kW], the stride from input and output heights).
 *
 * Prints one line: GAP_RESULT {json}.
 */
import { createRequire } from "node:module";
import { existsSync, readdirSync, readFileSync, rmSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { parseArgs, randomFloats, median } from "../harness.mjs";
import { NETS } from "../workloads.mjs";
import { convKind, tally } from "./kinds.mjs";

const require = createRequire(import.meta.url);
const args = parseArgs();
const net = args.net;
const threads = Number(args.threads ?? 1);
const runs = Number(args.runs ?? 7);

const dims = (t) => Object.values(t)[0];

/** The kind of one kernel event of the trace. */
function kindOf(ev) {
  const op = ev.args.op_name;
  const ins = ev.args.input_type_shape ?? [];
  const outs = ev.args.output_type_shape ?? [];
  if (op === "Conv" || op === "FusedConv") {
    const w = dims(ins[1]);
    const inH = dims(ins[0])[2];
    const outH = dims(outs[0])[2];
    const stride = Math.round(inH / outH);
    return w[2] === w[3] ? convKind(w[2], stride) : "convOther";
  }
  if (op === "MaxPool") return "maxpool";
  if (op === "GlobalAveragePool" || op === "AveragePool" || op === "ReduceMean") return "avgpool";
  if (op === "BatchNormalization") return "bn";
  if (op === "Relu") return "relu";
  if (op === "Add" || op === "Sum") return "add";
  if (op === "Gemm" || op === "MatMul" || op === "FusedGemm") return "fc";
  return "other";
}

try {
  const path = join(args.modelDir ?? "", `${net}-infer.onnx`);
  if (!args.modelDir || !existsSync(path)) throw new Error(`no model at ${path}; pass --model-dir with the models torch_bench.py export wrote`);
  const dir = mkdtempSync(join(args.tmp ?? "/tmp", "ort-profile-"));
  const options = {
    executionProviders: ["cpu"], intraOpNumThreads: threads, interOpNumThreads: 1,
    executionMode: "sequential", graphOptimizationLevel: "all",
  };
  const spec = NETS[net]();
  const shape = [1, ...spec.input];
  const feeds = { x: new ort.Tensor("float32", randomFloats(shape.reduce((p, d) => p * d, 1)), shape) };
  const warmups = 2;
  /** Runs the session warm-up + runs times; returns the wall times of the timed runs. */
  const passes = async (session) => {
    const times = [];
    for (let i = 0; i < warmups + runs; i++) {
      const t = performance.now();
      const out = await session.run(feeds);
      for (const o of Object.values(out)) o.dispose?.();
      if (i >= warmups) times.push(performance.now() - t);
    }
    return times;
  };
  // First without profiling (profiling is fixed per session), to show what it costs.
  const plainSession = await ort.InferenceSession.create(path, options);
  const plainMs = await passes(plainSession);
  await plainSession.release();
  const session = await ort.InferenceSession.create(path, { ...options, enableProfiling: true, profileFilePrefix: join(dir, "trace") });
  await passes(session);
  session.endProfiling();
  const file = readdirSync(dir).find((f) => f.startsWith("trace") && f.endsWith(".json"));
  if (!file) throw new Error("onnxruntime wrote no profile (enableProfiling had no effect)");
  const events = JSON.parse(readFileSync(join(dir, file), "utf8"));
  rmSync(dir, { recursive: true, force: true });
  // Each model_run event spans one session.run; the node events inside it are that run's.
  const runEvents = events.filter((e) => e.cat === "Session" && e.name === "model_run").sort((a, b) => a.ts - b.ts).slice(warmups);
  const nodes = events.filter((e) => e.cat === "Node" && e.name.endsWith("_kernel_time"));
  const out = runEvents.map((p) => {
    const byKind = {};
    const calls = {};
    let inNodes = 0;
    for (const e of nodes) {
      if (e.ts < p.ts || e.ts > p.ts + p.dur) continue;
      tally(byKind, kindOf(e), e.dur / 1000, calls);
      inNodes += e.dur / 1000;
    }
    tally(byKind, "other", Math.max(0, p.dur / 1000 - inNodes));
    return { byKind, totalMs: p.dur / 1000, calls };
  });
  const ops = [...new Set(nodes.map((e) => e.args.op_name))].sort();
  const result = {
    lib: `onnxruntime-${threads}t`, threads, net, version: require("onnxruntime-node/package.json").version, runs: out, ops, plainMedianMs: median(plainMs),
    notes: ["session profiling (per-node durations), graph optimisation all; a Conv node includes what the optimiser fused into it (batch norm, ReLU, residual add)"],
  };
  process.stdout.write(`GAP_RESULT ${JSON.stringify(result)}\n`);
} catch (err) {
  console.error(err);
  process.stdout.write(`GAP_RESULT ${JSON.stringify({ lib: `onnxruntime-${threads}t`, net, error: String(err?.message ?? err).split("\n")[0] })}\n`);
  process.exitCode = 1;
}
