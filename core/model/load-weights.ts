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
  const r = loadInitialWeights(model, init, { fusionStart, ...albefLoadRules.imageText((n) => names.has(n)) });
  if (r.fresh.some((n) => MOMENTUM_ENTRY.test(n))) {
    model.copyToMomentum();
    log?.info(`${r.file} has no momentum copies: they start from the loaded weights`);
  }
  return r;
}
