/**
 * loadWeights: pretrained weights into a model by name and shape, from a Map
 * of tensors (decodeSafetensors, or later the torch.save reader) or a file.
 *
 * Names are stride's (namedParams / namedBuffers: "layer1.0.bn1.runningMean")
 * or torchvision's state-dict names for the zoo's torchvision variants
 * ("layer1.0.bn1.running_mean", "features.0.weight", "inception3a.branch2.0.conv.weight"),
 * derived from the model's structure in models/zoo/torchvision-names.ts.
 *
 * Everything is checked before anything is written, so a failed load leaves
 * the model as it was. Values are copied into the existing tensors
 * (`data.set`): parameters that live in wasm memory stay where they are, and
 * nothing caches weights between calls (the conv/batch-norm folding of
 * models/fusion.ts recomputes from the running statistics on every forward).
 */
import { Tensor, formatShape } from "../tensor.js";
import type { Module } from "../layers/layer.js";
import { namedParams, namedBuffers } from "../models/named.js";
import { torchvisionNames, type TorchvisionNames } from "../models/zoo/torchvision-names.js";
import { ModelFileError, toFloat32Tensor, type SafetensorsEntry } from "./safetensors.js";

/** Which names a weights file uses: stride's, torchvision's, or whichever fits ("auto"). */
export type WeightNames = "auto" | "stride" | "torchvision";

/** Options of loadWeights. */
export interface LoadWeightsOptions {
  /**
   * "stride": namedParams / namedBuffers names. "torchvision": torchvision's
   * state-dict names (alexnet({variant:"torchvision"}), vgg(cfg, {batchNorm}),
   * googlenet({variant:"torchvision"}), resnet(18|34|50|101|152)).
   * "auto" (default): stride's if the source has them all, else torchvision's
   * if the model is one of those variants and the source has more of them.
   */
  names?: WeightNames;
  /** Default true: any missing, unexpected or mis-shaped name throws one ModelFileError listing them all. */
  strict?: boolean;
}

/** What loadWeights copied, and what did not match. */
export interface LoadWeightsResult {
  /** The naming used ("auto" resolved). */
  names: "stride" | "torchvision";
  /** Names (the source's) copied into the model. */
  loaded: string[];
  /** Names the model has and the source lacks (in the source's naming). */
  missing: string[];
  /**
   * Names in the source the model has no place for. num_batches_tracked is
   * never listed. A torchvision GoogLeNet checkpoint's aux1.* and aux2.*
   * loaded into a GoogLeNet built without auxiliary heads are listed here
   * but never make a strict load fail: like torchvision's
   * googlenet(weights=...), the model simply has no heads to put them in.
   */
  unexpected: string[];
  /** Names present on both sides with different shapes or a non-float dtype: "name: source [..], model [..]". */
  mismatched: string[];
}

interface Target {
  /** stride's name. */
  own: string;
  /** The name looked up in the source. */
  key: string;
  tensor: Tensor;
}

/** torchvision counts batches in every batch norm; stride has no such counter. */
const isBatchCounter = (name: string) => name === "num_batches_tracked" || name.endsWith(".num_batches_tracked");
const FLOAT_DTYPES = new Set(["F16", "BF16", "F32", "F64"]);
const SHOWN = 20;

function shapeOf(e: SafetensorsEntry): number[] {
  return e instanceof Tensor ? e.shape : e.shape;
}

function dtypeOf(e: SafetensorsEntry): string {
  return e instanceof Tensor ? "F32" : e.dtype;
}

/** A plain loop: findIndex's callback per element is slow on VGG's 100M-weight layers. */
function firstNonFinite(data: Float32Array | Float64Array): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

function list(items: string[]): string {
  const shown = items.slice(0, SHOWN).map((s) => `    ${s}`);
  if (items.length > SHOWN) shown.push(`    … and ${items.length - SHOWN} more`);
  return shown.join("\n");
}

function sample(names: Iterable<string>, n = 4): string {
  const all = [...names];
  return all.slice(0, n).join(", ") + (all.length > n ? ", …" : "");
}

/**
 * Copies weights into a model by name, shape-checked: parameters and
 * buffers (batch-norm running statistics). `source`: a Map of tensors
 * (F32, F16, BF16 or F64), or the path of a .safetensors or torch.save
 * (.pt, .pth, .bin, .ckpt, .tar) file.
 *
 * torchvision's GoogLeNet weights expect `transform_input`: see
 * googlenetTransformInput.
 */
export function loadWeights(model: Module, source: string | Map<string, SafetensorsEntry>, opts: LoadWeightsOptions = {}): LoadWeightsResult {
  return loadWeightsWith(model, source, opts, (path) => {
    throw new ModelFileError(path, "loadWeights: reading a file path needs Node (the browser entry of stride has no file system); pass the tensors instead: decodeSafetensors(bytes).tensors or readTorchCheckpoint(bytes)");
  });
}

