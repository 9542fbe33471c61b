/**
 * `torch.save` files read without Python: the zip format (PyTorch ≥ 1.6:
 * `<prefix>/data.pkl` + `<prefix>/data/<key>` storages, HF `pytorch_model.bin`)
 * and the legacy stream (magic, protocol, sys info, the pickle, its storage
 * keys, then each storage's raw bytes). Tensors are rebuilt from storage,
 * offset, size and stride, so views and tied weights sharing a storage come
 * out with their own values; only state-dict globals are allowed (pickle.ts).
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { CheckpointError } from "../../errors.ts";
import { DTYPE_SIZES, type StDtype, type StoredTensor, torchSaveKind } from "../safetensors.ts";
import { latin1Encode, PyCallable, PyDict, PyObject, PyTuple, type PyValue, unpickle } from "./pickle.ts";
import { readZipEntry, zipEntries } from "./zip.ts";

const STORAGE_DTYPES: Record<string, StDtype> = {
  FloatStorage: "F32",
  DoubleStorage: "F64",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
};

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

interface Storage {
  dtype: StDtype;
  /** elements */
  numel: number;
  /** filled when the bytes are read (legacy files: after the pickle) */
  bytes: Uint8Array | null;
  key: string;
}

interface StorageView {
  root: Storage;
  /** element offset into the root */
  offset: number;
  numel: number;
}

interface TensorSpec {
  view: StorageView;
  offset: number;
  size: number[];
  stride: number[];
}

export interface TorchFileContent {
  /** the unpickled object; tensors are `PyObject("tensor", …)` */
  root: PyValue;
  format: "zip" | "legacy";
}

const ints = (v: PyValue, what: string, source: string): number[] => {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : null;
  if (!items?.every((x) => typeof x === "number" && Number.isInteger(x) && x >= 0))
    throw new CheckpointError(`${source}: a tensor's ${what} is not a tuple of non-negative integers`, source);
  return items as number[];
};

function storageDtype(t: PyValue, source: string): StDtype {
  const name = t instanceof PyCallable ? t.name.replace(/^torch\./, "") : "";
  const dtype = STORAGE_DTYPES[name];
  if (!dtype) throw new CheckpointError(`${source}: storage type ${t instanceof PyCallable ? t.name : String(t)} is not supported`, source);
  return dtype;
}

/** The globals a state dict needs; everything else is refused by name. */
function stateDictGlobals(source: string): Map<string, PyCallable> {
  const g = new Map<string, PyCallable>();
  const add = (name: string, call: (args: PyValue[]) => PyValue) => g.set(name, new PyCallable(name, call));
  for (const s of Object.keys(STORAGE_DTYPES)) {
    add(`torch.${s}`, () => {
      throw new CheckpointError(`${source}: torch.${s} called directly: not a state dict`, source);
    });
  }
  const rebuild = (args: PyValue[]): PyValue => {
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof PyObject) || storage.kind !== "storage")
      throw new CheckpointError(`${source}: a tensor rebuilt from something that is not a storage`, source);
    if (typeof offset !== "number") throw new CheckpointError(`${source}: a tensor's storage offset is not an integer`, source);
    const spec: TensorSpec = { view: storage.value as StorageView, offset, size: ints(size, "size", source), stride: ints(stride, "stride", source) };
    if (spec.size.length !== spec.stride.length) throw new CheckpointError(`${source}: a tensor's size and stride differ in length`, source);
    return new PyObject("tensor", spec);
  };
  add("torch._utils._rebuild_tensor_v2", rebuild);
  add("torch._utils._rebuild_tensor", rebuild);
  add("torch._utils._rebuild_parameter", (args) => args[0]);
  add("torch._utils._rebuild_parameter_with_state", (args) => args[0]);
  add("collections.OrderedDict", (args) => {
    const d = new PyDict();
    const pairs = args[0];
    if (Array.isArray(pairs)) {
      for (const p of pairs) if (p instanceof PyTuple && p.items.length === 2 && typeof p.items[0] === "string") d.entries.set(p.items[0], p.items[1]);
    }
    return d;
  });
  g.set("_codecs.encode", latin1Encode(source));
  return g;
}

