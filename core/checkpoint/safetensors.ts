/**
 * safetensors: 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__: {..}}`,
 * then the raw little-endian data. Reading checks every offset and size, so a
 * truncated or corrupt file gets an error naming the file and the tensor.
 */
import { closeSync, openSync, readSync, fstatSync } from "node:fs";
import { CheckpointError } from "../errors.ts";
import { writeFileAtomic } from "../util/atomic-file.ts";
import { bf16ToFloat, floatToBf16, floatToHalf, halfToFloat } from "./dtype.ts";

export const DTYPE_SIZES = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 } as const;
export type StDtype = keyof typeof DTYPE_SIZES;

export interface StoredTensor {
  dtype: StDtype;
  shape: number[];
  /** raw little-endian bytes (may be a view into the file's buffer) */
  data: Uint8Array;
}

export interface SafetensorsContent {
  tensors: Map<string, StoredTensor>;
  metadata: Record<string, string>;
}

const MAX_HEADER = 100 * 1024 * 1024;

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** torch.save's formats by their first bytes: a zip archive (PyTorch ≥ 1.6) or a bare pickle stream (older). */
export function torchSaveKind(bytes: Uint8Array): "zip" | "legacy" | null {
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return "zip";
  if (bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5) return "legacy";
  return null;
}

function pytorchFormat(bytes: Uint8Array): string | null {
  const kind = torchSaveKind(bytes);
  return kind === "zip" ? "zip archive, torch.save of PyTorch 1.6+" : kind === "legacy" ? "pickle stream, torch.save before PyTorch 1.6" : null;
}