/** loadWeights with the way a path is read passed in (the Node entry passes the file reader). */
export function loadWeightsWith(
  model: Module, source: string | Map<string, SafetensorsEntry>, opts: LoadWeightsOptions, readFile: (path: string) => Map<string, SafetensorsEntry>,
): LoadWeightsResult {
  const where = typeof source === "string" ? source : "<weights>";
  const fail = (problem: string) => new ModelFileError(where, problem);
  if (typeof opts !== "object" || opts === null) throw fail(`loadWeights: options must be an object { names, strict }, got ${JSON.stringify(opts)}`);
  const names = opts.names ?? "auto";
  if (!["auto", "stride", "torchvision"].includes(names)) {
    throw fail(`loadWeights: names = ${JSON.stringify(opts.names)} is not valid; use "auto", "stride" or "torchvision"`);
  }
  const strict = opts.strict ?? true;
  if (typeof strict !== "boolean") throw fail(`loadWeights: strict = ${JSON.stringify(opts.strict)} is not valid; use true or false`);
  const tensors = typeof source === "string" ? readFile(source) : source;
  if (!(tensors instanceof Map)) throw fail("loadWeights: the source must be a file path or a Map of name -> tensor (as decodeSafetensors returns)");

  const own: [string, Tensor][] = [
    ...namedParams(model).map(([n, p]) => [n, p.value] as [string, Tensor]),
    ...namedBuffers(model).map(([n, b]) => [n, b.value] as [string, Tensor]),
  ];
  // Derived for names: "stride" too, for the hint when the source turns out to be torchvision's.
  const tv = torchvisionNames(model);
  const chosen = chooseNames(names, own, tensors, tv, fail);
  const tvNames = chosen === "torchvision" ? (tv as TorchvisionNames) : null;
  const targets: Target[] = own.map(([n, t]) => ({ own: n, key: tvNames ? tvNames.names.get(n)! : n, tensor: t }));

  // Match every name before writing anything.
  const loaded: { target: Target; value: Tensor }[] = [];
  const missing: string[] = [], mismatched: string[] = [], mismatchDetail: { target: Target; got: number[] }[] = [];
  const label = (t: Target) => (t.key === t.own ? t.key : `${t.key} (model: ${t.own})`);
  for (const t of targets) {
    const entry = tensors.get(t.key);
    if (entry === undefined) {
      missing.push(t.key);
      continue;
    }
    const shape = shapeOf(entry), dtype = dtypeOf(entry);
    if (!FLOAT_DTYPES.has(dtype)) {
      mismatched.push(`${label(t)}: source ${dtype} ${formatShape(shape)}, model F32 ${formatShape(t.tensor.shape)} (weights must be floating point)`);
      continue;
    }
    if (shape.length !== t.tensor.shape.length || shape.some((d, i) => d !== t.tensor.shape[i])) {
      mismatched.push(`${label(t)}: source ${formatShape(shape)}, model ${formatShape(t.tensor.shape)}`);
      mismatchDetail.push({ target: t, got: shape });
      continue;
    }
    const value = toFloat32Tensor(entry);
    const bad = firstNonFinite(value.data);
    if (bad >= 0) {
      throw fail(
        `${label(t)} holds ${value.data[bad]} at index ${bad} (${dtype === "F16" ? "an F16 overflow or " : ""}a damaged file, or weights saved after training diverged); ` +
          `loadWeights refuses non-finite weights`,
      );
    }
    loaded.push({ target: t, value });
  }
  const used = new Set(targets.map((t) => t.key));
  const optional = tvNames?.optionalPrefixes ?? [];
  const unexpected: string[] = [];
  let tolerated = 0;
  for (const name of tensors.keys()) {
    if (used.has(name) || isBatchCounter(name)) continue;
    unexpected.push(name);
    if (optional.some((p) => name.startsWith(p))) tolerated++;
  }

  if (strict && (missing.length || mismatched.length || unexpected.length > tolerated)) {
    const parts = [`the weights do not fit the model (names: "${chosen}"): ${missing.length} missing, ${unexpected.length - tolerated} unexpected, ${mismatched.length} mis-shaped`];
    if (missing.length) parts.push(`  missing (the model has them, the source does not):\n${list(missing.map((k) => label(targets.find((t) => t.key === k)!)))}`);
    const reported = unexpected.filter((n) => !optional.some((p) => n.startsWith(p)));
    if (reported.length) parts.push(`  unexpected (in the source, not in the model):\n${list(reported)}`);
    if (mismatched.length) parts.push(`  mis-shaped:\n${list(mismatched)}`);
    const hint = hintFor(mismatchDetail, own, chosen, tv, missing.length, tensors);
    if (hint) parts.push(`  ${hint}`);
    parts.push(`  (strict: false loads the names that fit and returns these lists)`);
    throw fail(parts.join("\n"));
  }

  for (const { target, value } of loaded) target.tensor.data.set(value.data);
  model.weightsChanged(); // what a backend packed from the old weights is stale now
  return { names: chosen, loaded: loaded.map((l) => l.target.key), missing, unexpected, mismatched };
}

