/**
 * Reading torch.save files, in both of torch's formats, without executing anything.
 *
 * Zip format (torch >= 1.6, the default): a zip archive of stored entries
 *   <folder>/data.pkl      the pickle; persistent ids ('storage', StorageType, key, location, numel)
 *   <folder>/data/<key>    each storage's raw bytes
 *   <folder>/byteorder     "little" or "big" (torch >= 2.1 writes it; absent means little)
 *   <folder>/version       the format version
 * The folder's name is whatever the file was called when saved, so the
 * folder of the data.pkl entry is used.
 *
 * Legacy format (_use_new_zipfile_serialization=False, and torch 0.4 to 1.5):
 * five pickles one after another (magic number, protocol version 1001,
 * sys_info, the object with persistent ids
 * ('storage', StorageType, root_key, location, numel, view_metadata), the
 * list of storage keys), then for each key in that order an 8-byte
 * little-endian element count and the storage's little-endian bytes.
 */
import { unzipSync } from "fflate";
import { ModelFileError, type SafetensorsEntry } from "../safetensors.js";
import { PyDict, PyTuple, describeValue, pickleAt, unpickle } from "./pickle.js";
import { ELEMENT_SIZE, TENSOR_LIMITS, TorchStorage, TorchTensor, asKey, materialize, storageDtype, torchHooks, wholeNumber } from "./tensors.js";
import { quoteValue } from "../../stride-error.js";

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;
/** Keys a training checkpoint nests its model's state dict under, in the order they are tried. */
const NESTED_KEYS = ["state_dict", "model_state_dict", "model"];
/** Entries in one archive: a model has one storage per tensor, so this is generous. */
const MAX_ZIP_ENTRIES = 1_000_000;
/** Deflate cannot expand data more than about 1032 times. */
const MAX_DEFLATE_RATIO = 1032;

/** Reads a torch.save file's state dict from its bytes. `where` names the file in errors. */
export function readTorchCheckpoint(bytes: Uint8Array, where = "<bytes>"): Map<string, SafetensorsEntry> {
  if (!(bytes instanceof Uint8Array)) throw new ModelFileError(where, "expected the file's bytes as a Uint8Array");
  const { root, bigEndian } = parseTorchFile(bytes, where);
  return stateDict(root, where, bigEndian, bytes.length);
}

/** The unpickled top-level object, with tensors as unmaterialized TorchTensors. */
export function parseTorchFile(bytes: Uint8Array, where: string): { root: unknown; bigEndian: boolean } {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return readZip(bytes, where);
  if (bytes.length >= 2 && bytes[0] === 0x80) return { root: readLegacy(bytes, where), bigEndian: false };
  if (bytes.length > 262 && String.fromCharCode(...bytes.subarray(257, 262)) === "ustar") {
    throw new ModelFileError(where, "is a tar archive: the format of torch before 0.4, which this reader does not support; load it in Python and torch.save it again");
  }
  const head = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  throw new ModelFileError(
    where,
    `is not a torch.save file: it starts with bytes [${head}], but torch.save writes a zip archive (50 4b 03 04) or, in the legacy format, a pickle (80 ..)`,
  );
}

// ---------------------------------------------------------------------------
// Zip format

