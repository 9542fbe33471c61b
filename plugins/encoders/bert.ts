/**
 * BERT text encoder (the unimodal part of ALBEF's BertForMaskedLM): word +
 * position + token-type-0 embeddings → LayerNorm (eps 1e-12) → post-norm
 * layers. Names follow ALBEF's `text_encoder.bert.*`.
 */
import { z } from "zod";
import {
  additiveMask,
  alibiBias,
  checkpointed,
  BertLayer,
  Dropout,
  Embedding,
  gelu,
  LayerNorm,
  Linear,
  Module,
  ModuleList,
  type Rng,
  ShapeError,
  type Tensor,
  type TextEncoder,
  tf,
  normal,
  type Variable,
  zeros,
} from "../../core/index.ts";

export const BertConfig = z.strictObject({
  vocab: z.number().int().positive().default(30522),
  width: z.number().int().positive().default(768),
  /** unimodal layers (ALBEF: 6 of BERT-base's 12; the rest are fusion layers) */
  layers: z.number().int().nonnegative().default(6),
  heads: z.number().int().positive().default(12),
  intermediate: z.number().int().positive().default(3072),
  maxPositions: z.number().int().positive().default(512),
  typeVocab: z.number().int().positive().default(2),
  eps: z.number().positive().default(1e-12),
  dropout: z.number().min(0).lt(1).default(0.1),
  /** the MLM head `cls.predictions` (decoder tied to the word embeddings) */
  mlmHead: z.boolean().default(true),
  /**
   * std of the normal initialisation of weights and embeddings. BERT's 0.02 suits width 768;
   * a narrow model trained from scratch keeps BERT's gain with about 0.02·√(768 / width).
   */
  initStd: z.number().positive().default(0.02),
  /**
   * a symmetric ALiBi bias in the self-attention (−slope·|i − j|, the first head's
   * slope this, each later head's smaller): tokens read their own phrase first, so
   * a noun's state carries its own adjectives; absent or null = BERT (no bias)
   */
  alibi: z
    .number()
    .positive()
    .nullish()
    .transform((v) => v ?? undefined),
  /**
   * activation checkpointing per layer while training: each layer keeps only its input and
   * output and reruns its forward in the backward pass (less memory, about a third more time)
   */
  checkpointLayers: z.boolean().default(false),
});
export type BertConfig = z.output<typeof BertConfig>;

class BertEmbeddings extends Module {
  readonly word_embeddings: Embedding;
  readonly position_embeddings: Embedding;
  readonly token_type_embeddings: Embedding;
  readonly LayerNorm: LayerNorm;
  private readonly dropout: Dropout;

  constructor(
    readonly cfg: BertConfig,
    rng: Rng,
  ) {
    super();
    const init = normal(cfg.initStd);
    this.word_embeddings = this.child("word_embeddings", new Embedding(cfg.vocab, cfg.width, rng, init));
    this.position_embeddings = this.child("position_embeddings", new Embedding(cfg.maxPositions, cfg.width, rng, init));
    this.token_type_embeddings = this.child("token_type_embeddings", new Embedding(cfg.typeVocab, cfg.width, rng, init));
    this.LayerNorm = this.child("LayerNorm", new LayerNorm(cfg.width, cfg.eps, rng));
    this.dropout = this.child("dropout", new Dropout(cfg.dropout, rng.fork("emb-dropout")));
  }

  forward(ids: Tensor): Tensor {
    const len = ids.shape[1] as number;
    if (len > this.cfg.maxPositions) {
      throw new ShapeError(`bert: text length ${len} exceeds maxPositions ${this.cfg.maxPositions}`);
    }
    return tf.tidy(() => {
      const words = this.word_embeddings.forward(ids);
      const pos = tf.slice(this.position_embeddings.weight, [0, 0], [len, this.cfg.width]);
      const type0 = tf.slice(this.token_type_embeddings.weight, [0, 0], [1, this.cfg.width]);
      return this.dropout.forward(this.LayerNorm.forward(tf.add(tf.add(words, pos), type0)));
    });
  }
}

class BertEncoderStack extends Module {
  readonly layer: ModuleList<BertLayer>;
  constructor(cfg: BertConfig, rng: Rng) {
    super();
    const layerCfg = { width: cfg.width, heads: cfg.heads, intermediate: cfg.intermediate, eps: cfg.eps, dropout: cfg.dropout, initStd: cfg.initStd };
    this.layer = this.child("layer", new ModuleList(Array.from({ length: cfg.layers }, () => new BertLayer(layerCfg, rng))));
  }
}

