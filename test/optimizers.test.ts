/**
 * Optimisers and gradient clipping against PyTorch 1.13 (fixtures recorded by
 * scripts/gen_optim_fixtures.py), plus what PyTorch cannot tell us: frozen
 * parameters stay bit-identical, a run restored from stateDict() continues
 * bit for bit, bad options and bad states fail clearly, and every optimiser
 * minimises a small least-squares problem.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Tensor } from "../src/tensor.js";
import { makeParam, type Param } from "../src/layers/layer.js";
import { Conv2d } from "../src/layers/conv.js";
import { BatchNorm2d } from "../src/layers/norm.js";
import { Linear } from "../src/layers/dense.js";
import { Sequential } from "../src/models/sequential.js";
import {
  SGD, Adagrad, RMSprop, Adam, AdamW, decayGroups,
  type Optimizer, type BaseOptions, type OptimizerState,
} from "../src/train/optimizers.js";
import { clipGradNorm, clipGradValue } from "../src/train/clip.js";
import { CosineAnnealingLR } from "../src/train/schedules.js";

// Compiled to dist/test/: the fixtures are two directories up, in test/fixtures.
const FIXTURE = fileURLToPath(new URL("../../test/fixtures/optim.json", import.meta.url));

interface OptimizerCase {
  name: string;
  optimizer: "SGD" | "Adagrad" | "RMSprop" | "Adam" | "AdamW";
  options: Record<string, unknown>;
  shapes: number[][];
  init: number[][];
  /** grads[step][param] */
  grads: number[][][];
  /** trajectory[step][param]: the values after that step */
  trajectory: number[][][];
  frozen: number[];
  groups?: { params: number[]; options: Record<string, unknown> }[];
}

interface ClipCase {
  maxNorm: number;
  normType: number | "Infinity";
  shapes: number[][];
  grads: number[][];
  clipped: number[][];
  totalNorm: number;
}

const fixtures = JSON.parse(readFileSync(FIXTURE, "utf8")) as { optimizers: OptimizerCase[]; clip: ClipCase[] };

type AnyOptimizer = Optimizer<BaseOptions>;
const CLASSES: Record<OptimizerCase["optimizer"], new (params: never, options: never) => AnyOptimizer> = {
  SGD, Adagrad, RMSprop, Adam, AdamW,
};

const RTOL = 1e-5;
const ATOL = 1e-7;

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = RTOL): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!(Math.abs(a - e) <= ATOL + rtol * Math.abs(e))) {
      assert.fail(`${what}[${i}]: got ${a}, PyTorch ${e} (difference ${Math.abs(a - e)}, relative ${Math.abs(a - e) / Math.abs(e)})`);
    }
  }
}

function makeParams(c: OptimizerCase, values: (number[] | Float32Array)[] = c.init): Param[] {
  return c.shapes.map((shape, i) => {
    const p = makeParam(`p${i}`, new Tensor(shape, Float32Array.from(values[i])));
    p.trainable = !c.frozen.includes(i);
    return p;
  });
}

function build(c: OptimizerCase, params: Param[], overrides: Record<string, unknown> = {}): AnyOptimizer {
  const Ctor = CLASSES[c.optimizer];
  const arg = c.groups ? c.groups.map((g) => ({ params: g.params.map((i) => params[i]), ...g.options })) : params;
  return new Ctor(arg as never, { ...c.options, ...overrides } as never);
}

/** Writes step k's gradients the way a training loop does: zero, then layers add into grad. */
function setGrads(opt: AnyOptimizer, params: Param[], c: OptimizerCase, k: number): void {
  opt.zeroGrad();
  params.forEach((p, i) => {
    // Frozen parameters get a gradient too, to show that the optimiser ignores it.
    const g = c.grads[k][i];
    for (let j = 0; j < g.length; j++) p.grad.data[j] += g[j];
  });
}