function readZip(bytes: Uint8Array, where: string): { root: unknown; bigEndian: boolean } {
  const entries = new Map<string, { size: number; compression: number }>();
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, {
      // Checked before fflate allocates anything: a deflated entry is extracted
      // into a buffer of its claimed size, so that size must be plausible.
      filter(f) {
        // Quoted short: a damaged central directory can give a name of any length.
        const name = quoteValue(f.name);
        if (entries.size >= MAX_ZIP_ENTRIES) throw new ModelFileError(where, `the zip archive has more than ${MAX_ZIP_ENTRIES} entries`);
        if (entries.has(f.name) || f.name === "__proto__") throw new ModelFileError(where, `the zip archive has two entries named ${name} (damaged or crafted)`);
        if (f.compression !== 0 && f.compression !== 8) {
          throw new ModelFileError(where, `zip entry ${name} uses compression method ${f.compression}; torch.save stores entries uncompressed, and only that and deflate are read`);
        }
        if (f.size > bytes.length) {
          throw new ModelFileError(where, `zip entry ${name} claims ${f.size} bytes, more than the whole ${bytes.length}-byte file (truncated or damaged)`);
        }
        const most = f.compression === 0 ? f.size : f.size * MAX_DEFLATE_RATIO + 1024;
        if (f.originalSize > most) {
          throw new ModelFileError(where, `zip entry ${name} claims to expand from ${f.size} to ${f.originalSize} bytes, which its compression cannot do (damaged or crafted)`);
        }
        entries.set(f.name, { size: f.compression === 0 ? f.size : f.originalSize, compression: f.compression });
        return true;
      },
    });
  } catch (e) {
    if (e instanceof ModelFileError) throw e;
    throw new ModelFileError(where, `is not a readable zip archive (${(e as Error).message}): the file is truncated or damaged`);
  }
  const record = (name: string): Uint8Array | undefined => {
    const info = entries.get(name);
    if (!info) return undefined;
    const data = files[name];
    // fflate cuts a stored entry short at the end of the file rather than failing.
    if (!(data instanceof Uint8Array) || data.length !== info.size) {
      throw new ModelFileError(where, `zip entry ${quoteValue(name)} should hold ${info.size} bytes but ${data?.length ?? 0} are present (the file is truncated or damaged)`);
    }
    return data;
  };

  const pickles = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length !== 1) {
    if ([...entries.keys()].some((n) => /(^|\/)constants\.pkl$/.test(n))) {
      throw new ModelFileError(where, "is a TorchScript archive (torch.jit.save), not a torch.save checkpoint; in Python, load it with torch.jit.load and torch.save(model.state_dict(), path)");
    }
    const names = [...entries.keys()].slice(0, 8).map((n) => JSON.stringify(n)).join(", ");
    throw new ModelFileError(
      where,
      pickles.length === 0
        ? `the zip archive has no "<folder>/data.pkl" entry, so it is not a torch.save file (entries: ${names || "none"})`
        : `the zip archive has ${pickles.length} "<folder>/data.pkl" entries (${pickles.join(", ")}); a torch.save file has one`,
    );
  }
  const folder = pickles[0].slice(0, -"data.pkl".length);
  let bigEndian = false;
  const order = record(`${folder}byteorder`);
  if (order) {
    const text = String.fromCharCode(...order.subarray(0, 16)).trim();
    if (text !== "little" && text !== "big") throw new ModelFileError(where, `${folder}byteorder says ${JSON.stringify(text)}; it must be "little" or "big"`);
    bigEndian = text === "big";
  }

  const storages = new Map<string, TorchStorage>();
  const pklName = pickles[0];
  const fail = (offset: number, problem: string) => new ModelFileError(where, `${pickleAt(pklName, offset)}: ${problem}`);
  const pklLength = entries.get(pickles[0])!.size;
  const hooks = torchHooks(where, (pid: PyTuple, offset: number) => {
    if (pid.items.length !== 5) throw fail(offset, `a storage id must be ('storage', type, key, location, numel); this one has ${pid.items.length} items`);
    const dtype = storageDtype(pid.items[1], offset, fail);
    const key = asKey(pid.items[2]);
    const numel = wholeNumber(pid.items[4]);
    if (key === null) throw fail(offset, `a storage key must be a string, found ${describeValue(pid.items[2])}`);
    if (numel === null) throw fail(offset, `storage "${key}": its element count must be a whole number, found ${describeValue(pid.items[4])}`);
    const known = storages.get(key);
    if (known) {
      if (known.dtype !== dtype || known.numel !== numel) {
        throw fail(offset, `storage "${key}" is named twice with different types or sizes (${known.dtype} x ${known.numel}, then ${dtype} x ${numel})`);
      }
      return known;
    }
    const s = new TorchStorage(key, dtype, numel);
    const data = record(`${folder}data/${key}`);
    if (data === undefined) throw fail(offset, `storage "${key}" has no entry "${folder}data/${key}" in the zip archive (the file is incomplete)`);
    s.bytes = data;
    storages.set(key, s);
    return s;
  }, pklLength, pklName);
  const pkl = record(pickles[0])!;
  const { value } = unpickle(pkl, 0, hooks, where, pklName);
  return { root: value, bigEndian };
}

