/**
 * A restricted unpickler: the pickle opcodes `torch.save` writes (protocols
 * 2–5) over a value model of scalars, strings, bytes, lists, tuples and dicts.
 * A GLOBAL is resolved only through the caller's allow-list, by name; any other
 * global is refused on sight — before REDUCE could call it — so a malicious
 * file (`os.system`, `builtins.eval`, `subprocess.Popen`) executes nothing.
 */
import { CheckpointError } from "../../errors.ts";

/** A Python tuple (kept apart from lists: `_rebuild_tensor_v2`'s size and stride are tuples). */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A Python dict; keys are strings, numbers or tuples rendered as strings. */
export class PyDict {
  readonly entries = new Map<string | number | bigint | boolean | null, PyValue>();
}

/** A value an allow-listed global made (a tensor, a storage): opaque to the unpickler. */
export class PyObject {
  constructor(
    readonly kind: string,
    readonly value: unknown,
  ) {}
}

export type PyValue = null | boolean | number | bigint | string | Uint8Array | PyValue[] | PyTuple | PyDict | PyObject | PyCallable;

/** An allow-listed global: called by REDUCE / NEWOBJ with its arguments. */
export class PyCallable {
  constructor(
    readonly name: string,
    readonly call: (args: PyValue[]) => PyValue,
  ) {}
}

export interface UnpickleOptions {
  /** `module.name` → what it stands for; every other global is refused */
  globals: ReadonlyMap<string, PyCallable>;
  /** BINPERSID / PERSID: the id (usually a tuple) → the object it names */
  persistentLoad?: (id: PyValue) => PyValue;
  /** the file, for errors */
  source: string;
  /** what a refused global is told the reader takes (default: a PyTorch file's tensors) */
  refusal?: string;
}

/** `_codecs.encode(s, "latin1")`: how protocol-2 pickles written by Python 3 store bytes. */
export function latin1Encode(source: string): PyCallable {
  return new PyCallable("_codecs.encode", (args) => {
    const [s, enc] = args;
    if (typeof s !== "string" || (enc !== "latin1" && enc !== "latin-1"))
      throw new CheckpointError(`${source}: _codecs.encode other than latin1 bytes`, source);
    return Uint8Array.from(s, (c) => c.charCodeAt(0));
  });
}

/** Protocol-2 pickles name some Python 3 modules by their Python 2 names. */
const PY2_MODULES: Record<string, string> = { __builtin__: "builtins", copy_reg: "copyreg", commands: "subprocess" };

