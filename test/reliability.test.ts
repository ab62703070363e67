// Bounded loading: a damaged or hostile file is refused before anything
// allocates what it claims. Each case checks the typed error and that memory
// stayed small (a generous bound: the unbounded readers grew by gigabytes).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as s from "../src/index.js";

const MB = 2 ** 20;

function rssGrowth<T>(fn: () => T): { result: T; growth: number } {
  const before = process.memoryUsage().rss;
  const result = fn();
  return { result, growth: process.memoryUsage().rss - before };
}

/** A small saved model with a BatchNorm2d named bn1, and its model.json as an object to edit. */
function smallModel(): { json: any; weights: Uint8Array } {
  const model = new s.Sequential([
    new s.Conv2d({ inChannels: 1, outChannels: 4, kernelSize: 3, name: "conv1" }),
    new s.BatchNorm2d({ numFeatures: 4, name: "bn1" }),
    new s.ReLU(),
    new s.Flatten(),
    new s.Linear({ inFeatures: 4 * 6 * 6, outFeatures: 3, name: "fc" }),
  ]);
  const enc = s.encodeModel(model, { inputShape: [1, 8, 8] });
  return { json: JSON.parse(enc.json), weights: enc.weights };
}

function layer(json: any, name: string): any {
  return json.topology.layers.find((l: any) => l.name === name);
}

test("an untouched model still loads, with its weights", () => {
  const { json, weights } = smallModel();
  const { model, info } = s.decodeModel(JSON.stringify(json), weights);
  assert.deepEqual(info.inputShape, [1, 8, 8]);
  const again = s.encodeModel(model, info);
  assert.deepEqual(again.weights, weights);
});

test("model.json asking BatchNorm2d for 2^32 features is refused before allocating", () => {
  const { json, weights } = smallModel();
  layer(json, "bn1").config.numFeatures = 2 ** 32;
  const { growth } = rssGrowth(() =>
    assert.throws(() => s.decodeModel(JSON.stringify(json), weights), (e: Error) => {
      assert.ok(e instanceof s.ModelFileError, e.message);
      assert.match(e.message, /model\.json/);
      assert.match(e.message, /bn1/);
      assert.match(e.message, /BatchNorm2d/);
      assert.match(e.message, /4294967296/);
      assert.match(e.message, /more than weights\.safetensors holds/);
      return true;
    }),
  );
  assert.ok(growth < 500 * MB, `rss grew by ${(growth / MB).toFixed(0)} MB`);
});

test("model.json asking a Linear for 40000x40000 is refused before allocating", () => {
  const { json, weights } = smallModel();
  Object.assign(layer(json, "fc").config, { inFeatures: 40000, outFeatures: 40000 });
  const { growth } = rssGrowth(() =>
    assert.throws(() => s.decodeModel(JSON.stringify(json), weights), (e: Error) => {
      assert.ok(e instanceof s.ModelFileError, e.message);
      assert.match(e.message, /fc: cannot rebuild the Linear: asks for a tensor of shape \[40000, 40000\]/);
      return true;
    }),
  );
  assert.ok(growth < 500 * MB, `rss grew by ${(growth / MB).toFixed(0)} MB`);
});

test("a huge inputShape is refused, and maxInputElements raises the limit", () => {
  const { json, weights } = smallModel();
  json.inputShape = [3, 100000, 100000];
  assert.throws(() => s.decodeModel(JSON.stringify(json), weights), (e: Error) => {
    assert.ok(e instanceof s.ModelFileError, e.message);
    assert.match(e.message, /"inputShape" \[3, 100000, 100000\] describes 30000000000 values per example, more than the limit of 67108864/);
    assert.match(e.message, /maxInputElements/);
    return true;
  });
  json.inputShape = [1, 10000, 10000];
  assert.throws(() => s.decodeModel(JSON.stringify(json), weights), s.ModelFileError);
  const { info } = s.decodeModel(JSON.stringify(json), weights, "model", { maxInputElements: 10000 * 10000 });
  assert.deepEqual(info.inputShape, [1, 10000, 10000]);
});

test("loading does not draw random initial weights (the file's values replace them)", () => {
  const { json, weights } = smallModel();
  s.manualSeed(7);
  const first = s.globalRng.uniform(0, 1);
  s.manualSeed(7);
  const { model } = s.decodeModel(JSON.stringify(json), weights);
  // Initialisation would have advanced the global generator.
  assert.equal(s.globalRng.uniform(0, 1), first);
  assert.deepEqual(s.encodeModel(model).weights, weights);
});
