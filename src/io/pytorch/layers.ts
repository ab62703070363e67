/**
 * Each stride layer as PyTorch code: the constructor expression that builds
 * it (an nn.* module where PyTorch has the same layer, else one of the small
 * helper classes below, emitted into model.py only when used). The helpers
 * keep stride's parameter names and shapes, so the state dict lines up.
 */
import type { Layer, Module } from "../../layers/layer.js";
import { resolvePadding2d, type Pair } from "../../shape.js";
import { StrideError } from "../../stride-error.js";

/** A model that cannot be written as PyTorch code (a layer PyTorch has no equivalent for); names the layer. */
export class PytorchExportError extends StrideError {
  // The same signature as before it had a base class: Error's.
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PytorchExportError";
  }
}

/** Python source for a number, a tuple, a bool or None. */
export function py(v: unknown): string {
  if (v === null || v === undefined) return "None";
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new PytorchExportError(`cannot write ${v} as a Python literal`);
    return Number.isInteger(v) ? String(v) : String(v).replace(/^(-?)\./, "$10.");
  }
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return v.length === 1 ? `(${py(v[0])},)` : `(${v.map(py).join(", ")})`;
  throw new PytorchExportError(`cannot write ${JSON.stringify(v)} as a Python literal`);
}

/** One value for a pair whose two halves agree (kernel_size=3 rather than (3, 3)). */
function pair(p: Pair | number): string {
  if (typeof p === "number") return py(p);
  return p[0] === p[1] ? py(p[0]) : py(p);
}

export interface LayerCode {
  /** The Python expression constructing the module. */
  expr: string;
  /** Helper classes this expression needs (keys of HELPERS). */
  helpers: string[];
}

/**
 * The construction of one leaf layer; `inputShape` (batched, when the model
 * records its input) resolves "same" padding of strided convolutions.
 */