/** ('storage', type, key, location, numel[, view_metadata]) → a storage view, made once per key. */
function storageLoader(source: string, fetch: ((s: Storage) => Uint8Array) | null) {
  const roots = new Map<string, Storage>();
  const views = new Map<string, StorageView>();
  const load = (id: PyValue): PyValue => {
    if (!(id instanceof PyTuple) || id.items[0] !== "storage") throw new CheckpointError(`${source}: a persistent id that is not a storage`, source);
    const [, type, key, , numel, viewMeta] = id.items;
    if (typeof key !== "string" || typeof numel !== "number") throw new CheckpointError(`${source}: a storage id without key and size`, source);
    let root = roots.get(key);
    if (!root) {
      root = { dtype: storageDtype(type, source), numel, bytes: null, key };
      if (fetch) root.bytes = fetch(root);
      roots.set(key, root);
    }
    let view: StorageView = { root, offset: 0, numel: root.numel };
    if (viewMeta instanceof PyTuple) {
      const [vk, off, n] = viewMeta.items;
      if (typeof vk !== "string" || typeof off !== "number" || typeof n !== "number") throw new CheckpointError(`${source}: corrupt storage view`, source);
      view = views.get(vk) ?? { root, offset: off, numel: n };
      views.set(vk, view);
    }
    return new PyObject("storage", view);
  };
  return { load, roots };
}

/** A tensor's values as a contiguous row-major StoredTensor (a view of the storage when already contiguous). */
export function materialiseTensor(t: PyObject, name: string, source: string): StoredTensor {
  const spec = t.value as TensorSpec;
  const { root } = spec.view;
  if (!root.bytes) throw new CheckpointError(`${source}: ${name}: storage ${root.key} has no data`, source);
  const es = DTYPE_SIZES[root.dtype];
  const numel = spec.size.reduce((a, b) => a * b, 1);
  const base = spec.view.offset + spec.offset;
  const last = numel === 0 ? base - 1 : base + spec.size.reduce((a, d, i) => a + (d - 1) * spec.stride[i], 0);
  const available = Math.min(spec.view.numel, root.bytes.length / es - spec.view.offset);
  if (last - spec.view.offset >= available)
    throw new CheckpointError(
      `${source}: ${name}: shape [${spec.size}] at offset ${spec.offset} needs ${last - spec.view.offset + 1} elements, its storage ${root.key} has ${available}: truncated or corrupt`,
      source,
    );
  let contiguous = true;
  for (let i = spec.size.length - 1, expect = 1; i >= 0; i--) {
    if (spec.size[i] !== 1 && spec.stride[i] !== expect) contiguous = false;
    expect *= spec.size[i];
  }
  if (contiguous) return { dtype: root.dtype, shape: spec.size, data: root.bytes.subarray(base * es, (base + numel) * es) };
  const out = new Uint8Array(numel * es);
  // copy runs: whole rows when the last dimension is contiguous (a slice), else element by element (a transpose)
  const dims = spec.size.length;
  const run = dims > 0 && spec.stride[dims - 1] === 1 ? spec.size[dims - 1] : 1;
  const outer = dims > 0 && run > 1 ? dims - 1 : dims;
  const idx = new Array(outer).fill(0);
  for (let k = 0; k < numel; k += run) {
    let src = base;
    for (let i = 0; i < outer; i++) src += idx[i] * spec.stride[i];
    out.set(root.bytes.subarray(src * es, (src + run) * es), k * es);
    for (let i = outer - 1; i >= 0; i--) {
      if (++idx[i] < spec.size[i]) break;
      idx[i] = 0;
    }
  }
  return { dtype: root.dtype, shape: spec.size, data: out };
}

