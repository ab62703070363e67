/**
 * Walking a model by name: every parameter and buffer under a dotted path
 * ("conv1.weight", "layer1.block1.bn1.runningMean"), finding a layer, and
 * freezing layers for transfer learning.
 */
import { Module, type Param, type Buffer } from "../layers/layer.js";
import { BatchNorm1d, BatchNorm2d } from "../layers/norm.js";

/** Every layer under the root with its dotted path (the root itself is ""). */
export function namedModules(root: Module): [string, Module][] {
  const out: [string, Module][] = [];
  const walk = (m: Module, path: string) => {
    out.push([path, m]);
    for (const c of m.children()) walk(c, path ? `${path}.${c.name}` : c.name);
  };
  walk(root, "");
  return out;
}

/** Parameters under their dotted names, in model order. */
export function namedParams(root: Module): [string, Param][] {
  return namedModules(root).flatMap(([path, m]) =>
    m.children().length ? [] : m.params().map((p) => [path ? `${path}.${p.name}` : p.name, p] as [string, Param]),
  );
}

/** Every buffer of a model under its dotted path ("layer1.0.bn1.runningMean"), in model order. */
export function namedBuffers(root: Module): [string, Buffer][] {
  return namedModules(root).flatMap(([path, m]) =>
    m.children().length ? [] : m.buffers().map((b) => [path ? `${path}.${b.name}` : b.name, b] as [string, Buffer]),
  );
}

/** The layer at a dotted path (or with that name anywhere, if unique). */
export function findLayer(root: Module, name: string): Module {
  const all = namedModules(root);
  const exact = all.find(([p]) => p === name);
  if (exact) return exact[1];
  const byName = all.filter(([, m]) => m.name === name);
  if (byName.length === 1) return byName[0][1];
  const known = all.map(([p]) => p).filter(Boolean);
  throw new Error(
    byName.length > 1
      ? `several layers are named "${name}": ${byName.map(([p]) => p).join(", ")}; use the dotted path`
      : `no layer "${name}" in the model; its layers are: ${known.join(", ")}`,
  );
}

/** Which layers freeze stops training, and what frozen batch norms do. */
export interface FreezeOptions {
  /** The layers to freeze, by dotted path or unique name. */
  layers?: string[];
  /** Or every layer before this one in model order. */
  until?: string;
  /**
   * "update" (default, as PyTorch with requires_grad off): frozen batch norms
   * still normalise with batch statistics in training and update their
   * running estimates. "freeze": they use and keep their running statistics,
   * so the frozen layers compute exactly what they computed before (Keras's
   * behaviour for non-trainable layers; a fixed feature extractor).
   */
  statistics?: "update" | "freeze";
}

/**
 * Freezes layers (their parameters stop training and keep their values):
 * the named ones, or every layer before `until` in model order.
 */
export function freeze(root: Module, which: FreezeOptions | string[]): Param[] {
  const opts: FreezeOptions = Array.isArray(which) ? { layers: which } : which;
  if (opts.statistics !== undefined && opts.statistics !== "update" && opts.statistics !== "freeze") {
    throw new Error(`freeze: statistics = ${JSON.stringify(opts.statistics)} is not valid; use "update" or "freeze"`);
  }
  let targets: Module[];
  if (opts.until !== undefined) {
    // A container (a ResNet stage "layer4", a block) stands for its first layer.
    const stop = namedModules(findLayer(root, opts.until)).find(([, m]) => m.children().length === 0)?.[1];
    const order = namedModules(root).filter(([, m]) => m.children().length === 0).map(([, m]) => m);
    const at = stop ? order.indexOf(stop) : -1;
    if (at < 0) throw new Error(`"${opts.until}" holds no layer to freeze up to`);
    targets = order.slice(0, at);
  } else {
    targets = (opts.layers ?? []).map((n) => findLayer(root, n));
  }
  const modules = targets.flatMap((m) => namedModules(m).map(([, l]) => l));
  const frozen = modules.flatMap((l) => (l.children().length ? [] : l.params()));
  for (const p of frozen) p.trainable = false;
  if (opts.statistics === "freeze") for (const l of modules) if (l instanceof BatchNorm1d || l instanceof BatchNorm2d) l.frozenStatistics = true;
  return frozen;
}

/** Every parameter trains again, and every batch norm updates its statistics again. */
export function unfreeze(root: Module): void {
  for (const [, p] of namedParams(root)) p.trainable = true;
  for (const [, l] of namedModules(root)) if (l instanceof BatchNorm1d || l instanceof BatchNorm2d) l.frozenStatistics = false;
}
