/**
 * The composition every task starts from: a VisionEncoder, a TextEncoder and
 * a Fusion module, taken from the run's container (so the config decides
 * which). Children are named as in ALBEF: `visual_encoder`, `text_encoder`,
 * and `fusion` (mapped to ALBEF's fusion layers by the checkpoint name map).
 */
import { Module } from "../tensor/module.ts";
import { tf, type Tensor } from "../tensor/tf.ts";
import { Fusion, TextEncoder, VisionEncoder } from "../registry/kinds.ts";
import type { RunScope } from "../registry/run-scope.ts";

export interface VisionLanguageInput {
  /** [B, 3, H, W] float32, normalised */
  images: Tensor;
  /** [B, L] int32 */
  ids: Tensor;
  /** [B, L] 0/1 */
  mask: Tensor;
}

export interface VisionLanguageOutput {
  imageEmbeds: Tensor;
  textEmbeds: Tensor;
  fused: Tensor;
}

export class VisionLanguageModel extends Module {
  readonly visual_encoder: VisionEncoder;
  readonly text_encoder: TextEncoder;
  readonly fusion: Fusion;

  constructor(parts: { vision: VisionEncoder; text: TextEncoder; fusion: Fusion }) {
    super();
    this.visual_encoder = this.child("visual_encoder", parts.vision);
    this.text_encoder = this.child("text_encoder", parts.text);
    this.fusion = this.child("fusion", parts.fusion);
  }

  static fromScope(scope: RunScope): VisionLanguageModel {
    return new VisionLanguageModel({
      vision: scope.resolve(VisionEncoder),
      text: scope.resolve(TextEncoder),
      fusion: scope.resolve(Fusion),
    });
  }

  /** Unimodal encoders, then fusion of each text with its own image. All outputs belong to the caller. */
  forward(input: VisionLanguageInput): VisionLanguageOutput {
    const imageEmbeds = this.visual_encoder.forward(input.images);
    const textEmbeds = this.text_encoder.forward(input.ids, input.mask);
    const fused = tf.tidy(() => this.fusion.forward({ text: textEmbeds, textMask: input.mask, image: imageEmbeds }));
    return { imageEmbeds, textEmbeds, fused };
  }
}
