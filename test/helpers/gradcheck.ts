/**
 * Gradient checks by central differences, in float64 on small shapes (the
 * js backend runs in double precision inside withFloat64), far tighter than
 * the 1e-2 ConvNetJS used: the analytic gradient of L = sum(y * dy) must
 * match (L(x + h) - L(x - h)) / 2h to about 1e-6 relative.
 */
import assert from "node:assert/strict";
import { Tensor, withFloat64, setBackend, getBackend, Rng, Layer, MergeLayer, type Param } from "../../src/index.js";

export interface GradcheckOptions {
  training?: boolean;
  /** Called before every forward pass, e.g. to reseed a dropout layer's generator. */
  beforeForward?: () => void;
  /** At most this many coordinates of each tensor are checked (spread over it). */
  maxChecks?: number;
  seed?: number;
  /** Relative tolerance (default 1e-6). */
  tolerance?: number;
  /** Input values; random normal when omitted. */
  inputs?: Tensor[];
  /** Skip the input gradient (e.g. token ids). */
  skipInputGrad?: boolean;
}

const H = 1e-6;

/**
 * Builds the layer inside float64 mode and checks the gradient w.r.t. every
 * input and every trainable parameter.
 */
export function gradcheck(
  make: () => Layer | MergeLayer,
  inputShapes: number[][],
  opts: GradcheckOptions = {},
): void {
  const saved = getBackend().name;
  setBackend("js");
  try {
    withFloat64(() => run(make, inputShapes, opts));
  } finally {
    setBackend(saved);
  }
}

function run(make: () => Layer | MergeLayer, inputShapes: number[][], opts: GradcheckOptions): void {
  const rng = new Rng(opts.seed ?? 7);
  const layer = make();
  const xs = opts.inputs?.map((t) => new Tensor(t.shape, Array.from(t.data))) ??
    inputShapes.map((s) => randomTensor(s, rng));
  const ctx = { training: opts.training ?? false };

  const forward = (): Tensor => {
    opts.beforeForward?.();
    return layer instanceof MergeLayer ? layer.forward(xs, ctx) : layer.forward(xs[0], ctx);
  };
  const y0 = forward();
  assert.ok(y0.data instanceof Float64Array, "gradcheck: the layer did not compute in float64 (does it allocate Float32Array directly?)");
  const dy = randomTensor(y0.shape, rng);
  const loss = (): number => {
    const y = forward();
    let s = 0;
    for (let i = 0; i < y.size; i++) s += y.data[i] * dy.data[i];
    return s;
  };

  // Analytic gradients.
  const params = layer.params().filter((p) => p.trainable);
  for (const p of params) p.grad.data.fill(0);
  forward();
  const dxs = layer instanceof MergeLayer ? layer.backward(dy) : [layer.backward(dy)];
  const analyticParams = params.map((p) => Float64Array.from(p.grad.data));

  const check = (what: string, values: Float32Array, analytic: ArrayLike<number>): void => {
    const n = values.length;
    const count = Math.min(n, opts.maxChecks ?? 60);
    const tol = opts.tolerance ?? 1e-6;
    for (let c = 0; c < count; c++) {
      const i = count === n ? c : Math.floor((c * n) / count);
      const orig = values[i];
      values[i] = orig + H;
      const lp = loss();
      values[i] = orig - H;
      const lm = loss();
      values[i] = orig;
      const numeric = (lp - lm) / (2 * H);
      const a = analytic[i];
      const err = Math.abs(a - numeric) / Math.max(1, Math.abs(a), Math.abs(numeric));
      assert.ok(
        err <= tol,
        `${layer.type} ${what}[${i}]: analytic ${a} vs numeric ${numeric} (relative error ${err.toExponential(2)} > ${tol})`,
      );
    }
  };

  if (!opts.skipInputGrad) xs.forEach((x, k) => check(xs.length > 1 ? `d input ${k}` : "d input", x.data, dxs[k].data));
  params.forEach((p: Param, k) => check(`d ${p.name}`, p.value.data, analyticParams[k]));
}

export function randomTensor(shape: number[], rng: Rng): Tensor {
  const t = new Tensor(shape);
  for (let i = 0; i < t.size; i++) t.data[i] = rng.normal();
  return t;
}