class BertModel extends Module {
  readonly embeddings: BertEmbeddings;
  readonly encoder: BertEncoderStack;
  constructor(cfg: BertConfig, rng: Rng) {
    super();
    this.embeddings = this.child("embeddings", new BertEmbeddings(cfg, rng));
    this.encoder = this.child("encoder", new BertEncoderStack(cfg, rng));
  }
}

/** transform.dense → GELU → transform.LayerNorm (`cls.predictions.transform`). */
class MlmTransform extends Module {
  readonly dense: Linear;
  readonly LayerNorm: LayerNorm;
  constructor(cfg: BertConfig, rng: Rng) {
    super();
    this.dense = this.child("dense", new Linear(cfg.width, cfg.width, rng, { weightInit: normal(cfg.initStd), biasInit: zeros }));
    this.LayerNorm = this.child("LayerNorm", new LayerNorm(cfg.width, cfg.eps, rng));
  }
}

/** `cls.predictions.decoder`: weight tied to the word embeddings, bias tied to `cls.predictions.bias`. */
class MlmDecoder extends Module {
  constructor(weight: Variable, bias: Variable) {
    super();
    this.tie("weight", weight, "bert.embeddings.word_embeddings.weight");
    this.tie("bias", bias, "cls.predictions.bias");
  }
}

class MlmPredictions extends Module {
  readonly bias: Variable;
  readonly transform: MlmTransform;
  readonly decoder: MlmDecoder;
  constructor(cfg: BertConfig, wordEmbeddings: Variable, rng: Rng) {
    super();
    this.bias = this.param("bias", [cfg.vocab], zeros, rng);
    this.transform = this.child("transform", new MlmTransform(cfg, rng));
    this.decoder = this.child("decoder", new MlmDecoder(wordEmbeddings, this.bias));
  }
}

class MlmHead extends Module {
  readonly predictions: MlmPredictions;
  constructor(cfg: BertConfig, wordEmbeddings: Variable, rng: Rng) {
    super();
    this.predictions = this.child("predictions", new MlmPredictions(cfg, wordEmbeddings, rng));
  }
}

export class BertTextEncoder extends Module implements TextEncoder {
  readonly width: number;
  readonly vocabSize: number;
  readonly bert: BertModel;
  readonly cls: MlmHead | null;

  constructor(
    readonly cfg: BertConfig,
    rng: Rng,
  ) {
    super();
    this.width = cfg.width;
    this.vocabSize = cfg.vocab;
    this.bert = this.child("bert", new BertModel(cfg, rng));
    this.cls = cfg.mlmHead ? this.child("cls", new MlmHead(cfg, this.bert.embeddings.word_embeddings.weight, rng)) : null;
  }

  /** Vocabulary logits [..., vocab] of hidden states [..., width] (the MLM head). */
  mlmLogits(hidden: Tensor): Tensor {
    if (!this.cls) throw new ShapeError("bert: this text encoder was built with mlmHead: false");
    const p = this.cls.predictions;
    return tf.tidy(() => {
      const h = p.transform.LayerNorm.forward(gelu(p.transform.dense.forward(hidden)));
      const lead = h.shape.slice(0, -1);
      const flat = tf.reshape(h, [-1, this.width]);
      const logits = tf.fused.matMul({ a: flat, b: this.bert.embeddings.word_embeddings.weight, transposeB: true, bias: p.bias });
      return tf.reshape(logits, [...lead, this.cfg.vocab]);
    });
  }

  /** ids [B, L] int32, mask [B, L] 0/1 → [B, L, width]. */
  forward(ids: Tensor, mask: Tensor): Tensor {
    if (ids.rank !== 2 || mask.rank !== 2 || ids.shape[0] !== mask.shape[0] || ids.shape[1] !== mask.shape[1]) {
      throw new ShapeError(`bert: ids [${ids.shape.join(",")}] and mask [${mask.shape.join(",")}] must both be [B, L]`);
    }
    return tf.tidy(() => {
      let x = this.bert.embeddings.forward(ids);
      const keys = additiveMask(mask);
      const m = this.cfg.alibi ? tf.add(keys, alibiBias(this.cfg.heads, ids.shape[1] as number, this.cfg.alibi)) : keys;
      for (const layer of this.bert.encoder.layer.items)
        x = this.cfg.checkpointLayers ? checkpointed(layer, [x], (h, mk) => layer.forward(h, mk), [m]) : layer.forward(x, m);
      return x;
    });
  }
}
