/**
 * The safetensors format (huggingface/safetensors), read and written so that
 * files load in Python's `safetensors` and files from it load here:
 *
 *   8 bytes   N, little-endian unsigned 64-bit: the header's length
 *   N bytes   UTF-8 JSON beginning with "{", padded at the end with spaces:
 *             { "__metadata__"?: { string: string },
 *               NAME: { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, ... }
 *   the rest  the byte buffer: every tensor's raw little-endian row-major bytes,
 *             offsets relative to the buffer's start, covering it with no holes
 *
 * The reader trusts nothing: every length, offset, dtype and shape is checked
 * before a byte is used, and every problem is a ModelFileError naming the file
 * and what is wrong (never a RangeError from deep inside a typed array).
 * Writes go to a temporary file in the same folder, renamed into place, so a
 * crash never leaves a half-written file under the real name.
 */
import { Tensor, formatShape } from "../tensor.js";
import { StrideError, quoteValue } from "../stride-error.js";

/** A model or weights file that cannot be trusted, with the file and the problem. */
export class ModelFileError extends StrideError {
  readonly path: string;
  readonly problem: string;
  constructor(path: string, problem: string) {
    super(`${path}: ${problem}`);
    this.name = "ModelFileError";
    this.path = path;
    this.problem = problem;
  }
}

/** Bytes per element of each dtype (shared by the torch.save and ONNX readers). */
export const DTYPES = {
  BOOL: 1, U8: 1, I8: 1, U16: 2, I16: 2, F16: 2, BF16: 2, U32: 4, I32: 4, F32: 4, U64: 8, I64: 8, F64: 8,
} as const;

/** The element types of a safetensors or torch.save tensor. */
export type Dtype = keyof typeof DTYPES;

/** The typed array each dtype is held in (F16 and BF16: their raw 16-bit patterns). */
export interface DtypeArrays {
  BOOL: Uint8Array; U8: Uint8Array; I8: Int8Array; U16: Uint16Array; I16: Int16Array;
  F16: Uint16Array; BF16: Uint16Array; U32: Uint32Array; I32: Int32Array; F32: Float32Array;
  U64: BigUint64Array; I64: BigInt64Array; F64: Float64Array;
}

/** A tensor of any safetensors dtype, as a typed array (F32 tensors are read as Tensor instead). */
export interface TypedTensor<D extends Dtype = Dtype> {
  dtype: D;
  shape: number[];
  data: DtypeArrays[D];
}

/** A tensor read from a weights file: a float32 Tensor, or the raw values of another dtype. */
export type SafetensorsEntry = Tensor | TypedTensor;

