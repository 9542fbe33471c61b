/** The Fusion kind: text and image tokens → fused text-side features, and the abilities tasks may use. */
import type { Module } from "../../tensor/module.ts";
import type { Tensor } from "../../tensor/tf.ts";
import { defineKind } from "./define.ts";
import type { ProbedAttention } from "./encoders.ts";

export interface FusionInput {
  /** text features [B, L, width] from the TextEncoder */
  text: Tensor;
  /** 0/1 [B, L] */
  textMask: Tensor;
  /** image tokens [B, N, visionWidth] from the VisionEncoder */
  image: Tensor;
  /** 0/1 [B, N]; all ones when omitted */
  imageMask?: Tensor;
}

/**
 * Where a fusion layer's text → image attention can be observed (Grad-CAM):
 * the attention whose probabilities [B, heads, Nq, Nk] a probe sees, and where
 * text queries and image keys sit in them — `cross`: queries are the L text
 * tokens, keys the N image tokens; `merged`: both are [image; text], so text
 * queries are rows N..N+L−1 and image keys columns 0..N−1.
 */
export interface AttentionSite {
  attention: ProbedAttention;
  layout: "cross" | "merged";
}

/** The shape of a stack of BERT-style layers, for models that build layers like a fusion's (ALBEF's VQA answer decoder). */
export interface LayerShape {
  layers: number;
  width: number;
  heads: number;
  intermediate: number;
  eps: number;
  dropout: number;
}

/**
 * A fusion's layers stepped one at a time, each over one image's tokens —
 * what ALBEF's NLVR2 model does with two copies of the fusion, interleaving
 * layer i over image 0 and layer i over image 1.
 */
export interface StepwiseFusion {
  readonly depth: number;
  /** What every layer needs of one image [B, N, visionWidth], computed once; opaque to the caller. Call inside a tidy. */
  imageContext(image: Tensor, textMask: Tensor): unknown;
  /** Layer `i` on text states [B, L, width], against the image of `context`. */
  stepLayer(i: number, text: Tensor, context: unknown): Tensor;
  /**
   * Make this fusion's image-side projections (each layer's cross-attention
   * key and value) the variables of `other`, whose module path is `owner`
   * (the state dict lists the shared names as tied to it).
   */
  shareImageProjections(other: StepwiseFusion, owner: string): void;
}

/**
 * Text and image features → fused text-side features [B, L, width] (row 0 =
 * CLS). Beside `forward`, a fusion may offer abilities that tasks use when
 * present and name when missing.
 */
export interface Fusion extends Module {
  readonly width: number;
  forward(input: FusionInput): Tensor;
  /** number of fusion layers (for attention sites) */
  readonly depth?: number;
  /** the text → image attention of 0-based layer `layer` (Grad-CAM needs it) */
  attentionSite?(layer: number): AttentionSite;
  /** collect per-step figures from now on (or stop): the hypergraph branch's bimodal-hyperedge fraction per layer */
  collectStats?(on: boolean): void;
  /** the figures of the last forward while collecting, for metrics.jsonl */
  stats?(): Record<string, number>;
  /** the layers stepped one at a time over one image (NLVR2's paired layers); null when this arrangement cannot (merged attention) */
  readonly stepwise?: StepwiseFusion | null;
  /** the shape of its layers (VQA builds its answer decoder like them) */
  layerShape?(): LayerShape;
  /**
   * Its layers were just loaded from pre-trained weights (BERT's) while what
   * the fusion adds was not: make the new parts start so that the pre-trained
   * function is barely changed; returns what it did, for the log and report.
   */
  startFromPretrained?(): string | null;
  /**
   * Whether an entry (its name within the fusion, e.g. `layer.0.something.weight`)
   * is one the fusion adds to BERT-style layers: absent from an attention-only
   * checkpoint, it starts new instead of failing the load.
   */
  isExtension?(name: string): boolean;
}
export const Fusion = defineKind<Fusion>("Fusion", "fusion encoder over text + image tokens");
