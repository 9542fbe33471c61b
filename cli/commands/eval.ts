/** `polyalign eval`: a config's evaluation on trained weights, without training. */
import type { CliCommand } from "../command.ts";
import { parseCommandArgs, requireString, stringList } from "../args.ts";
import { UsageError } from "../../core/errors.ts";
import { evaluateCheckpoint } from "../../core/run/evaluate-checkpoint.ts";

export const evalCommand: CliCommand = {
  name: "eval",
  summary: "evaluate trained weights with a config's task, without training",
  help: `usage: polyalign eval --config FILE --checkpoint K [--name NAME] [--set key.path=value ...]

Runs the config's task from the weights K (a run folder: its latest
checkpoint; a checkpoint folder; or a .safetensors file, polyalign's or
ALBEF's) with no training step: retrieval (ITC ranking, ITM re-ranking),
VQA, NLVR2, zero-shot retrieval after pre-training, grounding, binding —
the same evaluation code a training run ends with, on the config's test data.
The results go to runs/<NAME>/ (default: the config's name + "-eval"):
config.yaml, summary.json, summary.md, report.html. That folder is replaced
by each evaluation; one holding a training run's checkpoints is refused.

  polyalign eval --config configs/retrieval-demo.yaml --checkpoint runs/retrieval-demo`,
  async run(args, io) {
    const { values } = parseCommandArgs("eval", args, {
      config: { type: "string", short: "c" },
      checkpoint: { type: "string" },
      name: { type: "string" },
      set: { type: "string", multiple: true },
    });
    const file = requireString("eval", values, "config");
    const checkpoint = requireString("eval", values, "checkpoint");
    const { runDir, result } = await evaluateCheckpoint(io.registry, file, checkpoint, {
      sets: stringList(values.set),
      name: values.name as string | undefined,
      log: io.log,
      out: io.out,
    }).catch((e: unknown) => {
      throw e instanceof UsageError ? new UsageError(`polyalign eval: ${e.message}`) : e;
    });
    const shown = Object.entries(result.metrics).filter(([k]) => !["steps", "samples", "train_seconds"].includes(k));
    io.out(`evaluation in ${runDir}: ${shown.map(([k, v]) => `${k} ${Math.round(v * 100) / 100}`).join(", ")}`);
    for (const [role, path] of Object.entries(result.artifacts ?? {})) if (role !== "metrics") io.out(`  ${role.padEnd(10)} ${path}`);
    return 0;
  },
};
