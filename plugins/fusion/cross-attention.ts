/**
 * ALBEF's fusion encoder: BERT layers with self-attention over the text,
 * cross-attention from text to image tokens, and an FFN (post-norm). Layer i
 * here is ALBEF's `text_encoder.bert.encoder.layer.{fusion_layer + i}`. It is
 * core's LayeredFusion with no hypergraph layer.
 */
import { z } from "zod";

/** Options every attention-based fusion plugin takes. */
export const FusionBaseConfig = z.strictObject({
  layers: z.number().int().nonnegative().default(6),
  heads: z.number().int().positive().default(12),
  /** text width; default: the configured TextEncoder's width */
  width: z.number().int().positive().optional(),
  /** image-token width; default: the configured VisionEncoder's width */
  visionWidth: z.number().int().positive().optional(),
  /** FFN width; default 4 × width */
  intermediate: z.number().int().positive().optional(),
  eps: z.number().positive().default(1e-12),
  dropout: z.number().min(0).lt(1).default(0.1),
});

export const CrossAttentionConfig = FusionBaseConfig;
export type CrossAttentionConfig = z.output<typeof CrossAttentionConfig>;
