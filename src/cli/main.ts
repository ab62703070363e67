/**
 * The `stride` command: train, eval, predict, summary.
 *
 *   stride train [model] [--dataset mnist] [--epochs N] …   train, test, save
 *   stride eval <model-dir> [--dataset …] [--ten-crop N | --tta flip|ten-crop[:P]]   accuracy, top-5, confusion matrix
 *   stride predict <model-dir> <image…> [--k 5]              top-k labels of image files
 *   stride summary <model> [--input 3x224x224] …             the architecture's arithmetic
 *   stride visualize <model-dir> <image> --out DIR           activations and filters as PNG files
 *   stride import <file.pth|file.onnx|file.safetensors>      a pretrained model as a stride model folder
 *   stride export <model-dir> --format F --out PATH          for PyTorch (torch, pytorch) or ONNX
 *   stride tune [--show | --reset | --no-save]               the wasm GEMM's blocking for this machine
 */
import { parseArgs } from "node:util";
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { availableParallelism } from "node:os";
import { setBackend, getBackend, listBackends } from "../kernels/index.js";
import { setThreads, getThreads } from "../kernels/wasm/index.js";
import { manualSeed } from "../random.js";
import { StrideError } from "../stride-error.js";
import { loadNamedDataset, CliError } from "./datasets.js";
import { IMPORT_USAGE } from "./commands/import.js";
import { buildModel, describeModels } from "./models.js";
import { LIMITS, buildWithinLimit, flagNumber, maxThreads } from "./bounds.js";
import { printable } from "./printable.js";
import { computeNormalization, type Normalization } from "../data/normalize.js";
import { loadImage } from "../node/data.js";
import { loadWordVectors } from "../node/text.js";
import type { WordVectors } from "../data/text.js";
import { imagePolarity, invertPixels, INVERTED_NOTE } from "../data/polarity.js";
import { fit, evaluate, predict, TrainingDivergedError, DEFAULT_DIVERGENCE_FACTOR, type History } from "../train/trainer.js";
// fit() writes checkpoints (--out) and draws its bar on stderr through the Node edge.
import "../node/train.js";
import { formatConfusion } from "../train/metrics.js";
import { parseTestTimeAugmentation, ttaEvaluateOptions, ttaViews, ttaRecipe, describeTta, ttaSuffix } from "./tta.js";
import { SGD, Adam, AdamW, RMSprop, Adagrad, decayGroups, type Optimizer } from "../train/optimizers.js";
import { ReduceLROnPlateau, StepLR, CosineAnnealingLR, OneCycleLR, type Schedule } from "../train/schedules.js";
import { parseDuration } from "../train/time-budget.js";
import { compose, randomErasing } from "../data/augment.js";
import type { ModelInfo } from "../io/model-file.js";
import { saveModel, loadModelWithInfo } from "../node/files.js";
import { lockFolder } from "../node/lock.js";
import { replaceHead } from "../train/transfer.js";
import { trainingRecipe, randomErasingRecipe, type TrainingRecipe, type AugmentationRecipe } from "../io/pytorch/recipe.js";
import { freeze } from "../models/named.js";
import type { Layer } from "../layers/layer.js";
import { splitDataset, type Dataset } from "../data/dataset.js";

