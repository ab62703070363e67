/**
 * Kim's sentence CNN (Kim 2014), in the one-layer form of the notes
 * (Zhang and Wallace's illustration): word embeddings, convolutions over
 * regions of 2, 3 and 4 words with 2 filters each, 1-max pooling of every
 * feature map over the sentence, concatenation, dropout, and a softmax
 * over the classes. Kim's own settings are regionSizes [3, 4, 5] with 100
 * filters each on 300-dimensional vectors.
 *
 * The input is a batch of token ids [N, L] (one example: [L]).
 */
import { Conv1d } from "../../layers/conv.js";
import { GlobalMaxPool1d } from "../../layers/pool.js";
import { Embedding, Linear } from "../../layers/dense.js";
import { ReLU, Softmax } from "../../layers/activation.js";
import { Dropout } from "../../layers/dropout.js";
import { Concat } from "../../layers/merge.js";
import type { Layer } from "../../layers/layer.js";
import { Sequential } from "../sequential.js";
import { Graph } from "../graph.js";
import { resolve, type ZooOptions } from "./common.js";
import { withMeta } from "../../tensor.js";

/** Options of textCnn. */
export interface TextCnnOptions extends ZooOptions {
  /** Number of distinct token ids (10,000). */
  vocabSize?: number;
  /** Dimension of the word vectors (5, as in the illustration; Kim: 300). */
  embeddingDim?: number;
  /** Words per region (filter widths), default [2, 3, 4]. */
  regionSizes?: number[];
  /** Filters per region size (2). */
  filters?: number;
  dropout?: number;
  /** End with the softmax (default true); false gives the logits, for softmaxCrossEntropy. */
  softmax?: boolean;
}

/** A sentence classifier (Kim 2014): embeddings, 1-D convolutions of several widths, max over time. */
export function textCnn(opts: TextCnnOptions = {}): Sequential {
  return withMeta(opts?.meta === true, () => buildTextCnn(opts));
}

function buildTextCnn(opts: TextCnnOptions = {}): Sequential {
  const r = resolve("textCnn", opts, { numClasses: 2, inputShape: [7] });
  const vocab = opts.vocabSize ?? 10000, dim = opts.embeddingDim ?? 5, filters = opts.filters ?? 2;
  const regions = opts.regionSizes ?? [2, 3, 4];
  const p = opts.dropout ?? 0.5;
  for (const [k, v] of [["vocabSize", vocab], ["embeddingDim", dim], ["filters", filters]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`textCnn: ${k} = ${JSON.stringify(v)} is not valid; it must be a whole number >= 1`);
  }
  if (!Array.isArray(regions) || regions.length === 0 || !regions.every((k) => Number.isInteger(k) && k >= 1)) {
    throw new Error(`textCnn: regionSizes = ${JSON.stringify(regions)} is not valid; give a non-empty list of whole numbers, e.g. [2, 3, 4]`);
  }
  const [len] = r.inputShape;
  const longest = Math.max(...regions);
  if (len < longest) throw new Error(`textCnn: sentences of ${len} words are shorter than the largest region (${longest} words); pad the sentences or use smaller regions`);
  if (typeof p !== "number" || !(p >= 0 && p < 1)) throw new Error(`textCnn: dropout = ${JSON.stringify(p)} is not valid; it must be in [0, 1)`);
  const rng = r.rng;
  const g = new Graph({ name: "regions" });
  const branches: string[] = [];
  for (const k of regions) {
    const name = `region${k}`;
    g.add(name, new Sequential([
      new Conv1d({ inChannels: dim, outChannels: filters, kernelSize: k, name: "conv", rng, init: r.init("he") }),
      new ReLU({ name: "relu" }),
      new GlobalMaxPool1d({ name: "maxpool" }),
    ], { name }), "input");
    branches.push(name);
  }
  g.add("concat", new Concat({ axis: 1 }), branches);
  const layers: Layer[] = [
    new Embedding({ numEmbeddings: vocab, embeddingDim: dim, layout: "NCL", name: "embedding", rng }),
    g,
    new Dropout({ p, name: "dropout", rng }),
    new Linear({ inFeatures: filters * regions.length, outFeatures: r.numClasses, name: "fc", rng, init: r.init("xavier") }),
  ];
  if (opts.softmax ?? true) layers.push(new Softmax({ name: "softmax" }));
  return new Sequential(layers, { name: "text-cnn" });
}