function cloneState(state: OptimizerState): OptimizerState {
  // Through JSON and fresh tensors, as a checkpoint file would carry it.
  const tensors = new Map<string, Tensor>();
  for (const [k, t] of state.tensors) tensors.set(k, new Tensor(t.shape, Float32Array.from(t.data)));
  return { meta: JSON.parse(JSON.stringify(state.meta)), tensors };
}

for (const c of fixtures.optimizers) {
  test(`${c.optimizer} (${c.name}) follows PyTorch's trajectory`, () => {
    const params = makeParams(c);
    const opt = build(c, params);
    for (let k = 0; k < c.grads.length; k++) {
      setGrads(opt, params, c, k);
      opt.step();
      params.forEach((p, i) => {
        if (c.frozen.includes(i)) {
          assert.deepEqual(p.value.data, Float32Array.from(c.init[i]), `frozen parameter ${i} changed at step ${k + 1}`);
        } else {
          assertClose(p.value.data, c.trajectory[k][i], `${c.name}, step ${k + 1}, parameter ${i}`);
        }
      });
    }
  });

  test(`${c.optimizer} (${c.name}): stateDict after 2 steps resumes exactly`, () => {
    const uninterrupted = makeParams(c);
    const optU = build(c, uninterrupted);
    const first = makeParams(c);
    const optA = build(c, first);
    for (let k = 0; k < 2; k++) {
      setGrads(optU, uninterrupted, c, k);
      optU.step();
      setGrads(optA, first, c, k);
      optA.step();
    }
    const saved = cloneState(optA.stateDict());
    // A new process: parameters from the checkpoint, an optimiser built with other
    // hyper-parameters (the state must bring back the saved ones).
    const resumed = makeParams(c, first.map((p) => p.value.data.slice()));
    const optB = build(c, resumed, { lr: 0.123 });
    optB.loadStateDict(saved);
    assert.equal(optB.lr, optA.lr);
    for (let k = 2; k < c.grads.length; k++) {
      setGrads(optU, uninterrupted, c, k);
      optU.step();
      setGrads(optB, resumed, c, k);
      optB.step();
    }
    resumed.forEach((p, i) => assert.deepEqual(p.value.data, uninterrupted[i].value.data, `parameter ${i} differs after resuming`));
    // Without the state (buffers, step counts), the same run diverges: the test can tell.
    if (saved.tensors.size > 0) {
      const fresh = makeParams(c, first.map((p) => p.value.data.slice()));
      const optC = build(c, fresh);
      for (let k = 2; k < c.grads.length; k++) {
        setGrads(optC, fresh, c, k);
        optC.step();
      }
      const trainable = fresh.findIndex((p) => p.trainable);
      assert.notDeepEqual(fresh[trainable].value.data, uninterrupted[trainable].value.data);
    }
  });
}

test("stateDict names its tensors by parameter index and records steps and options", () => {
  const a = makeParam("a", Tensor.randn([2, 2], 1));
  const frozen = makeParam("frozen", Tensor.randn([3], 2));
  frozen.trainable = false;
  const b = makeParam("b", Tensor.randn([3], 3));
  const opt = new Adam([{ params: [a, frozen] }, { params: [b], lr: 0.5 }], { amsgrad: true });
  for (const p of [a, frozen, b]) p.grad.data.fill(0.25);
  opt.step();
  opt.step();
  const { meta, tensors } = opt.stateDict();
  assert.equal(meta.type, "Adam");
  assert.deepEqual(meta.groups.map((g) => g.params), [[0, 1], [2]]);
  assert.deepEqual(meta.steps, { "0": 2, "2": 2 });
  assert.equal(meta.groups[1].options.lr, 0.5);
  assert.deepEqual(meta.groups[0].options.betas, [0.9, 0.999]);
  assert.deepEqual([...tensors.keys()].sort(), [
    "state.0.expAvg", "state.0.expAvgSq", "state.0.maxExpAvgSq",
    "state.2.expAvg", "state.2.expAvgSq", "state.2.maxExpAvgSq",
  ]);
  assert.deepEqual(tensors.get("state.2.expAvg")!.shape, [3]);
  // The tensors are copies: changing them does not change the optimiser.
  tensors.get("state.0.expAvg")!.data.fill(99);
  assert.notEqual(opt.stateDict().tensors.get("state.0.expAvg")!.data[0], 99);
});

