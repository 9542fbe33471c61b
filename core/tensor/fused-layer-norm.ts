/**
 * LayerNorm as one kernel forward and one backward (`PolyalignLayerNorm`, added to the
 * tfjs cpu backend with polyalign's kernels) instead of nine elementwise ops and their
 * twenty-odd gradient ops: what a small model's step spends most of its time
 * dispatching. Elsewhere (the TensorFlow backend, stock kernels) the caller composes it.
 */
import { activeKernels } from "../native/install.ts";
import { LAYER_NORM, LAYER_NORM_GRAD } from "../native/kernels.ts";
import { type Tensor, tf } from "./tf.ts";

let gradientRegistered = false;

function registerGradient(): void {
  if (gradientRegistered) return;
  tf.registerGradient({
    kernelName: LAYER_NORM,
    inputsToSave: ["x", "gamma"],
    outputsToSave: [false, true, true],
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
      const [x, gamma, mean, rstd] = saved;
      const g = Array.isArray(dy) ? dy[0] : dy;
      const [dx, dgamma, dbeta] = tf.engine().runKernel(LAYER_NORM_GRAD, { dy: g, x, gamma, mean, rstd }, {}) as Tensor[];
      return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
    },
  });
  gradientRegistered = true;
}

/** LayerNorm over the last axis by the fused kernel, or null where it is not installed. */
export function fusedLayerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor | null {
  const k = activeKernels();
  if (!k?.added.includes(LAYER_NORM) || tf.getBackend() !== "cpu" || x.dtype !== "float32" || x.size === 0) return null;
  registerGradient();
  const [y, mean, rstd] = tf.engine().runKernel(LAYER_NORM, { x, gamma, beta }, { eps }) as Tensor[];
  // the gradient keeps its own copies of mean and rstd
  mean.dispose();
  rstd.dispose();
  return y;
}