// ---------------------------------------------------------------------------
// Legacy format

function readLegacy(bytes: Uint8Array, where: string): unknown {
  // The header pickles hold only numbers, strings and dicts: no global is expected.
  const plain = torchHooks(where, (_pid, offset) => {
    throw new ModelFileError(where, `pickle offset ${offset}: a storage in the header of a legacy torch file`);
  }, bytes.length);
  const magic = unpickle(bytes, 0, plain, where);
  if (magic.value !== LEGACY_MAGIC) {
    throw new ModelFileError(where, `starts with a pickle of ${describeValue(magic.value)}, not torch's magic number: not a torch.save file`);
  }
  const version = unpickle(bytes, magic.end, plain, where);
  if (version.value !== LEGACY_PROTOCOL_VERSION) {
    throw new ModelFileError(where, `legacy torch protocol version ${describeValue(version.value)}; only ${LEGACY_PROTOCOL_VERSION} exists`);
  }
  const sysInfo = unpickle(bytes, version.end, plain, where);

  const storages = new Map<string, TorchStorage>();
  const fail = (offset: number, problem: string) => new ModelFileError(where, `pickle offset ${offset}: ${problem}`);
  const hooks = torchHooks(where, (pid: PyTuple, offset: number) => {
    if (pid.items.length !== 6) {
      throw fail(offset, `a legacy storage id must be ('storage', type, root_key, location, numel, view_metadata); this one has ${pid.items.length} items`);
    }
    const dtype = storageDtype(pid.items[1], offset, fail);
    const key = asKey(pid.items[2]);
    const numel = wholeNumber(pid.items[4]);
    if (key === null) throw fail(offset, `a storage key must be a string, found ${describeValue(pid.items[2])}`);
    if (numel === null) throw fail(offset, `storage "${key}": its element count must be a whole number, found ${describeValue(pid.items[4])}`);
    let root = storages.get(key);
    if (!root) {
      root = new TorchStorage(key, dtype, numel);
      storages.set(key, root);
    } else if (root.dtype !== dtype) {
      throw fail(offset, `storage "${key}" is named as both ${root.dtype} and ${dtype}`);
    }
    const viewMeta = pid.items[5];
    if (viewMeta === null) return root;
    // A view of part of the root storage (torch before 1.0 wrote these): (view_key, offset, size) in elements.
    if (!(viewMeta instanceof PyTuple) || viewMeta.items.length !== 3) throw fail(offset, `storage "${key}": view metadata must be (key, offset, size) or None`);
    const viewKey = asKey(viewMeta.items[0]);
    const viewOffset = wholeNumber(viewMeta.items[1]);
    const viewSize = wholeNumber(viewMeta.items[2]);
    if (viewKey === null || viewOffset === null || viewSize === null) throw fail(offset, `storage "${key}": view metadata must be (key, offset, size)`);
    const known = storages.get(viewKey);
    if (known) return known;
    const view = new TorchStorage(viewKey, dtype, viewSize);
    view.view = { root, offset: viewOffset };
    storages.set(viewKey, view);
    return view;
  }, bytes.length);
  const main = unpickle(bytes, sysInfo.end, hooks, where);
  const keyList = unpickle(bytes, main.end, plain, where);
  if (!Array.isArray(keyList.value)) throw new ModelFileError(where, `the legacy storage key list is ${describeValue(keyList.value)}, not a list`);

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keyList.end;
  for (const k of keyList.value) {
    const key = asKey(k);
    const s = key === null ? undefined : storages.get(key);
    if (!s || s.view) throw new ModelFileError(where, `the legacy storage list names ${describeValue(k)}, which no tensor uses`);
    if (pos + 8 > bytes.length) throw new ModelFileError(where, `storage "${key}": the file ends at byte ${bytes.length}, before its element count (truncated)`);
    const count = view.getBigInt64(pos, true);
    if (count !== BigInt(s.numel)) {
      throw new ModelFileError(where, `storage "${key}" at byte ${pos}: the file holds ${count} elements but the pickle declared ${s.numel} (damaged)`);
    }
    pos += 8;
    const size = s.numel * ELEMENT_SIZE[s.dtype];
    if (pos + size > bytes.length) {
      throw new ModelFileError(where, `storage "${key}" needs ${size} bytes at byte ${pos}, but the file ends at ${bytes.length} (truncated)`);
    }
    s.bytes = bytes.subarray(pos, pos + size);
    pos += size;
  }
  return main.value;
}

