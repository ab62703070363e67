import { Rng } from "./random.js";
import { StrideError } from "./stride-error.js";

/**
 * A tensor built or used wrongly: a bad shape or data, a reshape whose sizes
 * disagree, an index out of bounds, or more values than the file being
 * decoded holds. The message says what was wrong and how to fix it.
 */
export class TensorError extends StrideError {
  constructor(message: string) {
    super(message);
    this.name = "TensorError";
  }
}

/**
 * The array type new tensors and kernel workspaces are made of. Always
 * Float32Array, except inside withFloat64(), which the gradient checks use to
 * run the js reference kernels in double precision (the arrays are then
 * Float64Array at run time; no other backend supports that mode).
 */
let FloatArray: Float32ArrayConstructor = Float32Array;

/**
 * Where the arrays of one model step come from while a container runs a
 * forward or backward pass (see models/step-memory.ts): a backend's step
 * arena, so that kernels read and write activations in place. Null (the
 * default) means ordinary garbage-collected arrays.
 */
export interface ScopedAllocator {
  /**
   * n floats, or null to fall back to an ordinary array. Zeroed unless
   * `zero` is false: then the contents are whatever the memory held.
   */
  floats(n: number, zero?: boolean): Float32Array | null;
  ints(n: number): Int32Array | null;
}

let scoped: ScopedAllocator | null = null;

/**
 * A float array from the current step scope's allocator if there is one.
 * Zeroed, unless `zero` is false: for an output that a kernel writes in full,
 * whose zeroing would be a wasted pass over memory.
 */
export function allocFloats(n: number, zero = true): Float32Array {
  if (scoped !== null && FloatArray === Float32Array) {
    const a = scoped.floats(n, zero);
    if (a !== null) return a;
  }
  return new FloatArray(n);
}

/** A zeroed Int32Array (max-pooling switches): from the current step scope's allocator if there is one. */
export function allocInts(n: number): Int32Array {
  if (scoped !== null) {
    const a = scoped.ints(n);
    if (a !== null) return a;
  }
  return new Int32Array(n);
}

/** Runs fn with new arrays taken from `allocator` (null: ordinary arrays). */
export function withScopedAllocator<T>(allocator: ScopedAllocator | null, fn: () => T): T {
  const saved = scoped;
  scoped = allocator;
  try {
    return fn();
  } finally {
    scoped = saved;
  }
}

/** The allocator of the step scope being run, if any. */
export function currentScopedAllocator(): ScopedAllocator | null {
  return scoped;
}

/** Runs fn with every new tensor in float64 (js backend only; for gradient checks). */
export function withFloat64<T>(fn: () => T): T {
  const saved = FloatArray;
  FloatArray = Float64Array as unknown as Float32ArrayConstructor;
  try {
    return fn();
  } finally {
    FloatArray = saved;
  }
}

export function isFloat64Mode(): boolean {
  return FloatArray !== Float32Array;
}

// The data must be flat: nested arrays ([[1, 2], [3, 4]]) would otherwise
// fail as a length mismatch, or silently become NaNs when the lengths agree.
function checkData(shape: readonly number[], size: number, data: unknown): void {
  const dims = `[${shape.join(", ")}]`;
  if (Array.isArray(data)) {
    if (data.some((v) => Array.isArray(v) || ArrayBuffer.isView(v))) {
      throw new TensorError(
        `Tensor: the data is a nested array; pass it flat in row-major order ` +
          `(e.g. new Tensor(${dims}, nested.flat(Infinity))), the shape says how to read it`,
      );
    }
  } else if (!ArrayBuffer.isView(data)) {
    throw new TensorError(`Tensor: the data must be a Float32Array or an array of numbers, got ${data === null ? "null" : typeof data}`);
  }
  const length = (data as ArrayLike<number>).length;
  if (length !== size) {
    const product = shape.length > 1 ? ` (${shape.join(" × ")})` : "";
    throw new TensorError(
      `Tensor: shape ${dims} holds ${size} values but the data has ${length}; ` +
        `pass exactly ${size} numbers${product} in row-major order, or change the shape`,
    );
  }
}

// While a model file is decoded, fresh tensors are charged against what its
// weights file accounts for, so a damaged topology is refused before it
// allocates (one edited number could otherwise ask for gigabytes).
interface AllocationLimit {
  remaining: number;
  refuse: (shape: number[], size: number) => string;
}
let allocationLimit: AllocationLimit | null = null;

