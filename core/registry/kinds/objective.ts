/**
 * The Objective kind: a loss term of vision-language training. An objective
 * may own parameters (projections, a head, queues), which the model mounts at
 * its root under the objective's own names, and it sees each training step
 * through a typed `StepContext`. One step, in order:
 *
 *   1. the model's momentum copies follow their online weights (EMA);
 *   2. `prepare(step)` of each objective, in config order, without gradient —
 *      momentum features, targets, masks (what is kept goes through `step.keep`);
 *   3. under the gradient tape, `loss(step)` of each objective in config order;
 *      the step's loss is the weighted sum;
 *   4. after the optimiser step, `finish(step)` — e.g. enqueue features.
 *
 * An objective's fields set in `prepare` belong to the current step.
 */
import type { Initializer } from "../../tensor/init.ts";
import type { Module } from "../../tensor/module.ts";
import type { Rng } from "../../tensor/rng.ts";
import type { Tensor, Variable } from "../../tensor/tf.ts";
import { defineKind } from "./define.ts";
import type { AttentionSite } from "./fusion.ts";
import type { SpecialTokenIds } from "./tokenizer.ts";

/** Widths of the model an objective attaches to. */
export interface ModelWidths {
  /** image tokens (the VisionEncoder's width) */
  vision: number;
  /** unimodal text features (the TextEncoder's width) */
  text: number;
  /** fused text states (the Fusion's width) */
  fusion: number;
}

/** What the task tells the objectives about its batches. */
export interface ObjectiveSetting {
  /**
   * Batches carry each sample's image id (fine-tuning on galleries with several
   * captions per image): a sample's positives are every sample of its image,
   * never its negatives.
   */
  imageIds: boolean;
  /** samples per micro-batch */
  batchSize: number;
}

/** How an objective creates its parameters while the model is built. */
export interface ObjectiveBuilder {
  readonly widths: ModelWidths;
  readonly setting: ObjectiveSetting;
  /**
   * A trained module mounted at the model root under `name`, created now from
   * the model's initialisation stream. `momentum: true` also gives it an EMA
   * copy `<name>_m` (made after every objective's online parameters; read it
   * with `step.model.momentumOf(module)`).
   */
  module<M extends Module>(name: string, create: (rng: Rng) => M, opts?: { momentum?: boolean }): M;
  /** A trained tensor at the model root. */
  parameter(name: string, shape: readonly number[], init: Initializer): Variable;
  /**
   * State saved with the model but not trained (feature queues, pointers). It
   * holds zeros until the model stands; then `init` draws its value, after
   * every parameter and momentum copy (the order ALBEF initialises in).
   */
  buffer(name: string, shape: readonly number[], dtype: "float32" | "int32", init?: (rng: Rng) => Tensor): Variable;
}

/** The model as an objective sees it. `momentum: true` runs the EMA copy. */
export interface ObjectiveModel {
  encodeImage(images: Tensor, momentum?: boolean): Tensor;
  encodeText(ids: Tensor, mask: Tensor, momentum?: boolean): Tensor;
  /** fused text states [B, L, width] of each text with its image */
  fuse(text: Tensor, textMask: Tensor, image: Tensor, momentum?: boolean): Tensor;
  /** vocabulary logits of text-width hidden states (the TextEncoder's MLM head) */
  mlmLogits(hidden: Tensor, momentum?: boolean): Tensor;
  /** the fusion's text → image attention in 0-based `layer` (objectives that supervise it); an error when the fusion offers none */
  fusionAttention(layer: number): AttentionSite;
  /** the fusion's number of layers */
  readonly fusionDepth: number;
  /** the EMA copy of a module an objective mounted with `momentum: true` */
  momentumOf<M extends Module>(online: M): M;
  readonly momentumRate: number;
}

/** The batch of one step. */
export interface StepBatch {
  /** [B, 3, H, W] normalised */
  images: Tensor;
  /** [B, L] int32 */
  ids: Tensor;
  /** [B, L] int32, 1 = token */
  mask: Tensor;
  /** image id of each sample, when the task trains with them (`ObjectiveSetting.imageIds`) */
  imageIds?: Int32Array;
  /** texts false of their image (`data.format.negatives`): ids and mask [B, Ln], `rows` the samples that have one */
  textNegatives?: { ids: Tensor; mask: Tensor; rows: Int32Array };
  /** each token's image region (`data.format.regions`) [B·L·4] as x0, y0, x1, y1 in the image's unit square, NaN where none */
  tokenRegions?: Float32Array;
}

/** Integer values recorded beside tensors (sampled indices, masks). */
export interface IntArray {
  data: Int32Array;
  shape: number[];
}

export type StepRecorder = (name: string, value: Tensor | IntArray | number) => void;