/** A decoded safetensors file: its tensors by name and its metadata. */
export interface SafetensorsContents {
  /** In the header's order. F32 entries are Tensors; every other dtype a TypedTensor. */
  tensors: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

/** What the header says about one tensor, after validation. Offsets are relative to the byte buffer. */
export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

/** The reference implementation refuses headers above 100 MB; so do we. */
export const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = "__metadata__";
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isTensor(v: unknown): v is Tensor {
  return v instanceof Tensor;
}

// ---------------------------------------------------------------------------
// Reading

/** Default cap on the number of tensors in one safetensors file (a large model's file holds a few thousand). */
export const DEFAULT_MAX_TENSORS = 100_000;

/** Limits the safetensors reader applies to what a header claims. */
export interface SafetensorsLimits {
  /** Most tensors a header may list; default DEFAULT_MAX_TENSORS. Raise it for files with more. */
  maxTensors?: number;
}

/** Parses and validates the header of a safetensors file held in `bytes`; `limits` caps its tensor count. */
export function parseSafetensorsHeader(
  bytes: Uint8Array,
  path = "<bytes>",
  limits: SafetensorsLimits = {},
): { infos: TensorInfo[]; metadata: Record<string, string>; dataStart: number } {
  const fail = (problem: string) => new ModelFileError(path, problem);
  if (!(bytes instanceof Uint8Array)) throw fail("expected the file's bytes as a Uint8Array");
  if (bytes.length < 8) throw fail(`is ${bytes.length} bytes long, shorter than the 8-byte header length that starts a safetensors file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const claimed = view.getBigUint64(0, true);
  if (claimed > BigInt(MAX_HEADER_BYTES)) {
    throw fail(`header length: the first 8 bytes claim a ${claimed}-byte header, above the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file, or damaged)`);
  }
  const headerLength = Number(claimed);
  if (8 + headerLength > bytes.length) {
    throw fail(`header length: the first 8 bytes claim a ${headerLength}-byte header, but only ${bytes.length - 8} bytes follow (the file is truncated or not safetensors)`);
  }
  if (headerLength < 2 || bytes[8] !== 0x7b) {
    throw fail(`header: must be a JSON object starting with "{"; it starts with byte 0x${(bytes[8] ?? 0).toString(16).padStart(2, "0")} (length ${headerLength})`);
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    throw fail("header: is not valid UTF-8");
  }
  let root: JsonValue;
  try {
    root = parseJson(text, limits.maxTensors ?? DEFAULT_MAX_TENSORS);
  } catch (e) {
    if (e instanceof TooManyEntries) {
      throw fail(`header: lists more than ${limits.maxTensors ?? DEFAULT_MAX_TENSORS} tensors; the file is damaged, or pass a larger maxTensors to read a file this large`);
    }
    throw fail(`header: ${(e as Error).message}`);
  }
  if (!(root instanceof JsonObject)) throw fail("header: must be a JSON object of tensor entries");

  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const infos: TensorInfo[] = [];
  for (const [name, value] of root.entries) {
    if (name === METADATA_KEY) {
      if (value === null) continue;
      if (!(value instanceof JsonObject)) throw fail(`header: "${METADATA_KEY}" must be an object of string values`);
      for (const [k, v] of value.entries) {
        if (typeof v !== "string") throw fail(`header: "${METADATA_KEY}".${quoteValue(k)} must be a string, found ${describe(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    infos.push(checkEntry(name, value, dataLength, fail));
  }

  // The entries must tile the byte buffer exactly: no overlap, no hole, nothing after.
  const byOffset = infos.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const info of byOffset) {
    if (info.begin < expected) {
      const other = byOffset.find((o) => o !== info && o.begin < info.end && info.begin < o.end) ?? byOffset.find((o) => o.end === expected);
      throw fail(`data_offsets: ${quoteValue(info.name)} [${info.begin}, ${info.end}] overlaps ${quoteValue(other?.name)} [${other?.begin}, ${other?.end}]`);
    }
    if (info.begin > expected) {
      throw fail(`data_offsets: bytes [${expected}, ${info.begin}) of the data are not part of any tensor (a hole before ${quoteValue(info.name)}); the buffer must be covered exactly`);
    }
    expected = info.end;
  }
  if (expected !== dataLength) {
    throw fail(
      `data length: the tensors cover ${expected} bytes of data, but ${dataLength} bytes follow the header` +
        (dataLength > expected ? ` (${dataLength - expected} bytes of trailing garbage)` : ""),
    );
  }
  return { infos, metadata, dataStart };
}

function checkEntry(name: string, value: JsonValue, dataLength: number, fail: (p: string) => ModelFileError): TensorInfo {
  // Names are quoted short: a header may hold a name of any length, and errors name the tensor.
  const where = `tensor ${quoteValue(name)}`;
  if (name.length === 0) throw fail("header: a tensor has an empty name");
  if (!(value instanceof JsonObject)) throw fail(`${where}: must be an object { dtype, shape, data_offsets }, found ${describe(value)}`);
  const dtype = value.get("dtype");
  const shape = value.get("shape");
  const offsets = value.get("data_offsets");
  if (typeof dtype !== "string") throw fail(`${where}: dtype must be a string, found ${describe(dtype)}`);
  if (!Object.hasOwn(DTYPES, dtype)) {
    throw fail(`${where}: dtype ${describe(dtype)} is not supported (known: ${Object.keys(DTYPES).join(", ")})`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0)) {
    throw fail(`${where}: shape must be an array of whole numbers >= 0, found ${describe(shape)}`);
  }
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((o) => typeof o === "number" && Number.isSafeInteger(o) && o >= 0)
  ) {
    throw fail(`${where}: data_offsets must be [begin, end] of whole numbers >= 0, found ${describe(offsets)}`);
  }
  const [begin, end] = offsets as number[];
  if (end < begin) throw fail(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataLength) {
    throw fail(`${where}: data_offsets [${begin}, ${end}] reach past the end of the data (${dataLength} bytes after the header)`);
  }
  const dims = shape as number[];
  let count = 1;
  for (const d of dims) count *= d;
  const expected = count * DTYPES[dtype as Dtype];
  if (!Number.isSafeInteger(expected) || expected !== end - begin) {
    throw fail(
      `${where}: shape ${formatShape(dims)} of ${dtype} needs ${count} x ${DTYPES[dtype as Dtype]} = ${expected} bytes, ` +
        `but data_offsets [${begin}, ${end}] hold ${end - begin}`,
    );
  }
  return { name, dtype: dtype as Dtype, shape: dims, begin, end };
}

