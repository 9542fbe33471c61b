/** The unimodal encoder kinds: images → tokens, token ids → features. */
import type { Module } from "../../tensor/module.ts";
import type { Tensor } from "../../tensor/tf.ts";
import { defineKind } from "./define.ts";

/** An attention whose probabilities [B, heads, Nq, Nk] a probe can see and stand in for (Grad-CAM). */
export interface ProbedAttention {
  probe: ((probs: Tensor) => Tensor) | null;
  readonly heads: number;
}

/** Images [B, 3, H, W] float32 (normalised) → tokens [B, 1 + N, width] (CLS first). */
export interface VisionEncoder extends Module {
  readonly width: number;
  forward(images: Tensor): Tensor;
  /** number of blocks (for `selfAttention`) */
  readonly depth?: number;
  /** 0-based block's self-attention over [CLS; patches], when the encoder has one (Grad-CAM, ITC mode) */
  selfAttention?(block: number): ProbedAttention;
}
export const VisionEncoder = defineKind<VisionEncoder>("VisionEncoder", "image → token features");

/**
 * Token ids [B, L] int32 + mask [B, L] (1 = token) → features [B, L, width].
 * Encoders that can do masked-language modelling also map hidden states of
 * the text width to vocabulary logits.
 */
export interface TextEncoder extends Module {
  readonly width: number;
  readonly vocabSize?: number;
  forward(ids: Tensor, mask: Tensor): Tensor;
  mlmLogits?(hidden: Tensor): Tensor;
}
export const TextEncoder = defineKind<TextEncoder>("TextEncoder", "token ids → token features (unimodal)");
