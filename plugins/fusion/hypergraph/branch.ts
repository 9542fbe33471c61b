/**
 * The hypergraph branch of a fusion layer and the fusion of the two branches
 * (hypergraph-reference §3.8–3.10). The branch propagates over A built from
 * the layer input: F_hg = LN_h2(x + Drop(MLP(LN_h(A·x·Θ)))) ("residual", the
 * default; its last MLP layer starts at zero) or MLP(LN_h(A·x·Θ)) ("literal").
 * The fusion mixes the attention output FA and F_hg per token.
 */
import {
  constant,
  Dropout,
  dropoutSeeds,
  gelu,
  LayerNorm,
  Linear,
  Module,
  normal,
  type Rng,
  tf,
  type Tensor,
  untaped,
  type Variable,
  zeros,
} from "../../../core/index.ts";
import type { BranchOptions } from "../options.ts";
import { bimodalFraction, hypergraphAdjacency, hypergraphIncidence } from "./hyperedges.ts";

export type BranchFusionKind = BranchOptions["fusion"];

/** The branch's options with its widths resolved (MLP_h hidden width, d_a of the branch-attention scores) and the layer's eps, dropout and init. */
export type HypergraphBranchConfig = Omit<BranchOptions, "mlpHidden" | "attentionDim" | "pretrainedBranchBias"> & {
  width: number;
  mlpHidden: number;
  attentionDim: number;
  eps: number;
  dropout: number;
  initStd: number;
};

class BranchMlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(cfg: HypergraphBranchConfig, rng: Rng) {
    super();
    this.fc1 = this.child("fc1", new Linear(cfg.width, cfg.mlpHidden, rng, { weightInit: normal(cfg.initStd), biasInit: zeros }));
    const last = cfg.branch === "residual" ? zeros : normal(cfg.initStd);
    this.fc2 = this.child("fc2", new Linear(cfg.mlpHidden, cfg.width, rng, { weightInit: last, biasInit: zeros }));
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(gelu(this.fc1.forward(x)));
  }
}

/** Θ, LN_h, MLP_h, LN_h2 (+ the learnable k-means edge weight when asked for). */
export class HypergraphBranch extends Module {
  readonly theta: Linear;
  readonly LayerNorm: LayerNorm;
  readonly mlp: BranchMlp;
  readonly output_LayerNorm: LayerNorm | null;
  readonly cluster_weight: Variable | null;
  private readonly dropout: Dropout;
  /** bimodal-hyperedge fraction of the last forward (when `collectStats`) */
  lastBimodalFraction: number | null = null;
  collectStats = false;
  /** this layer's k-means seed outside training steps (evaluation is repeatable; layers differ) */
  private readonly evalKmeansSeed: number;

  constructor(
    readonly cfg: HypergraphBranchConfig,
    rng: Rng,
  ) {
    super();
    this.theta = this.child("theta", new Linear(cfg.width, cfg.width, rng, { bias: false, weightInit: normal(cfg.initStd) }));
    this.LayerNorm = this.child("LayerNorm", new LayerNorm(cfg.width, cfg.eps, rng));
    this.mlp = this.child("mlp", new BranchMlp(cfg, rng));
    this.output_LayerNorm = cfg.branch === "residual" ? this.child("output_LayerNorm", new LayerNorm(cfg.width, cfg.eps, rng)) : null;
    // softplus(ρ) = 1 at ρ = ln(e − 1)
    this.cluster_weight = cfg.edgeWeights === "groupLearnable" ? this.param("cluster_weight", [], constant(Math.log(Math.E - 1)), rng) : null;
    this.dropout = this.child("dropout", new Dropout(cfg.dropout, rng.fork("hg-dropout")));
    // drawn last and only for random seeding, so that strided models initialise exactly as before
    this.evalKmeansSeed = cfg.kmeansInit === "random" ? rng.fork("hg-kmeans").nextSeed() : 0;
  }

  /**
   * The seed of random k-means seeding for this call: in a training step drawn
   * from the step's seed stream (as dropout's masks are, so a resumed run
   * repeats it), a new one per layer and step; outside steps this layer's own.
   */
  kmeansSeed(): number {
    return dropoutSeeds.active ? dropoutSeeds.next() : this.evalKmeansSeed;
  }

  /**
   * A [B, N, N] for nodes x [B, N, D] with validity `mask` and `modality` (0 image, 1 text), both [B, N].
   * With fixed edge weights A carries no gradient, so it is built off the tape: the backward pass then
   * neither forms ∂A (an N×N×D product per layer) nor runs back through its construction.
   */
  adjacency(x: Tensor, mask: Tensor, modality: Tensor, seed?: number): Tensor {
    const build = () => this.buildAdjacency(x, mask, modality, seed);
    return this.cluster_weight ? build() : untaped(build);
  }

