/**
 * Stride's parameter and buffer names as PyTorch's state dict spells them,
 * and back. The dotted paths are the same (a Sequential's children and a
 * Graph's nodes become submodules of those names); only batch norm's buffers
 * differ: runningMean/runningVar are running_mean/running_var, and PyTorch
 * keeps one more buffer, num_batches_tracked, which stride does not use.
 */
import type { Layer } from "../../layers/layer.js";
import type { SafetensorsEntry } from "../safetensors.js";
import { namedModules, namedParams, namedBuffers } from "../../models/named.js";
import { torchvisionNames } from "../../models/zoo/torchvision-names.js";
import { recogniseTorchvisionArch, torchvisionModel } from "../../models/zoo/torchvision.js";

const TO_TORCH: Record<string, string> = { runningMean: "running_mean", runningVar: "running_var" };
const FROM_TORCH: Record<string, string> = { running_mean: "runningMean", running_var: "runningVar" };
/** PyTorch's batch-norm step counter: written as int64 zeros, dropped on the way back. */
export const NUM_BATCHES_TRACKED = "num_batches_tracked";

/**
 * Every parameter and buffer of the model: stride's dotted name -> the name
 * in the exported state dict, in PyTorch's order (each module's parameters,
 * then its buffers). The one place where exported names are decided, so a
 * model family with other conventions (torchvision's) can map here; model.py
 * (codegen.ts) builds its module tree from stride's paths, so such a mapping
 * must be mirrored there for load_state_dict to stay strict.
 */
export function stateDictNames(model: Layer): Map<string, string> {
  const out = new Map<string, string>();
  for (const [path, m] of namedModules(model)) {
    if (m.children().length) continue;
    const at = (n: string) => (path ? `${path}.${n}` : n);
    for (const p of m.params()) out.set(at(p.name), at(p.name));
    for (const b of m.buffers()) out.set(at(b.name), at(TO_TORCH[b.name] ?? b.name));
  }
  return out;
}

/**
 * The inverse of stateDictNames on names alone: each state-dict name -> the
 * stride name it fills, or null for entries stride has no place for
 * (num_batches_tracked).
 */
export function fromStateDictNames(names: Iterable<string>): Map<string, string | null> {
  const out = new Map<string, string | null>();
  for (const name of names) {
    const dot = name.lastIndexOf(".");
    const last = name.slice(dot + 1);
    const head = name.slice(0, dot + 1);
    if (last === NUM_BATCHES_TRACKED) out.set(name, null);
    else out.set(name, head + (FROM_TORCH[last] ?? last));
  }
  return out;
}

/**
 * A state dict with PyTorch's names (checkpoint.pt, weights.pt) renamed to
 * stride's, num_batches_tracked dropped: what loadWeights(model, entries,
 * { names: "stride" | "auto" }) and decodeModel's names expect.
 */
export function stateDictToStride(entries: Map<string, SafetensorsEntry>): Map<string, SafetensorsEntry> {
  const out = new Map<string, SafetensorsEntry>();
  for (const [torchName, strideName] of fromStateDictNames(entries.keys())) {
    if (strideName !== null) out.set(strideName, entries.get(torchName)!);
  }
  return out;
}

/**
 * The model's state dict as PyTorch's would be: the same float32 values under
 * the exported names, and num_batches_tracked (int64 0) after each batch
 * norm's running statistics, as torch writes them.
 */
export function torchStateDict(model: Layer): Map<string, SafetensorsEntry> {
  const names = stateDictNames(model);
  const out = new Map<string, SafetensorsEntry>();
  for (const [path, m] of namedModules(model)) {
    if (m.children().length) continue;
    const at = (n: string) => (path ? `${path}.${n}` : n);
    for (const p of m.params()) out.set(names.get(at(p.name))!, p.value);
    for (const b of m.buffers()) out.set(names.get(at(b.name))!, b.value);
    // torch keeps the counter only where it keeps running statistics (track_running_stats=True).
    if (m.type.startsWith("BatchNorm") && m.buffers().length > 0) {
      out.set(at(NUM_BATCHES_TRACKED), { dtype: "I64", shape: [], data: new BigInt64Array(1) });
    }
  }
  return out;
}

/**
 * The state dict under torchvision's own names when the model is one of
 * torchvision's architectures (resnet, vgg, googlenet, alexnet: the zoo's
 * torchvision variants), so that torchvision's builder loads it strictly:
 * `torchvision.models.vgg16().load_state_dict(torch.load(path))`. Null for
 * any other model, and for one whose names or shapes differ from what
 * torchvision's builder of the recognised architecture has.
 */
export function torchvisionStateDict(model: Layer): Map<string, SafetensorsEntry> | null {
  const tv = torchvisionNames(model);
  if ("reason" in tv) return null;
  const out = new Map<string, SafetensorsEntry>();
  for (const [path, m] of namedModules(model)) {
    if (m.children().length) continue;
    const at = (n: string) => (path ? `${path}.${n}` : n);
    for (const p of m.params()) out.set(tv.names.get(at(p.name))!, p.value);
    for (const b of m.buffers()) out.set(tv.names.get(at(b.name))!, b.value);
    const mean = tv.names.get(at("runningMean"));
    if (mean) out.set(mean.replace(/running_mean$/, NUM_BATCHES_TRACKED), { dtype: "I64", shape: [], data: new BigInt64Array(1) });
  }
  // The same names and shapes as torchvision's own network of that architecture, or it is not one.
  const found = recogniseTorchvisionArch(out);
  if (!found) return null;
  const reference = torchvisionModel(found.arch, { numClasses: found.numClasses, widthMultiplier: found.widthMultiplier, inputShape: [found.inChannels, 224, 224], init: false });
  const want = torchvisionNames(reference);
  if ("reason" in want) return null;
  const shapes = new Map([...namedParams(reference), ...namedBuffers(reference)].map(([n, t]) => [want.names.get(n)!, t.value.shape.join("x")]));
  const floats = [...out].filter(([n]) => !n.endsWith(NUM_BATCHES_TRACKED));
  if (floats.length !== shapes.size || floats.some(([n, e]) => shapes.get(n) !== e.shape.join("x"))) return null;
  return out;
}
