/**
 * Weight initialisation, as the notes discuss it. Fan-in and fan-out of a
 * convolution count the receptive field: fanIn = C/groups * kH * kW,
 * fanOut = K/groups * kH * kW, as PyTorch computes them.
 *
 * - "he" (default): Kaiming normal, std = sqrt(2 / fanIn), for ReLU networks.
 * - "xavier": Glorot uniform, U(-a, a) with a = sqrt(6 / (fanIn + fanOut)).
 * - "xavier-normal": std = sqrt(2 / (fanIn + fanOut)).
 * - "he-uniform": U(-a, a) with a = sqrt(6 / fanIn).
 * - "he-fan-out": Kaiming normal with fanOut (torchvision's ResNets).
 * - "pytorch": PyTorch's default for Conv/Linear, U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for weights and biases.
 * - "lecun": Var(W) = 1/fanIn, normal (LeCun 1998; what the notes' "calibrating
 *   the variances" derives for linear units).
 * - "caffe-xavier": Var(W) = 1/fanIn, uniform in ±sqrt(3/fanIn): Caffe's
 *   "xavier" filler, which the AlexNet/VGG-era models used under that name.
 * - The Theano tutorial's LeNet draws "xavier" with a fan-out divided by the
 *   pooling area that follows (theanoFanOut).
 * - "zeros".
 * Biases start at zero except under "pytorch".
 */
import { Tensor } from "../tensor.js";
import { Rng, globalRng } from "../random.js";
import { ShapeError } from "../shape.js";

/** Weight initialisations: He (Kaiming) and Xavier (Glorot) variants, PyTorch's default, or zeros. */
export type InitName = "he" | "he-uniform" | "he-fan-out" | "xavier" | "xavier-normal" | "lecun" | "caffe-xavier" | "pytorch" | "zeros";

export const INIT_NAMES: InitName[] = ["he", "he-uniform", "he-fan-out", "xavier", "xavier-normal", "lecun", "caffe-xavier", "pytorch", "zeros"];

/**
 * The fan-out the Theano LeNet tutorial gives a convolution followed by
 * pooling: each input feeds outChannels * kH * kW outputs, of which one in
 * poolH * poolW survives the pooling.
 */
export function theanoFanOut(outChannels: number, kH: number, kW: number, poolH: number, poolW: number): number {
  return (outChannels * kH * kW) / (poolH * poolW);
}

export function checkInit(layer: string, init: unknown): InitName {
  if (init === undefined) return "he";
  if (typeof init !== "string" || !INIT_NAMES.includes(init as InitName)) {
    throw new ShapeError(layer, `init = ${JSON.stringify(init)} is not valid; use one of ${INIT_NAMES.map((n) => `"${n}"`).join(", ")}`);
  }
  return init as InitName;
}

/** Fills a weight tensor in place with the named initialisation, given its fan-in and fan-out. */
export function initWeight(t: Tensor, init: InitName, fanIn: number, fanOut: number, rng: Rng = globalRng): void {
  if (t.isMeta) return; // a shape without values: nothing to draw
  const d = t.data;
  switch (init) {
    case "he":
      fillNormal(d, Math.sqrt(2 / fanIn), rng);
      break;
    case "he-fan-out":
      fillNormal(d, Math.sqrt(2 / fanOut), rng);
      break;
    case "he-uniform":
      fillUniform(d, Math.sqrt(6 / fanIn), rng);
      break;
    case "xavier":
      fillUniform(d, Math.sqrt(6 / (fanIn + fanOut)), rng);
      break;
    case "xavier-normal":
      fillNormal(d, Math.sqrt(2 / (fanIn + fanOut)), rng);
      break;
    case "lecun":
      fillNormal(d, Math.sqrt(1 / fanIn), rng);
      break;
    case "caffe-xavier":
      fillUniform(d, Math.sqrt(3 / fanIn), rng);
      break;
    case "pytorch":
      fillUniform(d, 1 / Math.sqrt(fanIn), rng);
      break;
    case "zeros":
      d.fill(0);
      break;
  }
}

/** Fills a bias in place as the named initialisation does (zeros, or PyTorch's uniform in ±1/sqrt(fanIn)). */
export function initBias(t: Tensor, init: InitName, fanIn: number, rng: Rng = globalRng): void {
  if (t.isMeta) return;
  if (init === "pytorch") fillUniform(t.data, 1 / Math.sqrt(fanIn), rng);
  else t.data.fill(0);
}

// Loading a saved model overwrites every parameter with the file's values, so
// random initialisation during the load is wasted work (and wasted RNG draws).
let skipInit = false;

/** Runs `fn` with random weight initialisation switched off (the values stay zero). */
export function withoutInit<T>(fn: () => T): T {
  const outer = skipInit;
  skipInit = true;
  try {
    return fn();
  } finally {
    skipInit = outer;
  }
}

export function fillNormal(d: Float32Array, std: number, rng: Rng = globalRng): void {
  if (skipInit) return;
  for (let i = 0; i < d.length; i++) d[i] = rng.normal() * std;
}

export function fillUniform(d: Float32Array, bound: number, rng: Rng = globalRng): void {
  if (skipInit) return;
  for (let i = 0; i < d.length; i++) d[i] = rng.uniform(-bound, bound);
}
