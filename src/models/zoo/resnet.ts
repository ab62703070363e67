/**
 * Residual networks (He, Zhang, Ren, Sun 2015).
 *
 * `resnet(18|34|50|101|152)`: torchvision's ImageNet networks. A 7x7/2 conv,
 * 3x3/2 max pooling, four stages of basic blocks (two 3x3 convs; 18, 34) or
 * bottleneck blocks (1x1 reduce, 3x3, 1x1 expand by 4; 50, 101, 152), batch
 * norm after every convolution, a 1x1 strided projection on the shortcut
 * where the shape changes, global average pooling and one FC layer. The
 * stride of a bottleneck sits on its 3x3 conv (torchvision's "v1.5", the
 * default); `variant: "v1"` puts it on the first 1x1 conv, as the paper did
 * (its FLOPs: 3.8G for ResNet-50, 11.3G for ResNet-152, counted as multiply-adds).
 * Kaiming normal (fan-out) initialisation, batch norm 1 and 0.
 *
 * `resnetCifar(20|32|44|56|110)`: the CIFAR-10 networks of section 4.2,
 * 6n + 2 layers: a 3x3 conv with 16 filters, three stages of n basic
 * blocks with 16, 32, 64 filters on 32x32, 16x16, 8x8 maps, global average
 * pooling and a 10-way FC. The shortcuts that change shape are the paper's
 * option A (subsample and zero-pad the new channels: no parameters), or
 * option B (1x1 projections) with `shortcut: "B"`.
 *
 * `plainCifar(20|32|44|56|110)`: the same networks without the shortcuts,
 * the paper's "plain" baselines whose training error grows with depth.
 *
 * Each block is a Graph whose last nodes are `add` and `relu`; the stages
 * are Sequentials named layer1..layer4, blocks are named 0, 1, … so the
 * summary shows torchvision's names (layer1.0.conv1).
 */
import { Conv2d } from "../../layers/conv.js";
import { MaxPool2d, GlobalAvgPool2d } from "../../layers/pool.js";
import { BatchNorm2d } from "../../layers/norm.js";
import { Linear } from "../../layers/dense.js";
import { ReLU } from "../../layers/activation.js";
import { Flatten } from "../../layers/reshape.js";
import { Add } from "../../layers/merge.js";
import type { Layer } from "../../layers/layer.js";
import type { Rng } from "../../random.js";
import type { InitName } from "../../layers/init.js";
import { Sequential } from "../sequential.js";
import { Graph } from "../graph.js";
import { ShortcutPad } from "./layers.js";
import { resolve, oneOf, type ZooOptions, type Resolved } from "./common.js";
import { withMeta } from "../../tensor.js";

/** The depths of the ImageNet ResNets. */
export type ResNetDepth = 18 | 34 | 50 | 101 | 152;
/** The depths of the CIFAR ResNets (6n + 2). */
export type ResNetCifarDepth = 20 | 32 | 44 | 56 | 110;

const STAGES: Record<ResNetDepth, { blocks: number[]; bottleneck: boolean }> = {
  18: { blocks: [2, 2, 2, 2], bottleneck: false },
  34: { blocks: [3, 4, 6, 3], bottleneck: false },
  50: { blocks: [3, 4, 6, 3], bottleneck: true },
  101: { blocks: [3, 4, 23, 3], bottleneck: true },
  152: { blocks: [3, 8, 36, 3], bottleneck: true },
};

interface BlockSpec {
  name: string;
  inC: number;
  planes: number;
  stride: number;
  bottleneck: boolean;
  /** How a shortcut that changes shape is made: "B" a 1x1 projection, "A" zero-padding; "none" for a plain block. */
  shortcut: "A" | "B" | "none";
  /** Bottlenecks: the stride on the first 1x1 (the paper, "v1") instead of the 3x3 ("v1.5"). */
  strideOn1x1?: boolean;
  rng: Rng;
  init: InitName;
}

function conv(name: string, inC: number, outC: number, k: number, stride: number, s: BlockSpec): Conv2d {
  return new Conv2d({ inChannels: inC, outChannels: outC, kernelSize: k, stride, padding: (k - 1) / 2, bias: false, name, rng: s.rng, init: s.init });
}

