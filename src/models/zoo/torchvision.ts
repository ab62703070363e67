/**
 * torchvision's ImageNet classifiers by their torchvision names ("resnet18",
 * "vgg16_bn", …), built from the zoo's torchvision variants, and the
 * recognition of which of them a state dict belongs to, from its names and
 * shapes alone: `stride import resnet18.pth` needs no --arch.
 *
 * A state dict also tells the width: the stem's filter count against
 * torchvision's 64 gives the widthMultiplier, so scaled-down copies of these
 * architectures (as in the tests) are recognised too.
 */
import type { Layer } from "../../layers/layer.js";
import { alexnet } from "./alexnet.js";
import { vgg, type VggConfig } from "./vgg.js";
import { googlenet } from "./googlenet.js";
import { resnet, type ResNetDepth } from "./resnet.js";
import { withMeta } from "../../tensor.js";

/** The torchvision architectures torchvisionModel builds and importModelBytes recognises. */
export const TORCHVISION_ARCHS = [
  "alexnet",
  "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
  "googlenet",
  "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
] as const;

/** One of TORCHVISION_ARCHS. */
export type TorchvisionArch = (typeof TORCHVISION_ARCHS)[number];

/** Options of torchvisionModel. */
export interface TorchvisionModelOptions {
  numClasses?: number;
  /** One example's shape (default [3, 224, 224]). */
  inputShape?: number[];
  /** Scales every width, as the zoo builders do (1: torchvision's network). */
  widthMultiplier?: number;
  /** false: zero weights (fast), for models whose weights are loaded next. */
  init?: boolean;
  seed?: number;
  /** Shapes only, no storage: for summary and the other counts (see ZooOptions.meta). */
  meta?: boolean;
}

const VGG_CFG: Record<string, VggConfig> = { vgg11: "A", vgg13: "B", vgg16: "D", vgg19: "E" };

/** The zoo model with torchvision's layout for a torchvision architecture name. */
export function torchvisionModel(arch: string, opts: TorchvisionModelOptions = {}): Layer {
  return withMeta(opts?.meta === true, () => buildTorchvisionModel(arch, opts));
}

function buildTorchvisionModel(arch: string, opts: TorchvisionModelOptions = {}): Layer {
  if (!(TORCHVISION_ARCHS as readonly string[]).includes(arch)) {
    throw new Error(`unknown torchvision architecture "${arch}"; use one of ${TORCHVISION_ARCHS.join(", ")}`);
  }
  const o = { numClasses: opts.numClasses, inputShape: opts.inputShape, widthMultiplier: opts.widthMultiplier, init: opts.init, seed: opts.seed };
  if (arch === "alexnet") return alexnet({ ...o, variant: "torchvision" });
  if (arch === "googlenet") return googlenet({ ...o, variant: "torchvision" });
  if (arch.startsWith("resnet")) return resnet(Number(arch.slice(6)) as ResNetDepth, o);
  const [base, bn] = arch.split("_");
  // torchvision's VGG pools adaptively to 7x7 before the classifier, which is the identity at 224x224.
  const side = opts.inputShape?.[1] ?? 224;
  return vgg(VGG_CFG[base], { ...o, batchNorm: bn === "bn", adaptivePool: side !== 224 || (opts.inputShape?.[2] ?? 224) !== 224 });
}

/** What a state dict says about the network it came from. */
export interface RecognisedArch {
  arch: TorchvisionArch;
  numClasses: number;
  inChannels: number;
  widthMultiplier: number;
}

/** Shapes by name; the names may carry DataParallel's "module." prefix. */
type Shapes = Map<string, number[]>;

/**
 * Which torchvision architecture a state dict is, or null when it is none of
 * them. Only names and shapes are read.
 */
export function recogniseTorchvisionArch(shapesByName: Map<string, { shape: number[] }>): RecognisedArch | null {
  const shapes: Shapes = new Map();
  const strip = [...shapesByName.keys()].every((k) => k.startsWith("module."));
  for (const [k, v] of shapesByName) shapes.set(strip ? k.slice(7) : k, v.shape);
  return recogniseResNet(shapes) ?? recogniseGoogLeNet(shapes) ?? recogniseAlexOrVgg(shapes);
}

function result(arch: TorchvisionArch, stem: number[] | undefined, head: number[] | undefined): RecognisedArch | null {
  if (!stem || stem.length !== 4 || !head || head.length !== 2) return null;
  return { arch, numClasses: head[0], inChannels: stem[1], widthMultiplier: stem[0] / 64 };
}

function recogniseResNet(s: Shapes): RecognisedArch | null {
  if (!s.has("layer1.0.conv1.weight") || !s.has("fc.weight")) return null;
  const bottleneck = s.has("layer1.0.conv3.weight");
  const blocks = [1, 2, 3, 4].map((stage) => {
    let n = 0;
    while (s.has(`layer${stage}.${n}.conv1.weight`)) n++;
    return n;
  });
  const key = blocks.join(",");
  const depth = bottleneck
    ? ({ "3,4,6,3": 50, "3,4,23,3": 101, "3,8,36,3": 152 } as Record<string, number>)[key]
    : ({ "2,2,2,2": 18, "3,4,6,3": 34 } as Record<string, number>)[key];
  return depth ? result(`resnet${depth}` as TorchvisionArch, s.get("conv1.weight"), s.get("fc.weight")) : null;
}

function recogniseGoogLeNet(s: Shapes): RecognisedArch | null {
  if (!s.has("inception3a.branch1.conv.weight") || !s.has("inception5b.branch4.1.conv.weight")) return null;
  return result("googlenet", s.get("conv1.conv.weight"), s.get("fc.weight"));
}

function recogniseAlexOrVgg(s: Shapes): RecognisedArch | null {
  const stem = s.get("features.0.weight");
  if (!stem || stem.length !== 4) return null;
  // The classifier's last Linear: classifier.6 in both layouts.
  const head = s.get("classifier.6.weight");
  if (stem[2] === 11) return result("alexnet", stem, head);
  if (stem[2] !== 3) return null;
  const convs = [...s].filter(([k, v]) => /^features\.\d+\.weight$/.test(k) && v.length === 4).length;
  const base = ({ 8: "vgg11", 10: "vgg13", 13: "vgg16", 16: "vgg19" } as Record<number, string>)[convs];
  if (!base) return null;
  const bn = s.has("features.1.running_mean");
  return result((bn ? `${base}_bn` : base) as TorchvisionArch, stem, head);
}
