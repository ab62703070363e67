/**
 * The IDX format of MNIST and Fashion-MNIST, gzipped or not (detected by the
 * gzip magic bytes, not by the file name). A file is trusted only after
 * every header field has been checked against the bytes that are actually
 * there: a truncated download or a file that lies about its sizes gives an
 * error naming the file, the field, what it claims and what is there.
 *
 * Layout: two zero bytes, a dtype byte, a dimension-count byte, one
 * big-endian uint32 per dimension, then the values, big-endian, row-major.
 */
import { Gunzip, gzipSync } from "fflate";
import { createDataset, type Dataset } from "./dataset.js";
import { StrideError } from "../stride-error.js";

/** IDX dtype codes and what they hold. */
const IDX_TYPES = {
  0x08: { name: "ubyte", size: 1 },
  0x09: { name: "sbyte", size: 1 },
  0x0b: { name: "int16", size: 2 },
  0x0c: { name: "int32", size: 4 },
  0x0d: { name: "float32", size: 4 },
  0x0e: { name: "float64", size: 8 },
} as const;

/** The element types an IDX file can hold. */
export type IdxDtype = (typeof IDX_TYPES)[keyof typeof IDX_TYPES]["name"];

/** The contents of an IDX file: element type, dimensions and values. */
export interface IdxArray {
  dtype: IdxDtype;
  dims: number[];
  /** The values in row-major order (bytes for ubyte; numbers widened for the other types). */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** An IDX file that does not follow the format (magic number, sizes); names the file. */
export class IdxFormatError extends StrideError {
  constructor(readonly path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "IdxFormatError";
  }
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Default cap on an IDX file's size once decompressed: 2^30 bytes (1 GiB; MNIST's training images are 47 MB). */
export const DEFAULT_MAX_IDX_BYTES = 2 ** 30;

/** Limits parseIdx applies to what a gzipped file claims. */
export interface IdxLimits {
  /** Largest decompressed size accepted, in bytes; default DEFAULT_MAX_IDX_BYTES. Raise it for larger datasets. */
  maxBytes?: number;
}

// Deflate cannot expand data more than about 1032 times.
const MAX_DEFLATE_RATIO = 1032;
// Input is fed to the decompressor in pieces this size, so its output grows at most ~16 MB between checks.
const GUNZIP_STEP = 16 * 1024;

/**
 * Decompresses gzip bytes, refusing before it allocates when the trailer's
 * size is more than deflate can produce or more than `maxBytes`, and
 * stopping as soon as the real output passes `maxBytes` (the trailer can lie).
 */
function gunzipBounded(bytes: Uint8Array, source: string, maxBytes: number): Uint8Array {
  const fail = (problem: string) => new IdxFormatError(source, problem);
  if (bytes.length < 18) throw fail(`is gzip-compressed but only ${bytes.length} bytes long, shorter than any gzip stream; the download is truncated`);
  const claimed = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(bytes.length - 4, true);
  if (claimed > bytes.length * MAX_DEFLATE_RATIO + 1024) {
    throw fail(
      `is gzip-compressed but cannot be decompressed: its trailer claims it expands from ${bytes.length} to ${claimed} bytes, ` +
        `which deflate cannot do; the download is probably truncated or damaged`,
    );
  }
  const tooLarge = (size: number) =>
    fail(`decompresses to ${size} bytes or more, above the limit of ${maxBytes} bytes; the file is damaged, or pass a larger maxBytes to read a dataset this large`);
  if (claimed > maxBytes) throw tooLarge(claimed);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const gunzip = new Gunzip((chunk) => {
    total += chunk.length;
    if (total > maxBytes) throw tooLarge(total);
    chunks.push(chunk);
  });
  try {
    for (let at = 0; at < bytes.length; at += GUNZIP_STEP) gunzip.push(bytes.subarray(at, at + GUNZIP_STEP), at + GUNZIP_STEP >= bytes.length);
  } catch (e) {
    if (e instanceof IdxFormatError) throw e;
    throw fail(`is gzip-compressed but cannot be decompressed (${(e as Error).message}); the download is probably truncated or damaged`);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Parses IDX bytes (gzipped or not). `source` names the file in errors. A
 * gzipped file may decompress to at most `limits.maxBytes` (see docs/reliability.md).
 */
export function parseIdx(input: Uint8Array, source = "<idx bytes>", limits: IdxLimits = {}): IdxArray {
  let bytes = input;
  if (isGzip(bytes)) bytes = gunzipBounded(bytes, source, limits.maxBytes ?? DEFAULT_MAX_IDX_BYTES);
  const fail = (message: string) => new IdxFormatError(source, message);
  if (bytes.length < 4) throw fail(`is ${bytes.length} bytes long, shorter than the 4-byte IDX magic number`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw fail(
      `magic number: the first two bytes must be 0x00 0x00, found 0x${hex(bytes[0])} 0x${hex(bytes[1])}; this is not an IDX file`,
    );
  }
  const type = IDX_TYPES[bytes[2] as keyof typeof IDX_TYPES];
  if (!type) {
    throw fail(`magic number: dtype byte 0x${hex(bytes[2])} is not an IDX type (0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64)`);
  }
  const rank = bytes[3];
  if (rank < 1) throw fail(`magic number: dimension count is 0; an IDX file has at least one dimension`);
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) {
    throw fail(`header: claims ${rank} dimensions, which need a ${headerBytes}-byte header, but the file has only ${bytes.length} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let d = 0; d < rank; d++) {
    const size = view.getUint32(4 + 4 * d, false);
    dims.push(size);
    count *= size;
  }
  const dataBytes = bytes.length - headerBytes;
  const claimed = count * type.size;
  if (claimed !== dataBytes) {
    throw fail(
      `sizes: the header claims dimensions [${dims.join(", ")}] of ${type.name} = ${claimed} bytes of data after the ` +
        `${headerBytes}-byte header, but ${dataBytes} bytes are there` +
        (claimed > dataBytes ? " (the file is truncated)" : " (extra bytes at the end)"),
    );
  }
  return { dtype: type.name, dims, data: readValues(view, headerBytes, count, type.name, bytes) };
}

function readValues(view: DataView, offset: number, count: number, dtype: IdxDtype, bytes: Uint8Array): IdxArray["data"] {
  switch (dtype) {
    case "ubyte":
      // Copies (a Buffer's slice() would be a view into Node's shared pool).
      return new Uint8Array(bytes.subarray(offset, offset + count));
    case "sbyte":
      return new Int8Array(new Uint8Array(bytes.subarray(offset, offset + count)).buffer);
    case "int16": {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case "int32": {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case "float32": {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case "float64": {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
  }
}

/** Encodes unsigned bytes as an IDX file (for tests and small fixtures). */
export function encodeIdxUbyte(dims: number[], data: Uint8Array, options: { gzip?: boolean } = {}): Uint8Array {
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new Error(`encodeIdxUbyte: dims [${dims.join(", ")}] need ${count} bytes, got ${data.length}`);
  const out = new Uint8Array(4 + 4 * dims.length + count);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return options.gzip ? gzipSync(out) : out;
}

/** Fashion-MNIST's ten class names, by label. */
export const FASHION_MNIST_CLASSES = [
  "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
];

function hex(b: number): string {
  return b.toString(16).padStart(2, "0").toUpperCase();
}
