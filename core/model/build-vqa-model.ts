/** Building ALBEF's VQA model from a run scope: encoders, fusion and an answer decoder shaped like the fusion layers. */
import { Fusion, TextEncoder, VisionEncoder } from "../registry/kinds.ts";
import type { RunScope } from "../registry/run-scope.ts";
import { ConfigError } from "../errors.ts";
import { Rng } from "../tensor/rng.ts";
import { LayeredFusion } from "./layered-fusion.ts";
import { AnswerDecoder, VqaModel, type VqaParts } from "./vqa-model.ts";

export interface VqaBuildOptions {
  momentum: number;
  /** answer decoder layers (ALBEF: 6, as many as the fusion layers it is initialised from) */
  decoderLayers?: number;
}

export function buildVqaModel(scope: RunScope, opts: VqaBuildOptions): VqaModel {
  const model = scope.config.model;
  if (!model) throw new ConfigError("the config has no model: section", "model");
  const rng = Rng.derive(scope.config.seed, "vqa-decoder");
  const parts = (suffix: string): VqaParts => {
    const fusion = scope.create(Fusion, model.fusion, `model.fusion${suffix}`);
    if (!(fusion instanceof LayeredFusion)) throw new ConfigError("VQA shapes its answer decoder after a layered fusion (cross-attention, merged-attention, hypergraph)", "model.fusion.name");
    const first = fusion.layer.at(0);
    const decoderText = scope.create(TextEncoder, { ...model.text, layers: 0 }, `model.text_decoder${suffix}`);
    const decoder = new AnswerDecoder(decoderText, opts.decoderLayers ?? fusion.layer.length, {
      width: fusion.width,
      heads: fusion.cfg.heads,
      intermediate: first.intermediate.dense.outFeatures,
      eps: fusion.cfg.eps,
      dropout: fusion.cfg.dropout,
    }, rng);
    return { vision: scope.create(VisionEncoder, model.vision, `model.vision${suffix}`), text: scope.create(TextEncoder, model.text, `model.text${suffix}`), fusion, decoder };
  };
  return new VqaModel(parts(""), parts("_m"), opts.momentum);
}
