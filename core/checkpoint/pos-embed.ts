/**
 * ViT position embeddings at another resolution, as ALBEF's
 * `interpolate_pos_embed`: the CLS entry is kept, the S×S grid is resized to
 * G×G with PyTorch's bicubic (A = −0.75, align_corners = False, edges
 * clamped), and flattened back.
 */
import { CheckpointError } from "../errors.ts";
import type { Module } from "../tensor/module.ts";
import { fromFloat32, type StoredTensor, toFloat32 } from "./safetensors.ts";

function cubicWeights(t: number): [number, number, number, number] {
  const A = -0.75;
  const w0 = ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A;
  const w1 = ((A + 2) * t - (A + 3)) * t * t + 1;
  const w2 = ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1;
  const w3 = ((A * (2 - t) - 5 * A) * (2 - t) + 8 * A) * (2 - t) - 4 * A;
  return [w0, w1, w2, w3];
}

/** Resize a [S, S, D] grid (row-major, channels last) to [G, G, D]. */
export function bicubicResizeGrid(grid: Float32Array, s: number, g: number, d: number): Float32Array {
  const out = new Float32Array(g * g * d);
  const scale = s / g;
  const taps = (o: number) => {
    const real = scale * (o + 0.5) - 0.5;
    const i = Math.floor(real);
    const w = cubicWeights(real - i);
    return [0, 1, 2, 3].map((k) => [Math.min(s - 1, Math.max(0, i - 1 + k)), w[k]] as [number, number]);
  };
  const rows = Array.from({ length: g }, (_, o) => taps(o));
  for (let oy = 0; oy < g; oy++) {
    for (let ox = 0; ox < g; ox++) {
      const o = (oy * g + ox) * d;
      for (const [iy, wy] of rows[oy]) {
        for (const [ix, wx] of rows[ox]) {
          const w = wy * wx;
          const src = (iy * s + ix) * d;
          for (let c = 0; c < d; c++) out[o + c] += w * grid[src + c];
        }
      }
    }
  }
  return out;
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
