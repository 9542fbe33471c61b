/**
 * Reading samples from shard URLs with an error policy. `fail` rethrows the
 * first problem; `skip` counts and reports it (shard, key, reason) and goes
 * on — a corrupt or truncated shard is abandoned from the point of damage.
 */
import { openShard } from "./open.ts";
import { groupSamples, type WdsSample } from "./samples.ts";
import { DEFAULT_MAX_MEMBER_BYTES, readTarMembers } from "./tar-reader.ts";

export type ErrorPolicy = "skip" | "fail";

export interface ReadProblem {
  shard: string;
  key: string | null;
  reason: string;
  /** `sample`: one sample is bad, the shard reads on; `shard`: the shard could not be opened or read to its end */
  scope: "sample" | "shard";
}

export interface ReadStats {
  shards: number;
  samples: number;
  problems: ReadProblem[];
}

export interface ReadOptions {
  onError?: ErrorPolicy;
  /** called for every problem under `skip` */
  onProblem?: (p: ReadProblem) => void;
  stats?: ReadStats;
  /** a member larger than this is not read (its sample is bad); default 64 MiB */
  maxMemberBytes?: number;
}

export function newReadStats(): ReadStats {
  return { shards: 0, samples: 0, problems: [] };
}

/** Samples of one shard; under `skip`, problems end the shard instead of the stream. */
export async function* readShard(url: string, opts: ReadOptions = {}): AsyncGenerator<WdsSample> {
  const stats = opts.stats ?? newReadStats();
  const report = (key: string | null, reason: string, scope: ReadProblem["scope"]) => {
    const p = { shard: url, key, reason, scope };
    stats.problems.push(p);
    opts.onProblem?.(p);
  };
  stats.shards++;
  try {
    const onBad = opts.onError === "skip" ? (key: string, reason: string) => report(key, reason, "sample") : undefined;
    for await (const s of groupSamples(readTarMembers(openShard(url), url, opts.maxMemberBytes ?? DEFAULT_MAX_MEMBER_BYTES), url, onBad)) {
      stats.samples++;
      yield s;
    }
  } catch (e) {
    if (opts.onError !== "skip") throw e;
    const member = (e as { member?: string | null }).member ?? null;
    report(member, (e as Error).message, "shard");
  }
}

export async function* readShards(urls: Iterable<string>, opts: ReadOptions = {}): AsyncGenerator<WdsSample> {
  for (const url of urls) yield* readShard(url, opts);
}
