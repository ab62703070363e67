/**
 * The constant arithmetic of an ONNX graph, evaluated once at import: what
 * torch.onnx emits to compute a Reshape's target (Shape -> Gather ->
 * Unsqueeze -> Concat), constant folding of Add, Reshape, Flatten and
 * friends when every input is known. Integers produced by Shape remember
 * which dimension they came from, so that a target built from the batch
 * size becomes Reshape's "copy this dimension" (0) and the imported model
 * accepts any batch.
 */
import { shapeSize } from "../../tensor.js";
import type { ConstTensor } from "./tensors.js";

/** Where a Shape-derived integer came from: dimension `axis` of the activation `value`. */
export interface DimSource {
  value: string;
  axis: number;
}

/** A constant, with per-element provenance for integers that came from Shape. */
export interface Const {
  t: ConstTensor;
  dimOf: (DimSource | null)[] | null;
}

export function constOf(dims: number[], values: ArrayLike<number>, integer: boolean, dimOf: (DimSource | null)[] | null = null): Const {
  const data = integer ? Float64Array.from(values) : Float32Array.from(values);
  return { t: { dims: dims.slice(), data, integer }, dimOf };
}

/** Shape of an activation, optionally sliced [start, end) as opset 15's Shape allows. */
export function shapeConst(value: string, shape: number[], start = 0, end?: number): Const {
  const r = shape.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const s = clamp(start), e = clamp(end ?? r);
  const axes: number[] = [];
  for (let a = s; a < e; a++) axes.push(a);
  return constOf([axes.length], axes.map((a) => shape[a]), true, axes.map((axis) => ({ value, axis })));
}

/** Resolves a possibly negative axis; null when out of range. */
export function normAxis(axis: number, rank: number): number | null {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : null;
}

/** numpy's Take along one axis (ONNX Gather) with constant data and indices. */
export function gatherConst(data: Const, indices: Const, axisIn: number): Const | string {
  const dims = data.t.dims;
  const axis = normAxis(axisIn, dims.length);
  if (axis === null) return `axis ${axisIn} is out of range for data of rank ${dims.length}`;
  const outer = shapeSize(dims.slice(0, axis)), n = dims[axis], inner = shapeSize(dims.slice(axis + 1));
  const idx = Array.from(indices.t.data, (i) => (i < 0 ? i + n : i));
  if (idx.some((i) => !Number.isInteger(i) || i < 0 || i >= n)) return `indices [${Array.from(indices.t.data).join(", ")}] are out of range for an axis of size ${n}`;
  const out: number[] = [];
  const from: (DimSource | null)[] = [];
  for (let o = 0; o < outer; o++) {
    for (const i of idx) {
      for (let k = 0; k < inner; k++) {
        const src = (o * n + i) * inner + k;
        out.push(data.t.data[src]);
        from.push(data.dimOf ? data.dimOf[src] : null);
      }
    }
  }
  const outDims = [...dims.slice(0, axis), ...indices.t.dims, ...dims.slice(axis + 1)];
  return constOf(outDims, out, data.t.integer, data.dimOf ? from : null);
}

/** Inserts axes of size 1 (ONNX Unsqueeze); axes refer to the output's rank. */
export function unsqueezeConst(c: Const, axes: number[]): Const | string {
  const rank = c.t.dims.length + axes.length;
  const norm = axes.map((a) => normAxis(a, rank));
  if (norm.some((a) => a === null) || new Set(norm).size !== norm.length) return `axes [${axes.join(", ")}] are not distinct axes of the rank-${rank} output`;
  const dims: number[] = [];
  let k = 0;
  for (let a = 0; a < rank; a++) dims.push(norm.includes(a) ? 1 : c.t.dims[k++]);
  return { t: { ...c.t, dims }, dimOf: c.dimOf };
}

/** Removes axes of size 1 (ONNX Squeeze); all of them when axes is empty. */
export function squeezeConst(c: Const, axes: number[]): Const | string {
  const r = c.t.dims.length;
  const norm = axes.map((a) => normAxis(a, r));
  if (norm.some((a) => a === null || c.t.dims[a] !== 1)) return `axes [${axes.join(", ")}] are not axes of size 1 of [${c.t.dims.join(", ")}]`;
  const dims = c.t.dims.filter((d, a) => (axes.length ? !norm.includes(a) : d !== 1));
  return { t: { ...c.t, dims }, dimOf: c.dimOf };
}

/** Joins constants along an axis (ONNX Concat). */
export function concatConst(parts: Const[], axisIn: number): Const | string {
  const first = parts[0].t.dims;
  const axis = normAxis(axisIn, first.length);
  if (axis === null) return `axis ${axisIn} is out of range for rank ${first.length}`;
  for (const p of parts) {
    if (p.t.dims.length !== first.length || p.t.dims.some((d, a) => a !== axis && d !== first[a])) {
      return `shapes [${first.join(", ")}] and [${p.t.dims.join(", ")}] differ off axis ${axis}`;
    }
  }
  const outer = shapeSize(first.slice(0, axis)), inner = shapeSize(first.slice(axis + 1));
  const out: number[] = [];
  const from: (DimSource | null)[] = [];
  for (let o = 0; o < outer; o++) {
    for (const p of parts) {
      const row = p.t.dims[axis] * inner;
      for (let k = 0; k < row; k++) {
        out.push(p.t.data[o * row + k]);
        from.push(p.dimOf ? p.dimOf[o * row + k] : null);
      }
    }
  }
  const dims = first.slice();
  dims[axis] = parts.reduce((s, p) => s + p.t.dims[axis], 0);
  const anyFrom = parts.some((p) => p.dimOf);
  return constOf(dims, out, parts.every((p) => p.t.integer), anyFrom ? from : null);
}

