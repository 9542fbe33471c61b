/** `polyalign train`: run a config's task (pre-training) into runs/<name>. */
import { existsSync, rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { CliCommand } from "../command.ts";
import { parseCommandArgs, requireString, stringList } from "../args.ts";
import { activateBackend, prepareRun } from "../../core/run/prepare-run.ts";
import { writeEffectiveConfig } from "../../core/config/write.ts";
import { ConfigError, UsageError } from "../../core/errors.ts";
import { Task } from "../../core/registry/kinds/index.ts";
import type { RunContext } from "../../core/run/run-context.ts";

export const trainCommand: CliCommand = {
  name: "train",
  summary: "run a config's task (pretrain) into runs/<name>",
  help: `usage: polyalign train --config FILE [--set key.path=value ...] [--resume | --fresh]

Runs the task the config names (task: {name: pretrain, ...}) and writes
runs/<name>/: config.yaml (effective config), metrics.jsonl, checkpoints/,
loss.png, summary.json, summary.md. --resume continues from the latest
checkpoint of that folder (same trajectory: data position, RNG, optimizer);
--fresh deletes an earlier run of the same name first. Without either, an
existing run folder is an error, so nothing is overwritten by accident.

Compute threads: POLYALIGN_THREADS, else the config's threads, else the
cores left after data.workers (no oversubscription).`,
  async run(args, io) {
    const { values } = parseCommandArgs("train", args, {
      config: { type: "string" },
      set: { type: "string", multiple: true },
      resume: { type: "boolean", default: false },
      fresh: { type: "boolean", default: false },
    });
    if (values.resume && values.fresh) throw new UsageError("polyalign train: --resume and --fresh exclude each other");
    const file = requireString("train", values, "config");
    const { config, scope } = await prepareRun(io.registry, file, { sets: stringList(values.set), log: io.log });
    if (!config.task) throw new ConfigError(`${file}: no task: section (e.g. task: {name: pretrain})`, "task", file);
    const runDir = join(config.runs, config.name);
    const previous = existsSync(join(runDir, "metrics.jsonl")) || existsSync(join(runDir, "checkpoints"));
    if (previous && !values.resume && !values.fresh) {
      throw new UsageError(`polyalign train: ${runDir} already holds a run; --resume continues it, --fresh starts over, --set name=... picks another folder`);
    }
    if (values.fresh) rmSync(runDir, { recursive: true, force: true });
    const workers = Number((config.data as { workers?: number } | undefined)?.workers ?? 2);
    const threads = config.threads ?? Math.max(1, availableParallelism() - workers);
    const backend = await activateBackend(scope, threads);
    writeEffectiveConfig(runDir, config);
    const task = scope.resolve(Task);
    const ctx: RunContext = { scope, runDir, resume: !!values.resume, backend, out: io.out };
    const result = await task.run(ctx);
    io.out(
      `run ${config.name}: ${Object.entries(result.metrics)
        .map(([k, v]) => `${k} ${Math.round(v * 100) / 100}`)
        .join(", ")}`,
    );
    for (const [role, path] of Object.entries(result.artifacts ?? {})) io.out(`  ${role.padEnd(10)} ${path}`);
    return 0;
  },
};
