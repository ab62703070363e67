/**
 * A directed acyclic graph of named layers with one input and one output:
 * Inception's parallel branches joined by Concat, ResNet's shortcuts joined
 * by Add. Nodes are added in an order where every input already exists, so
 * that order is a topological one and forward/backward simply walk it.
 *
 *   const g = new Graph();                       // the input is called "input"
 *   g.add("conv1", new Conv2d({...}), "input")
 *    .add("relu1", new ReLU(), "conv1")
 *    .add("sum", new Add(), ["relu1", "input"]);  // the last node is the output
 *
 * In inference (noGrad) every activation is dropped as soon as its last
 * consumer has run (reference counting), so peak memory stays near the
 * widest cut of the graph rather than the sum of all volumes.
 */
import { Tensor, formatShape } from "../tensor.js";
import { ShapeError, checkOptions } from "../shape.js";
import { Layer, MergeLayer, Module, expectTensor, type ForwardContext, type Param, type ShapeInfo, type ShapeOptions } from "../layers/layer.js";
import { inStepScope, releaseStepArena } from "./step-memory.js";
import { planFusion, planResidual } from "./fusion.js";
import { getBackend } from "../kernels/index.js";

/** A node of a Graph: its layer and the names of the nodes (or the graph input) it reads. */
export interface GraphNode {
  name: string;
  layer: Layer | MergeLayer;
  inputs: string[];
}

/** Options of a Graph: its name, nodes and output. */
export interface GraphOptions {
  name?: string;
  /** The name of the graph's input (default "input"). */
  input?: string;
  nodes?: { name: string; layer: Layer | MergeLayer; inputs: string | string[] }[];
  /** The node whose value is the graph's output (default: the last one added). */
  output?: string;
}

export class Graph extends Layer {
  readonly type: string = "Graph";
  readonly inputName: string;
  readonly nodes: GraphNode[] = [];
  private outputName: string | null = null;
  private byName = new Map<string, GraphNode>();
  /**
   * Whether chains of nodes run as one kernel (models/fusion.ts), as in a
   * Sequential: each node of a chain must be the only reader of the one before.
   */
  fuse = true;
  /** Names of the nodes the last forward pass ran inside the node before them. */
  private absorbed = new Set<string>();

  constructor(opts: GraphOptions = {}) {
    checkOptions("Graph", opts, ["name", "input", "nodes", "output"]);
    super(opts.name, "graph");
    this.inputName = opts.input ?? "input";
    for (const n of opts.nodes ?? []) this.add(n.name, n.layer, n.inputs);
    if (opts.output !== undefined) this.setOutput(opts.output);
  }

  override get namePrefix(): string {
    return "block";
  }

  /** Adds a node fed by the named inputs (earlier nodes or the graph input); returns the graph for chaining. */
  add(name: string, layer: Layer | MergeLayer, inputs: string | string[]): this {
    const ins = typeof inputs === "string" ? [inputs] : inputs;
    if (typeof name !== "string" || name === "") throw new ShapeError(this.name, "every node needs a non-empty name");
    if (name === this.inputName || this.byName.has(name)) {
      throw new ShapeError(this.name, `a node named "${name}" already exists; node names must be unique (and differ from the input "${this.inputName}")`);
    }
    if (!(layer instanceof Module)) throw new ShapeError(this.name, `node "${name}": ${String(layer)} is not a layer`);
    if (!Array.isArray(ins) || ins.length === 0) throw new ShapeError(this.name, `node "${name}" needs at least one input`);
    for (const i of ins) {
      if (i !== this.inputName && !this.byName.has(i)) {
        throw new ShapeError(
          this.name,
          `node "${name}" reads "${i}", which is not the input "${this.inputName}" nor an earlier node; add nodes after the nodes they read`,
        );
      }
    }
    if (layer instanceof Layer && ins.length !== 1) {
      throw new ShapeError(this.name, `node "${name}" is a ${layer.type}, which takes one input, but was given ${ins.length}: ${ins.join(", ")}`);
    }
    layer.name = name;
    const node = { name, layer, inputs: ins.slice() };
    this.nodes.push(node);
    this.byName.set(name, node);
    return this;
  }

