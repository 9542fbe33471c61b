// A user objective: SigLIP's pairwise sigmoid loss (Zhai et al., "Sigmoid Loss for
// Language Image Pre-Training", 2023) in place of ALBEF's softmax ITC. Every
// (image i, text j) pair of the batch is a binary decision:
//   L = −(1/B) Σ_i Σ_j log σ(z_ij · (e^t · cos(x_i, y_j) + b)),  z_ii = +1, z_ij = −1 (i ≠ j)
// with a learnable log-scale t (init log 10) and bias b (init −10). It owns its
// projections and both scalars, and is an embedding head: zero-shot retrieval,
// binding and ITM's hard negatives use its similarities.

/** @param {import("polyalign").PluginRegistry} registry @param {import("polyalign").PolyalignApi} polyalign */
export default function register(registry, polyalign) {
  const { z, tf, Linear, Objective, constant, l2normalize, poolTokens, uniformFanIn } = polyalign;

  const projection = (inWidth, outWidth, rng) => new Linear(inWidth, outWidth, rng, { weightInit: uniformFanIn(inWidth), biasInit: uniformFanIn(inWidth) });

  /** @implements {import("polyalign").Objective} @implements {import("polyalign").EmbeddingHead} */
  class SiglipObjective {
    name = "siglip";

    constructor(options) {
      this.options = options;
    }
    get weight() {
      return this.options.weight;
    }
    get embedding() {
      return this;
    }
    get dim() {
      return this.options.embedDim;
    }

    /** @param {import("polyalign").ObjectiveBuilder} b */
    build(b) {
      const d = this.options.embedDim;
      this.imageProj = b.module("siglip_image_proj", (rng) => projection(b.widths.vision, d, rng));
      this.textProj = b.module("siglip_text_proj", (rng) => projection(b.widths.text, d, rng));
      this.logScale = b.parameter("siglip_log_scale", [], constant(Math.log(this.options.scale)));
      this.bias = b.parameter("siglip_bias", [], constant(this.options.bias));
    }

    imageFeatures(imageEmbeds) {
      return tf.tidy(() => l2normalize(this.imageProj.forward(poolTokens(imageEmbeds, "cls"))));
    }
    textFeatures(textEmbeds, mask) {
      return tf.tidy(() => l2normalize(this.textProj.forward(poolTokens(textEmbeds, this.options.textPooling, mask))));
    }
    scaleSimilarity(cosine) {
      return tf.add(tf.mul(cosine, tf.exp(this.logScale)), this.bias);
    }

    /** Pair logits [B, B] of the online features: image → text, and its transpose. */
    similarities(step) {
      const { imageEmbeds, textEmbeds } = step.online();
      const image = this.imageFeatures(imageEmbeds);
      const text = this.textFeatures(textEmbeds, step.batch.mask);
      const logits = this.scaleSimilarity(tf.matMul(image, text, false, true));
      step.record("siglip_image_feat", image);
      step.record("siglip_text_feat", text);
      step.record("siglip_logits", logits);
      return { i2t: logits, t2i: tf.transpose(logits) };
    }

    loss(step) {
      const logits = step.similarities().i2t;
      const b = step.size;
      const signs = tf.sub(tf.mul(tf.eye(b), 2), 1);
      // log σ(x) = −softplus(−x): tfjs 4.22's logSigmoid fails in backprop on a computed input (its custom gradient reads a disposed tensor)
      const logSigmoid = (x) => tf.neg(tf.softplus(tf.neg(x)));
      const loss = tf.div(tf.neg(tf.sum(logSigmoid(tf.mul(signs, logits)))), b);
      step.record("siglip_loss", loss);
      return loss;
    }
  }

  registry.registerPlugin({
    kind: Objective,
    name: "siglip",
    schema: z.strictObject({
      weight: z.number().min(0).default(1),
      embedDim: z.number().int().positive().default(256),
      /** initial e^t */
      scale: z.number().positive().default(10),
      /** initial b */
      bias: z.number().default(-10),
      textPooling: z.enum(["cls", "mean"]).default("cls"),
    }),
    description: "example user objective: SigLIP's pairwise sigmoid image-text loss (an embedding head)",
    create: (cfg) => new SiglipObjective(cfg),
  });
}