/** One training step as the objectives see it. */
export interface StepContext {
  readonly model: ObjectiveModel;
  readonly batch: StepBatch;
  /** batch size B and text length L */
  readonly size: number;
  readonly length: number;
  /** the batch's token ids on the host [B·L] */
  readonly tokenIds: Int32Array;
  /** this step's momentum-distillation weight (ramped up over the first epoch) */
  readonly alpha: number;
  /** the step's random stream (negatives, masks); the same draws on resume */
  readonly rng: Rng;
  /**
   * a stream of row `row`'s own (one per `purpose`), for draws that concern one sample
   * alone (MLM's masks): the same numbers whichever process holds the row, however the
   * batch is padded and split (data-parallel ranks, micro-batches) — and on resume
   */
  rowRng(row: number, purpose: string): Rng;
  /**
   * rows [n, ...] of every process of a data-parallel run, concatenated in rank order
   * (ALBEF's concat_all_gather, no gradient); alone, `rows` itself. Every rank must call it
   * at the same point of the step with the same shape.
   */
  gatherRows(rows: Tensor): Tensor;
  /** the same for integers on the host (image ids) */
  gatherIds(ids: Int32Array): Int32Array;
  /** processes in the step (1 alone) */
  readonly processes: number;
  /** numbers summed over the processes of a data-parallel run (a loss's global normaliser); alone, the numbers */
  sumOverRanks(values: readonly number[]): number[];
  /** the optimizer step (0-based) this micro-step belongs to: what schedules and curricula follow */
  readonly step: number;
  /** where this micro-batch sits in its optimizer step (gradient accumulation): what happens once per step happens on the first or the last */
  readonly micro: MicroPosition;
  readonly special: SpecialTokenIds;
  readonly vocabSize: number;
  /** the momentum model's image tokens of the batch (no gradient; computed once, kept until finish) */
  momentumImage(): Tensor;
  /** the momentum model's text features of the batch */
  momentumText(): Tensor;
  /** the online image tokens and text features (under the tape; computed once per pass) */
  online(): { imageEmbeds: Tensor; textEmbeds: Tensor };
  /** the embedding head's similarity logits of this pass's online features (computed once per pass) */
  similarities(): { i2t: Tensor; t2i: Tensor };
  /** keep a tensor made in `prepare` until the step finishes (the step disposes it) */
  keep<T extends Tensor>(t: T): T;
  /** a draw the caller fixed instead of sampling it (reference checks): `mlm_mask`, `neg_image_idx`, ... */
  fixed(name: string): Int32Array | undefined;
  /** report an intermediate under a reference name (no-op unless the caller records) */
  record(name: string, value: Tensor | IntArray | number): void;
}

/** An image-text embedding space (ALBEF's ITC projections; a SigLIP loss's): what retrieval and zero-shot ranking use. */
export interface EmbeddingHead {
  readonly dim: number;
  /** unit image features [B, dim] from image tokens [B, N, visionWidth] */
  imageFeatures(imageEmbeds: Tensor): Tensor;
  /** unit text features [B, dim] from text features [B, L, textWidth] */
  textFeatures(textEmbeds: Tensor, mask: Tensor): Tensor;
  /** similarity logits from cosine similarities (ITC: cos / τ) */
  scaleSimilarity(cosine: Tensor): Tensor;
  /**
   * This step's similarity logits of the online features: image → text and
   * text → image, [B, B + extra] with the batch in columns 0..B−1 (ITC adds
   * its queue). `StepContext.similarities()` calls this once per pass.
   */
  similarities(step: StepContext): { i2t: Tensor; t2i: Tensor };
}

/** A score of a fused (text, image) pair (ALBEF's ITM head). */
export interface MatchingHead {
  /** logits [n, 2] (class 1 = the text matches the image) from fused text states [n, L, width] */
  matchLogits(fused: Tensor, mask: Tensor): Tensor;
}

export interface Objective {
  readonly name: string;
  /** factor of this loss in the step's sum */
  readonly weight: number;
  /**
   * The momentum model's EMA rate and the full distillation weight α, when this
   * objective's options set them for the whole model (ALBEF: ITC's `momentum`
   * and `alpha`). Without any: 0.995 and 0.4.
   */
  readonly distillation?: { momentum: number; alpha: number };
  /** an embedding space the objective trains, when it has one */
  readonly embedding?: EmbeddingHead;
  /** a pair score the objective trains, when it has one */
  readonly matching?: MatchingHead;
  /** create parameters (called once, while the model is built) */
  build?(builder: ObjectiveBuilder): void;
  /** the step's work without gradient, before the taped pass */
  prepare?(step: StepContext): void;
  /** the unweighted loss, a scalar; called under the tape */
  loss(step: StepContext): Tensor;
  /** after the optimiser step */
  finish?(step: StepContext): void;
}
export const Objective = defineKind<Objective>("Objective", "a loss term of training, with the parameters it owns");

/** A micro-batch's place in its optimizer step: both true without gradient accumulation. */
export interface MicroPosition {
  first: boolean;
  last: boolean;
}
