/** The datasets the command line knows by name, each split into train and test. */
import { existsSync, statSync } from "node:fs";
import { mnistDigitsSplit } from "../node/mnist.js";
import { loadFashionMnist, FASHION_MNIST_DIR } from "../node/data.js";
import { loadCifar10 } from "../node/data.js";
import { loadImageFolder } from "../node/data.js";
import { splitDataset, type Dataset } from "../data/dataset.js";
import type { AugmentationRecipe } from "../io/pytorch/recipe.js";
import { randomCrop, randomHorizontalFlip, compose, type Augmentation } from "../data/augment.js";

export interface LoadedData {
  name: string;
  /** "tokens" for sentence datasets: rows of word ids, neither normalised nor augmented. */
  kind: "images" | "tokens";
  /** The vocabulary of a sentence dataset (built from its training sentences). */
  vocabulary?: Vocabulary;
  train: Dataset;
  test: Dataset;
  /** The augmentation `--augment` turns on for this kind of data. */
  augmentation: Augmentation;
  describeAugmentation: string;
  /** The same augmentation as data, for the recipe model.json records (stride export writes it as torchvision transforms). */
  augmentationRecipe: AugmentationRecipe;
}

import { CliError } from "./errors.js";
import { loadAustenSentences } from "../node/text.js";
import { Vocabulary, tokenize, textDataset } from "../data/text.js";
import { Rng } from "../random.js";
export { CliError };

export function loadNamedDataset(name: string, opts: { dataDir?: string; imageSize?: number; channels?: 1 | 3; seed?: number }): LoadedData {
  const digits = (): Augmentation => randomCrop({ size: 28, padding: 2 });
  switch (name) {
    case "mnist": {
      const { train, test } = mnistDigitsSplit({ seed: opts.seed ?? 0 });
      return { name, kind: "images", train, test, augmentation: digits(), describeAugmentation: "random 28x28 crops of the image padded by 2",
        augmentationRecipe: { randomCrop: { size: [28, 28], padding: 2 } } };
    }
    case "fashion-mnist": {
      const dir = opts.dataDir ?? FASHION_MNIST_DIR;
      if (!existsSync(dir)) {
        throw new CliError(`Fashion-MNIST is not installed in ${dir}: install it with "apt-get install dataset-fashion-mnist" (Debian) or pass --data-dir`);
      }
      return {
        name, kind: "images", train: loadFashionMnist({ split: "train", dir }), test: loadFashionMnist({ split: "test", dir }),
        augmentation: compose(randomCrop({ size: 28, padding: 2 }), randomHorizontalFlip()),
        describeAugmentation: "random 28x28 crops of the image padded by 2, horizontal flips",
        augmentationRecipe: { randomCrop: { size: [28, 28], padding: 2 }, horizontalFlip: { p: 0.5 } },
      };
    }
    case "austen":
      return austenSentences(opts.seed ?? 0);
    case "cifar10": {
      if (!opts.dataDir) throw new CliError("cifar10 needs --data-dir: the folder with data_batch_1.bin … test_batch.bin (the CIFAR-10 binary version)");
      return {
        name, kind: "images", train: loadCifar10({ dir: opts.dataDir, split: "train" }), test: loadCifar10({ dir: opts.dataDir, split: "test" }),
        augmentation: compose(randomCrop({ size: 32, padding: 4 }), randomHorizontalFlip()),
        describeAugmentation: "random 32x32 crops of the image padded by 4, horizontal flips",
        augmentationRecipe: { randomCrop: { size: [32, 32], padding: 4 }, horizontalFlip: { p: 0.5 } },
      };
    }
    default: {
      if (!existsSync(name) || !statSync(name).isDirectory()) {
        throw new CliError(`unknown dataset "${name}": use mnist, fashion-mnist, cifar10, austen (sentences, for textcnn), or a folder with one sub-folder of images per class`);
      }
      const size = opts.imageSize ?? 32;
      const all = loadImageFolder(name, { size, channels: opts.channels ?? 3 });
      const { train, test } = splitDataset(all, 0.2, opts.seed ?? 0);
      const pad = Math.max(1, Math.round(size / 8));
      return {
        name, kind: "images", train, test,
        augmentation: compose(randomCrop({ size, padding: pad }), randomHorizontalFlip()),
        describeAugmentation: `random ${size}x${size} crops of the image padded by ${pad}, horizontal flips`,
        augmentationRecipe: { randomCrop: { size: [size, size], padding: pad }, horizontalFlip: { p: 0.5 } },
      };
    }
  }
}

/** Tokens per sentence in the austen dataset: its sentences have at most 40 words, and punctuation adds a few tokens. */
export const AUSTEN_LENGTH = 48;

/**
 * The Austen sentences split 80/20 per class (seeded), the vocabulary built
 * from the training sentences only (words seen twice or more; the rest are
 * unknown), every sentence cut or padded to AUSTEN_LENGTH tokens.
 */
function austenSentences(seed: number): LoadedData {
  const { sentences, labels, classes } = loadAustenSentences();
  const rng = new Rng(seed);
  const trainIdx: number[] = [], testIdx: number[] = [];
  classes.forEach((_, k) => {
    const members = rng.shuffle(labels.flatMap((l, i) => (l === k ? [i] : [])));
    const cut = Math.round(members.length * 0.2);
    testIdx.push(...members.slice(0, cut));
    trainIdx.push(...members.slice(cut));
  });
  trainIdx.sort((a, b) => a - b);
  testIdx.sort((a, b) => a - b);
  const vocabulary = Vocabulary.build(trainIdx.map((i) => tokenize(sentences[i])), { minCount: 2 });
  const part = (idx: number[], split: string) => textDataset({
    name: `austen-${split}`, sentences: idx.map((i) => sentences[i]), labels: idx.map((i) => labels[i]), classes, vocabulary, length: AUSTEN_LENGTH,
  });
  return {
    name: "austen", kind: "tokens", vocabulary, train: part(trainIdx, "train"), test: part(testIdx, "test"),
    augmentation: (x) => x, describeAugmentation: "none (sentences)", augmentationRecipe: {},
  };
}
