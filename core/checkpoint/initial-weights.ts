/**
 * Starting a fine-tuning run from pre-trained weights: a polyalign run folder
 * (its latest checkpoint), a checkpoint folder, or a weights file — safetensors,
 * a PyTorch `.pth` / `.bin` (ALBEF's `{model: …}` checkpoints) or a sharded
 * index — with polyalign or ALBEF state-dict names. Position embeddings are interpolated
 * to the model's resolution (ALBEF's `interpolate_pos_embed`); entries the
 * caller lets be re-initialised (feature queues sized for another run) are
 * dropped when their shape differs; everything else must match.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { CheckpointError } from "../errors.ts";
import type { Module } from "../tensor/module.ts";
import { albefDecoderName, albefNameMap, albefPairedFusionName, type LoadRules, renameEntries, restoreBertPrefix } from "./albef-names.ts";
import { adaptPosEmbeds } from "./pos-embed.ts";
import type { StoredTensor } from "./safetensors.ts";
import { loadStateDict, type LoadReport } from "./state-dict.ts";
import { readWeights } from "./weights-file.ts";

/** The weights file a run folder, checkpoint folder or file path stands for. */
export function resolveWeightsFile(path: string): string {
  if (!existsSync(path)) throw new CheckpointError(`initial weights ${path}: no such file or folder`, path);
  if (statSync(path).isFile()) return path;
  const direct = join(path, "model.safetensors");
  if (existsSync(direct)) return direct;
  const latest = join(path, "checkpoints", "latest.json");
  if (existsSync(latest)) {
    const { dir } = JSON.parse(readFileSync(latest, "utf8")) as { dir: string };
    // latest.json names the folder relative to the run folder (older runs: as the run saw it, relative to where it ran)
    for (const file of [join(path, dir, "model.safetensors"), join(dir, "model.safetensors"), join(path, "checkpoints", basename(dir), "model.safetensors")])
      if (existsSync(file)) return file;
    throw new CheckpointError(`initial weights ${path}: latest.json points at ${dir}, which has no model.safetensors`, path);
  }
  throw new CheckpointError(`initial weights ${path}: a folder without model.safetensors or checkpoints/latest.json`, path);
}

export interface InitialWeightsOptions extends LoadRules {
  /** ALBEF's `fusion_layer` (the number of text layers), to map ALBEF's BERT layer names onto `fusion.layer.i` */
  fusionStart: number;
}

export interface InitialWeightsReport extends LoadReport {
  file: string;
  /** entries left at their fresh values: absent from the file or differently shaped */
  fresh: string[];
}

export function loadInitialWeights(module: Module, path: string, opts: InitialWeightsOptions): InitialWeightsReport {
  const file = resolveWeightsFile(path);
  // ALBEF's names (pre-training, or a fine-tuned model's `bert.`-less ones) onto polyalign's; polyalign's pass unchanged
  const raw = renameEntries(readWeights(file).tensors, restoreBertPrefix);
  const bertLayers = 1 + Math.max(-1, ...[...raw.keys()].map((n) => Number(/^text_encoder\.bert\.encoder\.layer\.(\d+)\./.exec(n)?.[1] ?? -1)));
  const paired = opts.pairedFusionLayers !== undefined && bertLayers === opts.fusionStart + 2 * opts.pairedFusionLayers;
  const fusion = paired ? albefPairedFusionName(opts.fusionStart) : albefNameMap(opts.fusionStart).fromAlbef;
  const renamed = renameEntries(raw, (n) => albefDecoderName(fusion(n)));
  const expanded = new Map<string, StoredTensor>();
  for (const [name, t] of renamed) {
    if (opts.ignore?.(name)) continue;
    // an entry copied to another name (a decoder initialised from the encoder) never overrides what the file holds under that name
    for (const target of opts.expand ? opts.expand(name) : [name]) if (target === name || !renamed.has(target)) expanded.set(target, t);
  }
  const source = adaptPosEmbeds(module, expanded);
  const fresh: string[] = [];
  const shapes = new Map([...module.stateEntries()].map(([n, v]) => [n, v.shape.join()]));
  for (const [name, t] of [...source]) {
    const want = shapes.get(name);
    if (want !== undefined && want !== t.shape.join() && opts.reinitOnMismatch?.(name)) {
      source.delete(name);
      fresh.push(name);
    }
  }
  const optional = (n: string) => fresh.includes(n) || (opts.optional?.(n) ?? false);
  const report = loadStateDict(module, source, { source: file, optional, ignore: (n) => n.endsWith("position_ids") || (opts.ignore?.(n) ?? false) });
  for (const [n] of module.stateEntries()) if (!source.has(n) && !fresh.includes(n)) fresh.push(n);
  return { ...report, file, fresh };
}
