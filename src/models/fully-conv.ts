/**
 * FC -> CONV conversion, as the notes describe it: a fully connected layer
 * that looks at a whole HxWxC volume is a convolution with F = the volume's
 * size and no padding; each following FC layer is a 1x1 convolution. The
 * weights are the same numbers: a Linear weight [K, C*H*W] flattened in CHW
 * order is the Conv2d weight [K, C, H, W]. The converted network slides
 * over a larger image in one pass and gives a map of class scores, one per
 * position at the network's stride (AlexNet on 384x384 instead of 224x224:
 * 6x6 scores at stride 32), sharing the work of overlapping crops.
 *
 * The layers before the first FC layer are shared with the original model
 * (same objects, same weights); the FC layers become new Conv2d layers with
 * copies of their weights.
 */
import { Conv2d } from "../layers/conv.js";
import { Linear } from "../layers/dense.js";
import { Layer, Module } from "../layers/layer.js";
import { Sequential } from "./sequential.js";
import { Graph } from "./graph.js";
import { AdaptiveAvgPool2d } from "../layers/pool.js";

/** Layers that work the same on [N, C] and on [N, C, H, W] (per position over the channels). */
const POINTWISE = new Set(["ReLU", "LeakyReLU", "ELU", "Tanh", "Sigmoid", "Dropout", "Softmax"]);

/** Options of toFullyConvolutional. */
export interface FullyConvOptions {
  /**
   * One example's input shape at the size the model was built for. Needed
   * when the volume before the FC layers is not square or its depth cannot be
   * read from the layers, and to drop an adaptive pooling that is the identity there.
   */
  inputShape?: number[];
}

/** The leaves of nested Sequentials, in order (a Graph stays one layer). */
function leaves(m: Layer): Layer[] {
  return m instanceof Sequential ? m.layers.flatMap(leaves) : [m];
}

/** The depth of the volume a layer outputs, when it says so. */
function channelsOf(l: Layer): number | undefined {
  const any = l as unknown as { outChannels?: number; numFeatures?: number };
  if (typeof any.outChannels === "number") return any.outChannels;
  if (typeof any.numFeatures === "number") return any.numFeatures;
  return undefined;
}

/** Turns the Linear layers after the last convolution into equivalent convolutions, so the net slides over larger images. */
export function toFullyConvolutional(model: Module, options: FullyConvOptions = {}): Sequential {
  if (!(model instanceof Layer)) throw new Error(`toFullyConvolutional: expects a single-input model (a Sequential), got ${String(model)}`);
  const all = leaves(model);
  const first = all.findIndex((l) => l instanceof Linear);
  if (first < 0) throw new Error(`toFullyConvolutional: ${model.name} has no Linear (FC) layer to convert`);
  // The Flatten before the first FC layer, possibly with element-wise layers between (torchvision: Flatten, Dropout, Linear).
  let flatAt = first - 1;
  while (flatAt >= 0 && POINTWISE.has(all[flatAt].type)) flatAt--;
  if (flatAt < 0 || all[flatAt].type !== "Flatten") {
    throw new Error(
      `toFullyConvolutional: the first FC layer ${all[first].name} does not follow a Flatten of a spatial volume ` +
        `(it follows ${first > 0 ? `${all[first - 1].name} (${all[first - 1].type})` : "nothing"}); only FC layers on a flattened volume can become convolutions`,
    );
  }
  let kept = all.slice(0, flatAt);
  const fc = all[first] as Linear;

  // The volume [C, H, W] the first FC layer sees.
  let volume: number[];
  if (options.inputShape) {
    const shapes: number[][] = [[1, ...options.inputShape]];
    for (const l of kept) shapes.push(l.outputShape(shapes[shapes.length - 1]));
    volume = shapes[shapes.length - 1].slice(1);
    const last = kept[kept.length - 1];
    if (last instanceof AdaptiveAvgPool2d) {
      const before = shapes[shapes.length - 2].slice(1);
      if (before[1] !== volume[1] || before[2] !== volume[2]) {
        throw new Error(
          `toFullyConvolutional: ${last.name} pools ${before[1]}x${before[2]} to ${volume[1]}x${volume[2]} at the input ${options.inputShape.join("x")}; ` +
            `the FC layers then see pooled features and cannot be slid over a larger image`,
        );
      }
      kept = kept.slice(0, -1); // the identity at the base size; on a larger image it would squash the map
    }
  } else {
    const last = kept[kept.length - 1];
    if (last instanceof AdaptiveAvgPool2d) {
      throw new Error(
        `toFullyConvolutional: ${last.name} (adaptive pooling) precedes the FC layers; pass { inputShape } at the base size ` +
          `so that it can be checked to be the identity there and removed`,
      );
    }
    const c = [...kept].reverse().map(channelsOf).find((x) => x !== undefined);
    const side = c ? Math.sqrt(fc.inFeatures / c) : NaN;
    if (!c || !Number.isInteger(side)) {
      throw new Error(
        `toFullyConvolutional: cannot tell the HxWxC volume that ${fc.name} (${fc.inFeatures} inputs) sees` +
          `${c ? ` (${fc.inFeatures} / ${c} channels is not a square)` : ""}; pass { inputShape } at the size the model was built for`,
      );
    }
    volume = [c, side, side];
  }
  const [c, h, w] = volume;
  if (volume.length !== 3 || c * h * w !== fc.inFeatures) {
    throw new Error(`toFullyConvolutional: ${fc.name} takes ${fc.inFeatures} inputs but the volume before it is ${volume.join("x")}`);
  }

  const converted: Layer[] = [];
  let firstFc = true;
  for (const l of all.slice(flatAt + 1)) {
    if (l instanceof Linear) {
      const conv = new Conv2d({
        inChannels: firstFc ? c : l.inFeatures, outChannels: l.outFeatures, kernelSize: firstFc ? [h, w] : 1,
        bias: l.bias !== null, name: l.name, init: "zeros",
      });
      // [K, C*H*W] in CHW order is [K, C, H, W]: the same numbers in the same order.
      conv.weight.value.data.set(l.weight.value.data);
      conv.weight.trainable = l.weight.trainable;
      if (conv.bias && l.bias) {
        conv.bias.value.data.set(l.bias.value.data);
        conv.bias.trainable = l.bias.trainable;
      }
      converted.push(conv);
      firstFc = false;
    } else if (POINTWISE.has(l.type)) {
      converted.push(l);
    } else {
      const what = l instanceof Graph ? "a Graph" : `a ${l.type}`;
      throw new Error(`toFullyConvolutional: ${l.name} is ${what} among the FC layers; only Linear layers and element-wise ones (${[...POINTWISE].join(", ")}) can follow them`);
    }
  }
  const layers = [...kept, ...converted];
  const names = layers.map((l) => l.name);
  const result = new Sequential(layers, { name: `${model.name}-fully-conv` });
  layers.forEach((l, i) => (l.name = names[i])); // the shared layers keep their names in the original model
  return result;
}