  /** Marks the node whose value the graph returns. */
  setOutput(name: string): this {
    if (!this.byName.has(name)) throw new ShapeError(this.name, `cannot output "${name}": there is no node of that name`);
    this.outputName = name;
    return this;
  }

  get output(): string {
    if (this.nodes.length === 0) throw new ShapeError(this.name, "the graph has no nodes");
    return this.outputName ?? this.nodes[this.nodes.length - 1].name;
  }

  /** The node of that name, if any. */
  node(name: string): GraphNode | undefined {
    return this.byName.get(name);
  }

  override children(): Module[] {
    return this.nodes.map((n) => n.layer);
  }

  override params(): Param[] {
    return this.nodes.flatMap((n) => n.layer.params());
  }

  config(): Record<string, unknown> {
    return { input: this.inputName, output: this.output };
  }

  /** The shape of every node's output for an input shape, in graph order. */
  shapes(inputShape: number[], opts?: ShapeOptions): Map<string, ShapeInfo> {
    const out = new Map<string, ShapeInfo>([[this.inputName, { shape: inputShape, notes: [] }]]);
    for (const n of this.nodes) {
      const ins = n.inputs.map((i) => out.get(i)!.shape);
      const info = n.layer instanceof MergeLayer ? n.layer.shapeInfo(ins, opts) : n.layer.shapeInfo(ins[0], opts);
      out.set(n.name, info);
    }
    return out;
  }

  shapeInfo(inputShape: number[], opts?: ShapeOptions): ShapeInfo {
    const shapes = this.shapes(inputShape, opts);
    const notes = this.nodes.flatMap((n) => shapes.get(n.name)!.notes.map((s) => `${n.name}: ${s}`));
    return { shape: shapes.get(this.output)!.shape, notes };
  }

  override macs(inputShape: number[]): number {
    const shapes = this.shapes(inputShape);
    let total = 0;
    for (const n of this.nodes) {
      const ins = n.inputs.map((i) => shapes.get(i)!.shape);
      total += n.layer instanceof MergeLayer ? n.layer.macs(ins) : n.layer.macs(ins[0]);
    }
    return total;
  }

  /** How many nodes read each value (the output counts as one more reader). */
  private consumers(): Map<string, number> {
    const c = new Map<string, number>();
    for (const n of this.nodes) for (const i of n.inputs) c.set(i, (c.get(i) ?? 0) + 1);
    c.set(this.output, (c.get(this.output) ?? 0) + 1);
    return c;
  }

  /**
   * For each value that exactly one node reads (and that is not the graph's
   * output), that node (`only`), and those of them with a single input
   * (`sole`): the chains a fusion may run as one kernel.
   */
  private soleReaders(): { sole: Map<string, GraphNode>; only: Map<string, GraphNode> } {
    const readers = new Map<string, GraphNode[]>();
    for (const n of this.nodes) {
      for (const i of n.inputs) {
        const list = readers.get(i);
        if (list) list.push(n);
        else readers.set(i, [n]);
      }
    }
    const sole = new Map<string, GraphNode>(), only = new Map<string, GraphNode>();
    for (const [name, list] of readers) {
      if (list.length !== 1 || name === this.output) continue;
      only.set(name, list[0]);
      if (list[0].inputs.length === 1) sole.set(name, list[0]);
    }
    return { sole, only };
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    this.checkNotDisposed();
    return inStepScope(this, true, () => this.forwardNodes(x, ctx), ctx?.noGrad === true);
  }

  backward(dy: Tensor): Tensor {
    this.checkNotDisposed();
    return inStepScope(this, false, () => this.backwardNodes(dy));
  }

  /** Also lets other models take the step arena this one last ran in. */
  override dispose(): void {
    releaseStepArena(this);
    super.dispose();
  }

