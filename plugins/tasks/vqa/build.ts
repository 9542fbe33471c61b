/** Building ALBEF's VQA model from a run scope: encoders, fusion and an answer decoder shaped like the fusion's layers. */
import { ConfigError, Fusion, Rng, type RunScope, TextEncoder, VisionEncoder } from "../../../core/index.ts";
import { AnswerDecoder, VqaModel, type VqaParts } from "./model.ts";

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
    if (!fusion.layerShape)
      throw new ConfigError(
        `VQA shapes its answer decoder after the fusion's layers; fusion plugin "${model.fusion.name}" does not report them (layerShape)`,
        "model.fusion.name",
      );
    const shape = fusion.layerShape();
    const decoderText = scope.create(TextEncoder, { ...model.text, layers: 0 }, `model.text_decoder${suffix}`);
    const decoder = new AnswerDecoder(decoderText, opts.decoderLayers ?? shape.layers, shape, rng);
    return {
      vision: scope.create(VisionEncoder, model.vision, `model.vision${suffix}`),
      text: scope.create(TextEncoder, model.text, `model.text${suffix}`),
      fusion,
      decoder,
    };
  };
  return new VqaModel(parts(""), parts("_m"), opts.momentum);
}
