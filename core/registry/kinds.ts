/**
 * The plugin kinds. Each kind is an interface (what a plugin implements) and,
 * under the same name, a `PluginKind` value that carries its injection token.
 */
import type { Module } from "../tensor/module.ts";
import type { Tensor } from "../tensor/tf.ts";
import type { BackendProvider } from "../tensor/backend.ts";

export interface PluginKind<T> {
  readonly name: string;
  readonly token: symbol;
  readonly description: string;
  /** Phantom field carrying the implemented type; never set. */
  readonly __type?: () => T;
}

export function defineKind<T>(name: string, description: string): PluginKind<T> {
  return Object.freeze({ name, description, token: Symbol.for(`polyalign.${name}`) });
}

/** Images [B, 3, H, W] float32 (normalised) → tokens [B, 1 + N, width] (CLS first). */
/** An attention whose probabilities [B, heads, Nq, Nk] a probe can see and stand in for (Grad-CAM). */
export interface ProbedAttention {
  probe: ((probs: Tensor) => Tensor) | null;
  readonly heads: number;
}

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

/** Text and image features → fused text-side features [B, L, width] (row 0 = CLS). */
export interface Fusion extends Module {
  readonly width: number;
  forward(input: FusionInput): Tensor;
  /** number of fusion layers (for attention sites) */
  readonly depth?: number;
  /** the text → image attention of 0-based layer `layer`, when the fusion has one (Grad-CAM needs it) */
  attentionSite?(layer: number): AttentionSite;
}
export const Fusion = defineKind<Fusion>("Fusion", "fusion encoder over text + image tokens");

/** A training objective: computes a scalar loss from a task-defined context. */
export interface Objective<Ctx = unknown> {
  readonly name: string;
  readonly weight: number;
  compute(ctx: Ctx): { loss: Tensor; parts?: Record<string, Tensor> };
}
export const Objective = defineKind<Objective>("Objective", "a loss term (itc, itm, mlm, ...)");

export interface TaskResult {
  metrics: Record<string, number>;
  /** files the task wrote, by role (`checkpoint`, `summary`, ...) */
  artifacts?: Record<string, string>;
}

/** What a task is handed when it runs. Defined in run.ts to avoid a cycle. */
export interface TaskContextLike {
  readonly runDir: string;
}

/** A job driven from config: pretrain, retrieval, vqa, nlvr2, grounding. */
export interface Task<Ctx extends TaskContextLike = TaskContextLike> {
  readonly name: string;
  run(ctx: Ctx): Promise<TaskResult>;
}
export const Task = defineKind<Task>("Task", "a job: pretrain, fine-tune, evaluate");

export interface EncodedText {
  /** [batch, length] row-major */
  ids: Int32Array;
  /** [batch, length], 1 = token */
  mask: Int32Array;
  batch: number;
  length: number;
}

export interface SpecialTokenIds {
  pad: number;
  cls: number;
  sep: number;
  mask: number;
  unk: number;
}

export interface Tokenizer {
  /** Asynchronous set-up (e.g. a WebAssembly module); await before the first encode. */
  init?(): Promise<void>;
  readonly vocabSize: number;
  readonly special: SpecialTokenIds;
  encode(texts: readonly string[], opts?: { maxLength?: number; padTo?: "longest" | "max" }): EncodedText;
  decode(ids: readonly number[]): string;
}
export const Tokenizer = defineKind<Tokenizer>("Tokenizer", "text → token ids");

export interface DecodedImage {
  /** interleaved RGB, row-major */
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3;
}

export interface ImageDecoder {
  decode(bytes: Uint8Array, ext: string): Promise<DecodedImage>;
}
export const ImageDecoder = defineKind<ImageDecoder>("ImageDecoder", "encoded image bytes → RGB pixels");

export type Backend = BackendProvider;
export const Backend = defineKind<Backend>("Backend", "a tfjs backend and its kernels");

export const ALL_KINDS: readonly PluginKind<unknown>[] = [
  VisionEncoder,
  TextEncoder,
  Fusion,
  Objective,
  Task,
  Tokenizer,
  ImageDecoder,
  Backend,
] as readonly PluginKind<unknown>[];
