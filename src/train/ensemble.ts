/**
 * Model ensembles, as the notes recommend for a last percent or two: train
 * several independent models (different seeds, architectures or
 * checkpoints) and average their predicted class probabilities at test time.
 *
 * Each member may carry its own input normalisation (models loaded from
 * files each bring the statistics they were trained with), so members are
 * given as a model or as { model, normalize }.
 */
import { Tensor } from "../tensor.js";
import type { Layer } from "../layers/layer.js";
import { DataLoader } from "../data/loader.js";
import type { Dataset } from "../data/dataset.js";
import { normalizeTensor, type Normalization } from "../data/normalize.js";
import { ClassificationMeter, topK } from "./metrics.js";
import { softmax, checkModelFits, type EvaluateResult, type Prediction } from "./trainer.js";

/** A model of an ensemble, optionally with its own input normalisation and a weight for averaging. */
export type EnsembleMember = Layer | { model: Layer; normalize?: Normalization; weight?: number };

interface Member {
  model: Layer;
  normalize?: Normalization;
  weight: number;
}

function members(list: EnsembleMember[], where: string): Member[] {
  if (!Array.isArray(list) || list.length === 0) throw new Error(`${where}: give at least one model (an array of models or of { model, normalize })`);
  const out = list.map((m, i) => {
    const member = typeof (m as Layer)?.forward === "function" ? { model: m as Layer } : (m as { model: Layer; normalize?: Normalization; weight?: number });
    if (!member || typeof member.model?.forward !== "function") {
      throw new Error(`${where}: member ${i} is neither a model nor { model, normalize? }`);
    }
    const weight = member.weight ?? 1;
    if (typeof weight !== "number" || !(weight >= 0) || !Number.isFinite(weight)) {
      throw new Error(`${where}: member ${i} has weight ${String(member.weight)}; weights must be finite numbers >= 0`);
    }
    return { model: member.model, normalize: member.normalize, weight };
  });
  if (out.every((m) => m.weight === 0)) throw new Error(`${where}: every member has weight 0`);
  return out;
}

/** One member's class probabilities [N, C] for raw (unnormalised) input x. */
function memberProbabilities(m: Member, x: Tensor): Tensor {
  let input = x;
  if (m.normalize) {
    input = new Tensor(x.shape, x.data.slice());
    normalizeTensor(input, m.normalize);
  }
  const scores = m.model.forward(input, { noGrad: true });
  const n = scores.shape[0];
  return softmax(scores.rank === 2 ? scores : scores.reshape([n, scores.size / n]));
}

/**
 * The weighted mean of the members' softmax probabilities, [N, C], for x
 * ([N, C, H, W] or one example [C, H, W]) as loaded, before normalisation:
 * each member normalises it its own way.
 */
export function ensembleProbabilities(models: EnsembleMember[], x: Tensor): Tensor {
  const list = members(models, "ensembleProbabilities");
  const input = x.rank === 3 ? x.reshape([1, ...x.shape]) : x;
  return averageOf(list, input, "ensembleProbabilities").average;
}

/** Every member's probabilities and their weighted mean. */
function averageOf(list: Member[], x: Tensor, where: string): { average: Tensor; each: Tensor[] } {
  const total = list.reduce((s, m) => s + m.weight, 0);
  const each = list.map((m) => memberProbabilities(m, x));
  const average = new Tensor(each[0].shape);
  each.forEach((p, i) => {
    if (p.shape[1] !== average.shape[1]) {
      throw new Error(`${where}: member ${i} scores ${p.shape[1]} classes but member 0 scores ${average.shape[1]}; an ensemble's models must share their classes`);
    }
    const w = list[i].weight / total;
    for (let j = 0; j < p.size; j++) average.data[j] += w * p.data[j];
  });
  return { average, each };
}

/** The ensemble's top-k classes of each example, with their averaged probabilities. */
export function predictEnsemble(models: EnsembleMember[], x: Tensor, opts: { classes?: string[]; k?: number } = {}): Prediction[][] {
  const probs = ensembleProbabilities(models, x);
  const [n, c] = probs.shape;
  const k = opts.k ?? 5;
  const out: Prediction[][] = [];
  for (let i = 0; i < n; i++) {
    out.push(topK(probs, i, k).map((j) => ({ index: j, label: opts.classes?.[j] ?? String(j), probability: probs.data[i * c + j] })));
  }
  return out;
}

/** evaluateEnsemble's result: the ensemble's metrics and each member's accuracy. */
export interface EnsembleEvaluation extends EvaluateResult {
  /** Each member's own accuracy on the same examples, in order. */
  memberAccuracies: number[];
}

/**
 * Loss (cross-entropy of the averaged probabilities), top-1, top-k and the
 * confusion matrix of the ensemble on a dataset, with every member's own
 * accuracy for comparison.
 */
export function evaluateEnsemble(models: EnsembleMember[], data: Dataset, opts: { batchSize?: number; k?: number } = {}): EnsembleEvaluation {
  const list = members(models, "evaluateEnsemble");
  list.forEach((m) => checkModelFits(m.model, data));
  const loader = new DataLoader(data, { batchSize: opts.batchSize ?? 256, shuffle: false });
  const meter = new ClassificationMeter(data.classes.length, opts.k ?? 5);
  const hits = list.map(() => 0);
  const c = data.classes.length;
  for (const batch of loader) {
    const { average: avg, each } = averageOf(list, batch.x, "evaluateEnsemble");
    each.forEach((p, i) => {
      for (let r = 0; r < p.shape[0]; r++) if (topK(p, r, 1)[0] === batch.labels[r]) hits[i]++;
    });
    let logSum = 0;
    for (let r = 0; r < batch.labels.length; r++) logSum += Math.log(Math.max(avg.data[r * c + batch.labels[r]], 1e-30));
    meter.add(-logSum / batch.labels.length, avg, batch.labels);
  }
  return {
    loss: meter.loss, accuracy: meter.accuracy, top5: meter.topkAccuracy, count: meter.count,
    confusion: meter.confusion, classes: data.classes, memberAccuracies: hits.map((h) => h / meter.count),
  };
}
