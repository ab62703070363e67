/**
 * stride, one backend per process: `node libs/stride.mjs --backend js --workload lenet5-train`.
 * Uses the built library (../dist/src, from `npx tsc -p .` at the repo root).
 * A model from the library's zoo is used when it is there and has exactly the
 * parameters of the bench's spec; otherwise the network is assembled here from
 * the library's layers, so every library runs the same computation.
 */
import { pathToFileURL } from "node:url";
import { runChild, measure, toUnit, randomFloats, randomLabels } from "../harness.mjs";
import { NETS, SGD as SGD_SETTINGS, analyse, iterationFlops, SGEMM_SIZE } from "../workloads.mjs";

/** The built library: ../dist/src, or the snapshot of it that run.mjs passes with --dist. */
let DIST = new URL("../../dist/src/", import.meta.url);

/** What this run took from where, so the report can say so. */
const provenance = [];
/** Names found only in their own built module, not in the index. */
const fromModule = new Map();

async function loadLibrary() {
  let S;
  try {
    S = await import(new URL("index.js", DIST).href);
  } catch (err) {
    throw new Error(`cannot load the built library from ${new URL("index.js", DIST).pathname} (${err.message}); build it first: npx tsc -p . at the repo root`);
  }
  // Pieces not yet exported from the package root are taken from their own
  // built module, and the report names them.
  const wanted = {
    Conv2d: "layers/conv.js", BatchNorm2d: "layers/norm.js", ReLU: "layers/activation.js",
    MaxPool2d: "layers/pool.js", GlobalAvgPool2d: "layers/pool.js", Flatten: "layers/reshape.js",
    Linear: "layers/dense.js", Sequential: "models/sequential.js", softmaxCrossEntropy: "layers/loss.js",
    SGD: "train/optimizers.js",
  };
  const lib = { ...S };
  for (const [name, file] of Object.entries(wanted)) {
    if (lib[name]) continue;
    try {
      const m = await import(new URL(file, DIST).href);
      if (m[name]) {
        lib[name] = m[name];
        fromModule.set(name, file);
      }
    } catch {
      // left missing; checked where it is needed
    }
  }
  return lib;
}

function need(lib, name) {
  if (!lib[name]) throw new Error(`stride does not provide ${name} yet (neither exported from the index nor built in dist/src)`);
  if (fromModule.has(name)) {
    provenance.push(`${name} from dist/src/${fromModule.get(name)} (not exported from the index yet)`);
    fromModule.delete(name);
  }
  return lib[name];
}

/** Output = body(x) + shortcut(x): the residual block, built from the library's Layer base class. */
function residualClass(lib) {
  const Sequential = need(lib, "Sequential");
  const { Tensor } = lib;
  return class Residual extends lib.Layer {
    constructor(body, shortcut) {
      super(undefined, "residual");
      this.type = "Residual";
      this.body = new Sequential(body);
      this.shortcut = shortcut.length ? new Sequential(shortcut) : null;
    }
    get namePrefix() { return "res"; }
    config() { return {}; }
    children() { return this.shortcut ? [this.body, this.shortcut] : [this.body]; }
    params() { return this.children().flatMap((c) => c.params()); }
    shapeInfo(shape, opts) { return this.body.shapeInfo(shape, opts); }
    forward(x, ctx) {
      const a = this.body.forward(x, ctx);
      const b = this.shortcut ? this.shortcut.forward(x, ctx) : x;
      const y = new Tensor(a.shape, a.data.slice());
      const yd = y.data, bd = b.data;
      for (let i = 0; i < yd.length; i++) yd[i] += bd[i];
      return y;
    }
    backward(dy) {
      const dx = this.body.backward(dy);
      const ds = this.shortcut ? this.shortcut.backward(dy) : dy;
      const out = new Tensor(dx.shape, dx.data.slice());
      const od = out.data, sd = ds.data;
      for (let i = 0; i < od.length; i++) od[i] += sd[i];
      return out;
    }
    release() { for (const c of this.children()) c.release(); }
  };
}

/** Builds a spec (workloads.mjs) out of stride layers. */
function buildFromSpec(lib, spec) {
  const Residual = residualClass(lib);
  function build(layers, shape) {
    let [c, h, w] = shape;
    const out = [];
    for (const l of layers) {
      switch (l.type) {
        case "conv":
          out.push(new (need(lib, "Conv2d"))({ inChannels: c, outChannels: l.out, kernelSize: l.k, stride: l.stride, padding: l.pad, bias: l.bias }));
          h = Math.floor((h + 2 * l.pad - l.k) / l.stride) + 1;
          w = Math.floor((w + 2 * l.pad - l.k) / l.stride) + 1;
          c = l.out;
          break;
        case "bn": out.push(new (need(lib, "BatchNorm2d"))({ numFeatures: c })); break;
        case "relu": out.push(new (need(lib, "ReLU"))()); break;
        case "maxpool":
          out.push(new (need(lib, "MaxPool2d"))({ kernelSize: l.k, stride: l.stride, padding: l.pad }));
          h = Math.floor((h + 2 * l.pad - l.k) / l.stride) + 1;
          w = Math.floor((w + 2 * l.pad - l.k) / l.stride) + 1;
          break;
        case "gap": out.push(new (need(lib, "GlobalAvgPool2d"))()); h = w = 1; break;
        case "flatten": out.push(new (need(lib, "Flatten"))()); [c, h, w] = [c * h * w, 1, 1]; break;
        case "fc": out.push(new (need(lib, "Linear"))({ inFeatures: c, outFeatures: l.out })); c = l.out; break;
        case "residual": {
          const body = build(l.body, [c, h, w]);
          const shortcut = build(l.shortcut, [c, h, w]);
          out.push(new Residual(body.layers, shortcut.layers));
          [c, h, w] = body.shape;
          break;
        }
        default: throw new Error(`spec: unknown layer type "${l.type}"`);
      }
    }
    return { layers: out, shape: [c, h, w] };
  }
  return new (need(lib, "Sequential"))(build(spec.layers, spec.input).layers);
}

