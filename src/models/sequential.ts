/**
 * A stack of layers, each feeding the next: INPUT -> [CONV -> RELU -> POOL]*N -> FC.
 * Layers without a name get one from their kind and position among their
 * kind (conv1, conv2, pool1, fc1, …), the way the notes label them.
 */
import { Tensor } from "../tensor.js";
import { ShapeError } from "../shape.js";
import { Layer, Module, expectTensor, type ForwardContext, type Param, type ShapeInfo, type ShapeOptions } from "../layers/layer.js";
import { Conv2d } from "../layers/conv.js";
import { ReLU } from "../layers/activation.js";
import { inStepScope } from "./step-memory.js";

export class Sequential extends Layer {
  readonly type: string = "Sequential";
  readonly layers: Layer[];

  constructor(layers: Layer[], opts: { name?: string } = {}) {
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
   * Whether a Conv2d directly followed by a ReLU runs as one kernel (bias and
   * max(0, .) applied while the output is still in cache, and one copy less
   * on the wasm backend: about 10% of a LeNet or CIFAR-net training step).
   * The numbers are the same either way; the ReLU layer is then skipped.
   */
  fuseConvRelu = true;
  /** Indices of the ReLU layers the last forward pass fused into the convolution before them. */
  private fused = new Set<number>();

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    return inStepScope(this, true, () => this.forwardLayers(x, ctx), ctx?.noGrad === true);
  }

  backward(dy: Tensor): Tensor {
    return inStepScope(this, false, () => this.backwardLayers(dy));
  }

  private forwardLayers(x: Tensor, ctx?: ForwardContext): Tensor {
    // Under noGrad no layer keeps anything, so each activation is garbage as
    // soon as the next layer has returned: peak memory is two adjacent volumes.
    expectTensor(this, x);
    // Only the first layer reads the container's input; every later input needs its gradient.
    const inner = ctx && ctx.inputGrad === false ? { ...ctx, inputGrad: true } : ctx;
    this.fused.clear();
    for (let i = 0; i < this.layers.length; i++) {
      if (this.fused.has(i)) continue;
      const l = this.layers[i];
      let c = i === 0 ? ctx : inner;
      if (this.fuseConvRelu && l instanceof Conv2d && this.layers[i + 1] instanceof ReLU) {
        this.fused.add(i + 1);
        c = { ...c, fuseRelu: true };
      }
      x = l.forward(x, c);
    }
    return x;
  }

  private backwardLayers(dy: Tensor): Tensor {
    // A fused ReLU's gradient is applied by the convolution's backward pass.
    for (let i = this.layers.length - 1; i >= 0; i--) if (!this.fused.has(i)) dy = this.layers[i].backward(dy);
    return dy;
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
