/**
 * What every layer is. A layer owns its forward and backward pass and keeps
 * what its backward pass needs (max-pool its switches, batch-norm its batch
 * statistics), answers its output shape without computing anything, and
 * describes itself (options, parameters, multiply-accumulates) so that
 * containers can summarise, save and rebuild it.
 */
import { Tensor, formatShape, withScopedAllocator, withMeta } from "../tensor.js";
import { ShapeError } from "../shape.js";
import { StrideError } from "../stride-error.js";
import { disposeTensors } from "./param-memory.js";

/** A trained tensor of a layer (a weight or a bias) and its gradient, which backward() accumulates into. */
export interface Param {
  name: string;
  value: Tensor;
  grad: Tensor;
  /** False for frozen parameters: optimisers skip them and layers do not compute their gradient. */
  trainable: boolean;
  /**
   * Changes whenever the library changes the values (an optimiser step,
   * loadWeights, loadModel, touchParam): in inference a backend may keep a
   * copy or a packed form of the weights until it changes. Absent on a
   * Param built by hand, whose weights are then never kept.
   */
  version?: number;
}

let lastVersion = 0;

/**
 * Says that a parameter's values changed, so that packed copies of the old
 * ones are not used again. The library does this itself; call it (or
 * model.weightsChanged()) after writing into `param.value.data` by hand.
 */
export function touchParam(p: Param): void {
  if (p.version !== undefined) p.version = ++lastVersion;
}

/** A tensor a layer saves but does not train, e.g. batch-norm running statistics. */
export interface Buffer {
  name: string;
  value: Tensor;
}

/** How a forward pass runs: training or inference, and whether a backward pass will follow. */
export interface ForwardContext {
  /** Training mode: dropout drops, batch-norm uses and updates batch statistics. Default false. */
  training?: boolean;
  /**
   * Inference only: keep nothing for a backward pass, so each activation can
   * be released as soon as the next layer has consumed it (like torch.no_grad).
   */
  noGrad?: boolean;
  /**
   * False when nobody needs the gradient w.r.t. this input (the first layer
   * of a model being trained): backward() then skips computing it and
   * returns zeros. Containers pass it to the layers that read their input.
   * Default true.
   */
  inputGrad?: boolean;
  /**
   * Set by a container (Sequential, Graph) for a layer whose output only a
   * ReLU reads (a Conv2d, a batch norm, an Add): the layer applies max(0, .)
   * itself (and its gradient), and the ReLU is skipped.
   */
  fuseRelu?: boolean;
  /**
   * Set by a container for a Conv2d whose output only a BatchNorm2d reads, in
   * inference (noGrad, not training): the convolution multiplies output
   * channel k by scale[k] and adds shift[k] (the batch norm with its running
   * statistics), and the batch norm is skipped. See models/fusion.ts.
   */
  foldAffine?: { scale: Float32Array; shift: Float32Array };
  /**
   * Set by a Graph for a Conv2d with a folded batch norm whose output only an
   * Add reads, in inference: the Add's other input, which the convolution adds
   * in its epilogue (before a fused ReLU); the Add is skipped. See
   * models/fusion.ts.
   */
  residual?: Tensor;
}

/** Options of the shape computations (outputShape, shapeInfo, summary). */
export interface ShapeOptions {
  /** Refuse inexact fits of a sliding window instead of flooring. */
  strict?: boolean;
}

/** What a layer says about itself for a given input: its output and how it got there. */
export interface ShapeInfo {
  shape: number[];
  /** Notes for the summary, e.g. an inexact fit and its formula. */
  notes: string[];
}

/**
 * A parameter holding value's numbers, with a zero gradient; both ordinary
 * arrays. The gradient is made when first read, so that a model only run
 * for inference holds its weights once. An optimiser may later move both
 * into the backend's own memory (layers/param-memory.ts), replacing each
 * tensor's array: read the numbers through `param.value.data` when you need
 * them, do not keep the array.
 */
