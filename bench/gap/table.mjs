/**
 * The inference-gap profile as Markdown: per net, a row per layer kind with
 * each library's median milliseconds, the share of its pass, the GFLOP/s it
 * reached, stride's time over onnxruntime's and PyTorch's, and which part of
 * the gap to onnxruntime (2 threads) each kind accounts for.
 */
import { median } from "../harness.mjs";
import { KINDS } from "./kinds.mjs";

/** Per kind: the median over runs of its milliseconds; and the median of the run totals. */
export function summarise(result) {
  if (!result?.runs?.length) return null;
  const byKind = {};
  for (const [id] of KINDS) {
    const xs = result.runs.map((r) => r.byKind[id] ?? 0);
    if (xs.some((v) => v > 0)) byKind[id] = median(xs);
  }
  return { byKind, totalMs: median(result.runs.map((r) => r.totalMs)), runs: result.runs.length, threads: result.threads, plainMedianMs: result.plainMedianMs };
}

/** The faster of several summaries by total (PyTorch's and stride's "best thread count"). */
export function fastest(...summaries) {
  return summaries.filter(Boolean).reduce((a, b) => (a && a.totalMs <= b.totalMs ? a : b), null);
}

const ms = (v) => (v === undefined ? "—" : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const pct = (v) => (v === undefined || !Number.isFinite(v) ? "—" : `${Math.round(v * 100)}%`);
const ratio = (a, b) => (a === undefined || b === undefined || !(b > 0) ? "—" : `${(a / b).toFixed(2)}×`);
const gflops = (macs, t) => (macs && t ? (2 * macs / (t / 1000) / 1e9).toFixed(1) : "—");

function mdTable(header, rows) {
  return [`| ${header.join(" | ")} |`, `|${header.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

/**
 * One net's table. `s` holds the summaries: stride1, stride2, ort1, ort2,
 * torch (PyTorch at its best thread count); `macs` the multiply-adds per kind.
 */
export function netTable(title, s, macs) {
  const best = fastest(s.stride1, s.stride2);
  const kinds = KINDS.filter(([id]) => [s.stride1, s.stride2, s.ort1, s.ort2, s.torch].some((x) => x?.byKind[id] !== undefined));
  // Shares of the gap only mean something while stride is the slower one.
  const gapTotal = s.stride2 && s.ort2 && s.stride2.totalMs > s.ort2.totalMs ? s.stride2.totalMs - s.ort2.totalMs : undefined;
  const row = (label, pick, macsOf) => {
    const v = (x) => (x ? pick(x) : undefined);
    const m = macsOf;
    const gap = v(s.stride2) !== undefined && gapTotal ? ((v(s.stride2) ?? 0) - (v(s.ort2) ?? 0)) / gapTotal : undefined;
    return [
      label, m ? (2 * m / 1e9).toFixed(2 * m < 1e8 ? 4 : 2) : "",
      ms(v(s.stride1)), ms(v(s.stride2)), ms(v(s.ort1)), ms(v(s.ort2)), ms(v(s.torch)),
      [best, s.ort2, s.torch].map((x) => (x ? pct(v(x) / x.totalMs) : "—")).join(" / "),
      [best, s.ort2, s.torch].map((x) => gflops(m, v(x))).join(" / "),
      ratio(v(s.stride2), v(s.ort2)), ratio(v(best), v(s.torch)),
      gap === undefined ? "—" : pct(gap),
    ];
  };
  const rows = kinds.map(([id, label]) => row(label, (x) => x.byKind[id], macs[id]));
  const totalMacs = Object.values(macs).reduce((a, b) => a + b, 0);
  rows.push(row("**whole pass**", (x) => x.totalMs, totalMacs));
  const th = (x, name) => (x ? `${name} ${x.threads}t` : name);
  const header = [
    "layer kind", "GFLOP", "stride 1t ms", "stride 2t ms", "onnxruntime 1t ms", "onnxruntime 2t ms", `${th(s.torch, "PyTorch")} ms`,
    `share: ${th(best, "stride")} / ort 2t / PyTorch`, `GFLOP/s: ${th(best, "stride")} / ort 2t / PyTorch`,
    "stride 2t ÷ ort 2t", `${th(best, "stride")} ÷ PyTorch`, "of the gap to ort 2t",
  ];
  const plain = [["stride 1t", s.stride1], ["stride 2t", s.stride2], ["onnxruntime 1t", s.ort1], ["onnxruntime 2t", s.ort2], [th(s.torch, "PyTorch"), s.torch]]
    .filter(([, x]) => x?.plainMedianMs !== undefined)
    .map(([n, x]) => `${n} ${ms(x.plainMedianMs)} ms`);
  return [
    `### ${title}`,
    "",
    mdTable(header, rows),
    "",
    ...(plain.length ? [`Passes without the profiling (median; stride and PyTorch alternate them with the profiled ones): ${plain.join(", ")}.`, ""] : []),
  ].join("\n");
}

/** The whole section: the explanation, then one table per net, then the libraries' notes and failures. */
export function gapSection({ nets, runs, failures, notes }) {
  return [
    "Per layer kind, the median over the runs of each kind's milliseconds in one forward pass (batch 1, 224x224), measured by",
    "`bench/profile-gap.mjs`: stride's wasm backend with a clock around every leaf layer; onnxruntime-node's own session profile",
    "(per-node durations of its optimised graph); PyTorch's torch.profiler with a range around every leaf module, at its faster",
    `thread count. ${runs} timed runs after 2 warm-ups; "whole pass" is the median of the run totals, so the rows need not add up to it exactly.`,
    "Each library's fusions stay on: stride and onnxruntime run batch norm and ReLU inside the convolution before them (their time is",
    "in the convolution's row), and onnxruntime also the residual add; PyTorch's eager mode runs each layer on its own.",
    '"other" is everything outside the timed layers (containers, layout reorders, the profilers\' own cost). GFLOP counts 2 x',
    "multiply-adds; ÷ columns are time ratios (above 1: stride is slower); the last column is each kind's part of stride 2t's",
    "total time over onnxruntime 2t's. Profiling costs a little: compare the passes without it under each table.",
    "",
    ...nets.map((n) => n.table),
    ...(notes.length ? ["How each ran:", "", ...notes.map((n) => `- ${n}`), ""] : []),
    ...(failures.length ? ["Not measured:", "", ...failures.map((f) => `- ${f}`), ""] : []),
  ].join("\n");
}
