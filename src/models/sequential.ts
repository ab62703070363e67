/**
 * A stack of layers, each feeding the next: INPUT -> [CONV -> RELU -> POOL]*N -> FC.
 * Layers without a name get one from their kind and position among their
 * kind (conv1, conv2, pool1, fc1, …), the way the notes label them.
 */
import { Tensor } from "../tensor.js";
import { ShapeError, checkOptions } from "../shape.js";
import { Layer, Module, expectTensor, unrequestedGradient, type ForwardContext, type Param, type ShapeInfo, type ShapeOptions } from "../layers/layer.js";
import { inStepScope, releaseStepArena } from "./step-memory.js";
import { planFusion } from "./fusion.js";

export class Sequential extends Layer {
  readonly type: string = "Sequential";
  readonly layers: Layer[];

  constructor(layers: Layer[], opts: { name?: string } = {}) {
    checkOptions("Sequential", opts, ["name"]);
    super(opts.name, "sequential");
    if (!Array.isArray(layers)) throw new ShapeError(this.name, "expects an array of layers");
    layers.forEach((l: unknown, i) => {
      if (!(l instanceof Layer)) {
        const what = l instanceof Module ? `a ${l.type}, which takes several inputs (use a Graph)` : String(l);
        throw new ShapeError(this.name, `item ${i} is not a single-input layer: got ${what}`);
      }
    });
    this.layers = layers.slice();
    assignNames(this.layers);
  }

  override get namePrefix(): string {
    return "block";
  }

  override children(): Layer[] {
    return this.layers;
  }

  override params(): Param[] {
    return this.layers.flatMap((l) => l.params());
  }

  config(): Record<string, unknown> {
    return {};
  }

  shapeInfo(inputShape: number[], opts?: ShapeOptions): ShapeInfo {
    let shape = inputShape;
    const notes: string[] = [];
    for (const l of this.layers) {
      const info = l.shapeInfo(shape, opts);
      notes.push(...info.notes.map((n) => `${l.name}: ${n}`));
      shape = info.shape;
    }
    return { shape, notes };
  }

  override macs(inputShape: number[]): number {
    let shape = inputShape;
    let total = 0;
    for (const l of this.layers) {
      total += l.macs(shape);
      shape = l.outputShape(shape);
    }
    return total;
  }

  /**
   * Whether chains of layers run as one kernel (models/fusion.ts): a Conv2d
   * and the ReLU after it (bias and max(0, .) applied while the output is
   * still in cache, and one copy less on the wasm backend: about 10% of a
   * LeNet or CIFAR-net training step); in inference, a Conv2d, its
   * BatchNorm2d and ReLU. The numbers are the same either way (up to float
   * rounding for a folded batch norm); the absorbed layers are skipped.
   */
  fuse = true;
  /** The older name of `fuse`. */
  get fuseConvRelu(): boolean {
    return this.fuse;
  }
  set fuseConvRelu(on: boolean) {
    this.fuse = on;
  }
  /** Indices of the layers the last forward pass ran inside the layer before them. */
  private fused = new Set<number>();
  /**
   * How many leading layers the last forward pass ran without keeping
   * anything for backward: layers with nothing to train (frozen, or without
   * parameters) in front of the first trainable one, when the caller wants
   * no gradient for the input. Backward stops there. Fine-tuning a frozen
   * ResNet-18 then goes back through the classifier only.
   */
  private frozenPrefix = 0;
  private inputShape: number[] | null = null;

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    this.checkNotDisposed();
    return inStepScope(this, true, () => this.forwardLayers(x, ctx), ctx?.noGrad === true);
  }

  backward(dy: Tensor): Tensor {
    this.checkNotDisposed();
    return inStepScope(this, false, () => this.backwardLayers(dy));
  }

  /** Also lets other models take the step arena this one last ran in. */
  override dispose(): void {
    releaseStepArena(this);
    super.dispose();
  }

  private forwardLayers(x: Tensor, ctx?: ForwardContext): Tensor {
    // Under noGrad no layer keeps anything, so each activation is garbage as
    // soon as the next layer has returned (in the step arena it stays until the
    // next pass, up to the arena's inference limit: models/step-memory.ts).
    expectTensor(this, x);
    // Only the first layer reads the container's input; every later input needs its gradient.
    const inner = ctx && ctx.inputGrad === false ? { ...ctx, inputGrad: true } : ctx;
    this.fused.clear();
    this.frozenPrefix = ctx?.inputGrad === false && !ctx.noGrad ? this.layersWithNothingToTrain() : 0;
    this.inputShape = x.shape;
    const prefixCtx = { ...ctx, noGrad: true };
    const afterPrefix = { ...ctx, inputGrad: false };
    for (let i = 0; i < this.layers.length; i++) {
      const l = this.layers[i];
      if (this.fused.has(i)) {
        l.release(); // nothing from an earlier pass may be mistaken for this one's
        continue;
      }
      let c = i < this.frozenPrefix ? prefixCtx : i > this.frozenPrefix ? inner : this.frozenPrefix > 0 ? afterPrefix : ctx;
      if (this.fuse) {
        // A chain never runs across the end of the frozen prefix: what comes after it keeps its own backward.
        const limit = i < this.frozenPrefix ? this.frozenPrefix : this.layers.length;
        const at = (k: number) => (k < limit ? this.layers[k] : undefined);
        const plan = planFusion(l, at(i + 1), at(i + 2), x, c);
        for (let k = 1; k <= plan.absorbed; k++) this.fused.add(i + k);
        c = plan.ctx;
      }
      x = l.forward(x, c);
    }
    return x;
  }

  private backwardLayers(dy: Tensor): Tensor {
    // An absorbed layer's gradient is applied by the backward pass of the layer it ran inside.
    for (let i = this.layers.length - 1; i >= this.frozenPrefix; i--) if (!this.fused.has(i)) dy = this.layers[i].backward(dy);
    // Nobody asked for the input's gradient, and nothing in front had a parameter to train.
    return this.frozenPrefix > 0 ? unrequestedGradient(this.requireCache(this.inputShape)) : dy;
  }

  /** The number of leading layers none of whose parameters trains. */
  private layersWithNothingToTrain(): number {
    let n = 0;
    while (n < this.layers.length - 1 && this.layers[n].params().every((p) => p.trainable === false)) n++;
    return n;
  }

  override release(): void {
    for (const l of this.layers) l.release();
  }
}

/** Names unnamed layers by kind and position: conv1, conv2, pool1, fc1, … (names given by the user are kept). */
export function assignNames(layers: Module[]): void {
  const counts = new Map<string, number>();
  const taken = new Set(layers.filter((l) => l.named).map((l) => l.name));
  for (const l of layers) {
    if (l.named) continue;
    let name: string;
    do {
      const k = (counts.get(l.namePrefix) ?? 0) + 1;
      counts.set(l.namePrefix, k);
      name = `${l.namePrefix}${k}`;
    } while (taken.has(name));
    l.name = name;
  }
}
