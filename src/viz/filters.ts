/** Finding the filters worth looking at: the first convolution's, which see the pixels, and every later one's. */
import type { Module } from "../layers/layer.js";
import { namedModules } from "../models/named.js";

/** One convolution's filters, with the layer they belong to and their shape. */
export interface FilterWeights {
  /** Dotted path of the layer. */
  layer: string;
  /** [O, I, kH, kW] (Conv2d and its kin) or [O, I, k] (Conv1d). */
  shape: number[];
  values: Float32Array;
}

/** The weights of every convolution, in model order (an empty list for a model without one). */
export function convWeights(model: Module): FilterWeights[] {
  return [...eachConv(model)];
}

/** The weights of the first convolution in model order, or null for a model without one. */
export function firstConvWeights(model: Module): FilterWeights | null {
  for (const w of eachConv(model)) return w;
  return null;
}

// A generator, so that firstConvWeights copies only the first layer's weights.
function* eachConv(model: Module): Generator<FilterWeights> {
  for (const [path, m] of namedModules(model)) {
    if (m.children().length || !/conv/i.test(m.type)) continue;
    const w = m.params().find((p) => p.name === "weight" && (p.value.rank === 4 || p.value.rank === 3));
    if (w) yield { layer: path || m.name, shape: w.value.shape.slice(), values: w.value.data.slice() };
  }
}
