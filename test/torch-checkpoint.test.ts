import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { unzipSync, zipSync, type Zippable } from "fflate";
import { Tensor } from "../src/tensor.js";
import { ModelFileError, type SafetensorsEntry, type TypedTensor } from "../src/io/safetensors.js";
import { readTorchCheckpoint, loadTorchCheckpoint, encodeTorchCheckpoint, saveTorchCheckpoint } from "../src/index.js";
import { PICKLE_LIMITS } from "../src/io/torch/pickle.js";
import { TENSOR_LIMITS } from "../src/io/torch/tensors.js";

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "test", "fixtures", "torch");
const fixture = (name: string) => new Uint8Array(readFileSync(join(FIXTURES, name)));

interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string)[];
}
const EXPECTED = JSON.parse(readFileSync(join(FIXTURES, "expected.json"), "utf8")) as {
  pwned_marker: string;
  files: Record<string, Record<string, Expected>>;
};

/** An entry's values as the fixtures' JSON writes them (float32 widened, int64 as strings, f16/bf16 bits). */
function valuesOf(e: SafetensorsEntry): (number | string)[] {
  if (e instanceof Tensor) return [...e.data];
  if (e.dtype === "I64" || e.dtype === "U64") return [...(e.data as BigInt64Array)].map(String);
  return [...(e.data as Uint8Array)];
}
const dtypeOf = (e: SafetensorsEntry) => (e instanceof Tensor ? "F32" : e.dtype);

function assertMatches(got: Map<string, SafetensorsEntry>, expected: Record<string, Expected>, file: string): void {
  assert.deepEqual([...got.keys()], Object.keys(expected), `${file}: keys`);
  for (const [name, want] of Object.entries(expected)) {
    const e = got.get(name)!;
    assert.equal(dtypeOf(e), want.dtype, `${file} ${name}: dtype`);
    if (want.dtype === "F32") assert.ok(e instanceof Tensor, `${file} ${name}: F32 should be a Tensor`);
    assert.deepEqual(e.shape, want.shape, `${file} ${name}: shape`);
    assert.deepEqual(valuesOf(e), want.values, `${file} ${name}: values`);
  }
}

function throwsModelFileError(fn: () => unknown, pattern: RegExp, where?: string): ModelFileError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ModelFileError, `expected ModelFileError, got ${caught === undefined ? "no error" : `${(caught as Error).name}: ${(caught as Error).message}`}`);
  if (where !== undefined) assert.equal(caught.path, where);
  assert.match(caught.message, pattern);
  return caught;
}

// ---------------------------------------------------------------------------
// A hand-built pickle and zip, for files torch would never write.

const enc = new TextEncoder();
const cat = (...parts: (number | Uint8Array | number[])[]): Uint8Array => {
  const flat: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") flat.push(p);
    else flat.push(...p);
  }
  return Uint8Array.from(flat);
};
const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const str = (s: string) => {
  const b = enc.encode(s);
  return cat(0x58, u32(b.length), b);
};
const glob = (module: string, name: string) => cat(0x63, enc.encode(`${module}\n${name}\n`));
const int = (n: number) => cat(0x4a, u32(n)); // BININT (up to 2^31 - 1)
const long8 = (n: bigint) => {
  const out = [0x8a, 8];
  for (let i = 0n; i < 8n; i++) out.push(Number((n >> (8n * i)) & 0xffn));
  return out;
};
const tup = (...items: Uint8Array[]) => cat(0x28, ...items, 0x74);
const MARK = 0x28, SETITEMS = 0x75, REDUCE = 0x52, STOP = 0x2e, EMPTY_TUPLE = 0x29, BINPERSID = 0x51, NEWFALSE = 0x89, EMPTY_DICT = 0x7d;
const ordered = () => cat(glob("collections", "OrderedDict"), EMPTY_TUPLE, REDUCE);

interface FakeTensor {
  name: string;
  storage?: string;
  key?: string;
  numel: number | bigint;
  offset?: number;
  shape: number[];
  stride: number[];
}
function tensorOps(t: FakeTensor, legacyView?: Uint8Array): Uint8Array {
  const numel = typeof t.numel === "bigint" ? cat(long8(t.numel)) : int(t.numel);
  // The legacy format's persistent id has a sixth item: None, or (view_key, offset, size).
  const view = legacyView === undefined ? [] : [legacyView];
  return cat(
    str(t.name),
    glob("torch._utils", "_rebuild_tensor_v2"),
    tup(
      cat(tup(str("storage"), glob("torch", t.storage ?? "FloatStorage"), str(t.key ?? "0"), str("cpu"), numel, ...view), BINPERSID),
      int(t.offset ?? 0),
      tup(...t.shape.map(int)),
      tup(...t.stride.map(int)),
      cat(NEWFALSE),
      ordered(),
    ),
    REDUCE,
  );
}
/** An OrderedDict of the given tensors (and any extra key/value ops). */
const stateDictPickle = (tensors: FakeTensor[], extra: Uint8Array = new Uint8Array(0)) =>
  cat(0x80, 2, ordered(), MARK, ...tensors.map((t) => tensorOps(t)), extra, SETITEMS, STOP);

