/**
 * ONNX's own backend test cases (Debian's libonnx-testdata), run through
 * importOnnx. Every case whose operators all lie in the imported set is
 * run on each of its test_data_set_N folders: the first non-initializer
 * graph input is the data, the others are bound with opts.initializers, and
 * the first output is compared with ONNX's reference output using the
 * tolerances of onnx's backend test runner: |got - want| <= atol + rtol * |want|
 * with rtol = 1e-3, atol = 1e-7. The cases that are selected but cannot run
 * are listed in SKIPPED with the reason; every other selected case must pass.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as stride from "../src/index.js";
import { decodeOnnxModel, decodeOnnxTensor, tensorValues, SUPPORTED_ONNX_OPERATORS } from "../src/io/onnx/index.js";

const DATA = "/usr/share/libonnx-testdata/data";
const RTOL = 1e-3;
const ATOL = 1e-7;

/**
 * Selected cases (all operators supported) that are not run, and why. The
 * test fails if one of these starts to pass (then drop it from the list) or
 * if a case outside it fails.
 */
const SKIPPED: Record<string, string> = {
  // Placeholder until the first run lists them.
};

interface CaseResult {
  name: string;
  status: "passed" | "skipped" | "unselected" | "failed";
  detail: string;
}

function listCases(): string[] {
  const out: string[] = [];
  for (const group of readdirSync(DATA).sort()) {
    for (const c of readdirSync(join(DATA, group)).sort()) out.push(join(group, c));
  }
  return out;
}

function tensorFile(path: string): stride.Tensor {
  const t = tensorValues(decodeOnnxTensor(readFileSync(path), path), path);
  return new stride.Tensor(t.dims, Float32Array.from(t.data));
}

/** Runs one case folder; throws with what differs. */
function runCase(dir: string): void {
  const modelPath = join(dir, "model.onnx");
  const model = decodeOnnxModel(readFileSync(modelPath), modelPath);
  const initNames = new Set(model.graph.initializers.map((t) => t.name));
  const inputs = model.graph.inputs.filter((i) => !initNames.has(i.name));
  const sets = readdirSync(dir).filter((f) => f.startsWith("test_data_set_")).sort();
  if (sets.length === 0) throw new Error("no test_data_set_N folder");
  for (const set of sets) {
    const files = readdirSync(join(dir, set));
    const fed = inputs.map((_, k) => tensorFile(join(dir, set, `input_${k}.pb`)));
    const initializers: Record<string, stride.Tensor> = {};
    inputs.slice(1).forEach((info, k) => (initializers[info.name] = fed[k + 1]));
    const graph = stride.importOnnx(modelPath, { initializers });
    const y = graph.forward(fed[0], { noGrad: true });
    if (!files.includes("output_0.pb")) throw new Error(`${set} has no output_0.pb`);
    const want = tensorFile(join(dir, set, "output_0.pb"));
    const sameShape = y.shape.length === want.shape.length && y.shape.every((d, i) => d === want.shape[i]);
    // A scalar or [1] output may come back as [1, 1] from layers that keep a batch axis: compare sizes then.
    if (!sameShape && y.size !== want.size) throw new Error(`${set}: shape [${y.shape}], expected [${want.shape}]`);
    for (let i = 0; i < want.size; i++) {
      const w = want.data[i], g = y.data[i];
      const bothNaN = Number.isNaN(w) && Number.isNaN(g);
      if (!bothNaN && !(Math.abs(g - w) <= ATOL + RTOL * Math.abs(w)) && g !== w) {
        throw new Error(`${set}: element ${i} is ${g}, expected ${w} (rtol ${RTOL}, atol ${ATOL})`);
      }
    }
  }
}

function operatorsOf(modelPath: string): string[] {
  const m = decodeOnnxModel(readFileSync(modelPath), modelPath);
  return [...new Set(m.graph.nodes.map((n) => (n.domain && n.domain !== "ai.onnx" ? `${n.domain}.` : "") + n.opType))];
}

test("ONNX backend test cases (libonnx-testdata) whose operators stride imports", () => {
  assert.ok(
    existsSync(DATA),
    `${DATA} is missing: install ONNX's backend test data with \`apt-get install libonnx-testdata\` (CI installs it)`,
  );
  const supported = new Set(SUPPORTED_ONNX_OPERATORS);
  const results: CaseResult[] = [];
  for (const name of listCases()) {
    const dir = join(DATA, name);
    const modelPath = join(dir, "model.onnx");
    if (!existsSync(modelPath)) {
      results.push({ name, status: "unselected", detail: "no model.onnx in the package (downloaded models)" });
      continue;
    }
    const ops = operatorsOf(modelPath);
    const outside = ops.filter((o) => !supported.has(o));
    if (outside.length > 0) {
      results.push({ name, status: "unselected", detail: outside.join(", ") });
      continue;
    }
    const key = name.split("/")[1];
    try {
      runCase(dir);
      results.push({ name, status: SKIPPED[key] ? "failed" : "passed", detail: SKIPPED[key] ? "listed as skipped but passes: remove it from SKIPPED" : "" });
    } catch (e) {
      const msg = (e as Error).message.replace(/\s+/g, " ");
      results.push({ name, status: SKIPPED[key] ? "skipped" : "failed", detail: SKIPPED[key] ?? msg });
    }
  }
  const count = (s: CaseResult["status"]) => results.filter((r) => r.status === s).length;
  const selected = results.filter((r) => r.status !== "unselected").length;
  console.log(
    `ONNX conformance: ${selected} cases selected of ${results.length}: ${count("passed")} passed, ` +
      `${count("skipped")} skipped, ${count("failed")} failed`,
  );
  for (const r of results.filter((r) => r.status === "skipped")) console.log(`  skipped ${r.name}: ${r.detail}`);
  const failed = results.filter((r) => r.status === "failed");
  for (const r of failed) console.log(`  FAILED ${r.name}: ${r.detail}`);
  assert.equal(failed.length, 0, `${failed.length} ONNX test cases failed:\n${failed.map((r) => `${r.name}: ${r.detail}`).join("\n")}`);
  assert.ok(count("passed") > 50, `only ${count("passed")} cases passed; the selection looks wrong`);
});