export function parseSafetensors(bytes: Uint8Array, source = "(buffer)"): SafetensorsContent {
  const fail = (msg: string) => new CheckpointError(`${source}: ${msg}`, source);
  if (bytes.length < 8) throw fail(`too short (${bytes.length} bytes) to be a safetensors file: truncated or not safetensors`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  // a safetensors header is a JSON object right after its length; anything else may be a PyTorch file
  const pytorch = n > BigInt(MAX_HEADER) || bytes[8] !== 0x7b ? pytorchFormat(bytes) : null;
  if (pytorch) {
    throw fail(
      `a PyTorch checkpoint (${pytorch}), not safetensors, where safetensors is expected; task.init and ` +
        `\`polyalign checkpoint inspect\` read it as it is, or convert it once: polyalign checkpoint convert ${source} --out OUT.safetensors`,
    );
  }
  if (n > BigInt(MAX_HEADER)) throw fail(`header length ${n} is implausible: not a safetensors file or corrupt`);
  const headerLen = Number(n);
  if (8 + headerLen > bytes.length) {
    throw fail(`truncated: the header needs ${headerLen} bytes but the file has ${bytes.length - 8} after the length field`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw fail(`corrupt header (not valid UTF-8 JSON): ${(e as Error).message}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) throw fail("corrupt header: not a JSON object");
  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const tensors = new Map<string, StoredTensor>();
  let metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (entry === null || typeof entry !== "object" || Object.values(entry).some((v) => typeof v !== "string")) {
        throw fail("__metadata__ must map strings to strings");
      }
      metadata = { ...(entry as Record<string, string>) };
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e?.dtype !== "string" || !(e.dtype in DTYPE_SIZES)) {
      throw fail(`tensor "${name}": unsupported dtype ${JSON.stringify(e?.dtype)} (supported: ${Object.keys(DTYPE_SIZES).join(", ")})`);
    }
    const dtype = e.dtype as StDtype;
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw fail(`tensor "${name}": bad shape ${JSON.stringify(e.shape)}`);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isInteger(x) && x >= 0) || off[0] > off[1]) {
      throw fail(`tensor "${name}": bad data_offsets ${JSON.stringify(off)}`);
    }
    const [b, end] = off as [number, number];
    const shape = e.shape as number[];
    const want = numel(shape) * DTYPE_SIZES[dtype];
    if (end - b !== want) {
      throw fail(`tensor "${name}": ${dtype}[${shape.join(",")}] needs ${want} bytes but data_offsets span ${end - b}`);
    }
    if (end > dataLen) {
      throw fail(`truncated: tensor "${name}" needs bytes [${b}, ${end}) of the data section, which has only ${dataLen}`);
    }
    spans.push([b, end, name]);
    tensors.set(name, { dtype, shape, data: bytes.subarray(dataStart + b, dataStart + end) });
  }
  spans.sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i][0] < spans[i - 1][1]) throw fail(`corrupt: tensors "${spans[i - 1][2]}" and "${spans[i][2]}" overlap`);
  }
  return { tensors, metadata };
}

export function readSafetensors(file: string): SafetensorsContent {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (e) {
    throw new CheckpointError(`cannot open checkpoint ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, file);
  }
  try {
    const size = fstatSync(fd).size;
    const buf = new Uint8Array(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return parseSafetensors(buf.subarray(0, off), file);
  } finally {
    closeSync(fd);
  }
}

/** The file as a sequence of chunks: length, header, then each tensor's bytes. */
export function* serializeSafetensors(tensors: Iterable<[string, StoredTensor]>, metadata: Record<string, string> = {}): Generator<Uint8Array> {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const list: [string, StoredTensor][] = [];
  let off = 0;
  for (const [name, t] of tensors) {
    if (name === "__metadata__" || name in header) throw new CheckpointError(`duplicate or reserved tensor name "${name}"`);
    const want = numel(t.shape) * DTYPE_SIZES[t.dtype];
    if (t.data.byteLength !== want) {
      throw new CheckpointError(`tensor "${name}": ${t.dtype}[${t.shape.join(",")}] needs ${want} bytes, got ${t.data.byteLength}`);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + want] };
    off += want;
    list.push([name, t]);
  }
  let json = JSON.stringify(header);
  const pad = (8 - (Buffer.byteLength(json) % 8)) % 8;
  json += " ".repeat(pad);
  const headerBytes = Buffer.from(json, "utf8");
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  yield len;
  yield headerBytes;
  for (const [, t] of list) yield t.data;
}

export function writeSafetensors(file: string, tensors: Iterable<[string, StoredTensor]>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(file, serializeSafetensors(tensors, metadata));
}

// ---- typed conversions --------------------------------------------------------

function viewOf<T>(t: StoredTensor, Ctor: new (b: ArrayBuffer, o: number, n: number) => T): T {
  const bytes = t.data.byteOffset % 8 === 0 ? t.data : t.data.slice();
  return new Ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / DTYPE_SIZES[t.dtype]);
}

export function toFloat32(t: StoredTensor, name = "tensor"): Float32Array {
  switch (t.dtype) {
    case "F32":
      return viewOf(t, Float32Array).slice();
    case "F64":
      return Float32Array.from(viewOf(t, Float64Array));
    case "F16":
      return Float32Array.from(viewOf(t, Uint16Array), halfToFloat);
    case "BF16":
      return Float32Array.from(viewOf(t, Uint16Array), bf16ToFloat);
    case "I32":
      return Float32Array.from(viewOf(t, Int32Array));
    case "I64":
      return Float32Array.from(viewOf(t, BigInt64Array), (v) => Number(v));
    case "I16":
      return Float32Array.from(viewOf(t, Int16Array));
    case "I8":
      return Float32Array.from(viewOf(t, Int8Array));
    case "U8":
    case "BOOL":
      return Float32Array.from(t.data);
  }
  throw new CheckpointError(`${name}: cannot convert ${String(t.dtype)} to float32`);
}

/** Integer tensors as int32 (tfjs has no int64); values outside int32 are an error. */
export function toInt32(t: StoredTensor, name = "tensor"): Int32Array {
  switch (t.dtype) {
    case "I32":
      return viewOf(t, Int32Array).slice();
    case "I64": {
      const src = viewOf(t, BigInt64Array);
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i];
        if (v > 2147483647n || v < -2147483648n) throw new CheckpointError(`${name}: int64 value ${v} does not fit int32`);
        out[i] = Number(v);
      }
      return out;
    }
    case "I16":
      return Int32Array.from(viewOf(t, Int16Array));
    case "I8":
      return Int32Array.from(viewOf(t, Int8Array));
    case "U8":
    case "BOOL":
      return Int32Array.from(t.data);
    default: {
      const f = toFloat32(t, name);
      const out = new Int32Array(f.length);
      for (let i = 0; i < f.length; i++) {
        if (!Number.isInteger(f[i])) throw new CheckpointError(`${name}: ${t.dtype} value ${f[i]} is not an integer`);
        out[i] = f[i];
      }
      return out;
    }
  }
}

export function fromFloat32(values: Float32Array, shape: number[], dtype: "F32" | "F16" | "BF16" | "F64" = "F32"): StoredTensor {
  if (values.length !== numel(shape)) throw new CheckpointError(`${values.length} values do not fill shape [${shape.join(",")}]`);
  let data: Uint8Array;
  if (dtype === "F32") data = new Uint8Array(values.slice().buffer);
  else if (dtype === "F64") data = new Uint8Array(Float64Array.from(values).buffer);
  else {
    const conv = dtype === "F16" ? floatToHalf : floatToBf16;
    data = new Uint8Array(Uint16Array.from(values, conv).buffer);
  }
  return { dtype, shape: [...shape], data };
}

export function fromInt(values: Int32Array | BigInt64Array, shape: number[], dtype: "I32" | "I64" = "I32"): StoredTensor {
  if (values.length !== numel(shape)) throw new CheckpointError(`${values.length} values do not fill shape [${shape.join(",")}]`);
  let data: Uint8Array;
  if (dtype === "I32") {
    data = new Uint8Array((values instanceof BigInt64Array ? Int32Array.from(values, (v) => Number(v)) : values.slice()).buffer);
  } else {
    data = new Uint8Array((values instanceof BigInt64Array ? values.slice() : BigInt64Array.from(values, (v) => BigInt(v))).buffer);
  }
  return { dtype, shape: [...shape], data };
}
