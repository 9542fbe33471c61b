/** A token sequence to one vector (the CLS row, or the mean of the valid tokens), and unit-length rows. */
import { tf, type Tensor } from "./tf.ts";

export type Pooling = "cls" | "mean";

/** The CLS row [B, D], or the mean over valid tokens when `mask` [B, L] is given with "mean". */
export function poolTokens(h: Tensor, pooling: Pooling, mask?: Tensor): Tensor {
  return tf.tidy(() => {
    if (pooling === "cls") return tf.squeeze(tf.slice(h, [0, 0, 0], [-1, 1, -1]), [1]);
    if (!mask) return tf.mean(h, 1);
    const m = tf.expandDims(tf.cast(mask, "float32"), 2);
    return tf.div(tf.sum(tf.mul(h, m), 1), tf.maximum(tf.sum(m, 1), 1));
  });
}

/** x / max(‖x‖₂, 1e-12) along the last axis (PyTorch F.normalize). */
export function l2normalize(x: Tensor): Tensor {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.sqrt(tf.sum(tf.square(x), -1, true)), 1e-12)));
}
