/**
 * One GPU per rank: before the TensorFlow backend loads (`@tensorflow/tfjs-node-gpu`, an
 * optional peer dependency), each rank of a data-parallel run is left one GPU, chosen by its
 * local rank — the rank among its node's processes — as Horovod and PyTorch's torchrun do.
 * Without CUDA_VISIBLE_DEVICES a rank sees device `localRank`; a list that names a device
 * for every rank of the node (SLURM's `--gpus-per-node`, a user's "2,3") gives each rank its
 * entry; one device per rank set by the launcher (`--gpus-per-task=1`) is kept as it is.
 * Nothing happens alone (the variable is only read by CUDA).
 */
import type { World } from "./world.ts";

/** The device this rank was given ("local rank 1 → CUDA_VISIBLE_DEVICES=1"), or null when nothing changed. */
export function pinGpuByLocalRank(world: World, env: NodeJS.ProcessEnv = process.env): string | null {
  if (world.size === 1) return null;
  const listed = env.CUDA_VISIBLE_DEVICES;
  if (listed === undefined) {
    env.CUDA_VISIBLE_DEVICES = String(world.localRank);
    return `local rank ${world.localRank} → CUDA_VISIBLE_DEVICES=${world.localRank}`;
  }
  const devices = listed
    .split(",")
    .map((d) => d.trim())
    .filter((d) => d.length > 0);
  // a launcher that already gave each rank its own device(s), or too few for the node's ranks: left alone
  if (devices.length <= 1 || devices.length < world.localSize) return null;
  env.CUDA_VISIBLE_DEVICES = devices[world.localRank];
  return `local rank ${world.localRank} of ${listed} → CUDA_VISIBLE_DEVICES=${devices[world.localRank]}`;
}
