/**
 * The paper's fusion: attention (ALBEF's cross-attention, or merged
 * self-attention) plus a hypergraph branch per layer whose hyperedges — kNN
 * and k-means over the image and text tokens — tie many entities at once,
 * fused with attention per token. Defaults are the decisions recorded in
 * hypergraph-reference.md. With `hypergraphLayers: []` and `attention: cross`
 * it is exactly ALBEF's fusion (the paper's ablation baseline). (Same folder,
 * same plugin family: the fusion plugins share their option schemas.)
 */
import { z } from "zod";
import { FusionBaseConfig } from "./cross-attention.ts";

export const HypergraphFusionConfig = FusionBaseConfig.extend({
  /** attention beside the branch: ALBEF's cross-attention, or self-attention over [image; text] */
  attention: z.enum(["cross", "merged"]).default("cross"),
  /** 0-based layers carrying the branch; default: every layer */
  hypergraphLayers: z.array(z.number().int().nonnegative()).optional(),
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
  /** MLP_h hidden width (default: the fusion width) */
  mlpHidden: z.number().int().positive().optional(),
  /** d_a of the branch-attention scores (default: width / 4) */
  attentionDim: z.number().int().positive().optional(),
});
export type HypergraphFusionConfig = z.output<typeof HypergraphFusionConfig>;

export const MergedAttentionConfig = FusionBaseConfig;
export type MergedAttentionConfig = z.output<typeof MergedAttentionConfig>;

/** The core LayeredFusion options for a hypergraph config. */
export function layeredFusionOptions(c: HypergraphFusionConfig) {
  return {
    layers: c.layers,
    heads: c.heads,
    eps: c.eps,
    dropout: c.dropout,
    attention: c.attention,
    hypergraphLayers: c.hypergraphLayers ?? Array.from({ length: c.layers }, (_, i) => i),
    branch: {
      knn: c.knn,
      clusters: c.clusters,
      iterations: c.iterations,
      kmeansInit: c.kmeansInit,
      modalityMode: c.modalityMode,
      edgeWeights: c.edgeWeights,
      norm: c.norm,
      branch: c.branch,
      fusion: c.fusion,
      branchBias: c.branchBias,
      mlpHidden: c.mlpHidden,
      attentionDim: c.attentionDim,
    },
  };
}