const USAGE = `usage: stride <command> [options]

commands:
  train [model]            train a model (default lenet5) and report its test accuracy
      --dataset NAME       mnist (built-in digits, default) | fashion-mnist | cifar10 | <folder of class folders>
      --data-dir DIR       where cifar10 / fashion-mnist files are
      --epochs N           passes over the training set (default 20; with --time-budget, the most it may plan)
      --batch-size N       mini-batch size (default 64)
      --lr X               learning rate (default 0.02 for sgd/momentum/nesterov, 0.001 for adam/adamw/rmsprop)
      --optimizer NAME     momentum (default) | nesterov | sgd | adam | adamw | rmsprop | adagrad
      --weight-decay X     L2 weight decay on weights, not biases or batch-norm (default 1e-4)
      --schedule NAME      plateau (divide lr by 10 when validation accuracy stalls, default) | step | cosine | none |
                           onecycle (PyTorch's OneCycleLR stepped per batch, --lr as its max_lr, momentum cycled 0.95-0.85)
      --label-smoothing X  smooth the cross-entropy's targets by X in [0, 1] (e.g. 0.1; default 0)
      --random-erasing P   erase a random box (torchvision's RandomErasing) in each training image with probability P
      --time-budget T      train as many whole epochs as fit in T (e.g. 60m, 90s, 1.5h) with validation and the test,
                           planned from the measured pace; cosine and onecycle schedules are stretched to the plan
      --tta flip           test-time flips for the final test: average the logits of each image and its mirror
      --tta ten-crop[:P]   the final test averages ten views at the input size: the image padded by P pixels (default 1)
                           cropped at its corners and centre, and their mirrors (shifts by P, for models trained on
                           crops of the padded image)
      --no-augment         train without the default augmentation (random crops, and flips for natural images)
      --val-fraction X     share of the training set held out for validation (default 0.1)
      --model-width X      scale every hidden width of the model (default 1, at most 8; 0.25 for a quick small run)
      --max-batches N      at most N batches per epoch (for quick trial runs; default all)
      --divergence-factor X  stop (exit 3, keeping the saved model) when a batch's loss passes X times the larger of the
                           first batch's loss and chance level (default 100; off: stop only on NaN/infinity)
      --out DIR            where the model and checkpoints go (default runs/<model>-<dataset>)
      --resume             continue from the latest checkpoint in --out
      --from DIR           fine-tune a saved or imported model (stride import) instead of building one: its head is
                           replaced when the dataset's classes differ, and images are read at its input size
      --freeze-until NAME  with --from: freeze every layer before NAME (e.g. fc, or layer4 of a ResNet) so only the rest
                           trains; frozen batch norms keep their running statistics
      --word-vectors FILE  textcnn: start the embedding from a GloVe / word2vec text file ("word v1 … vD" per line);
                           its dimension becomes the embedding's, words it lacks start random
      --backend NAME       wasm (default where supported) | js
      --threads N          worker threads of the wasm backend (default: all cores; at most 4 per core, 64 in all)
      --seed N             seed for initialisation, shuffling and augmentation (default 1)
      --image-size N       images of a folder dataset are resized to N x N (default 32)
      --progress MODE      auto | bar | lines | none
  eval <model-dir>         accuracy, top-5 and confusion matrix on a dataset's test set
      --dataset NAME       (default: the dataset the model was trained on)
      --ten-crop N         average the 10 crops of size N (corners, centre, mirrors)
      --tta flip           average the logits of each image and its left-right mirror
      --tta ten-crop[:P]   average ten views at the input size: the image padded by P pixels (default 1) cropped at its
                           corners and centre, and their mirrors
  predict <model-dir> <image…>   the top-k classes of PNG/JPEG images
      --k N                how many classes (default 5)
      --no-invert          read a dark-on-light image as it is (a grey model otherwise inverts it, as MNIST is light on dark)
  summary <model>          layers, output volumes, parameters, memory and FLOPs
      --input CxHxW  --batch N  --optimizer sgd|momentum|adam  --strict
  layer "<layers>" --input CxHxW   the notes' arithmetic for a layer or a small stack, formulas filled in:
                           conv F[xF] | conv1d F | pool F | avgpool F | fc N, with sS pP dD nN (stride, padding,
                           dilation, filters), e.g. stride layer "conv 3x3 s2 p1 n2" --input 3x7x7
  visualize <model-dir> <image> --out DIR   every layer's activations (depth slices in rows), the first
                           layer's filters and the top-5, as PNG files   [--scale N] [--k N]
  export <model-dir> --format F --out PATH   the model for another framework:
      --format torch       PATH.pt: the weights as a PyTorch state dict
      --format pytorch     PATH/: model.py, weights.pt, train.py (the run's recipe, DistributedDataParallel), README.md
      --format onnx        PATH.onnx: the model in inference form (opset 17; --opset 13 for older runtimes), batch symbolic
  tune                     time the wasm GEMM's cache blocking on this machine and save the fastest (about a minute)
      --show | --reset | --no-save | --quick | --threads N

${IMPORT_USAGE}

models:
${describeModels("  ")}
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // `stride train --help` (as the README suggests) prints the usage rather than "unknown option".
  if (["train", "eval", "predict", "import", "export", "tune"].includes(command) && (rest.includes("--help") || rest.includes("-h"))) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    switch (command) {
      case "train":
        return await trainCommand(rest);
      case "eval":
        return evalCommand(rest);
      case "predict":
        return predictCommand(rest);
      case "summary": {
        const { summaryCommand } = await import("./commands/summary.js");
        return await summaryCommand(rest);
      }
      case "layer": {
        const { layerCommand } = await import("./commands/layer.js");
        return layerCommand(rest);
      }
      case "import": {
        const { importCommand } = await import("./commands/import.js");
        return await importCommand(rest);
      }
      case "visualize": {
        const { visualizeCommand } = await import("./commands/visualize.js");
        return await visualizeCommand(rest);
      }
      case "export": {
        const { exportCommand } = await import("./commands/export.js");
        return await exportCommand(rest);
      }
      case "tune": {
        const { tuneCommand } = await import("./commands/tune.js");
        return tuneCommand(rest);
      }
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        process.stderr.write(`stride: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    return reportError(e);
  }
}

