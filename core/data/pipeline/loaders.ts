/**
 * Loader assembly: from a run's `data:` section to batches — epoch sizes from
 * sizes.json, the worker pool, training batches (shuffled, resumable) and
 * evaluation batches (every test sample once), and the test samples' JSON.
 * Every task builds its data this way.
 */
import { basename, resolve } from "node:path";
import { ConfigError, DataError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { ProgressBar } from "../../util/progress-bar.ts";
import type { RunScope } from "../../registry/run-scope.ts";
import { readShards } from "../webdataset/reader.ts";
import { expandShardSpec } from "../webdataset/shard-list.ts";
import type { ReadProblem } from "../webdataset/reader.ts";
import type { WdsSample } from "../webdataset/samples.ts";
import { readCountIndex } from "../webdataset/writer.ts";
import { BatchLoader, type ImageTextBatch } from "./batch-loader.ts";
import type { DataConfig } from "./data-config.ts";
import type { DroppedSamples } from "./dropped-samples.ts";
import type { ProcessorSpec } from "./sample-processor.ts";
import { type DataPosition, isMixturePosition, type MixtureSource, MixtureStream, type SampleSource } from "./mixture-stream.ts";
import { sampleCaptions } from "./sample-processor.ts";
import { SampleStream } from "./sample-stream.ts";
import { createTransformPool, type TransformPool } from "./transform-pool.ts";

/** Samples in the shards, from sizes.json beside them; null when unknown. */
export function countSamples(shards: readonly string[]): number | null {
  return countFromIndex(shards, "sizes.json");
}

function countFromIndex(shards: readonly string[], name: string): number | null {
  let n = 0;
  for (const s of shards) {
    const v = readCountIndex(s, name)?.[basename(s)];
    if (v === undefined) return null;
    n += v;
  }
  return n;
}

/** Training samples of one pass over `shards`: its shard samples, or with `captions: each` its pairs (pairs.json); null when unknown. */
export function countTrainingSamples(shards: readonly string[], data: DataConfig): number | null {
  return data.captions === "each" ? countFromIndex(shards, "pairs.json") : countSamples(shards);
}

export interface TrainSource extends MixtureSource {
  /** training samples of one pass, when known */
  samples: number | null;
}

/** The training sources: one (a shard spec) or a mixture's, with their weights (default: their samples). */
export function trainSources(data: DataConfig): TrainSource[] {
  if (typeof data.train === "string") {
    const shards = expandShardSpec(data.train);
    return [{ name: "", shards, weight: 1, samples: countTrainingSamples(shards, data) }];
  }
  if (data.resampled) throw new ConfigError("data.resampled with a mixture: the mixture already draws its sources with replacement", "data.resampled");
  const names = new Set<string>();
  return data.train.map((src, i) => {
    const name = src.name ?? `source${i + 1}`;
    if (names.has(name)) throw new ConfigError(`data.train[${i}]: the name ${name} is taken by another source`, `data.train.${i}.name`);
    names.add(name);
    const shards = expandShardSpec(src.shards);
    const samples = countTrainingSamples(shards, data);
    const weight = src.weight ?? samples;
    if (weight === null)
      throw new ConfigError(
        `data.train[${i}] (${name}): no weight and no ${data.captions === "each" ? "pairs.json" : "sizes.json"} beside its shards to weigh it by its samples; set weight`,
        `data.train.${i}.weight`,
      );
    return { name, shards, weight, samples };
  });
}

/** Samples of one training epoch: data.samplesPerEpoch, else one pass over every source; null when unknown. */
export function samplesPerTrainingEpoch(data: DataConfig, sources: readonly TrainSource[]): number | null {
  if (data.samplesPerEpoch !== undefined) return data.samplesPerEpoch;
  return sources.every((s) => s.samples !== null) ? sources.reduce((a, s) => a + (s.samples as number), 0) : null;
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
  return createTransformPool(processorSpec(scope, data, mode), { threads, tasksPerThread: data.tasksPerWorker, taskTimeoutMs: data.sampleTimeout * 1000 });
}

/** A read problem to its ledger: a bad sample counts as one, a damaged or missing shard as a shard. */
function toLedger(dropped: DroppedSamples): (p: ReadProblem) => void {
  return (p) => (p.scope === "shard" ? dropped.shard(p.shard, p.reason) : dropped.sample({ shard: p.shard, key: p.key ?? "-", reason: p.reason }));
}

/** One epoch of training batches: seeded shard order and shuffle (a mixture's draws), resumable from `position`; unusable samples and shards go to `dropped`. */
export function trainBatches(
  data: DataConfig,
  sources: readonly TrainSource[],
  pool: TransformPool,
  seed: number,
  epoch: number,
  padId: number,
  position: DataPosition | undefined,
  dropped: DroppedSamples,
  /** this process's place in a data-parallel run: it reads its share of the shards (shard-order.ts) */
  world: { rank: number; size: number } = { rank: 0, size: 1 },
): AsyncGenerator<ImageTextBatch> {
  if (data.captions === "each" && !data.format.text.startsWith("json:"))
    throw new ConfigError('data.captions: each needs the captions as a list: data.format.text "json:FIELD" (e.g. json:captions)', "data.captions");
  const base = {
    seed,
    rank: world.rank,
    worldSize: world.size,
    shuffleBuffer: data.shuffle,
    shuffleInitial: data.shuffleInitial,
    onError: data.onError,
    maxMemberBytes: data.maxMemberBytes,
    onProblem: toLedger(dropped),
    copies: data.captions === "each" ? (s: WdsSample) => sampleCaptions(s.files, data.format, `${s.url}: sample ${s.key}`).length : undefined,
  };
  let stream: SampleSource;
  if (typeof data.train === "string") {
    if (position && isMixturePosition(position))
      throw new ConfigError("the checkpoint's data position is a mixture's; data.train is one source now", "data.train");
    stream = new SampleStream({ ...base, shards: sources[0].shards, resampled: data.resampled, samplesPerEpoch: data.samplesPerEpoch }, epoch, position);
  } else {
    if (position && !isMixturePosition(position))
      throw new ConfigError("the checkpoint's data position is one stream's; data.train is a mixture now", "data.train");
    const perEpoch = samplesPerTrainingEpoch(data, sources);
    if (perEpoch === null)
      throw new ConfigError("a mixture's epoch length is unknown (a source has no sizes): set data.samplesPerEpoch", "data.samplesPerEpoch");
    stream = new MixtureStream(sources, base, epoch, Math.ceil(perEpoch / world.size), position);
  }
  return new BatchLoader(stream, pool, {
    batchSize: data.batchSize,
    imageSize: data.image.size,
    padId,
    seed,
    epoch,
    onProblem: (p) => dropped.sample(p),
    onError: data.onError,
    maxSkipFraction: data.maxSkipFraction,
    perCaption: data.captions === "each",
  }).batches();
}

/** Every test sample once, in shard order, as test-mode batches; a sample or shard that cannot be read fails the evaluation under `data.onError: fail`, else goes to `dropped` (the run's evaluation ledger). */
/** An evaluation's progress line: what is evaluated, where to log, and the samples it reads at most. */
export interface EvalProgress {
  label: string;
  log: Logger;
  /** the evaluation stops after this many samples (e.g. evalMaxImages) */
  limit?: number;
}

export function evalBatches(
  data: DataConfig,
  spec: string,
  pool: TransformPool,
  padId: number,
  batchSize: number,
  dropped: DroppedSamples,
  progress?: EvalProgress,
): AsyncGenerator<ImageTextBatch> {
  // plugins in JavaScript get no type check: say what is missing rather than fail later
  if (!dropped) throw new TypeError("evalBatches: pass the run's ledger of dropped samples (ctx.dropped) as the last argument");
  const shards = expandShardSpec(spec);
  const stream = new SampleStream(
    {
      shards,
      seed: 0,
      shuffle: false,
      shuffleBuffer: 1,
      onError: data.onError,
      maxMemberBytes: data.maxMemberBytes,
      onProblem: toLedger(dropped),
    },
    0,
  );
  const batches = new BatchLoader(stream, pool, {
    batchSize,
    imageSize: data.image.size,
    padId,
    seed: 0,
    epoch: 0,
    dropLast: false,
    onError: data.onError,
    onProblem: (p) => dropped.sample(p),
  }).batches();
  // the bar needs a total: the shards' sizes.json (without one, no bar)
  const count = progress ? countSamples(shards) : null;
  if (!progress || count === null) return batches;
  const total = Math.min(count, progress.limit ?? count);
  return withProgress(batches, new ProgressBar({ label: progress.label, total, log: progress.log }), total);
}

async function* withProgress(batches: AsyncGenerator<ImageTextBatch>, bar: ProgressBar, total: number): AsyncGenerator<ImageTextBatch> {
  let done = 0;
  try {
    for await (const b of batches) {
      yield b;
      done += b.batch;
      bar.update(Math.min(done, total));
    }
  } finally {
    bar.stop();
  }
}

/** Each of the first `max` test samples' .json, parsed by `parse`, by key (shard order). */
export async function testSampleMeta<T>(data: DataConfig, max: number, parse: (meta: Record<string, unknown>, where: string) => T): Promise<Map<string, T>> {
  const out = new Map<string, T>();
  for await (const s of readShards(expandShardSpec(data.test as string), { onError: data.onError, maxMemberBytes: data.maxMemberBytes })) {
    if (out.size >= max) break;
    const where = `${s.url}: sample ${s.key}`;
    if (!s.files.json) throw new DataError(`${where} has no .json member`);
    out.set(s.key, parse(JSON.parse(new TextDecoder().decode(s.files.json)) as Record<string, unknown>, where));
  }
  return out;
}
