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

/** The feature queues and their pointers: re-initialised when a checkpoint's are sized for another run. */
export const QUEUE_ENTRIES: ReadonlySet<string> = new Set(["image_queue", "text_queue", "queue_ptr", "idx_queue"]);

/** How a checkpoint's entries meet a model's (what `loadInitialWeights` takes besides the ALBEF renaming). */
export interface LoadRules {
  /** model entries that may be absent from the file (new heads, the id queue) */
  optional?: (name: string) => boolean;
  /** entries kept at their fresh values when the file's shape differs (e.g. feature queues) */
  reinitOnMismatch?: (name: string) => boolean;
  /** file entries passed over (heads of another task); applied after the ALBEF renaming */
  ignore?: (name: string) => boolean;
  /** the model names a file entry initialises (default: its own name), e.g. one fusion layer → both layers of a pair; the file's own entries win */
  expand?: (name: string) => string[];
  /**
   * The model's fusion layers come in (image 0, image 1) pairs, `n` of them:
   * a file whose BERT has fusionStart + 2n layers (ALBEF's NLVR2 checkpoints)
   * is read pair by pair; one with fusionStart + n layers (pre-training) layer by layer.
   */
  pairedFusionLayers?: number;
}

/**
 * Which checkpoints initialise which model, ALBEF's way (albef-reference §1.6): every rule
 * about ALBEF's state-dict layouts beside the name map above.
 */
export const albefLoadRules = {
  /**
   * The image-text model (encoders, fusion, ITC/ITM heads, queues) from a
   * pre-training or retrieval checkpoint — ALBEF's fine-tuned retrieval and
   * grounding files lack the MLM head, and when released also the momentum
   * copies and queues (ALBEF issue #21): those stay fresh. Queues sized for
   * another run are re-initialised; a file's id queue is passed over by a
   * model without one. `has` says which entries the model holds.
   */
  imageText(has: (name: string) => boolean): LoadRules {
    return {
      optional: (n) => QUEUE_ENTRIES.has(n) || n === "temp" || /^text_encoder(_m)?\.cls\./.test(n) || MOMENTUM_ENTRY.test(n),
      reinitOnMismatch: (n) => QUEUE_ENTRIES.has(n),
      // a model without an id queue or an MLM head (retrieval) passes over the file's, as ALBEF's strict=False load does
      ignore: (n) => (n === "idx_queue" || /^text_encoder(_m)?\.cls\./.test(n)) && !has(n),
    };
  },
  /**
   * ALBEF's NLVR2 model from a pre-training checkpoint (fusion layer i
   * initialises both layers of pair i), from a text-assignment one (already
   * paired) or from ALBEF's NLVR2 checkpoint (its BERT already holds the
   * pairs, `bert.` stripped, no MLM head).
   */
  nlvr(pairs: number): LoadRules {
    return {
      // a text-assignment checkpoint (ALBEF's Pretrain_nlvr.py) brings its 3-way head, which NLVR.py's strict=False load passes over
      ignore: (n) => PRETRAINING_ONLY.test(n) || n.startsWith("ta_head."),
      expand: (n) => (/^fusion\.(?!image[01]\.)/.test(n) ? [n.replace(/^fusion\./, "fusion.image0."), n.replace(/^fusion\./, "fusion.image1.")] : [n]),
      pairedFusionLayers: pairs,
      optional: (n) => n.startsWith("cls_head.") || /^text_encoder\.cls\./.test(n) || MOMENTUM_ENTRY.test(n),
    };
  },
  /**
   * ALBEF's VQA model: from a pre-training checkpoint the answer decoder
   * starts from the text encoder's embeddings and MLM head and from the fusion
   * layers (VQA.py); ALBEF's VQA checkpoint carries its own `text_decoder.*`.
   */
  vqa(decoderLayers: number): LoadRules {
    return {
      ignore: (n) => PRETRAINING_ONLY.test(n),
      expand: (n) => {
        const text = /^text_encoder\.((bert\.embeddings|cls)\..*)$/.exec(n);
        if (text) return [n, `text_decoder.text.${text[1]}`];
        const layer = /^fusion\.layer\.(\d+)\.((attention|crossattention|intermediate|output)\..*)$/.exec(n);
        return layer && Number(layer[1]) < decoderLayers ? [n, `text_decoder.layer.${layer[1]}.${layer[2]}`] : [n];
      },
      // the decoder cross-attends to question states: image-width keys/values only fit when the widths agree
      reinitOnMismatch: (n) => /^text_decoder\.layer\.\d+\.crossattention\.self\.(key|value)\./.test(n),
      // ALBEF's VQA text encoder is a plain BertModel (no MLM head)
      optional: (n) => MOMENTUM_ENTRY.test(n) || /^text_encoder\.cls\./.test(n) || /^text_decoder\.layer\.\d+\./.test(n),
    };
  },
};

/** What `toAlbefStateDict` made, and what ALBEF's model will not recognise. */
export interface AlbefExport {
  tensors: Map<string, StoredTensor>;
  fusionStart: number;
  /** entries ALBEF's model has no counterpart for (the hypergraph branch): `load_state_dict(strict=False)` lists them as unexpected */
  extra: string[];
}