/** A basic or bottleneck residual block; returns the block and its output depth. */
function block(s: BlockSpec): { g: Graph; out: number } {
  const g = new Graph({ name: s.name });
  const bn = (name: string, c: number) => new BatchNorm2d({ numFeatures: c, name });
  let last: string;
  let out: number;
  if (s.bottleneck) {
    out = s.planes * 4;
    const [stride1, stride2] = s.strideOn1x1 ? [s.stride, 1] : [1, s.stride];
    g.add("conv1", conv("conv1", s.inC, s.planes, 1, stride1, s), "input").add("bn1", bn("bn1", s.planes), "conv1").add("relu1", new ReLU(), "bn1");
    g.add("conv2", conv("conv2", s.planes, s.planes, 3, stride2, s), "relu1").add("bn2", bn("bn2", s.planes), "conv2").add("relu2", new ReLU(), "bn2");
    g.add("conv3", conv("conv3", s.planes, out, 1, 1, s), "relu2").add("bn3", bn("bn3", out), "conv3");
    last = "bn3";
  } else {
    out = s.planes;
    g.add("conv1", conv("conv1", s.inC, s.planes, 3, s.stride, s), "input").add("bn1", bn("bn1", s.planes), "conv1").add("relu1", new ReLU(), "bn1");
    g.add("conv2", conv("conv2", s.planes, s.planes, 3, 1, s), "relu1").add("bn2", bn("bn2", s.planes), "conv2");
    last = "bn2";
  }
  if (s.shortcut === "none") {
    g.add("relu", new ReLU(), last);
    return { g, out };
  }
  let shortcut = "input";
  if (s.stride !== 1 || s.inC !== out) {
    if (s.shortcut === "B") {
      g.add("downsample.0", conv("downsample.0", s.inC, out, 1, s.stride, s), "input").add("downsample.1", bn("downsample.1", out), "downsample.0");
      shortcut = "downsample.1";
    } else {
      g.add("shortcut", new ShortcutPad({ inChannels: s.inC, outChannels: out, stride: s.stride }), "input");
      shortcut = "shortcut";
    }
  }
  g.add("add", new Add(), [last, shortcut]).add("relu", new ReLU(), "add");
  return { g, out };
}

/** Options of resnet. */
export interface ResNetOptions extends ZooOptions {
  /**
   * Where a bottleneck block strides: "v1.5" (default, torchvision's) on its
   * 3x3 conv; "v1" (the paper's) on its first 1x1 conv, which skips three
   * quarters of the 1x1's inputs and so costs fewer multiply-adds. The same
   * for ResNet-18 and 34, whose blocks have no 1x1 convs.
   */
  variant?: "v1" | "v1.5";
}

/** ResNet (He et al. 2015) for ImageNet, with torchvision's names and layout. */
export function resnet(depth: ResNetDepth = 50, opts: ResNetOptions = {}): Sequential {
  return withMeta(opts?.meta === true, () => buildResnet(depth, opts));
}

function buildResnet(depth: ResNetDepth = 50, opts: ResNetOptions = {}): Sequential {
  oneOf("resnet", "depth", depth, [18, 34, 50, 101, 152] as const);
  const name = `resnet${depth}`;
  const r = resolve(name, opts, { numClasses: 1000, inputShape: [3, 224, 224] });
  const { blocks, bottleneck } = STAGES[depth];
  const variant = oneOf(name, "variant", opts.variant ?? "v1.5", ["v1", "v1.5"] as const);
  const rng = r.rng;
  const stem = r.width(64);
  const layers: Layer[] = [
    new Conv2d({ inChannels: r.inputShape[0], outChannels: stem, kernelSize: 7, stride: 2, padding: 3, bias: false, name: "conv1", rng, init: r.init("he-fan-out") }),
    new BatchNorm2d({ numFeatures: stem, name: "bn1" }),
    new ReLU({ name: "relu" }),
    new MaxPool2d({ kernelSize: 3, stride: 2, padding: 1, name: "maxpool" }),
  ];
  const out = addStages(layers, stem, blocks.map((count, stage) => ({ count, planes: r.width(64 * 2 ** stage) })), {
    bottleneck, shortcut: "B", rng, init: r.init("he-fan-out"), strideOn1x1: variant === "v1",
  });
  addHead(layers, out, r);
  return new Sequential(layers, { name });
}

/**
 * Appends the stages layer1, layer2, … each a Sequential of blocks named 0,
 * 1, …; every stage after the first halves the maps in its first block.
 * Returns the channels of the last block's output.
 */
