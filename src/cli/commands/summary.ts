/**
 * `stride summary <model> [--input 3x224x224] [--batch N] [--optimizer sgd|momentum|adam] [--strict]`:
 * the architecture's table (volumes, parameters, activations, MACs) and its
 * memory for a training step and for inference. Zoo models are built with
 * `meta: true` (parameter shapes, no storage), so any size answers at once.
 */
import type { Layer } from "../../layers/layer.js";
import { ShapeError } from "../../shape.js";
import { withMeta } from "../../tensor.js";
import { printable } from "../printable.js";
import * as zoo from "../../models/zoo/index.js";
import { summary } from "../../models/summary.js";
import { estimateMemory, OPTIMIZER_STATE, type OptimizerName } from "../../models/memory.js";
import { buildModel } from "../models.js";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { MODEL_JSON } from "../../io/model-file.js";
import { LIMITS, checkInputShape } from "../bounds.js";
import { loadModelWithInfo } from "../../node/files.js";

/** A model of `stride train`'s own list (small, so built with its real initialisation). */
const trainModel = (name: string): Builder => (o) =>
  withMeta(o.meta, () => buildModel(name, { numClasses: 10, inputShape: o.inputShape ?? [1, 28, 28], seed: 1 }));

type Builder = (o: { inputShape?: number[]; meta: true }) => Layer;

/** Zoo models by command-line name, with the input each is built for by default. */
export const SUMMARY_MODELS: Record<string, { input: number[]; build: Builder }> = {
  lenet5: { input: [1, 32, 32], build: (o) => zoo.lenet5(o) },
  "lenet5-partial": { input: [1, 32, 32], build: (o) => zoo.lenet5({ ...o, c3: "partial" }) },
  "lenet-theano": { input: [1, 28, 28], build: (o) => zoo.lenetTheano(o) },
  alexnet: { input: [3, 227, 227], build: (o) => zoo.alexnet(o) },
  "alexnet-torchvision": { input: [3, 224, 224], build: (o) => zoo.alexnet({ ...o, variant: "torchvision" }) },
  zfnet: { input: [3, 224, 224], build: (o) => zoo.zfnet(o) },
  vgg11: { input: [3, 224, 224], build: (o) => zoo.vgg("A", o) },
  "vgg11-lrn": { input: [3, 224, 224], build: (o) => zoo.vgg("A-LRN", o) },
  vgg13: { input: [3, 224, 224], build: (o) => zoo.vgg("B", o) },
  "vgg16-c": { input: [3, 224, 224], build: (o) => zoo.vgg("C", o) },
  vgg16: { input: [3, 224, 224], build: (o) => zoo.vgg16(o) },
  vgg19: { input: [3, 224, 224], build: (o) => zoo.vgg19(o) },
  googlenet: { input: [3, 224, 224], build: (o) => zoo.googlenet(o) },
  "googlenet-torchvision": { input: [3, 224, 224], build: (o) => zoo.googlenet({ ...o, variant: "torchvision" }) },
  resnet18: { input: [3, 224, 224], build: (o) => zoo.resnet(18, o) },
  resnet34: { input: [3, 224, 224], build: (o) => zoo.resnet(34, o) },
  resnet50: { input: [3, 224, 224], build: (o) => zoo.resnet(50, o) },
  resnet101: { input: [3, 224, 224], build: (o) => zoo.resnet(101, o) },
  resnet152: { input: [3, 224, 224], build: (o) => zoo.resnet(152, o) },
  // The paper's ResNets ("v1": the stride on a bottleneck's first 1x1), whose FLOPs its Table 1 gives.
  "resnet50-v1": { input: [3, 224, 224], build: (o) => zoo.resnet(50, { ...o, variant: "v1" }) },
  "resnet101-v1": { input: [3, 224, 224], build: (o) => zoo.resnet(101, { ...o, variant: "v1" }) },
  "resnet152-v1": { input: [3, 224, 224], build: (o) => zoo.resnet(152, { ...o, variant: "v1" }) },
  "resnet20-cifar": { input: [3, 32, 32], build: (o) => zoo.resnetCifar(20, o) },
  "resnet32-cifar": { input: [3, 32, 32], build: (o) => zoo.resnetCifar(32, o) },
  "resnet44-cifar": { input: [3, 32, 32], build: (o) => zoo.resnetCifar(44, o) },
  "resnet56-cifar": { input: [3, 32, 32], build: (o) => zoo.resnetCifar(56, o) },
  "resnet110-cifar": { input: [3, 32, 32], build: (o) => zoo.resnetCifar(110, o) },
  // The same without shortcuts: the paper's plain baselines.
  "plain20-cifar": { input: [3, 32, 32], build: (o) => zoo.plainCifar(20, o) },
  "plain32-cifar": { input: [3, 32, 32], build: (o) => zoo.plainCifar(32, o) },
  "plain44-cifar": { input: [3, 32, 32], build: (o) => zoo.plainCifar(44, o) },
  "plain56-cifar": { input: [3, 32, 32], build: (o) => zoo.plainCifar(56, o) },
  "plain110-cifar": { input: [3, 32, 32], build: (o) => zoo.plainCifar(110, o) },
  "alphago-policy": { input: [48, 19, 19], build: (o) => zoo.alphagoPolicy(o) },
  allconv: { input: [3, 32, 32], build: (o) => zoo.allConv(o) },
  textcnn: { input: [7], build: (o) => zoo.textCnn(o) },
  // The recipes of stride train, by the names train knows them.
  "bn-convnet": { input: [1, 28, 28], build: trainModel("bn-convnet") },
  resnet8: { input: [1, 28, 28], build: trainModel("resnet8") },
  resnet14: { input: [1, 28, 28], build: trainModel("resnet14") },
  "resnet8-wide": { input: [1, 28, 28], build: trainModel("resnet8-wide") },
};