export function makeParam(name: string, value: Tensor): Param {
  let grad: Tensor | null = null;
  return {
    name,
    value,
    get grad(): Tensor {
      // Never from a step arena, should the first read be inside a pass: a gradient outlives the step.
      // A parameter with a shape but no values (meta: true) gets such a gradient.
      grad ??= withScopedAllocator(null, () => withMeta(value.isMeta, () => Tensor.zeros(value.shape)));
      return grad;
    },
    set grad(t: Tensor) {
      grad = t;
    },
    trainable: true,
    version: ++lastVersion,
  };
}

/**
 * The zeros backward() returns for an input whose gradient nobody asked for
 * (ForwardContext.inputGrad false): an ordinary array, not step memory, so
 * that the container need not zero it and then copy it out.
 */
export function unrequestedGradient(shape: number[]): Tensor {
  return withScopedAllocator(null, () => new Tensor(shape));
}

/** The part every layer shares, single- or multi-input. */
export abstract class Module {
  /** The class name, used in summaries and saved topologies. */
  abstract readonly type: string;
  /** The layer's name: given in the options, or set by the container ("conv1", "pool2", …). */
  name: string;
  /** Whether the name was given by the user (containers leave such names alone). */
  readonly named: boolean;

  constructor(name: string | undefined, defaultName: string) {
    this.name = name ?? defaultName;
    this.named = name !== undefined;
  }

  /** Prefix for automatic names in containers: conv1, pool1, fc1, relu1, … */
  get namePrefix(): string {
    return this.type.toLowerCase();
  }

  /** The layer's trained tensors (for containers, every nested layer's), in model order. */
  params(): Param[] {
    return [];
  }

  /**
   * Says that parameter values were written by hand (into `param.value.data`),
   * so that inference does not reuse weights the backend packed before.
   * Optimisers, loadWeights and loadModel say it themselves.
   */
  weightsChanged(): void {
    for (const p of this.params()) touchParam(p);
  }

  /** State that is saved but not trained, e.g. batch-norm running statistics. */
  buffers(): Buffer[] {
    return [];
  }

  /** Nested layers, for containers. */
  children(): Module[] {
    return [];
  }

  /** The options that rebuild this layer (saved in the topology JSON). */
  abstract config(): Record<string, unknown>;

  /**
   * Drops whatever was kept for the backward pass (containers call it between
   * passes; the layer stays usable). To give back a model's memory for good,
   * use dispose().
   */
  release(): void {}

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.wasDisposed;
  }
  private wasDisposed = false;

  /**
   * Gives back now, without waiting for a garbage collection, the memory the
   * backend holds for this model or layer: the parameters an optimiser moved
   * into wasm memory and, for a Sequential or Graph, the step arena it last
   * ran in (which other models then reuse). A model that is only loaded and
   * run holds no such memory and needs no dispose(); a trained one frees it
   * when collected, which may be late. Afterwards every use of the model and
   * of its layers (wherever else they are used) throws a StrideError; load or
   * build it again. Calling it twice does nothing more.
   */
  dispose(): void {
    if (this.wasDisposed) return;
    this.wasDisposed = true;
    this.release();
    const buffers: Buffer[] = [];
    const collect = (m: Module): void => {
      buffers.push(...m.buffers());
      for (const c of m.children()) collect(c);
    };
    collect(this);
    disposeTensors(this.params(), buffers, `${this.type} "${this.name}"`);
  }

  /** Throws the StrideError of a disposed model. */
  protected checkNotDisposed(): void {
    if (this.wasDisposed) {
      throw new StrideError(`${this.type} "${this.name}" was disposed (dispose() gave its memory back); load or build the model again to use it`);
    }
  }

  protected error(message: string, inputShape?: readonly number[]): ShapeError {
    return new ShapeError(this.name, message, inputShape);
  }

  /** Throws unless a backward pass has what it needs. */
  protected requireCache<T>(value: T | null | undefined): T {
    if (value === null || value === undefined) {
      throw new Error(
        `${this.name}: backward() was called without a forward pass to go back through; ` +
          `call forward() first (without noGrad: true)`,
      );
    }
    return value;
  }
}

