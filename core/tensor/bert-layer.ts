/**
 * BERT's post-norm transformer layer (HF / ALBEF `xbert.py` naming), shared
 * by the text encoder and the attention-based fusion plugins:
 *   attention.self.{query,key,value}, attention.output.{dense,LayerNorm},
 *   [crossattention.self.{query,key,value}, crossattention.output.{dense,LayerNorm}],
 *   intermediate.dense, output.{dense,LayerNorm}
 */
import { tf, type Tensor } from "./tf.ts";
import { Module } from "./module.ts";
import { Dropout, gelu, LayerNorm, Linear } from "./layers.ts";
import { additiveMask, mergeHeads, scaledDotProductAttention, splitHeads } from "./attention.ts";
import { normal, zeros } from "./init.ts";
import type { Rng } from "./rng.ts";
import { ShapeError } from "../errors.ts";

export interface BertLayerConfig {
  width: number;
  heads: number;
  intermediate: number;
  eps: number;
  dropout: number;
  /** add a cross-attention block over `encoderWidth`-wide tokens */
  crossAttention?: boolean;
  encoderWidth?: number;
  /** std of the normal init for weights (BERT: 0.02) */
  initStd?: number;
}

/**
 * q/k/v projections + attention; `saveAttention` keeps the last probabilities,
 * `probe` sees them and may stand in for them (Grad-CAM).
 */
export class BertSelfAttention extends Module {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  private readonly dropout: Dropout;
  saveAttention = false;
  lastProbs: Tensor | null = null;
  probe: ((probs: Tensor) => Tensor) | null = null;

  constructor(
    readonly width: number,
    readonly heads: number,
    kvWidth: number,
    dropoutP: number,
    initStd: number,
    rng: Rng,
  ) {
    super();
    if (width % heads !== 0) throw new ShapeError(`attention width ${width} is not divisible by ${heads} heads`);
    const init = { weightInit: normal(initStd), biasInit: zeros };
    this.query = this.child("query", new Linear(width, width, rng, init));
    this.key = this.child("key", new Linear(kvWidth, width, rng, init));
    this.value = this.child("value", new Linear(kvWidth, width, rng, init));
    this.dropout = this.child("dropout", new Dropout(dropoutP, rng.fork("attn-dropout")));
  }

  /** Additive mask is [B, 1, 1|Nq, Nk]. */
  forward(x: Tensor, kv: Tensor, mask: Tensor | undefined): Tensor {
    const q = splitHeads(this.query.forward(x), this.heads);
    const k = splitHeads(this.key.forward(kv), this.heads);
    const v = splitHeads(this.value.forward(kv), this.heads);
    const { context, probs } = scaledDotProductAttention(q, k, v, { mask, dropout: this.dropout, probe: this.probe ?? undefined });
    if (this.saveAttention) {
      this.lastProbs?.dispose();
      this.lastProbs = tf.keep(probs);
    }
    return mergeHeads(context);
  }
}

/** dense → dropout → LayerNorm(x + residual). */
export class BertResidualOutput extends Module {
  readonly dense: Linear;
  readonly LayerNorm: LayerNorm;
  private readonly dropout: Dropout;

  constructor(inWidth: number, width: number, eps: number, dropoutP: number, initStd: number, rng: Rng) {
    super();
    this.dense = this.child("dense", new Linear(inWidth, width, rng, { weightInit: normal(initStd), biasInit: zeros }));
    this.LayerNorm = this.child("LayerNorm", new LayerNorm(width, eps, rng));
    this.dropout = this.child("dropout", new Dropout(dropoutP, rng.fork("out-dropout")));
  }

  forward(hidden: Tensor, residual: Tensor): Tensor {
    return this.LayerNorm.forward(tf.add(this.dropout.forward(this.dense.forward(hidden)), residual));
  }
}

export class BertAttentionBlock extends Module {
  readonly self: BertSelfAttention;
  readonly output: BertResidualOutput;

  constructor(cfg: BertLayerConfig, kvWidth: number, rng: Rng) {
    super();
    const std = cfg.initStd ?? 0.02;
    this.self = this.child("self", new BertSelfAttention(cfg.width, cfg.heads, kvWidth, cfg.dropout, std, rng));
    this.output = this.child("output", new BertResidualOutput(cfg.width, cfg.width, cfg.eps, cfg.dropout, std, rng));
  }

  forward(x: Tensor, kv: Tensor, mask: Tensor | undefined): Tensor {
    return this.output.forward(this.self.forward(x, kv, mask), x);
  }
}

export class BertIntermediate extends Module {
  readonly dense: Linear;
  constructor(width: number, intermediate: number, initStd: number, rng: Rng) {
    super();
    this.dense = this.child("dense", new Linear(width, intermediate, rng, { weightInit: normal(initStd), biasInit: zeros }));
  }
  forward(x: Tensor): Tensor {
    return gelu(this.dense.forward(x));
  }
}

export class BertLayer extends Module {
  readonly attention: BertAttentionBlock;
  readonly crossattention: BertAttentionBlock | null;
  readonly intermediate: BertIntermediate;
  readonly output: BertResidualOutput;

  constructor(
    readonly cfg: BertLayerConfig,
    rng: Rng,
  ) {
    super();
    const std = cfg.initStd ?? 0.02;
    this.attention = this.child("attention", new BertAttentionBlock(cfg, cfg.width, rng));
    this.crossattention = cfg.crossAttention ? this.child("crossattention", new BertAttentionBlock(cfg, cfg.encoderWidth ?? cfg.width, rng)) : null;
    this.intermediate = this.child("intermediate", new BertIntermediate(cfg.width, cfg.intermediate, std, rng));
    this.output = this.child("output", new BertResidualOutput(cfg.intermediate, cfg.width, cfg.eps, cfg.dropout, std, rng));
  }

  /**
   * x [B, L, width]; selfMask additive [B, 1, 1, L]; encoder tokens [B, N, encoderWidth]
   * with additive mask [B, 1, 1, N] (used only by cross-attention layers).
   */
  forward(x: Tensor, selfMask: Tensor | undefined, encoder?: Tensor, encoderMask?: Tensor): Tensor {
    return tf.tidy(() => {
      let h = this.attention.forward(x, x, selfMask);
      if (this.crossattention) {
        if (!encoder) throw new ShapeError("BertLayer: a cross-attention layer needs encoder tokens");
        h = this.crossattention.forward(h, encoder, encoderMask);
      }
      return this.feedForward(h);
    });
  }

  /** intermediate → output (with residual + LayerNorm). */
  feedForward(h: Tensor): Tensor {
    return this.output.forward(this.intermediate.forward(h), h);
  }
}

export { additiveMask };