/** Known problems become one clear line; only a real bug shows a stack trace. */
function reportError(e: unknown): number {
  // Every error the library raises on purpose is a StrideError: its message is the whole story.
  if (e instanceof CliError || e instanceof StrideError || (e as { code?: string })?.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" ||
    (e as { code?: string })?.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" || (e as { code?: string })?.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    // One line: parseArgs spreads its hints over several.
    process.stderr.write(`stride: ${(e as Error).message.trim().replace(/\s*\n\s*/g, " ")}\n`);
    return e instanceof TrainingDivergedError ? 3 : 2;
  }
  // Memory ran out despite the flags' limits (a large batch of large images): say which flags size it.
  if (e instanceof RangeError && /Array buffer allocation failed|Invalid typed array length|Invalid array length/.test(e.message)) {
    process.stderr.write(`stride: out of memory (${e.message}): use a smaller --batch-size, --image-size or --model-width\n`);
    return 2;
  }
  if (e instanceof Error && !/^(TypeError|RangeError|ReferenceError)$/.test(e.name)) {
    process.stderr.write(`stride: ${e.message}\n`);
    return 2;
  }
  throw e;
}

function selectBackend(name: string | undefined, threads: string | undefined): void {
  if (name !== undefined) {
    if (!listBackends().includes(name)) throw new CliError(`--backend ${name} is not available here; available: ${listBackends().join(", ")}`);
    setBackend(name);
  }
  if (threads !== undefined) {
    const n = flagNumber("threads", threads, 1, { integer: true, min: 1, max: maxThreads(), hint: `four per core of this machine's ${availableParallelism()}, at most 64` });
    if (getBackend().name === "wasm") setThreads(n);
  }
}