test("loadStateDict rejects a state that does not fit, and changes nothing", () => {
  const mk = (shapes: number[][]) => shapes.map((s, i) => makeParam(`p${i}`, Tensor.randn(s, i + 1)));
  const params = mk([[2, 3], [4]]);
  const opt = new SGD(params, { lr: 0.1, momentum: 0.9 });
  for (const p of params) p.grad.data.fill(1);
  opt.step();
  const state = opt.stateDict();

  assert.throws(() => new SGD(mk([[2, 3]]), { lr: 0.1, momentum: 0.9 }).loadStateDict(state), /param group 0 has 2 parameters in the state and 1 here/);
  assert.throws(() => new SGD(mk([[2, 3], [5]]), { lr: 0.1, momentum: 0.9 }).loadStateDict(state), /"state\.1\.momentumBuffer" has shape \[4\] but parameter 1 \("p1"\) has shape \[5\]/);
  assert.throws(() => new Adam(mk([[2, 3], [4]])).loadStateDict(state), /the state is from a SGD optimiser/);
  assert.throws(
    () => new SGD([{ params: mk([[2, 3]]) }, { params: mk([[4]]) }], { lr: 0.1 }).loadStateDict(state),
    /the state has 1 param groups, this optimiser 2/,
  );
  assert.throws(() => opt.loadStateDict({ meta: state.meta } as never), /expected \{ meta, tensors: Map \}/);

  const target = new SGD(mk([[2, 3], [4]]), { lr: 0.7, momentum: 0.5 });
  const bad = (edit: (s: OptimizerState) => void, pattern: RegExp) => {
    const s = cloneState(state);
    edit(s);
    assert.throws(() => target.loadStateDict(s), pattern);
  };
  bad((s) => (s.meta.groups[0].options.momentum = 1.5), /momentum = 1\.5 is invalid \(param group 0, loaded state\)/);
  bad((s) => (s.meta.groups[0].options.lr = -1), /lr = -1 is invalid/);
  bad((s) => (s.meta.groups[0].options.nesterov = 1), /option nesterov of param group 0 is 1, of the wrong type/);
  bad((s) => (s.meta.groups[0].options = { ...s.meta.groups[0].options, beta: 1 }), /unknown option "beta"/);
  bad((s) => (s.meta.steps["7"] = 1), /a step count is for parameter 7, but there are 2 parameters/);
  bad((s) => (s.meta.steps["0"] = 1.5), /parameter 0 has step count 1\.5/);
  bad((s) => s.tensors.set("state.0.expAvg", Tensor.zeros([2, 3])), /"state\.0\.expAvg" is not used with these options \(expected one of: momentumBuffer\)/);
  bad((s) => s.tensors.set("momentum", Tensor.zeros([2, 3])), /unexpected state tensor "momentum"/);
  bad((s) => (s.meta.groups[0].options.momentum = 0), /"state\.0\.momentumBuffer" is not used with these options/);
  // Nothing was changed by the failed loads.
  assert.equal(target.lr, 0.7);
  assert.equal(target.stateDict().tensors.size, 0);
  assert.equal(target.paramGroups[0].options.momentum, 0.5);
});

