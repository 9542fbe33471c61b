/**
 * Installing polyalign's kernels on the tfjs `cpu` backend: unregister the
 * stock kernel, register ours (which keeps the stock one as its fallback),
 * and put the stock kernels back on uninstall. One set is active at a time.
 */
import { tf } from "../tensor/tf.ts";
import { buildAddedKernels, buildKernels, type KernelContext } from "./kernels.ts";
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
      if (active === installed) active = null;
    },
  };
  active = installed;
  return installed;
}
