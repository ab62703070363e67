/**
 * A restricted unpickler: reads Python pickles (protocols 2 to 5, the binary
 * opcodes) into plain JavaScript values, and never executes anything.
 *
 * A pickle is a program for a small stack machine whose GLOBAL opcodes name
 * any Python callable and whose REDUCE opcodes call it: that is how a
 * malicious checkpoint runs `os.system`. Here GLOBAL / STACK_GLOBAL only yield
 * what the caller's `findGlobal` accepts (it throws for everything else), and
 * REDUCE / NEWOBJ / BUILD hand their arguments to the caller's hooks, which
 * build inert values. Every length is checked against the bytes present before
 * it is used, the stack, MARK nesting and memo are bounded, and dicts are Maps
 * (keys never become properties of plain objects, so no prototype pollution).
 *
 * Opcode facts are from Python's Lib/pickletools.py documentation.
 */
import { ModelFileError } from "../safetensors.js";

/** A Python tuple (distinct from a list, which is a JS array). */
export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

/** A Python dict or OrderedDict: insertion-ordered, keys compared like Map keys. */
export class PyDict {
  readonly map = new Map<unknown, unknown>();
  constructor(readonly ordered = false) {}
}

/** A Python set or frozenset (items only; torch checkpoints rarely hold one). */
export class PySet {
  constructor(readonly items: unknown[]) {}
}

/** Bytes (BINBYTES and friends), distinct from str. */
export class PyBytes {
  constructor(readonly data: Uint8Array) {}
}

/** A global the caller accepted, e.g. `collections.OrderedDict`. Inert: a name only. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get fullName(): string {
    return `${this.module}.${this.name}`;
  }
}

export interface UnpickleHooks {
  /** Accepts a global (returning the value to push) or throws a ModelFileError naming it. */
  findGlobal(module: string, name: string, offset: number): unknown;
  /** REDUCE and NEWOBJ: `callable(*args)`, where callable came from findGlobal. */
  call(callable: unknown, args: unknown[], offset: number): unknown;
  /** BUILD: sets `state` on `inst`; returns the object that replaces it. */
  build(inst: unknown, state: unknown, offset: number): unknown;
  /** BINPERSID: the object a persistent id stands for (torch: storages). */
  persistentLoad(pid: unknown, offset: number): unknown;
}

/** Bounds on what one pickle may build; far above what a checkpoint needs. */
export const PICKLE_LIMITS = {
  /** Items on the stack at once (SETITEMS of a dict puts all of its keys and values there). */
  maxStack: 4_000_000,
  /** MARKs open at once: containers nested this deep are not a weights file. */
  maxMarkDepth: 1_000,
  /** Distinct memo entries. */
  maxMemo: 4_000_000,
  /** Bytes in one LONG1 / LONG4 integer. */
  maxLongBytes: 1_024,
};

const OP_NAMES: Record<number, string> = {
  0x28: "MARK", 0x2e: "STOP", 0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x46: "FLOAT", 0x49: "INT", 0x4a: "BININT",
  0x4b: "BININT1", 0x4c: "LONG", 0x4d: "BININT2", 0x4e: "NONE", 0x50: "PERSID", 0x51: "BINPERSID", 0x52: "REDUCE",
  0x53: "STRING", 0x54: "BINSTRING", 0x55: "SHORT_BINSTRING", 0x56: "UNICODE", 0x58: "BINUNICODE", 0x61: "APPEND",
  0x62: "BUILD", 0x63: "GLOBAL", 0x64: "DICT", 0x7d: "EMPTY_DICT", 0x65: "APPENDS", 0x67: "GET", 0x68: "BINGET",
  0x69: "INST", 0x6a: "LONG_BINGET", 0x6c: "LIST", 0x5d: "EMPTY_LIST", 0x6f: "OBJ", 0x70: "PUT", 0x71: "BINPUT",
  0x72: "LONG_BINPUT", 0x73: "SETITEM", 0x74: "TUPLE", 0x29: "EMPTY_TUPLE", 0x75: "SETITEMS", 0x47: "BINFLOAT",
  0x80: "PROTO", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x85: "TUPLE1", 0x86: "TUPLE2",
  0x87: "TUPLE3", 0x88: "NEWTRUE", 0x89: "NEWFALSE", 0x8a: "LONG1", 0x8b: "LONG4", 0x42: "BINBYTES",
  0x43: "SHORT_BINBYTES", 0x8c: "SHORT_BINUNICODE", 0x8d: "BINUNICODE8", 0x8e: "BINBYTES8", 0x8f: "EMPTY_SET",
  0x90: "ADDITEMS", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX", 0x93: "STACK_GLOBAL", 0x94: "MEMOIZE", 0x95: "FRAME",
  0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
};