export function layerCode(layer: Layer | Module, path: string, inputShape: number[] | undefined): LayerCode {
  const c = layer.config() as Record<string, any>;
  const nn = (expr: string): LayerCode => ({ expr: `nn.${expr}`, helpers: [] });
  const helper = (name: string, args: string): LayerCode => ({ expr: `${name}(${args})`, helpers: [name] });
  switch (layer.type) {
    case "Conv2d": {
      const pad = conv2dPadding(layer.type, path, c.padding, c.kernelSize, c.stride, c.dilation, inputShape);
      const args = `${c.inChannels}, ${c.outChannels}, kernel_size=${pair(c.kernelSize)}, stride=${pair(c.stride)}`;
      const rest = `${pairIf("dilation", c.dilation)}${c.groups !== 1 ? `, groups=${c.groups}` : ""}${c.bias ? "" : ", bias=False"}`;
      if (pad[0] === pad[1] && pad[2] === pad[3]) return nn(`Conv2d(${args}, padding=${pair([pad[0], pad[2]])}${rest})`);
      // PyTorch pads both sides alike; the asymmetric rest goes through F.pad (left, right, top, bottom).
      return helper("PadConv2d", `${args}, pad=${py([pad[2], pad[3], pad[0], pad[1]])}${rest}`);
    }
    case "Conv1d": {
      const p = c.padding;
      let lr: [number, number];
      if (p === "valid") lr = [0, 0];
      else if (p === "same") {
        const total = c.dilation * (c.kernelSize - 1);
        lr = [Math.floor(total / 2), total - Math.floor(total / 2)];
      } else if (typeof p === "number") lr = [p, p];
      else lr = [p[0], p[1]];
      const args = `${c.inChannels}, ${c.outChannels}, kernel_size=${c.kernelSize}, stride=${c.stride}`;
      const rest = `${c.dilation !== 1 ? `, dilation=${c.dilation}` : ""}${c.groups !== 1 ? `, groups=${c.groups}` : ""}${c.bias ? "" : ", bias=False"}`;
      if (lr[0] === lr[1]) return nn(`Conv1d(${args}, padding=${lr[0]}${rest})`);
      return helper("PadConv1d", `${args}, pad=${py(lr)}${rest}`);
    }
    case "LocallyConnected2d":
      return helper("LocallyConnected2d",
        `${c.inChannels}, ${c.outChannels}, input_size=${py(c.inputSize)}, kernel_size=${py(c.kernelSize)}, stride=${py(c.stride)}, padding=${py(c.padding)}, bias=${py(c.bias)}`);
    case "MaxPool2d":
      symmetricPoolPadding(layer.type, path, c.padding);
      return nn(`MaxPool2d(kernel_size=${pair(c.kernelSize)}, stride=${pair(c.stride)}${padIf(c.padding)}${pairIf("dilation", c.dilation)}${c.ceilMode ? ", ceil_mode=True" : ""})`);
    case "AvgPool2d":
      symmetricPoolPadding(layer.type, path, c.padding);
      return nn(`AvgPool2d(kernel_size=${pair(c.kernelSize)}, stride=${pair(c.stride)}${padIf(c.padding)}${c.ceilMode ? ", ceil_mode=True" : ""}` +
        `${c.countIncludePad ? "" : ", count_include_pad=False"})`);
    case "LPPool2d":
      return nn(`LPPool2d(${py(c.normType)}, kernel_size=${pair(c.kernelSize)}, stride=${pair(c.stride)}${c.ceilMode ? ", ceil_mode=True" : ""})`);
    case "GlobalAvgPool2d":
      return nn("AdaptiveAvgPool2d(1)");
    case "GlobalMaxPool1d":
      return helper("GlobalMaxPool1d", "");
    case "AdaptiveAvgPool2d":
      return nn(`AdaptiveAvgPool2d(${pair(c.outputSize)})`);
    case "BatchNorm1d":
    case "BatchNorm2d":
      return nn(`${layer.type}(${c.numFeatures}${c.eps !== 1e-5 ? `, eps=${py(c.eps)}` : ""}${c.momentum !== 0.1 ? `, momentum=${py(c.momentum)}` : ""}` +
        `${c.affine ? "" : ", affine=False"}${c.trackRunningStats ? "" : ", track_running_stats=False"})`);
    case "LocalResponseNorm":
      return nn(`LocalResponseNorm(${c.size}, alpha=${py(c.alpha)}, beta=${py(c.beta)}, k=${py(c.k)})`);
    case "Linear":
      return nn(`Linear(${c.inFeatures}, ${c.outFeatures}${c.bias ? "" : ", bias=False"})`);
    case "Embedding":
      return helper("TokenEmbedding", `${c.numEmbeddings}, ${c.embeddingDim}, layout=${py(c.layout)}`);
    case "ReLU":
      return nn("ReLU()");
    case "LeakyReLU":
      return nn(`LeakyReLU(${py(c.negativeSlope)})`);
    case "ELU":
      return nn(`ELU(alpha=${py(c.alpha)})`);
    case "Tanh":
      return nn("Tanh()");
    case "Sigmoid":
      return nn("Sigmoid()");
    case "Softmax":
      return nn("Softmax(dim=1)");
    case "Dropout":
      return nn(`Dropout(p=${py(c.p)})`);
    case "Flatten":
      return nn(c.startDim === 1 && c.endDim === -1 ? "Flatten()" : `Flatten(${c.startDim}, ${c.endDim})`);
    case "MaskedConv2d": {
      const pad = conv2dPadding(layer.type, path, c.padding, c.kernelSize, c.stride, [1, 1], inputShape);
      return helper("MaskedConv2d",
        `${c.inChannels}, ${c.outChannels}, kernel_size=${py(c.kernelSize)}, connections=${py(c.connections.map((r: number[]) => r))}, ` +
          `stride=${py(c.stride)}, pad=${py([pad[2], pad[3], pad[0], pad[1]])}, bias=${py(c.bias)}`);
    }
    case "PositionBias":
      return helper("PositionBias", py(c.shape));
    case "ShortcutPad":
      return helper("ShortcutPad", `${c.inChannels}, ${c.outChannels}, stride=${c.stride}`);
    default:
      throw new PytorchExportError(
        `layer "${path || layer.name}" is a ${layer.type}, which has no PyTorch form in the exporter; ` +
          `replace it with a supported layer, or export the weights alone with --format torch`,
      );
  }
}

function pairIf(name: string, p: Pair): string {
  return p[0] === 1 && p[1] === 1 ? "" : `, ${name}=${pair(p)}`;
}

/** PyTorch's pooling pads both sides alike; per-side or "same" padding has no nn equivalent that ignores the padding as stride does. */
function symmetricPoolPadding(type: string, path: string, padding: unknown): void {
  if (Array.isArray(padding) && padding.length === 2) return;
  throw new PytorchExportError(
    `layer "${path}" (${type}) pads its windows ${padding === "same" ? 'as "same"' : `per side (${JSON.stringify(padding)})`}, which nn.${type} cannot ` +
      `(it pads both sides alike, and zero padding through F.pad would let padding into the windows); ` +
      `export to ONNX instead (stride export --format onnx keeps per-side pads), or rebuild the layer with padding [height, width]`,
  );
}

function padIf(p: Pair): string {
  return p[0] === 0 && p[1] === 0 ? "" : `, padding=${pair(p)}`;
}

/** [top, bottom, left, right] of a 2-D convolution, resolved as stride resolves it. */
function conv2dPadding(type: string, path: string, padding: unknown, kernel: Pair, stride: Pair, dilation: Pair, inputShape: number[] | undefined): [number, number, number, number] {
  if (padding === "same" && (stride[0] !== 1 || stride[1] !== 1)) {
    if (!inputShape) {
      throw new PytorchExportError(`layer "${path}" (${type}) pads "same" with stride ${stride.join("x")}, which depends on the input size; ` +
        `the model records no input shape: save it with one (saveModel(model, dir, { inputShape }))`);
    }
  }
  const [h, w] = inputShape ? inputShape.slice(-2) : [1, 1];
  return resolvePadding2d(path, padding as any, h, w, kernel, stride, dilation);
}

