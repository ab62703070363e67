/**
 * torchvision's state-dict names for the zoo's torchvision variants, derived
 * from the model's structure (not a table), so any depth, width, number of
 * classes or input size gets its names:
 *
 * - AlexNet, VGG (a flat Sequential: conv/bn/relu/pool layers, optional
 *   adaptive pooling, flatten, linear/relu/dropout layers): torchvision holds
 *   the two halves in nn.Sequential `features` and `classifier`, whose names
 *   are the position of each module, parameterless ones counted too. The
 *   avgpool and flatten sit between them and are not counted.
 * - ResNet: stride's module paths are torchvision's (layer1.0.conv1,
 *   layer2.0.downsample.0); only the buffers are spelled differently.
 * - GoogLeNet: each conv + bn + relu is torchvision's BasicConv2d, a module
 *   of its own (conv1.conv, conv1.bn). Inside an Inception block the
 *   branches are nn.Sequential, so a BasicConv2d there is named by its
 *   position (branch2.0, branch2.1; branch4.1 after the max pooling),
 *   except branch1, which torchvision holds as a bare BasicConv2d.
 *   Auxiliary heads: aux1.conv.conv, aux1.conv.bn, aux1.fc1, aux1.fc2.
 *
 * Every stride parameter and buffer gets a torchvision name; leaf names map
 * weight -> weight, bias -> bias, runningMean -> running_mean, runningVar ->
 * running_var. torchvision's num_batches_tracked has no stride counterpart.
 */
import { Tensor } from "../../tensor.js";
import { Module } from "../../layers/layer.js";
import { Sequential } from "../sequential.js";
import { Graph } from "../graph.js";

/** The torchvision model families whose state-dict names stride maps. */
export type TorchvisionFamily = "alexnet" | "vgg" | "resnet" | "googlenet";

/** How a model's parameters are named in torchvision's state dict. */
export interface TorchvisionNames {
  family: TorchvisionFamily;
  /** stride's dotted name (namedParams / namedBuffers) -> torchvision's state-dict name. */
  names: Map<string, string>;
  /**
   * Prefixes of torchvision names the model deliberately lacks: a GoogLeNet
   * built without auxiliary heads, loading a checkpoint that has them
   * (torchvision's own googlenet(weights=...) drops them the same way).
   */
  optionalPrefixes: string[];
}

const LEAF: Record<string, string> = { weight: "weight", bias: "bias", runningMean: "running_mean", runningVar: "running_var" };

/** Adds the names of one leaf layer's parameters and buffers under both prefixes. */
function addLeaf(out: Map<string, string>, layer: Module, stridePath: string, tvPath: string): void {
  for (const p of [...layer.params(), ...layer.buffers()]) {
    const leaf = LEAF[p.name];
    if (!leaf) throw new Error(`torchvision names: ${stridePath}.${p.name} has no torchvision counterpart`);
    out.set(`${stridePath}.${p.name}`, `${tvPath}.${leaf}`);
  }
}

const join = (a: string, b: string) => (a ? `${a}.${b}` : b);
const isLeaf = (m: Module) => m.children().length === 0;

// ---------------------------------------------------------------------------
// AlexNet and VGG: features.<i>, classifier.<i>

