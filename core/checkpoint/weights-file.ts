/**
 * Any weights file polyalign reads, as one name → tensor map: safetensors,
 * `torch.save` files (zip or legacy; `.pth`, `.pt`, `.bin`), and HF's sharded
 * layouts (`model.safetensors.index.json`, `pytorch_model.bin.index.json`).
 * A torch file's state dict is found under `key` when given, else at the top
 * level or inside the usual wrappers (`{model: …}`, `{state_dict: …}`, …).
 */
import { closeSync, existsSync, openSync, readFileSync, readSync } from "node:fs";
import { dirname, join } from "node:path";
import { CheckpointError } from "../errors.ts";
import { PyDict, PyObject, type PyValue } from "./pytorch/pickle.ts";
import { materialiseTensor, readTorchFile } from "./pytorch/torch-file.ts";
import { readSafetensors, type StoredTensor, torchSaveKind } from "./safetensors.ts";

/** Top-level keys that wrap a state dict, tried in this order. */
export const STATE_DICT_WRAPPERS = ["model", "state_dict", "module", "model_state_dict", "net"] as const;

export interface WeightsFile {
  tensors: Map<string, StoredTensor>;
  format: "safetensors" | "torch zip" | "torch legacy" | "sharded index";
  /** the wrapper key the state dict came from (torch files), or null */
  key: string | null;
  metadata: Record<string, string>;
}

export interface ReadWeightsOptions {
  /** the top-level key holding the state dict (`model` for ALBEF's checkpoints); default: detected */
  key?: string;
}

const isTensor = (v: PyValue | undefined): v is PyObject => v instanceof PyObject && v.kind === "tensor";

function stateDictOf(root: PyValue, file: string, key: string | undefined): { dict: PyDict; key: string | null } {
  if (!(root instanceof PyDict)) throw new CheckpointError(`${file}: holds no dict of tensors (a ${Array.isArray(root) ? "list" : typeof root})`, file);
  const keys = [...root.entries.keys()].map(String);
  if (key !== undefined) {
    const v = root.entries.get(key);
    if (!(v instanceof PyDict)) throw new CheckpointError(`${file}: no dict under key "${key}" (top-level keys: ${keys.join(", ")})`, file);
    return { dict: v, key };
  }
  if ([...root.entries.values()].some(isTensor)) return { dict: root, key: null };
  for (const w of STATE_DICT_WRAPPERS) {
    const v = root.entries.get(w);
    if (v instanceof PyDict && [...v.entries.values()].some(isTensor)) return { dict: v, key: w };
  }
  throw new CheckpointError(
    `${file}: no state dict found at the top level or under ${STATE_DICT_WRAPPERS.join(" / ")} (top-level keys: ${keys.join(", ")}); name it with --key`,
    file,
  );
}

function readTorchWeights(file: string, kind: "zip" | "legacy", key: string | undefined): WeightsFile {
  const content = readTorchFile(file, kind);
  const { dict, key: found } = stateDictOf(content.root, file, key);
  const tensors = new Map<string, StoredTensor>();
  for (const [k, v] of dict.entries) if (isTensor(v)) tensors.set(String(k), materialiseTensor(v, String(k), file));
  return { tensors, format: content.format === "zip" ? "torch zip" : "torch legacy", key: found, metadata: {} };
}

function readIndex(file: string, opts: ReadWeightsOptions): WeightsFile {
  let map: Record<string, unknown>;
  try {
    map = (JSON.parse(readFileSync(file, "utf8")) as { weight_map?: Record<string, unknown> }).weight_map ?? {};
  } catch (e) {
    throw new CheckpointError(`${file}: not a valid index (JSON with a weight_map): ${(e as Error).message}`, file);
  }
  const shards = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(map)) {
    if (typeof shard !== "string") throw new CheckpointError(`${file}: weight_map["${name}"] is not a file name`, file);
    shards.set(shard, [...(shards.get(shard) ?? []), name]);
  }
  if (shards.size === 0) throw new CheckpointError(`${file}: the index's weight_map is empty`, file);
  const missing = [...shards.keys()].filter((s) => !existsSync(join(dirname(file), s)));
  if (missing.length > 0) throw new CheckpointError(`${file}: the index names shard(s) that are not there: ${missing.join(", ")}`, file);
  const tensors = new Map<string, StoredTensor>();
  for (const [shard, names] of shards) {
    const path = join(dirname(file), shard);
    const part = readWeights(path, opts).tensors;
    for (const n of names) {
      const t = part.get(n);
      if (!t) throw new CheckpointError(`${file}: the index puts ${n} in ${shard}, which does not hold it`, file);
      tensors.set(n, t);
    }
  }
  return { tensors, format: "sharded index", key: null, metadata: {} };
}

/** Read a weights file of any supported format (see the module comment). */
export function readWeights(file: string, opts: ReadWeightsOptions = {}): WeightsFile {
  if (!existsSync(file)) throw new CheckpointError(`${file}: no such file`, file);
  if (file.endsWith(".index.json")) return readIndex(file, opts);
  const head = new Uint8Array(9);
  const fd = openSync(file, "r");
  try {
    readSync(fd, head, 0, 9, 0);
  } finally {
    closeSync(fd);
  }
  // safetensors: an 8-byte header length, then the JSON header's "{" (a length can start like a pickle)
  const kind = head[8] === 0x7b ? null : torchSaveKind(head);
  if (kind) return readTorchWeights(file, kind, opts.key);
  const { tensors, metadata } = readSafetensors(file);
  return { tensors, format: "safetensors", key: null, metadata };
}
