/**
 * Step memory for containers: while an outermost Sequential or Graph runs a
 * forward or backward pass, every array its layers allocate comes from the
 * backend's step arena (wasm memory: kernels then use activations in place,
 * no copy in, no copy out, no fresh pages to fault in). What the pass
 * returns is copied into an ordinary array, so nothing a caller can hold
 * points into the arena; the arena is reset when the next forward pass
 * begins, when the arrays of the last step are dead (each layer replaces
 * what it cached for backward).
 *
 * Nested containers (ResNet blocks in a stage) run inside their parent's
 * scope. A layer called on its own, or a backend without an arena (js),
 * allocates ordinary arrays as before.
 */
import { envVar } from "../env.js";
import { Tensor, withScopedAllocator, currentScopedAllocator, isFloat64Mode } from "../tensor.js";
import { getBackend } from "../kernels/index.js";
import type { Backend, StepArena } from "../kernels/backend.js";

/** Each container's arena, for the backend it was made by. */
const arenas = new WeakMap<object, { backend: Backend; arena: StepArena }>();

/**
 * An inference pass (noGrad) keeps no activation for a backward pass, and
 * without the arena each one is garbage as soon as the next layer has run;
 * the bump arena holds them all until the next step. So inference takes at
 * most this much of the arena (the activations of VGG-16 or ResNet-50 on a
 * few images) and continues with ordinary arrays, keeping memory bounded at
 * large batches.
 */
const NO_GRAD_LIMIT_BYTES = 256 * 1024 * 1024;

/** Set STRIDE_STEP_ARENA=0 to allocate ordinary arrays everywhere (for comparisons). */
const disabled = envVar("STRIDE_STEP_ARENA") === "0";

function arenaOf(owner: object): StepArena | null {
  const backend = getBackend();
  if (!backend.createStepArena) return null;
  let entry = arenas.get(owner);
  if (!entry || entry.backend !== backend) {
    entry = { backend, arena: backend.createStepArena() };
    arenas.set(owner, entry);
  }
  return entry.arena;
}

/**
 * Runs one pass of `owner` (a container) in its step scope. `begin` is true
 * for a forward pass: the arena is reset first; `noGrad` for an inference pass.
 */
export function inStepScope(owner: object, begin: boolean, pass: () => Tensor, noGrad = false): Tensor {
  if (disabled || currentScopedAllocator() !== null || isFloat64Mode()) return pass();
  const arena = arenaOf(owner);
  if (!arena) return pass();
  if (begin) arena.reset(noGrad ? NO_GRAD_LIMIT_BYTES : Infinity);
  const out = withScopedAllocator(arena, pass);
  return arena.isResident(out.data) ? new Tensor(out.shape, out.data.slice()) : out;
}
