/**
 * The two classification losses of the notes, exactly as PyTorch computes
 * them (mean over the batch):
 * - softmax cross-entropy, CrossEntropyLoss(): L_i = -log(e^{f_y} / sum_j e^{f_j}),
 *   optionally with label smoothing eps (CrossEntropyLoss(label_smoothing=eps)): the
 *   target is (1 - eps) on the true class plus eps / C on every class;
 * - the multiclass SVM (hinge) loss, MultiMarginLoss(): L_i = sum_{j != y}
 *   max(0, f_j - f_y + margin) / C (PyTorch also divides by the number of classes).
 * Each returns the loss and its gradient w.r.t. the logits.
 */
import { Tensor, formatShape } from "../tensor.js";
import { StrideError } from "../stride-error.js";

/** A loss value and its gradient w.r.t. the scores, to pass to the model's backward. */
export interface LossResult {
  loss: number;
  grad: Tensor;
}

/** Checks logits ([N, C], or [N, C, 1, 1] from a convolutional top) and labels; returns N and C. */
function checkClassification(fn: string, logits: Tensor, labels: ArrayLike<number>): [number, number] {
  const s = logits.shape;
  if (s.length < 2 || s.slice(2).some((d) => d !== 1)) {
    throw new Error(`${fn}: expects logits [N, C] (or [N, C, 1, 1]) but got ${formatShape(s)}; flatten the scores first`);
  }
  const [n, c] = s;
  if (!labels || labels.length !== n) {
    throw new Error(`${fn}: got ${labels ? labels.length : "no"} labels for a batch of ${n}; pass one class index per example`);
  }
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= c) {
      throw new Error(`${fn}: label ${y} of example ${i} is not a class index in [0, ${c}); the logits have ${c} classes`);
    }
  }
  return [n, c];
}

/** Options of softmaxCrossEntropy. */
export interface CrossEntropyOptions {
  /**
   * Label smoothing eps in [0, 1] (default 0): the target puts 1 - eps + eps / C on the
   * true class and eps / C on the others, as PyTorch's CrossEntropyLoss(label_smoothing=eps).
   */
  labelSmoothing?: number;
}

/** Checks a label-smoothing amount; `where` names the function or option for the message. */
export function checkLabelSmoothing(where: string, eps: unknown): number {
  if (typeof eps !== "number" || !(eps >= 0 && eps <= 1)) {
    throw new StrideError(`${where}: labelSmoothing = ${JSON.stringify(eps)} is not valid; it must be a number in [0, 1] (0.1 is usual)`);
  }
  return eps;
}

/**
 * Softmax followed by cross-entropy, averaged over the batch, and its gradient
 * (as PyTorch's CrossEntropyLoss, with its label_smoothing as an option).
 */
export function softmaxCrossEntropy(logits: Tensor, labels: Int32Array | number[], options: CrossEntropyOptions = {}): LossResult {
  const [n, c] = checkClassification("softmaxCrossEntropy", logits, labels);
  const eps = checkLabelSmoothing("softmaxCrossEntropy", options.labelSmoothing ?? 0);
  // The smoothed target: `onTrue` on the label, `spread` on every class (the label included).
  const spread = eps / c, onTrue = 1 - eps;
  const grad = new Tensor(logits.shape);
  const x = logits.data, g = grad.data;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const o = i * c;
    let max = -Infinity;
    for (let j = 0; j < c; j++) max = Math.max(max, x[o + j]);
    let sum = 0;
    for (let j = 0; j < c; j++) sum += Math.exp(x[o + j] - max);
    const logSum = Math.log(sum) + max;
    // -log p_j = logSum - x_j; the loss is the target-weighted sum of those.
    let sumNegLog = 0;
    if (spread !== 0) for (let j = 0; j < c; j++) sumNegLog += logSum - x[o + j];
    total += onTrue * (logSum - x[o + labels[i]]) + spread * sumNegLog;
    for (let j = 0; j < c; j++) g[o + j] = (Math.exp(x[o + j] - logSum) - spread) / n;
    g[o + labels[i]] -= onTrue / n;
  }
  return { loss: total / n, grad };
}

/** The multi-class SVM loss (Weston-Watkins), averaged over the batch, and its gradient. */
export function multiClassHinge(logits: Tensor, labels: Int32Array | number[], margin = 1): LossResult {
  const [n, c] = checkClassification("multiClassHinge", logits, labels);
  if (typeof margin !== "number" || !Number.isFinite(margin)) {
    throw new Error(`multiClassHinge: margin = ${JSON.stringify(margin)} is not valid; it must be a finite number (1 by default)`);
  }
  const grad = new Tensor(logits.shape);
  const x = logits.data, g = grad.data;
  const scale = 1 / (n * c);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const o = i * c, y = labels[i];
    for (let j = 0; j < c; j++) {
      if (j === y) continue;
      const z = margin - x[o + y] + x[o + j];
      if (z > 0) {
        total += z;
        g[o + j] += scale;
        g[o + y] -= scale;
      }
    }
  }
  return { loss: total * scale, grad };
}
