/**
 * Label smoothing in softmaxCrossEntropy against PyTorch 1.13's
 * CrossEntropyLoss(label_smoothing) (test/fixtures/recipe.json, from
 * scripts/gen_recipe_fixtures.py), a central-difference gradient check, and fit's option.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Tensor, withFloat64 } from "../src/tensor.js";
import { Rng } from "../src/random.js";
import { StrideError } from "../src/stride-error.js";
import { softmaxCrossEntropy } from "../src/layers/loss.js";
import { createDataset } from "../src/data/dataset.js";
import { fit } from "../src/train/trainer.js";
import { Sequential } from "../src/models/sequential.js";
import { Linear } from "../src/layers/dense.js";
import { Flatten } from "../src/layers/reshape.js";

const FIXTURE = fileURLToPath(new URL("../../test/fixtures/recipe.json", import.meta.url));

interface SmoothingCase {
  name: string;
  epsilon: number;
  shape: [number, number];
  logits: number[];
  labels: number[];
  loss: number;
  grad: number[];
}

const cases = (JSON.parse(readFileSync(FIXTURE, "utf8")) as { labelSmoothing: SmoothingCase[] }).labelSmoothing;

for (const c of cases) {
  test(`label smoothing (${c.name}) gives PyTorch's loss and gradient`, () => {
    const { loss, grad } = softmaxCrossEntropy(new Tensor(c.shape, Float32Array.from(c.logits)), c.labels, { labelSmoothing: c.epsilon });
    assert.ok(Math.abs(loss - c.loss) <= 1e-6 * Math.abs(c.loss) + 1e-7, `loss ${loss}, PyTorch ${c.loss}`);
    c.grad.forEach((g, i) => assert.ok(Math.abs(grad.data[i] - g) <= 1e-6 * Math.abs(g) + 1e-7, `grad[${i}] ${grad.data[i]}, PyTorch ${g}`));
  });
}

test("the label-smoothed gradient matches central differences of the loss", () => {
  const rng = new Rng(5);
  const [n, c] = [3, 6];
  const labels = [1, 5, 0];
  const x = Array.from({ length: n * c }, () => rng.normal());
  // In double precision, so the differences measure the formula and not float32 rounding.
  const run = (values: number[]) => withFloat64(() => softmaxCrossEntropy(new Tensor([n, c], values), labels, { labelSmoothing: 0.15 }));
  const lossAt = (values: number[]) => run(values).loss;
  const { grad } = run(x);
  const h = 1e-6;
  for (let i = 0; i < n * c; i++) {
    const up = x.slice(), down = x.slice();
    up[i] += h;
    down[i] -= h;
    const numeric = (lossAt(up) - lossAt(down)) / (2 * h);
    assert.ok(Math.abs(grad.data[i] - numeric) < 1e-6, `d loss / d x[${i}]: analytic ${grad.data[i]}, numeric ${numeric}`);
  }
});

test("label smoothing of 0 is the plain cross-entropy, and a bad amount is refused clearly", () => {
  const logits = new Tensor([2, 3], Float32Array.from([1, 2, 3, -1, 0.5, 2]));
  const plain = softmaxCrossEntropy(logits, [0, 2]);
  const zero = softmaxCrossEntropy(logits, [0, 2], { labelSmoothing: 0 });
  assert.equal(zero.loss, plain.loss);
  assert.deepEqual(Array.from(zero.grad.data), Array.from(plain.grad.data));
  assert.ok(softmaxCrossEntropy(logits, [0, 2], { labelSmoothing: 0.1 }).loss !== plain.loss);
  for (const bad of [-0.1, 1.5, NaN]) {
    assert.throws(() => softmaxCrossEntropy(logits, [0, 2], { labelSmoothing: bad }), (e: Error) => e instanceof StrideError && /labelSmoothing .* \[0, 1\]/.test(e.message));
  }
});

test("fit trains with label smoothing: the training loss is the smoothed one", async () => {
  // Two linearly separable classes: with smoothing eps the loss cannot fall below the
  // entropy floor of the smoothed target, so after training it stays well above the plain run's.
  const images = new Float32Array(32 * 4);
  const labels = new Int32Array(32);
  for (let i = 0; i < 32; i++) {
    labels[i] = i % 2;
    images.set(labels[i] ? [1, 1, 0, 0] : [0, 0, 1, 1], i * 4);
  }
  const data = createDataset({ name: "two", images, labels, shape: [1, 2, 2], classes: ["a", "b"] });
  const run = async (labelSmoothing: number) => {
    const model = new Sequential([new Flatten(), new Linear({ inFeatures: 4, outFeatures: 2, rng: new Rng(1) })]);
    const h = await fit(model, data, { epochs: 60, batchSize: 32, labelSmoothing, progress: "none" });
    return h.epochs.at(-1)!.trainLoss;
  };
  const eps = 0.2;
  // The smoothed target (0.9, 0.1) has entropy 0.325: no model reaches a lower loss.
  const floor = -(0.9 * Math.log(0.9) + 0.1 * Math.log(0.1));
  const [plain, smoothed] = [await run(0), await run(eps)];
  assert.ok(smoothed >= floor - 1e-9, `smoothed loss ${smoothed} below the entropy floor ${floor}`);
  assert.ok(plain < floor, `plain loss ${plain} should fall below ${floor}`);
  await assert.rejects(fit(new Sequential([new Flatten(), new Linear({ inFeatures: 4, outFeatures: 2 })]), data, { epochs: 1, loss: "hinge", labelSmoothing: 0.1, progress: "none" }), /labelSmoothing applies to the cross-entropy/);
});
