import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Rng } from "../src/random.js";
import { Tensor, withFloat64 } from "../src/tensor.js";
import { ModelFileError, encodeSafetensors, decodeSafetensors, parseSafetensorsHeader, toFloat32Tensor, type SafetensorsEntry, type TypedTensor } from "../src/io/safetensors.js";
import { saveSafetensors, loadSafetensors } from "../src/node/files.js";

/** Builds a file by hand: the 8-byte length, the header text as given, then the data. */
function build(header: string, data: Uint8Array = new Uint8Array(0), claimedLength?: number): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(claimedLength ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

function throwsModelFileError(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => decodeSafetensors(bytes, "weights.safetensors"),
    (e: unknown) => {
      assert.ok(e instanceof ModelFileError, `expected ModelFileError, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
      assert.equal(e.path, "weights.safetensors");
      assert.match(e.message, /^weights\.safetensors: /);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

function sample(): Map<string, SafetensorsEntry> {
  const rng = new Rng(1);
  const w = Tensor.randn([3, 2, 2], 7);
  // Values a careless writer would not keep: -0, infinities, a subnormal, a NaN with a payload.
  const special = new Float32Array(6);
  special.set([-0, Infinity, -Infinity, 1e-45, 3.4028234663852886e38]);
  new Uint32Array(special.buffer)[5] = 0x7fc01234;
  const tensors = new Map<string, SafetensorsEntry>([
    ["conv1.weight", w],
    ["special", new Tensor([6], special)],
    ["step", { dtype: "I64", shape: [], data: BigInt64Array.from([-(2n ** 40n)]) }],
    ["labels", { dtype: "I32", shape: [2, 2], data: Int32Array.from([1, -2, 3, 2 ** 31 - 1]) }],
    ["mask", { dtype: "U8", shape: [3], data: Uint8Array.from([0, 255, 7]) }],
    ["double", { dtype: "F64", shape: [2], data: Float64Array.from([Math.PI, rng.normal()]) }],
    ["empty", new Tensor([0, 4])],
  ]);
  return tensors;
}

function bitsOf(entry: SafetensorsEntry): number[] {
  const data = entry instanceof Tensor ? entry.data : entry.data;
  return Array.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

describe("safetensors round trip", () => {
  test("every tensor comes back bit for bit, with its dtype, shape and order, and the metadata", () => {
    const tensors = sample();
    const bytes = encodeSafetensors(tensors, { format: "pt", note: "é ✓" });
    const back = decodeSafetensors(bytes);
    assert.deepEqual([...back.tensors.keys()], [...tensors.keys()]);
    assert.deepEqual(back.metadata, { format: "pt", note: "é ✓" });
    for (const [name, entry] of tensors) {
      const got = back.tensors.get(name)!;
      assert.equal(got instanceof Tensor, entry instanceof Tensor, name);
      assert.deepEqual(got.shape, entry.shape, name);
      if (!(entry instanceof Tensor)) assert.equal((got as TypedTensor).dtype, entry.dtype, name);
      assert.deepEqual(bitsOf(got), bitsOf(entry), name);
    }
    assert.deepEqual(encodeSafetensors(back.tensors, back.metadata), bytes, "re-encoding gives the same bytes");
  });

  test("the layout follows the spec: header padded with spaces to 8 bytes, offsets tile the buffer, aligned", () => {
    const bytes = encodeSafetensors(sample());
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    assert.equal(bytes[8], 0x7b);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    assert.match(text, /} *$/);
    const header = JSON.parse(text);
    const ranges = Object.values(header as Record<string, { dtype: string; data_offsets: [number, number] }>).sort((a, b) => a.data_offsets[0] - b.data_offsets[0] || a.data_offsets[1] - b.data_offsets[1]);
    let end = 0;
    for (const r of ranges) {
      assert.equal(r.data_offsets[0], end);
      const size = { F64: 8, I64: 8, F32: 4, I32: 4, U8: 1 }[r.dtype]!;
      assert.equal((8 + n + r.data_offsets[0]) % size, 0, `${r.dtype} tensor aligned to ${size} bytes in the file`);
      end = r.data_offsets[1];
    }
    assert.equal(8 + n + end, bytes.length);
    assert.equal("__metadata__" in header, false, "no metadata key when there is no metadata");
  });

  test("a file written by hand to the spec (as Python's safetensors writes it) is read", () => {
    const header = '{"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"I32","shape":[1],"data_offsets":[8,12]}}';
    const padded = header + " ".repeat((8 - (header.length % 8)) % 8);
    const data = new Uint8Array(12);
    data.set(f32Bytes([1.5, -2]), 0);
    new DataView(data.buffer).setInt32(8, -7, true);
    const back = decodeSafetensors(build(padded, data));
    assert.deepEqual(back.metadata, { format: "pt" });
    assert.deepEqual([...back.tensors.keys()], ["b", "a"]);
    assert.deepEqual(Array.from((back.tensors.get("b") as Tensor).data), [1.5, -2]);
    assert.deepEqual(Array.from((back.tensors.get("a") as TypedTensor<"I32">).data), [-7]);
  });

  test("a file written by Python's safetensors 0.8 (fixture) reads back every dtype exactly", () => {
    const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "test", "fixtures", "data");
    const expected = JSON.parse(readFileSync(join(dir, "from_python.json"), "utf8")) as Record<string, { dtype: string; shape: number[]; values: (number | string)[] }>;
    const file = loadSafetensors(join(dir, "from_python.safetensors"));
    assert.deepEqual(file.metadata, { format: "pt", source: "gen_safetensors.py" });
    assert.deepEqual([...file.tensors.keys()].sort(), Object.keys(expected).sort());
    const dtypeOf: Record<string, string> = { float32: "F32", int64: "I64", int32: "I32", uint8: "U8", float64: "F64", float16: "F16" };
    for (const [name, want] of Object.entries(expected)) {
      const got = file.tensors.get(name)!;
      assert.deepEqual(got.shape, want.shape, name);
      assert.equal(got instanceof Tensor ? "F32" : got.dtype, dtypeOf[want.dtype], name);
      const values =
        got instanceof Tensor || got.dtype === "F16" ? Array.from(toFloat32Tensor(got).data)
          : got.dtype === "I64" ? Array.from(got.data as BigInt64Array, String)
          : Array.from(got.data as Int32Array);
      const wanted = want.values.map((v) => (v === "inf" ? Infinity : v === "-inf" ? -Infinity : v));
      assert.deepEqual(values, wanted, name);
    }
    // And what we write from those tensors is read back by us identically (Python reads it too: see the report).
    const again = decodeSafetensors(encodeSafetensors(file.tensors, file.metadata));
    for (const [name, entry] of file.tensors) assert.deepEqual(bitsOf(again.tensors.get(name)!), bitsOf(entry), name);
  });

  test("on disk: written through a temporary file renamed into place, nothing left behind", () => {
    const dir = mkdtempSync(join(tmpdir(), "stride-st-"));
    const path = join(dir, "model.safetensors");
    writeFileSync(path, "old contents");
    saveSafetensors(path, sample(), { epoch: "3" });
    assert.deepEqual(readdirSync(dir), ["model.safetensors"]);
    const back = loadSafetensors(path);
    assert.equal(back.metadata.epoch, "3");
    assert.deepEqual(bitsOf(back.tensors.get("conv1.weight")!), bitsOf(sample().get("conv1.weight")!));
    assert.deepEqual(new Uint8Array(readFileSync(path)), encodeSafetensors(sample(), { epoch: "3" }));
    assert.throws(() => saveSafetensors(join(dir, "missing-dir", "m.safetensors"), sample()), ModelFileError);
    assert.throws(() => loadSafetensors(join(dir, "nope.safetensors")), (e: unknown) => e instanceof ModelFileError && /nope\.safetensors: cannot be read/.test(e.message));
  });

  test("float64 tensors (gradient-check mode) are stored as F32", () => {
    const t = withFloat64(() => new Tensor([2], [0.1, 0.2]));
    const back = decodeSafetensors(encodeSafetensors(new Map([["t", t]])));
    assert.deepEqual(Array.from((back.tensors.get("t") as Tensor).data), [Math.fround(0.1), Math.fround(0.2)]);
  });

  test("F16, BF16 and integers convert to float32 tensors on request", () => {
    const f16: TypedTensor<"F16"> = { dtype: "F16", shape: [4], data: Uint16Array.from([0x3c00, 0xc000, 0x7c00, 0x0001]) };
    assert.deepEqual(Array.from(toFloat32Tensor(f16).data), [1, -2, Infinity, Math.fround(2 ** -24)]);
    const bf16: TypedTensor<"BF16"> = { dtype: "BF16", shape: [2], data: Uint16Array.from([0x3f80, 0xc0a0]) };
    assert.deepEqual(Array.from(toFloat32Tensor(bf16).data), [1, -5]);
    const back = decodeSafetensors(encodeSafetensors(new Map([["h", f16]])));
    assert.deepEqual(Array.from((back.tensors.get("h") as TypedTensor<"F16">).data), Array.from(f16.data));
    assert.deepEqual(toFloat32Tensor({ dtype: "I64", shape: [1], data: BigInt64Array.from([-3n]) }).toArray(), [-3]);
  });

  test("bad tensors are refused when writing", () => {
    assert.throws(() => encodeSafetensors(new Map([["x", { dtype: "I32", shape: [3], data: Float32Array.from([1, 2, 3]) } as unknown as TypedTensor]])), /dtype I32, which is held in a Int32Array, but its data is a Float32Array/);
    assert.throws(() => encodeSafetensors(new Map([["x", { dtype: "U8", shape: [2], data: new Uint8Array(3) }]])), /shape \[2\] \(2 values\) but 3 values/);
    assert.throws(() => encodeSafetensors(new Map([["__metadata__", Tensor.zeros([1])]])), /cannot be a tensor name/);
    assert.throws(() => encodeSafetensors(new Map(), { n: 3 as unknown as string }), /metadata "n" is 3; safetensors metadata values must be strings/);
  });
});

describe("safetensors reader refuses damaged files with ModelFileError", () => {
  const one = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const data8 = f32Bytes([1, 2]);

  test("too short for the length field", () => {
    throwsModelFileError(new Uint8Array(5), /5 bytes long, shorter than the 8-byte header length/);
  });

  test("a header length beyond the file", () => {
    throwsModelFileError(build(one, data8, 5000), /claim a 5000-byte header, but only \d+ bytes follow/);
    throwsModelFileError(build(one, data8, 2 ** 40), /above the 100000000-byte limit/);
  });

  test("a header that is not a JSON object", () => {
    throwsModelFileError(build('{"w":{"dtype":"F32",', data8), /header: invalid JSON/);
    throwsModelFileError(build('[1, 2]'), /must be a JSON object starting with "\{"/);
    throwsModelFileError(build('{"w": 1} x'), /unexpected text after the JSON object/);
    const bad = build(one, data8);
    bad[10] = 0xff;
    throwsModelFileError(bad, /not valid UTF-8/);
    throwsModelFileError(build("{\"a\":" + "[".repeat(100000) + "]".repeat(100000) + "}"), /nested deeper than 32 levels/);
  });

  test("duplicate names", () => {
    throwsModelFileError(build('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', data8), /duplicate key "w"/);
  });

  test("unknown dtype, bad shape, bad offsets", () => {
    throwsModelFileError(build('{"w":{"dtype":"F48","shape":[2],"data_offsets":[0,8]}}', data8), /tensor "w": dtype "F48" is not supported/);
    throwsModelFileError(build('{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}', data8), /tensor "w": shape must be an array of whole numbers >= 0, found \[2.5\]/);
    throwsModelFileError(build('{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', data8), /shape must be an array of whole numbers/);
    throwsModelFileError(build('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}}', data8), /data_offsets must be \[begin, end\]/);
    throwsModelFileError(build('{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', data8), /data_offsets \[8, 0\] end before they begin/);
    throwsModelFileError(build('{"w":{"dtype":"F32","shape":[2]}}', data8), /data_offsets must be \[begin, end\]/);
    throwsModelFileError(build('{"w":[1,2]}', data8), /tensor "w": must be an object/);
    throwsModelFileError(build('{"__metadata__":{"a":1}}'), /"__metadata__"."a" must be a string, found 1/);
  });

  test("byte length not equal to product(shape) x dtype size", () => {
    throwsModelFileError(build('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', data8), /shape \[3\] of F32 needs 3 x 4 = 12 bytes, but data_offsets \[0, 8\] hold 8/);
    throwsModelFileError(
      build('{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}', data8),
      /needs 18446744073709552000 x 4/,
    );
  });

  test("offsets out of bounds, overlapping, with holes, or trailing garbage", () => {
    throwsModelFileError(build('{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', data8), /reach past the end of the data \(8 bytes after the header\)/);
    throwsModelFileError(
      build('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', data8),
      /"b" \[4, 8\] overlaps "a" \[0, 8\]/,
    );
    throwsModelFileError(build('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', data8), /bytes \[0, 4\) of the data are not part of any tensor/);
    throwsModelFileError(build(one, f32Bytes([1, 2, 3])), /cover 8 bytes of data, but 12 bytes follow the header \(4 bytes of trailing garbage\)/);
  });

  test("every truncation and random damage gives ModelFileError or a valid file, never another error", () => {
    const good = encodeSafetensors(sample(), { format: "pt" });
    for (let len = 0; len < good.length; len++) {
      assert.throws(() => decodeSafetensors(good.subarray(0, len), "t"), ModelFileError, `truncated to ${len} bytes`);
    }
    const rng = new Rng(5);
    const headerEnd = 8 + Number(new DataView(good.buffer).getBigUint64(0, true));
    for (let trial = 0; trial < 3000; trial++) {
      const bad = good.slice();
      const flips = 1 + rng.int(3);
      for (let k = 0; k < flips; k++) bad[rng.int(headerEnd)] = rng.int(256);
      try {
        parseSafetensorsHeader(bad, "fuzz");
        decodeSafetensors(bad, "fuzz");
      } catch (e) {
        assert.ok(e instanceof ModelFileError, `trial ${trial}: ${(e as Error).name}: ${(e as Error).message}`);
      }
    }
  });
});
