/**
 * polyalign's inference API (`polyalign/inference`): load a run, checkpoint or
 * weights file, then embed, score, map and classify.
 *
 *   const model = await loadModel("runs/demo");
 *   const [best] = await model.score("photo.jpg", ["a red cube", "a blue ball"]);
 *   model.dispose();
 */
import {
  activateBackend,
  buildVisionLanguageModel,
  checkVocabulary,
  createLogger,
  ImageTransformConfig,
  loadVisionLanguageWeights,
  type Logger,
  type PluginRegistry,
  prepareRun,
  Tokenizer,
} from "../../core/index.ts";
import { builtinRegistry } from "../index.ts";
import { resolveModelSource, type SourceOptions } from "./model-source.ts";
import { PolyalignModel } from "./polyalign-model.ts";

export * from "./gradcam-picture.ts";
export * from "./image-index.ts";
export * from "./image-input.ts";
export * from "./model-source.ts";
export * from "./polyalign-model.ts";

export interface LoadModelOptions extends SourceOptions {
  /** the plugins to build with; default: the built-in ones (and the config's `plugins:` modules) */
  registry?: PluginRegistry;
  /** default: errors only */
  log?: Logger;
  /** kernel threads; default: the config's `threads`, else every core */
  threads?: number;
  /** images or texts per forward pass (default 16) */
  batchSize?: number;
}

/** A model from a run folder, checkpoint folder or weights file (with `config`), in evaluation mode. */
export async function loadModel(source: string, opts: LoadModelOptions = {}): Promise<PolyalignModel> {
  const src = resolveModelSource(source, opts);
  const log = opts.log ?? createLogger({ level: "error" });
  const { config, scope } = await prepareRun(opts.registry ?? builtinRegistry(), src.config, { log });
  await activateBackend(scope, opts.threads ?? config.threads);
  const tokenizer = scope.resolve(Tokenizer);
  await tokenizer.init?.();
  const model = buildVisionLanguageModel(scope, { batchSize: 1, imageIds: false });
  try {
    checkVocabulary(model, tokenizer);
    const report = loadVisionLanguageWeights(model, src.weights, Number(config.model?.text.layers ?? 0), log);
    // what the tasks feed the model: the data section's image size, else the vision encoder's
    const size = Number(config.data?.image.size ?? config.model?.vision.imageSize ?? 256);
    const transform = ImageTransformConfig.parse({ ...(config.data?.image ?? {}), size, mode: "test" });
    return new PolyalignModel(model, tokenizer, config, transform, { description: src.description, file: report.file }, opts.batchSize);
  } catch (e) {
    model.dispose();
    throw e;
  }
}
