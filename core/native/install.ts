/**
 * Installing polyalign's kernels on the tfjs `cpu` backend: unregister the
 * stock kernel, register ours (which keeps the stock one as its fallback),
 * and put the stock kernels back on uninstall. One set is active at a time.
 */
import { tf } from "../tensor/tf.ts";
import { buildAddedKernels, buildKernels, type KernelContext, SOFTMAX_GRAD } from "./kernels.ts";
import type { CpuOps } from "./ops.ts";

export interface InstalledKernels {
  ops: CpuOps;
  names: string[];
  /** kernels of polyalign's own (fused LayerNorm), registered on the cpu backend */
  added: string[];
  uninstall(): void;
}

let active: InstalledKernels | null = null;

export function activeKernels(): InstalledKernels | null {
  return active;
}

/** Restore every stock kernel (no-op when none of ours is installed). */
export function uninstallKernels(): void {
  active?.uninstall();
  active = null;
}

export function installKernels(ops: CpuOps): InstalledKernels {
  uninstallKernels();
  const stock = new Map<string, tf.KernelConfig>();
  const ctx: KernelContext = {
    ops,
    stock(name) {
      const k = stock.get(name);
      if (!k) throw new Error(`no stock cpu kernel ${name} to fall back to`);
      return k.kernelFunc;
    },
  };
  const kernels = buildKernels(ctx);
  for (const [name, kernelFunc] of kernels) {
    const original = tf.getKernel(name, "cpu");
    if (!original) continue; // this tfjs has no such kernel: nothing to replace
    stock.set(name, original);
    tf.unregisterKernel(name, "cpu");
    tf.registerKernel({ kernelName: name, backendName: "cpu", kernelFunc });
  }
  const added = [...buildAddedKernels(ctx)];
  for (const [name, kernelFunc] of added) tf.registerKernel({ kernelName: name, backendName: "cpu", kernelFunc });
  const stockSoftmaxGrad = added.some(([name]) => name === SOFTMAX_GRAD) ? fuseSoftmaxGradient() : null;
  const installed: InstalledKernels = {
    ops,
    names: [...stock.keys()],
    added: added.map(([name]) => name),
    uninstall() {
      for (const [name, original] of stock) {
        tf.unregisterKernel(name, "cpu");
        tf.registerKernel(original);
      }
      stock.clear();
      for (const [name] of added) tf.unregisterKernel(name, "cpu");
      if (stockSoftmaxGrad) tf.registerGradient(stockSoftmaxGrad);
      if (active === installed) active = null;
    },
  };
  active = installed;
  return installed;
}

/**
 * Softmax's gradient as one kernel (dx = y·(dy − Σ dy·y)) where tfjs runs four ops:
 * over the last axis, on the cpu backend while this kernel is registered; the stock
 * gradient otherwise. Returns the stock gradient, to put back on uninstall.
 */
function fuseSoftmaxGradient(): tf.GradConfig | null {
  const stock = tf.getGradient(tf.Softmax);
  if (!stock) return null;
  tf.registerGradient({
    ...stock,
    gradFunc: (dy, saved, attrs) => {
      const y = saved[0];
      const dim = (attrs as unknown as { dim: number }).dim;
      const last = dim === -1 || dim === y.rank - 1;
      const g = Array.isArray(dy) ? dy[0] : dy;
      if (!last || tf.getBackend() !== "cpu" || !tf.getKernel(SOFTMAX_GRAD, "cpu") || y.dtype !== "float32") return stock.gradFunc(dy, saved, attrs);
      return { logits: () => tf.engine().runKernel(SOFTMAX_GRAD, { dy: g, y }, {}) as tf.Tensor };
    },
  });
  return stock;
}