/** Decodes a whole safetensors file from bytes. `path` names it in errors; `limits` as parseSafetensorsHeader's. */
export function decodeSafetensors(bytes: Uint8Array, path = "<bytes>", limits: SafetensorsLimits = {}): SafetensorsContents {
  const { infos, metadata, dataStart } = parseSafetensorsHeader(bytes, path, limits);
  const tensors = new Map<string, SafetensorsEntry>();
  for (const info of infos) {
    // A copy, not slice(): Buffer.slice is a view into Node's shared pool, so its .buffer is not this tensor's.
    const raw = new Uint8Array(bytes.subarray(dataStart + info.begin, dataStart + info.end));
    const data = typedView(info.dtype, raw);
    tensors.set(info.name, info.dtype === "F32" ? new Tensor(info.shape, data as Float32Array) : { dtype: info.dtype, shape: info.shape, data } as TypedTensor);
  }
  return { tensors, metadata };
}

/** A typed array over a fresh (hence aligned) copy of little-endian bytes. */
export function typedView(dtype: Dtype, raw: Uint8Array): DtypeArrays[Dtype] {
  const size = DTYPES[dtype];
  if (!LITTLE_ENDIAN_HOST && size > 1) swapBytes(raw, size);
  const buf = raw.buffer;
  switch (dtype) {
    case "BOOL": case "U8": return new Uint8Array(buf);
    case "I8": return new Int8Array(buf);
    case "U16": case "F16": case "BF16": return new Uint16Array(buf);
    case "I16": return new Int16Array(buf);
    case "U32": return new Uint32Array(buf);
    case "I32": return new Int32Array(buf);
    case "F32": return new Float32Array(buf);
    case "U64": return new BigUint64Array(buf);
    case "I64": return new BigInt64Array(buf);
    case "F64": return new Float64Array(buf);
  }
}

/** Reverses the bytes of each `size`-byte element in place (little- to big-endian and back). */
export function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/**
 * Any numeric entry as a float32 Tensor (F16 and BF16 decoded, integers
 * converted). For loaders that accept weights saved in other precisions.
 */
export function toFloat32Tensor(entry: SafetensorsEntry): Tensor {
  if (isTensor(entry)) return entry;
  const n = entry.data.length;
  const out = new Float32Array(n);
  if (entry.dtype === "F16") for (let i = 0; i < n; i++) out[i] = halfToFloat((entry.data as Uint16Array)[i]);
  else if (entry.dtype === "BF16") {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = (entry.data as Uint16Array)[i] << 16;
  } else for (let i = 0; i < n; i++) out[i] = Number(entry.data[i]);
  return new Tensor(entry.shape, out);
}

