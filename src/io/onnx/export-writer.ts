/**
 * The graph an ONNX export builds: nodes, initializers (float and int64, as
 * little-endian raw data) and unique names. Emitters (export-ops.ts) add nodes
 * through it; export.ts encodes the result.
 */
/** A value in the graph being built: its name and its shape with the export's concrete batch. */
export interface Val {
  name: string;
  shape: number[];
}

/** An AttributeProto without its name (set from the key it is given under). */
export type Attr =
  | { type: 1; f: number }
  | { type: 2; i: number }
  | { type: 3; s: Uint8Array }
  | { type: 6; floats: number[] }
  | { type: 7; ints: number[] };

export const attr = {
  int: (i: number): Attr => ({ type: 2, i }),
  float: (f: number): Attr => ({ type: 1, f }),
  ints: (ints: number[]): Attr => ({ type: 7, ints }),
  floats: (floats: number[]): Attr => ({ type: 6, floats }),
  str: (s: string): Attr => ({ type: 3, s: new TextEncoder().encode(s) }),
};

export const FLOAT = 1;
const INT64 = 7;

interface NodeProto {
  name: string;
  opType: string;
  input: string[];
  output: string[];
  attribute: ({ name: string } & Attr)[];
}

interface TensorProto {
  name: string;
  dims: number[];
  dataType: number;
  rawData: Uint8Array;
}

/**
 * Builds the graph: nodes, initializers and unique names. Emitters add nodes
 * through it and get back the values their nodes produce.
 */
export class OnnxWriter {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly used = new Set<string>();

  constructor(readonly opset: number, readonly dynamicBatch: boolean) {}

  /** `base`, or base_2, base_3, … if taken. */
  unique(base: string): string {
    let name = base;
    for (let k = 2; this.used.has(name); k++) name = `${base}_${k}`;
    this.used.add(name);
    return name;
  }

  /**
   * One node named `name` (made unique); its output value is named like the
   * node and has shape `outShape`.
   */
  node(opType: string, inputs: string[], name: string, outShape: number[], attrs: Record<string, Attr> = {}): Val {
    const nodeName = this.unique(name);
    const output = nodeName;
    this.nodes.push({
      name: nodeName,
      opType,
      input: inputs,
      output: [output],
      attribute: Object.entries(attrs).map(([key, a]) => ({ name: key, ...a })),
    });
    return { name: output, shape: outShape };
  }

  /** A float initializer (a parameter, buffer or fixed constant). */
  floats(name: string, dims: number[], data: ArrayLike<number>): string {
    const n = this.unique(name);
    const bytes = new Uint8Array(data.length * 4);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true); // ONNX raw data is little-endian
    this.initializers.push({ name: n, dims: dims.slice(), dataType: FLOAT, rawData: bytes });
    return n;
  }

  /** An int64 initializer (shapes, pads, indices). */
  int64s(name: string, dims: number[], data: (number | bigint)[]): string {
    const n = this.unique(name);
    const bytes = new Uint8Array(data.length * 8);
    const view = new DataView(bytes.buffer);
    data.forEach((v, i) => view.setBigInt64(i * 8, typeof v === "bigint" ? v : BigInt(v), true));
    this.initializers.push({ name: n, dims: dims.slice(), dataType: INT64, rawData: bytes });
    return n;
  }

  /** Renames a value everywhere it is produced or read. */
  rename(from: string, to: string): void {
    for (const nd of this.nodes) {
      nd.output = nd.output.map((o) => (o === from ? to : o));
      nd.input = nd.input.map((i) => (i === from ? to : i));
    }
  }
}

