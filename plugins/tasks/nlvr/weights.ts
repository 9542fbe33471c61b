/**
 * Weights for the NLVR2 model from a pre-training checkpoint (polyalign's or
 * ALBEF's: fusion layer i initialises both layers of pair i) or from ALBEF's
 * NLVR2 checkpoint (its BERT already holds the pairs) — the name map's
 * `albefLoadRules.nlvr`; the momentum copy then starts from the loaded online weights.
 */
import { albefLoadRules, type InitialWeightsReport, loadInitialWeights } from "../../../core/index.ts";
import type { NlvrModel } from "./model.ts";

export function loadNlvrWeights(model: NlvrModel, init: string, fusionStart: number): InitialWeightsReport {
  const r = loadInitialWeights(model, init, { fusionStart, ...albefLoadRules.nlvr(model.fusion.depth) });
  model.copyToMomentum();
  return r;
}
