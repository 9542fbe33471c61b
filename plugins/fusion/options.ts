/**
 * The fusion plugins' options, each written once: what every attention-based
 * fusion takes, the hypergraph branch's own options (defaults are the
 * decisions recorded in hypergraph-reference.md), and the hypergraph fusion
 * that joins them. The layered fusion and the branch take these parsed types.
 */
import { z } from "zod";

/** Options every attention-based fusion plugin takes. */
export const FusionBaseOptions = z.strictObject({
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
  /** std of the normal initialisation of weights (BERT: 0.02, for width 768; see the bert plugin's initStd) */
  initStd: z.number().positive().default(0.02),
  /**
   * activation checkpointing per layer while training: each layer keeps only its input and
   * output and reruns its forward in the backward pass (less memory, about a third more time)
   */
  checkpointLayers: z.boolean().default(false),
});
export type FusionBaseOptions = z.output<typeof FusionBaseOptions>;

/** The hypergraph branch of one fusion layer: how hyperedges are built over [image; text] and how the branch joins attention. */
export const BranchOptions = z.strictObject({
  /** kNN hyperedge size including the centre */
  knn: z.number().int().min(1).default(10),
  /** k-means clusters per sample (0 = no cluster hyperedges) */
  clusters: z.number().int().min(0).default(16),
  iterations: z.number().int().min(0).default(5),
  kmeansInit: z.enum(["strided", "random"]).default("strided"),
  modalityMode: z.enum(["joint", "cross", "balanced"]).default("joint"),
  edgeWeights: z.enum(["fixed", "groupLearnable"]).default("fixed"),
  norm: z.enum(["sym", "mean"]).default("sym"),
  branch: z.enum(["residual", "literal"]).default("residual"),
  fusion: z.enum(["branchAttention", "gate", "zeroGate", "sum"]).default("branchAttention"),
  /** β of the hypergraph branch in branch attention: 0 from scratch, −3 from pre-trained weights */
  branchBias: z.number().default(0),
  /** β the branch starts with when the fusion's layers are loaded from pre-trained weights that lack the branch (BERT, an attention-only checkpoint) */
  pretrainedBranchBias: z.number().default(-3),
  /** MLP_h hidden width (default: the fusion width) */
  mlpHidden: z.number().int().positive().optional(),
  /** d_a of the branch-attention scores (default: width / 4) */
  attentionDim: z.number().int().positive().optional(),
});
export type BranchOptions = z.output<typeof BranchOptions>;

/**
 * The paper's fusion: attention (ALBEF's cross-attention, or merged
 * self-attention) plus the branch in the listed layers. With
 * `hypergraphLayers: []` and `attention: cross` it is exactly ALBEF's fusion
 * (the paper's ablation baseline).
 */
export const HypergraphFusionOptions = FusionBaseOptions.extend({
  /** attention beside the branch: ALBEF's cross-attention, or self-attention over [image; text] */
  attention: z.enum(["cross", "merged"]).default("cross"),
  /** 0-based layers carrying the branch; default: every layer */
  hypergraphLayers: z.array(z.number().int().nonnegative()).optional(),
}).extend(BranchOptions.shape);
export type HypergraphFusionOptions = z.output<typeof HypergraphFusionOptions>;
