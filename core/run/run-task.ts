/**
 * Running a config's task into its run folder — what `polyalign train` does
 * and what `polyalign compare` does for every stage of every variant.
 */
import { existsSync, rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { PlainObject } from "../config/merge.ts";
import { writeEffectiveConfig } from "../config/write.ts";
import { ConfigError, UsageError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { Task, type TaskResult } from "../registry/kinds/task.ts";
import type { PluginRegistry } from "../registry/registry.ts";
import type { RunConfig } from "../config/schema.ts";
import { activateBackend, prepareRun } from "./prepare-run.ts";
import type { RunContext } from "./run-context.ts";

export interface RunTaskOptions {
  sets?: readonly string[];
  /** continue from the folder's latest checkpoint */
  resume?: boolean;
  /** delete an earlier run in the folder first */
  fresh?: boolean;
  log: Logger;
  out(line: string): void;
}

export interface FinishedRun {
  config: RunConfig;
  runDir: string;
  result: TaskResult;
}

/** A folder holds a run once it has metrics or checkpoints. */
export function holdsRun(runDir: string): boolean {
  return existsSync(join(runDir, "metrics.jsonl")) || existsSync(join(runDir, "checkpoints"));
}

export async function runConfigTask(registry: PluginRegistry, source: string | PlainObject, opts: RunTaskOptions): Promise<FinishedRun> {
  if (opts.resume && opts.fresh) throw new UsageError("--resume and --fresh exclude each other");
  const { config, scope, file } = await prepareRun(registry, source, { sets: opts.sets ?? [], log: opts.log });
  if (!config.task) throw new ConfigError(`${file || "config"}: no task: section (e.g. task: {name: pretrain})`, "task", file);
  const runDir = join(config.runs, config.name);
  if (holdsRun(runDir) && !opts.resume && !opts.fresh) {
    throw new UsageError(`${runDir} already holds a run; --resume continues it, --fresh starts over, --set name=... picks another folder`);
  }
  if (opts.fresh) rmSync(runDir, { recursive: true, force: true });
  const workers = Number((config.data as { workers?: number } | undefined)?.workers ?? 2);
  const threads = config.threads ?? Math.max(1, availableParallelism() - workers);
  const backend = await activateBackend(scope, threads);
  writeEffectiveConfig(runDir, config);
  const task = scope.resolve(Task);
  const ctx: RunContext = { scope, runDir, resume: !!opts.resume, backend, out: opts.out };
  return { config, runDir, result: await task.run(ctx) };
}
