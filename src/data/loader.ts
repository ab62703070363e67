/**
 * Batches from a Dataset: seeded shuffling, per-example augmentation,
 * optional normalisation, and a saveable position so that a run resumed from
 * a checkpoint sees exactly the batches it would have seen.
 *
 * Determinism: at the start of every epoch the loader draws, from its Rng,
 * the epoch's order and one 32-bit seed. Batch b of the epoch augments with
 * a fresh Rng seeded from (epoch seed, b), so resuming in the middle of an
 * epoch needs no replay of the batches before it.
 */
import { Rng } from "../random.js";
import { Tensor, formatShape } from "../tensor.js";
import { exampleSize, type Dataset } from "./dataset.js";
import type { Augmentation, Image } from "./augment.js";
import { checkNormalization, normalizeTensor, type Normalization } from "./normalize.js";

/** One mini-batch from a DataLoader. */
export interface Batch {
  /** [B, C, H, W]; augmented and normalised if the loader does so. */
  x: Tensor;
  labels: Int32Array;
  /** The dataset index of each example. */
  indices: Int32Array;
}

/** Options of a DataLoader. */
export interface DataLoaderOptions {
  batchSize?: number;
  /** A new seeded order every epoch (default false: dataset order). */
  shuffle?: boolean;
  /** The generator to draw orders from; it is advanced by the loader. */
  rng?: Rng;
  /** Or a seed for the loader's own generator (default 0). */
  seed?: number;
  /** Applied to every example of every batch (training only, usually). */
  augment?: Augmentation;
  /** Per-channel mean/std applied after augmentation. */
  normalize?: Normalization;
  /** Leave out the last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
}

/** Where a loader is; JSON-serialisable, to be saved in a checkpoint. */
export interface DataLoaderState {
  /** Epochs completed. */
  epoch: number;
  /** Batches of the current epoch already handed out. */
  batch: number;
  /** The generator's state at the start of the current epoch (before its order was drawn). */
  rng: (number | null)[];
}

/** Iterates over a dataset in mini-batches (shuffled, augmented and normalised if asked), one epoch per iteration. */
export class DataLoader implements Iterable<Batch> {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly augment: Augmentation | undefined;
  readonly normalize: Normalization | undefined;
  private completed = 0;
  /** Batches handed out in the current epoch. */
  private position = 0;
  private readonly rng: Rng;
  private order: Int32Array | null = null;
  private epochSeed = 0;
  private epochStart: number[] = [];

  constructor(dataset: Dataset, options: DataLoaderOptions = {}) {
    if (!dataset || !(dataset.images instanceof Float32Array) || !(dataset.labels instanceof Int32Array)) {
      throw new Error("DataLoader: the first argument must be a Dataset { images, labels, shape, classes, length }");
    }
    if (dataset.length === 0) throw new Error(`DataLoader: dataset "${dataset.name}" is empty`);
    const batchSize = options.batchSize ?? 32;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`DataLoader: batchSize = ${batchSize} must be a whole number >= 1`);
    if (options.rng !== undefined && options.seed !== undefined) throw new Error("DataLoader: give either rng or seed, not both");
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = options.shuffle ?? false;
    this.dropLast = options.dropLast ?? false;
    if (this.dropLast && dataset.length < batchSize) {
      throw new Error(`DataLoader: dropLast with batchSize ${batchSize} leaves no batch of the ${dataset.length} examples`);
    }
    this.augment = options.augment;
    this.normalize = options.normalize && checkNormalization(options.normalize);
    this.rng = options.rng ?? new Rng(options.seed ?? 0);
  }

  /** Batches per epoch. */
  get length(): number {
    return this.dropLast ? Math.floor(this.dataset.length / this.batchSize) : Math.ceil(this.dataset.length / this.batchSize);
  }

  /** Epochs completed so far (an epoch whose last batch has been handed out counts). */
  get epoch(): number {
    return this.completed + (this.epochDone() ? 1 : 0);
  }

  /** The rest of the current epoch; when it is exhausted, the epoch counter moves on. */
  *[Symbol.iterator](): Iterator<Batch> {
    // A loop that stopped right after the last batch never reached finishEpoch().
    if (this.epochDone()) this.finishEpoch();
    this.startEpochIfNeeded();
    const order = this.order!;
    while (this.position < this.length) {
      const b = this.position;
      const indices = order.slice(b * this.batchSize, Math.min((b + 1) * this.batchSize, order.length));
      const batch = this.makeBatch(indices, b);
      this.position = b + 1;
      yield batch;
    }
    this.finishEpoch();
  }

