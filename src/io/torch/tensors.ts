/**
 * What torch's pickles may name, and how their tensors become stride entries.
 *
 * The allow-list follows torch.load(weights_only=True) (torch/_weights_only_unpickler.py):
 * the storage types, torch.Size, collections.OrderedDict and the
 * torch._utils rebuild functions. A tensor is pickled as
 * `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks)`
 * whose storage comes from a persistent id; a Parameter wraps that in
 * `_rebuild_parameter(tensor, requires_grad, backward_hooks)`.
 *
 * Tensors are kept as (storage, offset, size, stride) until a state dict entry
 * is chosen, then checked against their storage and copied out contiguous.
 */
import { Tensor, formatShape } from "../../tensor.js";
import { DTYPES, ModelFileError, swapBytes, typedView, type Dtype, type SafetensorsEntry, type TypedTensor } from "../safetensors.js";
import { PyBytes, PyDict, PyGlobal, PyTuple, describeValue, pickleAt, type UnpickleHooks } from "./pickle.js";

/**
 * torch's storage class names, with the dtype each holds. Looked up with
 * Object.hasOwn, never `in`: "constructor" or "__proto__" are `in` every object.
 */
export const STORAGE_TYPES: Record<string, Dtype> = {
  FloatStorage: "F32", HalfStorage: "F16", BFloat16Storage: "BF16", DoubleStorage: "F64", LongStorage: "I64",
  IntStorage: "I32", ShortStorage: "I16", CharStorage: "I8", ByteStorage: "U8", BoolStorage: "BOOL",
};

export const ELEMENT_SIZE: Record<Dtype, number> = DTYPES;

/** The dtype globals (`torch.float32` ...) torch's allow-list has; inert values here. */
const DTYPE_GLOBALS = new Set(["float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64", "uint8", "bool"]);

const REBUILD_FUNCTIONS = new Set(["_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_parameter_with_state"]);

/**
 * One storage: its dtype, element count and bytes. `bytes` is null until the
 * legacy format's storage section has been read (it follows the pickle).
 */
export class TorchStorage {
  bytes: Uint8Array | null = null;
  /** For the legacy format's storage views: a window of another storage, in elements. */
  view: { root: TorchStorage; offset: number } | null = null;
  constructor(readonly key: string, readonly dtype: Dtype, readonly numel: number) {}

  /** The storage's bytes, checked to hold numel elements. */
  data(where: string, tensorName: string): Uint8Array {
    const size = ELEMENT_SIZE[this.dtype];
    if (this.view) {
      const root = this.view.root.data(where, tensorName);
      const begin = this.view.offset * size;
      const end = begin + this.numel * size;
      if (end > root.length) {
        throw new ModelFileError(where, `tensor "${tensorName}": its storage view "${this.key}" covers bytes [${begin}, ${end}) of storage "${this.view.root.key}", which has ${root.length}`);
      }
      return root.subarray(begin, end);
    }
    if (this.bytes === null) throw new ModelFileError(where, `tensor "${tensorName}": storage "${this.key}" is named by the pickle but its data is not in the file`);
    if (this.bytes.length !== this.numel * size) {
      throw new ModelFileError(
        where,
        `tensor "${tensorName}": storage "${this.key}" should hold ${this.numel} ${this.dtype} elements (${this.numel * size} bytes) but has ${this.bytes.length} bytes (the file is truncated or damaged)`,
      );
    }
    return this.bytes;
  }
}

/** A tensor as the pickle describes it: a strided window on a storage. */
export class TorchTensor {
  constructor(readonly storage: TorchStorage, readonly offset: number, readonly size: number[], readonly stride: number[]) {}
}

/** An inert marker for allowed globals whose value is only a name (dtype objects, torch.Size). */
export class TorchName {
  constructor(readonly name: string) {}
}

/** Protocol 2 spells some Python 3 modules the Python 2 way; errors give both names. */
const PYTHON3_MODULE: Record<string, string> = { __builtin__: "builtins", commands: "subprocess" };