/** The zoo's model for a net, when the zoo has it (its call forms are tried in turn). */
function zooModel(lib, net, spec) {
  const zoo = lib.models;
  if (!zoo) return null;
  const opts = { numClasses: spec.classes, inputShape: spec.input };
  const attempts = {
    lenet5: [() => zoo.lenet5({ ...opts, c3: "full", activation: "relu", pooling: "max" })],
    resnet20: [() => zoo.resnetCifar(20, { ...opts, shortcut: "B" })],
    vgg16: [() => zoo.vgg16(opts)],
    resnet50: [() => zoo.resnet(50, opts)],
  }[net] ?? [];
  for (const make of attempts) {
    try {
      const m = make();
      if (m && typeof m.forward === "function") return m;
    } catch {
      // try the next call form
    }
  }
  return null;
}

function countParams(model) {
  return model.params().reduce((s, p) => s + p.value.size, 0);
}

function buildModel(lib, net) {
  const spec = NETS[net]();
  const expected = analyse(spec).params;
  const zoo = zooModel(lib, net, spec);
  if (zoo) {
    const got = countParams(zoo);
    if (got === expected) return { model: zoo, note: `${net} from the zoo (models.${{ resnet20: "resnetCifar", resnet50: "resnet" }[net] ?? net})` };
    provenance.push(`the zoo's ${net} has ${got} parameters, the bench's spec ${expected}: built from layers instead`);
  }
  return { model: buildFromSpec(lib, spec), note: `${net} built from stride's layers` };
}

/** The library's SGD when it has one; otherwise PyTorch's momentum rule, written here. */
function makeOptimizer(lib, params) {
  const { lr, momentum } = SGD_SETTINGS;
  if (lib.SGD) {
    const opt = new (need(lib, "SGD"))(params, { lr, momentum });
    return { zeroGrad: () => opt.zeroGrad(), step: () => opt.step(), name: "stride SGD" };
  }
  provenance.push("SGD with momentum written in the bench (the library exports no optimiser yet)");
  const velocity = params.map((p) => new Float32Array(p.value.size));
  return {
    name: "bench SGD",
    zeroGrad: () => { for (const p of params) p.grad.data.fill(0); },
    step: () => {
      params.forEach((p, k) => {
        const v = velocity[k], w = p.value.data, g = p.grad.data;
        for (let i = 0; i < w.length; i++) {
          v[i] = momentum * v[i] + g[i];
          w[i] -= lr * v[i];
        }
      });
    },
  };
}

const libId = (args) => `stride-${args.backend ?? "js"}${args.threads ? `-${args.threads}t` : ""}`;

await runChild(libId, async (w, timing, args) => {
  if (args.dist) DIST = pathToFileURL(args.dist.endsWith("/") ? args.dist : `${args.dist}/`);
  const lib = await loadLibrary();
  const backendName = args.backend ?? "js";
  const backend = lib.setBackend(backendName);
  if (args.threads !== undefined) {
    if (typeof backend.setThreads !== "function") throw new Error(`the ${backendName} backend has no setThreads(); run it without --threads`);
    backend.setThreads(Number(args.threads));
  }
  const threads = backend.threads ?? 1;
  const version = JSON.parse(await (await import("node:fs/promises")).readFile(new URL("../../package.json", import.meta.url), "utf8")).version;
  const base = { lib: libId(args), version, threads };
  const flops = iterationFlops(w);
  let step;
  let how = "";
  let params;

  if (w.kind === "sgemm") {
    const n = SGEMM_SIZE;
    const a = randomFloats(n * n, 1), b = randomFloats(n * n, 2), c = new Float32Array(n * n);
    step = () => lib.getBackend().matmul(a, b, c, n, n, n);
    how = "backend.matmul";
  } else {
    const spec = NETS[w.net]();
    const { model, note } = buildModel(lib, w.net);
    how = note;
    params = countParams(model);
    const x = new lib.Tensor([w.batch, ...spec.input], randomFloats(w.batch * spec.input.reduce((p, d) => p * d, 1)));
    if (w.kind === "infer") {
      step = () => model.forward(x, { training: false, noGrad: true });
    } else {
      const loss = need(lib, "softmaxCrossEntropy");
      const labels = randomLabels(w.batch, spec.classes);
      const opt = makeOptimizer(lib, model.params());
      provenance.push(opt.name);
      step = () => {
        opt.zeroGrad();
        // inputGrad: false, as fit() does: nobody needs the gradient w.r.t. the images (PyTorch: x.requires_grad is False).
        const logits = model.forward(x, { training: true, inputGrad: false });
        const { grad } = loss(logits, labels);
        model.backward(grad);
        opt.step();
      };
    }
  }
  const m = await measure(step, timing);
  const notes = [how, ...provenance].filter(Boolean);
  if (m.status !== "ok") return { ...base, ...m, params, details: notes };
  return {
    ...base, status: "ok", params, unit: w.unit, value: toUnit(w, m.median, flops),
    runs: m.secPerIter.length, itersPerRun: m.itersPerRun, coldSec: m.coldSec, details: notes,
  };
});