function describeBackend(): string {
  const b = getBackend().name;
  return b === "wasm" ? `wasm (SIMD, ${getThreads()} thread${getThreads() === 1 ? "" : "s"})` : b;
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

async function trainCommand(argv: string[]): Promise<number> {
  const { values: o, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: {
      dataset: { type: "string", default: "mnist" }, "data-dir": { type: "string" },
      epochs: { type: "string" }, "batch-size": { type: "string" }, lr: { type: "string" },
      optimizer: { type: "string", default: "momentum" }, "weight-decay": { type: "string" },
      schedule: { type: "string", default: "plateau" }, "no-augment": { type: "boolean", default: false },
      "val-fraction": { type: "string" }, out: { type: "string" }, resume: { type: "boolean", default: false },
      backend: { type: "string" }, threads: { type: "string" }, seed: { type: "string" },
      "image-size": { type: "string" }, progress: { type: "string", default: "auto" },
      "model-width": { type: "string" }, "max-batches": { type: "string" }, "divergence-factor": { type: "string" },
      from: { type: "string" }, "freeze-until": { type: "string" },
      "label-smoothing": { type: "string" }, "random-erasing": { type: "string" }, "time-budget": { type: "string" }, tta: { type: "string" },
      "word-vectors": { type: "string" },
    },
  });
  if (positionals.length > 1) throw new CliError(`train takes one model name, got ${positionals.join(" ")}`);
  if (o.from !== undefined && positionals.length > 0) throw new CliError(`--from ${o.from} gives the model; do not name one too (${positionals[0]})`);
  if (o["freeze-until"] !== undefined && o.from === undefined) throw new CliError("--freeze-until freezes layers of a pretrained model: use it with --from DIR");
  const start = o.from !== undefined ? loadStartingModel(o.from) : undefined;
  const modelName = start?.name ?? positionals[0] ?? "lenet5";
  selectBackend(o.backend, o.threads);
  const seed = flagNumber("seed", o.seed, 1, { integer: true });
  const budgetSeconds = o["time-budget"] !== undefined ? parseDuration(o["time-budget"], "--time-budget") : undefined;
  if (budgetSeconds !== undefined && o.resume) throw new CliError("--time-budget plans a run from its start and cannot resume one; resume with --epochs instead");
  // With a budget, --epochs is only a ceiling on the plan.
  const epochs = flagNumber("epochs", o.epochs, budgetSeconds !== undefined ? 1000 : 20, { integer: true, min: 1, max: LIMITS.epochs });
  const labelSmoothing = flagNumber("label-smoothing", o["label-smoothing"], 0, { min: 0, max: 1 });
  const erasing = flagNumber("random-erasing", o["random-erasing"], 0, { min: 0, max: 1 });
  const tta = parseTestTimeAugmentation(o.tta);
  const batchSize = flagNumber("batch-size", o["batch-size"], 64, { integer: true, min: 1, max: LIMITS.batchSize, hint: "a batch's examples are in memory at once" });
  const valFraction = flagNumber("val-fraction", o["val-fraction"], 0.1, { min: 0, below: 1 });
  const weightDecay = flagNumber("weight-decay", o["weight-decay"], 1e-4, { min: 0 });
  const width = flagNumber("model-width", o["model-width"], 1, { above: 0, max: LIMITS.modelWidth, hint: "1 is the documented network; 8 already makes resnet110 about 110 million parameters" });
  const divergenceFactor = o["divergence-factor"] === "off" ? Infinity :
    flagNumber("divergence-factor", o["divergence-factor"], DEFAULT_DIVERGENCE_FACTOR, { above: 1 });
  const maxBatches = o["max-batches"] === undefined ? undefined : flagNumber("max-batches", o["max-batches"], 0, { integer: true, min: 1 });
  const progress = o.progress as "auto" | "bar" | "lines" | "none";
  if (!["auto", "bar", "lines", "none"].includes(progress)) throw new CliError(`--progress ${progress} is not valid; use auto, bar, lines or none`);
  manualSeed(seed);

  const started = performance.now();
  const data = loadNamedDataset(o.dataset!, {
    dataDir: o["data-dir"], seed,
    imageSize: o["image-size"] ? flagNumber("image-size", o["image-size"], 32, { integer: true, min: 4, max: LIMITS.imageSize }) : start?.inputShape[1],
    channels: start?.inputShape[0] === 1 ? 1 : undefined,
  });
  let train: Dataset = data.train;
  let validation: Dataset | undefined;
  if (valFraction > 0) {
    const split = splitDataset(data.train, valFraction, seed);
    train = split.train;
    validation = split.test;
  }
  // A pretrained model keeps the normalisation its weights were trained with; token ids are never normalised or augmented.
  const tokens = data.kind === "tokens";
  const noAugment = o["no-augment"] || tokens;
  if (erasing > 0 && tokens) throw new CliError("--random-erasing erases boxes of images; the dataset is sentences");
  const normalize: Normalization | undefined = start?.info.normalization ?? (tokens ? undefined : computeNormalization(train));
  let wordVectors: WordVectors | undefined;
  if (o["word-vectors"] !== undefined) {
    if (!data.vocabulary || start) throw new CliError("--word-vectors gives a text CNN its starting word vectors: use it with textcnn on a sentence dataset (--dataset austen)");
    wordVectors = loadWordVectors(o["word-vectors"], data.vocabulary);
    if (wordVectors.found === 0) throw new CliError(`--word-vectors ${o["word-vectors"]}: none of the vocabulary's ${data.vocabulary.size} words is in the file; is it a word-vector file for this language?`);
  }
  const model = start ? prepareFineTuning(start, train, seed, o["freeze-until"])
    : buildWithinLimit(`${modelName} at --model-width ${width} for ${train.shape.join("x")} inputs`,
      () => buildModel(modelName, { numClasses: train.classes.length, inputShape: train.shape, seed, width, vocabSize: data.vocabulary?.size, wordVectors }));
  const params = model.params().reduce((n, p) => n + p.value.size, 0);
  const frozen = model.params().filter((p) => p.trainable === false).reduce((n, p) => n + p.value.size, 0);

  const optimizer = makeOptimizer(o.optimizer!, model, o.lr, weightDecay);
  const batchesPerEpoch = Math.min(Math.ceil(train.length / batchSize), maxBatches ?? Infinity);
  // The optimizer as configured, for the recipe: a one-cycle moves its lr and momentum to the cycle's start,
  // which train.py's OneCycleLR does again from the same configuration.
  const configured = { type: optimizer.type, paramGroups: optimizer.paramGroups.map((g) => ({ options: structuredClone(g.options) })) };
  const schedule = makeSchedule(o.schedule!, optimizer, epochs, validation !== undefined, batchesPerEpoch);
  // Erased boxes are filled with the channel means, which normalisation turns into 0: torchvision's
  // RandomErasing(value=0) after Normalize. Its default scale and ratio are spelled out so the
  // recipe records the numbers the augmentation uses.
  const erasingOptions = { p: erasing, scale: [0.02, 0.33] as [number, number], ratio: [0.3, 3.3] as [number, number], value: normalize?.mean ?? 0 };
  const augmentation = noAugment && erasing === 0 ? undefined
    : compose(...(noAugment ? [] : [data.augmentation]), ...(erasing > 0 ? [randomErasing(erasingOptions)] : []));
  const describeAugmentation = [...(noAugment ? [] : [data.describeAugmentation]), ...(erasing > 0 ? [`random erasing p ${erasing}`] : [])].join(", ");
  // What `stride export --format pytorch` turns into train.py.
  const augmentationRecipe: AugmentationRecipe | null = noAugment && erasing === 0 ? null : {
    ...(noAugment ? {} : data.augmentationRecipe),
    ...(erasing > 0 ? { randomErasing: randomErasingRecipe(erasingOptions, normalize!) } : {}),
  };
  const recipe = trainingRecipe({ optimizer: configured, schedule, batchSize, epochs, seed, valFraction, labelSmoothing,
    augmentation: augmentationRecipe, testTimeAugmentation: ttaRecipe(tta), dataset: data.name, maxBatchesPerEpoch: maxBatches });
  const out = o.out ?? join("runs", `${modelName}-${data.name.replace(/[^\w.-]+/g, "_")}`);
  const checkpoints = join(out, "checkpoints");
  if (o.resume && !existsSync(join(checkpoints, "latest.json"))) {
    throw new CliError(`--resume: no checkpoint in ${checkpoints}; train without --resume first (or pass the same --out)`);
  }
  // One trainer per --out: two would overwrite each other's checkpoints and model.
  const lock = lockFolder(out, "stride train", (line) => process.stderr.write(`stride: ${line}\n`));
  try {
    const log = (line: string) => console.log(line);
    log(`stride: ${start ? "fine-tuning" : "training"} ${modelName} (${params.toLocaleString("en-US")} parameters` +
      (frozen ? `, ${frozen.toLocaleString("en-US")} of them frozen` : "") + `) on ${data.name}: ` +
      `${train.length} training, ${validation?.length ?? 0} validation, ${data.test.length} test ` +
      (tokens ? `sentences of ${train.shape[2]} tokens (vocabulary ${data.vocabulary!.size.toLocaleString("en-US")})` : `images of ${train.shape.join("x")}`));
    log(`backend ${describeBackend()}; ${optimizer.type} lr ${schedule instanceof OneCycleLR ? `${schedule.maxLrs[0]} at the one-cycle's peak` : optimizer.lr}` +
      `${o.optimizer === "momentum" || o.optimizer === "nesterov" ? " momentum 0.9" : ""}, weight decay ${weightDecay}, schedule ${o.schedule}, batch ${batchSize}, ` +
      (budgetSeconds !== undefined ? `epochs planned to fit ${o["time-budget"]} (at most ${epochs})` : `${epochs} epochs`) +
      (maxBatches !== undefined ? ` of at most ${maxBatches} batches` : "") + (width !== 1 ? `; width x${width}` : "") +
      (labelSmoothing > 0 ? `; label smoothing ${labelSmoothing}` : "") +
      (describeAugmentation ? `; augmentation: ${describeAugmentation}` : "") + (tta ? `; ${describeTta(tta)}` : ""));
    if (wordVectors) {
      log(`word vectors from ${o["word-vectors"]}: ${wordVectors.dim} dimensions, ${wordVectors.found.toLocaleString("en-US")} of the ` +
        `${data.vocabulary!.size.toLocaleString("en-US")} vocabulary words found (the rest start random)`);
    }

    let history: History;
    try {
      history = await fit(model, train, {
        epochs, batchSize, optimizer, schedule, validation, normalize, seed, progress, log, labelSmoothing,
        augment: augmentation,
        // The budget counts from the command's start (data loading included); flips evaluate the test twice, ten crops ten times.
        timeBudget: budgetSeconds === undefined ? undefined
          // A budget already spent on loading still trains one epoch (the plan's minimum).
          : { seconds: Math.max(budgetSeconds - (performance.now() - started) / 1000, 1e-3), finalEvalExamples: data.test.length * ttaViews(tta) },
        checkpointDir: checkpoints, resume: o.resume ? checkpoints : undefined,
        modelInfo: { extra: { model: modelName, dataset: data.name, seed, recipe } },
        maxBatchesPerEpoch: maxBatches, divergenceFactor,
      });
    } catch (e) {
      // A diverged run saves nothing: the model a previous run left in --out stays.
      if (e instanceof TrainingDivergedError) {
        e.message += existsSync(join(out, "model.json")) ? ` The model saved in ${out} was not replaced.` : ` Nothing was saved to ${out}.`;
      }
      throw e;
    }

    const result = evaluate(model, data.test, { normalize, ...ttaEvaluateOptions(tta, train.shape) });
    const seconds = (performance.now() - started) / 1000;
    saveModel(model, out, {
      inputShape: train.shape, classes: train.classes, normalization: normalize,
      extra: { model: modelName, dataset: data.name, seed, testAccuracy: result.accuracy, epochs: history.epochs.length, recipe: plannedRecipe(recipe, history.plannedEpochs, schedule) },
    });
    log(`test accuracy ${pct(result.accuracy)} (${Math.round(result.accuracy * result.count)}/${result.count})${ttaSuffix(tta)}, top-5 ${pct(result.top5)}, loss ${result.loss.toFixed(4)}`);
    log(`saved the model to ${out} (model.json + its weights file) in ${seconds.toFixed(1)} s in all`);
    return 0;
  } finally {
    lock.release();
  }
}

