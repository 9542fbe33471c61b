/**
 * Weights for the VQA model: from a pre-training checkpoint (polyalign's or
 * ALBEF's) the answer decoder starts from the text encoder's embeddings and
 * MLM head and from the fusion layers, as ALBEF's VQA.py does; ALBEF's VQA
 * checkpoint carries its own `text_decoder.*` (the name map's
 * `albefLoadRules.vqa`). The momentum copy then starts from the loaded online weights.
 */
import { albefLoadRules, type InitialWeightsReport, loadInitialWeights } from "../../../core/index.ts";
import type { VqaModel } from "./model.ts";

export function loadVqaWeights(model: VqaModel, init: string, fusionStart: number): InitialWeightsReport {
  const r = loadInitialWeights(model, init, { fusionStart, ...albefLoadRules.vqa(model.text_decoder.layer.length) });
  model.copyToMomentum();
  return r;
}
