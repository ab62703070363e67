/**
 * The workloads, and the networks they run, described once as plain data.
 * Every library's adapter (stride, tfjs, ConvNetJS, and the PyTorch script
 * that also exports the ONNX models) builds its network from the same spec,
 * so the columns of the table compare the same computation.
 *
 * A spec is { input: [C, H, W], classes, layers: [...] } in NCHW terms:
 *   { type: "conv", out, k, stride = 1, pad = 0, bias = true }
 *   { type: "bn" }  { type: "relu" }  { type: "maxpool", k, stride = k, pad = 0 }
 *   { type: "gap" } (global average pool)  { type: "flatten" }  { type: "fc", out }
 *   { type: "residual", body: [...], shortcut: [...] }  (output = body(x) + shortcut(x);
 *     an empty shortcut is the identity; the ReLU after the sum is the next layer)
 */

const conv = (out, k, opts = {}) => ({ type: "conv", out, k, stride: 1, pad: 0, bias: true, ...opts });
const relu = { type: "relu" };
const bn = { type: "bn" };
const pool = (k, stride = k, pad = 0) => ({ type: "maxpool", k, stride, pad });
const fc = (out) => ({ type: "fc", out });
const flatten = { type: "flatten" };

/** LeNet-5 as in the course notes, with padding 2 on conv1 so 28x28 MNIST fits. */
export function lenet5() {
  return {
    input: [1, 28, 28], classes: 10,
    layers: [
      conv(6, 5, { pad: 2 }), relu, pool(2),
      conv(16, 5), relu, pool(2),
      flatten, fc(120), relu, fc(84), relu, fc(10),
    ],
  };
}

/** The net of ConvNetJS's CIFAR-10 demo (its softmax is the loss here). */
export function cifarDemo() {
  return {
    input: [3, 32, 32], classes: 10,
    layers: [
      conv(16, 5, { pad: 2 }), relu, pool(2),
      conv(20, 5, { pad: 2 }), relu, pool(2),
      conv(20, 5, { pad: 2 }), relu, pool(2),
      flatten, fc(10),
    ],
  };
}

/**
 * ResNet-20 for CIFAR-10 (He et al. 2015, section 4.2): 3 stages of 3 basic
 * blocks at 16, 32, 64 channels. Shortcuts use option B: identity where the
 * shape is kept, a 1x1 stride-2 convolution + batch norm where it changes.
 */
export function resnet20() {
  const layers = [conv(16, 3, { pad: 1, bias: false }), bn, relu];
  let inC = 16;
  for (const [stage, width] of [16, 32, 64].entries()) {
    for (let b = 0; b < 3; b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1;
      const project = stride !== 1 || inC !== width;
      layers.push({
        type: "residual",
        body: [
          conv(width, 3, { stride, pad: 1, bias: false }), bn, relu,
          conv(width, 3, { pad: 1, bias: false }), bn,
        ],
        shortcut: project ? [conv(width, 1, { stride, bias: false }), bn] : [],
      }, relu);
      inC = width;
    }
  }
  layers.push({ type: "gap" }, flatten, fc(10));
  return { input: [3, 32, 32], classes: 10, layers };
}

/** VGG-16 (configuration D) for 224x224 ImageNet images; dropout is a no-op at inference. */
export function vgg16() {
  const layers = [];
  for (const stage of [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]) {
    for (const width of stage) layers.push(conv(width, 3, { pad: 1 }), relu);
    layers.push(pool(2));
  }
  layers.push(flatten, fc(4096), relu, fc(4096), relu, fc(1000));
  return { input: [3, 224, 224], classes: 1000, layers };
}

/** ResNet-50 with bottleneck blocks, the stride on the 3x3 convolution (as torchvision). */
export function resnet50() {
  const layers = [conv(64, 7, { stride: 2, pad: 3, bias: false }), bn, relu, pool(3, 2, 1)];
  let inC = 64;
  for (const [stage, [width, blocks]] of [[64, 3], [128, 4], [256, 6], [512, 3]].entries()) {
    for (let b = 0; b < blocks; b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1;
      const outC = width * 4;
      layers.push({
        type: "residual",
        body: [
          conv(width, 1, { bias: false }), bn, relu,
          conv(width, 3, { stride, pad: 1, bias: false }), bn, relu,
          conv(outC, 1, { bias: false }), bn,
        ],
        shortcut: stride !== 1 || inC !== outC ? [conv(outC, 1, { stride, bias: false }), bn] : [],
      }, relu);
      inC = outC;
    }
  }
  layers.push({ type: "gap" }, flatten, fc(1000));
  return { input: [3, 224, 224], classes: 1000, layers };
}

