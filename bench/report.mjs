/**
 * Turns the cells of a bench run into the report: the table of medians, the
 * ratios of stride's best backend to every other library, the libraries with
 * their versions and threads, the machine, and how it was measured. The same
 * Markdown is printed and written to BENCHMARKS.md.
 */
import { machineLines } from "./machine.mjs";

const LIBRARY_NAMES = {
  "tfjs-cpu": "@tensorflow/tfjs-backend-cpu",
  "tfjs-wasm": "@tensorflow/tfjs-backend-wasm",
  convnetjs: "convnetjs",
  "onnxruntime-1t": "onnxruntime-node",
  "onnxruntime-2t": "onnxruntime-node",
  "pytorch-1t": "PyTorch",
  "pytorch-2t": "PyTorch",
};

export function formatValue(v) {
  if (v >= 1000) return Math.round(v).toLocaleString("en-US");
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** Higher is better for rates, lower for milliseconds; returns how many times faster a is than b. */
function speedup(unit, a, b) {
  return unit === "ms" ? b / a : a / b;
}

/** A Markdown table; numbers are right-aligned unless `left` (a text table). */
function table(header, rows, left = false) {
  const lines = [`| ${header.join(" | ")} |`, `|${header.map((_, i) => (i === 0 || left ? "---" : "---:")).join("|")}|`];
  for (const r of rows) lines.push(`| ${r.join(" | ")} |`);
  return lines.join("\n");
}

export function renderReport({ machine, cells, libs, workloads, torch, strideBackends, elapsedMin, options, nets, strideCommit, gap, sweep }) {
  const cellOf = (lib, w) => cells.find((c) => c.lib === lib && c.workload === w);
  const strideLibs = libs.filter((l) => l.stride).map((l) => l.id);
  const others = libs.filter((l) => !l.stride).map((l) => l.id);

  // Footnotes: one per distinct reason, listing the libraries it applies to.
  const notes = [];
  function footnote(lib, text) {
    let n = notes.find((x) => x.text === text);
    if (!n) notes.push((n = { text, libs: new Set() }));
    n.libs.add(lib);
    return `[${notes.indexOf(n) + 1}]`;
  }
  const label = { unsupported: "n/a", unavailable: "not run", skipped: "skipped", error: "error" };

  /** With several rounds, every round's value of each cell, in the order measured: how far the machine moved them. */
  function roundsSection() {
    if (!(options.rounds > 1)) return [];
    const shown = libs.filter((l) => cells.some((c) => c.lib === l.id && c.roundValues));
    const rows = workloads.map((w) => [w.title, ...shown.map((l) => cellOf(l.id, w.id)?.roundValues?.map(formatValue).join(" / ") ?? "")]);
    return [
      "## Each round",
      "",
      `Every cell measured in ${options.rounds} rounds (the libraries' order reversed every other round); the tables above use each cell's median round.`,
      "",
      table(["workload", ...shown.map((l) => l.id)], rows),
      "",
    ];
  }

  const medianRows = workloads.map((w) => [
    `${w.title} (${w.unit})`,
    ...libs.map((l) => {
      const c = cellOf(l.id, w.id);
      if (!c) return "";
      if (c.status === "ok") return formatValue(c.value) + (c.runs < 3 ? "†" : "");
      return `${label[c.status] ?? c.status} ${footnote(l.id, c.note ?? "no reason given")}`;
    }),
  ]);

  const ratioRows = workloads.map((w) => {
    const mine = strideLibs.map((id) => cellOf(id, w.id)).filter((c) => c?.status === "ok");
    const best = mine.reduce((a, b) => (a && speedup(w.unit, a.value, b.value) >= 1 ? a : b), null);
    return [
      w.title,
      best ? `${best.lib.replace("stride-", "")} (${formatValue(best.value)} ${w.unit})` : "—",
      ...others.map((id) => {
        const c = cellOf(id, w.id);
        if (!best || c?.status !== "ok") return "—";
        const r = speedup(w.unit, best.value, c.value);
        return `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toFixed(2)}×`;
      }),
    ];
  });

  const libRows = libs.map((l) => {
    const withVersion = cells.find((c) => c.lib === l.id && c.version);
    const threads = [...new Set(cells.filter((c) => c.lib === l.id && c.threads !== undefined).map((c) => c.threads))];
    let name = l.stride ? `stride (backend ${l.id.replace("stride-", "").replace(/-\d+t$/, "")})` : LIBRARY_NAMES[l.id] ?? l.id;
    let version = withVersion?.version ?? "";
    if (l.id.startsWith("pytorch") && torch) version = `${torch.version} (Debian python3-torch ${torch.debian ?? "?"})`;
    if (l.id === "tfjs-cpu" || l.id === "tfjs-wasm") name += " + tfjs-core";
    const details = [...new Set(cells.filter((c) => c.lib === l.id).flatMap((c) => c.details ?? []))];
    return [l.id, name, version || (l.unavailable ? "not installed" : ""), threads.join(", ") || "", details.join("; ")];
  });

  const netRows = Object.entries(nets).map(([name, a]) => [
    name, a.params.toLocaleString("en-US"), (a.flops / 1e9).toFixed(a.flops < 1e8 ? 4 : 2),
  ]);

  const tables = [
    "## Medians",
    "",
    "Training and batched inference in images/s (higher is better), single-image inference in ms per image (lower is better), sgemm in GFLOP/s.",
    "† fewer than 3 timed runs (a long iteration: see Method).",
    "",
    table(["workload", ...libs.map((l) => l.id)], medianRows),
    "",
    "## stride against each library",
    "",
    "How many times faster stride's best backend is than the library on the same workload (above 1: stride is faster; below 1: slower).",
    "",
    table(["workload", "stride best", ...others], ratioRows),
    "",
    ...(notes.length ? ["Notes on the cells:", "", ...notes.map((n, i) => `${i + 1}. ${[...n.libs].join(", ")}: ${n.text}`), ""] : []),
    ...roundsSection(),
    ...(sweep ? ["## stride's sgemm from 128 to 2048", "", sweep, ""] : []),
    ...(gap ? ["## Where the inference gap goes", "", gap] : []),
  ].join("\n");

  const markdown = [
    "# Benchmarks",
    "",
    "stride next to other CNN libraries, all measured in one run on one machine by `bench/run.mjs`",
    `(\`npm run build && cd bench && npm ci && node run.mjs${options.rounds > 1 ? ` --rounds ${options.rounds}` : ""}\`). This file is written by that run; do not edit it by hand.`,
    "",
    "## Machine",
    "",
    ...machineLines(machine, elapsedMin),
    "",
    tables,
    "## Libraries",
    "",
    table(["id", "library", "version", "threads", "how it ran"], libRows, true),
    "",
    `stride backends found by \`listBackends()\`: ${strideBackends.join(", ")}. Each is measured (a backend with \`setThreads\` at every thread count up to the cores);` +
      ` the ratios use the best one per workload. The build measured is dist/src as built from the work tree${strideCommit ? ` at commit ${strideCommit}` : ""}, copied aside when the run started.`,
    "",
    "Not included: `@tensorflow/tfjs-node`, whose install downloads libtensorflow from outside the npm registry (it cannot install here).",
    "`onnxruntime-node` is installed with its postinstall told to download nothing (`bench/.npmrc`: `onnxruntime-node-install=skip`,",
    "which npm hands to it as `npm_config_onnxruntime_node_install`); the CPU binaries it uses ship inside its npm package.",
    ...(torch?.blas ? [`PyTorch's \`torch.mm\` and \`nn.Linear\` run on the BLAS Debian links it to (\`${torch.blas}\`); its convolutions mostly use oneDNN.` +
      " On one thread, PyTorch 1.13 sends unstrided 1x1 convolutions of batches under 16 to im2col + that BLAS instead of oneDNN" +
      " (ATen's `use_mkldnn` rule asks for more than one thread there), which is why its 1-thread ResNet-50 is far slower than its 2-thread one."] : []),
    // Debian's default libblas.so.3 is the unoptimised reference BLAS: PyTorch's sgemm column would measure that, not PyTorch.
    ...(torch?.blas && !/openblas|blis|mkl/i.test(torch.blas) ? ["**Warning:** that BLAS is not an optimised one, so PyTorch's sgemm and" +
      " fully-connected numbers here understate it; `apt-get install libopenblas0-pthread` and run the bench again."] : []),
    ...(torch ? ["PyTorch runs with `OMP_WAIT_POLICY=passive`: with libgomp's default spin-waiting, its 2-thread runs collapsed (10x and worse) whenever another process held a core."] : []),
    "",
    "## Networks",
    "",
    "Every library builds the same network from one spec (`bench/workloads.mjs`); float32 everywhere except ConvNetJS (float64 only), random data, random labels.",
    "",
    table(["net", "parameters", "forward GFLOP per image"], netRows),
    "",
    "- lenet5: conv6 5x5 pad 2, ReLU, max-pool 2, conv16 5x5, ReLU, max-pool 2, fc120, ReLU, fc84, ReLU, fc10 (input 1x28x28).",
    "- cifarDemo: ConvNetJS's CIFAR-10 demo: conv16 5x5 pad 2, ReLU, pool 2; conv20 5x5 pad 2, ReLU, pool 2; conv20 5x5 pad 2, ReLU, pool 2; fc10 (input 3x32x32).",
    "- resnet20: He et al. 2015 CIFAR ResNet, 3x3 basic blocks at 16/32/64 channels, batch norm; shortcuts option B (identity, or a 1x1 stride-2 conv + batch norm where the shape changes).",
    "- vgg16: configuration D, 224x224. resnet50: bottleneck blocks, stride on the 3x3 conv (as torchvision), projection shortcuts where the shape changes.",
    "",
    "## Method",
    "",
    "- Training = forward + softmax cross-entropy + backward + SGD update (lr 0.01, momentum 0.9) at batch 64. Inference = forward in evaluation mode without gradients.",
    "- Cells run workload by workload, every library in turn, so that the libraries compared on one workload are measured minutes apart, not a whole run apart" +
      (options.rounds > 1 ? `; this run measured every cell in ${options.rounds} rounds, the libraries' order reversed every other round, and each cell shows its median round (of an even count, the lower of the middle two).` : "."),
    "- Each cell (library x workload) runs in its own child process, one at a time. One cold iteration first (warm-up, and it measures how long an iteration takes),",
    `  then a second warm-up and up to 7 timed runs of several iterations within about ${options.budget} s; the table shows the median run.`,
    `  An iteration longer than ${options.budget / 4} s gets up to 3 runs of one iteration within ${options.longBudget} s;`,
    `  one longer than ${options.maxIter} s is not repeated: the cell says how long the 3-run median would take.`,
    `  Before starting a workload, the library's speed (effective GFLOP/s) on the previous workload of the same kind predicts its time;`,
    `  a predicted iteration over ${options.estimateSkip} s is skipped with that estimate, and a child still running after ${options.timeout} s is stopped.`,
    "- PyTorch runs through `bench/torch_bench.py` (`/usr/bin/python3`, `torch.set_num_threads`). The ONNX models for onnxruntime are exported",
    "  from PyTorch at bench time into a temporary directory, and deleted afterwards.",
    "",
  ].join("\n");

  return { markdown, terminal: tables };
}
