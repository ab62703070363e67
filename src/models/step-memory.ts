/**
 * Step memory for containers: while an outermost Sequential or Graph runs a
 * forward or backward pass, every array its layers allocate comes from a
 * step arena of the backend (wasm memory: kernels then use activations in
 * place, no copy in, no copy out, no fresh pages to fault in). What the pass
 * returns is copied into an ordinary array, so nothing a caller can hold
 * points into the arena; the arena is reset when the next forward pass
 * begins, when the arrays of the last step are dead (each layer replaces
 * what it cached for backward).
 *
 * Arenas belong to the backend, not to models: a small pool of them is
 * handed to whichever model starts a forward pass. A model keeps its arena
 * from its forward pass until its backward pass is done (a training pass),
 * or only while the pass runs (inference, noGrad); meanwhile other models
 * (a teacher evaluated between a student's forward and backward, ensemble
 * members) take other arenas. When every arena of the pool is held, a model
 * runs on ordinary arrays, which is slower but bounded. So loading and
 * dropping thousands of models reuses the same few arenas: wasm memory never
 * shrinks, and the garbage collector does not count it as pressure.
 *
 * Nested containers (ResNet blocks in a stage) run inside their parent's
 * scope. A layer called on its own, or a backend without an arena (js),
 * allocates ordinary arrays as before.
 */
import { envVar } from "../env.js";
import { Tensor, withScopedAllocator, currentScopedAllocator, isFloat64Mode } from "../tensor.js";
import { getBackend } from "../kernels/index.js";
import { StrideError } from "../stride-error.js";
import type { Backend, StepArena } from "../kernels/backend.js";

/** One arena of a backend's pool and the claim of the model using it. */
interface PooledArena {
  backend: Backend;
  arena: StepArena;
  /** The claim of the container whose last forward pass ran here, or null. */
  claim: Claim | null;
  /** True while a pass runs here, and after a training forward pass until its backward pass: nobody else may take it. */
  held: boolean;
}

/**
 * A container's hold on an arena: the arena is the container's while the
 * arena's claim is this object. The pool refers to claims, never to models,
 * so it keeps no model alive (a WeakRef would: its target lives until the
 * running job ends, and a loop of loads and predictions is one job).
 */
interface Claim {
  slot: PooledArena | null;
}

/**
 * At most this many arenas per backend: a training model and a teacher or
 * two, with room to spare. Beyond it models run on ordinary arrays.
 */
const MAX_ARENAS = 4;

const pools = new WeakMap<Backend, PooledArena[]>();
/** Each container's claim (one per container, reused from step to step). */
const claims = new WeakMap<object, Claim>();
/** A container dropped between its forward and backward passes lets its arena go, once collected. */
const dropped = new FinalizationRegistry<Claim>((claim) => letGo(claim));

function letGo(claim: Claim): void {
  const slot = claim.slot;
  claim.slot = null;
  if (slot && slot.claim === claim) {
    slot.claim = null;
    slot.held = false;
  }
}

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

/** An arena for `owner`'s forward pass: its own from last time if nobody took it, else a free one; null if all are held. */
function claimArena(backend: Backend, owner: object, create: () => StepArena): PooledArena | null {
  let claim = claims.get(owner);
  if (!claim) {
    claims.set(owner, (claim = { slot: null }));
    dropped.register(owner, claim);
  }
  // Its own arena, even if held for a backward pass that never came: this forward pass starts the step over.
  const mine = claim.slot;
  if (mine && mine.backend === backend && mine.claim === claim) return mine;
  let pool = pools.get(backend);
  if (!pool) pools.set(backend, (pool = []));
  // An arena nobody claims first, then one whose model has finished its step.
  let slot = pool.find((s) => s.claim === null) ?? pool.find((s) => !s.held) ?? null;
  if (!slot && pool.length < MAX_ARENAS) pool.push((slot = { backend, arena: create(), claim: null, held: false }));
  if (slot) {
    slot.claim = claim;
    slot.held = false;
  }
  claim.slot = slot;
  return slot;
}

/**
 * Runs one pass of `owner` (a container) in its step scope. `begin` is true
 * for a forward pass: an arena is claimed and reset first; `noGrad` for an
 * inference pass.
 */
export function inStepScope(owner: object, begin: boolean, pass: () => Tensor, noGrad = false): Tensor {
  if (disabled || currentScopedAllocator() !== null || isFloat64Mode()) return pass();
  const backend = getBackend();
  if (!backend.createStepArena) return pass();
  let slot: PooledArena | null;
  if (begin) {
    slot = claimArena(backend, owner, () => backend.createStepArena!());
    if (slot) slot.arena.reset(noGrad ? NO_GRAD_LIMIT_BYTES : Infinity);
  } else {
    const claim = claims.get(owner);
    slot = claim?.slot ?? null; // no forward pass in an arena: the layers say what is missing
    if (slot && slot.claim !== claim) {
      throw new StrideError(
        `backward() was called again after another model's pass reused the memory of this model's last forward pass; ` +
          `run forward() again before each backward()`,
      );
    }
  }
  if (!slot) return pass();
  slot.held = true;
  let keep = false;
  try {
    const out = withScopedAllocator(slot.arena, pass);
    keep = begin && !noGrad; // the activations wait for the backward pass
    return slot.arena.isResident(out.data) ? new Tensor(out.shape, out.data.slice()) : out;
  } finally {
    slot.held = keep;
  }
}

/** Lets other models take the arena `owner` last ran in (its activations are then lost). */
export function releaseStepArena(owner: object): void {
  const claim = claims.get(owner);
  if (claim) letGo(claim);
}

/** How many arenas a backend's pool has made, and how many are held now (for tests and diagnostics). */
export function stepArenaStats(backend: Backend): { arenas: number; held: number } {
  const pool = pools.get(backend) ?? [];
  return { arenas: pool.length, held: pool.filter((s) => s.held).length };
}
