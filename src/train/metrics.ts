/** Classification metrics: top-k accuracy and the confusion matrix. */
import type { Tensor } from "../tensor.js";

/** The indices of the k largest scores of row i of [N, C] scores, best first. */
export function topK(scores: Tensor, row: number, k: number): number[] {
  const c = scores.shape[1];
  const o = row * c;
  const idx = Array.from({ length: c }, (_, j) => j);
  idx.sort((a, b) => scores.data[o + b] - scores.data[o + a] || a - b);
  return idx.slice(0, Math.min(k, c));
}

/** Running counts over batches: loss, top-1 and top-k hits, confusion matrix. */
export class ClassificationMeter {
  readonly numClasses: number;
  readonly k: number;
  count = 0;
  lossSum = 0;
  top1 = 0;
  topk = 0;
  /** confusion[true][predicted] */
  readonly confusion: number[][];

  constructor(numClasses: number, k = 5) {
    this.numClasses = numClasses;
    this.k = k;
    this.confusion = Array.from({ length: numClasses }, () => new Array(numClasses).fill(0));
  }

  /** Adds a batch: its mean loss, its [N, C] scores and its labels. */
  add(meanLoss: number, scores: Tensor, labels: ArrayLike<number>): void {
    const n = scores.shape[0];
    this.lossSum += meanLoss * n;
    for (let i = 0; i < n; i++) {
      const best = topK(scores, i, this.k);
      if (best[0] === labels[i]) this.top1++;
      if (best.includes(labels[i])) this.topk++;
      this.confusion[labels[i]][best[0]]++;
    }
    this.count += n;
  }

  get loss(): number {
    return this.count ? this.lossSum / this.count : NaN;
  }
  get accuracy(): number {
    return this.count ? this.top1 / this.count : NaN;
  }
  get topkAccuracy(): number {
    return this.count ? this.topk / this.count : NaN;
  }
}

/** The confusion matrix as aligned text, rows = true class, columns = predicted. */
export function formatConfusion(confusion: number[][], classes: string[]): string {
  const names = classes.map((c) => c.slice(0, 8));
  const width = Math.max(5, ...names.map((n) => n.length), ...confusion.flat().map((v) => String(v).length)) + 1;
  const pad = (s: string) => s.padStart(width);
  const header = pad("") + names.map(pad).join("");
  const rows = confusion.map((r, i) => pad(names[i]) + r.map((v) => pad(String(v))).join(""));
  return [header + "   <- predicted", ...rows].join("\n");
}