/**
 * The recipe with the epochs a time budget planned (it was recorded before training, with --epochs as the
 * ceiling), and the schedule stretched to the plan: cosine's tMax, one-cycle's totalSteps as fit set them.
 */
function plannedRecipe(recipe: TrainingRecipe, planned: number | undefined, trained: Schedule | undefined): TrainingRecipe {
  if (planned === undefined) return recipe;
  let schedule = recipe.schedule;
  if (schedule?.type === "CosineAnnealingLR") schedule = { ...schedule, tMax: planned };
  if (schedule?.type === "OneCycleLR" && trained instanceof OneCycleLR) schedule = { ...schedule, totalSteps: trained.totalSteps };
  return { ...recipe, epochs: planned, schedule };
}

interface StartingModel {
  name: string;
  model: Layer;
  info: ModelInfo;
  inputShape: number[];
}

/** A saved or imported model to fine-tune (train --from). */
function loadStartingModel(dir: string): StartingModel {
  const { model, info } = loadModelWithInfo(dir);
  if (!info.inputShape || info.inputShape.length !== 3) {
    throw new CliError(`--from ${dir}: the model does not record an image input shape [C, H, W]; re-import it with stride import --input CxHxW`);
  }
  return { name: basename(dir.replace(/[\\/]+$/, "")), model, info, inputShape: info.inputShape };
}

