/**
 * ViT position embeddings at another resolution, as ALBEF's
 * `interpolate_pos_embed`: the CLS entry is kept, the S×S grid is resized to
 * G×G with PyTorch's bicubic (A = −0.75, align_corners = False, edges
 * clamped), and flattened back.
 */
import { CheckpointError } from "../errors.ts";
import { bicubicResize } from "../util/bicubic.ts";
import type { Module } from "../tensor/module.ts";
import { fromFloat32, type StoredTensor, toFloat32 } from "./safetensors.ts";

/** Resize a [S, S, D] grid (row-major, channels last) to [G, G, D]. */
export function bicubicResizeGrid(grid: Float32Array, s: number, g: number, d: number): Float32Array {
  return bicubicResize(grid, s, s, g, g, d);
}

/** pos_embed [1, 1 + S², D] → [1, 1 + G², D]. */
export function interpolatePosEmbed(t: StoredTensor, newTokens: number, name = "pos_embed"): StoredTensor {
  const [one, tokens, d] = t.shape;
  const s = Math.round(Math.sqrt(tokens - 1));
  const g = Math.round(Math.sqrt(newTokens - 1));
  if (one !== 1 || s * s !== tokens - 1 || g * g !== newTokens - 1) {
    throw new CheckpointError(`${name}: cannot interpolate [${t.shape}] to ${newTokens} tokens (needs [1, 1 + S², D] grids)`);
  }
  const v = toFloat32(t, name);
  const resized = bicubicResizeGrid(v.subarray(d), s, g, d);
  const out = new Float32Array(newTokens * d);
  out.set(v.subarray(0, d));
  out.set(resized, d);
  return fromFloat32(out, [1, newTokens, d]);
}

/**
 * Interpolate every `pos_embed` in `tensors` whose token count differs from the
 * module's (ALBEF does this when a fine-tune loads a pre-training checkpoint).
 */
export function adaptPosEmbeds(module: Module, tensors: ReadonlyMap<string, StoredTensor>): Map<string, StoredTensor> {
  const out = new Map(tensors);
  for (const [name, v] of module.stateEntries()) {
    if (!name.endsWith("pos_embed")) continue;
    const t = tensors.get(name);
    if (t && t.shape.length === 3 && v.shape.length === 3 && t.shape[1] !== v.shape[1] && t.shape[2] === v.shape[2]) {
      out.set(name, interpolatePosEmbed(t, v.shape[1] as number, name));
    }
  }
  return out;
}
