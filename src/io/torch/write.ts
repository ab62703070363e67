/**
 * Writing torch.save's zip format, so that torch.load(path, weights_only=True)
 * reads the file back as an OrderedDict of tensors (checked with torch 1.13 by
 * scripts/check_torch_export.py).
 *
 * The pickle uses only the opcodes torch 1.13's weights_only unpickler knows
 * (protocol 2: GLOBAL, BINUNICODE, BININT*, LONG1, MARK/TUPLE, BINPERSID,
 * REDUCE, SETITEMS; no FRAME, MEMOIZE or STACK_GLOBAL, which it rejects).
 * Entries are stored uncompressed and each one's data starts on a 64-byte
 * boundary, as torch writes them (so a reader can map storages in place;
 * torch does not require it to read).
 */
import { zipSync, type Zippable } from "fflate";
import { Tensor, formatShape } from "../../tensor.js";
import type { Dtype, SafetensorsEntry, TypedTensor } from "../safetensors.js";
import { ELEMENT_SIZE } from "./tensors.js";

/** Each dtype's storage class in torch (torch 1.13 has no unsigned types wider than 8 bits). */
const STORAGE_OF: Partial<Record<Dtype, string>> = {
  F32: "FloatStorage", F16: "HalfStorage", BF16: "BFloat16Storage", F64: "DoubleStorage", I64: "LongStorage",
  I32: "IntStorage", I16: "ShortStorage", I8: "CharStorage", U8: "ByteStorage", BOOL: "BoolStorage",
};

const ARRAY_OF: Record<Dtype, Function> = {
  BOOL: Uint8Array, U8: Uint8Array, I8: Int8Array, U16: Uint16Array, I16: Int16Array, F16: Uint16Array, BF16: Uint16Array,
  U32: Uint32Array, I32: Int32Array, F32: Float32Array, U64: BigUint64Array, I64: BigInt64Array, F64: Float64Array,
};

/** The folder torch names after the file; any name reads back. */
const FOLDER = "archive";
const ALIGN = 64;
/** The zip extra-field id torch pads with ("FB"). */
const PAD_FIELD = 0x4246;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Encodes tensors as a torch.save zip file holding an OrderedDict of them. */
export function encodeTorchCheckpoint(entries: Map<string, SafetensorsEntry>): Uint8Array {
  if (!(entries instanceof Map)) throw new Error("encodeTorchCheckpoint: entries must be a Map from name to Tensor or { dtype, shape, data }");
  const storages: Uint8Array[] = [];
  const p = new PickleWriter();
  p.proto(2);
  p.global("collections", "OrderedDict");
  p.emptyTuple();
  p.reduce();
  p.mark();
  for (const [name, entry] of entries) {
    const { dtype, shape, bytes } = entryBytes(name, entry);
    const key = String(storages.length);
    storages.push(bytes);
    const numel = shape.reduce((a, b) => a * b, 1);
    const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
    p.unicode(name);
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.mark(); // the arguments
    p.mark(); // the persistent id ('storage', StorageType, key, location, numel)
    p.unicode("storage");
    p.global("torch", STORAGE_OF[dtype]!);
    p.unicode(key);
    p.unicode("cpu");
    p.int(numel);
    p.tuple();
    p.persistentId();
    p.int(0); // storage offset
    p.intTuple(shape);
    p.intTuple(strides);
    p.bool(false); // requires_grad
    p.global("collections", "OrderedDict"); // backward_hooks: an empty OrderedDict
    p.emptyTuple();
    p.reduce();
    p.tuple();
    p.reduce();
  }
  p.setItems();
  p.stop();

  const records: [string, Uint8Array][] = [[`${FOLDER}/data.pkl`, p.bytes()]];
  storages.forEach((bytes, i) => records.push([`${FOLDER}/data/${i}`, bytes]));
  records.push([`${FOLDER}/byteorder`, new TextEncoder().encode("little")]);
  records.push([`${FOLDER}/version`, new TextEncoder().encode("3\n")]);
  return zipStoredAligned(records);
}

/**
 * A zip of stored entries, each one's data on a 64-byte boundary. fflate lays
 * entries out in order, each as a 30-byte local header, the name, the extra
 * field and the data, so the padding each needs can be worked out in advance.
 */
function zipStoredAligned(records: [string, Uint8Array][]): Uint8Array {
  const input: Zippable = Object.create(null);
  const mtime = new Date(2000, 0, 1); // fixed, so the same tensors give the same bytes
  let offset = 0;
  for (const [name, data] of records) {
    const nameLength = new TextEncoder().encode(name).length;
    const before = offset + 30 + nameLength + 4; // up to the padding
    const pad = (ALIGN - (before % ALIGN)) % ALIGN;
    input[name] = [data, { level: 0, mtime, extra: { [PAD_FIELD]: new Uint8Array(pad) } }];
    offset = before + pad + data.length;
  }
  return zipSync(input);
}