function chargeAllocation(limit: AllocationLimit, shape: number[], size: number): void {
  if (size > limit.remaining) throw new TensorError(limit.refuse(shape, size));
  limit.remaining -= size;
}

/**
 * Runs `fn` with fresh tensor allocations capped at `floats` elements in all;
 * a tensor beyond the cap throws a TensorError with `refuse(shape, size)` as its message.
 */
export function withAllocationLimit<T>(floats: number, refuse: (shape: number[], size: number) => string, fn: () => T): T {
  const outer = allocationLimit;
  allocationLimit = { remaining: Math.min(floats, outer ? outer.remaining : Infinity), refuse };
  try {
    return fn();
  } finally {
    allocationLimit = outer;
  }
}

// Shapes without storage, as PyTorch's meta device: a model built this way
// can be counted (summary, estimateMemory, receptiveField) at any size.
let metaMode = false;

/**
 * Runs `fn` with every new tensor made without storage when `on` is true
 * (shape only; reading its values throws MetaTensorError). What
 * `meta: true` does for the zoo builders and the layers with parameters.
 */
export function withMeta<T>(on: boolean, fn: () => T): T {
  const outer = metaMode;
  metaMode = on || outer;
  try {
    return fn();
  } finally {
    metaMode = outer;
  }
}

/**
 * Switches meta mode on (when `on`) until the returned function is called: for
 * a constructor, which must assign its readonly fields itself rather than in a
 * callback as withMeta would need. Call the function in a finally block.
 */
export function beginMeta(on: boolean): () => void {
  const outer = metaMode;
  metaMode = on || outer;
  return () => {
    metaMode = outer;
  };
}

/** Thrown when the values of a tensor that has only a shape (built with `meta: true`) are read. */
export class MetaTensorError extends TensorError {
  constructor(shape: readonly number[]) {
    super(
      `this ${formatShape(shape)} tensor has a shape but no values: the model was built with meta: true, ` +
        `for its arithmetic only (summary, estimateMemory, receptiveField); build it without meta to run, train or save it`,
    );
    this.name = "MetaTensorError";
  }
}

/**
 * A dense float32 tensor, row-major. Images are NCHW: [batch, channels,
 * height, width]. The memory is a plain Float32Array owned by the garbage
 * collector: a tensor needs no disposing. (The parameters an optimiser moves
 * into wasm memory are given back by fit or by the model's dispose().)
 */
export class Tensor {
  readonly shape: number[];
  readonly data: Float32Array;

  /** Number of values (the product of the shape). */
  readonly size: number;

  constructor(shape: number[], data?: Float32Array | number[]) {
    checkShape(shape);
    const size = shapeSize(shape);
    this.size = size;
    if (data === undefined && metaMode) {
      this.data = EMPTY;
      this.shape = shape.slice();
      const frozen = this.shape;
      Object.defineProperty(this, "data", { get: () => { throw new MetaTensorError(frozen); } });
      return;
    }
    if (data === undefined) {
      if (allocationLimit) chargeAllocation(allocationLimit, shape, size);
      this.data = allocFloats(size);
    } else {
      checkData(shape, size, data);
      this.data = data instanceof FloatArray ? data : FloatArray.from(data);
    }
    this.shape = shape.slice();
  }

  /** A tensor of zeros. */
  static zeros(shape: number[]): Tensor {
    return new Tensor(shape);
  }

  /**
   * A tensor whose values are unspecified (zero outside a step scope): for a
   * layer's output that the kernel then writes in full, every element.
   */
  static empty(shape: number[]): Tensor {
    checkShape(shape);
    if (allocationLimit) chargeAllocation(allocationLimit, shape, shapeSize(shape));
    return new Tensor(shape, allocFloats(shapeSize(shape), false));
  }

  /** A tensor of ones. */
  static ones(shape: number[]): Tensor {
    return Tensor.full(shape, 1);
  }

  /** A tensor with every value set to `value`. */
  static full(shape: number[], value: number): Tensor {
    const t = new Tensor(shape);
    if (!t.isMeta) t.data.fill(value);
    return t;
  }

  /** Standard normal values; the same seed gives the same tensor. */
  static randn(shape: number[], seed?: number): Tensor {
    const rng = new Rng(seed ?? Math.floor(Math.random() * 2 ** 31));
    const t = new Tensor(shape);
    if (t.isMeta) return t;
    for (let i = 0; i < t.data.length; i++) t.data[i] = rng.normal();
    return t;
  }

