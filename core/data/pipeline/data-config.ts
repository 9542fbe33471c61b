/** The `data:` section of an experiment: shard sources, the built-in set, batching, workers, transforms. */
import { z } from "zod";
import { ImageTransformConfig } from "../image/transform.ts";
import { SampleFormat } from "./sample-format.ts";

export const SynthDataConfig = z.strictObject({
  out: z.string().default("shards/synth"),
  seed: z.number().int().min(0).default(0),
  imageSize: z.number().int().min(16).default(64),
  train: z.number().int().min(0).default(2000),
  val: z.number().int().min(0).default(200),
  test: z.number().int().min(0).default(500),
  pairs: z.number().int().min(0).default(200),
  /** objects per scene, [min, max] (1–8; the captions count up to eight) */
  objects: z
    .tuple([z.number().int().min(1).max(8), z.number().int().min(1).max(8)])
    .refine(([lo, hi]) => lo <= hi, "objects: [min, max] with min ≤ max")
    .default([1, 4]),
});

/** One source of a training mixture. */
export const MixtureSourceConfig = z.strictObject({
  /** its shards (as `train`) */
  shards: z.string().min(1),
  /** its share of the samples, relative to the others' (default: its image–caption pairs, from sizes.json / pairs.json) */
  weight: z.number().positive().optional(),
  /** the name per-source counts go under (default: source1, source2, ...) */
  name: z.string().min(1).optional(),
});

export const DataConfig = z.strictObject({
  /**
   * training shards: path, brace pattern, directory, glob, URL or pipe:, `::`-joined;
   * or a mixture `[{shards, weight?, name?}]`, each sample drawn from a source ∝ its weight
   */
  train: z.union([z.string().min(1), z.array(MixtureSourceConfig).min(1)]),
  /**
   * a sample with several captions (`format.text: json:FIELD` lists): `draw` one at
   * random per visit (an epoch is one pass over the images); `each` makes every
   * caption a training sample (ALBEF: an epoch is one pass over the pairs)
   */
  captions: z.enum(["draw", "each"]).default("draw"),
  /** held-out shards for evaluation */
  test: z.string().min(1).optional(),
  /**
   * validation shards: tasks that select a model (retrieval, NLVR2) score it on
   * them after every epoch, keep the best (`<run>/best/`) and evaluate `test`
   * once with it, as ALBEF's Retrieval.py and NLVR.py do
   */
  val: z
    .string()
    .min(1)
    .nullish()
    .transform((v) => v ?? undefined),
  /** build the built-in data set here first when it is absent */
  synth: SynthDataConfig.optional(),
  batchSize: z.number().int().positive().default(64),
  /** transform worker threads (0 = in the main thread) */
  workers: z.number().int().min(0).default(2),
  tasksPerWorker: z.number().int().positive().default(2),
  /** seconds a worker may take over one sample before it is stopped, replaced and the sample counted as failed (workers > 0) */
  sampleTimeout: z.number().positive().default(120),
  /** shuffle buffer size (1 = off) */
  shuffle: z.number().int().positive().default(1000),
  shuffleInitial: z.number().int().positive().optional(),
  /** draw shards with replacement (needs samplesPerEpoch) */
  resampled: z.boolean().default(false),
  /** samples per epoch and rank (default, or null: one pass over the shards — null undoes an inherited value) */
  samplesPerEpoch: z
    .number()
    .int()
    .positive()
    .nullish()
    .transform((v) => v ?? undefined),
  /** a damaged shard or sample: `skip` it (counted by reason in the summary) or `fail` the run, naming shard, key and reason */
  onError: z.enum(["skip", "fail"]).default("skip"),
  /** with `skip`: stop a run when more than this share of the samples so far could not be made (from 20 samples on) */
  maxSkipFraction: z.number().min(0).max(1).default(0.5),
  /** a tar member larger than this many bytes is not read: its sample counts as bad (image pixels: image.maxPixels) */
  maxMemberBytes: z
    .number()
    .int()
    .positive()
    .default(64 * 1024 * 1024),
  image: ImageTransformConfig.default(ImageTransformConfig.parse({})),
  format: SampleFormat.default(SampleFormat.parse({})),
});
export type DataConfig = z.output<typeof DataConfig>;
