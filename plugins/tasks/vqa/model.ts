/**
 * ALBEF's VQA model (models/model_vqa.py): the fusion encoder turns question +
 * image into question states; an answer decoder — BERT layers with causal
 * self-attention and cross-attention to the question states, the text
 * encoder's embeddings and MLM head as its own copies — generates the answer.
 * Momentum copies of everything distil the token predictions.
 */
import {
  additiveMask,
  BertLayer,
  type Fusion,
  type LayerShape,
  MomentumCopies,
  Module,
  ModuleList,
  type Rng,
  ShapeError,
  type TextEncoder,
  tf,
  type Tensor,
  type Variable,
  type VisionEncoder,
} from "../../../core/index.ts";

/** Additive [B, 1, L, L] mask: position i sees positions j ≤ i that are tokens. */
export function causalMask(mask: Tensor): Tensor {
  return tf.tidy(() => {
    const l = mask.shape[1] as number;
    const lower = tf.linalg.bandPart(tf.ones([l, l]), -1, 0);
    const keys = tf.expandDims(tf.expandDims(tf.cast(mask, "float32"), 1), 1);
    return tf.mul(tf.sub(1, tf.mul(keys, lower)), -10000);
  });
}

/** Embeddings and LM head (a text encoder plugin with no layers of its own) around causal cross-attention BERT layers. */
export class AnswerDecoder extends Module {
  readonly text: TextEncoder;
  readonly layer: ModuleList<BertLayer>;

  constructor(text: TextEncoder, layers: number, cfg: Omit<LayerShape, "layers">, rng: Rng) {
    super();
    if (!text.mlmLogits) throw new ShapeError("the answer decoder needs a text encoder with an MLM head (its LM head)");
    this.text = this.child("text", text);
    this.layer = this.child(
      "layer",
      new ModuleList(Array.from({ length: layers }, () => new BertLayer({ ...cfg, crossAttention: true, encoderWidth: cfg.width }, rng))),
    );
  }

  /** Hidden states [N, La, D] of answer tokens `ids`/`mask` [N, La] attending to `states` [N, Lq, D] (mask [N, Lq]). */
  forward(ids: Tensor, mask: Tensor, states: Tensor, statesMask: Tensor): Tensor {
    return tf.tidy(() => {
      const self = causalMask(mask);
      const enc = additiveMask(statesMask);
      let x = this.text.forward(ids, mask);
      for (const l of this.layer.items) x = l.forward(x, self, states, enc);
      return x;
    });
  }

  logits(hidden: Tensor): Tensor {
    return (this.text.mlmLogits as (h: Tensor) => Tensor).call(this.text, hidden);
  }
}

export interface VqaParts {
  vision: VisionEncoder;
  text: TextEncoder;
  fusion: Fusion;
  decoder: AnswerDecoder;
}

export class VqaModel extends Module {
  readonly visual_encoder: VisionEncoder;
  readonly text_encoder: TextEncoder;
  readonly fusion: Fusion;
  readonly text_decoder: AnswerDecoder;
  readonly visual_encoder_m: VisionEncoder;
  readonly text_encoder_m: TextEncoder;
  readonly fusion_m: Fusion;
  readonly text_decoder_m: AnswerDecoder;
  private readonly copies: MomentumCopies;

  constructor(
    online: VqaParts,
    momentum: VqaParts,
    readonly momentumRate: number,
  ) {
    super();
    this.visual_encoder = this.child("visual_encoder", online.vision);
    this.text_encoder = this.child("text_encoder", online.text);
    this.fusion = this.child("fusion", online.fusion);
    this.text_decoder = this.child("text_decoder", online.decoder);
    this.visual_encoder_m = this.child("visual_encoder_m", momentum.vision);
    this.text_encoder_m = this.child("text_encoder_m", momentum.text);
    this.fusion_m = this.child("fusion_m", momentum.fusion);
    this.text_decoder_m = this.child("text_decoder_m", momentum.decoder);
    this.copies = new MomentumCopies([
      [this.visual_encoder, this.visual_encoder_m],
      [this.text_encoder, this.text_encoder_m],
      [this.fusion, this.fusion_m],
      [this.text_decoder, this.text_decoder_m],
    ]);
  }

  *trainable(): Generator<[string, Variable]> {
    for (const [name, v] of this.namedParameters()) if (!this.copies.isMomentum(v)) yield [name, v];
  }

  momentumUpdate(): void {
    this.copies.update(this.momentumRate);
  }

  copyToMomentum(): void {
    this.copies.copy();
  }

  /** Question states [B, Lq, D]: the fusion encoder over the question and the image. */
  questionStates(images: Tensor, ids: Tensor, mask: Tensor, momentum = false): Tensor {
    return tf.tidy(() => {
      const image = (momentum ? this.visual_encoder_m : this.visual_encoder).forward(images);
      const text = (momentum ? this.text_encoder_m : this.text_encoder).forward(ids, mask);
      return (momentum ? this.fusion_m : this.fusion).forward({ text, textMask: mask, image });
    });
  }

  /** Vocabulary logits [N, La, V] for answers given question states. */
  answerLogits(states: Tensor, statesMask: Tensor, answerIds: Tensor, answerMask: Tensor, momentum = false): Tensor {
    return tf.tidy(() => {
      const d = momentum ? this.text_decoder_m : this.text_decoder;
      return d.logits(d.forward(answerIds, answerMask, states, statesMask));
    });
  }
}
