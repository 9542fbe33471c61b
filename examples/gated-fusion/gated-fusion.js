// A user fusion plugin, registered from its own module and selected by config.
// polyalign calls the default export with its registry and its core API; use
// that API's `tf`, `z`, `Module`, ... so the plugin shares polyalign's engine.

/** @param {import("polyalign").PluginRegistry} registry @param {import("polyalign").PolyalignApi} polyalign */
export default function register(registry, polyalign) {
  const { z, tf, Module, Linear, Fusion, TextEncoder, VisionEncoder } = polyalign;

  /** Each text token gets a sigmoid-gated share of the mean image token. */
  class GatedPoolFusion extends Module {
    constructor(cfg, textWidth, visionWidth, rng) {
      super();
      this.width = textWidth;
      this.scale = cfg.scale;
      this.image_proj = this.child("image_proj", new Linear(visionWidth, textWidth, rng));
      this.gate = this.child("gate", new Linear(2 * textWidth, textWidth, rng));
    }

    forward({ text, image }) {
      return tf.tidy(() => {
        const pooled = tf.mean(this.image_proj.forward(image), 1, true); // [B, 1, D]
        const tiled = tf.tile(pooled, [1, text.shape[1], 1]); // [B, L, D]
        const g = tf.sigmoid(this.gate.forward(tf.concat([text, tiled], -1)));
        return tf.add(text, tf.mul(tf.mul(g, tiled), this.scale));
      });
    }
  }

  registry.registerPlugin({
    kind: Fusion,
    name: "gated-pool",
    schema: z.strictObject({ scale: z.number().positive().default(1) }),
    description: "example user plugin: gated mean-image pooling",
    create: (cfg, ctx) => new GatedPoolFusion(cfg, ctx.resolve(TextEncoder).width, ctx.resolve(VisionEncoder).width, ctx.rng),
  });
}