export const SGEMM_SIZE = 1024;

/**
 * What is measured. `unit` says what the table shows: images/s for training
 * and batched inference, ms per image for single-image inference, GFLOP/s for
 * the matrix multiply. Ordered cheap to expensive, so that a slow library's
 * speed on the small nets is known before its big ones are attempted.
 */
export const WORKLOADS = [
  { id: "sgemm", title: `sgemm ${SGEMM_SIZE}x${SGEMM_SIZE}x${SGEMM_SIZE}`, kind: "sgemm", unit: "GFLOP/s" },
  { id: "lenet5-infer", title: "LeNet-5 inference, batch 64", kind: "infer", net: "lenet5", batch: 64, unit: "img/s" },
  { id: "lenet5-train", title: "LeNet-5 training, batch 64", kind: "train", net: "lenet5", batch: 64, unit: "img/s" },
  { id: "cifar-infer", title: "ConvNetJS CIFAR-10 net inference, batch 64", kind: "infer", net: "cifarDemo", batch: 64, unit: "img/s" },
  { id: "cifar-train", title: "ConvNetJS CIFAR-10 net training, batch 64", kind: "train", net: "cifarDemo", batch: 64, unit: "img/s" },
  { id: "resnet20-train", title: "ResNet-20 (CIFAR, option B) training, batch 64", kind: "train", net: "resnet20", batch: 64, unit: "img/s" },
  { id: "resnet50-infer", title: "ResNet-50 inference, 1x3x224x224", kind: "infer", net: "resnet50", batch: 1, unit: "ms" },
  { id: "vgg16-infer", title: "VGG-16 inference, 1x3x224x224", kind: "infer", net: "vgg16", batch: 1, unit: "ms" },
];

export const NETS = { lenet5, cifarDemo, resnet20, vgg16, resnet50 };

export function workload(id) {
  const w = WORKLOADS.find((x) => x.id === id);
  if (!w) throw new Error(`unknown workload "${id}"; known: ${WORKLOADS.map((x) => x.id).join(", ")}`);
  return w;
}

/** Training: forward + softmax cross-entropy + backward + SGD-momentum update. */
export const SGD = { lr: 0.01, momentum: 0.9 };

/**
 * Walks a spec and counts what it costs for one example: parameters and
 * multiply-accumulates of the convolutions and fully-connected layers (the
 * usual FLOP count, 2 x MACs, ignores the cheap element-wise layers).
 */
export function analyse(spec) {
  let params = 0;
  let macs = 0;
  function walk(layers, shape) {
    let [c, h, w] = shape;
    for (const l of layers) {
      switch (l.type) {
        case "conv": {
          const oh = Math.floor((h + 2 * l.pad - l.k) / l.stride) + 1;
          const ow = Math.floor((w + 2 * l.pad - l.k) / l.stride) + 1;
          params += l.out * c * l.k * l.k + (l.bias ? l.out : 0);
          macs += l.out * oh * ow * c * l.k * l.k;
          [c, h, w] = [l.out, oh, ow];
          break;
        }
        case "bn": params += 2 * c; break;
        case "maxpool":
          h = Math.floor((h + 2 * l.pad - l.k) / l.stride) + 1;
          w = Math.floor((w + 2 * l.pad - l.k) / l.stride) + 1;
          break;
        case "gap": h = w = 1; break;
        case "flatten": [c, h, w] = [c * h * w, 1, 1]; break;
        case "fc":
          params += l.out * c + l.out;
          macs += l.out * c;
          c = l.out;
          break;
        case "residual": {
          const out = walk(l.body, [c, h, w]);
          walk(l.shortcut, [c, h, w]);
          [c, h, w] = out;
          break;
        }
        case "relu": break;
        default: throw new Error(`spec: unknown layer type "${l.type}"`);
      }
    }
    return [c, h, w];
  }
  walk(spec.layers, spec.input);
  return { params, macs, flops: 2 * macs };
}

/** FLOPs of one iteration of a workload over the whole batch (training counts 3x forward). */
export function iterationFlops(w) {
  if (w.kind === "sgemm") return 2 * SGEMM_SIZE ** 3;
  const { flops } = analyse(NETS[w.net]());
  return flops * w.batch * (w.kind === "train" ? 3 : 1);
}
