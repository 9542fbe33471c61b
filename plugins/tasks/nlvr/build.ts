/** Building ALBEF's NLVR2 model from a run scope: encoders, two fusion copies per pairing, online and momentum. */
import { ConfigError, Fusion, Rng, type RunScope, TextEncoder, VisionEncoder } from "../../../core/index.ts";
import { NlvrModel, type NlvrModelOptions, type NlvrParts } from "./model.ts";

export function buildNlvrModel(scope: RunScope, opts: NlvrModelOptions): NlvrModel {
  const model = scope.config.model;
  if (!model) throw new ConfigError("the config has no model: section", "model");
  const parts = (suffix: string): NlvrParts => ({
    vision: scope.create(VisionEncoder, model.vision, `model.vision${suffix}`),
    text: scope.create(TextEncoder, model.text, `model.text${suffix}`),
    fusion0: scope.create(Fusion, model.fusion, `model.fusion${suffix}`),
    fusion1: scope.create(Fusion, model.fusion, `model.fusion${suffix}.image1`),
  });
  return new NlvrModel(parts(""), parts("_m"), opts, Rng.derive(scope.config.seed, "nlvr-heads"));
}