  /** Same as iterating: the batches of (the rest of) one epoch. */
  epochBatches(): Iterable<Batch> {
    return { [Symbol.iterator]: () => this[Symbol.iterator]() };
  }

  /**
   * Ends the current epoch without building its remaining batches (for a
   * capped number of batches per epoch): the next epoch is the one that would
   * have followed, as if every batch had been taken.
   */
  endEpoch(): void {
    this.startEpochIfNeeded();
    this.finishEpoch();
  }

  /** Where the loader is (its generator and epoch), for checkpoints; setState restores it. */
  getState(): DataLoaderState {
    const json = (rng: number[]) => rng.map((v) => (Number.isNaN(v) ? null : v));
    if (this.epochDone()) return { epoch: this.completed + 1, batch: 0, rng: json(this.rng.getState()) };
    return { epoch: this.completed, batch: this.position, rng: json(this.order ? this.epochStart : this.rng.getState()) };
  }

  /** Restores a position from getState(): the next batches are those the saved loader would have produced. */
  setState(state: DataLoaderState): void {
    const ok =
      state && Number.isInteger(state.epoch) && state.epoch >= 0 && Number.isInteger(state.batch) && state.batch >= 0 &&
      Array.isArray(state.rng) && state.rng.length === 5;
    if (!ok) throw new Error(`DataLoader.setState: ${JSON.stringify(state)} is not a state from getState()`);
    if (state.batch > this.length) {
      throw new Error(`DataLoader.setState: batch ${state.batch} is past the ${this.length} batches of an epoch (was the batch size or dataset changed?)`);
    }
    this.rng.setState(state.rng.map((v) => (v === null ? NaN : v)));
    this.order = null;
    if (state.batch === this.length) {
      // The end of an epoch saved by hand: redraw that epoch's order so the generator moves past it.
      this.completed = state.epoch;
      this.startEpochIfNeeded();
      this.finishEpoch();
    } else {
      this.completed = state.epoch;
      this.position = state.batch;
    }
  }

  private startEpochIfNeeded(): void {
    if (this.order) return;
    this.epochStart = this.rng.getState();
    const n = this.dataset.length;
    this.order = this.shuffle ? this.rng.permutation(n) : Int32Array.from({ length: n }, (_, i) => i);
    this.epochSeed = this.rng.nextUint32();
  }

  private epochDone(): boolean {
    return this.order !== null && this.position >= this.length;
  }

  private finishEpoch(): void {
    this.completed++;
    this.position = 0;
    this.order = null;
  }

  private makeBatch(indices: Int32Array, batchNumber: number): Batch {
    const ds = this.dataset;
    const size = exampleSize(ds);
    const labels = new Int32Array(indices.length);
    for (let i = 0; i < indices.length; i++) labels[i] = ds.labels[indices[i]];
    let x: Tensor;
    if (!this.augment) {
      x = new Tensor([indices.length, ...ds.shape]);
      for (let i = 0; i < indices.length; i++) x.data.set(ds.images.subarray(indices[i] * size, (indices[i] + 1) * size), i * size);
    } else {
      const rng = new Rng((this.epochSeed ^ Math.imul(batchNumber + 1, 0x9e3779b9)) >>> 0);
      const views: Image[] = [];
      for (let i = 0; i < indices.length; i++) {
        const image: Image = { data: ds.images.slice(indices[i] * size, (indices[i] + 1) * size), shape: [...ds.shape] };
        views.push(this.augment(image, rng));
      }
      const shape = views[0].shape;
      for (const v of views) {
        if (v.shape.some((d, k) => d !== shape[k]) || v.data.length !== shape[0] * shape[1] * shape[2]) {
          throw new Error(`DataLoader: the augmentation gave images of shapes ${formatShape(shape)} and ${formatShape(v.shape)} in one batch; it must give one shape`);
        }
      }
      const per = shape[0] * shape[1] * shape[2];
      x = new Tensor([indices.length, ...shape]);
      views.forEach((v, i) => x.data.set(v.data, i * per));
    }
    if (this.normalize) normalizeTensor(x, this.normalize);
    return { x, labels, indices };
  }
}
