/**
 * LayerNorm and exact GELU as one kernel forward and one backward each
 * (`PolyalignLayerNorm`, `PolyalignGelu`, added to the tfjs cpu backend with
 * polyalign's kernels) instead of nine and five elementwise ops and their
 * gradient ops: what a small model's step spends most of its time dispatching.
 * Elsewhere (the TensorFlow backend, stock kernels) the callers compose them.
 */
import { activeKernels } from "../native/install.ts";
import { GELU, GELU_GRAD, LAYER_NORM, LAYER_NORM_GRAD } from "../native/kernels.ts";
import { type Tensor, tf } from "./tf.ts";

let gradientsRegistered = false;

function registerGradients(): void {
  if (gradientsRegistered) return;
  tf.registerGradient({
    kernelName: GELU,
    inputsToSave: ["x"],
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
      const g = Array.isArray(dy) ? dy[0] : dy;
      return { x: () => tf.engine().runKernel(GELU_GRAD, { dy: g, x: saved[0] }, {}) as Tensor };
    },
  });
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
  gradientsRegistered = true;
}

function installed(name: string, x: Tensor): boolean {
  return Boolean(activeKernels()?.added.includes(name)) && tf.getBackend() === "cpu" && x.dtype === "float32" && x.size > 0;
}

/** Exact GELU by the fused kernel, or null where it is not installed. */
export function fusedGelu(x: Tensor): Tensor | null {
  if (!installed(GELU, x)) return null;
  registerGradients();
  return tf.engine().runKernel(GELU, { x }, {}) as Tensor;
}

/** LayerNorm over the last axis by the fused kernel, or null where it is not installed. */
export function fusedLayerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor | null {
  if (!installed(LAYER_NORM, x)) return null;
  registerGradients();
  const [y, mean, rstd] = tf.engine().runKernel(LAYER_NORM, { x, gamma, beta }, { eps }) as Tensor[];
  // the gradient keeps its own copies of mean and rstd
  mean.dispose();
  rstd.dispose();
  return y;
}