function addStages(
  layers: Layer[], inC: number, stages: { count: number; planes: number }[],
  spec: Pick<BlockSpec, "bottleneck" | "shortcut" | "rng" | "init" | "strideOn1x1">,
): number {
  stages.forEach(({ count, planes }, stage) => {
    const stageBlocks: Layer[] = [];
    for (let i = 0; i < count; i++) {
      const { g, out } = block({ ...spec, name: String(i), inC, planes, stride: i === 0 && stage > 0 ? 2 : 1 });
      stageBlocks.push(g);
      inC = out;
    }
    layers.push(new Sequential(stageBlocks, { name: `layer${stage + 1}` }));
  });
  return inC;
}

/** Global average pooling and the classifier: the top of every ResNet. */
function addHead(layers: Layer[], inC: number, r: Resolved): void {
  layers.push(
    new GlobalAvgPool2d({ name: "avgpool" }),
    new Flatten({ name: "flatten" }),
    new Linear({ inFeatures: inC, outFeatures: r.numClasses, name: "fc", rng: r.rng, init: r.init("pytorch") }),
  );
}

/** Options of resnetCifar. */
export interface ResNetCifarOptions extends ZooOptions {
  /** "A" (default, the paper's CIFAR choice: zero-padding) or "B" (1x1 projections). */
  shortcut?: "A" | "B";
}

/** The CIFAR ResNets of the paper's section 4.2: three stages of 16, 32 and 64 channels. */
export function resnetCifar(depth: ResNetCifarDepth = 20, opts: ResNetCifarOptions = {}): Sequential {
  return withMeta(opts?.meta === true, () => buildResnetCifar(depth, opts));
}

function buildResnetCifar(depth: ResNetCifarDepth = 20, opts: ResNetCifarOptions = {}): Sequential {
  oneOf("resnetCifar", "depth", depth, [20, 32, 44, 56, 110] as const);
  const name = `resnet${depth}-cifar`;
  const r = resolve(name, opts, { numClasses: 10, inputShape: [3, 32, 32] });
  const shortcut = oneOf(name, "shortcut", opts.shortcut ?? "A", ["A", "B"] as const);
  const n = (depth - 2) / 6;
  const rng = r.rng;
  const first = r.width(16);
  const layers: Layer[] = [
    new Conv2d({ inChannels: r.inputShape[0], outChannels: first, kernelSize: 3, padding: 1, bias: false, name: "conv1", rng, init: r.init("he") }),
    new BatchNorm2d({ numFeatures: first, name: "bn1" }),
    new ReLU({ name: "relu" }),
  ];
  const out = addStages(layers, first, [0, 1, 2].map((stage) => ({ count: n, planes: r.width(16 * 2 ** stage) })), {
    bottleneck: false, shortcut, rng, init: r.init("he"),
  });
  addHead(layers, out, r);
  return new Sequential(layers, { name });
}

/** Options of plainCifar. */
export interface PlainCifarOptions extends ZooOptions {}

/**
 * The paper's plain CIFAR networks (section 4.2): resnetCifar's layers
 * without the shortcuts. Deeper plain nets train worse (the degradation
 * problem the residual connections fix): compare plainCifar(56) with
 * plainCifar(20) and resnetCifar(56).
 */
export function plainCifar(depth: ResNetCifarDepth = 20, opts: PlainCifarOptions = {}): Sequential {
  return withMeta(opts?.meta === true, () => buildPlainCifar(depth, opts));
}

function buildPlainCifar(depth: ResNetCifarDepth, opts: PlainCifarOptions): Sequential {
  oneOf("plainCifar", "depth", depth, [20, 32, 44, 56, 110] as const);
  const name = `plain${depth}-cifar`;
  const r = resolve(name, opts, { numClasses: 10, inputShape: [3, 32, 32] });
  const n = (depth - 2) / 6;
  const first = r.width(16);
  const layers: Layer[] = [
    new Conv2d({ inChannels: r.inputShape[0], outChannels: first, kernelSize: 3, padding: 1, bias: false, name: "conv1", rng: r.rng, init: r.init("he") }),
    new BatchNorm2d({ numFeatures: first, name: "bn1" }),
    new ReLU({ name: "relu" }),
  ];
  const out = addStages(layers, first, [0, 1, 2].map((stage) => ({ count: n, planes: r.width(16 * 2 ** stage) })), {
    bottleneck: false, shortcut: "none", rng: r.rng, init: r.init("he"),
  });
  addHead(layers, out, r);
  return new Sequential(layers, { name });
}
