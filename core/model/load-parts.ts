/**
 * A VisionLanguageModel's initial weights from a whole checkpoint and/or per
 * part, as ALBEF starts pre-training: `vision` a timm / DeiT ViT (or transformers'
 * ViT / DeiT names, as `facebook/deit-*` on the hub; position
 * embeddings interpolated to the model's resolution, classifier heads
 * dropped), `text` an HF BERT (its first layers into the text encoder, the
 * later ones into the fusion layers' self-attention and FFN; cross-attention
 * and whatever the fusion adds start new). Every part is checked before
 * anything is assigned, so a failed load leaves the model as it was.
 */
import { hfBertName, MOMENTUM_ENTRY, timmVitName } from "../checkpoint/albef-names.ts";
import { resolveWeightsFile } from "../checkpoint/initial-weights.ts";
import { adaptPosEmbeds } from "../checkpoint/pos-embed.ts";
import { DTYPE_SIZES, type StoredTensor } from "../checkpoint/safetensors.ts";
import { isTransformersVit, transformersVitToTimm } from "../checkpoint/vit-names.ts";
import { loadStateDict } from "../checkpoint/state-dict.ts";
import { readWeights } from "../checkpoint/weights-file.ts";
import { CheckpointError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Module } from "../tensor/module.ts";
import type { InitialWeightsReport } from "../checkpoint/initial-weights.ts";
import { loadVisionLanguageWeights } from "./load-weights.ts";
import type { VisionLanguageModel } from "./vision-language-model.ts";

/** `task.init` of the image-text tasks: one checkpoint, or parts. */
export interface PartsInit {
  /** a polyalign or ALBEF checkpoint (run folder, checkpoint folder, weights file) */
  checkpoint?: string;
  /** a timm / DeiT ViT (e.g. deit_base_patch16_224's .pth) */
  vision?: string;
  /** an HF BERT (e.g. bert-base-uncased's pytorch_model.bin or model.safetensors) */
  text?: string;
}

export interface PartLoad {
  part: "checkpoint" | "vision" | "text";
  file: string;
  loaded: number;
  /** file entries the model has no place for (classifier heads, pooler, ...) */
  ignored: string[];
  /** entries adapted to the model's shape (position embeddings interpolated, DeiT's distillation row dropped) */
  reshaped: string[];
}

export interface PartsReport {
  parts: PartLoad[];
  /** model entries no part initialised (they keep their fresh values) */
  fresh: string[];
  /** what the fusion did to start from pre-trained layers (e.g. the hypergraph branch's bias), when it did */
  fusionStart: string | null;
}

/** A DeiT-distilled pos_embed carries [CLS, DIST, patches]: the DIST row goes with the distillation token. */
function dropDistillationRow(t: StoredTensor): StoredTensor {
  const [one, n, d] = t.shape;
  const es = DTYPE_SIZES[t.dtype];
  const row = d * es;
  const data = new Uint8Array((n - 1) * row);
  data.set(t.data.subarray(0, row), 0);
  data.set(t.data.subarray(2 * row, n * row), row);
  return { dtype: t.dtype, shape: [one, n - 1, d], data };
}

interface PartSource {
  load: PartLoad;
  tensors: Map<string, StoredTensor>;
}

function partSource(
  model: Module,
  part: "vision" | "text",
  path: string,
  rename: (n: string) => string | null,
  required: (n: string) => boolean,
  expand?: (n: string) => string[],
): PartSource {
  const file = resolveWeightsFile(path);
  let raw = readWeights(file).tensors;
  const renamed = new Map<string, StoredTensor>();
  const ignored: string[] = [];
  const reshaped: string[] = [];
  if (part === "vision" && isTransformersVit(raw)) {
    // transformers' names (facebook/deit-*) → timm's, query/key/value stacked into qkv
    const timm = transformersVitToTimm(raw, file);
    raw = timm.tensors;
    ignored.push(...timm.dropped);
  }
  for (const [n, t] of raw) {
    const to = rename(n);
    if (to === null) ignored.push(n);
    else renamed.set(to, t);
  }
  // an entry may initialise several of the model's (NLVR2's paired layers, VQA's decoder); the file's own names win
  if (expand) for (const [n, t] of [...renamed]) for (const target of expand(n)) if (!renamed.has(target)) renamed.set(target, t);
  const pos = renamed.get("visual_encoder.pos_embed");
  if (part === "vision" && pos && raw.has("dist_token")) {
    renamed.set("visual_encoder.pos_embed", dropDistillationRow(pos));
    reshaped.push("visual_encoder.pos_embed (distillation row dropped)");
  }
  const adapted = adaptPosEmbeds(model, renamed);
  for (const [n, t] of adapted) if (renamed.get(n) !== t) reshaped.push(`${n} (interpolated to ${t.shape[1]} tokens)`);
  const shapes = new Map([...model.stateEntries()].map(([n, v]) => [n, [...v.shape]]));
  const missing: string[] = [];
  const mismatched: string[] = [];
  for (const [n, shape] of shapes) {
    const t = adapted.get(n);
    if (!t) {
      if (required(n)) missing.push(n);
    } else if (t.shape.join() !== shape.join()) mismatched.push(`${n} model [${shape}] vs file [${t.shape}]`);
  }
  // entries the model has no place for (an MLM head without an MLM objective, layers beyond its depth) are passed over, and listed
  for (const n of [...adapted.keys()]) {
    if (shapes.has(n)) continue;
    adapted.delete(n);
    ignored.push(n);
  }
  if (missing.length + mismatched.length > 0) {
    const list = (xs: string[]) => xs.slice(0, 6).join(", ") + (xs.length > 6 ? `, … (${xs.length} in all)` : "");
    throw new CheckpointError(
      `init.${part} ${file} does not fit the model (nothing loaded): ` +
        [missing.length ? `missing ${list(missing)}` : "", mismatched.length ? `shape mismatch ${list(mismatched)}` : ""].filter(Boolean).join("; "),
      file,
    );
  }
  return { load: { part, file, loaded: adapted.size, ignored, reshaped }, tensors: adapted };
}

