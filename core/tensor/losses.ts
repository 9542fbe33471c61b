/** Cross-entropy against soft targets and against integer labels (PyTorch's `F.cross_entropy`), mean over rows. */
import { tf, type Tensor } from "./tf.ts";

/** −mean_i Σ_j targets[i, j] · log_softmax(logits)[i, j]. */
export function softTargetCrossEntropy(logits: Tensor, targets: Tensor): Tensor {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits, -1), targets), -1))));
}

/** Cross-entropy with integer labels, mean over rows. */
export function crossEntropy(logits: Tensor, labels: Tensor): Tensor {
  return tf.tidy(() => {
    const n = logits.shape[logits.rank - 1] as number;
    return softTargetCrossEntropy(logits, tf.oneHot(tf.cast(labels, "int32"), n));
  });
}