function zipOf(records: Record<string, Uint8Array>, level: 0 | 6 = 0): Uint8Array {
  const input: Zippable = {};
  for (const [k, v] of Object.entries(records)) input[k] = [v, { level }];
  return zipSync(input);
}
const torchZip = (pkl: Uint8Array, storages: Record<string, Uint8Array> = {}) =>
  zipOf({ "archive/data.pkl": pkl, ...Object.fromEntries(Object.entries(storages).map(([k, v]) => [`archive/data/${k}`, v])) });

const f32 = (...v: number[]) => new Uint8Array(Float32Array.from(v).buffer);

/** A legacy-format file: magic, protocol version, sys_info, the object, the key list, then each storage. */
function legacyFile(main: Uint8Array, storages: [key: string, count: bigint, bytes: Uint8Array][]): Uint8Array {
  const magic = cat(0x80, 2, 0x8a, 10, [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19], STOP); // 0x1950a86a20f9469cfc6c
  const version = cat(0x80, 2, 0x4d, 1001 & 0xff, 1001 >> 8, STOP);
  const sysInfo = cat(0x80, 2, EMPTY_DICT, MARK, str("little_endian"), 0x88, SETITEMS, STOP);
  const keys = cat(0x80, 2, 0x5d, MARK, ...storages.map(([k]) => str(k)), 0x65, STOP);
  const data = storages.map(([, count, bytes]) => cat(long8(count).slice(2), bytes));
  return cat(magic, version, sysInfo, main, keys, ...data);
}

// ---------------------------------------------------------------------------

describe("reading torch.save files written by torch 1.13", () => {
  for (const file of Object.keys(EXPECTED.files)) {
    test(file, () => {
      assertMatches(readTorchCheckpoint(fixture(file), file), EXPECTED.files[file], file);
    });
  }

  test("the legacy format and protocol 4 read the same as the default zip, protocol 2", () => {
    const zip = readTorchCheckpoint(fixture("every_dtype.pt"));
    for (const other of ["every_dtype_legacy.pt", "every_dtype_proto4.pt", "every_dtype_legacy_proto4.pt"]) {
      const got = readTorchCheckpoint(fixture(other));
      assert.deepEqual([...got.keys()], [...zip.keys()], other);
      for (const [k, v] of zip) assert.deepEqual(valuesOf(got.get(k)!), valuesOf(v), `${other} ${k}`);
    }
  });

  test("views: transposed, sliced with an offset, shared storage, broadcast, 0-d and empty", () => {
    const m = readTorchCheckpoint(fixture("every_dtype.pt"));
    // torch.arange(6).reshape(2, 3) + 0.25, transposed
    assert.deepEqual([...(m.get("transposed") as Tensor).data], [0.25, 3.25, 1.25, 4.25, 2.25, 5.25]);
    // arange(30).reshape(5, 6)[1:4, 2:5]
    assert.deepEqual([...(m.get("slice") as Tensor).data], [8, 9, 10, 14, 15, 16, 20, 21, 22]);
    assert.deepEqual([...(m.get("shared_a") as Tensor).data], [0, 1.5, 3, 4.5, 6, 7.5]);
    assert.deepEqual([...(m.get("shared_b") as Tensor).data], [6, 7.5, 9, 10.5, 12, 13.5]);
    assert.deepEqual([...(m.get("expanded") as Tensor).data], [1, 2, 3, 1, 2, 3]);
    assert.deepEqual([...((m.get("sliced_i64") as TypedTensor).data as BigInt64Array)], [1n, 3n, 6n, 8n, 11n, 13n, 16n, 18n]);
    const scalar = m.get("scalar") as Tensor;
    assert.deepEqual(scalar.shape, []);
    assert.deepEqual([...scalar.data], [3.5]);
    assert.deepEqual(m.get("empty")!.shape, [0, 3]);
    // Two entries from one storage must not share memory: writing one leaves the other alone.
    (m.get("shared_a") as Tensor).data[4] = -1;
    assert.equal((m.get("shared_b") as Tensor).data[0], 6);
  });

  test("a training checkpoint: the model's state dict is found under state_dict, model or model_state_dict", () => {
    const want = EXPECTED.files["training.pt"];
    assert.deepEqual(Object.keys(want), ["conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked", "fc.weight", "fc.bias"]);
    for (const file of ["training.pt", "training_legacy.pt", "nested_model.pt", "nested_model_state_dict.pt", "dataparallel.pt"]) {
      assertMatches(readTorchCheckpoint(fixture(file)), want, file);
    }
  });

  test('"module." is stripped only when every key has it', () => {
    const t = new Tensor([1], [1]);
    const mixed = readTorchCheckpoint(encodeTorchCheckpoint(new Map([["module.a", t], ["b", t]])));
    assert.deepEqual([...mixed.keys()], ["module.a", "b"]);
    const all = readTorchCheckpoint(encodeTorchCheckpoint(new Map([["module.a", t], ["module.module.b", t]])));
    assert.deepEqual([...all.keys()], ["a", "module.b"]);
  });

  test("bytes that are a view into a larger buffer (a Node Buffer from a pool, a subarray)", () => {
    for (const file of ["training.pt", "training_legacy.pt"]) {
      const inner = Buffer.concat([Buffer.alloc(5, 0xee), readFileSync(join(FIXTURES, file)), Buffer.alloc(3)]);
      const view = inner.subarray(5, inner.length - 3);
      assertMatches(readTorchCheckpoint(view), EXPECTED.files["training.pt"], file);
    }
  });

  test("loadTorchCheckpoint reads a path and names it in errors", () => {
    const path = join(FIXTURES, "float16.pt");
    assertMatches(loadTorchCheckpoint(path), EXPECTED.files["float16.pt"], "float16.pt");
    const missing = join(FIXTURES, "no-such-file.pt");
    throwsModelFileError(() => loadTorchCheckpoint(missing), /cannot be read/, missing);
  });
});

