/**
 * AdamW exactly as PyTorch computes it (decoupled weight decay applied first,
 * bias-corrected moments, eps added after the square root), with ALBEF's
 * parameter groups: no weight decay for 1-D parameters and names ending in
 * `.bias` (0-D parameters such as `temp` are decayed, as in ALBEF).
 */
import { tf, type Variable } from "../tensor/tf.ts";
import type { StoredTensor } from "../checkpoint/safetensors.ts";
import { fromFloat32, toFloat32 } from "../checkpoint/safetensors.ts";
import { CheckpointError } from "../errors.ts";
import { activeKernels } from "../native/install.ts";
import { type CpuBackendLike, values } from "../native/kernels.ts";
import type { CpuOps } from "../native/ops.ts";

export interface AdamWOptions {
  lr: number;
  weightDecay: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** one fused pass per parameter with polyalign's CPU kernels when they are active (default true) */
  fused?: boolean;
}

export function decays(name: string, shape: readonly number[]): boolean {
  return !(shape.length === 1 || name.endsWith(".bias"));
}

interface Slot {
  name: string;
  param: Variable;
  m: Variable;
  v: Variable;
  decay: boolean;
}

export class AdamW {
  private readonly slots: Slot[];
  step = 0;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;

  constructor(
    params: Iterable<[string, Variable]>,
    readonly opts: AdamWOptions,
  ) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.slots = [...params].map(([name, param]) => ({
      name,
      param,
      m: tf.variable(tf.zerosLike(param), false),
      v: tf.variable(tf.zerosLike(param), false),
      decay: decays(name, param.shape),
    }));
  }

  /** Apply one update; `grads` by parameter name (missing = zero gradient, no moment update). */
  apply(grads: Record<string, tf.Tensor>, lr = this.opts.lr): void {
    this.step++;
    const bc1 = 1 - this.beta1 ** this.step;
    const bc2 = 1 - this.beta2 ** this.step;
    const fused = this.opts.fused === false ? null : fusedOps();
    // One tidy per parameter: a single tidy around the loop would hold every
    // temporary of every parameter (~10x the model size) until the end.
    for (const s of this.slots) {
      const g = grads[s.name];
      if (!g) continue;
      if (fused && g.dtype === "float32") {
        this.fusedStep(fused, s, g, lr, bc1, bc2);
        continue;
      }
      tf.tidy(() => {
        if (s.decay && this.opts.weightDecay > 0) s.param.assign(tf.mul(s.param, 1 - lr * this.opts.weightDecay));
        s.m.assign(tf.add(tf.mul(s.m, this.beta1), tf.mul(g, 1 - this.beta1)));
        s.v.assign(tf.add(tf.mul(s.v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        const denom = tf.add(tf.div(tf.sqrt(s.v), Math.sqrt(bc2)), this.eps);
        s.param.assign(tf.sub(s.param, tf.mul(tf.div(s.m, denom), lr / bc1)));
      });
    }
  }

  /** The same step as one pass over p, m, v, g (polyalign's CPU kernels): no temporaries. */
  private fusedStep(ops: CpuOps, s: Slot, g: tf.Tensor, lr: number, bc1: number, bc2: number): void {
    const backend = tf.backend() as unknown as CpuBackendLike;
    const n = s.param.size;
    const out = [new Float32Array(n), new Float32Array(n), new Float32Array(n)] as const;
    const decay = s.decay && this.opts.weightDecay > 0 ? 1 - lr * this.opts.weightDecay : 1;
    const coeffs = Float32Array.of(decay, this.beta1, 1 - this.beta1, this.beta2, 1 - this.beta2, Math.sqrt(bc2), this.eps, lr / bc1);
    ops.adamw(values(backend, s.param), values(backend, s.m), values(backend, s.v), values(backend, g), out[0], out[1], out[2], coeffs);
    tf.tidy(() => {
      s.param.assign(tf.tensor(out[0], s.param.shape));
      s.m.assign(tf.tensor(out[1], s.m.shape));
      s.v.assign(tf.tensor(out[2], s.v.shape));
    });
  }

  /** Moments as stored tensors (`m.<name>`, `v.<name>`) plus the step count. */
  state(): { tensors: Map<string, StoredTensor>; step: number } {
    const tensors = new Map<string, StoredTensor>();
    for (const s of this.slots) {
      tensors.set(`m.${s.name}`, fromFloat32(s.m.dataSync() as Float32Array, [...s.m.shape]));
      tensors.set(`v.${s.name}`, fromFloat32(s.v.dataSync() as Float32Array, [...s.v.shape]));
    }
    return { tensors, step: this.step };
  }

  load(state: { tensors: ReadonlyMap<string, StoredTensor>; step: number }, source = "optimizer state"): void {
    for (const s of this.slots) {
      for (const [key, v] of [
        [`m.${s.name}`, s.m],
        [`v.${s.name}`, s.v],
      ] as const) {
        const t = state.tensors.get(key);
        if (!t) throw new CheckpointError(`${source}: no ${key}`, source);
        if (t.shape.join() !== v.shape.join()) throw new CheckpointError(`${source}: ${key} has shape [${t.shape}], the parameter [${v.shape}]`, source);
        tf.tidy(() => v.assign(tf.tensor(toFloat32(t, key), [...v.shape])));
      }
    }
    this.step = state.step;
  }

  dispose(): void {
    for (const s of this.slots) {
      s.m.dispose();
      s.v.dispose();
    }
  }
}

/** polyalign's kernel routines when they drive the active tfjs backend (cpu), else null. */
function fusedOps(): CpuOps | null {
  const k = activeKernels();
  return k && tf.getBackend() === "cpu" ? k.ops : null;
}