const MARK = Symbol("MARK");
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Runs one pickle that starts at `start` in `bytes` and returns the value
 * its STOP leaves, and the offset just past the STOP (torch's legacy format
 * puts several pickles one after another). `where` names the file in errors,
 * and `record` the zip entry the pickle came from, if any.
 */
export function unpickle(bytes: Uint8Array, start: number, hooks: UnpickleHooks, where: string, record = ""): { value: unknown; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: unknown[] = [];
  const marks: number[] = []; // stack heights at each open MARK
  const memo = new Map<number, unknown>();
  let pos = start;
  let opAt = start;

  const fail = (problem: string) => new ModelFileError(where, `${pickleAt(record, opAt)}: ${problem}`);
  const need = (n: number, what: string) => {
    if (!Number.isSafeInteger(n) || n < 0 || pos + n > bytes.length) {
      throw fail(`${what} needs ${n} bytes but only ${bytes.length - pos} remain (the file is truncated or damaged)`);
    }
  };
  const u8 = () => {
    need(1, "a 1-byte argument");
    return bytes[pos++];
  };
  const u16 = () => {
    need(2, "a 2-byte argument");
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = () => {
    need(4, "a 4-byte argument");
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (what: string) => {
    need(8, "an 8-byte argument");
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.length)) throw fail(`${what} claims ${v} bytes, more than the whole file holds`);
    return Number(v);
  };
  const take = (n: number, what: string) => {
    need(n, what);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const text = (n: number, what: string) => {
    const raw = take(n, what);
    try {
      return utf8.decode(raw);
    } catch {
      throw fail(`${what} is not valid UTF-8`);
    }
  };
  const line = (what: string) => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0 || end - pos > 1000) throw fail(`${what}: no newline-terminated name within 1000 bytes`);
    const s = text(end - pos, what);
    pos = end + 1;
    return s;
  };
  const push = (v: unknown) => {
    if (stack.length >= PICKLE_LIMITS.maxStack) throw fail(`the stack grew past ${PICKLE_LIMITS.maxStack} items; not a weights file`);
    stack.push(v);
  };
  const pop = (): unknown => {
    const floor = marks.length ? marks[marks.length - 1] : 0;
    if (stack.length <= floor) throw fail(`${OP_NAMES[bytes[opAt]]} pops from an empty stack (the pickle is damaged)`);
    return stack.pop();
  };
  const top = (): unknown => {
    const floor = marks.length ? marks[marks.length - 1] : 0;
    if (stack.length <= floor) throw fail(`${OP_NAMES[bytes[opAt]]} needs a value on the stack, but it is empty (the pickle is damaged)`);
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const height = marks.pop();
    if (height === undefined) throw fail(`${OP_NAMES[bytes[opAt]]} needs a MARK, but none is open (the pickle is damaged)`);
    return stack.splice(height);
  };
  const memoPut = (index: number) => {
    if (!memo.has(index) && memo.size >= PICKLE_LIMITS.maxMemo) throw fail(`more than ${PICKLE_LIMITS.maxMemo} memo entries`);
    memo.set(index, top());
  };
  const memoGet = (index: number) => {
    if (!memo.has(index)) throw fail(`memo index ${index} was never stored (a damaged pickle: it has ${memo.size} memo entries)`);
    push(memo.get(index));
  };
  const long = (raw: Uint8Array): number | bigint => {
    if (raw.length === 0) return 0;
    let v = 0n;
    for (let i = raw.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(raw[i]);
    if (raw[raw.length - 1] & 0x80) v -= 1n << BigInt(8 * raw.length); // two's complement
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const setItems = (dict: unknown, items: unknown[]) => {
    if (!(dict instanceof PyDict)) throw fail(`SETITEM(S) on ${describeValue(dict)}, not a dict`);
    if (items.length % 2) throw fail("SETITEMS with an odd number of items (a key without a value)");
    for (let i = 0; i < items.length; i += 2) dict.map.set(dictKey(items[i]), items[i + 1]);
  };
  const dictKey = (k: unknown) => {
    // Map compares objects by identity; Python compares tuples by value. Tuples
    // of primitives (rare as keys) are turned into a string to keep them distinct and equal.
    if (k instanceof PyTuple) return `(${k.items.map((x) => String(x)).join(", ")})`;
    return k;
  };

  for (;;) {
    opAt = pos;
    if (pos >= bytes.length) throw fail("the pickle ends before its STOP opcode (the file is truncated)");
    const op = bytes[pos++];
    switch (op) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > 5) throw fail(`pickle protocol ${v} is newer than 5, the highest this reader knows`);
        break;
      }
      case 0x95: { // FRAME: a length prefix for buffering; the opcodes inside are read as usual
        const n = u64("FRAME");
        need(n, "FRAME");
        break;
      }
      case 0x2e: { // STOP
        if (marks.length) throw fail("STOP with a MARK still open (the pickle is damaged)");
        if (stack.length !== 1) throw fail(`STOP with ${stack.length} values on the stack instead of 1 (the pickle is damaged)`);
        return { value: stack[0], end: pos };
      }
      case 0x28: // MARK
        if (marks.length >= PICKLE_LIMITS.maxMarkDepth) throw fail(`more than ${PICKLE_LIMITS.maxMarkDepth} nested MARKs; not a weights file`);
        marks.push(stack.length);
        break;
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: { // BININT: signed 32-bit
        need(4, "BININT");
        push(view.getInt32(pos, true));
        pos += 4;
        break;
      }
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: { // LONG1
        const n = u8();
        push(long(take(n, "LONG1")));
        break;
      }
      case 0x8b: { // LONG4
        const n = u32();
        if (n > PICKLE_LIMITS.maxLongBytes) throw fail(`LONG4 integer of ${n} bytes; a checkpoint has no use for integers that large`);
        push(long(take(n, "LONG4")));
        break;
      }
      case 0x47: { // BINFLOAT: big-endian double
        need(8, "BINFLOAT");
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x58: push(text(u32(), "BINUNICODE string")); break;
      case 0x8c: push(text(u8(), "SHORT_BINUNICODE string")); break;
      case 0x8d: push(text(u64("BINUNICODE8"), "BINUNICODE8 string")); break;
      // Python 2 str: bytes, read as Latin-1 text as torch's loader does for ASCII keys.
      case 0x55: push(latin1(take(u8(), "SHORT_BINSTRING"))); break;
      case 0x54: {
        need(4, "BINSTRING");
        const n = view.getInt32(pos, true);
        pos += 4;
        push(latin1(take(n, "BINSTRING")));
        break;
      }
      case 0x42: push(new PyBytes(take(u32(), "BINBYTES").slice())); break;
      case 0x43: push(new PyBytes(take(u8(), "SHORT_BINBYTES").slice())); break;
      case 0x8e: push(new PyBytes(take(u64("BINBYTES8"), "BINBYTES8").slice())); break;
      case 0x96: push(new PyBytes(take(u64("BYTEARRAY8"), "BYTEARRAY8").slice())); break;
      case 0x29: push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x85: push(new PyTuple([pop()])); break; // TUPLE1
      case 0x86: { // TUPLE2
        const b = pop();
        push(new PyTuple([pop(), b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        push(new PyTuple([pop(), b, c]));
        break;
      }
      case 0x74: push(new PyTuple(popMark())); break; // TUPLE
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x6c: push(popMark()); break; // LIST
      case 0x7d: push(new PyDict()); break; // EMPTY_DICT
      case 0x64: { // DICT
        const d = new PyDict();
        setItems(d, popMark());
        push(d);
        break;
      }
      case 0x8f: push(new PySet([])); break; // EMPTY_SET
      case 0x91: push(new PySet(popMark())); break; // FROZENSET
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof PySet)) throw fail(`ADDITEMS on ${describeValue(s)}, not a set`);
        for (const item of items) s.items.push(item); // not push(...items): a long spread overflows the call stack
        break;
      }
      case 0x61: { // APPEND
        const item = pop();
        const list = top();
        if (!Array.isArray(list)) throw fail(`APPEND to ${describeValue(list)}, not a list`);
        list.push(item);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) throw fail(`APPENDS to ${describeValue(list)}, not a list`);
        for (const item of items) list.push(item);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x68: memoGet(u8()); break; // BINGET
      case 0x6a: memoGet(u32()); break; // LONG_BINGET
      case 0x71: memoPut(u8()); break; // BINPUT
      case 0x72: memoPut(u32()); break; // LONG_BINPUT
      case 0x94: memoPut(memo.size); break; // MEMOIZE: the next index
      case 0x63: { // GLOBAL "module\nname\n"
        const module = line("GLOBAL module");
        const name = line("GLOBAL name");
        push(hooks.findGlobal(module, name, opAt));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") throw fail("STACK_GLOBAL needs two strings (module, name) on the stack");
        push(hooks.findGlobal(module, name, opAt));
        break;
      }
      case 0x52: { // REDUCE: callable(*args)
        const args = pop();
        const callable = pop();
        if (!(args instanceof PyTuple)) throw fail(`REDUCE needs a tuple of arguments, found ${describeValue(args)}`);
        push(hooks.call(callable, args.items, opAt));
        break;
      }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args)
        const args = pop();
        const cls = pop();
        if (!(args instanceof PyTuple)) throw fail(`NEWOBJ needs a tuple of arguments, found ${describeValue(args)}`);
        push(hooks.call(cls, args.items, opAt));
        break;
      }
      case 0x62: { // BUILD: inst.__setstate__(state)
        const state = pop();
        const inst = pop();
        push(hooks.build(inst, state, opAt));
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        push(hooks.persistentLoad(pid, opAt));
        break;
      }
      default: {
        const name = OP_NAMES[op];
        throw fail(
          name
            ? `opcode ${name} (0x${op.toString(16)}) is not accepted: torch.save never writes it, and this reader only reads binary pickles of tensors and plain containers`
            : `unknown opcode 0x${op.toString(16).padStart(2, "0")}: not a pickle, or a damaged one`,
        );
      }
    }
  }
}

/** Where in a file an error is: "pickle offset N", after the zip entry's name if there is one. */
export function pickleAt(record: string, offset: number): string {
  return `${record ? `${record}, ` : ""}pickle offset ${offset}`;
}

function latin1(raw: Uint8Array): string {
  let s = "";
  for (let i = 0; i < raw.length; i++) s += String.fromCharCode(raw[i]);
  return s;
}

/** A short description of a value for error messages. */
export function describeValue(v: unknown): string {
  if (v === null) return "None";
  if (v instanceof PyGlobal) return `global ${v.fullName}`;
  if (v instanceof PyTuple) return `a tuple of ${v.items.length}`;
  if (v instanceof PyDict) return `a dict of ${v.map.size}`;
  if (v instanceof PyBytes) return `${v.data.length} bytes`;
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "object") return `a ${(v as object).constructor?.name ?? "value"}`;
  return String(v);
}
