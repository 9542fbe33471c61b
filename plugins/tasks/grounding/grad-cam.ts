/**
 * ALBEF's weakly-supervised grounding map (Grounding.py, `--gradcam_mode itm`):
 * Grad-CAM on the text → image attention of one fusion layer. The ITM
 * class-1 logit is differentiated with respect to that layer's attention
 * probabilities A (a zero tensor added to A is what `tf.grad` differentiates
 * by); the map is mean over heads and over all L text rows (padding rows
 * zeroed but counted, as ALBEF) of A ⊙ max(∂logit/∂A, 0), image CLS column
 * dropped, reshaped to the patch grid.
 *
 * ITC mode (`--gradcam_mode itc`, the paper's ALBEF_itc with the last ViT
 * block): the gradient of Σ_b image_feat_b · text_feat_b / τ with respect to
 * a ViT block's self-attention; the map is the CLS query row over the
 * patches, A ⊙ max(G, 0), mean over heads.
 */
import { type AttentionSite, ShapeError, tf, type Tensor, type VisionLanguageModel } from "../../../core/index.ts";

export interface AttentionGradients {
  /** the site's attention probabilities [B, h, Nq, Nk] */
  probs: Tensor;
  /** ∂ Σ_b ITM class-1 logit_b / ∂ probs */
  grads: Tensor;
  /** `cross`/`merged`: a fusion layer (text rows → image columns); `vit`: a ViT block (CLS row → patches) */
  layout: AttentionSite["layout"] | "vit";
  /** image tokens (CLS included) */
  imageTokens: number;
}

export interface GradCamMaps {
  /** [B, grid, grid] row-major */
  maps: Float32Array;
  batch: number;
  grid: number;
}

function siteOf(model: VisionLanguageModel, layer: number): AttentionSite {
  if (!model.fusion.attentionSite) throw new ShapeError("the fusion plugin has no text → image attention to take Grad-CAM on");
  return model.fusion.attentionSite(layer);
}

/** `images` [B, 3, H, W], `ids`/`mask` [B, L]; the caller disposes `probs` and `grads`. */
export function itmAttentionGradients(model: VisionLanguageModel, images: Tensor, ids: Tensor, mask: Tensor, layer: number): AttentionGradients {
  const site = siteOf(model, layer);
  const [b, l] = mask.shape as [number, number];
  const imageEmbeds = model.encodeImage(images);
  const textEmbeds = model.encodeText(ids, mask);
  const n = imageEmbeds.shape[1] as number;
  const side = site.layout === "cross" ? [l, n] : [n + l, n + l];
  const zero = tf.zeros([b, site.attention.heads, side[0], side[1]]);
  let probs: Tensor | null = null;
  try {
    const logit = (delta: Tensor) => {
      site.attention.probe = (p) => {
        probs?.dispose();
        probs = tf.keep(p.clone());
        return tf.add(p, delta);
      };
      const logits = model.matchLogits(textEmbeds, mask, imageEmbeds);
      return tf.sum(tf.slice(logits, [0, 1], [-1, 1])) as tf.Scalar;
    };
    const grads = tf.grad(logit)(zero);
    return { probs: probs as unknown as Tensor, grads, layout: site.layout, imageTokens: n };
  } catch (e) {
    (probs as Tensor | null)?.dispose();
    throw e;
  } finally {
    site.attention.probe = null;
    tf.dispose([zero, imageEmbeds, textEmbeds]);
  }
}

/** ALBEF's map from the attention and its gradient: [B, grid, grid]. `mask` [B, L] for the fusion layouts. */
export function gradCamMap(att: AttentionGradients, mask?: Tensor): GradCamMaps {
  const b = att.probs.shape[0] as number;
  const n = att.imageTokens;
  const grid = Math.round(Math.sqrt(n - 1));
  if (grid * grid !== n - 1) throw new ShapeError(`Grad-CAM needs a square patch grid after the CLS token; got ${n - 1} image tokens`);
  const maps = tf.tidy(() => {
    if (att.layout === "vit") {
      const clsToPatches = (t: Tensor) => tf.slice(t, [0, 0, 0, 1], [-1, -1, 1, n - 1]);
      return tf.mean(tf.mul(clsToPatches(att.probs), tf.relu(clsToPatches(att.grads))), [1, 2]);
    }
    if (!mask) throw new ShapeError("gradCamMap: a fusion-layer map needs the text mask");
    const l = mask.shape[1] as number;
    // text query rows × image patch columns (CLS column dropped)
    const textToPatches = (t: Tensor) =>
      att.layout === "cross" ? tf.slice(t, [0, 0, 0, 1], [-1, -1, -1, n - 1]) : tf.slice(t, [0, 0, n, 1], [-1, -1, l, n - 1]);
    const rowMask = tf.reshape(tf.cast(mask, "float32"), [b, 1, l, 1]);
    const a = tf.mul(textToPatches(att.probs), rowMask);
    const g = tf.mul(tf.relu(textToPatches(att.grads)), rowMask);
    return tf.mean(tf.mul(a, g), [1, 2]);
  });
  const data = Float32Array.from(maps.dataSync());
  maps.dispose();
  return { maps: data, batch: b, grid };
}

