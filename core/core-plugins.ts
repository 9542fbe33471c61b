/**
 * Plugins that core itself provides: the backends and the tokenizers (the
 * data workers build tokenizers without the plugins/ tree). Model plugins
 * live in `plugins/`; core knows none of them.
 */
import { z } from "zod";
import { Backend, Tokenizer } from "./registry/kinds.ts";
import { SentencePieceTokenizer } from "./data/text/sentencepiece.ts";
import { WordPieceTokenizer } from "./data/text/wordpiece.ts";
import type { PluginRegistry } from "./registry/registry.ts";
import { jsCpuProvider, nativeCpuProvider, stockCpuProvider, tensorflowNodeProvider } from "./tensor/backend.ts";

const NoOptions = z.strictObject({});

export const WordPieceConfig = z.strictObject({
  /** vocab.txt or tokenizer.json (relative to the working directory) */
  vocab: z.string().min(1),
  lowercase: z.boolean().default(true),
  /** ALBEF mode: no [SEP] after a single text */
  albef: z.boolean().default(true),
  /** tokens per text including [CLS] (ALBEF pre-training: 25) */
  maxLength: z.number().int().min(2).default(25),
});

export const SentencePieceConfig = z.strictObject({
  /** a SentencePiece .model file */
  model: z.string().min(1),
  lowercase: z.boolean().default(true),
  albef: z.boolean().default(true),
  maxLength: z.number().int().min(2).default(25),
});

export function registerCorePlugins(registry: PluginRegistry): void {
  registry.registerPlugin({
    kind: Tokenizer,
    name: "wordpiece",
    schema: WordPieceConfig,
    description: "BERT WordPiece (@huggingface/tokenizers) from vocab.txt or tokenizer.json",
    create: (cfg) => new WordPieceTokenizer(cfg),
  });
  registry.registerPlugin({
    kind: Tokenizer,
    name: "sentencepiece",
    schema: SentencePieceConfig,
    description: "SentencePiece (sentencepiece-js) from a .model file",
    create: (cfg) => new SentencePieceTokenizer(cfg),
  });
  registry.registerPlugin({
    kind: Backend,
    name: "tensorflow",
    schema: NoOptions,
    description: "libtensorflow via @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node (optional; used when installed)",
    create: () => tensorflowNodeProvider(),
  });
  registry.registerPlugin({
    kind: Backend,
    name: "cpu-native",
    schema: NoOptions,
    description: "tfjs cpu backend + polyalign's native kernels (OpenBLAS sgemm, C elementwise); needs `npm run build:native`",
    create: () => nativeCpuProvider(),
  });
  registry.registerPlugin({
    kind: Backend,
    name: "cpu-js",
    schema: NoOptions,
    description: "tfjs cpu backend + polyalign's pure-JS kernels (the fallback when the addon is not built)",
    create: () => jsCpuProvider(),
  });
  registry.registerPlugin({
    kind: Backend,
    name: "cpu",
    schema: NoOptions,
    description: "the stock tfjs cpu backend",
    create: () => stockCpuProvider(),
  });
}