function notAllowed(where: string, record: string, module: string, name: string, offset: number): ModelFileError {
  const full = `${module}.${name}`;
  const alias = Object.hasOwn(PYTHON3_MODULE, module) ? ` (${PYTHON3_MODULE[module]}.${name} in Python 3)` : "";
  return new ModelFileError(
    where,
    `${pickleAt(record, offset)}: global "${full}"${alias} is not allowed: a weights file has no reason to call it; the file may be malicious. ` +
      `Only tensors, storages and plain containers are read (as torch.load(weights_only=True) does); ` +
      `if you trust the file, load it in Python and save model.state_dict() (or safetensors) instead`,
  );
}

/**
 * The unpickler hooks for torch.save pickles. `storage(pid, offset)` turns a
 * persistent id into a TorchStorage (zip and legacy formats differ there).
 */
export function torchHooks(where: string, storage: (pid: PyTuple, offset: number) => TorchStorage, pickleLength: number, record = ""): UnpickleHooks {
  const fail = (offset: number, problem: string) => new ModelFileError(where, `${pickleAt(record, offset)}: ${problem}`);
  // A few opcodes can build a big value from a small one fetched from the memo
  // over and over (OrderedDict(list) copies the list, _codecs.encode the text);
  // what those calls create together is bounded by the pickle's own size.
  let budget = 16 * pickleLength + (1 << 20);
  const spend = (n: number, offset: number) => {
    budget -= n;
    if (budget < 0) throw fail(offset, "the pickle builds far more data than it holds (the same values copied over and over): the file is damaged or hostile");
  };
  return {
    findGlobal(module, name, offset) {
      const full = `${module}.${name}`;
      if (full === "collections.OrderedDict" || full === "torch._utils._rebuild_tensor_v2" || full === "torch._utils._rebuild_tensor" ||
        full === "torch._utils._rebuild_parameter" || full === "torch._utils._rebuild_parameter_with_state" || full === "torch.Size" ||
        full === "_codecs.encode" || (module === "torch" && (Object.hasOwn(STORAGE_TYPES, name) || DTYPE_GLOBALS.has(name)))) {
        return new PyGlobal(module, name);
      }
      throw notAllowed(where, record, module, name, offset);
    },
    call(callable, args, offset) {
      if (!(callable instanceof PyGlobal)) throw fail(offset, `REDUCE / NEWOBJ calls ${describeValue(callable)}, which is not a callable global`);
      const full = callable.fullName;
      if (full === "collections.OrderedDict") {
        const d = new PyDict(true);
        // OrderedDict([(k, v), ...]) as well as OrderedDict().
        if (args.length === 1 && Array.isArray(args[0])) {
          spend(args[0].length, offset);
          for (const pair of args[0]) {
            if (!(pair instanceof PyTuple) || pair.items.length !== 2) throw fail(offset, "OrderedDict(...) with an item that is not a (key, value) pair");
            d.map.set(pair.items[0], pair.items[1]);
          }
        } else if (args.length !== 0) throw fail(offset, `OrderedDict called with ${args.length} arguments`);
        return d;
      }
      if (full === "torch.Size") {
        if (args.length === 1 && args[0] instanceof PyTuple) return args[0];
        if (args.length === 0) return new PyTuple([]);
        throw fail(offset, "torch.Size needs one tuple of sizes");
      }
      if (full === "_codecs.encode") {
        // Protocol 2 pickles Python 3 bytes as _codecs.encode(text, "latin1").
        const [text, encoding] = args;
        if (typeof text !== "string" || (encoding !== "latin1" && encoding !== "latin-1")) {
          throw fail(offset, `_codecs.encode is only accepted as encode(str, "latin1"), the form pickle uses for bytes; found encoding ${describeValue(encoding)}`);
        }
        spend(text.length, offset);
        const out = new Uint8Array(text.length);
        for (let i = 0; i < text.length; i++) {
          const c = text.charCodeAt(i);
          if (c > 255) throw fail(offset, "_codecs.encode(..., \"latin1\") of a character above U+00FF");
          out[i] = c;
        }
        return new PyBytes(out);
      }
      if (callable.module === "torch._utils" && REBUILD_FUNCTIONS.has(callable.name)) {
        if (callable.name.startsWith("_rebuild_parameter")) {
          // _rebuild_parameter(data, requires_grad, backward_hooks[, state]): the data is the tensor.
          if (!(args[0] instanceof TorchTensor)) throw fail(offset, `${callable.name} of ${describeValue(args[0])}, not a tensor`);
          return args[0];
        }
        return rebuildTensor(args, offset, fail);
      }
      // Storage types and dtypes are allowed as names, not as things to call.
      throw fail(offset, `global "${full}" may be named in a weights file but not called`);
    },
    build(inst, state, offset) {
      // torch pickles a state dict's `_metadata` attribute (module versions) by BUILD
      // on the OrderedDict; it is not a tensor, so it is dropped.
      if (inst instanceof PyDict) return inst;
      if (inst instanceof TorchTensor) return inst; // Parameter state (e.g. requires_grad hooks): irrelevant to the values
      throw fail(offset, `BUILD (setting the state of an object) on ${describeValue(inst)}; only dicts and tensors accept it here`);
    },
    persistentLoad(pid, offset) {
      if (!(pid instanceof PyTuple) || pid.items.length === 0) throw fail(offset, `a persistent id must be a tuple, found ${describeValue(pid)}`);
      const kind = pid.items[0] instanceof PyBytes ? latin1(pid.items[0].data) : pid.items[0];
      if (kind !== "storage") throw fail(offset, `persistent id of kind ${describeValue(kind)}: only "storage" is accepted`);
      return storage(pid, offset);
    },
  };
}

