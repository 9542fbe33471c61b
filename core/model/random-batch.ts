/** A seeded random batch that fits a model's encoders (for smoke checks and benchmarks). */
import { tf } from "../tensor/tf.ts";
import { Rng } from "../tensor/rng.ts";
import type { RunConfig } from "../config/schema.ts";
import type { VisionLanguageInput } from "./vision-language-model.ts";

export function randomVisionLanguageBatch(config: RunConfig, batch: number, length: number): VisionLanguageInput {
  const rng = Rng.derive(config.seed, "random-batch");
  const size = Number(config.model?.vision.imageSize ?? 256);
  const vocab = Number(config.model?.text.vocab ?? 30522);
  const pixels = new Float32Array(batch * 3 * size * size);
  for (let i = 0; i < pixels.length; i++) pixels[i] = rng.normal();
  const ids = new Int32Array(batch * length);
  const mask = new Int32Array(batch * length);
  for (let b = 0; b < batch; b++) {
    const valid = Math.max(2, length - b); // later rows carry padding
    for (let l = 0; l < length; l++) {
      const i = b * length + l;
      mask[i] = l < valid ? 1 : 0;
      ids[i] = l === 0 ? Math.min(101, vocab - 1) : l < valid ? 1 + rng.int(vocab - 1) : 0;
    }
  }
  return {
    images: tf.tensor4d(pixels, [batch, 3, size, size]),
    ids: tf.tensor2d(ids, [batch, length], "int32"),
    mask: tf.tensor2d(mask, [batch, length], "int32"),
  };
}