const TEXT_LAYER = /^text_encoder\.bert\.encoder\.layer\.(\d+)\./;
const PAIRED = /^fusion(_m)?\.image([01])\.layer\.(\d+)\.(.*)$/;
const DECODER_LAYER = /^(text_decoder(?:_m)?)\.layer\.(\d+)\.(.*)$/;
const DECODER_TEXT = /^(text_decoder(?:_m)?)\.text\.(.*)$/;

/**
 * A polyalign model's state dict under ALBEF's names, in the layout of the
 * ALBEF model it corresponds to: pre-training (`BertForMaskedLM`: the text
 * encoder under `text_encoder.bert.*` with its MLM head), or the fine-tuned
 * models, whose text encoder is a plain `BertModel` (`text_encoder.*`, no
 * `bert.`): retrieval / grounding (no MLM head), NLVR2 (each fusion pair as
 * BERT layers fusionStart + 2i, + 2i + 1) and VQA (the answer decoder as
 * `text_decoder.bert.*` + `text_decoder.cls.*`). The fusion layers go back into
 * the one BERT after the text layers (their count is read from the names);
 * BERT's `position_ids` buffers, which polyalign rebuilds, are added.
 */
export function toAlbefStateDict(tensors: ReadonlyMap<string, StoredTensor>): AlbefExport {
  const names = [...tensors.keys()];
  const fusionStart = 1 + Math.max(-1, ...names.map((n) => Number(TEXT_LAYER.exec(n)?.[1] ?? -1)));
  const pretraining = names.some((n) => n.startsWith("text_encoder.cls.")) && !names.some((n) => PAIRED.test(n) || n.startsWith("text_decoder."));
  const map = albefNameMap(fusionStart);
  const albefName = (n: string): string => {
    const p = PAIRED.exec(n);
    if (p) return `text_encoder${p[1] ?? ""}.bert.encoder.layer.${fusionStart + 2 * Number(p[3]) + Number(p[2])}.${p[4]}`;
    const d = DECODER_LAYER.exec(n);
    if (d) return `${d[1]}.bert.encoder.layer.${d[2]}.${d[3]}`;
    const t = DECODER_TEXT.exec(n);
    if (t) return `${t[1]}.${t[2]}`;
    return map.toAlbef(n);
  };
  // the fine-tuned models' text encoder is a plain BertModel: no `bert.` (the decoder keeps its own)
  const rename = (n: string): string => (pretraining ? albefName(n) : albefName(n).replace(/^(text_encoder(?:_m)?)\.bert\./, "$1."));
  const out = new Map<string, StoredTensor>();
  const extra: string[] = [];
  for (const [n, t] of tensors) {
    const a = rename(n);
    out.set(a, t);
    if (/\.hypergraph(_fusion)?\./.test(a)) extra.push(a);
  }
  for (const [n, t] of [...out]) {
    if (!n.endsWith("embeddings.position_embeddings.weight")) continue;
    const ids = n.replace(/position_embeddings\.weight$/, "position_ids");
    if (out.has(ids)) continue;
    const values = new BigInt64Array(t.shape[0]).map((_, i) => BigInt(i));
    out.set(ids, { dtype: "I64", shape: [1, t.shape[0]], data: new Uint8Array(values.buffer) });
  }
  return { tensors: out, fusionStart, extra };
}

/**
 * A timm / DeiT ViT entry (`blocks.0.attn.qkv.weight`, `pos_embed`, ...) under
 * ALBEF's name (`visual_encoder.…`, which are timm's names); null for what the
 * image encoder does not have: the classifier heads and DeiT's distillation
 * token (its position-embedding row is dropped by the loader). Names already
 * under `visual_encoder.` pass through.
 */
export function timmVitName(name: string): string | null {
  const n = name.replace(/^visual_encoder\./, "");
  if (/^(head|head_dist|fc_norm|pre_logits)(\.|$)/.test(n) || n === "dist_token") return null;
  return `visual_encoder.${n}`;
}

/**
 * An HF BERT entry (`bert.encoder.layer.3.attention.self.query.weight`, or
 * without `bert.`; old files' LayerNorm `gamma` / `beta`) under ALBEF's name in a
 * model whose first `fusionStart` layers are the text encoder: later layers
 * initialise the fusion layers' self-attention and FFN (ALBEF initialises its
 * fusion from BERT's layers 6–11 so); `cls.predictions.*` is the MLM head. Null
 * for what the model does not have (pooler, next-sentence head).
 */
export function hfBertName(name: string, fusionStart: number): string | null {
  let n = name.replace(/^text_encoder\./, "").replace(/^bert\./, "");
  n = n.replace(/LayerNorm\.gamma$/, "LayerNorm.weight").replace(/LayerNorm\.beta$/, "LayerNorm.bias");
  if (/^(pooler|cls\.seq_relationship)\./.test(n) || n.endsWith("position_ids")) return null;
  if (n.startsWith("cls.predictions.")) return `text_encoder.${n}`;
  if (n.startsWith("embeddings.")) return `text_encoder.bert.${n}`;
  const m = /^encoder\.layer\.(\d+)\.(.*)$/.exec(n);
  if (!m) return null;
  const layer = Number(m[1]);
  return layer < fusionStart ? `text_encoder.bert.encoder.layer.${layer}.${m[2]}` : `fusion.layer.${layer - fusionStart}.${m[2]}`;
}
