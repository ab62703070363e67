/**
 * The random generators a model draws from while it trains (Dropout's
 * masks), saved in checkpoints and restored on resume, so that a resumed run
 * draws the numbers the uninterrupted one would have drawn. The data
 * loader's generator (shuffling, augmentation) and the global one are saved
 * beside them by the trainer.
 */
import type { Module } from "../layers/layer.js";
import { namedModules } from "../models/named.js";
import { StrideError } from "../stride-error.js";

/** A layer with a generator of its own: its state as JSON-able numbers (NaN written as null), and its restore. */
interface RandomLayer {
  randomState(): number[];
  setRandomState(state: (number | null)[]): void;
}

function isRandomLayer(m: Module): m is Module & RandomLayer {
  const r = m as Partial<RandomLayer>;
  return typeof r.randomState === "function" && typeof r.setRandomState === "function";
}

/** Generator states by the dotted path of the layer that draws from them. */
export type RandomStreams = Record<string, (number | null)[]>;

function randomLayers(model: Module): [string, RandomLayer][] {
  return namedModules(model).filter((e): e is [string, Module & RandomLayer] => isRandomLayer(e[1]));
}

/** The state of every layer's generator, for a checkpoint. */
export function randomStreams(model: Module): RandomStreams {
  const out: RandomStreams = {};
  for (const [path, layer] of randomLayers(model)) out[path] = layer.randomState().map((v) => (Number.isNaN(v) ? null : v));
  return out;
}

/**
 * Restores every layer's generator from a checkpoint's `saved` streams. A
 * checkpoint written before generators were saved has none: then the layers
 * keep their current state, and `note` is told that the resumed run will not
 * reproduce the uninterrupted one. Streams that do not match the model's
 * layers mean another model's checkpoint, which is refused.
 */
export function restoreRandomStreams(model: Module, saved: RandomStreams | undefined, where: string, note: (line: string) => void): void {
  const layers = randomLayers(model);
  if (saved === undefined) {
    if (layers.length > 0) {
      note(
        `resume: note: the checkpoint in ${where} was written without the generators of ${layers.map(([p]) => p).join(", ")} ` +
          `(an older stride); training continues, but their random draws differ from the uninterrupted run's`,
      );
    }
    return;
  }
  const ours = layers.map(([p]) => p);
  const theirs = Object.keys(saved);
  const missing = ours.filter((p) => !Object.hasOwn(saved, p));
  const extra = theirs.filter((p) => !ours.includes(p));
  if (missing.length > 0 || extra.length > 0) {
    throw new StrideError(
      `resume: the checkpoint in ${where} holds random generators for [${theirs.join(", ")}] but this model draws from ` +
        `[${ours.join(", ")}]; resume with the model that wrote the checkpoint`,
    );
  }
  for (const [path, layer] of layers) {
    const state = saved[path];
    if (!Array.isArray(state) || state.length !== 5 || state.some((v) => v !== null && typeof v !== "number")) {
      throw new StrideError(`resume: the checkpoint in ${where} has a damaged generator state for layer ${path} (${JSON.stringify(state)})`);
    }
    layer.setRandomState(state);
  }
}