describe("hostile files are refused without running anything", () => {
  const marker = EXPECTED.pwned_marker;
  const cases: [string, RegExp][] = [
    ["hostile_os_system.pt", /global "posix\.system" is not allowed: a weights file has no reason to call it; the file may be malicious/],
    ["hostile_os_system_legacy.pt", /global "posix\.system" is not allowed/],
    // Protocol 2 writes Python 3's names under their Python 2 spellings.
    ["hostile_eval.pt", /global "__builtin__\.eval" \(builtins\.eval in Python 3\) is not allowed/],
    ["hostile_popen.pt", /global "commands\.Popen" \(subprocess\.Popen in Python 3\) is not allowed/],
  ];
  for (const [file, pattern] of cases) {
    test(file, () => {
      rmSync(marker, { force: true });
      const e = throwsModelFileError(() => readTorchCheckpoint(fixture(file), file), pattern, file);
      // Zip files name the entry; legacy files are one stream of pickles.
      assert.match(e.problem, file.includes("legacy") ? /^pickle offset \d+: / : new RegExp(`^${file.slice(0, -3)}/data\\.pkl, pickle offset \\d+: `));
      assert.equal(existsSync(marker), false, `${marker} exists: something ran the payload`);
    });
  }

  test("builtins.eval, subprocess.Popen, os.system by STACK_GLOBAL (protocol 4 spelling)", () => {
    for (const [module, name] of [["builtins", "eval"], ["subprocess", "Popen"], ["os", "system"], ["builtins", "getattr"], ["torch", "load"]]) {
      const pkl = cat(0x80, 4, ordered(), MARK, str("x"), 0x8c, module.length, enc.encode(module), 0x8c, name.length, enc.encode(name), 0x93, tup(str("id")), REDUCE, SETITEMS, STOP);
      throwsModelFileError(() => readTorchCheckpoint(torchZip(pkl)), new RegExp(`global "${module}\\.${name}" is not allowed`));
    }
  });

  test("names every JS object has (constructor, __proto__, toString) are not on the allow-list", () => {
    for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      const pkl = cat(0x80, 2, glob("torch", name), 0x30, EMPTY_DICT, STOP);
      throwsModelFileError(() => readTorchCheckpoint(torchZip(pkl)), new RegExp(`global "torch\\.${name}" is not allowed`));
      const pid = cat(0x80, 2, ordered(), MARK, tensorOps({ name: "w", storage: name, numel: 1, shape: [1], stride: [1] }), SETITEMS, STOP);
      throwsModelFileError(() => readTorchCheckpoint(torchZip(pid, { 0: f32(1) })), new RegExp(`global "torch\\.${name}" is not allowed`));
    }
    const module = cat(0x80, 2, glob("constructor", "x"), 0x30, EMPTY_DICT, STOP);
    throwsModelFileError(() => readTorchCheckpoint(torchZip(module)), /global "constructor\.x" is not allowed: /);
    assert.throws(() => encodeTorchCheckpoint(new Map([["w", { dtype: "constructor", shape: [1], data: new Float32Array(1) } as never]])), /must be a Tensor or \{ dtype, shape, data \}/);
  });

  test("a whole pickled nn.Module is refused, naming its class", () => {
    const pkl = cat(0x80, 2, glob("torch.nn.modules.linear", "Linear"), 0x29, 0x81, STOP);
    throwsModelFileError(() => readTorchCheckpoint(torchZip(pkl)), /global "torch\.nn\.modules\.linear\.Linear" is not allowed/);
  });

  test("allowed names cannot be called outside their role", () => {
    const pkl = cat(0x80, 2, glob("torch", "FloatStorage"), tup(int(5)), REDUCE, STOP);
    throwsModelFileError(() => readTorchCheckpoint(torchZip(pkl)), /global "torch\.FloatStorage" may be named in a weights file but not called/);
  });

  test("a __proto__ key stays a key and pollutes nothing", () => {
    const m = readTorchCheckpoint(encodeTorchCheckpoint(new Map([["__proto__", new Tensor([1], [2])], ["constructor", new Tensor([1], [3])]])));
    assert.deepEqual([...m.keys()], ["__proto__", "constructor"]);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf({}), Object.prototype);
    assert.deepEqual([...(m.get("__proto__") as Tensor).data], [2]);
  });
});