test("impossible hyper-parameters throw errors that name the option and the value", () => {
  const ps = () => [makeParam("w", Tensor.randn([3], 1))];
  const cases: [() => unknown, RegExp][] = [
    [() => new SGD(ps(), { lr: -0.1 }), /SGD: lr = -0\.1 is invalid; the learning rate must be a finite number >= 0/],
    [() => new SGD(ps(), {}), /SGD: the learning rate has no default/],
    [() => new SGD(ps(), { lr: NaN }), /SGD: the learning rate has no default|lr = NaN/],
    [() => new SGD(ps(), { lr: 0.1, momentum: 1 }), /SGD: momentum = 1 is invalid; it must be in \[0, 1\)/],
    [() => new SGD(ps(), { lr: 0.1, momentum: -0.5 }), /SGD: momentum = -0\.5 is invalid/],
    [() => new SGD(ps(), { lr: 0.1, nesterov: true }), /SGD: nesterov = true needs a momentum above 0 and dampening = 0, got momentum = 0, dampening = 0/],
    [() => new SGD(ps(), { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }), /dampening = 0\.1/],
    [() => new SGD(ps(), { lr: 0.1, weightDecay: -1 }), /SGD: weightDecay = -1 is invalid/],
    [() => new SGD(ps(), { lr: 0.1, weight_decay: 0.1 } as never), /SGD: unknown option "weight_decay" in options; the options are lr, momentum/],
    [() => new SGD([{ params: ps(), lr: -2 }], { lr: 0.1 }), /SGD: lr = -2 is invalid \(param group 0\)/],
    [() => new Adam(ps(), { betas: [1, 0.999] }), /Adam: betas\[0\] = 1 is invalid; it must be in \[0, 1\)/],
    [() => new Adam(ps(), { betas: [0.9, -0.1] }), /Adam: betas\[1\] = -0\.1 is invalid/],
    [() => new AdamW(ps(), { betas: [0.9] as never }), /AdamW: betas must be a pair/],
    [() => new AdamW(ps(), { eps: -1e-8 }), /AdamW: eps = -1e-8 is invalid/],
    [() => new Adam(ps(), { amsgrad: "yes" as never }), /Adam: amsgrad = yes is invalid; it must be true or false/],
    [() => new RMSprop(ps(), { alpha: 1.5 }), /RMSprop: alpha = 1\.5 is invalid/],
    [() => new RMSprop(ps(), { momentum: 2 }), /RMSprop: momentum = 2 is invalid/],
    [() => new Adagrad(ps(), { lrDecay: -0.1 }), /Adagrad: lrDecay = -0\.1 is invalid/],
    [() => new Adagrad(ps(), { lr: Infinity }), /Adagrad: lr = Infinity is invalid/],
    [() => new Adam([]), /Adam: got an empty parameter list/],
    [() => new Adam("weights" as never), /Adam: the first argument must be an array/],
    [() => { const p = ps(); return new Adam([{ params: p }, { params: p }]); }, /parameter "w" appears more than once/],
    [() => new Adam([{ value: 1 }] as never), /is not a Param/],
    [() => new Adam([{ name: "w", value: Tensor.zeros([3]), grad: Tensor.zeros([4]), trainable: true }]), /has value \[3\] but grad \[4\]/],
  ];
  for (const [make, pattern] of cases) assert.throws(make, pattern);
  const opt = new SGD(ps(), { lr: 0.1 });
  assert.throws(() => (opt.lr = -1), /SGD: lr = -1 is invalid/);
  assert.throws(() => opt.setGroupLr(3, 0.1), /there is no param group 3/);
});

test("a Param made by hand without `trainable` is trained (API.md's Param has no such field)", () => {
  const p = { name: "w", value: Tensor.full([2], 1), grad: Tensor.full([2], 0.5) } as unknown as Param;
  new SGD([p], { lr: 0.1 }).step();
  assert.deepEqual(Array.from(p.value.data), [Math.fround(0.95), Math.fround(0.95)]);
  assert.equal(clipGradNorm([p], 0.1), Math.sqrt(0.5));
  assert.throws(() => clipGradNorm([null as never], 1), /clipGradNorm: parameter 0 is not a Param/);
});

