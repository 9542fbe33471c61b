/**
 * Averaging gradients over the ranks of a data-parallel run: the gradients are
 * copied into fused flat buffers of about `bucketBytes` each (PyTorch DDP's 25 MiB by default),
 * in parameter order, each buffer summed across ranks by one all-reduce, then
 * divided by the number of ranks and handed back as tensors — one call per
 * bucket, not one per tensor. Every rank must hand in the same parameter names
 * in the same order (they do: the same model, the same trainable list); a
 * parameter a rank's loss did not reach counts as a zero gradient there.
 */
import { tf, type Tensor } from "../tensor/tf.ts";
import type { World } from "./world.ts";

export const DEFAULT_BUCKET_BYTES = 25 * 1024 * 1024;

export interface BucketPlan {
  /** the parameters of each bucket, with their offsets and sizes in it */
  buckets: { names: string[]; offsets: number[]; sizes: number[]; length: number }[];
}

/** Buckets of consecutive parameters, each at most `bucketBytes` unless one parameter alone is larger. */
export function planBuckets(params: readonly { name: string; size: number }[], bucketBytes = DEFAULT_BUCKET_BYTES): BucketPlan {
  const limit = Math.max(1, Math.floor(bucketBytes / 4));
  const buckets: BucketPlan["buckets"] = [];
  let cur: BucketPlan["buckets"][number] | null = null;
  for (const p of params) {
    if (!cur || (cur.length > 0 && cur.length + p.size > limit)) {
      cur = { names: [], offsets: [], sizes: [], length: 0 };
      buckets.push(cur);
    }
    cur.names.push(p.name);
    cur.offsets.push(cur.length);
    cur.sizes.push(p.size);
    cur.length += p.size;
  }
  return { buckets };
}

export interface ReduceTiming {
  /** seconds in the all-reduces */
  seconds: number;
  bytes: number;
  calls: number;
}

export class GradientAverager {
  readonly plan: BucketPlan;
  private readonly shapes = new Map<string, number[]>();
  /** what the last `average` cost */
  last: ReduceTiming = { seconds: 0, bytes: 0, calls: 0 };

  constructor(
    private readonly world: World,
    params: readonly { name: string; shape: readonly number[] }[],
    bucketBytes = DEFAULT_BUCKET_BYTES,
  ) {
    for (const p of params) this.shapes.set(p.name, [...p.shape]);
    this.plan = planBuckets(
      params.map((p) => ({ name: p.name, size: p.shape.reduce((a, b) => a * b, 1) })),
      bucketBytes,
    );
  }

  /**
   * The mean over ranks of `grads` (by parameter name): new tensors for every
   * planned parameter (the inputs are disposed). Alone, `grads` comes back as it is.
   */
  async average(grads: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    if (this.world.size === 1) return grads;
    const out: Record<string, Tensor> = {};
    const t0 = performance.now();
    let bytes = 0;
    for (const bucket of this.plan.buckets) {
      // after the gradients, one presence flag per parameter: a parameter no rank's loss reached stays without a gradient (no update), as alone
      const flat = new Float32Array(bucket.length + bucket.names.length);
      bucket.names.forEach((name, i) => {
        const g = grads[name];
        if (!g) return;
        flat.set(g.dataSync() as Float32Array, bucket.offsets[i]);
        flat[bucket.length + i] = 1;
      });
      await this.world.allreduceSum(flat);
      bytes += flat.byteLength;
      const scale = 1 / this.world.size;
      for (let i = 0; i < bucket.length; i++) flat[i] *= scale;
      bucket.names.forEach((name, i) => {
        if (flat[bucket.length + i] === 0) return;
        out[name] = tf.tensor(flat.slice(bucket.offsets[i], bucket.offsets[i] + bucket.sizes[i]), this.shapes.get(name));
      });
    }
    tf.dispose(Object.values(grads));
    this.last = { seconds: (performance.now() - t0) / 1000, bytes, calls: this.plan.buckets.length };
    return out;
  }
}