describe("damaged and crafted files fail with a ModelFileError", () => {
  test("zips truncated at many cut points", () => {
    const bytes = fixture("training.pt");
    for (const cut of [0, 3, 4, 30, 100, 500, Math.floor(bytes.length / 2), bytes.length - 100, bytes.length - 22, bytes.length - 1]) {
      throwsModelFileError(() => readTorchCheckpoint(bytes.subarray(0, cut), "cut.pt"), /./, "cut.pt");
    }
  });

  test("legacy files truncated at every 50th byte", () => {
    const bytes = fixture("every_dtype_legacy.pt");
    for (let cut = 1; cut < bytes.length; cut += 50) throwsModelFileError(() => readTorchCheckpoint(bytes.subarray(0, cut), "cut.pt"), /./, "cut.pt");
    throwsModelFileError(() => readTorchCheckpoint(bytes.subarray(0, bytes.length - 1)), /storage "\d+" needs \d+ bytes at byte \d+, but the file ends/);
  });

  test("legacy storage views (torch before 1.0), and their bounds", () => {
    const NONE = cat(0x4e);
    const main = cat(0x80, 2, ordered(), MARK,
      tensorOps({ name: "a", key: "r", numel: 6, shape: [2, 3], stride: [3, 1] }, NONE),
      tensorOps({ name: "b", key: "r", numel: 6, shape: [3], stride: [1] }, tup(str("v"), int(2), int(3))),
      tensorOps({ name: "c", key: "r", numel: 6, offset: 1, shape: [2], stride: [1] }, tup(str("v"), int(2), int(3))),
      SETITEMS, STOP);
    const m = readTorchCheckpoint(legacyFile(main, [["r", 6n, f32(0, 1, 2, 3, 4, 5)]]));
    assert.deepEqual([...(m.get("a") as Tensor).data], [0, 1, 2, 3, 4, 5]);
    assert.deepEqual([...(m.get("b") as Tensor).data], [2, 3, 4]);
    assert.deepEqual([...(m.get("c") as Tensor).data], [3, 4]);

    const outside = cat(0x80, 2, ordered(), MARK, tensorOps({ name: "w", key: "r", numel: 6, shape: [3], stride: [1] }, tup(str("v"), int(5), int(3))), SETITEMS, STOP);
    throwsModelFileError(() => readTorchCheckpoint(legacyFile(outside, [["r", 6n, f32(0, 1, 2, 3, 4, 5)]])), /tensor "w": its storage view "v" covers bytes \[20, 32\) of storage "r", which has 24/);
    const plain = cat(0x80, 2, ordered(), MARK, tensorOps({ name: "a", key: "r", numel: 6, shape: [6], stride: [1] }, NONE), SETITEMS, STOP);
    throwsModelFileError(() => readTorchCheckpoint(legacyFile(plain, [["r", 7n, f32(0, 1, 2, 3, 4, 5, 6)]])), /storage "r" at byte \d+: the file holds 7 elements but the pickle declared 6/);
    throwsModelFileError(() => readTorchCheckpoint(legacyFile(plain, [["q", 6n, f32(0, 1, 2, 3, 4, 5)]])), /the legacy storage list names "q", which no tensor uses/);
  });

  test("random byte changes give a ModelFileError or a result, never another error", () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (const file of ["training.pt", "every_dtype_legacy.pt", "every_dtype_proto4.pt"]) {
      const original = fixture(file);
      let failed = 0;
      for (let i = 0; i < 300; i++) {
        const bytes = original.slice();
        for (let k = 0; k < 3; k++) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
        try {
          readTorchCheckpoint(bytes, file);
        } catch (e) {
          if (!(e instanceof ModelFileError)) assert.fail(`${file}, mutation ${i}: ${(e as Error).stack}`);
          failed++;
        }
      }
      assert.ok(failed > 50, `${file}: only ${failed} of 300 damaged copies were refused`);
    }
  });

  test("small pickles that copy one big value over and over are stopped", () => {
    // _codecs.encode of one memoized 100 kB string, 2000 times: 200 MB from a 120 kB file.
    const text = "x".repeat(100_000);
    const calls: Uint8Array[] = [];
    for (let i = 0; i < 2000; i++) calls.push(cat(0x68, 0, 0x68, 1, 0x68, 2, 0x86, REDUCE, 0x30)); // encode(text, "latin1"); POP
    const codecs = cat(0x80, 2, glob("_codecs", "encode"), 0x71, 0, 0x30, str(text), 0x71, 1, 0x30, str("latin1"), 0x71, 2, 0x30, ...calls, EMPTY_DICT, STOP);
    throwsModelFileError(() => readTorchCheckpoint(torchZip(codecs)), /builds far more data than it holds/);
    // OrderedDict(pairs) of one memoized list of 1000 pairs, 5000 times.
    const pairs = cat(0x5d, MARK, ...Array.from({ length: 1000 }, (_, i) => tup(int(i), cat(0x4e))), 0x65, 0x71, 0);
    const copies = Array.from({ length: 5000 }, () => cat(glob("collections", "OrderedDict"), 0x68, 0, 0x85, REDUCE, 0x30));
    throwsModelFileError(() => readTorchCheckpoint(torchZip(cat(0x80, 2, pairs, 0x30, ...copies, EMPTY_DICT, STOP))), /builds far more data than it holds/);
  });

  test("many names for one stored tensor cannot multiply the memory used", () => {
    const saved = TENSOR_LIMITS.maxExpandedBytes;
    TENSOR_LIMITS.maxExpandedBytes = 1 << 20; // keep the test small: the real slack is 256 MB
    try {
      const first = cat(tensorOps({ name: "w0", numel: 4096, shape: [4096], stride: [1] }).subarray(0, -1), REDUCE, 0x71, 0);
      const names = Array.from({ length: 4000 }, (_, i) => cat(str(`w${i + 1}`), 0x68, 0));
      const pkl = cat(0x80, 2, ordered(), MARK, first, ...names, SETITEMS, STOP);
      throwsModelFileError(() => readTorchCheckpoint(torchZip(pkl, { 0: new Uint8Array(4 * 4096) })), /tensor "w\d+": the tensors up to it take \d+ bytes, more than 8 times the file's \d+ bytes/);
    } finally {
      TENSOR_LIMITS.maxExpandedBytes = saved;
    }
  });

  test("a storage shorter than its tensor needs", () => {
    const pkl = stateDictPickle([{ name: "w", numel: 6, shape: [2, 3], stride: [3, 1] }]);
    throwsModelFileError(() => readTorchCheckpoint(torchZip(pkl, { 0: f32(1, 2, 3, 4) })), /tensor "w": storage "0" should hold 6 F32 elements \(24 bytes\) but has 16 bytes/);
  });

  test("a tensor reading past its storage, by offset or by stride", () => {
    const storage = { 0: f32(1, 2, 3, 4) };
    const offset = stateDictPickle([{ name: "w", numel: 4, offset: 2, shape: [4], stride: [1] }]);
    throwsModelFileError(() => readTorchCheckpoint(torchZip(offset, storage)), /tensor "w": shape \[4\] with stride \[1\] at storage offset 2 reads element 5, but its storage "0" holds 4/);
    const strided = stateDictPickle([{ name: "v", numel: 4, shape: [2, 2], stride: [3, 1] }]);
    throwsModelFileError(() => readTorchCheckpoint(torchZip(strided, storage)), /tensor "v": .*reads element 4/);
  });

  test("huge shapes fail before anything is allocated", () => {
    const storage = { 0: f32(1, 2, 3, 4) };
    const huge = stateDictPickle([{ name: "big", numel: 4, shape: [1e9, 1e9], stride: [1e9, 1] }]);
    throwsModelFileError(() => readTorchCheckpoint(torchZip(huge, storage)), /tensor "big": shape \[1000000000, 1000000000\] of F32 would need 4000000000000000000 bytes, more than any computer has/);
    // A stride-0 broadcast of one element claiming 2^40 elements.
    const broadcast = stateDictPickle([{ name: "b", numel: 1, shape: [1 << 20, 1 << 20], stride: [0, 0] }]);
    throwsModelFileError(() => readTorchCheckpoint(torchZip(broadcast, { 0: f32(1) })), /tensor "b": shape \[1048576, 1048576\] with stride \[0, 0\] expands 4 bytes of storage to 4398046511104, above the 268435456-byte limit/);
    // A storage claiming 2^50 elements whose entry holds 16 bytes.
    const storageClaim = stateDictPickle([{ name: "s", numel: 2n ** 50n, shape: [4], stride: [1] }]);
    throwsModelFileError(() => readTorchCheckpoint(torchZip(storageClaim, storage)), /tensor "s": storage "0" should hold 1125899906842624 F32 elements/);
  });

  test("a zip entry claiming a huge size is refused before it is extracted", () => {
    // A deflated entry whose central directory claims 4 GB uncompressed: fflate would allocate that.
    const zip = zipOf({ "archive/data.pkl": stateDictPickle([]), "archive/data/0": new Uint8Array(64) }, 6);
    const view = new DataView(zip.buffer);
    let patched = 0;
    for (let i = 0; i + 46 < zip.length; i++) {
      if (view.getUint32(i, true) === 0x02014b50) {
        view.setUint32(i + 24, 0xfffffff0, true);
        patched++;
      }
    }
    assert.equal(patched, 2);
    throwsModelFileError(() => readTorchCheckpoint(zip), /claims to expand from \d+ to 4294967280 bytes/);
    // A stored entry claiming more bytes than the file has.
    const stored = torchZip(stateDictPickle([]));
    const sv = new DataView(stored.buffer);
    for (let i = 0; i + 46 < stored.length; i++) if (sv.getUint32(i, true) === 0x02014b50) sv.setUint32(i + 20, 0x7ffffff0, true);
    throwsModelFileError(() => readTorchCheckpoint(stored), /claims 2147483632 bytes, more than the whole \d+-byte file/);
  });

  test("pickle opcodes: unknown, refused, bad memo index, deep nesting, lengths past the end", () => {
    const read = (pkl: Uint8Array) => () => readTorchCheckpoint(torchZip(pkl));
    throwsModelFileError(read(cat(0x80, 2, 0xff)), /pickle offset 2: unknown opcode 0xff/);
    throwsModelFileError(read(cat(0x80, 2, 0x69, enc.encode("os\nsystem\n"))), /opcode INST \(0x69\) is not accepted/);
    throwsModelFileError(read(cat(0x80, 2, 0x68, 5, STOP)), /pickle offset 2: memo index 5 was never stored/);
    throwsModelFileError(read(cat(0x80, 2, 0x6a, u32(0xffffffff), STOP)), /memo index 4294967295 was never stored/);
    throwsModelFileError(read(cat(0x80, 2, new Array(PICKLE_LIMITS.maxMarkDepth + 5).fill(MARK))), /more than 1000 nested MARKs/);
    const savedStack = PICKLE_LIMITS.maxStack;
    PICKLE_LIMITS.maxStack = 50;
    try {
      throwsModelFileError(read(cat(0x80, 2, new Array(60).fill(0x4e))), /pickle offset 52: the stack grew past 50 items/);
    } finally {
      PICKLE_LIMITS.maxStack = savedStack;
    }
    throwsModelFileError(read(cat(0x80, 2, 0x58, u32(1e9), 0x61)), /BINUNICODE string needs 1000000000 bytes but only 1 remain/);
    throwsModelFileError(read(cat(0x80, 2, 0x8e, long8(2n ** 62n).slice(2))), /BINBYTES8 claims 4611686018427387904 bytes, more than the whole file/);
    throwsModelFileError(read(cat(0x80, 2, 0x52)), /REDUCE pops from an empty stack/);
    throwsModelFileError(read(cat(0x80, 2, 0x4e)), /ends before its STOP opcode/);
    throwsModelFileError(read(cat(0x80, 9, STOP)), /pickle protocol 9 is newer than 5/);
    throwsModelFileError(read(cat(0x80, 2, 0x58, u32(1), 0xff, STOP)), /not valid UTF-8/);
  });

  test("the file is not a checkpoint of tensors", () => {
    throwsModelFileError(() => readTorchCheckpoint(enc.encode("hello world")), /is not a torch\.save file: it starts with bytes \[68 65 6c 6c\]/);
    throwsModelFileError(() => readTorchCheckpoint(zipOf({ "a/b.txt": enc.encode("x") })), /no "<folder>\/data\.pkl" entry.*"a\/b\.txt"/);
    throwsModelFileError(() => readTorchCheckpoint(zipOf({ "m/data.pkl": enc.encode("x"), "m/constants.pkl": enc.encode("x"), "n/data.pkl": enc.encode("x") })), /TorchScript archive/);
    throwsModelFileError(() => readTorchCheckpoint(torchZip(cat(0x80, 2, 0x5d, STOP))), /holds a list of 0, not a dict of tensors/);
    const noTensors = cat(0x80, 2, EMPTY_DICT, MARK, str("epoch"), int(3), str("note"), str("hi"), SETITEMS, STOP);
    throwsModelFileError(() => readTorchCheckpoint(torchZip(noTensors)), /no state dict found: .*its keys: "epoch", "note"\)/);
    const otherName = cat(0x80, 2, EMPTY_DICT, MARK, str("epoch"), int(3), str("net"), ordered(), MARK,
      tensorOps({ name: "w", numel: 1, shape: [1], stride: [1] }), SETITEMS, SETITEMS, STOP);
    throwsModelFileError(() => readTorchCheckpoint(torchZip(otherName, { 0: f32(1) })), /its keys: "epoch", "net"; "net" holds a dict of 1 tensors\)/);
    const missing = stateDictPickle([{ name: "w", key: "7", numel: 1, shape: [1], stride: [1] }]);
    throwsModelFileError(() => readTorchCheckpoint(torchZip(missing)), /storage "7" has no entry "archive\/data\/7"/);
  });
});