  private buildAdjacency(x: Tensor, mask: Tensor, modality: Tensor, seed?: number): Tensor {
    return tf.tidy(() => {
      const n = x.shape[1] as number;
      const h = hypergraphIncidence(x, mask, modality, {
        k: this.cfg.knn,
        clusters: this.cfg.clusters,
        iterations: this.cfg.iterations,
        modalityMode: this.cfg.modalityMode,
        randomInitSeed: this.cfg.kmeansInit === "random" ? (seed ?? this.kmeansSeed()) : undefined,
      });
      if (this.collectStats) this.lastBimodalFraction = bimodalFraction(h, modality);
      const e = h.shape[2] as number;
      let w: Tensor = tf.ones([e]);
      if (this.cluster_weight && e > n) {
        w = tf.concat([tf.ones([n]), tf.mul(tf.ones([e - n]), tf.softplus(this.cluster_weight))]);
      }
      return hypergraphAdjacency(h, w, this.cfg.norm);
    });
  }

  /** F_hg for nodes x [B, N, D] given A [B, N, N]. */
  forward(x: Tensor, a: Tensor): Tensor {
    return tf.tidy(() => {
      const [b, n, d] = x.shape as [number, number, number];
      const y = tf.reshape(this.theta.forward(tf.reshape(x, [b * n, d])), [b, n, d]);
      const z = this.mlp.forward(this.LayerNorm.forward(tf.matMul(a, y)));
      if (!this.output_LayerNorm) return z;
      return this.output_LayerNorm.forward(tf.add(x, this.dropout.forward(z)));
    });
  }
}

/** Fusion(FA, F_hg): per-token branch attention (default), a gate, a zero-initialised gate, or LN of the sum. */
export class BranchFusion extends Module {
  readonly score: Linear | null = null;
  readonly query: Linear | null = null;
  readonly branch_bias: Variable | null = null;
  readonly gate: Linear | null = null;
  readonly gamma: Variable | null = null;
  readonly LayerNorm: LayerNorm | null = null;
  /** mean weight of the hypergraph branch over all tokens of the last forward (branch attention, when `collectStats`) */
  lastBranchWeight: number | null = null;
  collectStats = false;

  constructor(
    readonly kind: BranchFusionKind,
    width: number,
    attentionDim: number,
    branchBias: number,
    eps: number,
    initStd: number,
    rng: Rng,
  ) {
    super();
    if (kind === "branchAttention") {
      this.score = this.child("score", new Linear(width, attentionDim, rng, { weightInit: normal(initStd), biasInit: zeros }));
      this.query = this.child("query", new Linear(attentionDim, 1, rng, { bias: false, weightInit: normal(initStd) }));
      this.branch_bias = this.param("branch_bias", [2], (shape) => Float32Array.from([0, branchBias].slice(0, shape[0])), rng);
    } else if (kind === "gate") {
      this.gate = this.child("gate", new Linear(2 * width, width, rng, { weightInit: normal(initStd), biasInit: zeros }));
    } else if (kind === "zeroGate") {
      this.gamma = this.param("gamma", [], zeros, rng);
    } else {
      this.LayerNorm = this.child("LayerNorm", new LayerNorm(width, eps, rng));
    }
  }

  /** Branch-attention weights [B, L, 2] (for inspection), or null for other kinds. */
  weights(fa: Tensor, fhg: Tensor): Tensor | null {
    if (!this.score || !this.query || !this.branch_bias) return null;
    return tf.tidy(() => {
      const s = (f: Tensor) => this.query!.forward(tf.tanh(this.score!.forward(f)));
      const scores = tf.add(tf.concat([s(fa), s(fhg)], -1), this.branch_bias!);
      return tf.softmax(scores, -1);
    });
  }

  forward(fa: Tensor, fhg: Tensor): Tensor {
    return tf.tidy(() => {
      switch (this.kind) {
        case "branchAttention": {
          const alpha = this.weights(fa, fhg) as Tensor;
          const [aAtt, aHg] = tf.split(alpha, 2, -1);
          if (this.collectStats) this.lastBranchWeight = tf.mean(aHg).dataSync()[0];
          return tf.add(tf.mul(aAtt, fa), tf.mul(aHg, fhg));
        }
        case "gate": {
          const g = tf.sigmoid(this.gate!.forward(tf.concat([fa, fhg], -1)));
          return tf.add(tf.mul(g, fa), tf.mul(tf.sub(1, g), fhg));
        }
        case "zeroGate":
          return tf.add(fa, tf.mul(this.gamma!, fhg));
        case "sum":
          return this.LayerNorm!.forward(tf.add(fa, fhg));
      }
    });
  }
}