/** IEEE half-precision bits to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

// ---------------------------------------------------------------------------
// Writing

const ARRAY_OF: { [D in Dtype]: new (...args: any[]) => DtypeArrays[D] } = {
  BOOL: Uint8Array, U8: Uint8Array, I8: Int8Array, U16: Uint16Array, I16: Int16Array, F16: Uint16Array, BF16: Uint16Array,
  U32: Uint32Array, I32: Int32Array, F32: Float32Array, U64: BigUint64Array, I64: BigInt64Array, F64: Float64Array,
};

/**
 * Encodes tensors (float32 Tensors, or TypedTensors of any dtype) and string
 * metadata as safetensors bytes. The header keeps the map's order; the data
 * is laid out largest element size first so every tensor is aligned to its
 * element size, and the header is padded with spaces to a multiple of 8.
 */
export function encodeSafetensors(tensors: Map<string, SafetensorsEntry>, metadata: Record<string, string> = {}): Uint8Array {
  if (!(tensors instanceof Map)) throw new Error("encodeSafetensors: tensors must be a Map from name to Tensor");
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") throw new Error(`encodeSafetensors: metadata "${k}" is ${describe(v as JsonValue)}; safetensors metadata values must be strings`);
  }
  const items = [...tensors].map(([name, entry], order) => ({ name, order, ...entryBytes(name, entry) }));
  const layout = items.slice().sort((a, b) => DTYPES[b.dtype] - DTYPES[a.dtype] || a.order - b.order);
  let offset = 0;
  const offsets = new Map<string, [number, number]>();
  for (const item of layout) {
    offsets.set(item.name, [offset, offset + item.bytes.length]);
    offset += item.bytes.length;
  }
  const parts: string[] = [];
  if (Object.keys(metadata).length > 0) parts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  for (const item of items) {
    parts.push(`${JSON.stringify(item.name)}:${JSON.stringify({ dtype: item.dtype, shape: item.shape, data_offsets: offsets.get(item.name) })}`);
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  for (const item of items) out.set(item.bytes, 8 + padded + offsets.get(item.name)![0]);
  return out;
}

function entryBytes(name: string, entry: SafetensorsEntry): { dtype: Dtype; shape: number[]; bytes: Uint8Array } {
  if (typeof name !== "string" || name.length === 0 || name === METADATA_KEY) {
    throw new Error(`encodeSafetensors: ${JSON.stringify(name)} cannot be a tensor name`);
  }
  if (isTensor(entry)) {
    // Tensors made under withFloat64() hold doubles; the file stores float32.
    const data = entry.data instanceof Float32Array ? entry.data : Float32Array.from(entry.data);
    return { dtype: "F32", shape: entry.shape.slice(), bytes: littleEndianBytes(data, 4) };
  }
  const e = entry as TypedTensor;
  if (!e || typeof e !== "object" || !Object.hasOwn(DTYPES, e.dtype)) {
    throw new Error(`encodeSafetensors: "${name}" must be a Tensor or { dtype, shape, data } with dtype one of ${Object.keys(DTYPES).join(", ")}`);
  }
  if (!(e.data instanceof ARRAY_OF[e.dtype])) {
    throw new Error(`encodeSafetensors: "${name}" has dtype ${e.dtype}, which is held in a ${ARRAY_OF[e.dtype].name}, but its data is a ${e.data?.constructor?.name}`);
  }
  if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`encodeSafetensors: "${name}" has shape ${JSON.stringify(e.shape)}; it must be whole numbers >= 0`);
  }
  const count = e.shape.reduce((a, b) => a * b, 1);
  if (count !== e.data.length) throw new Error(`encodeSafetensors: "${name}" has shape ${formatShape(e.shape)} (${count} values) but ${e.data.length} values`);
  return { dtype: e.dtype, shape: e.shape.slice(), bytes: littleEndianBytes(e.data, DTYPES[e.dtype]) };
}

function littleEndianBytes(data: ArrayBufferView, size: number): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN_HOST || size === 1) return bytes;
  const copy = bytes.slice();
  swapBytes(copy, size);
  return copy;
}

