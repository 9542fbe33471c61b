/** A run's VisionLanguageModel from its config: the configured encoders and fusion, a momentum copy of each, and the configured objectives' parameters. */
import { ConfigError } from "../errors.ts";
import { TextEncoder, VisionEncoder } from "../registry/kinds/encoders.ts";
import { Fusion } from "../registry/kinds/fusion.ts";
import { Objective, type ObjectiveSetting } from "../registry/kinds/objective.ts";
import type { Tokenizer } from "../registry/kinds/tokenizer.ts";
import type { RunScope } from "../registry/run-scope.ts";
import { Rng } from "../tensor/rng.ts";
import { VisionLanguageModel } from "./vision-language-model.ts";

/**
 * The model a training or evaluation task starts from. Each call builds the
 * objectives anew (their parameters belong to this model); the online
 * encoders and fusion are the run's (`scope.resolve`).
 */
export function buildVisionLanguageModel(scope: RunScope, setting: ObjectiveSetting): VisionLanguageModel {
  const model = scope.config.model;
  if (!model) throw new ConfigError("the config has no model: section", "model");
  const objectives = scope.config.objectives.map((o, i) => scope.create(Objective, o, `objectives.${i}`));
  const online = { vision: scope.resolve(VisionEncoder), text: scope.resolve(TextEncoder), fusion: scope.resolve(Fusion) };
  const momentum = {
    vision: scope.create(VisionEncoder, model.vision, "model.vision_m"),
    text: scope.create(TextEncoder, model.text, "model.text_m"),
    fusion: scope.create(Fusion, model.fusion, "model.fusion_m"),
  };
  // the stream's label predates the composition; kept so that a config initialises as it always did
  return new VisionLanguageModel(online, { objectives, setting, momentum, rng: Rng.derive(scope.config.seed, "pretrain-heads") });
}

/** The run's encoders and fusion alone — no objectives, no momentum copies (a forward pass, `polyalign forward`). */
export function buildEncoderModel(scope: RunScope): VisionLanguageModel {
  return new VisionLanguageModel({ vision: scope.resolve(VisionEncoder), text: scope.resolve(TextEncoder), fusion: scope.resolve(Fusion) });
}

/** A ConfigError when the tokenizer's ids do not fit the text encoder's vocabulary. */
export function checkVocabulary(model: VisionLanguageModel, tokenizer: Tokenizer): void {
  const textVocab = model.text_encoder.vocabSize ?? Infinity;
  if (tokenizer.vocabSize > textVocab) {
    throw new ConfigError(`model.text.vocab (${textVocab}) is smaller than the tokenizer's vocabulary (${tokenizer.vocabSize})`, "model.text.vocab");
  }
}
