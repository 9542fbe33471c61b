/**
 * Which shards a rank (and a worker) reads in an epoch. The order is
 * index-addressable — `shardAt(i)` — so that a saved position needs only
 * numbers: a seeded permutation per (epoch, pass), the same on every rank,
 * then split round-robin by rank and by worker; or, with `resampled`, shards
 * drawn with replacement, an endless sequence.
 */
import { Rng } from "../../tensor/rng.ts";
import { PolyalignError } from "../../errors.ts";

export interface ShardOrderOptions {
  seed: number;
  /** shuffle the shard list each epoch (default true) */
  shuffle?: boolean;
  /** draw shards with replacement instead of permuting (endless) */
  resampled?: boolean;
  rank?: number;
  worldSize?: number;
  worker?: number;
  numWorkers?: number;
}

export interface ShardOrder {
  /** number of shards in one pass, or Infinity when resampled */
  readonly length: number;
  shardAt(i: number): string;
}

function checkSplit(o: ShardOrderOptions): { rank: number; world: number; worker: number; workers: number } {
  const rank = o.rank ?? 0;
  const world = o.worldSize ?? 1;
  const worker = o.worker ?? 0;
  const workers = o.numWorkers ?? 1;
  if (!(Number.isInteger(rank) && Number.isInteger(world) && rank >= 0 && rank < world)) {
    throw new PolyalignError(`rank ${rank} is not in [0, worldSize ${world})`);
  }
  if (!(Number.isInteger(worker) && Number.isInteger(workers) && worker >= 0 && worker < workers)) {
    throw new PolyalignError(`worker ${worker} is not in [0, numWorkers ${workers})`);
  }
  return { rank, world, worker, workers };
}

export function shardOrder(shards: readonly string[], epoch: number, pass: number, o: ShardOrderOptions): ShardOrder {
  if (shards.length === 0) throw new PolyalignError("no shards to order");
  const { rank, world, worker, workers } = checkSplit(o);
  const slots = world * workers;
  const slot = rank * workers + worker;
  if (o.resampled) {
    return {
      length: Infinity,
      shardAt: (i) => shards[Rng.derive(o.seed, `resample:${epoch}:${pass}:${slot}:${i}`).int(shards.length)],
    };
  }
  const order = [...shards];
  if (o.shuffle !== false) Rng.derive(o.seed, `shards:${epoch}:${pass}`).shuffle(order);
  // split by rank, then by worker: slot r·W + w takes every (world·workers)-th shard
  const mine = order.filter((_, i) => i % slots === slot);
  return { length: mine.length, shardAt: (i) => mine[i] };
}
