/**
 * The browser entry (package.json's default condition) must bundle anywhere:
 * nothing it reaches may import a Node built-in or a Node-only package, and
 * it must keep the core's names. The Node entry must keep every name it had.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { externalImports } from "./helpers/import-graph.js";

const dist = (p: string) => fileURLToPath(new URL(`../src/${p}`, import.meta.url));
const pkg = JSON.parse(readFileSync(fileURLToPath(new URL("../../package.json", import.meta.url)), "utf8"));

test("the browser entry reaches no node: module and no Node-only package", () => {
  const reached = externalImports(dist("browser.js"));
  // Pure-JS packages that bundle for the browser.
  const allowed = new Set(["fflate", "protobufjs/light.js"]);
  const bad = [...reached].filter(([spec]) => !allowed.has(spec));
  assert.deepEqual(
    bad.map(([spec, chain]) => `${spec} <- ${chain.map((f) => f.replace(/.*dist\/src\//, "")).join(" > ")}`),
    [],
    "move the file, terminal or process code to src/node/ (the Node entry) and pass what the core needs in",
  );
});

test("package.json maps stride to the browser entry by default and to the Node entry in Node", () => {
  const root = pkg.exports["."];
  assert.equal(root.node.default, "./dist/src/index.js");
  assert.equal(root.default.default, "./dist/src/browser.js");
  for (const spec of Object.keys(pkg.dependencies)) {
    assert.ok(spec !== "mnist", "mnist (41 MB) is for the CLI and the app, not a dependency of the library");
  }
});

test("the Node entry has every name of the browser entry, and the file functions", async () => {
  const node = await import(dist("index.js"));
  const browser = await import(dist("browser.js"));
  for (const name of Object.keys(browser)) {
    if (name === "loadWeights" || name === "importOnnx") continue; // the Node forms also take paths
    assert.equal(node[name], browser[name], `${name} differs between the entries`);
  }
  for (const name of ["saveModel", "loadModel", "loadSafetensors", "loadTorchCheckpoint", "loadImageFolder", "loadMnistDigits", "saveBest", "loadCheckpoint"]) {
    assert.equal(typeof node[name], "function", `the Node entry lacks ${name}`);
    assert.equal(browser[name], undefined, `the browser entry exports the file function ${name}`);
  }
});

test("the browser entry's path-taking functions say what to pass instead", async () => {
  const browser = await import(dist("browser.js"));
  const model = new browser.Sequential([new browser.Linear({ inFeatures: 2, outFeatures: 2 })]);
  assert.throws(() => browser.loadWeights(model, "w.safetensors"), /needs Node .* decodeSafetensors\(bytes\)/);
  assert.throws(() => browser.importOnnx("m.onnx"), /needs Node .* pass the file's bytes/);
});
