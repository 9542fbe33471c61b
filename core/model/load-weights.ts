/**
 * Weights into a VisionLanguageModel from a run folder, checkpoint folder or
 * safetensors file, with polyalign's or ALBEF's names (ALBEF's pre-training
 * state dict, or its fine-tuned retrieval and grounding checkpoints — the
 * rules are the name map's, `albefLoadRules.imageText`). Momentum copies the
 * file lacks start from the loaded online weights.
 */
import { albefLoadRules, MOMENTUM_ENTRY } from "../checkpoint/albef-names.ts";
import { type InitialWeightsReport, loadInitialWeights } from "../checkpoint/initial-weights.ts";
import type { Logger } from "../log.ts";
import type { VisionLanguageModel } from "./vision-language-model.ts";

/** `fusionStart`: the number of text layers (ALBEF's `fusion_layer`), where a one-BERT checkpoint's fusion layers begin. */
export function loadVisionLanguageWeights(model: VisionLanguageModel, init: string, fusionStart: number, log?: Logger): InitialWeightsReport {
  const names = new Set([...model.stateEntries()].map(([n]) => n));
  const rules = albefLoadRules.imageText((n) => names.has(n));
  // what the fusion adds to BERT-style layers (a hypergraph branch) may be absent: an attention-only checkpoint
  const extension = (n: string) => {
    const m = /^fusion(?:_m)?\.(.*)$/.exec(n);
    return m !== null && (model.fusion.isExtension?.(m[1]) ?? false);
  };
  const r = loadInitialWeights(model, init, { fusionStart, ...rules, optional: (n) => extension(n) || (rules.optional?.(n) ?? false) });
  if (r.fresh.some((n) => MOMENTUM_ENTRY.test(n))) {
    model.copyToMomentum();
    log?.info(`${r.file} has no momentum copies: they start from the loaded weights`);
  }
  const newParts = r.fresh.filter((n) => n.startsWith("fusion.") && extension(n));
  if (newParts.length > 0 && r.loaded.some((n) => n.startsWith("fusion.layer."))) {
    const note = model.fusion.startFromPretrained?.();
    // their momentum copies start equal to them, as every momentum copy does
    const vars = new Map([...model.stateEntries()].map(([name, v]) => [name, v] as const));
    for (const n of r.fresh) {
      const online = n.startsWith("fusion_m.") && extension(n) ? vars.get(`fusion.${n.slice("fusion_m.".length)}`) : undefined;
      if (online) vars.get(n)?.assign(online);
    }
    log?.info(`${r.file} has no entries for ${newParts.length} of the fusion's own parameters: they start new${note ? `; ${note}` : ""}`);
  }
  return r;
}
