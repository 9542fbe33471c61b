/** The tiny model the model-level specs build: 16 px ViT of one block, a one-layer BERT, a fusion of the given kind. */
import { createLogger, prepareRun, type RunScope } from "../core/index.ts";
import { builtinRegistry } from "../plugins/index.ts";

export const HYPERGRAPH_TINY = { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 } as const;

export interface TinyModelOptions {
  seed?: number;
  fusionLayers?: number;
  vocab?: number;
}

export function tinyModelConfig(fusion: Record<string, unknown>, opts: TinyModelOptions = {}) {
  return {
    name: "tiny-model",
    seed: opts.seed ?? 3,
    backend: "auto",
    model: {
      vision: { name: "vit", imageSize: 16, patch: 8, width: 16, depth: 1, heads: 2 },
      text: { name: "bert", vocab: opts.vocab ?? 40, width: 16, layers: 1, heads: 2, intermediate: 32, maxPositions: 16 },
      fusion: { heads: 2, intermediate: 32, layers: opts.fusionLayers ?? 1, ...fusion },
    },
  };
}

/** A run scope over the tiny model's config (what `build*Model` take). */
export async function tinyScope(fusion: Record<string, unknown>, opts: TinyModelOptions = {}): Promise<RunScope> {
  const { scope } = await prepareRun(builtinRegistry(), tinyModelConfig(fusion, opts), { log: createLogger({ level: "error" }) });
  return scope;
}
