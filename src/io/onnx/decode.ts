/**
 * ONNX's protobuf to plain objects. protobufjs (its light build, fed the JSON
 * descriptor generated from the official onnx.proto) does the wire format;
 * this file turns its messages into the few plain shapes the importer needs,
 * with 64-bit integers as numbers, and turns every decoding failure into a
 * ModelFileError naming the file. Browser-clean: no Node modules.
 */
import protobuf from "protobufjs/light.js";
import { ModelFileError } from "../safetensors.js";
import { quoteValue } from "../../stride-error.js";
import { onnxSchema } from "./schema.js";

/** A TensorProto as stored: the data is converted later (tensors.ts), once its shape has been checked. */
export interface OnnxTensorProto {
  name: string;
  dims: number[];
  dataType: number;
  rawData: Uint8Array | null;
  floatData: number[];
  doubleData: number[];
  int32Data: number[];
  int64Data: number[];
  uint64Data: number[];
  /** Set when data_location is EXTERNAL: where the bytes are, relative to the model's folder. */
  external: { location: string; offset: number; length: number | null } | null;
}

export interface OnnxAttribute {
  name: string;
  /** AttributeProto.AttributeType: 1 FLOAT, 2 INT, 3 STRING, 4 TENSOR, 5 GRAPH, 6 FLOATS, 7 INTS, 8 STRINGS. */
  type: number;
  f: number;
  i: number;
  s: string;
  t: OnnxTensorProto | null;
  floats: number[];
  ints: number[];
  strings: string[];
}

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Map<string, OnnxAttribute>;
}

