/**
 * Inference with and without the weights kept packed in wasm memory
 * (WasmBackend.keepWeights, src/kernels/wasm/weight-packs.ts), on the same
 * models, inputs and threads, alternating the two settings so that both see
 * the same machine load. Prints ms per image (median of the runs), the ratio,
 * whether the outputs are the same to the bit, and the wasm memory the packs
 * take. Uses the built library: `npm run build` first.
 *
 *   node bench/weight-packs-ab.mjs [--threads 1,2] [--runs 7] [--nets resnet50,vgg16]
 */
import os from "node:os";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: { threads: { type: "string", default: "1,2" }, runs: { type: "string", default: "7" }, nets: { type: "string", default: "resnet50,vgg16" } },
});
const S = await import(new URL("../dist/src/index.js", import.meta.url).href);
const backend = S.setBackend("wasm");
await backend.startThreads();

const builders = { resnet50: () => S.models.resnet(50), vgg16: () => S.models.vgg16(), resnet18: () => S.models.resnet(18) };
const runs = Number(values.runs);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(`weight packs A/B: ${os.cpus()[0].model}, ${os.cpus().length} cores, Node ${process.version}, ${runs} runs each`);
for (const net of values.nets.split(",")) {
  const model = builders[net]();
  const x = new S.Tensor([1, 3, 224, 224], Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.37)));
  for (const threads of values.threads.split(",").map(Number)) {
    backend.setThreads(threads);
    const times = { kept: [], copied: [] };
    const outputs = {};
    const before = backend.rt.residentBytes;
    for (let r = 0; r < runs + 1; r++) {
      for (const mode of ["copied", "kept"]) {
        backend.keepWeights = mode === "kept";
        const t0 = performance.now();
        const y = model.forward(x, { training: false, noGrad: true });
        const ms = performance.now() - t0;
        outputs[mode] = y.data.slice();
        if (r > 0) times[mode].push(ms); // the first run packs (kept) and warms up (both)
      }
    }
    const packMb = (backend.rt.residentBytes - before) / 2 ** 20;
    const same = outputs.kept.every((v, i) => Object.is(v, outputs.copied[i]));
    const a = median(times.copied), b = median(times.kept);
    console.log(
      `${net.padEnd(9)} ${threads}t  copied ${a.toFixed(1)} ms  kept ${b.toFixed(1)} ms  kept/copied ${(b / a).toFixed(2)}  ` +
        `outputs ${same ? "identical" : "DIFFER"}  packs ${packMb.toFixed(0)} MB`,
    );
  }
  model.dispose();
}
process.exit(0);
