#!/usr/bin/env node
/**
 * Writes docs/zoo.md: every zoo model's summary table, computed by
 * summary() from the models built with meta: true (shapes only, nothing
 * random, so the file only changes when an architecture or the summary changes).
 *
 *   npx tsc -p . && node scripts/zoo-docs.mjs
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as zoo from "../dist/src/models/zoo/index.js";
import { summary, withCommas, humanCount, humanBytes } from "../dist/src/models/summary.js";

const o = { meta: true };
const entries = [
  ["LeNet-5", "lenet5()", () => zoo.lenet5(o), [1, 32, 32]],
  ["LeNet-5, the paper's partial C3", 'lenet5({ c3: "partial" })', () => zoo.lenet5({ ...o, c3: "partial" }), [1, 32, 32]],
  ["LeNet-5 on 28x28 (padding 2)", "lenet5({ inputShape: [1, 28, 28] })", () => zoo.lenet5({ ...o, inputShape: [1, 28, 28] }), [1, 28, 28]],
  ["The Theano tutorial's LeNet", "lenetTheano()", () => zoo.lenetTheano(o), [1, 28, 28]],
  ["AlexNet (the notes' and the paper's)", "alexnet()", () => zoo.alexnet(o), [3, 227, 227]],
  ["AlexNet fed 224x224 instead of 227x227", "alexnet({ inputShape: [3, 224, 224] })", () => zoo.alexnet({ ...o, inputShape: [3, 224, 224] }), [3, 224, 224]],
  ["AlexNet (torchvision)", 'alexnet({ variant: "torchvision" })', () => zoo.alexnet({ ...o, variant: "torchvision" }), [3, 224, 224]],
  ["ZFNet", "zfnet()", () => zoo.zfnet(o), [3, 224, 224]],
  ...["A", "A-LRN", "B", "C", "D", "E"].map((c) => [`VGG configuration ${c}${c === "D" ? " (VGG-16)" : c === "E" ? " (VGG-19)" : ""}`, `vgg("${c}")`, () => zoo.vgg(c, o), [3, 224, 224]]),
  ["GoogLeNet (paper)", "googlenet()", () => zoo.googlenet(o), [3, 224, 224]],
  ["GoogLeNet (torchvision)", 'googlenet({ variant: "torchvision" })', () => zoo.googlenet({ ...o, variant: "torchvision" }), [3, 224, 224]],
  ["GoogLeNet (torchvision) with the auxiliary classifiers", 'googlenet({ variant: "torchvision", aux: true })', () => zoo.googlenet({ ...o, variant: "torchvision", aux: true }), [3, 224, 224]],
  ...[18, 34, 50, 101, 152].map((d) => [`ResNet-${d}`, `resnet(${d})`, () => zoo.resnet(d, o), [3, 224, 224]]),
  ...[50, 101, 152].map((d) => [`ResNet-${d} v1 (the paper's: stride on the first 1x1)`, `resnet(${d}, { variant: "v1" })`, () => zoo.resnet(d, { ...o, variant: "v1" }), [3, 224, 224]]),
  ...[20, 32, 44, 56, 110].map((d) => [`ResNet-${d} for CIFAR-10`, `resnetCifar(${d})`, () => zoo.resnetCifar(d, o), [3, 32, 32]]),
  ...[20, 56].map((d) => [`Plain-${d} for CIFAR-10 (no shortcuts)`, `plainCifar(${d})`, () => zoo.plainCifar(d, o), [3, 32, 32]]),
  ["AlphaGo policy network (k = 192)", "alphagoPolicy()", () => zoo.alphagoPolicy(o), [48, 19, 19]],
  ["All-CNN-C", "allConv()", () => zoo.allConv(o), [3, 32, 32]],
  ["Text CNN (Kim; the notes' illustration sizes)", "textCnn()", () => zoo.textCnn(o), [7]],
];

const summaries = entries.map(([title, call, build, shape]) => ({ title, call, shape, s: summary(build(), shape) }));

const overview = [
  "| model | builder | input | parameters | activations / example | MACs / example |",
  "|---|---|---|---:|---:|---:|",
  ...summaries.map(({ title, call, shape, s }) =>
    `| ${title} | \`${call}\` | ${shape.join("x")} | ${withCommas(s.totalParams)} | ${humanCount(s.totalActivations)} | ${humanCount(s.totalMacs)} |`),
].join("\n");

const vgg = summary(zoo.vgg16(o), [3, 224, 224]);
const vggAll = summary(zoo.vgg16(o), [3, 224, 224], { fold: false });
const input = vgg.rows[0].activations;
const convOut = vgg.rows.filter((r) => r.type.startsWith("Conv2d")).reduce((a, r) => a + r.activations, 0);
const fcRelu = vgg.rows.filter((r) => r.type.startsWith("Linear+ReLU")).reduce((a, r) => a + r.activations, 0);

const text = `# The model zoo

Every table below is printed by \`summary(model, inputShape)\` (\`stride summary <model>\` on the
command line) and written into this file by \`scripts/zoo-docs.mjs\`; regenerate it with
\`npx tsc -p . && node scripts/zoo-docs.mjs\`. Counts are per example. "memory" is the number of
values in a layer's output volume, as in the notes' VGG listing; "weights" excludes the biases (as
the notes do) and "params" includes them. Element-wise activations, dropout and flatten that directly
follow a layer are folded into its row (\`Conv2d+ReLU\`), as the notes write \`CONV3-64\`; pass
\`{ fold: false }\` for a row per layer. A row whose window does not fit exactly carries the formula.

## Overview

${overview}

Parameter counts equal torchvision's where torchvision has the model: AlexNet 61,100,840,
VGG-16 138,357,544, VGG-19 143,667,240, ResNet-18 11,689,512, ResNet-34 21,797,672, ResNet-50
25,557,032, ResNet-101 44,549,160, ResNet-152 60,192,808, GoogLeNet 6,624,904 (13,004,888 with the
auxiliary classifiers). MACs are within 1% of torchvision's published GFLOPS (which are MACs):
VGG-16 15.47 G, ResNet-50 4.09 G, ResNet-152 11.51 G. The six VGG configurations round to the
paper's table: 133, 133, 133, 134, 138, 144 million.

## Which AlexNet

- \`alexnet()\` is the network of the notes and the paper: 227x227x3, conv1 96 11x11/4, LRN,
  overlapping 3x3/2 pooling, 96-256-384-384-256 filters with conv2, conv4 and conv5 split in two
  groups as on the paper's two GPUs, FC 4096-4096-1000. **60,965,224 parameters**, the paper's
  figure; \`groups: 1\` connects the split layers fully (62.4M).
- \`alexnet({ variant: "torchvision" })\` is torchvision's single-GPU variant: 64-192-384-256-256
  filters, no LRN, padding 2 in conv1 so that 224x224 works, adaptive average pooling to 6x6:
  **61,100,840 parameters**. The two are different networks; neither count is "wrong".
- GoogLeNet likewise: torchvision's network uses batch norm and, for compatibility with its
  weights, 3x3 convolutions in the branch the paper has 5x5 (6,624,904 parameters); the paper's
  variant has 6,998,552.

## VGG-16's activations: 15.2M per image, not 24M

The notes list VGG-16's volumes row by row and conclude "TOTAL memory: 24M * 4 bytes ~= 93MB /
image (only forward! ~*2 for bwd)". The rows of the table below are the notes' rows, with the same
volumes and weights, and they add up to **${withCommas(vgg.totalActivations)} values** with the input
(${withCommas(vgg.totalActivations - input)} without it): **${humanBytes(vgg.forwardBytes)}** per
image forward at 4 bytes per value and ${humanBytes(vgg.forwardBackwardBytes)} with the backward
pass. Even the notes' own rounded rows (150K + 2 x 3.2M + 800K + 2 x 1.6M + 400K + 3 x 800K + 200K
+ 3 x 400K + 100K + 3 x 100K + 25K + 4K + 4K + 1K) sum to about 15.2M.

Where the 24M could come from: the "~93MB" follows from it (24M x 4 bytes = 96 MB = 91.6 MiB), so
the bytes are not independent evidence. The 24M itself is not reproduced by any single consistent
rule we tried. Counting the ReLU outputs as separate volumes, which a framework that does not apply
ReLU in place really allocates, adds ${withCommas(convOut + fcRelu)} values and gives
${withCommas(vggAll.totalActivations - vggAll.rows.filter((r) => r.type === "Flatten").reduce((a, r) => a + r.activations, 0) - vggAll.rows.filter((r) => r.type === "Dropout").reduce((a, r) => a + r.activations, 0))}
(28.8M), above the notes' figure; counting them only for the two largest blocks (224x224 and
112x112) gives about 24.9M, close to it. Most likely the total was tallied separately from the
listing; in any case it is not the sum of the rows shown, and \`summary()\` reports the true sum.
For what stride actually allocates in training (every layer's output, ReLU included, plus a gradient
of each, parameters, gradients and optimiser state) see \`estimateMemory()\` and the memory part of
\`stride summary vgg16\`.

## The Inception arithmetic

A 5x5 convolution with 32 filters on GoogLeNet's 28x28x192 volume costs 28 x 28 x 32 x 5 x 5 x 192 =
120,422,400 multiply-accumulates (120M). Reducing the depth to 16 with a 1x1 convolution first
(\`inception3a.branch3.reduce\` below) costs 28 x 28 x 16 x 192 = 2,408,448, and the 5x5 on 16
channels 28 x 28 x 32 x 5 x 5 x 16 = 10,035,200: 12.4M in all, ten times less.

## The tables

${summaries.map(({ title, call, s }) => `### ${title}\n\n\`models.${call}\`\n\n\`\`\`\n${s.toString()}\n\`\`\`\n`).join("\n")}`;

const target = fileURLToPath(new URL("../docs/zoo.md", import.meta.url));
writeFileSync(target, text);
console.log(`wrote ${target} (${summaries.length} models)`);