class MarkT {}
const MARK = new MarkT();
type StackItem = PyValue | MarkT;

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Unpickle one object from `bytes` starting at `offset`; returns it and where its STOP ended. */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions, offset = 0): { value: PyValue; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (msg: string, at = pos) => new CheckpointError(`${opts.source}: pickle at byte ${at}: ${msg}`, opts.source);
  let pos = offset;
  const stack: StackItem[] = [];
  const memo = new Map<number, PyValue>();
  const need = (n: number) => {
    if (pos + n > bytes.length) throw fail(`truncated: needs ${n} more bytes, the data ends at ${bytes.length}`);
  };
  const advance = (n: number) => {
    need(n);
    pos += n;
    return pos - n;
  };
  const u8 = () => bytes[advance(1)];
  const u16 = () => view.getUint16(advance(2), true);
  const u32 = () => view.getUint32(advance(4), true);
  const i32 = () => view.getInt32(advance(4), true);
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`length ${v} is implausible`);
    return Number(v);
  };
  const take = (n: number) => {
    const at = advance(n);
    return bytes.subarray(at, at + n);
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw fail("truncated: a text argument has no newline");
    const s = new TextDecoder().decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const utf8 = (b: Uint8Array) => {
    try {
      return decoder.decode(b);
    } catch {
      throw fail("a string is not valid UTF-8");
    }
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined) throw fail("stack underflow: corrupt pickle");
    if (v instanceof MarkT) throw fail("unexpected MARK: corrupt pickle");
    return v;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v instanceof MarkT) throw fail("stack underflow: corrupt pickle");
    return v;
  };
  const popMark = (): PyValue[] => {
    let k = stack.length - 1;
    while (k >= 0 && !(stack[k] instanceof MarkT)) k--;
    if (k < 0) throw fail("no MARK on the stack: corrupt pickle");
    const items = stack.splice(k + 1) as PyValue[];
    stack.pop();
    return items;
  };
  const resolveGlobal = (module: string, name: string): PyCallable => {
    const full = `${module}.${name}`;
    const g = opts.globals.get(full);
    if (!g) {
      const py3 = PY2_MODULES[module];
      throw new CheckpointError(
        `${opts.source}: refuses the pickled global ${full}${py3 ? ` (Python 3: ${py3}.${name})` : ""} (at byte ${pos}): ` +
          (opts.refusal ??
            "polyalign reads only tensors, dicts, lists and scalars from PyTorch files and executes nothing; if the file is trusted, re-save its state dict with safetensors"),
        opts.source,
      );
    }
    return g;
  };
  const dictKey = (k: PyValue): string | number | bigint | boolean | null => {
    if (k === null || typeof k === "string" || typeof k === "number" || typeof k === "bigint" || typeof k === "boolean") return k;
    if (k instanceof PyTuple) return JSON.stringify(k.items.map((x) => (typeof x === "bigint" ? String(x) : x)));
    throw fail("a dict key that is not a string, number or tuple");
  };
  const setItems = (target: PyValue, kv: PyValue[]) => {
    if (!(target instanceof PyDict)) throw fail("SETITEM(S) on something that is not a dict");
    if (kv.length % 2 !== 0) throw fail("SETITEMS with an odd number of items");
    for (let i = 0; i < kv.length; i += 2) target.entries.set(dictKey(kv[i]), kv[i + 1]);
  };
  const call = (fn: PyValue, args: PyValue): PyValue => {
    if (!(fn instanceof PyCallable)) throw fail("REDUCE on something that is not an allowed global");
    if (!(args instanceof PyTuple)) throw fail(`REDUCE ${fn.name}: arguments are not a tuple`);
    return fn.call(args.items);
  };

  for (;;) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw fail("pickle protocol above 5", at);
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        return { value: pop(), end: pos };
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x8a: {
        // LONG1: little-endian two's complement
        const b = take(u8());
        let v = 0n;
        for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (b.length > 0 && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x49: {
        // INT (text): also True/False as "01"/"00"
        const s = line();
        stack.push(s === "01" ? true : s === "00" ? false : Number.parseInt(s, 10));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(Number.parseInt(line().replace(/L$/, ""), 10));
        break;
      case 0x47: // BINFLOAT, big-endian
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x46: // FLOAT (text)
        stack.push(Number.parseFloat(line()));
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(take(u64())));
        break;
      case 0x55: // SHORT_BINSTRING (py2 str): latin-1
        stack.push(String.fromCharCode(...take(u8())));
        break;
      case 0x54: // BINSTRING
        stack.push(String.fromCharCode(...take(u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x8e: // BINBYTES8
        stack.push(take(u64()).slice());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(new PyTuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(new PyTuple([pop(), b, c]));
        break;
      }
      case 0x64: {
        // DICT
        const d = new PyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const list = top();
        if (!Array.isArray(list)) throw fail("APPEND to something that is not a list", at);
        list.push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) throw fail("APPENDS to something that is not a list", at);
        list.push(...items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const kv = popMark();
        setItems(top(), kv);
        break;
      }
      case 0x30: // POP
        if (stack.pop() === undefined) throw fail("POP on an empty stack", at);
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x70: // PUT (text)
        memo.set(Number.parseInt(line(), 10), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68:
      case 0x6a:
      case 0x67: {
        // BINGET, LONG_BINGET, GET
        const k = op === 0x68 ? u8() : op === 0x6a ? u32() : Number.parseInt(line(), 10);
        if (!memo.has(k)) throw fail(`memo entry ${k} was never stored: corrupt pickle`, at);
        stack.push(memo.get(k) as PyValue);
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        stack.push(resolveGlobal(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") throw fail("STACK_GLOBAL needs two strings", at);
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x62: {
        // BUILD: the instance state a state dict's objects carry (OrderedDict's `_metadata`, a tensor's
        // or Parameter's attributes) does not change their tensors, and is dropped
        pop();
        const target = top();
        if (!(target instanceof PyObject || target instanceof PyDict)) throw fail("BUILD on a value no allowed global made", at);
        break;
      }
      case 0x51: {
        // BINPERSID
        if (!opts.persistentLoad) throw fail("a persistent id, but this file format has none", at);
        stack.push(opts.persistentLoad(pop()));
        break;
      }
      default:
        throw fail(`opcode 0x${op.toString(16).padStart(2, "0")} is not one a state dict needs (or the data is corrupt)`, at);
    }
  }
}