test("the lr setter sets every group; the defaults are PyTorch's", () => {
  const ps = () => [makeParam("w", Tensor.randn([2], 1))];
  const opt = new SGD([{ params: ps() }, { params: ps(), lr: 0.5 }], { lr: 0.1 });
  assert.deepEqual(opt.paramGroups.map((g) => g.options.lr), [0.1, 0.5]);
  opt.lr = 0.02;
  assert.deepEqual(opt.paramGroups.map((g) => g.options.lr), [0.02, 0.02]);
  assert.deepEqual({ ...new SGD(ps(), { lr: 1 }).paramGroups[0].options }, { lr: 1, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 });
  assert.deepEqual({ ...new Adagrad(ps()).paramGroups[0].options }, { lr: 0.01, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10 });
  assert.deepEqual({ ...new RMSprop(ps()).paramGroups[0].options }, { lr: 0.01, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false });
  assert.deepEqual({ ...new Adam(ps()).paramGroups[0].options }, { lr: 0.001, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false });
  assert.equal(new AdamW(ps()).paramGroups[0].options.weightDecay, 0.01);
});

test("decayGroups puts weights in the decayed group and biases and batch-norm parameters in the other", () => {
  const conv = new Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3 });
  const bn = new BatchNorm2d({ numFeatures: 2 });
  const fc = new Linear({ inFeatures: 8, outFeatures: 3 });
  const fcNoBias = new Linear({ inFeatures: 3, outFeatures: 2, bias: false });
  const model = new Sequential([conv, bn, new Sequential([fc, fcNoBias])]);
  const [decay, noDecay] = decayGroups(model, 5e-4);
  assert.equal(decay.weightDecay, 5e-4);
  assert.equal(noDecay.weightDecay, 0);
  assert.deepEqual(new Set(decay.params), new Set([conv.weight, fc.weight, fcNoBias.weight]));
  assert.deepEqual(new Set(noDecay.params), new Set([conv.bias!, ...bn.params(), fc.bias!]));
  assert.equal(decay.params.length + noDecay.params.length, model.params().length);

  // In use: with zero gradients only the decayed group moves.
  const opt = new SGD(decayGroups(model, 0.1), { lr: 1 });
  for (const p of model.params()) p.value.data.fill(1);
  opt.zeroGrad();
  opt.step();
  assert.ok(conv.weight.value.data.every((v) => Math.abs(v - 0.9) < 1e-7));
  assert.ok(conv.bias!.value.data.every((v) => v === 1));
  assert.ok(bn.params().every((p) => p.value.data.every((v) => v === 1)));
  assert.throws(() => decayGroups(model, -1), /decayGroups: weightDecay = -1 is invalid/);
  assert.throws(() => decayGroups({} as never, 0.1), /decayGroups: expected a model or layer/);
});

for (const c of fixtures.clip) {
  test(`clipGradNorm (maxNorm ${c.maxNorm}, normType ${c.normType}) matches torch.nn.utils.clip_grad_norm_`, () => {
    const params = c.shapes.map((s, i) => {
      const p = makeParam(`p${i}`, Tensor.zeros(s));
      p.grad.data.set(c.grads[i]);
      return p;
    });
    // A frozen parameter with a huge gradient: not part of the norm, not scaled.
    const frozen = makeParam("frozen", Tensor.zeros([2]));
    frozen.trainable = false;
    frozen.grad.data.fill(1000);
    const total = clipGradNorm([...params, frozen], c.maxNorm, c.normType === "Infinity" ? Infinity : c.normType);
    assertClose([total], [c.totalNorm], "total norm");
    params.forEach((p, i) => assertClose(p.grad.data, c.clipped[i], `clipped gradient ${i}`));
    assert.deepEqual(Array.from(frozen.grad.data), [1000, 1000]);
  });
}

