/** Building the pre-training model from a run scope: online and momentum instances of the configured plugins. */
import { Fusion, TextEncoder, VisionEncoder } from "../registry/kinds.ts";
import type { RunScope } from "../registry/run-scope.ts";
import { ConfigError } from "../errors.ts";
import { Rng } from "../tensor/rng.ts";
import { PretrainModel, type PretrainModelOptions } from "./pretrain-model.ts";

export function buildPretrainModel(scope: RunScope, opts: PretrainModelOptions): PretrainModel {
  const model = scope.config.model;
  if (!model) throw new ConfigError("the config has no model: section", "model");
  const online = { vision: scope.resolve(VisionEncoder), text: scope.resolve(TextEncoder), fusion: scope.resolve(Fusion) };
  const momentum = {
    vision: scope.create(VisionEncoder, model.vision, "model.vision_m"),
    text: scope.create(TextEncoder, model.text, "model.text_m"),
    fusion: scope.create(Fusion, model.fusion, "model.fusion_m"),
  };
  return new PretrainModel(online, momentum, opts, Rng.derive(scope.config.seed, "pretrain-heads"));
}