const FEATURE_TYPES = new Set(["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]);
const CLASSIFIER_TYPES = new Set(["Linear", "ReLU", "Dropout"]);

function featuresClassifier(model: Module): TorchvisionNames | string {
  if (!(model instanceof Sequential) || !model.layers.every(isLeaf)) return "not a flat Sequential";
  const layers = model.layers;
  const flat = layers.findIndex((l) => l.type === "Flatten");
  if (flat < 0) return "no Flatten between features and classifier";
  // torchvision's avgpool (AdaptiveAvgPool2d) is a module of its own between the two halves.
  const featureEnd = flat > 0 && layers[flat - 1].type === "AdaptiveAvgPool2d" ? flat - 1 : flat;
  const features = layers.slice(0, featureEnd), classifier = layers.slice(flat + 1);
  const odd = features.find((l) => !FEATURE_TYPES.has(l.type)) ?? classifier.find((l) => !CLASSIFIER_TYPES.has(l.type));
  if (odd) return `it has a ${odd.type} (${odd.name}), which torchvision's AlexNet and VGG do not`;
  if (!features.some((l) => l.type === "Conv2d") || !classifier.some((l) => l.type === "Linear")) return "no convolutions or no classifier";
  const names = new Map<string, string>();
  features.forEach((l, i) => addLeaf(names, l, l.name, `features.${i}`));
  classifier.forEach((l, i) => addLeaf(names, l, l.name, `classifier.${i}`));
  const family: TorchvisionFamily = features.some((l) => l.type === "BatchNorm2d") || model.name.startsWith("vgg") ? "vgg" : "alexnet";
  return { family, names, optionalPrefixes: [] };
}

// ---------------------------------------------------------------------------
// ResNet: the same paths

function resnetNames(model: Module): TorchvisionNames | string {
  if (!(model instanceof Sequential)) return "not a Sequential";
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  const need = ["conv1", "bn1", "maxpool", "layer1", "layer2", "layer3", "layer4", "fc"];
  const lacking = need.filter((n) => !byName.has(n));
  if (lacking.length) return `no ${lacking.join(", ")}`;
  for (let s = 1; s <= 4; s++) {
    const stage = byName.get(`layer${s}`)!;
    if (!(stage instanceof Sequential) || !stage.layers.every((b) => b instanceof Graph)) return `layer${s} is not a stage of residual blocks`;
    for (const b of stage.layers) {
      if (b.children().some((c) => c.type === "ShortcutPad")) return `${stage.name}.${b.name} has a zero-padding shortcut, which torchvision's ResNets do not`;
    }
  }
  const names = new Map<string, string>();
  const walk = (m: Module, path: string) => {
    if (isLeaf(m)) addLeaf(names, m, path, path);
    else for (const c of m.children()) walk(c, join(path, c.name));
  };
  walk(model, "");
  return { family: "resnet", names, optionalPrefixes: [] };
}

// ---------------------------------------------------------------------------
// GoogLeNet: BasicConv2d units

/**
 * Maps the leaves of one container: a Conv2d followed by a BatchNorm2d is a
 * BasicConv2d; in an Inception branch (indexed) the modules are numbered as
 * torchvision's nn.Sequential numbers them, elsewhere a BasicConv2d takes
 * the conv's name. Returns why not when a layer has no torchvision place.
 */
function basicConvs(out: Map<string, string>, children: Module[], stridePath: string, tvPath: string, indexed: boolean): string | null {
  // Group into torchvision's modules: [conv, bn] (the ReLU is inside BasicConv2d's forward) or one other layer.
  const modules: Module[][] = [];
  for (let i = 0; i < children.length; i++) {
    const c = children[i];
    if (c.type === "Conv2d") {
      const bn = children[i + 1];
      if (!bn || bn.type !== "BatchNorm2d") return `${join(stridePath, c.name)} is not followed by a batch norm (torchvision's BasicConv2d)`;
      modules.push([c, bn]);
      i++;
      if (children[i + 1]?.type === "ReLU") i++;
    } else if (!isLeaf(c)) {
      return `${join(stridePath, c.name)} is a container where torchvision has a layer`;
    } else {
      modules.push([c]);
    }
  }
  modules.forEach((m, i) => {
    if (m.length === 2) {
      // branch1 of an Inception block is a bare BasicConv2d, not a Sequential of one.
      const unit = !indexed ? join(tvPath, m[0].name) : modules.length === 1 ? tvPath : `${tvPath}.${i}`;
      addLeaf(out, m[0], join(stridePath, m[0].name), `${unit}.conv`);
      addLeaf(out, m[1], join(stridePath, m[1].name), `${unit}.bn`);
    } else if (m[0].params().length || m[0].buffers().length) {
      addLeaf(out, m[0], join(stridePath, m[0].name), indexed ? `${tvPath}.${i}` : join(tvPath, m[0].name));
    }
  });
  return null;
}

function googlenetNames(model: Module): TorchvisionNames | string {
  const top = model.children();
  const first = top.find((c) => c.name === "inception3a");
  if (!(first instanceof Graph) || !["branch1", "branch2", "branch3", "branch4"].every((b) => first.node(b))) return "no Inception block named inception3a";
  const names = new Map<string, string>();
  // The trunk: leaves and BasicConv2d units by name, Inception blocks and auxiliary heads below them.
  const trunkLeaves: Module[] = [];
  const flush = (): string | null => {
    const why = basicConvs(names, trunkLeaves, "", "", false);
    trunkLeaves.length = 0;
    return why;
  };
  let aux = 0;
  for (const c of top) {
    if (isLeaf(c)) {
      trunkLeaves.push(c);
      continue;
    }
    const why = flush();
    if (why) return why;
    if (c instanceof Graph && c.name.startsWith("inception")) {
      for (const branch of c.children()) {
        if (branch.type === "Concat") continue;
        const w = basicConvs(names, branch.children(), join(c.name, branch.name), join(c.name, branch.name), true);
        if (w) return w;
      }
    } else if (c.name.startsWith("aux")) {
      aux++;
      const w = basicConvs(names, c.children(), c.name, c.name, false);
      if (w) return w;
    } else {
      return `${c.name} is a ${c.type} that torchvision's GoogLeNet does not have`;
    }
  }
  const why = flush();
  if (why) return why;
  return { family: "googlenet", names, optionalPrefixes: aux ? [] : ["aux1.", "aux2."] };
}

// ---------------------------------------------------------------------------

/**
 * torchvision's names for a model's parameters and buffers, or why the model
 * is not one of the zoo's torchvision variants.
 */
export function torchvisionNames(model: Module): TorchvisionNames | { reason: string } {
  const reasons: string[] = [];
  for (const [family, derive] of [["GoogLeNet", googlenetNames], ["ResNet", resnetNames], ["AlexNet/VGG", featuresClassifier]] as const) {
    let r: TorchvisionNames | string;
    try {
      r = derive(model);
    } catch (e) {
      r = (e as Error).message; // a parameter torchvision has no name for
    }
    if (typeof r !== "string") {
      // Two stride tensors under one torchvision name would load the same values: not a layout torchvision has.
      const seen = new Map<string, string>();
      for (const [s, t] of r.names) {
        if (seen.has(t)) r = `${seen.get(t)} and ${s} would both be ${t}`;
        seen.set(t, s);
      }
      if (typeof r !== "string") return r;
    }
    reasons.push(`${family}: ${r}`);
  }
  return { reason: reasons.join("; ") };
}

/**
 * torchvision's GoogLeNet `transform_input` (True in its pretrained weights,
 * which were trained on inputs scaled to [-1, 1]): takes an image normalised
 * with ImageNet's mean and std, as torchvision's transforms give it, and
 * rescales each channel to what those weights expect. Apply it to the input
 * before calling a GoogLeNet that holds torchvision's pretrained weights.
 * The arithmetic is PyTorch's: float32 multiply, then float32 add.
 */
export function googlenetTransformInput(x: Tensor): Tensor {
  if (x.rank !== 4 || x.shape[1] !== 3) {
    throw new Error(`googlenetTransformInput: expects images [N, 3, H, W] but got [${x.shape.join(", ")}]`);
  }
  const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
  const out = new Tensor(x.shape);
  const [n, c, h, w] = x.shape;
  const plane = h * w;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const scale = Math.fround(std[ch] / 0.5), shift = Math.fround((mean[ch] - 0.5) / 0.5);
      const o = (b * c + ch) * plane;
      for (let i = o; i < o + plane; i++) out.data[i] = Math.fround(Math.fround(x.data[i] * scale) + shift);
    }
  }
  return out;
}