test("clipGradNorm leaves gradients below maxNorm bit-identical; clipGradValue clamps; bad arguments throw", () => {
  const p = makeParam("w", Tensor.zeros([3]));
  p.grad.data.set([0.1, -0.2, 0.3]);
  const before = p.grad.data.slice();
  const total = clipGradNorm([p], 10);
  assert.ok(Math.abs(total - Math.sqrt(0.14)) < 1e-7);
  assert.deepEqual(p.grad.data, before);
  clipGradValue([p], 0.15);
  assert.deepEqual(Array.from(p.grad.data), [Math.fround(0.1), Math.fround(-0.15), Math.fround(0.15)]);
  assert.equal(clipGradNorm([], 1), 0);
  assert.throws(() => clipGradNorm([p], -1), /clipGradNorm: maxNorm = -1 is invalid/);
  assert.throws(() => clipGradNorm([p], 1, 0), /clipGradNorm: normType = 0 is invalid/);
  assert.throws(() => clipGradValue([p], -1), /clipGradValue: clipValue = -1 is invalid/);
  p.grad.data[0] = NaN;
  assert.throws(() => clipGradNorm([p], 1, 2, { errorIfNonfinite: true }), /total norm of order 2 of the gradients is NaN/);
});

// ---------------------------------------------------------------------------
// Convergence: minimise f(x) = ||A x - b||^2 with b = A x*, so the minimum is 0.

const M = 6;
const N = 4;
const A = Tensor.randn([M, N], 7).data;
const xStar = Tensor.randn([N], 8).data;
const b = Array.from({ length: M }, (_, i) => xStar.reduce((s, x, j) => s + A[i * N + j] * x, 0));

/** f(x), and its gradient 2 A^T (A x - b) added into grad when given. */
function leastSquares(x: Float32Array, grad?: Float32Array): number {
  let f = 0;
  const r = b.map((bi, i) => x.reduce((s, xj, j) => s + A[i * N + j] * xj, -bi));
  for (const ri of r) f += ri * ri;
  if (grad) for (let j = 0; j < N; j++) grad[j] += r.reduce((s, ri, i) => s + 2 * A[i * N + j] * ri, 0);
  return f;
}

const convergence: [string, (ps: Param[]) => AnyOptimizer, number, boolean][] = [
  ["SGD", (ps) => new SGD(ps, { lr: 0.01 }), 500, false],
  ["SGD with momentum", (ps) => new SGD(ps, { lr: 0.01, momentum: 0.9 }), 300, false],
  ["SGD with Nesterov momentum", (ps) => new SGD(ps, { lr: 0.01, momentum: 0.9, nesterov: true }), 300, false],
  ["Adagrad", (ps) => new Adagrad(ps, { lr: 0.5 }), 500, false],
  // The adaptive methods take steps of about lr whatever the gradient, so they need the lr annealed.
  ["RMSprop", (ps) => new RMSprop(ps, { lr: 0.02 }), 500, true],
  ["RMSprop centered with momentum", (ps) => new RMSprop(ps, { lr: 0.01, centered: true, momentum: 0.5 }), 500, true],
  ["Adam", (ps) => new Adam(ps, { lr: 0.05 }), 500, true],
  ["Adam with AMSGrad", (ps) => new Adam(ps, { lr: 0.05, amsgrad: true }), 500, true],
  // Decoupled decay moves the minimum away from x*, so it is off here.
  ["AdamW", (ps) => new AdamW(ps, { lr: 0.05, weightDecay: 0 }), 500, true],
];

for (const [name, make, steps, anneal] of convergence) {
  test(`${name} minimises a least-squares problem to near zero`, () => {
    const x = makeParam("x", Tensor.zeros([N]));
    const opt = make([x]);
    const schedule = anneal ? new CosineAnnealingLR(opt, steps) : null;
    const start = leastSquares(x.value.data);
    for (let k = 0; k < steps; k++) {
      opt.zeroGrad();
      leastSquares(x.value.data, x.grad.data);
      opt.step();
      schedule?.step();
    }
    const end = leastSquares(x.value.data);
    assert.ok(start > 1, `the problem starts far from its minimum (f = ${start})`);
    assert.ok(end < 1e-6, `f went from ${start} to ${end}, not below 1e-6`);
    for (let j = 0; j < N; j++) assert.ok(Math.abs(x.value.data[j] - xStar[j]) < 1e-3, `x[${j}] = ${x.value.data[j]}, x* = ${xStar[j]}`);
  });
}