  private forwardNodes(x: Tensor, ctx?: ForwardContext): Tensor {
    expectTensor(this, x);
    const output = this.output;
    const values = new Map<string, Tensor>([[this.inputName, x]]);
    const remaining = ctx?.noGrad ? this.consumers() : null;
    const inner = ctx && ctx.inputGrad === false ? { ...ctx, inputGrad: true } : ctx;
    const readers = this.fuse ? this.soleReaders() : null;
    this.absorbed.clear();
    const consumed = (n: GraphNode) => {
      if (!remaining) return;
      for (const i of n.inputs) {
        const left = remaining.get(i)! - 1;
        remaining.set(i, left);
        if (left === 0) values.delete(i);
      }
    };
    for (const n of this.nodes) {
      if (this.absorbed.has(n.name)) {
        n.layer.release(); // nothing from an earlier pass may be mistaken for this one's
        consumed(n);
        continue;
      }
      const xs = n.inputs.map((i) => values.get(i)!);
      // A node that reads only the graph's input needs its input gradient only if the graph's caller does.
      let c = n.inputs.every((i) => i === this.inputName) ? ctx : inner;
      // The value this node's call produces: its own, or that of the last node it absorbs.
      let produces = n.name;
      if (readers) {
        const { sole, only } = readers;
        const input = n.layer instanceof MergeLayer ? xs : xs[0];
        const next = sole.get(n.name);
        const after = next ? sole.get(next.name) : undefined;
        let plan = planFusion(n.layer, next?.layer, after?.layer, input, c);
        let chain = [next, after].slice(0, plan.absorbed) as GraphNode[];
        // A residual sum the head may take too: the Add alone reads what `next` produces.
        const add = next && plan.absorbed === 1 ? only.get(next.name) : undefined;
        if (add && add.inputs.length === 2) {
          const other = add.inputs[0] === next!.name ? add.inputs[1] : add.inputs[0];
          const relu = sole.get(add.name);
          plan = planResidual(n.layer, plan, add.layer, values.get(other), relu?.layer, input);
          chain = [next, add, relu].slice(0, plan.absorbed) as GraphNode[];
        }
        for (const m of chain) this.absorbed.add(m.name);
        if (chain.length > 0) produces = chain[chain.length - 1].name;
        c = plan.ctx;
      }
      const y = n.layer instanceof MergeLayer ? n.layer.forward(xs, c) : n.layer.forward(xs[0], c);
      values.set(produces, y);
      consumed(n);
    }
    return values.get(output)!;
  }

  private backwardNodes(dy: Tensor): Tensor {
    const grads = new Map<string, Tensor>([[this.output, dy]]);
    for (let k = this.nodes.length - 1; k >= 0; k--) {
      const n = this.nodes[k];
      const g = grads.get(n.name);
      if (!g) continue; // this node does not reach the output
      grads.delete(n.name);
      if (this.absorbed.has(n.name)) {
        // It ran inside the node it reads (that node's only reader): that node's backward applies it.
        grads.set(n.inputs[0], g);
        continue;
      }
      const dxs = n.layer instanceof MergeLayer ? n.layer.backward(g) : [n.layer.backward(g)];
      n.inputs.forEach((i, j) => {
        const prev = grads.get(i);
        grads.set(i, prev ? sum(prev, dxs[j]) : dxs[j]);
      });
    }
    const dx = grads.get(this.inputName);
    if (!dx) throw new ShapeError(this.name, `the output "${this.output}" does not depend on the input "${this.inputName}"`);
    return dx;
  }

  override release(): void {
    for (const n of this.nodes) n.layer.release();
  }
}

/** A new tensor a + b (gradients are shared between branches, so never added in place). */
function sum(a: Tensor, b: Tensor): Tensor {
  if (a.size !== b.size) throw new Error(`internal: gradient shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} differ`);
  const out = Tensor.empty(a.shape); // from the step arena when there is one; add writes all of it
  getBackend().add(a.data, b.data, out.data);
  return out;
}
