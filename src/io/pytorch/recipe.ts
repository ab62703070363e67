/**
 * The training recipe of a stride run, as `stride train` records it in
 * model.json (extra.recipe): everything the exported train.py needs to train
 * the same way in PyTorch. Plain JSON, read back by the exporter.
 */
export interface AugmentationRecipe {
  /** torchvision RandomCrop(size, padding) with zero fill: [height, width]. */
  randomCrop?: { size: [number, number]; padding: number };
  /** torchvision RandomHorizontalFlip(p). */
  horizontalFlip?: { p: number };
}

/** How a model was trained (optimizer, schedule, batch, augmentation), in PyTorch's terms, for the generated train.py. */
export interface TrainingRecipe {
  /** torch.optim class name and its options (PyTorch's spelling of stride's); weight decay applies to weights only. */
  optimizer: { type: string; lr: number; weightDecay: number; [option: string]: unknown };
  /** Which parameters weightDecay skips (stride's decayGroups). */
  weightDecayExempt: "biases and batch-norm parameters";
  /** torch.optim.lr_scheduler class name and options, stepped once per epoch; null for a constant lr. */
  schedule: null | { type: string; monitor?: "validation accuracy"; [option: string]: unknown };
  batchSize: number;
  epochs: number;
  seed: number;
  /** Share of the training set held out for validation (the plateau schedule watches it). */
  valFraction: number;
  loss: "cross-entropy";
  augmentation: AugmentationRecipe | null;
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

/** The recipe of a run from the optimizer and schedule objects it trained with (so the numbers cannot drift from the code). */
export function trainingRecipe(r: {
  optimizer: OptimizerLike; schedule: { type: string } | undefined; batchSize: number; epochs: number; seed: number;
  valFraction: number; augmentation: AugmentationRecipe | null; dataset: string; maxBatchesPerEpoch?: number;
}): TrainingRecipe {
  // The first group is the one with weight decay (decayGroups puts weights first).
  const opts: Record<string, unknown> = { ...r.optimizer.paramGroups[0].options };
  delete opts.params;
  const { lr, weightDecay, ...rest } = opts as { lr: number; weightDecay: number } & Record<string, unknown>;
  const optimizer = { type: r.optimizer.type, lr, weightDecay: weightDecay ?? 0, ...rest };
  let schedule: TrainingRecipe["schedule"] = null;
  const s = r.schedule as ScheduleLike | undefined;
  if (s) {
    if (s.type === "ReduceLROnPlateau") schedule = { type: s.type, monitor: "validation accuracy", ...(s.options as Record<string, unknown>) };
    else if (s.type === "StepLR") schedule = { type: s.type, stepSize: s.stepSize, gamma: s.gamma };
    else if (s.type === "CosineAnnealingLR") schedule = { type: s.type, tMax: s.tMax, etaMin: s.etaMin };
    else schedule = { type: s.type };
  }
  return {
    optimizer, weightDecayExempt: "biases and batch-norm parameters", schedule, batchSize: r.batchSize, epochs: r.epochs,
    seed: r.seed, valFraction: r.valFraction, loss: "cross-entropy", augmentation: r.augmentation, dataset: r.dataset,
    ...(r.maxBatchesPerEpoch !== undefined ? { maxBatchesPerEpoch: r.maxBatchesPerEpoch } : {}),
  };
}
