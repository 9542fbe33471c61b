/**
 * The root of an experiment config. Each plugin section is `{ name, ...options }`;
 * the options are checked by that plugin's own schema (see validate.ts).
 */
import { z } from "zod";
import { DataConfig } from "../data/pipeline/data-config.ts";
import { OptimConfig } from "../train/schedule.ts";

import { CompareSection } from "../compare/compare-config.ts";
import { ModelSection, PluginSection } from "./schema-sections.ts";

export { ModelSection, PluginSection };

export const RootConfigSchema = z.strictObject({
  /** run name; the run folder is `<runs>/<name>` */
  name: z.string().min(1).default("run"),
  seed: z.number().int().nonnegative().default(42),
  /** `auto` or a Backend plugin name */
  backend: z.string().min(1).default("auto"),
  /** compute threads; default: POLYALIGN_THREADS or the number of cores */
  threads: z.number().int().positive().optional(),
  /** user plugin modules, relative to the config file */
  plugins: z.array(z.string().min(1)).default([]),
  /** folder that holds run folders */
  runs: z.string().min(1).default("runs"),
  model: ModelSection.optional(),
  objectives: z.array(PluginSection).default([]),
  task: PluginSection.optional(),
  tokenizer: PluginSection.optional(),
  /** shards, batching, workers, transforms */
  data: DataConfig.optional(),
  /** optimiser and learning-rate schedule */
  optim: OptimConfig.default(OptimConfig.parse({})),
  /** what `polyalign compare` runs for each variant and seed */
  compare: CompareSection.optional(),
});

export type RunConfig = z.output<typeof RootConfigSchema>;
