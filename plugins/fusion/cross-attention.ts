/**
 * ALBEF's fusion encoder: BERT layers with self-attention over the text,
 * cross-attention from text to image tokens, and an FFN (post-norm). Layer i
 * here is ALBEF's `text_encoder.bert.encoder.layer.{fusion_layer + i}`.
 */
import { z } from "zod";
import {
  additiveMask,
  BertLayer,
  type Fusion,
  type FusionInput,
  Module,
  ModuleList,
  type ResolvedFusionDims,
  type Rng,
  ShapeError,
  type Tensor,
  tf,
} from "../../core/index.ts";

export const CrossAttentionConfig = z.strictObject({
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
export type CrossAttentionConfig = z.output<typeof CrossAttentionConfig>;

export class CrossAttentionFusion extends Module implements Fusion {
  readonly width: number;
  readonly layer: ModuleList<BertLayer>;

  constructor(readonly cfg: CrossAttentionConfig, dims: ResolvedFusionDims, rng: Rng) {
    super();
    this.width = dims.width;
    const layerCfg = {
      width: dims.width,
      heads: cfg.heads,
      intermediate: dims.intermediate,
      eps: cfg.eps,
      dropout: cfg.dropout,
      crossAttention: true,
      encoderWidth: dims.visionWidth,
    };
    this.layer = this.child("layer", new ModuleList(Array.from({ length: cfg.layers }, () => new BertLayer(layerCfg, rng))));
  }

  forward(input: FusionInput): Tensor {
    const { text, textMask, image } = input;
    if (text.shape[2] !== this.width) {
      throw new ShapeError(`cross-attention fusion: text width ${text.shape[2]} ≠ fusion width ${this.width}`);
    }
    return tf.tidy(() => {
      const selfMask = additiveMask(textMask);
      const imageMask = additiveMask(input.imageMask ?? tf.ones([image.shape[0] as number, image.shape[1] as number], "int32"));
      let x = text;
      for (const layer of this.layer.items) x = layer.forward(x, selfMask, image, imageMask);
      return x;
    });
  }
}
