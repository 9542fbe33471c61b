/**
 * A layer of the layered fusion: a BERT layer (ALBEF's names; cross-attention
 * when the fusion has it) that may carry the hypergraph branch beside its
 * attention, fused per token before the FFN. Without the branch it is
 * exactly BertLayer.
 */
import { BertLayer, type BertLayerConfig, type Rng, tf, type Tensor } from "../../core/index.ts";
import { BranchFusion, HypergraphBranch, type HypergraphBranchConfig } from "./hypergraph/branch.ts";

export class FusionLayer extends BertLayer {
  readonly hypergraph: HypergraphBranch | null;
  readonly hypergraph_fusion: BranchFusion | null;

  constructor(layerCfg: BertLayerConfig, branchCfg: HypergraphBranchConfig | null, rng: Rng) {
    super(layerCfg, rng);
    this.hypergraph = branchCfg ? this.child("hypergraph", new HypergraphBranch(branchCfg, rng)) : null;
    this.hypergraph_fusion = branchCfg
      ? this.child(
          "hypergraph_fusion",
          new BranchFusion(branchCfg.fusion, branchCfg.width, branchCfg.attentionDim, branchCfg.branchBias, branchCfg.eps, branchCfg.initStd, rng),
        )
      : null;
  }

  /**
   * x [B, L, D] (text, or the merged [image; text] sequence); the branch's
   * nodes are `nodes` [B, N, D] with `nodeMask` and `modality` [B, N], and
   * `textOffset` marks where x's rows start among the nodes.
   */
  forwardWithGraph(
    x: Tensor,
    selfMask: Tensor | undefined,
    encoder: Tensor | undefined,
    encoderMask: Tensor | undefined,
    graph: { nodes: Tensor; nodeMask: Tensor; modality: Tensor; textOffset: number } | null,
  ): Tensor {
    if (!this.hypergraph || !this.hypergraph_fusion || !graph) return this.forward(x, selfMask, encoder, encoderMask);
    return tf.tidy(() => {
      let fa = this.attention.forward(x, x, selfMask);
      if (this.crossattention && encoder) fa = this.crossattention.forward(fa, encoder, encoderMask);
      const a = this.hypergraph!.adjacency(graph.nodes, graph.nodeMask, graph.modality);
      const all = this.hypergraph!.forward(graph.nodes, a);
      const rows = x.shape[1] as number;
      const fhg = tf.slice(all, [0, graph.textOffset, 0], [-1, rows, -1]);
      return this.feedForward(this.hypergraph_fusion!.forward(fa, fhg));
    });
  }
}