export interface OnnxValueInfo {
  name: string;
  /** TensorProto.DataType of the element, 0 if not given. */
  elemType: number;
  /** Each dimension: a number, a symbolic name (the batch "N"), or null when unknown; null for the whole shape if not given. */
  shape: (number | string | null)[] | null;
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensorProto[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

export interface OnnxModel {
  irVersion: number;
  /** The version of the default ("" or "ai.onnx") operator set. */
  opset: number;
  graph: OnnxGraph;
}

let modelType: protobuf.Type | null = null;
let tensorType: protobuf.Type | null = null;

function types(): { model: protobuf.Type; tensor: protobuf.Type } {
  if (!modelType || !tensorType) {
    const root = protobuf.Root.fromJSON(onnxSchema as unknown as protobuf.INamespace);
    modelType = root.lookupType("onnx.ModelProto");
    tensorType = root.lookupType("onnx.TensorProto");
  }
  return { model: modelType, tensor: tensorType };
}

/** Decodes a ModelProto; `file` names the source in errors. */
export function decodeOnnxModel(bytes: Uint8Array, file: string): OnnxModel {
  const m = decodeMessage(types().model, bytes, file, "the model") as any;
  const r = new Reader(file);
  if (!m.graph) throw new ModelFileError(file, "the model has no graph (is this an ONNX model file? ModelProto.graph is missing)");
  let opset = 0;
  for (const o of m.opsetImport ?? []) {
    const domain = String(o.domain ?? "");
    if (domain === "" || domain === "ai.onnx") opset = Math.max(opset, r.int(o.version, "opset_import.version"));
  }
  if (opset === 0) opset = 1; // IR version 1 files had no opset_import: the first operator set
  return { irVersion: r.int(m.irVersion ?? 0, "ir_version"), opset, graph: r.graph(m.graph) };
}

/** Decodes a lone TensorProto (the test cases' input_0.pb, output_0.pb). */
export function decodeOnnxTensor(bytes: Uint8Array, file: string): OnnxTensorProto {
  return new Reader(file).tensor(decodeMessage(types().tensor, bytes, file, "the tensor"));
}

function decodeMessage(type: protobuf.Type, bytes: Uint8Array, file: string, what: string): unknown {
  if (!(bytes instanceof Uint8Array)) throw new ModelFileError(file, `expected the file's bytes as a Uint8Array, got ${typeof bytes}`);
  if (bytes.length === 0) throw new ModelFileError(file, "the file is empty");
  try {
    return type.decode(bytes);
  } catch (e) {
    // protobufjs throws RangeError for lengths past the end, Error for bad wire types.
    const why = (e as Error).message ?? String(e);
    throw new ModelFileError(
      file,
      `cannot decode ${what} as ONNX protobuf (${why}); the file is truncated or damaged, or is not an ONNX file`,
    );
  }
}

/**
 * The longest name (of a node, value, tensor or attribute, an operator or a
 * domain) a file may hold. Exporters write names of tens of characters; the
 * importer quotes names in its errors, and a damaged or crafted file could
 * otherwise make one error a megabyte long.
 */
export const MAX_ONNX_NAME_CHARS = 4096;

/** Reads protobufjs messages into the plain shapes above, checking what the importer relies on. */
class Reader {
  constructor(private readonly file: string) {}

  fail(problem: string): never {
    throw new ModelFileError(this.file, problem);
  }

  /** A name from the file, refused past MAX_ONNX_NAME_CHARS (cutting it could make two names one). */
  name(v: unknown, what: string): string {
    const s = String(v ?? "");
    if (s.length > MAX_ONNX_NAME_CHARS) {
      this.fail(`${what} ${quoteValue(s)} is ${s.length} characters long, more than the ${MAX_ONNX_NAME_CHARS} an ONNX name may have here; the file is damaged or was not written by an exporter`);
    }
    return s;
  }

  /** A 64-bit protobuf integer (a number or a Long) as a number; refuses values past 2^53. */
  int(v: unknown, what: string): number {
    if (typeof v === "number") return v;
    if (v && typeof v === "object" && "low" in v && "high" in v) {
      const { low, high, unsigned } = v as { low: number; high: number; unsigned?: boolean };
      const hi = unsigned ? high >>> 0 : high | 0;
      const n = hi * 4294967296 + (low >>> 0);
      if (!Number.isSafeInteger(n)) this.fail(`${what} = ${n} is too large (beyond 2^53)`);
      return n;
    }
    if (typeof v === "bigint") return this.int(Number(v), what);
    return this.fail(`${what} is not an integer (got ${typeof v})`);
  }

  /** A tensor's 64-bit value: as int(), but values past 2^53 (Slice's "to the end" sentinels) become infinities. */
  sentinel(v: unknown, what: string): number {
    if (v && typeof v === "object" && "high" in v) {
      const { high, unsigned } = v as { high: number; unsigned?: boolean };
      const hi = unsigned ? high >>> 0 : high | 0;
      if (hi >= 0x200000) return Infinity;
      if (hi < -0x200000) return -Infinity;
    }
    return this.int(v, what);
  }

  ints(vs: unknown[] | undefined, what: string): number[] {
    return (vs ?? []).map((v) => this.int(v, what));
  }

  text(b: unknown): string {
    if (typeof b === "string") return b;
    if (b instanceof Uint8Array) return new TextDecoder().decode(b);
    return "";
  }

  graph(g: any): OnnxGraph {
    return {
      name: String(g.name ?? ""),
      nodes: (g.node ?? []).map((n: any) => this.node(n)),
      initializers: (g.initializer ?? []).map((t: any) => this.tensor(t)),
      inputs: (g.input ?? []).map((v: any) => this.valueInfo(v)),
      outputs: (g.output ?? []).map((v: any) => this.valueInfo(v)),
    };
  }

  node(n: any): OnnxNode {
    const attributes = new Map<string, OnnxAttribute>();
    for (const a of n.attribute ?? []) {
      const attr = this.attribute(a);
      attributes.set(attr.name, attr);
    }
    const name = this.name(n.name, "a node's name");
    const where = `node "${name}"`;
    return {
      name,
      opType: this.name(n.opType, `${where}: its operator`),
      domain: this.name(n.domain, `${where}: its domain`),
      inputs: (n.input ?? []).map((v: unknown) => this.name(v, `${where}: an input`)),
      outputs: (n.output ?? []).map((v: unknown) => this.name(v, `${where}: an output`)),
      attributes,
    };
  }

  attribute(a: any): OnnxAttribute {
    const attr: OnnxAttribute = {
      name: this.name(a.name, "an attribute's name"),
      type: Number(a.type ?? 0),
      f: Number(a.f ?? 0),
      i: this.int(a.i ?? 0, `attribute ${a.name}`),
      s: this.text(a.s),
      t: a.t ? this.tensor(a.t) : null,
      floats: (a.floats ?? []).map(Number),
      ints: this.ints(a.ints, `attribute ${a.name}`),
      strings: (a.strings ?? []).map((s: unknown) => this.text(s)),
    };
    if (attr.type === 0) {
      // Files from before IR version 2 leave the type out: infer it from the field that is set.
      if (attr.ints.length) attr.type = 7;
      else if (attr.floats.length) attr.type = 6;
      else if (attr.strings.length) attr.type = 8;
      else if (attr.t) attr.type = 4;
      else if (a.s !== undefined && a.s !== null && (a.s as Uint8Array).length) attr.type = 3;
      else if (a.f !== undefined && a.f !== 0) attr.type = 1;
      else attr.type = 2;
    }
    return attr;
  }

  valueInfo(v: any): OnnxValueInfo {
    const tt = v.type?.tensorType;
    const dims = tt?.shape?.dim;
    return {
      name: this.name(v.name, "a graph input's or output's name"),
      elemType: Number(tt?.elemType ?? 0),
      shape: tt?.shape
        ? (dims ?? []).map((d: any) => {
            // A oneof: only the field actually present counts (protobufjs shows defaults for the other).
            if (Object.prototype.hasOwnProperty.call(d, "dimValue")) return this.int(d.dimValue, `dimension of ${v.name}`);
            return Object.prototype.hasOwnProperty.call(d, "dimParam") ? String(d.dimParam) : null;
          })
        : null,
    };
  }

  tensor(t: any): OnnxTensorProto {
    const name = this.name(t.name, "a tensor's name");
    const label = `tensor "${name}"`;
    const dims = this.ints(t.dims, `${label} dims`);
    for (const d of dims) if (d < 0) this.fail(`${label} has a negative dimension in dims [${dims.join(", ")}]`);
    let external: OnnxTensorProto["external"] = null;
    if (Number(t.dataLocation ?? 0) === 1) {
      const kv = new Map<string, string>();
      for (const e of t.externalData ?? []) kv.set(String(e.key), String(e.value));
      const location = kv.get("location");
      if (!location) this.fail(`${label} keeps its data outside the model (data_location EXTERNAL) but names no location`);
      const num = (key: string): number | null => {
        const s = kv.get(key);
        if (s === undefined) return null;
        const n = Number(s);
        if (!Number.isSafeInteger(n) || n < 0) this.fail(`${label}: external data ${key} = "${s}" is not a whole number >= 0`);
        return n;
      };
      external = { location, offset: num("offset") ?? 0, length: num("length") };
    }
    return {
      name,
      dims,
      dataType: Number(t.dataType ?? 0),
      rawData: t.rawData && t.rawData.length > 0 ? (t.rawData as Uint8Array) : null,
      floatData: t.floatData ?? [],
      doubleData: t.doubleData ?? [],
      int32Data: t.int32Data ?? [],
      int64Data: (t.int64Data ?? []).map((v: unknown) => this.sentinel(v, `${label} int64_data`)),
      uint64Data: (t.uint64Data ?? []).map((v: unknown) => this.sentinel(v, `${label} uint64_data`)),
      external,
    };
  }
}