function readZipTorch(file: string): TorchFileContent {
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    const entries = zipEntries(fd, size, file);
    const pkl = [...entries.keys()].find((n) => n.endsWith("data.pkl") && n.split("/").length === 2);
    if (!pkl) throw new CheckpointError(`${file}: a zip archive without <prefix>/data.pkl: not a torch.save file`, file);
    const prefix = pkl.slice(0, -"data.pkl".length);
    const order = entries.get(`${prefix}byteorder`);
    if (order && new TextDecoder().decode(readZipEntry(fd, size, order, file)).trim() !== "little")
      throw new CheckpointError(`${file}: big-endian storages are not supported`, file);
    const { load } = storageLoader(file, (s) => {
      const entry = entries.get(`${prefix}data/${s.key}`);
      if (!entry) throw new CheckpointError(`${file}: storage ${s.key} is missing from the archive (${prefix}data/${s.key}): truncated or corrupt`, file);
      const bytes = readZipEntry(fd, size, entry, file);
      if (bytes.length < s.numel * DTYPE_SIZES[s.dtype])
        throw new CheckpointError(
          `${file}: storage ${s.key} has ${bytes.length} bytes, its ${s.numel} ${s.dtype} elements need ${s.numel * DTYPE_SIZES[s.dtype]}`,
          file,
        );
      return bytes;
    });
    const data = readZipEntry(fd, size, entries.get(pkl)!, file);
    const { value } = unpickle(data, { globals: stateDictGlobals(file), persistentLoad: load, source: `${file}:${pkl}` });
    return { root: value, format: "zip" };
  } finally {
    closeSync(fd);
  }
}

function readLegacyTorch(file: string): TorchFileContent {
  // the file's own buffer (a Buffer is a Uint8Array): wrapping it in a new Uint8Array would copy it
  const buf = readFileSync(file);
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const globals = stateDictGlobals(file);
  const plain = { globals, source: file };
  const magic = unpickle(bytes, plain);
  if (magic.value !== LEGACY_MAGIC && magic.value !== Number(LEGACY_MAGIC))
    throw new CheckpointError(`${file}: a pickle stream, but not torch.save's (magic number missing): not a PyTorch checkpoint`, file);
  const proto = unpickle(bytes, plain, magic.end);
  if (proto.value !== 1001) throw new CheckpointError(`${file}: torch.save protocol ${String(proto.value)}, expected 1001`, file);
  const sysInfo = unpickle(bytes, plain, proto.end);
  const { load, roots } = storageLoader(file, null);
  const main = unpickle(bytes, { globals, persistentLoad: load, source: file }, sysInfo.end);
  const keys = unpickle(bytes, plain, main.end);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === "string")) throw new CheckpointError(`${file}: corrupt storage key list`, file);
  let pos = keys.end;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys.value as string[]) {
    const s = roots.get(key);
    if (!s) throw new CheckpointError(`${file}: storage ${key} is listed but no tensor uses it: corrupt`, file);
    if (pos + 8 > bytes.length) throw new CheckpointError(`${file}: truncated before storage ${key}`, file);
    const n = Number(view.getBigInt64(pos, true));
    const len = n * DTYPE_SIZES[s.dtype];
    if (pos + 8 + len > bytes.length)
      throw new CheckpointError(`${file}: storage ${key} needs ${len} bytes at ${pos + 8}, the file has ${bytes.length - pos - 8}: truncated`, file);
    s.bytes = bytes.subarray(pos + 8, pos + 8 + len);
    pos += 8 + len;
  }
  return { root: main.value, format: "legacy" };
}

/** A torch.save file; `kind` when the caller has already looked at its first bytes (`torchSaveKind`). */
export function readTorchFile(file: string, kind?: "zip" | "legacy"): TorchFileContent {
  if (!kind) {
    const fd = openSync(file, "r");
    const head = new Uint8Array(4);
    try {
      readSync(fd, head, 0, 4, 0);
    } finally {
      closeSync(fd);
    }
    kind = torchSaveKind(head) ?? undefined;
  }
  if (kind === "zip") return readZipTorch(file);
  if (kind === "legacy") return readLegacyTorch(file);
  throw new CheckpointError(`${file}: neither a torch.save zip archive nor a pickle stream`, file);
}