describe("writing torch.save files", () => {
  test("round trip through PyTorch: torch.load reads what stride writes, and torch.save's copy of it reads back bit for bit", () => {
    // scripts/write_torch_roundtrip_fixture.mjs wrote stride_written.pt from torch's every_dtype.pt;
    // gen_torch_fixtures.py --roundtrip checked torch.load(weights_only=True) of it against torch's own
    // load of every_dtype.pt, and saved it again with torch.save as stride_written_resaved.pt.
    const original = readTorchCheckpoint(fixture("every_dtype.pt"));
    assert.deepEqual(encodeTorchCheckpoint(original), fixture("stride_written.pt"), "the writer's output changed: regenerate the round-trip fixtures");
    const back = readTorchCheckpoint(fixture("stride_written_resaved.pt"));
    assert.deepEqual([...back.keys()], [...original.keys()]);
    for (const [name, entry] of original) {
      const got = back.get(name)!;
      const bits = (e: SafetensorsEntry) => new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength);
      assert.deepEqual([got instanceof Tensor ? "F32" : (got as TypedTensor).dtype, got.shape], [entry instanceof Tensor ? "F32" : (entry as TypedTensor).dtype, entry.shape], name);
      assert.deepEqual(bits(got), bits(entry), `${name}: the bytes differ after the trip through PyTorch`);
    }
  });

  const everyDtype = (): Map<string, SafetensorsEntry> =>
    new Map<string, SafetensorsEntry>([
      ["conv.weight", new Tensor([2, 1, 2, 2], [0.5, -1, 2, 3.25, 1e-8, -0, 7, 1e30])],
      ["half", { dtype: "F16", shape: [3], data: Uint16Array.from([0x3c00, 0xc000, 0x7c00]) }],
      ["bf", { dtype: "BF16", shape: [2], data: Uint16Array.from([0x3f80, 0x4049]) }],
      ["dbl", { dtype: "F64", shape: [2], data: Float64Array.from([Math.PI, -1e300]) }],
      ["steps", { dtype: "I64", shape: [], data: BigInt64Array.from([-(2n ** 62n) + 5n]) }],
      ["i32", { dtype: "I32", shape: [2], data: Int32Array.from([-(2 ** 31), 2 ** 31 - 1]) }],
      ["i16", { dtype: "I16", shape: [1], data: Int16Array.from([-5]) }],
      ["i8", { dtype: "I8", shape: [2], data: Int8Array.from([-128, 127]) }],
      ["u8", { dtype: "U8", shape: [2], data: Uint8Array.from([0, 255]) }],
      ["mask", { dtype: "BOOL", shape: [2, 1], data: Uint8Array.from([1, 0]) }],
      ["empty", new Tensor([0, 4])],
      ["scalar", new Tensor([], [2.5])],
      ["wide", new Tensor([70000], new Float32Array(70000).map((_, i) => i))],
    ]);

  test("encode then read gives back every entry exactly", () => {
    const input = everyDtype();
    const bytes = encodeTorchCheckpoint(input);
    // Opt-in check against PyTorch (Python stays out of the test run):
    //   STRIDE_TORCH_EXPORT=/tmp/x.pt node --test dist/test/torch-checkpoint.test.js
    //   /usr/bin/python3 scripts/check_torch_export.py /tmp/x.pt
    if (process.env.STRIDE_TORCH_EXPORT) writeFileSync(process.env.STRIDE_TORCH_EXPORT, bytes);
    const back = readTorchCheckpoint(bytes);
    assert.deepEqual([...back.keys()], [...input.keys()]);
    for (const [k, v] of input) {
      const got = back.get(k)!;
      assert.equal(dtypeOf(got), dtypeOf(v), k);
      assert.deepEqual(got.shape, v.shape, k);
      assert.deepEqual(valuesOf(got), valuesOf(v), k);
    }
  });

  test("stored entries, each storage's data on a 64-byte boundary, and the same bytes every time", () => {
    const bytes = encodeTorchCheckpoint(everyDtype());
    assert.deepEqual(bytes, encodeTorchCheckpoint(everyDtype()));
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const names: string[] = [];
    for (let o = 0; view.getUint32(o, true) === 0x04034b50;) {
      assert.equal(view.getUint16(o + 8, true), 0, "stored, not deflated");
      const size = view.getUint32(o + 18, true);
      const nameLength = view.getUint16(o + 26, true);
      const extraLength = view.getUint16(o + 28, true);
      const name = new TextDecoder().decode(bytes.subarray(o + 30, o + 30 + nameLength));
      const data = o + 30 + nameLength + extraLength;
      assert.equal(data % 64, 0, `${name} starts at ${data}`);
      names.push(name);
      o = data + size;
    }
    assert.deepEqual(names.slice(0, 2), ["archive/data.pkl", "archive/data/0"]);
    assert.equal(names.length, 13 + 3);
  });

  test("a big-endian file (byteorder \"big\") reads the same", () => {
    const input = everyDtype();
    const files = unzipSync(encodeTorchCheckpoint(input));
    const sizes = [4, 2, 2, 8, 8, 4, 2, 1, 1, 1, 4, 4, 4];
    const records: Record<string, Uint8Array> = {};
    for (const [name, data] of Object.entries(files)) {
      const m = /data\/(\d+)$/.exec(name);
      const copy = data.slice();
      if (m) for (let i = 0; i < copy.length; i += sizes[+m[1]]) copy.subarray(i, i + sizes[+m[1]]).reverse();
      records[name] = name.endsWith("byteorder") ? enc.encode("big") : copy;
    }
    const back = readTorchCheckpoint(zipOf(records));
    for (const [k, v] of input) assert.deepEqual(valuesOf(back.get(k)!), valuesOf(v), k);
  });

  test("dtypes torch has no storage for are refused", () => {
    assert.throws(() => encodeTorchCheckpoint(new Map([["u", { dtype: "U16", shape: [1], data: Uint16Array.from([1]) }]])), /"u" is U16, which torch has no storage type for/);
    assert.throws(() => encodeTorchCheckpoint(new Map([["x", { dtype: "F16", shape: [2], data: Uint16Array.from([1]) }]])), /shape \[2\] \(2 values\) but 1 values/);
  });

  test("saveTorchCheckpoint then loadTorchCheckpoint", () => {
    const dir = mkdtempSync(join(tmpdir(), "stride-torch-"));
    const path = join(dir, "model.pt");
    saveTorchCheckpoint(path, everyDtype());
    const back = loadTorchCheckpoint(path);
    assert.deepEqual(valuesOf(back.get("conv.weight")!), valuesOf(everyDtype().get("conv.weight")!));
    rmSync(dir, { recursive: true });
  });
});

test("only src/node/torch-files.ts touches Node's modules, so the byte-level reader and writer bundle for the browser", () => {
  const src = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "io", "torch");
  for (const file of ["pickle.ts", "tensors.ts", "read.ts", "write.ts"]) {
    const text = readFileSync(join(src, file), "utf8");
    assert.doesNotMatch(text, /from "node:|require\(/, file);
  }
  assert.match(readFileSync(join(src, "..", "..", "node", "torch-files.ts"), "utf8"), /from "\.\/files\.js"/);
});
