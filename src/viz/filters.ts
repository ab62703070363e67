/** Finding the filters worth looking at: the first convolution's, which see the pixels. */
import type { Module } from "../layers/layer.js";
import { namedModules } from "../models/named.js";

/** The first convolution's filters, with the layer they belong to and their shape. */
export interface FilterWeights {
  /** Dotted path of the layer. */
  layer: string;
  /** [O, I, kH, kW] (Conv2d and its kin) or [O, I, k] (Conv1d). */
  shape: number[];
  values: Float32Array;
}

/** The weights of the first convolution in model order, or null for a model without one. */
export function firstConvWeights(model: Module): FilterWeights | null {
  for (const [path, m] of namedModules(model)) {
    if (m.children().length || !/conv/i.test(m.type)) continue;
    const w = m.params().find((p) => p.name === "weight" && (p.value.rank === 4 || p.value.rank === 3));
    if (w) return { layer: path || m.name, shape: w.value.shape.slice(), values: w.value.data.slice() };
  }
  return null;
}