// ---------------------------------------------------------------------------
// A strict JSON parser for the header: JSON.parse silently keeps the last of
// duplicate keys and reorders integer-like keys, and neither is acceptable.

type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;

class JsonObject {
  constructor(readonly entries: [string, JsonValue][]) {}
  get(key: string): JsonValue | undefined {
    return this.entries.find(([k]) => k === key)?.[1];
  }
}

const MAX_DEPTH = 32;
// Sticky, so a number is matched where the parser stands without copying the rest of the text.
const NUMBER = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

class TooManyEntries extends Error {}

const ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/** Parses JSON text; the top-level object may hold at most `maxRootEntries` keys besides "__metadata__". */
function parseJson(text: string, maxRootEntries = Infinity): JsonValue {
  let i = 0;
  let rootEntries = 0;
  const error = (what: string) => new Error(`invalid JSON at character ${i}: ${what}`);
  const skipSpace = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
  };
  const value = (depth: number): JsonValue => {
    if (depth > MAX_DEPTH) throw error(`nested deeper than ${MAX_DEPTH} levels`);
    skipSpace();
    const c = text[i];
    if (c === "{") {
      i++;
      const entries: [string, JsonValue][] = [];
      const seen = new Set<string>();
      skipSpace();
      if (text[i] === "}") {
        i++;
        return new JsonObject(entries);
      }
      for (;;) {
        skipSpace();
        if (text[i] !== '"') throw error("expected a quoted key");
        const key = string();
        if (seen.has(key)) throw error(`duplicate key "${key}"`);
        seen.add(key);
        if (depth === 0 && key !== METADATA_KEY && ++rootEntries > maxRootEntries) throw new TooManyEntries();
        skipSpace();
        if (text[i] !== ":") throw error(`expected ":" after key "${key}"`);
        i++;
        entries.push([key, value(depth + 1)]);
        skipSpace();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return new JsonObject(entries);
        }
        throw error('expected "," or "}"');
      }
    }
    if (c === "[") {
      i++;
      const items: JsonValue[] = [];
      skipSpace();
      if (text[i] === "]") {
        i++;
        return items;
      }
      for (;;) {
        items.push(value(depth + 1));
        skipSpace();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return items;
        }
        throw error('expected "," or "]"');
      }
    }
    if (c === '"') return string();
    if (c === "t" && text.startsWith("true", i)) {
      i += 4;
      return true;
    }
    if (c === "f" && text.startsWith("false", i)) {
      i += 5;
      return false;
    }
    if (c === "n" && text.startsWith("null", i)) {
      i += 4;
      return null;
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m) {
      i += m[0].length;
      return Number(m[0]);
    }
    throw error(i >= text.length ? "unexpected end" : `unexpected character ${JSON.stringify(text[i])}`);
  };
  const string = (): string => {
    i++; // opening quote
    // The common case, a string without escapes or control characters, is one slice.
    const close = text.indexOf('"', i);
    if (close >= 0) {
      const plain = text.slice(i, close);
      if (!/[\\\u0000-\u001f]/.test(plain)) {
        i = close + 1;
        return plain;
      }
    }
    let out = "";
    for (;;) {
      if (i >= text.length) throw error("unterminated string");
      const c = text[i++];
      if (c === '"') return out;
      if (c < " ") throw error("control character in a string");
      if (c !== "\\") {
        out += c;
        continue;
      }
      const e = text[i++];
      if (e !== undefined && Object.hasOwn(ESCAPES, e)) out += ESCAPES[e];
      else if (e === "u" && /^[0-9a-fA-F]{4}$/.test(text.slice(i, i + 4))) {
        out += String.fromCharCode(parseInt(text.slice(i, i + 4), 16));
        i += 4;
      } else throw error(`bad escape "\\${e ?? ""}"`);
    }
  };
  const result = value(0);
  skipSpace();
  if (i !== text.length) throw error("unexpected text after the JSON object");
  return result;
}

function describe(v: JsonValue | undefined): string {
  if (v === undefined) return "nothing";
  if (v instanceof JsonObject) return "an object";
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}