function entryBytes(name: string, entry: SafetensorsEntry): { dtype: Dtype; shape: number[]; bytes: Uint8Array } {
  if (typeof name !== "string" || name.length === 0) throw new Error(`encodeTorchCheckpoint: ${JSON.stringify(name)} cannot be a tensor name`);
  if (entry instanceof Tensor) {
    // Tensors made under withFloat64() hold doubles; the file stores float32 like every stride model file.
    const data = entry.data instanceof Float32Array ? entry.data : Float32Array.from(entry.data);
    return { dtype: "F32", shape: entry.shape.slice(), bytes: littleEndian(data, 4) };
  }
  const e = entry as TypedTensor;
  if (!e || typeof e !== "object" || !Object.hasOwn(ELEMENT_SIZE, e.dtype)) {
    throw new Error(`encodeTorchCheckpoint: "${name}" must be a Tensor or { dtype, shape, data } with a safetensors dtype`);
  }
  if (!Object.hasOwn(STORAGE_OF, e.dtype)) {
    throw new Error(`encodeTorchCheckpoint: "${name}" is ${e.dtype}, which torch has no storage type for; convert it to ${e.dtype === "U16" ? "I32" : "I64"} first`);
  }
  if (!(e.data instanceof ARRAY_OF[e.dtype])) {
    throw new Error(`encodeTorchCheckpoint: "${name}" has dtype ${e.dtype}, held in a ${ARRAY_OF[e.dtype].name}, but its data is a ${(e.data as object)?.constructor?.name}`);
  }
  if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`encodeTorchCheckpoint: "${name}" has shape ${JSON.stringify(e.shape)}; it must be whole numbers >= 0`);
  }
  const count = e.shape.reduce((a, b) => a * b, 1);
  if (count !== e.data.length) throw new Error(`encodeTorchCheckpoint: "${name}" has shape ${formatShape(e.shape)} (${count} values) but ${e.data.length} values`);
  return { dtype: e.dtype, shape: e.shape.slice(), bytes: littleEndian(e.data, ELEMENT_SIZE[e.dtype]) };
}

function littleEndian(data: ArrayBufferView, size: number): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN_HOST || size === 1) return bytes;
  const copy = bytes.slice();
  for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  return copy;
}

/** Emits protocol-2 pickle opcodes into a growing buffer. */
class PickleWriter {
  private buf = new Uint8Array(1024);
  private n = 0;
  private readonly encoder = new TextEncoder();

  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }
  private byte(...b: number[]): void {
    this.room(b.length);
    for (const x of b) this.buf[this.n++] = x;
  }
  private raw(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  private u32(v: number): void {
    this.byte(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }
  proto(v: number): void { this.byte(0x80, v); }
  mark(): void { this.byte(0x28); }
  tuple(): void { this.byte(0x74); }
  emptyTuple(): void { this.byte(0x29); }
  reduce(): void { this.byte(0x52); }
  setItems(): void { this.byte(0x75); }
  persistentId(): void { this.byte(0x51); }
  stop(): void { this.byte(0x2e); }
  bool(v: boolean): void { this.byte(v ? 0x88 : 0x89); }
  global(module: string, name: string): void {
    this.byte(0x63);
    this.raw(this.encoder.encode(`${module}\n${name}\n`));
  }
  unicode(s: string): void {
    const b = this.encoder.encode(s);
    this.byte(0x58);
    this.u32(b.length);
    this.raw(b);
  }
  int(v: number): void {
    if (v >= 0 && v < 256) this.byte(0x4b, v); // BININT1
    else if (v >= 0 && v < 65536) this.byte(0x4d, v & 0xff, v >>> 8); // BININT2
    else if (v >= -(2 ** 31) && v < 2 ** 31) {
      this.byte(0x4a); // BININT
      this.u32(v >>> 0);
    } else {
      // LONG1: little-endian two's complement, as short as the sign allows.
      const bytes: number[] = [];
      let x = BigInt(v);
      do {
        bytes.push(Number(x & 0xffn));
        x >>= 8n;
      } while (!(x === 0n && (bytes[bytes.length - 1] & 0x80) === 0) && !(x === -1n && (bytes[bytes.length - 1] & 0x80) !== 0));
      this.byte(0x8a, bytes.length, ...bytes);
    }
  }
  intTuple(values: number[]): void {
    if (values.length === 0) return this.emptyTuple();
    this.mark();
    for (const v of values) this.int(v);
    this.tuple();
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}