/**
 * One map per text row of a fusion-layer site (ALBEF's visualisation notebook:
 * the word's own row of A ⊙ max(G, 0), mean over heads): [B, L, grid, grid],
 * padding rows zero. The whole-text map (`gradCamMap`) is their mean over L.
 */
export function gradCamRowMaps(att: AttentionGradients, mask: Tensor): GradCamMaps & { rows: number } {
  if (att.layout === "vit") throw new ShapeError("per-word Grad-CAM needs a fusion layer's text → image attention (ITM mode)");
  const b = att.probs.shape[0] as number;
  const n = att.imageTokens;
  const grid = Math.round(Math.sqrt(n - 1));
  if (grid * grid !== n - 1) throw new ShapeError(`Grad-CAM needs a square patch grid after the CLS token; got ${n - 1} image tokens`);
  const l = mask.shape[1] as number;
  const maps = tf.tidy(() => {
    const textToPatches = (t: Tensor) =>
      att.layout === "cross" ? tf.slice(t, [0, 0, 0, 1], [-1, -1, -1, n - 1]) : tf.slice(t, [0, 0, n, 1], [-1, -1, l, n - 1]);
    const rowMask = tf.reshape(tf.cast(mask, "float32"), [b, 1, l, 1]);
    return tf.mean(tf.mul(tf.mul(textToPatches(att.probs), rowMask), tf.mul(tf.relu(textToPatches(att.grads)), rowMask)), 1);
  });
  const data = Float32Array.from(maps.dataSync());
  maps.dispose();
  return { maps: data, batch: b, grid, rows: l };
}

/**
 * ITC mode: `block`'s ViT self-attention and the gradient of
 * Σ_b image_feat_b · text_feat_b / τ with respect to it; the caller disposes both.
 */
export function itcAttentionGradients(model: VisionLanguageModel, images: Tensor, ids: Tensor, mask: Tensor, block: number): AttentionGradients {
  const vision = model.visual_encoder;
  if (!vision.selfAttention) throw new ShapeError("the vision encoder exposes no self-attention to take Grad-CAM on");
  const attention = vision.selfAttention(block);
  const b = images.shape[0] as number;
  const head = model.requireEmbedding("Grad-CAM in ITC mode");
  const textFeat = tf.tidy(() => head.textFeatures(model.encodeText(ids, mask), mask));
  let probs: Tensor | null = null;
  let zero: Tensor | null = null;
  try {
    // the probabilities' shape comes from one plain pass
    attention.probe = (p) => {
      zero = tf.keep(tf.zerosLike(p));
      return p;
    };
    tf.dispose(model.encodeImage(images));
    const similarity = (delta: Tensor) => {
      attention.probe = (p) => {
        probs?.dispose();
        probs = tf.keep(p.clone());
        return tf.add(p, delta);
      };
      const imageFeat = head.imageFeatures(model.encodeImage(images));
      return head.scaleSimilarity(tf.sum(tf.mul(imageFeat, textFeat))) as tf.Scalar;
    };
    const grads = tf.grad(similarity)(zero as unknown as Tensor);
    const n = (probs as unknown as Tensor).shape[3] as number;
    if ((probs as unknown as Tensor).shape[0] !== b) throw new ShapeError("itcAttentionGradients: unexpected attention shape");
    return { probs: probs as unknown as Tensor, grads, layout: "vit", imageTokens: n };
  } catch (e) {
    (probs as Tensor | null)?.dispose();
    throw e;
  } finally {
    attention.probe = null;
    tf.dispose([textFeat, ...(zero ? [zero as Tensor] : [])]);
  }
}

/** Grad-CAM maps of (image b, text b) pairs at 0-based fusion layer `layer` (ALBEF: its 3rd fusion layer). */
export function itmGradCam(model: VisionLanguageModel, images: Tensor, ids: Tensor, mask: Tensor, layer: number): GradCamMaps {
  const att = itmAttentionGradients(model, images, ids, mask, layer);
  try {
    return gradCamMap(att, mask);
  } finally {
    tf.dispose([att.probs, att.grads]);
  }
}

/** Grad-CAM maps of (image b, text b) pairs from ViT block `block` (ITC mode; the paper's ALBEF_itc: the last block). */
export function itcGradCam(model: VisionLanguageModel, images: Tensor, ids: Tensor, mask: Tensor, block: number): GradCamMaps {
  const att = itcAttentionGradients(model, images, ids, mask, block);
  try {
    return gradCamMap(att);
  } finally {
    tf.dispose([att.probs, att.grads]);
  }
}