/**
 * A single-input layer. Writing one: inside a Sequential or Graph, the
 * tensors a layer creates in forward() and backward() belong to that step
 * (models/step-memory.ts: they live in the backend's step arena and are
 * reused by the next step). State that must outlive a step, such as running
 * statistics, is created in the constructor, or copied (`data.slice()`).
 */
export abstract class Layer extends Module {
  /** The output for a batch x (inference mode unless ctx.training); keeps what backward needs unless ctx.noGrad. */
  abstract forward(x: Tensor, ctx?: ForwardContext): Tensor;
  /** The gradient w.r.t. the input of the last forward; adds parameter gradients into each Param.grad. */
  abstract backward(dy: Tensor): Tensor;

  /** The output shape for an input shape, computed without any data. Throws ShapeError. */
  outputShape(inputShape: number[], opts?: ShapeOptions): number[] {
    return this.shapeInfo(inputShape, opts).shape;
  }

  /** The output shape and the summary's notes for an input shape, without any data. Throws ShapeError. */
  abstract shapeInfo(inputShape: number[], opts?: ShapeOptions): ShapeInfo;

  /** Multiply-accumulates of one forward pass over the whole given input shape. */
  macs(_inputShape: number[]): number {
    return 0;
  }

  protected checkGradShape(dy: Tensor, expected: readonly number[]): void {
    if (dy.shape.length !== expected.length || dy.shape.some((d, i) => d !== expected[i])) {
      throw this.error(
        `backward() got a gradient of shape ${formatShape(dy.shape)} but the last forward produced ${formatShape(expected)}; ` +
          `pass the gradient of the loss w.r.t. this layer's output`,
      );
    }
  }
}

/** Layers with several inputs (Concat, Add). */
export abstract class MergeLayer extends Module {
  /** The output for the batches of each input, in the order the graph node lists them. */
  abstract forward(xs: Tensor[], ctx?: ForwardContext): Tensor;
  /** The gradient w.r.t. each input of the last forward. */
  abstract backward(dy: Tensor): Tensor[];
  /** The output shape for the inputs' shapes, computed without any data. Throws ShapeError. */
  outputShape(inputShapes: number[][], opts?: ShapeOptions): number[] {
    return this.shapeInfo(inputShapes, opts).shape;
  }
  /** The output shape and the summary's notes for the inputs' shapes. Throws ShapeError. */
  abstract shapeInfo(inputShapes: number[][], opts?: ShapeOptions): ShapeInfo;
  /** Multiply-accumulates of one forward pass (0 unless the merge computes, as Add does). */
  macs(_inputShapes: number[][]): number {
    return 0;
  }
}

/** Checks a tensor against the shape a layer expects; the message names the layer. */
export function expectRank(layer: Module, shape: readonly number[], ranks: number[], what: string): void {
  if (!Array.isArray(shape)) {
    throw new ShapeError(layer.name, `expects ${what} but got ${describeValue(shape)}; pass a Tensor (or its shape)`);
  }
  if (!ranks.includes(shape.length)) {
    throw new ShapeError(
      layer.name,
      `expects ${what} but got an input of shape ${formatShape(shape)} (rank ${shape.length})`,
      shape,
    );
  }
}

/** Throws unless x is a Tensor: the first thing a container checks, so a wrong argument fails here and not deep inside. */
export function expectTensor(layer: Module, x: unknown): asserts x is Tensor {
  if (!(x instanceof Tensor)) {
    throw new ShapeError(layer.name, `forward() expects a Tensor but got ${describeValue(x)}; wrap the data: new Tensor(shape, data)`);
  }
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return "no value";
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return typeof v === "object" ? `a ${v.constructor?.name ?? "object"}` : `the ${typeof v} ${JSON.stringify(v)}`;
}