/**
 * The notes' transfer learning: a new head when the dataset's classes are not
 * the model's, and the layers before --freeze-until kept as they are.
 */
function prepareFineTuning(start: StartingModel, train: Dataset, seed: number, freezeUntil: string | undefined): Layer {
  const { model, info } = start;
  if (train.shape.join("x") !== start.inputShape.join("x")) {
    throw new CliError(`--from: the model takes ${start.inputShape.join("x")} inputs but the dataset's are ${train.shape.join("x")}; ` +
      `use a dataset of that shape (for an image folder, --image-size ${start.inputShape[1]})`);
  }
  const outputs = model.outputShape([1, ...start.inputShape]).slice(1).reduce((a, b) => a * b, 1);
  const sameClasses = info.classes !== undefined && info.classes.join("\n") === train.classes.join("\n");
  if (!sameClasses || outputs !== train.classes.length) replaceHead(model, { numClasses: train.classes.length, seed });
  // Frozen layers keep their batch-norm statistics too, so they compute exactly what they did: a fixed feature extractor.
  if (freezeUntil !== undefined) freeze(model, { until: freezeUntil, statistics: "freeze" });
  return model;
}

function makeOptimizer(name: string, model: Layer, lrText: string | undefined, weightDecay: number): Optimizer<any> {
  const groups = decayGroups(model, weightDecay);
  const adaptive = ["adam", "adamw", "rmsprop"].includes(name);
  const lr = flagNumber("lr", lrText, adaptive ? 0.001 : name === "adagrad" ? 0.01 : 0.02, { above: 0 });
  switch (name) {
    case "sgd": return new SGD(groups, { lr });
    case "momentum": return new SGD(groups, { lr, momentum: 0.9 });
    case "nesterov": return new SGD(groups, { lr, momentum: 0.9, nesterov: true });
    case "adam": return new Adam(groups, { lr });
    case "adamw": return new AdamW(groups, { lr });
    case "rmsprop": return new RMSprop(groups, { lr });
    case "adagrad": return new Adagrad(groups, { lr });
    default: throw new CliError(`--optimizer ${name} is not valid; use momentum, nesterov, sgd, adam, adamw, rmsprop or adagrad`);
  }
}

