/**
 * ConvNetJS: `node libs/convnetjs.mjs --workload ID`. It has no batch axis:
 * an iteration of batch 64 is 64 single-example passes, and its SGDTrainer
 * (momentum, batch_size 64) updates once per 64 examples, which is the same
 * training step as the other libraries'. It computes in float64 (it has no
 * float32 mode), has no batch norm and no residual sum, and no matrix
 * multiply outside its layers.
 */
import { createRequire } from "node:module";
import { runChild, measure, toUnit, randomFloats, randomLabels } from "../harness.mjs";
import { NETS, SGD as SGD_SETTINGS, iterationFlops } from "../workloads.mjs";

const require = createRequire(import.meta.url);
const convnetjs = require("convnetjs");

/** ConvNetJS's layer definitions for a spec, or the reason it cannot express it. */
function layerDefs(spec) {
  const [c, h, w] = spec.input;
  const defs = [{ type: "input", out_sx: w, out_sy: h, out_depth: c }];
  const layers = spec.layers;
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i];
    const last = i === layers.length - 1;
    switch (l.type) {
      case "conv":
        // ConvNetJS always has a bias; its conv `activation: "relu"` appends a ReLU layer.
        defs.push({ type: "conv", sx: l.k, filters: l.out, stride: l.stride, pad: l.pad });
        break;
      case "relu": defs.push({ type: "relu" }); break;
      case "maxpool": defs.push({ type: "pool", sx: l.k, stride: l.stride, pad: l.pad }); break;
      case "flatten": break; // its fully-connected layer takes any volume
      case "fc":
        // The last one, with the loss, is its softmax layer (which brings its own fully-connected layer).
        defs.push(last ? { type: "softmax", num_classes: l.out } : { type: "fc", num_neurons: l.out });
        break;
      case "bn": return { unsupported: "has no batch normalisation layer" };
      case "residual": return { unsupported: "has no residual (sum) connection" };
      case "gap": return { unsupported: "has no global average pooling" };
      default: throw new Error(`spec: unknown layer type "${l.type}"`);
    }
  }
  return { defs };
}

await runChild("convnetjs", async (w, timing) => {
  const version = require("convnetjs/package.json").version;
  const base = { lib: "convnetjs", version, threads: 1 };
  if (w.kind === "sgemm") return { ...base, status: "unsupported", note: "has no matrix-multiply operation outside its layers" };
  const spec = NETS[w.net]();
  const { defs, unsupported } = layerDefs(spec);
  if (unsupported) return { ...base, status: "unsupported", note: unsupported };

  const net = new convnetjs.Net();
  net.makeLayers(defs);
  const params = net.getParamsAndGrads().reduce((n, pg) => n + pg.params.length, 0);
  const [c, h, wd] = spec.input;
  const per = c * h * wd;
  const data = randomFloats(w.batch * per);
  const examples = Array.from({ length: w.batch }, (_, i) => {
    const v = new convnetjs.Vol(wd, h, c, 0.0);
    for (let j = 0; j < per; j++) v.w[j] = data[i * per + j];
    return v;
  });
  let step;
  if (w.kind === "infer") {
    step = () => { for (const v of examples) net.forward(v, false); };
  } else {
    const labels = randomLabels(w.batch, spec.classes);
    const trainer = new convnetjs.SGDTrainer(net, {
      method: "sgd", learning_rate: SGD_SETTINGS.lr, momentum: SGD_SETTINGS.momentum, batch_size: w.batch, l2_decay: 0,
    });
    step = () => { examples.forEach((v, i) => trainer.train(v, labels[i])); };
  }
  const m = await measure(step, timing);
  const details = ["float64, one example at a time"];
  if (m.status !== "ok") return { ...base, ...m, params, details };
  return {
    ...base, status: "ok", params, unit: w.unit, value: toUnit(w, m.median, iterationFlops(w)),
    runs: m.secPerIter.length, itersPerRun: m.itersPerRun, coldSec: m.coldSec, details,
  };
});
