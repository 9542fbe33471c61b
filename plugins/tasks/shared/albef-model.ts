/**
 * What the image-text tasks (pretrain, retrieval, grounding, binding) share:
 * the run's VisionLanguageModel with the configured objectives and a ready
 * tokenizer, weights from a run, checkpoint or file (polyalign's or ALBEF's
 * names, ALBEF's loading rules), and the evaluation model.
 */
import {
  buildVisionLanguageModel,
  checkVocabulary,
  ConfigError,
  type InitialWeightsReport,
  loadVisionLanguageParts,
  loadVisionLanguageWeights,
  type PartsInit,
  type PartsReport,
  resolveHubPaths,
  readyTokenizer,
  type RunContext,
  type Tokenizer,
  type VisionLanguageModel,
} from "../../../core/index.ts";
import { writeInitReport } from "./init-report.ts";

export interface ModelSetup {
  model: VisionLanguageModel;
  tokenizer: Tokenizer;
}

/**
 * The model shaped by the config's objectives for batches of `batchSize`;
 * `imageIds`: the task trains with each sample's image id (retrieval fine-tuning).
 */
export async function setUpModel(ctx: RunContext, what: string, setting: { batchSize: number; imageIds?: boolean }): Promise<ModelSetup> {
  const { scope } = ctx;
  if (scope.config.objectives.length === 0) throw new ConfigError(`${what} needs at least one objective (objectives: [{name: itc}, ...])`, "objectives");
  const tokenizer = await readyTokenizer(ctx);
  const model = buildVisionLanguageModel(scope, { batchSize: setting.batchSize, imageIds: setting.imageIds ?? false });
  try {
    checkVocabulary(model, tokenizer);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, tokenizer };
}

/** Weights into the model from a run, checkpoint or file (polyalign's or ALBEF's names); the config's text layers are where fusion begins. */
export function loadModelWeights(ctx: RunContext, model: VisionLanguageModel, init: string): InitialWeightsReport {
  return loadVisionLanguageWeights(model, init, Number(ctx.scope.config.model?.text.layers ?? 0), ctx.scope.log);
}

/**
 * A training task's initial weights (a checkpoint, or vision / text parts; any
 * of them an `hf://` address, fetched into the Hugging Face cache first),
 * with the load report in the run folder (`init-report.json`) and one line per part.
 */
export async function initialiseModel(ctx: RunContext, model: VisionLanguageModel, init: string | PartsInit): Promise<PartsReport> {
  const local = await resolveHubPaths(init, ctx.scope.log);
  const r = loadVisionLanguageParts(model, local, Number(ctx.scope.config.model?.text.layers ?? 0), ctx.scope.log);
  writeInitReport(ctx, r);
  for (const p of r.parts) {
    const extra = [p.reshaped.length ? `reshaped ${p.reshaped.join(", ")}` : "", p.ignored.length ? `${p.ignored.length} ignored` : ""]
      .filter(Boolean)
      .join("; ");
    ctx.out(`initial weights (${p.part}): ${p.loaded} tensors from ${p.file}${extra ? ` (${extra})` : ""}`);
  }
  if (r.fusionStart) ctx.out(`fusion: ${r.fusionStart}`);
  const n = r.fresh.length;
  ctx.out(
    `${n} ${n === 1 ? "entry starts" : "entries start"} new${n ? ` (${r.fresh.slice(0, 4).join(", ")}${n > 4 ? ", …" : ""}); init-report.json lists them` : ""}`,
  );
  return r;
}

/**
 * The model with weights from `init` (a pre-training or retrieval run,
 * checkpoint or file), in eval mode — what the evaluation-only tasks start from.
 */
export async function loadEvaluationModel(ctx: RunContext, what: string, init: string): Promise<ModelSetup & { file: string }> {
  const setup = await setUpModel(ctx, what, { batchSize: 1 });
  try {
    const r = loadModelWeights(ctx, setup.model, await resolveHubPaths(init, ctx.scope.log));
    ctx.out(`weights: ${r.loaded.length} tensors from ${r.file}`);
    setup.model.eval();
    return { ...setup, file: r.file };
  } catch (e) {
    setup.model.dispose();
    throw e;
  }
}
