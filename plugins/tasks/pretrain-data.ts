/** Data plumbing of the pretrain task: the built-in set, shard lists, epoch sizes, worker pools, evaluation batches. */
import { existsSync, readFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import {
  BatchLoader,
  DataError,
  readShards,
  OptimConfig,
  type RunContext,
  Tokenizer,
  buildSynthDataset,
  ConfigError,
  createTransformPool,
  DataConfig,
  expandShardSpec,
  type ImageTextBatch,
  type Logger,
  type ProcessorSpec,
  readSizesIndex,
  type RunConfig,
  SampleStream,
  type StreamPosition,
  type TransformPool,
} from "../../core/index.ts";
import { parseSection } from "./run-report.ts";

export async function ensureSynthData(data: DataConfig, log: Logger): Promise<void> {
  const s = data.synth;
  if (!s) return;
  const meta = resolve(s.out, "meta.json");
  if (existsSync(meta)) {
    const m = JSON.parse(readFileSync(meta, "utf8")) as { seed: number; imageSize: number; splits: Record<string, number> };
    const same = m.seed === s.seed && m.imageSize === s.imageSize && m.splits.train === s.train && m.splits.val === s.val && m.splits.test === s.test;
    if (same && (m.splits["nlvr-train"] ?? 0) === s.pairs) return;
  }
  log.info(`building the built-in data set in ${s.out}`);
  let last = 0;
  await buildSynthDataset({
    out: s.out,
    seed: s.seed,
    imageSize: s.imageSize,
    train: s.train,
    val: s.val,
    test: s.test,
    pairs: s.pairs,
    onProgress: (done, total) => {
      if (performance.now() - last > 2000 || done === total) {
        last = performance.now();
        log.info(`synth: ${done}/${total}`, { done, total });
      }
    },
  });
}

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

export function processorSpec(config: RunConfig, data: DataConfig, mode: "train" | "test"): ProcessorSpec {
  if (!config.tokenizer) throw new ConfigError("pretraining needs a tokenizer: section", "tokenizer");
  return {
    image: { ...data.image, mode },
    format: data.format,
    tokenizer: config.tokenizer,
    plugins: config.plugins.map((p) => resolve(p)),
  };
}

export async function openPool(config: RunConfig, data: DataConfig, mode: "train" | "test", threads: number): Promise<TransformPool> {
  return createTransformPool(processorSpec(config, data, mode), { threads, tasksPerThread: data.tasksPerWorker });
}

export function trainBatches(
  data: DataConfig,
  shards: string[],
  pool: TransformPool,
  seed: number,
  epoch: number,
  padId: number,
  position: StreamPosition | undefined,
  onProblem: (p: { shard: string; key: string; reason: string }) => void,
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

/**
 * The `data:` and `optim:` sections every task starts from, validated, with
 * the built-in data set built when the config asks for it. `testFor` names
 * what the held-out shards are needed for (then data.test is required).
 */
export async function taskSections(ctx: RunContext, what: string, testFor?: string): Promise<{ data: DataConfig; optim: OptimConfig }> {
  const { config, log } = ctx.scope;
  if (!config.data) throw new ConfigError(`${what} needs a data: section`, "data");
  const data = parseSection(DataConfig, config.data, "data");
  if (testFor && !data.test) throw new ConfigError(`${what} needs data.test shards ${testFor}`, "data.test");
  const optim = parseSection(OptimConfig, config.optim, "optim");
  await ensureSynthData(data, log);
  return { data, optim };
}

/** The run's tokenizer, initialised. */
export async function readyTokenizer(ctx: RunContext): Promise<Tokenizer> {
  const tokenizer = ctx.scope.resolve(Tokenizer);
  await tokenizer.init?.();
  return tokenizer;
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
