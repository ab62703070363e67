/** Ensembles: averaged probabilities, per-member normalisation and weights, evaluation against hand-computed numbers. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as s from "../src/index.js";
import { createDataset } from "../src/data/dataset.js";
import { evaluate } from "../src/train/trainer.js";
import { ensembleProbabilities, predictEnsemble, evaluateEnsemble } from "../src/train/ensemble.js";

/** A linear model on [3, 1, 1] inputs whose logits are W x + b with the given numbers. */
function linear(weights: number[][], bias = [0, 0, 0]): s.Sequential {
  const fc = new s.Linear({ inFeatures: 3, outFeatures: weights.length });
  fc.weight.value.data.set(weights.flat());
  fc.bias!.value.data.set(bias.slice(0, weights.length));
  return new s.Sequential([new s.Flatten(), fc]);
}

const identity = () => linear([[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
const reversed = () => linear([[0, 0, 2], [0, 2, 0], [2, 0, 0]]);

function softmaxRow(z: number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `element ${i}: ${a[i]} vs ${b[i]}`);
};

test("the ensemble's probabilities are the mean of its members' softmax outputs", () => {
  const rows = [[1, 0.5, -1], [0, 2, 0.25]];
  const x = new s.Tensor([2, 3, 1, 1], rows.flat());
  const p = ensembleProbabilities([identity(), reversed()], x);
  assert.deepEqual(p.shape, [2, 3]);
  const expected = rows.flatMap((r) => {
    const a = softmaxRow(r);
    const b = softmaxRow([2 * r[2], 2 * r[1], 2 * r[0]]);
    return a.map((v, j) => (v + b[j]) / 2);
  });
  close(p.data, expected);
  // Each row is a distribution.
  close([p.data[0] + p.data[1] + p.data[2], p.data[3] + p.data[4] + p.data[5]], [1, 1]);
});

test("weights and per-member normalisation are applied member by member", () => {
  const r = [0.2, 0.9, 0.4];
  const x = new s.Tensor([3, 1, 1], r); // one example [C, H, W]
  const norm = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
  const p = ensembleProbabilities([{ model: identity(), weight: 3 }, { model: reversed(), normalize: norm, weight: 1 }], x);
  const a = softmaxRow(r);
  const z = r.map((v) => (v - 0.5) / 0.25);
  const b = softmaxRow([2 * z[2], 2 * z[1], 2 * z[0]]);
  close(p.data, a.map((v, j) => 0.75 * v + 0.25 * b[j]));
  // The caller's tensor is not normalised in place.
  assert.deepEqual(Array.from(x.data), Array.from(Float32Array.from(r)));
});

test("predictEnsemble gives the top-k labels of the averaged probabilities, best first", () => {
  const x = new s.Tensor([1, 3, 1, 1], [3, 0, 1]);
  const [top] = predictEnsemble([identity(), reversed()], x, { classes: ["a", "b", "c"], k: 2 });
  // identity says a (3), reversed says c (2*3): averaged, c wins narrowly over a.
  const probs = softmaxRow([3, 0, 1]).map((v, j) => (v + softmaxRow([2, 0, 6])[j]) / 2);
  const order = [0, 1, 2].sort((i, j) => probs[j] - probs[i]);
  assert.deepEqual(top.map((t) => t.label), order.slice(0, 2).map((i) => ["a", "b", "c"][i]));
  close(top.map((t) => t.probability), order.slice(0, 2).map((i) => probs[i]));
});

test("evaluateEnsemble: accuracy, loss and confusion of the averaged probabilities, and each member's own accuracy", () => {
  // Six examples; the members disagree on some of them.
  const rows = [[3, 0, 0], [0, 3, 0], [0, 0, 3], [1, 0, 1.2], [2, 0, 0.1], [0.2, 0.1, 0]];
  const labels = [0, 1, 2, 0, 2, 0];
  const data = createDataset({
    name: "six", images: Float32Array.from(rows.flat()), labels: Int32Array.from(labels), shape: [3, 1, 1], classes: ["a", "b", "c"],
  });
  const members = [identity(), reversed()];
  const r = evaluateEnsemble(members, data, { batchSize: 4, k: 2 });
  // The same numbers computed here from the definition.
  let hits = 0, logs = 0;
  const confusion = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  rows.forEach((row, i) => {
    const p = softmaxRow(row).map((v, j) => (v + softmaxRow([2 * row[2], 2 * row[1], 2 * row[0]])[j]) / 2);
    const best = p.indexOf(Math.max(...p));
    if (best === labels[i]) hits++;
    confusion[labels[i]][best]++;
    logs += Math.log(p[labels[i]]);
  });
  assert.equal(r.count, 6);
  assert.equal(r.accuracy, hits / 6);
  assert.ok(Math.abs(r.loss - -logs / 6) < 1e-6, `loss ${r.loss} vs ${-logs / 6}`);
  assert.deepEqual(r.confusion, confusion);
  assert.deepEqual(r.classes, ["a", "b", "c"]);
  assert.deepEqual(r.memberAccuracies, members.map((m) => evaluate(m, data).accuracy));
  assert.notEqual(r.memberAccuracies[0], r.memberAccuracies[1]);
});

test("an ensemble of one is the model itself", () => {
  const rng = new s.Rng(4);
  const model = new s.Sequential([new s.Flatten(), new s.Linear({ inFeatures: 3, outFeatures: 3, rng })]);
  const images = new Float32Array(40 * 3);
  for (let i = 0; i < images.length; i++) images[i] = rng.normal();
  const labels = Int32Array.from({ length: 40 }, (_, i) => i % 3);
  const data = createDataset({ name: "noise", images, labels, shape: [3, 1, 1], classes: ["a", "b", "c"] });
  const norm = { mean: [0.1, 0, -0.1], std: [1, 2, 1] };
  const alone = evaluate(model, data, { normalize: norm });
  const ens = evaluateEnsemble([{ model, normalize: norm }], data);
  assert.equal(ens.accuracy, alone.accuracy);
  assert.deepEqual(ens.confusion, alone.confusion);
  assert.ok(Math.abs(ens.loss - alone.loss) < 1e-5);
});

test("bad ensembles are refused with a clear message", () => {
  const x = new s.Tensor([1, 3, 1, 1], [1, 2, 3]);
  assert.throws(() => ensembleProbabilities([], x), /at least one model/);
  assert.throws(() => ensembleProbabilities([{ model: identity(), weight: -1 }], x), /member 0 has weight -1/);
  assert.throws(() => ensembleProbabilities([{ model: identity(), weight: 0 }], x), /every member has weight 0/);
  assert.throws(() => ensembleProbabilities([{} as never], x), /member 0 is neither a model/);
  const twoClasses = linear([[1, 0, 0], [0, 1, 0]]);
  assert.throws(() => ensembleProbabilities([identity(), twoClasses], x), /member 1 scores 2 classes but member 0 scores 3/);
  const data = createDataset({ name: "one", images: new Float32Array(3), labels: Int32Array.from([0]), shape: [3, 1, 1], classes: ["a", "b", "c"] });
  assert.throws(() => evaluateEnsemble([identity(), twoClasses], data), /2 scores.*3 classes/);
});
