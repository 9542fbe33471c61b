/**
 * A data-parallel run starts with every rank holding rank 0's weights: every
 * state entry (parameters, momentum copies, buffers such as ITC's queues) is
 * broadcast from rank 0 in fused buckets, float32 and int32 entries apart.
 */
import type { Module } from "../tensor/module.ts";
import { tf, type Variable } from "../tensor/tf.ts";
import { DEFAULT_BUCKET_BYTES, planBuckets } from "./gradient-buckets.ts";
import type { World } from "./world.ts";

export async function broadcastState(world: World, model: Module, bucketBytes = DEFAULT_BUCKET_BYTES): Promise<void> {
  if (world.size === 1) return;
  const entries = new Map<string, Variable>();
  for (const [name, v] of model.stateEntries()) entries.set(name, v);
  for (const dtype of ["float32", "int32"] as const) {
    const own = [...entries].filter(([, v]) => v.dtype === dtype);
    const plan = planBuckets(
      own.map(([name, v]) => ({ name, size: v.size })),
      bucketBytes,
    );
    for (const bucket of plan.buckets) {
      const flat = dtype === "float32" ? new Float32Array(bucket.length) : new Int32Array(bucket.length);
      if (world.isMain) bucket.names.forEach((name, i) => flat.set(entries.get(name)?.dataSync() as Float32Array & Int32Array, bucket.offsets[i]));
      await world.bcast(flat, 0);
      if (world.isMain) continue;
      bucket.names.forEach((name, i) => {
        const v = entries.get(name) as Variable;
        tf.tidy(() => v.assign(tf.tensor(flat.slice(bucket.offsets[i], bucket.offsets[i] + bucket.sizes[i]), v.shape, dtype)));
      });
    }
  }
}
