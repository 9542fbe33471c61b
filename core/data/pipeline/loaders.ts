/**
 * Loader assembly: from a run's `data:` section to batches — epoch sizes from
 * sizes.json, the worker pool, training batches (shuffled, resumable) and
 * evaluation batches (every test sample once), and the test samples' JSON.
 * Every task builds its data this way.
 */
import { basename, resolve } from "node:path";
import { ConfigError, DataError } from "../../errors.ts";
import type { RunScope } from "../../registry/run-scope.ts";
import { readShards } from "../webdataset/reader.ts";
import { expandShardSpec } from "../webdataset/shard-list.ts";
import { readSizesIndex } from "../webdataset/writer.ts";
import { BatchLoader, type ImageTextBatch } from "./batch-loader.ts";
import type { DataConfig } from "./data-config.ts";
import type { ProcessorSpec } from "./sample-processor.ts";
import { SampleStream, type StreamPosition } from "./sample-stream.ts";
import { createTransformPool, type TransformPool } from "./transform-pool.ts";

/** Samples in the shards, from sizes.json beside them; null when unknown. */
export function countSamples(shards: readonly string[]): number | null {
  let n = 0;
  for (const s of shards) {
    const sizes = readSizesIndex(s);
    const v = sizes?.[basename(s)];
    if (v === undefined) return null;
    n += v;
  }
  return n;
}

/** What a data worker needs: transforms, sample format, the tokenizer section and the user plugin modules that may define it. */
export function processorSpec(scope: RunScope, data: DataConfig, mode: "train" | "test"): ProcessorSpec {
  const { config } = scope;
  if (!config.tokenizer) throw new ConfigError("the data workers need a tokenizer: section", "tokenizer");
  return {
    image: { ...data.image, mode },
    format: data.format,
    tokenizer: config.tokenizer,
    plugins: config.plugins.map((p) => resolve(p)),
    apiModule: scope.registry.apiModule ?? undefined,
  };
}

export async function openPool(scope: RunScope, data: DataConfig, mode: "train" | "test", threads: number): Promise<TransformPool> {
  return createTransformPool(processorSpec(scope, data, mode), { threads, tasksPerThread: data.tasksPerWorker });
}

export type SkippedSample = (p: { shard: string; key: string; reason: string }) => void;

/** One epoch of training batches: seeded shard order and shuffle, resumable from `position`; unusable samples go to `onProblem`. */
export function trainBatches(
  data: DataConfig,
  shards: string[],
  pool: TransformPool,
  seed: number,
  epoch: number,
  padId: number,
  position: StreamPosition | undefined,
  onProblem: SkippedSample,
): AsyncGenerator<ImageTextBatch> {
  const stream = new SampleStream(
    {
      shards,
      seed,
      shuffleBuffer: data.shuffle,
      shuffleInitial: data.shuffleInitial,
      resampled: data.resampled,
      samplesPerEpoch: data.samplesPerEpoch,
      onError: data.onError,
      onProblem: (p) => onProblem({ shard: p.shard, key: p.key ?? "-", reason: p.reason }),
    },
    epoch,
    position,
  );
  return new BatchLoader(stream, pool, { batchSize: data.batchSize, imageSize: data.image.size, padId, seed, epoch, onProblem }).batches();
}

/** Every test sample once, in shard order, as test-mode batches. */
export function evalBatches(data: DataConfig, spec: string, pool: TransformPool, padId: number, batchSize: number): AsyncGenerator<ImageTextBatch> {
  const stream = new SampleStream({ shards: expandShardSpec(spec), seed: 0, shuffle: false, shuffleBuffer: 1, onError: data.onError }, 0);
  return new BatchLoader(stream, pool, { batchSize, imageSize: data.image.size, padId, seed: 0, epoch: 0, dropLast: false }).batches();
}

/** Each of the first `max` test samples' .json, parsed by `parse`, by key (shard order). */
export async function testSampleMeta<T>(data: DataConfig, max: number, parse: (meta: Record<string, unknown>, where: string) => T): Promise<Map<string, T>> {
  const out = new Map<string, T>();
  for await (const s of readShards(expandShardSpec(data.test as string), { onError: data.onError })) {
    if (out.size >= max) break;
    const where = `${s.url}: sample ${s.key}`;
    if (!s.files.json) throw new DataError(`${where} has no .json member`);
    out.set(s.key, parse(JSON.parse(new TextDecoder().decode(s.files.json)) as Record<string, unknown>, where));
  }
  return out;
}
