/**
 * stride's side of the inference-gap profile, one process per thread count:
 *   node gap/stride-layers.mjs --net resnet50 --threads 2 --runs 7 [--dist DIR]
 *
 * Times every leaf layer of the zoo's model in a forward pass under noGrad
 * (evaluation mode), by wrapping each leaf's forward with a clock from here:
 * nothing in the library changes. The containers still plan their fusions
 * (src/models/fusion.ts): a layer run inside the one before it (a batch norm
 * and ReLU folded into a convolution, a ReLU into a residual add) is never
 * called, so its time is in the head layer's. What the containers spend
 * between layers (bookkeeping, the step arena) is "other".
 *
 * Prints one line: GAP_RESULT {json}.
 */
import { pathToFileURL } from "node:url";
import { parseArgs, randomFloats, median } from "../harness.mjs";
import { NETS, analyse } from "../workloads.mjs";
import { convKind, tally } from "./kinds.mjs";

const args = parseArgs();
const net = args.net;
const threads = Number(args.threads ?? 1);
const runs = Number(args.runs ?? 7);
const dist = args.dist ? pathToFileURL(args.dist.endsWith("/") ? args.dist : `${args.dist}/`) : new URL("../../dist/src/", import.meta.url);

/** The kind a stride leaf layer's time counts as. */
function kindOf(layer) {
  switch (layer.type) {
    case "Conv2d": {
      const [kH, kW] = layer.kernelSize;
      const [sH, sW] = layer.stride;
      return kH === kW && sH === sW ? convKind(kH, sH) : "convOther";
    }
    case "MaxPool2d": return "maxpool";
    case "AvgPool2d": case "GlobalAvgPool2d": case "AdaptiveAvgPool2d": return "avgpool";
    case "BatchNorm2d": return "bn";
    case "ReLU": return "relu";
    case "Add": return "add";
    case "Linear": return "fc";
    default: return "other";
  }
}

/**
 * Wraps the forward of every leaf layer (an own property shadows the class's
 * method); returns the per-kind clock, which times only while `on`.
 */
function instrument(model) {
  const clock = { on: false, byKind: {}, leafMs: 0, calls: {} };
  const visit = (m) => {
    const kids = m.children();
    if (kids.length) {
      for (const c of kids) visit(c);
      return;
    }
    const kind = kindOf(m);
    const orig = m.forward;
    m.forward = function (...a) {
      if (!clock.on) return orig.apply(this, a);
      const t = performance.now();
      const y = orig.apply(this, a);
      const dt = performance.now() - t;
      tally(clock.byKind, kind, dt, clock.calls);
      clock.leafMs += dt;
      return y;
    };
  };
  visit(model);
  return clock;
}

function zooModel(lib, spec) {
  const opts = { numClasses: spec.classes, inputShape: spec.input };
  if (net === "resnet50") return lib.models.resnet(50, opts);
  if (net === "vgg16") return lib.models.vgg16(opts);
  throw new Error(`--net must be resnet50 or vgg16, got "${net}"`);
}

try {
  const lib = await import(new URL("index.js", dist).href);
  const backend = lib.setBackend("wasm");
  backend.setThreads(threads);
  const spec = NETS[net]();
  const model = zooModel(lib, spec);
  const params = model.params().reduce((s, p) => s + p.value.size, 0);
  const expected = analyse(spec).params;
  // Same check as the main bench: the zoo's net must be the spec's, or the comparison is void.
  if (params !== expected) throw new Error(`the zoo's ${net} has ${params} parameters, the bench's spec ${expected}`);
  const x = new lib.Tensor([1, ...spec.input], randomFloats(spec.input.reduce((p, d) => p * d, 1)));
  const ctx = { training: false, noGrad: true };
  for (let i = 0; i < 2; i++) model.forward(x, ctx); // warm-up: JIT, wasm memory growth, worker start, weight packs
  const clock = instrument(model);
  // Passes with the clocks and without them alternate, so that what the
  // clocks cost shows apart from the drift of a shared machine.
  const plainMs = [];
  const out = [];
  for (let i = 0; i < runs; i++) {
    clock.on = false;
    let t = performance.now();
    model.forward(x, ctx);
    plainMs.push(performance.now() - t);
    clock.on = true;
    clock.byKind = {};
    clock.leafMs = 0;
    clock.calls = {};
    t = performance.now();
    model.forward(x, ctx);
    const total = performance.now() - t;
    tally(clock.byKind, "other", Math.max(0, total - clock.leafMs));
    out.push({ byKind: clock.byKind, totalMs: total, calls: clock.calls });
  }
  const result = {
    lib: `stride-wasm-${threads}t`, threads: backend.threads ?? threads, net, runs: out, plainMedianMs: median(plainMs),
    notes: ["zoo model, forward under noGrad; fused batch norm / ReLU counted in the convolution (or add) that runs them"],
  };
  process.stdout.write(`GAP_RESULT ${JSON.stringify(result)}\n`);
  backend.setThreads(1);
  process.exit(0);
} catch (err) {
  console.error(err);
  process.stdout.write(`GAP_RESULT ${JSON.stringify({ lib: `stride-wasm-${threads}t`, net, error: String(err?.message ?? err).split("\n")[0] })}\n`);
  process.exit(1);
}