function makeSchedule(name: string, optimizer: Optimizer<any>, epochs: number, hasValidation: boolean, batchesPerEpoch: number): Schedule | undefined {
  switch (name) {
    case "none": return undefined;
    case "plateau":
      if (!hasValidation) throw new CliError("--schedule plateau watches validation accuracy: keep --val-fraction above 0, or use step, cosine or none");
      return new ReduceLROnPlateau(optimizer, { mode: "max", factor: 0.1, patience: 3, threshold: 1e-3 });
    case "step": return new StepLR(optimizer, Math.max(1, Math.floor(epochs / 3)), 0.1);
    case "cosine": return new CosineAnnealingLR(optimizer, epochs);
    // The optimiser's lr (--lr) is the peak; the cycle spans the whole run (a time budget re-times it).
    case "onecycle":
      if (optimizer.type === "Adagrad") throw new CliError("--schedule onecycle cycles momentum, which adagrad has not; use momentum, nesterov, sgd, adam, adamw or rmsprop");
      return new OneCycleLR(optimizer, { maxLr: optimizer.lr, epochs, stepsPerEpoch: batchesPerEpoch });
    default: throw new CliError(`--schedule ${name} is not valid; use plateau, step, cosine, onecycle or none`);
  }
}

function evalCommand(argv: string[]): number {
  const { values: o, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: {
      dataset: { type: "string" }, "data-dir": { type: "string" }, "ten-crop": { type: "string" }, tta: { type: "string" },
      backend: { type: "string" }, threads: { type: "string" },
    },
  });
  if (positionals.length !== 1) throw new CliError("eval takes the folder of a saved model: stride eval runs/lenet5-mnist");
  selectBackend(o.backend, o.threads);
  const { model, info } = loadModelWithInfo(positionals[0]);
  const datasetName = o.dataset ?? (info.extra?.dataset as string | undefined) ?? "mnist";
  // The built-in digits and image folders are split into train and test by the training run's seed:
  // evaluate on that run's test part (1, train's default, for models saved without a seed).
  const seed = typeof info.extra?.seed === "number" ? info.extra.seed : 1;
  const data = loadNamedDataset(datasetName, { dataDir: o["data-dir"], imageSize: info.inputShape?.[1], seed });
  const tenCrop = o["ten-crop"] !== undefined ? flagNumber("ten-crop", o["ten-crop"], 0, { integer: true, min: 1, max: LIMITS.imageSize }) : undefined;
  const tta = parseTestTimeAugmentation(o.tta);
  if (tta && tenCrop !== undefined) throw new CliError("--ten-crop already averages over mirrored crops; use either --ten-crop N or --tta");
  const views = ttaEvaluateOptions(tta, info.inputShape ?? data.test.shape);
  const r = evaluate(model, data.test, { normalize: info.normalization, ...(tenCrop !== undefined ? { tenCrop } : views) });
  console.log(`${positionals[0]} on ${data.name} test (${r.count} images${tenCrop ? `, 10-crop at ${tenCrop}` : ""}${tta ? `,${ttaSuffix(tta)}` : ""}): ` +
    `accuracy ${pct(r.accuracy)}, top-5 ${pct(r.top5)}, loss ${r.loss.toFixed(4)}`);
  console.log(formatConfusion(r.confusion, r.classes.map(printable)));
  return 0;
}