  /** Uniform values in [low, high); the same seed gives the same tensor. */
  static rand(shape: number[], seed?: number, low = 0, high = 1): Tensor {
    const rng = new Rng(seed ?? Math.floor(Math.random() * 2 ** 31));
    const t = new Tensor(shape);
    if (t.isMeta) return t;
    for (let i = 0; i < t.data.length; i++) t.data[i] = rng.uniform(low, high);
    return t;
  }

  /** True for a tensor with a shape but no values (built under `meta: true`). */
  get isMeta(): boolean {
    return Object.getOwnPropertyDescriptor(this, "data")?.get !== undefined;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** The same memory seen with another shape of the same size. */
  reshape(shape: number[]): Tensor {
    const resolved = resolveReshape(this.shape, shape);
    if (this.isMeta) return withMeta(true, () => new Tensor(resolved));
    return new Tensor(resolved, this.data);
  }

  /** A copy with its own data. */
  clone(): Tensor {
    return new Tensor(this.shape, this.data.slice());
  }

  /** Reads one element by its multi-index (slow; for tests and inspection). */
  get(...index: number[]): number {
    return this.data[flatIndex(this.shape, index)];
  }

  /** Sets the value at an index, one number per axis. */
  set(value: number, ...index: number[]): void {
    this.data[flatIndex(this.shape, index)] = value;
  }

  /** The values as a plain array, in row-major order. */
  toArray(): number[] {
    return Array.from(this.data);
  }

  /** The shape and the first values, for logs. */
  toString(): string {
    return `Tensor[${this.shape.join("x")}]`;
  }
}

const EMPTY = new Float32Array(0);

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

function checkShape(shape: number[]): void {
  if (!Array.isArray(shape)) {
    throw new TensorError(`Tensor: the shape must be an array of whole numbers, got ${String(shape)}`);
  }
  if (shape.some((d) => Array.isArray(d) || ArrayBuffer.isView(d))) {
    // new Tensor([[1, 2], [3, 4]]): nested data where the shape goes.
    const dims = nestedDims(shape);
    const hint = dims ? `new Tensor([${dims.join(", ")}], values.flat(Infinity))` : "new Tensor(shape, flatValues)";
    throw new TensorError(
      `Tensor: the first argument is the shape, but it holds nested arrays (data?); pass the shape, then the values ` +
        `flat in row-major order: ${hint}`,
    );
  }
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new TensorError(`Tensor: shape ${formatShape(shape)} has ${d}; every dimension must be a whole number >= 0`);
    }
  }
}

/** The dimensions of a rectangular nested array of numbers, or null when it is ragged. */
function nestedDims(a: unknown): number[] | null {
  if (!Array.isArray(a) && !ArrayBuffer.isView(a)) return typeof a === "number" ? [] : null;
  const items = Array.from(a as ArrayLike<unknown>);
  if (items.length === 0) return [0];
  const inner = nestedDims(items[0]);
  if (inner === null) return null;
  for (const item of items) {
    const d = nestedDims(item);
    if (d === null || d.length !== inner.length || d.some((v, i) => v !== inner[i])) return null;
  }
  return [items.length, ...inner];
}

function resolveReshape(from: number[], to: number[]): number[] {
  const size = shapeSize(from);
  const unknown = to.indexOf(-1);
  const out = to.slice();
  if (unknown >= 0) {
    const known = shapeSize(to.filter((_, i) => i !== unknown));
    if (known === 0 || size % known !== 0) {
      throw new TensorError(`reshape: cannot reshape ${formatShape(from)} into ${formatShape(to)}`);
    }
    out[unknown] = size / known;
  }
  if (shapeSize(out) !== size) {
    throw new TensorError(
      `reshape: ${formatShape(from)} has ${size} values and ${formatShape(to)} has ${shapeSize(out)}; the sizes must agree`,
    );
  }
  return out;
}

function flatIndex(shape: number[], index: number[]): number {
  if (index.length !== shape.length) {
    throw new TensorError(`index [${index.join(", ")}] has ${index.length} dimensions, the tensor ${shape.length}`);
  }
  let flat = 0;
  for (let i = 0; i < shape.length; i++) {
    if (index[i] < 0 || index[i] >= shape[i]) {
      throw new TensorError(`index [${index.join(", ")}] is out of bounds for shape ${formatShape(shape)}`);
    }
    flat = flat * shape[i] + index[i];
  }
  return flat;
}