/** numpy broadcasting of two shapes; null when they do not broadcast. */
export function broadcastShapes(a: number[], b: number[]): number[] | null {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1, y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Element-wise binary operation of two constants with broadcasting. */
export function binaryConst(a: Const, b: Const, op: (x: number, y: number) => number): Const | string {
  const dims = broadcastShapes(a.t.dims, b.t.dims);
  if (!dims) return `shapes [${a.t.dims.join(", ")}] and [${b.t.dims.join(", ")}] do not broadcast`;
  const size = shapeSize(dims);
  const at = (c: Const, flat: number): number => {
    // The element of c that broadcasts to output position `flat`.
    const cd = c.t.dims, off = dims.length - cd.length;
    let idx = 0, rest = flat;
    const pos = new Array<number>(dims.length);
    for (let k = dims.length - 1; k >= 0; k--) {
      pos[k] = rest % dims[k];
      rest = Math.floor(rest / dims[k]);
    }
    for (let k = 0; k < cd.length; k++) idx = idx * cd[k] + (cd[k] === 1 ? 0 : pos[off + k]);
    return c.t.data[idx];
  };
  const out = new Array<number>(size);
  for (let i = 0; i < size; i++) out[i] = op(at(a, i), at(b, i));
  return constOf(dims, out, a.t.integer && b.t.integer);
}

/** ONNX Reshape's target resolved against a known shape (0 copies, -1 infers); a string when impossible. */
export function resolveReshape(input: number[], target: number[], allowZero: boolean): number[] | string {
  const out = target.map((d, i) => (d === 0 && !allowZero ? input[i] : d));
  if (out.some((d) => d === undefined || !Number.isInteger(d) || d < -1)) return `the target [${target.join(", ")}] is not valid for an input [${input.join(", ")}]`;
  const size = shapeSize(input);
  const known = shapeSize(out.filter((d) => d !== -1));
  const unknown = out.indexOf(-1);
  if (unknown >= 0) {
    if (out.lastIndexOf(-1) !== unknown) return `the target [${target.join(", ")}] has more than one -1`;
    if (known === 0 || size % known !== 0) return `cannot reshape [${input.join(", ")}] into [${target.join(", ")}]`;
    out[unknown] = size / known;
  } else if (known !== size) return `cannot reshape [${input.join(", ")}] (${size} values) into [${target.join(", ")}]`;
  return out;
}

/** ONNX Slice of a constant: per listed axis, start:end:step with numpy's clamping. */
export function sliceConst(c: Const, starts: number[], ends: number[], axes: number[], steps: number[]): Const | string {
  const dims = c.t.dims, r = dims.length;
  const ranges = dims.map((d) => ({ start: 0, step: 1, count: d }));
  for (let k = 0; k < starts.length; k++) {
    const a = normAxis(axes[k], r);
    if (a === null) return `axis ${axes[k]} is out of range for rank ${r}`;
    const d = dims[a], step = steps[k];
    if (!step) return "a step of 0";
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + d : v, lo), hi);
    const start = step > 0 ? clamp(starts[k], 0, d) : clamp(starts[k], -1, d - 1);
    const end = step > 0 ? clamp(ends[k], 0, d) : clamp(ends[k], -1, d - 1);
    const count = Math.max(0, Math.ceil((end - start) / step));
    ranges[a] = { start, step, count };
  }
  const outDims = ranges.map((g) => g.count);
  const strides = dims.map((_, a) => shapeSize(dims.slice(a + 1)));
  const out: number[] = [];
  const from: (DimSource | null)[] = [];
  const idx = new Array<number>(r).fill(0);
  for (let i = 0; i < shapeSize(outDims); i++) {
    let src = 0;
    for (let a = 0; a < r; a++) src += (ranges[a].start + idx[a] * ranges[a].step) * strides[a];
    out.push(c.t.data[src]);
    from.push(c.dimOf ? c.dimOf[src] : null);
    for (let a = r - 1; a >= 0; a--) {
      if (++idx[a] < outDims[a]) break;
      idx[a] = 0;
    }
  }
  return constOf(outDims, out, c.t.integer, c.dimOf ? from : null);
}

/** ONNX Transpose of a constant (perm defaults to reversing the axes). */
export function transposeConst(c: Const, perm: number[]): Const | string {
  const dims = c.t.dims, r = dims.length;
  const p = perm.length ? perm : dims.map((_, a) => r - 1 - a);
  if (p.length !== r || new Set(p).size !== r || p.some((a) => a < 0 || a >= r)) return `perm [${perm}] is not a permutation of ${r} axes`;
  const outDims = p.map((a) => dims[a]);
  const strides = dims.map((_, a) => shapeSize(dims.slice(a + 1)));
  const out: number[] = [];
  const idx = new Array<number>(r).fill(0);
  for (let i = 0; i < shapeSize(outDims); i++) {
    let src = 0;
    for (let k = 0; k < r; k++) src += idx[k] * strides[p[k]];
    out.push(c.t.data[src]);
    for (let k = r - 1; k >= 0; k--) {
      if (++idx[k] < outDims[k]) break;
      idx[k] = 0;
    }
  }
  return constOf(outDims, out, c.t.integer);
}
