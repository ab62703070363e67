/**
 * Mutations for the fuzz targets, as fast-check arbitraries: a mutation is
 * plain data (positions are fractions of the length), so a case prints and
 * replays from its seed, and applying it to any valid file gives a damaged one.
 */
import fc from "fast-check";

/** Numbers that break size arithmetic: overflow, sign, fractions, powers of two around typed-array limits. */
export const HOSTILE_NUMBERS = [
  -1, 0, 1, 2, 3, 7, 255, 256, 65535, 65536, 2 ** 24, 2 ** 28, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40, 2 ** 53,
  2 ** 53 + 2, 1e21, 1e308, -(2 ** 31), -1e308, 0.5, 1.5, -0, 1e-300,
];

const hostileNumber = fc.oneof(fc.constantFrom(...HOSTILE_NUMBERS), fc.integer({ min: -5, max: 100 }));

/** A JSON value of the wrong kind, a huge number, or a deep nest (written as a marker, expanded on serialisation). */
export const hostileJsonValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileNumber },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, "", "x", "__proto__", "constructor", "toString", "valueOf", [], {}, [[]], { a: 1 }) },
  { weight: 1, arbitrary: fc.array(hostileNumber, { maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 20000 }).map((depth) => ({ [DEEP_MARKER]: depth })) },
);

const DEEP_MARKER = "\u0000deep";
const isDeepMarker = (v: unknown) => v !== null && typeof v === "object" && Object.hasOwn(v, DEEP_MARKER);

/** One edit of a JSON document: a value replaced, a key removed, an array reordered or grown. */
export type JsonEdit =
  | { op: "set"; at: number; value: unknown }
  | { op: "delete"; at: number }
  | { op: "reverse"; at: number }
  | { op: "duplicate"; at: number; item: number }
  | { op: "swap"; at: number; a: number; b: number }
  | { op: "copy"; at: number; from: number };

export const jsonEdit: fc.Arbitrary<JsonEdit> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant("set" as const), at: fc.nat(), value: hostileJsonValue }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("delete" as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("reverse" as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("duplicate" as const), at: fc.nat(), item: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("swap" as const), at: fc.nat(), a: fc.nat(), b: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("copy" as const), at: fc.nat(), from: fc.nat() }) },
);

type Slot = { parent: any; key: string | number; value: unknown };

// Every value in the document with where it sits (the root has no parent).
function slots(root: unknown): Slot[] {
  const out: Slot[] = [];
  const walk = (parent: any, key: string | number, value: unknown) => {
    out.push({ parent, key, value });
    if (isDeepMarker(value)) return; // a leaf: its number is the depth, not part of the document
    if (Array.isArray(value)) value.forEach((v, i) => walk(value, i, v));
    else if (value !== null && typeof value === "object") for (const k of Object.keys(value)) walk(value, k, (value as any)[k]);
  };
  walk(null, "", root);
  return out;
}

/** Applies edits to a deep copy of `doc` and serialises it (deep nests expanded in the text). */
export function editJson(doc: unknown, edits: JsonEdit[]): string {
  return toJsonText(applyJsonEdits(doc, edits));
}

/** JSON text of a document from applyJsonEdits, with its deep-nest markers expanded. */
export function toJsonText(doc: unknown): string {
  return JSON.stringify(doc).replace(/\{"\\u0000deep":(\d+)\}/g, (_, d) => "[".repeat(Math.min(Number(d), 20000)) + "]".repeat(Math.min(Number(d), 20000)));
}

/** Applies edits to a deep copy of `doc`; deep nests stay markers until toJsonText. */
export function applyJsonEdits(doc: unknown, edits: JsonEdit[]): any {
  let root = structuredClone(doc);
  for (const edit of edits) {
    const all = slots(root);
    const slot = all[edit.at % all.length];
    const put = (v: unknown) => {
      if (slot.parent === null) root = v;
      else slot.parent[slot.key] = v;
    };
    switch (edit.op) {
      case "set":
        put(structuredClone(edit.value));
        break;
      case "delete":
        if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
        else if (slot.parent) delete slot.parent[slot.key];
        break;
      case "reverse":
        if (Array.isArray(slot.value)) slot.value.reverse();
        break;
      case "duplicate":
        if (Array.isArray(slot.value) && slot.value.length) {
          const i = edit.item % slot.value.length;
          slot.value.splice(i, 0, structuredClone(slot.value[i]));
        }
        break;
      case "swap":
        if (Array.isArray(slot.value) && slot.value.length) {
          const a = edit.a % slot.value.length, b = edit.b % slot.value.length;
          [slot.value[a], slot.value[b]] = [slot.value[b], slot.value[a]];
        }
        break;
      case "copy":
        put(structuredClone(all[edit.from % all.length].value));
        break;
    }
  }
  return root;
}

/** One edit of a byte string. Positions and lengths are fractions of the file, so they fit any file. */
export type ByteEdit =
  | { op: "flip"; at: number; bit: number }
  | { op: "truncate"; at: number }
  | { op: "overwrite"; at: number; bytes: number[] }
  | { op: "insert"; at: number; bytes: number[] }
  | { op: "remove"; at: number; length: number }
  | { op: "splice"; from: number; to: number; length: number }
  | { op: "u32"; at: number; value: number; littleEndian: boolean };

const fraction = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const smallBytes = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 16 });

export const byteEdit: fc.Arbitrary<ByteEdit> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("flip" as const), at: fraction, bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("truncate" as const), at: fraction }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("overwrite" as const), at: fraction, bytes: smallBytes }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("insert" as const), at: fraction, bytes: smallBytes }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("remove" as const), at: fraction, length: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("splice" as const), from: fraction, to: fraction, length: fc.integer({ min: 1, max: 256 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("u32" as const),
      at: fraction,
      value: fc.oneof(fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x10000, 0xffff), fc.nat()),
      littleEndian: fc.boolean(),
    }),
  },
);

/** Applies edits to a copy of `input`. */
export function editBytes(input: Uint8Array, edits: ByteEdit[]): Uint8Array {
  let b: Uint8Array = new Uint8Array(input);
  const pos = (f: number) => Math.floor(f * b.length);
  for (const e of edits) {
    switch (e.op) {
      case "flip":
        if (b.length) b[pos(e.at)] ^= 1 << e.bit;
        break;
      case "truncate":
        b = b.slice(0, pos(e.at));
        break;
      case "overwrite": {
        const at = pos(e.at);
        e.bytes.slice(0, b.length - at).forEach((v, i) => (b[at + i] = v));
        break;
      }
      case "insert": {
        const at = pos(e.at);
        b = concat(b.subarray(0, at), Uint8Array.from(e.bytes), b.subarray(at));
        break;
      }
      case "remove": {
        const at = pos(e.at);
        b = concat(b.subarray(0, at), b.subarray(at + e.length));
        break;
      }
      case "splice": {
        // A run of the file copied over another place in it (a misplaced block).
        const from = pos(e.from), to = pos(e.to);
        const run = b.slice(from, from + e.length);
        b.set(run.subarray(0, Math.max(0, b.length - to)), to);
        break;
      }
      case "u32": {
        const at = pos(e.at);
        if (at + 4 <= b.length) new DataView(b.buffer, b.byteOffset).setUint32(at, e.value >>> 0, e.littleEndian);
        break;
      }
    }
  }
  return b;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** 1 to 4 byte edits. */
export const byteEdits = fc.array(byteEdit, { minLength: 1, maxLength: 4 });
/** 1 to 4 JSON edits. */
export const jsonEdits = fc.array(jsonEdit, { minLength: 1, maxLength: 4 });
