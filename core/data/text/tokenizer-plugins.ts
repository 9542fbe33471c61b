/**
 * The built-in Tokenizer plugins. Kept apart from core-plugins.ts so that the
 * data workers can register them without loading TensorFlow.js.
 */
import { z } from "zod";
import { Tokenizer } from "../../registry/kinds/index.ts";
import type { PluginRegistry } from "../../registry/registry.ts";
import { SentencePieceTokenizer } from "./sentencepiece.ts";
import { WordPieceTokenizer } from "./wordpiece.ts";

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

export function registerTokenizerPlugins(registry: PluginRegistry): void {
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
}