/** Which naming the source uses: as asked, or for "auto" the one with the source's names. */
function chooseNames(
  names: WeightNames, own: [string, Tensor][], tensors: Map<string, SafetensorsEntry>,
  tv: TorchvisionNames | { reason: string } | null, fail: (p: string) => ModelFileError,
): "stride" | "torchvision" {
  if (names === "stride") return "stride";
  if (names === "torchvision") {
    if (tv && "reason" in tv) {
      throw fail(
        `names: "torchvision" needs one of the zoo's torchvision variants (alexnet({ variant: "torchvision" }), vgg(cfg, { batchNorm }), ` +
          `googlenet({ variant: "torchvision" }), resnet(18|34|50|101|152)); this model is not one (${tv.reason}). ` +
          `Use names: "stride" for weights saved from stride`,
      );
    }
    return "torchvision";
  }
  const hits = (keys: Iterable<string>) => {
    let n = 0;
    for (const k of keys) if (tensors.has(k)) n++;
    return n;
  };
  const strideHits = hits(own.map(([n]) => n));
  if (strideHits === own.length) return "stride";
  const tvMap = tv && !("reason" in tv) ? tv.names : null;
  const tvHits = tvMap ? hits(own.map(([n]) => tvMap.get(n)!)) : 0;
  if (tvMap && tvHits === own.length) return "torchvision";
  // Neither fits entirely: the closer one, so that the error lists what differs in the source's own terms.
  if (tvHits > strideHits) return "torchvision";
  if (strideHits > 0) return "stride";
  const theirs = [...tensors.keys()].filter((k) => !isBatchCounter(k));
  throw fail(
    `names: "auto" found none of the model's names in the source.\n` +
      `  the model's (stride) names: ${sample(own.map(([n]) => n))}\n` +
      // The torchvision names that differ from stride's say most (ResNet's differ only in the buffers).
      (tvMap ? `  the model's torchvision names: ${sample(own.map(([n]) => tvMap.get(n)!).filter((t, i) => t !== own[i][0]))}\n` : `  (not a torchvision variant: ${(tv as { reason: string }).reason})\n`) +
      `  the source's names: ${theirs.length ? sample(theirs) : "(none)"}\n` +
      `  Load weights saved from this kind of model, or build the model the weights came from`,
  );
}

/** How to fix mis-shaped tensors, when their shapes say: classes, input size or width. */
function hintFor(
  detail: { target: Target; got: number[] }[], own: [string, Tensor][], chosen: string, tv: TorchvisionNames | { reason: string } | null,
  missing: number, tensors: Map<string, SafetensorsEntry>,
): string | null {
  const recognised = tv !== null && !("reason" in tv);
  // Names missing that the other naming would find: the source uses that one.
  if (missing > 0) {
    const other = chosen === "stride" ? (recognised ? own.map(([n]) => tv.names.get(n)!) : []) : own.map(([n]) => n);
    if (other.filter((n) => tensors.has(n)).length > own.length - missing) {
      return `hint: names are missing but the source has the model's ${chosen === "stride" ? "torchvision" : "stride"} names: pass names: "${chosen === "stride" ? "torchvision" : "stride"}"`;
    }
  }
  if (!detail.length) return null;
  const lastWeight = [...own].reverse().find(([n, t]) => n.endsWith(".weight") && t.rank === 2)?.[0];
  const hints: string[] = [];
  for (const { target, got } of detail) {
    const want = target.tensor.shape;
    if (target.own === lastWeight && got.length === 2 && got[1] === want[1] && got[0] !== want[0]) {
      hints.push(`the classifier has ${want[0]} outputs and the weights ${got[0]}: build the model with numClasses: ${got[0]}, or load with strict: false and train the new head`);
    } else if (got.length === 2 && want.length === 2 && got[0] === want[0] && got[1] !== want[1]) {
      hints.push(
        `${target.key} takes ${want[1]} inputs in the model and ${got[1]} in the weights: the flattened features differ, so build the model with the checkpoint's inputShape ` +
          `(224x224 for torchvision's)${recognised && tv.family === "vgg" ? " or adaptivePool: true" : ""}`,
      );
    } else if (got.length === want.length && got[0] !== want[0] && got.length >= 1) {
      const r = got[0] / want[0];
      hints.push(`the weights are ${r >= 1 ? `${+r.toFixed(3)} times wider` : `${+(1 / r).toFixed(3)} times narrower`} than the model (${target.key}): build the model with a widthMultiplier ${+r.toFixed(4)} times its own (1 for the published network)`);
    }
    if (hints.length) break;
  }
  return hints.length ? `hint: ${hints[0]}` : null;
}
