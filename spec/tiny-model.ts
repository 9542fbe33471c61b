/** The tiny model the model-level specs build: 16 px ViT of one block, a one-layer BERT, a fusion of the given kind. */
import { buildVisionLanguageModel, createLogger, prepareRun, type RunScope, type VisionLanguageModel } from "../core/index.ts";
import { builtinRegistry } from "../plugins/index.ts";

export const HYPERGRAPH_TINY = { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 } as const;

export interface TinyModelOptions {
  seed?: number;
  fusionLayers?: number;
  vocab?: number;
  /** the config's objectives (default: none) */
  objectives?: Record<string, unknown>[];
}

/** ITC (8-wide, no queue) and ITM: the objectives of the tiny image-text model. */
export const TINY_ITC_ITM = [{ name: "itc", embedDim: 8, queue: 0 }, { name: "itm" }];

export function tinyModelConfig(fusion: Record<string, unknown>, opts: TinyModelOptions = {}) {
  return {
    name: "tiny-model",
    seed: opts.seed ?? 3,
    backend: "auto",
    objectives: opts.objectives ?? [],
    model: {
      vision: { name: "vit", imageSize: 16, patch: 8, width: 16, depth: 1, heads: 2 },
      text: { name: "bert", vocab: opts.vocab ?? 40, width: 16, layers: 1, heads: 2, intermediate: 32, maxPositions: 16 },
      fusion: { heads: 2, intermediate: 32, layers: opts.fusionLayers ?? 1, ...fusion },
    },
  };
}

/** A run scope over the tiny model's config (what the model builders take). */
export async function tinyScope(fusion: Record<string, unknown>, opts: TinyModelOptions = {}): Promise<RunScope> {
  const { scope } = await prepareRun(builtinRegistry(), tinyModelConfig(fusion, opts), { log: createLogger({ level: "error" }) });
  return scope;
}

/** The tiny VisionLanguageModel (with momentum copies) over `objectives`, for batches of `batchSize`. */
export async function tinyImageTextModel(
  fusion: Record<string, unknown>,
  opts: TinyModelOptions & { batchSize?: number; imageIds?: boolean } = {},
): Promise<VisionLanguageModel> {
  const scope = await tinyScope(fusion, { objectives: TINY_ITC_ITM, ...opts });
  return buildVisionLanguageModel(scope, { batchSize: opts.batchSize ?? 1, imageIds: opts.imageIds ?? false });
}
