/**
 * The training recipe of a stride run, as `stride train` records it in
 * model.json (extra.recipe): everything the exported train.py needs to train
 * the same way in PyTorch. Plain JSON, read back by the exporter. Fields added
 * after the first version are optional, so older model.json files still export.
 */
import { StrideError } from "../../stride-error.js";

/** torchvision's RandomErasing as train.py applies it: after Normalize, so `value` is in normalised units (0 is the channel mean). */
export interface RandomErasingRecipe {
  /** Probability of erasing a box in an image. */
  p: number;
  /** Range of the box's area as a share of the image's. */
  scale: [number, number];
  /** Range of the box's aspect ratio (height / width), log-uniform. */
  ratio: [number, number];
  /** The fill after normalisation: one number, or one per channel. */
  value: number | number[];
}

/** The training augmentation as torchvision transforms, in train.py's order: crop, flip, Normalize, erasing. */
export interface AugmentationRecipe {
  /** torchvision RandomCrop(size, padding) with zero fill: [height, width]. */
  randomCrop?: { size: [number, number]; padding: number };
  /** torchvision RandomHorizontalFlip(p). */
  horizontalFlip?: { p: number };
  /** torchvision RandomErasing after the crop, the flip and Normalize. */
  randomErasing?: RandomErasingRecipe;
}

/** How a model was trained (optimizer, schedule, batch, augmentation), in PyTorch's terms, for the generated train.py. */
export interface TrainingRecipe {
  /** torch.optim class name and its options (PyTorch's spelling of stride's); weight decay applies to weights only. */
  optimizer: { type: string; lr: number; weightDecay: number; [option: string]: unknown };
  /** Which parameters weightDecay skips (stride's decayGroups). */
  weightDecayExempt: "biases and batch-norm parameters";
  /**
   * torch.optim.lr_scheduler class name and options, stepped once per epoch, or after every
   * optimizer step when `interval` is "batch" (OneCycleLR); null for a constant lr.
   */
  schedule: null | { type: string; monitor?: "validation accuracy"; interval?: "batch"; [option: string]: unknown };
  batchSize: number;
  epochs: number;
  seed: number;
  /** Share of the training set held out for validation (the plateau schedule watches it). */
  valFraction: number;
  loss: "cross-entropy";
  /** nn.CrossEntropyLoss(label_smoothing) of the training loss; absent for none. */
  labelSmoothing?: number;
  augmentation: AugmentationRecipe | null;
  /**
   * "flip": the final test averages the logits of each image and of its horizontal mirror;
   * "ten-crop:P": the softmax of ten views at the input size, of the image padded by P pixels
   * (corners, centre and their mirrors); absent for none.
   */
  testTimeAugmentation?: string;
  dataset: string;
  maxBatchesPerEpoch?: number;
}

interface OptimizerLike {
  type: string;
  paramGroups: readonly { options: object }[];
}

interface ScheduleLike {
  type: string;
  [k: string]: unknown;
}

/** One number when every param group has the same, else the list (PyTorch takes either). */
function oneOrList(values: unknown): number | number[] {
  const list = values as number[];
  return list.every((v) => v === list[0]) ? list[0] : list.slice();
}

/** A schedule object as its torch.optim.lr_scheduler counterpart's options. */
function scheduleRecipe(s: ScheduleLike): NonNullable<TrainingRecipe["schedule"]> {
  switch (s.type) {
    case "ReduceLROnPlateau": return { type: s.type, monitor: "validation accuracy", ...(s.options as Record<string, unknown>) };
    case "StepLR": return { type: s.type, stepSize: s.stepSize, gamma: s.gamma };
    case "CosineAnnealingLR": return { type: s.type, tMax: s.tMax, etaMin: s.etaMin };
    // Stepped after every batch; maxLr and the momenta are per param group in stride as in PyTorch.
    case "OneCycleLR": return {
      type: s.type, interval: "batch", maxLr: oneOrList(s.maxLrs), totalSteps: s.totalSteps, pctStart: s.pctStart,
      annealStrategy: s.annealStrategy, cycleMomentum: s.cycleMomentum, baseMomentum: oneOrList(s.baseMomenta),
      maxMomentum: oneOrList(s.maxMomenta), divFactor: s.divFactor, finalDivFactor: s.finalDivFactor, threePhase: s.threePhase,
    };
    default: return { type: s.type };
  }
}

/**
 * The recipe of a run from the optimizer and schedule objects it trained with (so the numbers cannot drift from the code).
 * labelSmoothing (0 or absent: none) and testTimeAugmentation are recorded only when used, as older recipes lack them.
 */
export function trainingRecipe(r: {
  optimizer: OptimizerLike; schedule: { type: string } | undefined; batchSize: number; epochs: number; seed: number;
  valFraction: number; augmentation: AugmentationRecipe | null; dataset: string; maxBatchesPerEpoch?: number;
  labelSmoothing?: number; testTimeAugmentation?: string;
}): TrainingRecipe {
  // The first group is the one with weight decay (decayGroups puts weights first).
  const opts: Record<string, unknown> = { ...r.optimizer.paramGroups[0].options };
  delete opts.params;
  const { lr, weightDecay, ...rest } = opts as { lr: number; weightDecay: number } & Record<string, unknown>;
  const optimizer = { type: r.optimizer.type, lr, weightDecay: weightDecay ?? 0, ...rest };
  const s = r.schedule as ScheduleLike | undefined;
  return {
    optimizer, weightDecayExempt: "biases and batch-norm parameters", schedule: s ? scheduleRecipe(s) : null, batchSize: r.batchSize, epochs: r.epochs,
    seed: r.seed, valFraction: r.valFraction, loss: "cross-entropy",
    ...(r.labelSmoothing ? { labelSmoothing: r.labelSmoothing } : {}),
    augmentation: r.augmentation,
    ...(r.testTimeAugmentation ? { testTimeAugmentation: r.testTimeAugmentation } : {}),
    dataset: r.dataset,
    ...(r.maxBatchesPerEpoch !== undefined ? { maxBatchesPerEpoch: r.maxBatchesPerEpoch } : {}),
  };
}

/**
 * stride's randomErasing (which erases the [0, 1] image, before normalisation) as torchvision's
 * RandomErasing after Normalize: the same boxes, and the fill moved into normalised units,
 * (fill - mean) / std per channel, so filling with the channel means records value 0.
 * Noise fills ("random") have no such counterpart: torchvision draws its noise after normalising.
 */
export function randomErasingRecipe(
  options: { p: number; scale: [number, number]; ratio: [number, number]; value: number | number[] | "random" },
  normalization: { mean: number[]; std: number[] },
): RandomErasingRecipe {
  if (options.value === "random") {
    throw new StrideError("randomErasingRecipe: a noise fill (\"random\") has no torchvision counterpart before normalisation; record a number or one number per channel");
  }
  const fill = typeof options.value === "number" ? [options.value] : options.value;
  const channels = normalization.mean.length;
  if (fill.length !== 1 && fill.length !== channels) {
    throw new StrideError(`randomErasingRecipe: ${fill.length} fill values for ${channels}-channel normalisation; give one number or ${channels}`);
  }
  const value = normalization.mean.map((m, c) => ((fill.length === 1 ? fill[0] : fill[c]) - m) / normalization.std[c]);
  return { p: options.p, scale: [options.scale[0], options.scale[1]], ratio: [options.ratio[0], options.ratio[1]], value: oneOrList(value) };
}
