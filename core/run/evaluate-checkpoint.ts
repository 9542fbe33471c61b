/**
 * Evaluating trained weights with a config's task, without training — what
 * `polyalign eval` does. The task starts from the checkpoint (`task.init`);
 * a task that trains (its options have `steps`) runs 0 steps, so what it
 * reports is its evaluation of those weights, by the same code as after
 * training. The result goes to its own run folder, `<name>-eval` unless named.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import { ConfigError, UsageError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { Task } from "../registry/kinds/task.ts";
import type { PluginRegistry } from "../registry/registry.ts";
import { prepareRun } from "./prepare-run.ts";
import { type FinishedRun, runConfigTask } from "./run-task.ts";

export interface EvaluateCheckpointOptions {
  sets?: readonly string[];
  /** the run folder's name (default: the config's name + "-eval") */
  name?: string;
  log: Logger;
  out(line: string): void;
}

/** The task's option names (its schema's keys): `init` takes the weights; `steps` (`scheduleOptions`) means it trains, and `steps: 0` makes it evaluate only. */
export function taskOptionNames(registry: PluginRegistry, task: string): Set<string> {
  const schema = registry.get(Task, task).schema;
  return new Set(schema instanceof z.ZodObject ? Object.keys(schema.shape) : []);
}

export async function evaluateCheckpoint(
  registry: PluginRegistry,
  configFile: string,
  checkpoint: string,
  opts: EvaluateCheckpointOptions,
): Promise<FinishedRun> {
  const weights = resolve(checkpoint);
  if (!existsSync(weights))
    throw new UsageError(`--checkpoint ${checkpoint}: no such file or folder (a run folder, a checkpoint folder or a .safetensors file)`);
  // the config as given, to learn its task and name (and to report its errors as they are)
  const { config } = await prepareRun(registry, configFile, { sets: opts.sets, log: opts.log });
  if (!config.task) throw new ConfigError(`${configFile}: no task: section to evaluate with (e.g. task: {name: retrieval})`, "task", configFile);
  const task = config.task.name;
  const options = taskOptionNames(registry, task);
  if (!options.has("init"))
    throw new ConfigError(`task ${task} takes no initial weights (task.init), so it cannot evaluate a checkpoint`, "task.init", configFile);
  const name = opts.name ?? `${config.name}-eval`;
  const runDir = join(config.runs, name);
  // this folder is overwritten: never one that holds a training run's checkpoints
  if (existsSync(join(runDir, "checkpoints")))
    throw new UsageError(`${runDir} holds a training run's checkpoints; --name picks another folder for the evaluation`);
  const sets = [...(opts.sets ?? []), `name=${name}`, `task.init=${weights}`, ...(options.has("steps") ? ["task.steps=0"] : [])];
  opts.out(`evaluating ${weights} with task ${task} of ${configFile} into ${runDir}`);
  return runConfigTask(registry, configFile, { sets, fresh: true, log: opts.log, out: opts.out });
}
