/**
 * The layer kinds of the inference-gap profile (bench/profile-gap.mjs), and
 * the multiply-adds each kind does in a net, counted once from the bench's
 * spec (bench/workloads.mjs) so every library's GFLOP/s uses the same count.
 *
 * Every library's profiler names its work differently (stride's layers,
 * onnxruntime's fused graph nodes, PyTorch's modules); each adapter maps its
 * own names onto these kinds with the helpers below.
 */

/** The kinds in table order, with their labels. */
export const KINDS = [
  ["conv1x1", "conv 1x1 stride 1"],
  ["conv1x1s2", "conv 1x1 stride 2"],
  ["conv3x3", "conv 3x3 stride 1"],
  ["conv3x3s2", "conv 3x3 stride 2"],
  ["conv7x7s2", "conv 7x7 stride 2"],
  ["convOther", "conv, other shapes"],
  ["maxpool", "max pool"],
  ["avgpool", "average / global pool"],
  ["bn", "batch norm (unfused)"],
  ["relu", "ReLU (unfused)"],
  ["add", "residual add"],
  ["fc", "fully connected"],
  ["other", "other (flatten, layout, between layers)"],
];

export const KIND_IDS = KINDS.map(([id]) => id);
export const KIND_LABEL = Object.fromEntries(KINDS);

/** The kind of a convolution from its kernel size and stride (square ones only have names). */
export function convKind(k, stride) {
  if (k === 1 && stride === 1) return "conv1x1";
  if (k === 1 && stride === 2) return "conv1x1s2";
  if (k === 3 && stride === 1) return "conv3x3";
  if (k === 3 && stride === 2) return "conv3x3s2";
  if (k === 7 && stride === 2) return "conv7x7s2";
  return "convOther";
}

/**
 * Multiply-adds per kind for one example of a spec, and how many layers of
 * each kind with multiply-adds it has (a library's profile must show as many,
 * or its kinds were misread); the walk follows analyse() in workloads.mjs.
 */
export function specByKind(spec) {
  const macs = {};
  const layers = {};
  const addTo = (kind, n) => {
    macs[kind] = (macs[kind] ?? 0) + n;
    layers[kind] = (layers[kind] ?? 0) + 1;
  };
  function walk(layers, shape) {
    let [c, h, w] = shape;
    for (const l of layers) {
      switch (l.type) {
        case "conv": {
          const oh = Math.floor((h + 2 * l.pad - l.k) / l.stride) + 1;
          const ow = Math.floor((w + 2 * l.pad - l.k) / l.stride) + 1;
          addTo(convKind(l.k, l.stride), l.out * oh * ow * c * l.k * l.k);
          [c, h, w] = [l.out, oh, ow];
          break;
        }
        case "maxpool":
          h = Math.floor((h + 2 * l.pad - l.k) / l.stride) + 1;
          w = Math.floor((w + 2 * l.pad - l.k) / l.stride) + 1;
          break;
        case "gap": h = w = 1; break;
        case "flatten": [c, h, w] = [c * h * w, 1, 1]; break;
        case "fc": addTo("fc", l.out * c); c = l.out; break;
        case "residual": {
          const out = walk(l.body, [c, h, w]);
          walk(l.shortcut, [c, h, w]);
          [c, h, w] = out;
          break;
        }
        case "bn": case "relu": break;
        default: throw new Error(`spec: unknown layer type "${l.type}"`);
      }
    }
    return [c, h, w];
  }
  walk(spec.layers, spec.input);
  return { macs, layers };
}

/** Adds `ms` to a kind in a per-kind tally, and counts the call in `calls` when given. */
export function tally(byKind, kind, ms, calls) {
  if (!KIND_LABEL[kind]) throw new Error(`internal: unknown layer kind "${kind}"`);
  byKind[kind] = (byKind[kind] ?? 0) + ms;
  if (calls) calls[kind] = (calls[kind] ?? 0) + 1;
}

/**
 * Where a profile's count of layers per kind differs from the spec's, for the
 * kinds with multiply-adds (convolutions, fully connected): one sentence per
 * kind, or none when they agree.
 */
export function countMismatches(calls, specLayers) {
  const out = [];
  for (const [id, label] of KINDS) {
    const want = specLayers[id] ?? 0;
    const got = calls?.[id] ?? 0;
    if (want !== got && (want > 0 || id.startsWith("conv") || id === "fc")) out.push(`${got} ${label} layers where the spec has ${want}`);
  }
  return out;
}
