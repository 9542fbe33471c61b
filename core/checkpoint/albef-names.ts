/**
 * The one name map between polyalign's module tree and ALBEF's state dict,
 * used by every importer and exporter. ALBEF keeps text and fusion layers in
 * one BERT (`text_encoder.bert.encoder.layer.0..11`); polyalign mounts the
 * fusion layers under `fusion.layer.i`, which is ALBEF's layer
 * `fusionStart + i` (fusionStart = number of text layers, ALBEF's `fusion_layer`).
 * Momentum copies (`*_m`) map the same way.
 */
import type { StoredTensor } from "./safetensors.ts";

export interface AlbefNameMap {
  toAlbef(name: string): string;
  /** null for ALBEF names that have no polyalign counterpart under this map */
  fromAlbef(name: string): string;
}

export function albefNameMap(fusionStart: number): AlbefNameMap {
  const fusionRe = /^fusion(_m)?\.layer\.(\d+)\.(.*)$/;
  const albefRe = /^text_encoder(_m)?\.bert\.encoder\.layer\.(\d+)\.(.*)$/;
  return {
    toAlbef(name) {
      const m = fusionRe.exec(name);
      if (!m) return name;
      return `text_encoder${m[1] ?? ""}.bert.encoder.layer.${fusionStart + Number(m[2])}.${m[3]}`;
    },
    fromAlbef(name) {
      const m = albefRe.exec(name);
      if (!m || Number(m[2]) < fusionStart) return name;
      return `fusion${m[1] ?? ""}.layer.${Number(m[2]) - fusionStart}.${m[3]}`;
    },
  };
}

/** The entries under `prefix` (e.g. `visual_encoder.`), with the prefix removed. */
export function selectPrefix(tensors: ReadonlyMap<string, StoredTensor>, prefix: string): Map<string, StoredTensor> {
  const out = new Map<string, StoredTensor>();
  for (const [name, t] of tensors) if (name.startsWith(prefix)) out.set(name.slice(prefix.length), t);
  return out;
}

/** Rename every entry through `fn`. */
export function renameEntries(tensors: ReadonlyMap<string, StoredTensor>, fn: (name: string) => string): Map<string, StoredTensor> {
  const out = new Map<string, StoredTensor>();
  for (const [name, t] of tensors) out.set(fn(name), t);
  return out;
}

/**
 * ALBEF's fine-tuned models (retrieval, grounding, VQA, NLVR2) use a plain
 * `BertModel` and strip `bert.` from the text encoder's keys
 * (`text_encoder.encoder.layer.N`); this puts it back so that one map serves both.
 */
export function restoreBertPrefix(name: string): string {
  return name.replace(/^(text_encoder(?:_m)?)\.(embeddings|encoder|pooler)\./, "$1.bert.$2.");
}

/**
 * ALBEF's VQA answer decoder (`text_decoder.bert.*`, `text_decoder.cls.*`,
 * same for `_m`) onto polyalign's AnswerDecoder (`text_decoder.text.*` for the
 * embeddings and LM head, `text_decoder.layer.L` for the layers).
 */
export function albefDecoderName(name: string): string {
  const m = /^(text_decoder(?:_m)?)\.(bert\.encoder\.layer\.(\d+)\.(.*)|bert\.embeddings\..*|cls\..*)$/.exec(name);
  if (!m) return name;
  return m[3] !== undefined ? `${m[1]}.layer.${m[3]}.${m[4]}` : `${m[1]}.text.${m[2]}`;
}

/**
 * ALBEF's NLVR2 models keep 2 × F fusion layers in one BERT: layers
 * fusionStart + 2i and fusionStart + 2i + 1 are the pair (image 0, image 1)
 * of fusion layer i — polyalign's `fusion.image0.layer.i` / `fusion.image1.layer.i`.
 */
export function albefPairedFusionName(fusionStart: number): (name: string) => string {
  const re = /^text_encoder(_m)?\.bert\.encoder\.layer\.(\d+)\.(.*)$/;
  return (name) => {
    const m = re.exec(name);
    if (!m || Number(m[2]) < fusionStart) return name;
    const k = Number(m[2]) - fusionStart;
    return `fusion${m[1] ?? ""}.image${k % 2}.layer.${Math.floor(k / 2)}.${m[3]}`;
  };
}

/**
 * State of a pre-training checkpoint that a fine-tuning model without ITC/ITM
 * heads does not take: the projections, ITM head, temperature, queues, and the
 * momentum copies (its own momentum copy starts from the loaded online weights).
 */
export const PRETRAINING_ONLY = /^(vision_proj|text_proj|itm_head|temp$|image_queue$|text_queue$|queue_ptr$|idx_queue$|[a-z_]+_m\.)/;

/** Names of momentum-copy entries (`visual_encoder_m.…`). */
export const MOMENTUM_ENTRY = /^[a-z_]+_m\./;
