/**
 * One GPU per rank: before the TensorFlow backend loads (`@tensorflow/tfjs-node-gpu`, an
 * optional peer dependency), a rank of a data-parallel run that has no CUDA_VISIBLE_DEVICES
 * of its own sees only the GPU of its local rank — the rank among its node's processes — as
 * Horovod and PyTorch's torchrun do. A launcher or user that set CUDA_VISIBLE_DEVICES wins.
 * Nothing happens alone or on a CPU backend (the variable is only read by CUDA).
 */
import type { World } from "./world.ts";

/** The device this rank was given ("local rank 1 → CUDA_VISIBLE_DEVICES=1"), or null when nothing was set. */
export function pinGpuByLocalRank(world: World, env: NodeJS.ProcessEnv = process.env): string | null {
  if (world.size === 1 || env.CUDA_VISIBLE_DEVICES !== undefined) return null;
  env.CUDA_VISIBLE_DEVICES = String(world.localRank);
  return `local rank ${world.localRank} → CUDA_VISIBLE_DEVICES=${world.localRank}`;
}
