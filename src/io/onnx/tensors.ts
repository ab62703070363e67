/**
 * TensorProto to numbers. Floating-point tensors (float, double, float16,
 * bfloat16) become Float32Arrays for weights and activations; integer and
 * boolean tensors (shapes, pads, axes) become Float64Arrays of whole
 * numbers. Every size is checked against the bytes actually present before
 * anything is allocated, so a tensor that claims 2^40 elements fails at once.
 */
import { ModelFileError, halfToFloat } from "../safetensors.js";
import type { OnnxTensorProto } from "./decode.js";

/** A constant tensor of the model: weights, or integers such as a Reshape's shape. */
export interface ConstTensor {
  dims: number[];
  data: Float32Array | Float64Array;
  /** True for integer and boolean element types. */
  integer: boolean;
}

/** Reads external tensor data; given by the Node-only file loader (node-file.ts), absent when decoding bytes. */
export type ExternalReader = (location: string, offset: number, length: number | null, tensor: string) => Uint8Array;

export const DATA_TYPES: Record<number, { name: string; bytes: number; kind: "float" | "int" }> = {
  1: { name: "float", bytes: 4, kind: "float" },
  2: { name: "uint8", bytes: 1, kind: "int" },
  3: { name: "int8", bytes: 1, kind: "int" },
  4: { name: "uint16", bytes: 2, kind: "int" },
  5: { name: "int16", bytes: 2, kind: "int" },
  6: { name: "int32", bytes: 4, kind: "int" },
  7: { name: "int64", bytes: 8, kind: "int" },
  9: { name: "bool", bytes: 1, kind: "int" },
  10: { name: "float16", bytes: 2, kind: "float" },
  11: { name: "double", bytes: 8, kind: "float" },
  12: { name: "uint32", bytes: 4, kind: "int" },
  13: { name: "uint64", bytes: 8, kind: "int" },
  16: { name: "bfloat16", bytes: 2, kind: "float" },
};

const UNSUPPORTED_TYPES: Record<number, string> = { 0: "undefined", 8: "string", 14: "complex64", 15: "complex128" };

export function dataTypeName(t: number): string {
  return DATA_TYPES[t]?.name ?? UNSUPPORTED_TYPES[t] ?? `unknown (${t})`;
}

/** The tensor's values; `file` names the source in errors. */
export function tensorValues(t: OnnxTensorProto, file: string, readExternal?: ExternalReader): ConstTensor {
  const label = `tensor "${t.name}"`;
  const fail = (problem: string): never => {
    throw new ModelFileError(file, `${label}: ${problem}`);
  };
  const type = DATA_TYPES[t.dataType];
  if (!type) fail(`element type ${dataTypeName(t.dataType)} is not supported (only numeric and boolean tensors)`);
  // What is stored, in elements: the count the dims claim must match it exactly.
  let raw: Uint8Array | null = t.rawData;
  if (t.external) {
    if (!readExternal) {
      fail(
        `its data is stored outside the model, in "${t.external.location}", which can only be read when the model is ` +
          `loaded from a file path (importOnnx("model.onnx")), not from bytes`,
      );
    }
    checkExternalLocation(t.external.location, file, label);
    raw = readExternal!(t.external.location, t.external.offset, t.external.length, t.name);
  }
  const typed = typedField(t);
  // Elements stored (fractional when raw_data is not a whole number of elements): the dims must claim exactly that.
  const stored = raw ? raw.length / type.bytes : typed.length;
  let count = t.dims.includes(0) ? 0 : 1;
  for (const d of t.dims) {
    if (count === 0 || count > stored) break; // already too many: stop before the product grows past any bound
    count *= d;
  }
  if (count !== stored) {
    const claim = count > stored ? `more than ${Math.floor(stored)}` : `${count}`;
    fail(
      `dims [${t.dims.join(", ")}] claim ${claim} elements but ` +
        (raw ? `${raw.length} bytes of ${type.name} data (${type.bytes} bytes each) are stored` : `${stored} values are stored`),
    );
  }
  const dims = t.dims.slice();
  if (type.kind === "float") {
    const out = new Float32Array(count);
    if (raw) readRawFloats(raw, t.dataType, out);
    else if (t.dataType === 10 || t.dataType === 16) {
      // float16 and bfloat16 kept in int32_data: one 16-bit pattern per value.
      for (let i = 0; i < count; i++) out[i] = t.dataType === 10 ? halfToFloat(typed[i] as number) : bfloatToFloat(typed[i] as number);
    } else for (let i = 0; i < count; i++) out[i] = typed[i] as number;
    return { dims, data: out, integer: false };
  }
  const out = new Float64Array(count);
  if (raw) readRawInts(raw, t.dataType, out);
  else for (let i = 0; i < count; i++) out[i] = typed[i] as number;
  return { dims, data: out, integer: true };
}

/** The repeated field the values are kept in when there is no raw_data. */
function typedField(t: OnnxTensorProto): ArrayLike<number> {
  switch (t.dataType) {
    case 1: return t.floatData;
    case 11: return t.doubleData;
    case 7: return t.int64Data;
    case 12: case 13: return t.uint64Data;
    default: return t.int32Data; // int32, int16, int8, uint16, uint8, bool, float16, bfloat16
  }
}

function readRawFloats(raw: Uint8Array, type: number, out: Float32Array): void {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < out.length; i++) {
    if (type === 1) out[i] = view.getFloat32(i * 4, true);
    else if (type === 11) out[i] = view.getFloat64(i * 8, true);
    else if (type === 10) out[i] = halfToFloat(view.getUint16(i * 2, true));
    else out[i] = bfloatToFloat(view.getUint16(i * 2, true));
  }
}

function readRawInts(raw: Uint8Array, type: number, out: Float64Array): void {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < out.length; i++) {
    switch (type) {
      case 2: case 9: out[i] = view.getUint8(i); break;
      case 3: out[i] = view.getInt8(i); break;
      case 4: out[i] = view.getUint16(i * 2, true); break;
      case 5: out[i] = view.getInt16(i * 2, true); break;
      case 6: out[i] = view.getInt32(i * 4, true); break;
      case 12: out[i] = view.getUint32(i * 4, true); break;
      default: {
        const big = type === 7 ? view.getBigInt64(i * 8, true) : view.getBigUint64(i * 8, true);
        // Values past 2^53 are the "to the end" sentinels of Slice (INT64_MAX, INT64_MIN + 1): infinities,
        // which any place that needs a size refuses as not whole.
        if (big > 9007199254740991n) out[i] = Infinity;
        else if (big < -9007199254740991n) out[i] = -Infinity;
        else out[i] = Number(big);
      }
    }
  }
}

/** bfloat16 bits (the top half of a float32) to a number. */
export function bfloatToFloat(b: number): number {
  const f = new Float32Array(new Uint32Array([(b & 0xffff) << 16]).buffer);
  return f[0];
}

/**
 * Refuses external-data locations that would leave the model's folder
 * (absolute paths, drive letters, ".." segments): a model file must not make
 * the loader read arbitrary files.
 */
export function checkExternalLocation(location: string, file: string, label: string): void {
  const parts = location.split(/[\\/]/);
  if (location.startsWith("/") || location.startsWith("\\") || /^[A-Za-z]:/.test(location) || parts.includes("..") || location.includes("\0")) {
    throw new ModelFileError(
      file,
      `${label}: external data location "${location}" points outside the model's folder; ` +
        `ONNX external data must be a relative path inside the folder of the .onnx file`,
    );
  }
}