const ALIASES: Record<string, string> = {
  "vgg-a": "vgg11", "vgg-a-lrn": "vgg11-lrn", "vgg-b": "vgg13", "vgg-c": "vgg16-c", "vgg-d": "vgg16", "vgg-e": "vgg19",
  alphago: "alphago-policy", "all-cnn-c": "allconv", "text-cnn": "textcnn",
  plain20: "plain20-cifar", plain32: "plain32-cifar", plain44: "plain44-cifar", plain56: "plain56-cifar", plain110: "plain110-cifar",
  "lenet-theano": "lenet-theano", lenettheano: "lenet-theano",
  resnet20: "resnet20-cifar", resnet32: "resnet32-cifar", resnet44: "resnet44-cifar", resnet56: "resnet56-cifar", resnet110: "resnet110-cifar",
};

const USAGE = "usage: stride summary <model | saved model folder> [--input 3x224x224] [--batch N] [--optimizer sgd|momentum|adam] [--strict]";

class ArgError extends Error {}

interface Parsed {
  model: string;
  /** model is the folder of a saved model rather than a zoo name. */
  folder: boolean;
  input?: number[];
  batch: number;
  optimizer: OptimizerName;
  strict: boolean;
}

function parse(argv: string[]): Parsed | "help" {
  let model: string | undefined;
  let input: number[] | undefined;
  let batch = 1;
  let optimizer: OptimizerName = "sgd";
  let strict = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === "") throw new ArgError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "-h":
      case "--help":
        return "help";
      case "--input": {
        const text = value();
        const dims = text.split(/[x,]/).map((d) => Number(d));
        if (!/^\d+([x,]\d+)*$/.test(text) || dims.some((d) => !Number.isInteger(d) || d < 1)) {
          throw new ArgError(`--input ${text} is not valid; give one example's shape as CxHxW, e.g. 3x224x224 (or a length, e.g. 7, for textcnn)`);
        }
        try {
          input = checkInputShape("--input", dims);
        } catch (e) {
          throw new ArgError((e as Error).message);
        }
        break;
      }
      case "--batch": {
        const text = value();
        batch = Number(text);
        if (!/^\d+$/.test(text) || batch < 1 || batch > LIMITS.batchSize) throw new ArgError(`--batch ${text} is not valid; give a whole number from 1 to ${LIMITS.batchSize}`);
        break;
      }
      case "--optimizer": {
        const text = value();
        if (!Object.hasOwn(OPTIMIZER_STATE, text)) throw new ArgError(`--optimizer ${text} is not valid; use one of ${Object.keys(OPTIMIZER_STATE).join(", ")}`);
        optimizer = text as OptimizerName;
        break;
      }
      case "--strict":
        strict = true;
        break;
      default:
        if (arg.startsWith("-")) throw new ArgError(`unknown option ${arg}; ${USAGE}`);
        if (model !== undefined) throw new ArgError(`unexpected argument "${arg}" (the model is already "${model}"); ${USAGE}`);
        model = arg;
    }
  }
  if (model === undefined) throw new ArgError(`no model given; ${USAGE}; models: ${Object.keys(SUMMARY_MODELS).join(", ")}`);
  // A saved or imported model's folder.
  if (existsSync(join(model, MODEL_JSON))) return { model, folder: true, input, batch, optimizer, strict };
  const key = model.toLowerCase();
  // Own keys only: "constructor" or "toString" must not find Object.prototype's.
  const name = Object.hasOwn(SUMMARY_MODELS, key) ? key : Object.hasOwn(ALIASES, key) ? ALIASES[key] : undefined;
  if (!name) throw new ArgError(`unknown model "${model}"; use one of ${Object.keys(SUMMARY_MODELS).join(", ")}`);
  return { model: name, folder: false, input, batch, optimizer, strict };
}

export interface SummaryIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const defaultIo: SummaryIo = {
  out: (t) => process.stdout.write(t + "\n"),
  err: (t) => process.stderr.write(t + "\n"),
};

/** Runs the command; returns 0 on success, 2 for a bad argument, 1 when the model does not fit the input. */
export async function summaryCommand(argv: string[], io: SummaryIo = defaultIo): Promise<number> {
  let p: Parsed | "help";
  try {
    p = parse(argv);
  } catch (e) {
    if (e instanceof ArgError) {
      io.err(`stride summary: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (p === "help") {
    io.out(`${USAGE}\nmodels: ${Object.keys(SUMMARY_MODELS).join(", ")}`);
    return 0;
  }
  try {
    let model: Layer;
    let shape: number[];
    if (p.folder) {
      const { model: saved, info } = loadModelWithInfo(p.model);
      const recorded = p.input ?? info.inputShape;
      if (!recorded) throw new ArgError(`${p.model} does not record its input shape; pass --input CxHxW`);
      model = saved;
      shape = recorded;
    } else {
      const entry = SUMMARY_MODELS[p.model];
      model = entry.build({ inputShape: p.input, meta: true });
      shape = p.input ?? entry.input;
    }
    const s = summary(model, shape, { strict: p.strict });
    // Layer names of a saved folder come from its model.json: print them without their control characters.
    io.out(s.toString().split("\n").map(printable).join("\n"));
    io.out("");
    io.out(estimateMemory(model, shape, { batchSize: p.batch, optimizer: p.optimizer }).toString());
    return 0;
  } catch (e) {
    if (e instanceof ShapeError || e instanceof Error) {
      io.err(`stride summary: ${p.model}${p.input ? ` on ${p.input.join("x")}` : ""}: ${e.message.split("\n")[0]}`);
      return 1;
    }
    throw e;
  }
}