function predictCommand(argv: string[]): number {
  const { values: o, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: { k: { type: "string" }, backend: { type: "string" }, "no-invert": { type: "boolean", default: false } },
  });
  if (positionals.length < 2) throw new CliError("predict takes a saved model's folder and one or more images: stride predict runs/lenet5-mnist digit.png");
  selectBackend(o.backend, undefined);
  const [dir, ...images] = positionals;
  const { model, info } = loadModelWithInfo(dir);
  if (!info.inputShape || info.inputShape.length !== 3) throw new CliError(`${dir}: the model does not record an image input shape [C, H, W]; it cannot read image files`);
  const [c, h, w] = info.inputShape;
  const k = flagNumber("k", o.k, 5, { integer: true, min: 1, max: LIMITS.k });
  for (const path of images) {
    const x = loadImage(path, { size: [h, w], channels: c as 1 | 3 });
    // A grey model (MNIST-like) reads light strokes on dark; a dark-on-light image is flipped, and the user told.
    if (c === 1 && !o["no-invert"] && imagePolarity(x.data, h, w).darkOnLight) {
      invertPixels(x.data);
      console.error(`${path}: ${INVERTED_NOTE} (--no-invert reads it as it is)`);
    }
    const [top] = predict(model, x, { classes: info.classes, k, normalize: info.normalization });
    console.log(`${path}: ` + top.map((p) => `${printable(p.label)} ${(100 * p.probability).toFixed(1)}%`).join(", "));
  }
  return 0;
}
