/**
 * ALBEF's weakly-supervised grounding map (Grounding.py, `--gradcam_mode itm`):
 * Grad-CAM on the text → image attention of one fusion layer. The ITM
 * class-1 logit is differentiated with respect to that layer's attention
 * probabilities A (a zero tensor added to A is what `tf.grad` differentiates
 * by); the map is mean over heads and over all L text rows (padding rows
 * zeroed but counted, as ALBEF) of A ⊙ max(∂logit/∂A, 0), image CLS column
 * dropped, reshaped to the patch grid.
 */
import { tf, type Tensor } from "../tensor/tf.ts";
import { ShapeError } from "../errors.ts";
import type { PretrainModel } from "../model/pretrain-model.ts";

export interface GradCamMaps {
  /** [B, grid, grid] row-major */
  maps: Float32Array;
  batch: number;
  grid: number;
}

/**
 * `images` [B, 3, H, W], `ids`/`mask` [B, L]; `layer`: 0-based fusion layer
 * (ALBEF uses its 3rd fusion layer, BERT layer 8).
 */
export function itmGradCam(model: PretrainModel, images: Tensor, ids: Tensor, mask: Tensor, layer: number): GradCamMaps {
  const fusion = model.fusion;
  if (!fusion.attentionSite) throw new ShapeError(`the fusion plugin has no text → image attention to take Grad-CAM on`);
  const site = fusion.attentionSite(layer);
  const [b, l] = mask.shape as [number, number];
  let saved: Tensor | null = null;
  const imageEmbeds = model.encodeImage(images);
  const textEmbeds = model.encodeText(ids, mask);
  const n = imageEmbeds.shape[1] as number;
  const grid = Math.round(Math.sqrt(n - 1));
  if (grid * grid !== n - 1) throw new ShapeError(`Grad-CAM needs a square patch grid after the CLS token; got ${n - 1} image tokens`);
  const rows = site.layout === "cross" ? l : n + l;
  const cols = site.layout === "cross" ? n : n + l;
  const zero = tf.zeros([b, site.attention.heads, rows, cols]);
  try {
    site.attention.probe = (probs) => {
      saved?.dispose();
      saved = tf.keep(probs.clone());
      return tf.add(probs, zero);
    };
    const logitOf = (delta: Tensor) => {
      site.attention.probe = (probs) => {
        saved?.dispose();
        saved = tf.keep(probs.clone());
        return tf.add(probs, delta);
      };
      const logits = model.matchLogits(textEmbeds, mask, imageEmbeds);
      return tf.sum(tf.slice(logits, [0, 1], [-1, 1])) as tf.Scalar;
    };
    const grads = tf.grad(logitOf)(zero);
    const maps = tf.tidy(() => {
      const text = (t: Tensor) => (site.layout === "cross" ? tf.slice(t, [0, 0, 0, 1], [-1, -1, -1, n - 1]) : tf.slice(t, [0, 0, n, 1], [-1, -1, l, n - 1]));
      const rowMask = tf.reshape(tf.cast(mask, "float32"), [b, 1, l, 1]);
      const a = tf.mul(text(saved as unknown as Tensor), rowMask);
      const g = tf.mul(tf.relu(text(grads)), rowMask);
      return tf.mean(tf.mul(a, g), [1, 2]);
    });
    const data = Float32Array.from(maps.dataSync());
    tf.dispose([maps, grads]);
    return { maps: data, batch: b, grid };
  } finally {
    site.attention.probe = null;
    tf.dispose([zero, imageEmbeds, textEmbeds]);
    (saved as Tensor | null)?.dispose();
  }
}