/** The helper classes, in the order they are written into model.py. */
export const HELPERS: Record<string, string> = {
  PadConv2d: `class PadConv2d(nn.Conv2d):
    """nn.Conv2d after zero padding that may differ per side: pad = (left, right, top, bottom)."""

    def __init__(self, *args, pad, **kwargs):
        super().__init__(*args, **kwargs)
        self.pad = pad

    def forward(self, x):
        return super().forward(F.pad(x, self.pad))
`,
  PadConv1d: `class PadConv1d(nn.Conv1d):
    """nn.Conv1d after zero padding that may differ per side: pad = (left, right)."""

    def __init__(self, *args, pad, **kwargs):
        super().__init__(*args, **kwargs)
        self.pad = pad

    def forward(self, x):
        return super().forward(F.pad(x, self.pad))
`,
  LocallyConnected2d: `class LocallyConnected2d(nn.Module):
    """A convolution without weight sharing: every output position has its own filters.
    weight [out_h, out_w, out_channels, in_channels, kh, kw], bias [out_channels, out_h, out_w]."""

    def __init__(self, in_channels, out_channels, input_size, kernel_size, stride, padding, bias=True):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        out_h = (input_size[0] + 2 * padding[0] - kernel_size[0]) // stride[0] + 1
        out_w = (input_size[1] + 2 * padding[1] - kernel_size[1]) // stride[1] + 1
        self.out_size = (out_h, out_w)
        self.weight = nn.Parameter(torch.empty(out_h, out_w, out_channels, in_channels, *kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels, out_h, out_w)) if bias else None
        nn.init.kaiming_normal_(self.weight.view(out_h * out_w * out_channels, -1))

    def forward(self, x):
        # cols[n, r, p]: the receptive field r = (channel, ky, kx) of output position p.
        cols = F.unfold(x, self.kernel_size, padding=self.padding, stride=self.stride)
        out_h, out_w = self.out_size
        w = self.weight.reshape(out_h * out_w, self.weight.shape[2], -1)
        y = torch.einsum("nrp,pkr->nkp", cols, w).reshape(x.shape[0], -1, out_h, out_w)
        return y if self.bias is None else y + self.bias
`,
  GlobalMaxPool1d: `class GlobalMaxPool1d(nn.Module):
    """Max over the whole sequence: [N, C, L] -> [N, C]."""

    def forward(self, x):
        return x.amax(dim=-1)
`,
  TokenEmbedding: `class TokenEmbedding(nn.Embedding):
    """nn.Embedding for ids that may arrive as floats; layout "NCL" returns [N, D, L] for a Conv1d."""

    def __init__(self, num_embeddings, embedding_dim, layout="NLC"):
        super().__init__(num_embeddings, embedding_dim)
        self.layout = layout

    def forward(self, ids):
        y = super().forward(ids.long())
        return y.transpose(1, 2) if self.layout == "NCL" else y
`,
  MaskedConv2d: `class MaskedConv2d(nn.Module):
    """A convolution where output map k sees only the input maps connections[k] (LeNet-5's C3).
    weight holds only the connected filters, [sum of len(connections[k]), kh, kw]."""

    def __init__(self, in_channels, out_channels, kernel_size, connections, stride, pad, bias=True):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.pad = stride, pad
        slots = [k * in_channels + c for k, row in enumerate(connections) for c in row]
        # Where each connected filter sits in the full [out, in] bank; not a parameter, so not in the state dict.
        self.register_buffer("slots", torch.tensor(slots, dtype=torch.long), persistent=False)
        self.weight = nn.Parameter(torch.empty(len(slots), *kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        nn.init.kaiming_normal_(self.weight)

    def forward(self, x):
        full = self.weight.new_zeros(self.out_channels * self.in_channels, *self.kernel_size)
        full = full.index_copy(0, self.slots, self.weight)
        full = full.view(self.out_channels, self.in_channels, *self.kernel_size)
        return F.conv2d(F.pad(x, self.pad), full, self.bias, stride=self.stride)
`,
  PositionBias: `class PositionBias(nn.Module):
    """A learned bias for every position (and channel) of the volume: y = x + bias."""

    def __init__(self, shape):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(*shape))

    def forward(self, x):
        return x + self.bias
`,
  ShortcutPad: `class ShortcutPad(nn.Module):
    """The CIFAR ResNets' option-A shortcut: subsample by the stride, zero-pad the new channels."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.extra, self.stride = out_channels - in_channels, stride

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))
`,
};
