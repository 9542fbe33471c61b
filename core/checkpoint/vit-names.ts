/**
 * transformers' ViT / DeiT state dicts (`vit.encoder.layer.0.attention.attention.query.weight`,
 * as `facebook/deit-base-patch16-224` ships) in timm's names (`blocks.0.attn.qkv.weight`):
 * query, key and value stacked into one qkv projection, the layer norms and MLP renamed,
 * pooler and classifier heads dropped (and listed).
 */
import { CheckpointError } from "../errors.ts";
import type { StoredTensor } from "./safetensors.ts";

const PREFIX = /^(vit|deit)\./;

/** Whether the tensors use transformers' ViT names. */
export const isTransformersVit = (tensors: ReadonlyMap<string, StoredTensor>): boolean => [...tensors.keys()].some((n) => /^(vit|deit)\.embeddings\./.test(n));

const RENAMES: [RegExp, string][] = [
  [/^embeddings\.cls_token$/, "cls_token"],
  [/^embeddings\.distillation_token$/, "dist_token"],
  [/^embeddings\.position_embeddings$/, "pos_embed"],
  [/^embeddings\.patch_embeddings\.projection\.(weight|bias)$/, "patch_embed.proj.$1"],
  [/^encoder\.layer\.(\d+)\.layernorm_before\.(weight|bias)$/, "blocks.$1.norm1.$2"],
  [/^encoder\.layer\.(\d+)\.layernorm_after\.(weight|bias)$/, "blocks.$1.norm2.$2"],
  [/^encoder\.layer\.(\d+)\.attention\.output\.dense\.(weight|bias)$/, "blocks.$1.attn.proj.$2"],
  [/^encoder\.layer\.(\d+)\.intermediate\.dense\.(weight|bias)$/, "blocks.$1.mlp.fc1.$2"],
  [/^encoder\.layer\.(\d+)\.output\.dense\.(weight|bias)$/, "blocks.$1.mlp.fc2.$2"],
  [/^layernorm\.(weight|bias)$/, "norm.$1"],
];

/** The tensors under timm's names, and the entries with no timm counterpart (pooler, classifiers). */
export function transformersVitToTimm(tensors: ReadonlyMap<string, StoredTensor>, source: string): { tensors: Map<string, StoredTensor>; dropped: string[] } {
  const out = new Map<string, StoredTensor>();
  const dropped: string[] = [];
  const qkv = new Map<string, Partial<Record<"query" | "key" | "value", StoredTensor>>>();
  for (const [name, t] of tensors) {
    const n = name.replace(PREFIX, "");
    const attn = /^encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.(weight|bias)$/.exec(n);
    if (attn) {
      const key = `blocks.${attn[1]}.attn.qkv.${attn[3]}`;
      qkv.set(key, { ...qkv.get(key), [attn[2]]: t });
      continue;
    }
    const rule = RENAMES.find(([re]) => re.test(n));
    if (rule) out.set(n.replace(rule[0], rule[1]), t);
    else dropped.push(name);
  }
  for (const [key, parts] of qkv) {
    const { query, key: k, value } = parts;
    if (!query || !k || !value) throw new CheckpointError(`${source}: ${key} needs query, key and value; the file lacks some`, source);
    if (query.dtype !== k.dtype || k.dtype !== value.dtype) throw new CheckpointError(`${source}: ${key}: query, key and value differ in dtype`, source);
    const data = new Uint8Array(query.data.length + k.data.length + value.data.length);
    data.set(query.data, 0);
    data.set(k.data, query.data.length);
    data.set(value.data, query.data.length + k.data.length);
    out.set(key, { dtype: query.dtype, shape: [query.shape[0] * 3, ...query.shape.slice(1)], data });
  }
  return { tensors: out, dropped };
}
