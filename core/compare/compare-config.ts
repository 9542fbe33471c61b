/**
 * The `compare:` section of a config: the stages every variant runs (the
 * config's own task first, then fine-tunings and evaluations that start from
 * an earlier stage's run folder), the figures the report reads from each
 * stage's summary.json, and named fusion variants beyond the plain plugin names.
 */
import { z } from "zod";
import { PluginSection } from "../config/schema-sections.ts";

const StageName = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "lower-case letters, digits and '-'");

/** label → dotted path into the stage's summary.json (e.g. `retrieval.r_mean`) */
export const MetricPaths = z.record(z.string().min(1), z.string().min(1));

export const CompareStage = z.strictObject({
  name: StageName,
  /** the stage's config file, relative to the compared config (it usually `extends` it); absent: the compared config itself */
  config: z.string().min(1).optional(),
  /** the earlier stage whose run folder becomes this stage's `task.init` */
  init: StageName.optional(),
  /** --set overrides for this stage */
  set: z.array(z.string().min(1)).default([]),
  /** the figures the report shows; default every finite number at the top level of summary.json */
  metrics: MetricPaths.optional(),
});
export type CompareStage = z.output<typeof CompareStage>;

export const CompareSection = z.strictObject({
  stages: z
    .array(CompareStage)
    .min(1)
    .default([{ name: "main", set: [] }]),
  /** variants beyond a fusion plugin's name: variant name → fusion options laid over the config's fusion section */
  variants: z.record(StageName, PluginSection).default({}),
  /** per-step figures of the first stage's metrics.jsonl drawn per variant (loss curves, hypergraph diagnostics); default `loss` */
  curves: z.array(z.string().min(1)).default(["loss"]),
});
export type CompareSection = z.output<typeof CompareSection>;
