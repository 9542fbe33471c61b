/** `polyalign train`: run a config's task (pre-training) into runs/<name>. */
import type { CliCommand } from "../command.ts";
import { parseCommandArgs, requireString, stringList } from "../args.ts";
import { UsageError } from "../../core/errors.ts";
import { runConfigTask } from "../../core/run/run-task.ts";
import { joinedWorld } from "../../core/distributed/world.ts";

export const trainCommand: CliCommand = {
  name: "train",
  summary: "run a config's task (pretrain) into runs/<name>",
  help: `usage: polyalign train --config FILE [--set key.path=value ...] [--resume [--allow-config-change] | --fresh] [--debug]

Runs the task the config names (task: {name: pretrain, ...}) and writes
runs/<name>/: config.yaml (effective config), metrics.jsonl, checkpoints/,
loss.png, summary.json, summary.md. --resume continues from the latest
checkpoint of that folder (same trajectory: data position, RNG, optimizer);
--fresh deletes an earlier run of the same name first. Without either, an
existing run folder is an error, so nothing is overwritten by accident.
--resume refuses a config whose hyper-parameters differ from the checkpoint's
(where things are and worker counts may change) unless --allow-config-change;
it cuts metrics.jsonl back to the resumed step. One run per folder: a second
is refused while the first lives (run.lock; a dead owner's lock is taken over).

Ctrl-C or SIGTERM finishes the current step, writes a checkpoint and exits
130 / 143 (--resume goes on from there); a second signal exits at once.
--debug prints the stack trace after an error.

Compute threads: POLYALIGN_THREADS, else the config's threads, else the
cores left after data.workers (no oversubscription; shared by the ranks of a node).

Data-parallel: \`mpirun -np N polyalign train --config FILE\` (or srun) runs N
processes; each reads its share of the shards with data.batchSize per step,
gradients are averaged, rank 0 writes the run folder (README: "Beyond one process").`,
  async run(args, io) {
    const { values } = parseCommandArgs("train", args, {
      config: { type: "string", short: "c" },
      set: { type: "string", multiple: true },
      resume: { type: "boolean", default: false },
      fresh: { type: "boolean", default: false },
      "allow-config-change": { type: "boolean", default: false },
    });
    if (values.resume && values.fresh) throw new UsageError("polyalign train: --resume and --fresh exclude each other");
    const file = requireString("train", values, "config");
    const { config, result } = await runConfigTask(io.registry, file, {
      sets: stringList(values.set),
      resume: !!values.resume,
      fresh: !!values.fresh,
      allowConfigChange: !!values["allow-config-change"],
      log: io.log,
      out: io.out,
    }).catch((e: unknown) => {
      throw e instanceof UsageError ? new UsageError(`polyalign train: ${e.message}`) : e;
    });
    // in a data-parallel run rank 0 tells the result
    if (!(joinedWorld()?.isMain ?? true)) return 0;
    io.out(
      `run ${config.name}: ${Object.entries(result.metrics)
        .map(([k, v]) => `${k} ${Math.round(v * 100) / 100}`)
        .join(", ")}`,
    );
    for (const [role, path] of Object.entries(result.artifacts ?? {})) io.out(`  ${role.padEnd(10)} ${path}`);
    return 0;
  },
};
