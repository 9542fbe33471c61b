/** What every task starts from: the validated `data:` and `optim:` sections (with the built-in data set built when asked for) and the run's tokenizer. */
import type { DataConfig } from "../data/pipeline/data-config.ts";
import { ensureSynthData } from "../data/synth/ensure.ts";
import { ConfigError } from "../errors.ts";
import { Tokenizer } from "../registry/kinds/index.ts";
import type { OptimConfig } from "../train/schedule.ts";
import type { RunContext } from "./run-context.ts";

/**
 * The run's `data:` and `optim:` sections (validated with the rest of the
 * config), the built-in data set built first when `data.synth` asks for it.
 * `testFor` names what the held-out shards are needed for (then data.test is required).
 */
export async function taskSections(ctx: RunContext, what: string, testFor?: string): Promise<{ data: DataConfig; optim: OptimConfig }> {
  const { config, log } = ctx.scope;
  const data = config.data;
  if (!data) throw new ConfigError(`${what} needs a data: section`, "data");
  if (testFor && !data.test) throw new ConfigError(`${what} needs data.test shards ${testFor}`, "data.test");
  await ensureSynthData(data, log);
  return { data, optim: config.optim };
}

/** The run's tokenizer, initialised. */
export async function readyTokenizer(ctx: RunContext): Promise<Tokenizer> {
  const tokenizer = ctx.scope.resolve(Tokenizer);
  await tokenizer.init?.();
  return tokenizer;
}