/** The dtype of a storage-type global in a persistent id. */
export function storageDtype(v: unknown, offset: number, fail: (o: number, p: string) => ModelFileError): Dtype {
  if (v instanceof PyGlobal && v.module === "torch" && Object.hasOwn(STORAGE_TYPES, v.name)) return STORAGE_TYPES[v.name];
  throw fail(offset, `a storage's type must be one of torch.${Object.keys(STORAGE_TYPES).join(", torch.")}; found ${describeValue(v)}`);
}

/** A persistent id's key (torch writes str; Python 2-era files may have bytes). */
export function asKey(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (v instanceof PyBytes) return latin1(v.data);
  return null;
}

function latin1(raw: Uint8Array): string {
  let s = "";
  for (let i = 0; i < raw.length; i++) s += String.fromCharCode(raw[i]);
  return s;
}

export function wholeNumber(v: unknown): number | null {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

/** A tensor has at most this many dimensions (torch's limit is 64 too). */
const MAX_DIMS = 64;

function intTuple(v: unknown): number[] | null {
  if (!(v instanceof PyTuple) || v.items.length > MAX_DIMS) return null;
  const out: number[] = [];
  for (const x of v.items) {
    const n = wholeNumber(x);
    if (n === null) return null;
    out.push(n);
  }
  return out;
}

function rebuildTensor(args: unknown[], offset: number, fail: (o: number, p: string) => ModelFileError): TorchTensor {
  const [storage, storageOffset, size, stride] = args;
  if (args.length < 4) throw fail(offset, `_rebuild_tensor_v2 needs (storage, storage_offset, size, stride, ...); got ${args.length} arguments`);
  if (!(storage instanceof TorchStorage)) throw fail(offset, `_rebuild_tensor_v2's storage is ${describeValue(storage)}, not a storage`);
  const off = wholeNumber(storageOffset);
  const dims = intTuple(size);
  const steps = intTuple(stride);
  if (off === null) throw fail(offset, `_rebuild_tensor_v2's storage offset is ${describeValue(storageOffset)}, not a whole number`);
  if (dims === null || steps === null) throw fail(offset, `_rebuild_tensor_v2's size and stride must be tuples of at most ${MAX_DIMS} whole numbers`);
  if (dims.length !== steps.length) throw fail(offset, `_rebuild_tensor_v2 has ${dims.length} sizes but ${steps.length} strides`);
  return new TorchTensor(storage, off, dims, steps);
}

/**
 * How far past its storage's size a tensor may expand: a stride-0 broadcast
 * (torch saves `expand()` results as they are) can claim far more elements than
 * the file holds, and nothing in the file backs that allocation.
 */
export const TENSOR_LIMITS = { maxExpandedBytes: 2 ** 28 };

/**
 * Checks a tensor against its storage, then copies its elements out in
 * row-major order. Nothing is allocated before the checks pass.
 */
export function materialize(t: TorchTensor, name: string, where: string, bigEndian: boolean, beforeAllocating?: (bytes: number) => void): SafetensorsEntry {
  const fail = (problem: string) => new ModelFileError(where, `tensor "${name}": ${problem}`);
  const { dtype } = t.storage;
  const es = ELEMENT_SIZE[dtype];
  let count = 1;
  let last = t.offset; // the highest element index the tensor reads
  for (let d = 0; d < t.size.length; d++) {
    count *= t.size[d];
    if (t.size[d] > 0) last += (t.size[d] - 1) * t.stride[d];
  }
  const shape = formatShape(t.size);
  if (!Number.isSafeInteger(count * es)) {
    throw fail(`shape ${shape} of ${dtype} would need ${count * es} bytes, more than any computer has (the file is damaged or hostile)`);
  }
  if (count > 0 && (!Number.isSafeInteger(last) || last >= t.storage.numel)) {
    throw fail(
      `shape ${shape} with stride [${t.stride.join(", ")}] at storage offset ${t.offset} reads element ${last}, ` +
        `but its storage "${t.storage.key}" holds ${t.storage.numel} (the file is damaged or hostile)`,
    );
  }
  const src = t.storage.data(where, name); // checks the bytes are all there
  if (count * es > Math.max(src.length, TENSOR_LIMITS.maxExpandedBytes)) {
    throw fail(
      `shape ${shape} with stride [${t.stride.join(", ")}] expands ${src.length} bytes of storage to ${count * es}, ` +
        `above the ${TENSOR_LIMITS.maxExpandedBytes}-byte limit for a broadcast tensor (the file is damaged or hostile)`,
    );
  }
  beforeAllocating?.(count * es);
  const out = new Uint8Array(count * es);
  if (count > 0) copyStrided(src, out, t, es);
  if (bigEndian && es > 1) swapBytes(out, es);
  const data = typedView(dtype, out);
  return dtype === "F32" ? new Tensor(t.size, data as Float32Array) : ({ dtype, shape: t.size.slice(), data } as TypedTensor);
}

/** Gathers a strided view into a row-major buffer, a run of the innermost dimension at a time. */
function copyStrided(src: Uint8Array, out: Uint8Array, t: TorchTensor, es: number): void {
  const nd = t.size.length;
  let contiguous = true;
  for (let d = nd - 1, expect = 1; d >= 0; d--) {
    if (t.size[d] !== 1 && t.stride[d] !== expect) contiguous = false;
    expect *= t.size[d];
  }
  if (contiguous) {
    out.set(src.subarray(t.offset * es, t.offset * es + out.length));
    return;
  }
  const inner = nd === 0 ? 1 : t.size[nd - 1];
  const innerStride = nd === 0 ? 0 : t.stride[nd - 1] * es;
  const index = new Array<number>(Math.max(nd - 1, 0)).fill(0);
  let base = t.offset * es;
  let o = 0;
  for (;;) {
    if (innerStride === es) {
      out.set(src.subarray(base, base + inner * es), o);
      o += inner * es;
    } else {
      for (let i = 0, s = base; i < inner; i++, s += innerStride) for (let b = 0; b < es; b++) out[o++] = src[s + b];
    }
    // Advance the outer indices like an odometer.
    let d = nd - 2;
    for (; d >= 0; d--) {
      index[d]++;
      base += t.stride[d] * es;
      if (index[d] < t.size[d]) break;
      base -= index[d] * t.stride[d] * es;
      index[d] = 0;
    }
    if (d < 0) return;
  }
}