/** HF ties the MLM decoder to the word embeddings and may store it once: fill the tied names the file left out. */
function fillTiedMlmHead(tensors: Map<string, StoredTensor>): void {
  const words = tensors.get("text_encoder.bert.embeddings.word_embeddings.weight");
  if (words && !tensors.has("text_encoder.cls.predictions.decoder.weight") && tensors.has("text_encoder.cls.predictions.transform.dense.weight"))
    tensors.set("text_encoder.cls.predictions.decoder.weight", words);
  const bias = tensors.get("text_encoder.cls.predictions.bias") ?? tensors.get("text_encoder.cls.predictions.decoder.bias");
  if (bias) {
    if (!tensors.has("text_encoder.cls.predictions.bias")) tensors.set("text_encoder.cls.predictions.bias", bias);
    if (!tensors.has("text_encoder.cls.predictions.decoder.bias")) tensors.set("text_encoder.cls.predictions.decoder.bias", bias);
  }
}

/** A model parts can be loaded into: its momentum copies follow the online weights. */
export interface PartsTarget extends Module {
  copyToMomentum(): void;
}

export interface PartsOptions {
  log?: Logger;
  /** the whole-checkpoint part, by the model's own loading rules */
  loadCheckpoint: (path: string) => InitialWeightsReport;
  /** the model names a part's entry initialises besides its own (the name map's `albefLoadRules.*.expand`) */
  expand?: (name: string) => string[];
  /** called when fusion layers came from the text part: the fusion's new parts start as it decides */
  startFromPretrained?: () => string | null;
}

/** Load `init` (a checkpoint path, or parts) into `model`; `fusionStart` is the number of text layers. */
export function loadPartsInto(model: PartsTarget, init: string | PartsInit, fusionStart: number, opts: PartsOptions): PartsReport {
  const spec: PartsInit = typeof init === "string" ? { checkpoint: init } : init;
  if (!spec.checkpoint && !spec.vision && !spec.text) throw new CheckpointError("init: name a checkpoint, or vision and/or text weights", "init");
  const sources: PartSource[] = [];
  if (spec.vision) sources.push(partSource(model, "vision", spec.vision, timmVitName, (n) => n.startsWith("visual_encoder."), opts.expand));
  if (spec.text) {
    const text = partSource(
      model,
      "text",
      spec.text,
      (n) => hfBertName(n, fusionStart),
      (n) => n.startsWith("text_encoder.bert."),
      opts.expand,
    );
    const names = new Set([...model.stateEntries()].map(([n]) => n));
    fillTiedMlmHead(text.tensors);
    for (const n of [...text.tensors.keys()]) if (!names.has(n)) text.tensors.delete(n);
    text.load.loaded = text.tensors.size;
    sources.push(text);
  }
  const parts: PartLoad[] = [];
  const loaded = new Set<string>();
  if (spec.checkpoint) {
    const r = opts.loadCheckpoint(spec.checkpoint);
    parts.push({ part: "checkpoint", file: r.file, loaded: r.loaded.length, ignored: r.unexpected, reshaped: [] });
    for (const n of r.loaded) loaded.add(n);
  }
  for (const s of sources) {
    loadStateDict(model, s.tensors, { strict: false, source: s.load.file });
    for (const n of s.tensors.keys()) loaded.add(n);
    parts.push(s.load);
  }
  let fusionNote: string | null = null;
  if (sources.length > 0) {
    model.copyToMomentum();
    if ([...loaded].some((n) => n.startsWith("fusion."))) fusionNote = opts.startFromPretrained?.() ?? null;
  }
  const fresh = [...model.stateEntries()].map(([n]) => n).filter((n) => !loaded.has(n) && !(sources.length > 0 && MOMENTUM_ENTRY.test(n)));
  return { parts, fresh, fusionStart: fusionNote };
}

/** `loadPartsInto` for the image-text model: checkpoints by `loadVisionLanguageWeights`, the fusion's own start. */
export function loadVisionLanguageParts(model: VisionLanguageModel, init: string | PartsInit, fusionStart: number, log?: Logger): PartsReport {
  return loadPartsInto(model, init, fusionStart, {
    log,
    loadCheckpoint: (path) => loadVisionLanguageWeights(model, path, fusionStart, log),
    startFromPretrained: () => model.fusion.startFromPretrained?.() ?? null,
  });
}
