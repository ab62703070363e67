/**
 * Where parameters live. A layer makes its parameters as ordinary arrays, so
 * that a model that is only loaded and run (inference) pins nothing: the wasm
 * backend keeps packed copies of the weights it runs (a bounded cache,
 * kernels/wasm/weight-packs.ts), which dispose() gives back. An
 * optimiser pins the parameters it trains: their values and gradients move
 * into the backend's own memory (allocResident), where the kernels of every
 * training step read and update them in place. Pinned memory is given back
 * by dispose() on the model, or when the arrays are collected.
 */
import { getBackend } from "../kernels/index.js";
import { StrideError } from "../stride-error.js";
import type { Backend } from "../kernels/backend.js";
import type { Tensor } from "../tensor.js";
import type { Param, Buffer } from "./layer.js";

/** Tensors whose array came from a backend's allocResident, and that backend (which frees it). */
const pinnedBy = new WeakMap<Tensor, Backend>();

/** A tensor's array is replaced in place, so that whoever holds the Tensor (a layer, an optimiser) sees the move. */
function setData(t: Tensor, data: Float32Array): void {
  (t as { data: Float32Array }).data = data;
}

/** Whether the tensor's numbers are in a backend's own memory (pinned). */
export function isPinned(t: Tensor): boolean {
  return pinnedBy.has(t);
}

/**
 * Moves each parameter's value and gradient into the current backend's own
 * memory, if it has some, room is left, and they are not there already.
 * Parameters that stay ordinary arrays work all the same (kernels copy them).
 */
export function pinParams(params: readonly Param[]): void {
  const backend = getBackend();
  if (!backend.allocResident) return;
  for (const p of params) {
    for (const t of [p.value, p.grad]) {
      if (pinnedBy.has(t) || t.isMeta || !(t.data instanceof Float32Array)) continue;
      const data = backend.allocResident(t.size);
      if (!data) return; // the backend is full: the rest stays ordinary
      data.set(t.data);
      backend.forgetWeights?.(t.data); // packs of the array the parameter leaves
      setData(t, data);
      pinnedBy.set(t, backend);
    }
  }
}

/** Moves pinned parameters back into ordinary arrays and gives the backend's memory back now. */
export function unpinParams(params: readonly Param[]): void {
  for (const p of params) {
    for (const t of [p.value, p.grad]) {
      const backend = pinnedBy.get(t);
      if (!backend) continue;
      const resident = t.data;
      backend.forgetWeights?.(resident);
      setData(t, resident.slice());
      pinnedBy.delete(t);
      backend.freeResident?.(resident);
    }
  }
}

/**
 * Frees the parameters' memory now and makes every later use of them (and
 * of the buffers) throw a StrideError that says `what` was disposed.
 */
export function disposeTensors(params: readonly Param[], buffers: readonly Buffer[], what: string): void {
  const message =
    `${what} was disposed (dispose() gave its memory back); load or build the model again to use it`;
  const current = getBackend();
  const poison = (t: Tensor) => {
    if (!t.isMeta) current.forgetWeights?.(t.data); // packs of the weights kept for inference
    const backend = pinnedBy.get(t);
    pinnedBy.delete(t);
    if (backend) backend.freeResident?.(t.data);
    Object.defineProperty(t, "data", {
      configurable: true,
      get(): never {
        throw new StrideError(message);
      },
    });
  };
  for (const p of params) {
    poison(p.value);
    poison(p.grad);
  }
  for (const b of buffers) poison(b.value);
}