// ---------------------------------------------------------------------------
// Choosing the state dict

function stateDict(root: unknown, where: string, bigEndian: boolean, fileLength: number): Map<string, SafetensorsEntry> {
  if (!(root instanceof PyDict)) {
    throw new ModelFileError(where, `holds ${describeValue(root)}, not a dict of tensors (a state dict) or a checkpoint dict with one under "state_dict", "model" or "model_state_dict"`);
  }
  const tensorsIn = (d: PyDict) => [...d.map.values()].filter((v) => v instanceof TorchTensor).length;
  let chosen: PyDict | null = null;
  const values = [...root.map.values()];
  if (values.every((v) => v instanceof TorchTensor)) chosen = root; // a bare state dict (possibly empty)
  else {
    for (const key of NESTED_KEYS) {
      const v = root.map.get(key);
      if (v instanceof PyDict && tensorsIn(v) > 0) {
        chosen = v;
        break;
      }
    }
    if (!chosen && tensorsIn(root) > 0) chosen = root;
  }
  if (!chosen) {
    const keys = [...root.map.keys()].slice(0, 20).map((k) => describeValue(k)).join(", ");
    // Point at a dict of tensors under some other name ("net", "ema", ...) if there is one.
    const others = [...root.map].filter(([, v]) => v instanceof PyDict && tensorsIn(v) > 0).map(([k, v]) => `${describeValue(k)} holds a dict of ${tensorsIn(v as PyDict)} tensors`);
    throw new ModelFileError(
      where,
      `no state dict found: the top-level dict has no tensors and none under "state_dict", "model" or "model_state_dict" (its keys: ${keys || "none"}` +
        `${others.length ? `; ${others.slice(0, 3).join(", ")}` : ""}); in Python, torch.save the model's state_dict() on its own`,
    );
  }
  const named: [string, TorchTensor][] = [];
  for (const [k, v] of chosen.map) if (typeof k === "string" && v instanceof TorchTensor) named.push([k, v]);
  // nn.DataParallel and DistributedDataParallel wrap the model as `.module`, so
  // every key of a state dict saved from the wrapper starts with "module.";
  // strip it only when all keys have it, so a layer really named "module" survives.
  const prefix = "module.";
  const strip = named.length > 0 && named.every(([k]) => k.startsWith(prefix));
  // Many names may view one storage (memo references cost a few bytes each), so
  // the tensors' total size is bounded by the file's: legitimate sharing (tied
  // weights, views) stays far below this.
  const limit = 8 * fileLength + TENSOR_LIMITS.maxExpandedBytes;
  let total = 0;
  const out = new Map<string, SafetensorsEntry>();
  for (const [k, t] of named) {
    const name = strip ? k.slice(prefix.length) : k;
    const entry = materialize(t, name, where, bigEndian, (bytes) => {
      total += bytes;
      if (total > limit) {
        throw new ModelFileError(
          where,
          `tensor "${name}": the tensors up to it take ${total} bytes, more than 8 times the file's ${fileLength} bytes; many entries view the same storage (the file is damaged or hostile)`,
        );
      }
    });
    out.set(name, entry);
  }
  return out;
}
