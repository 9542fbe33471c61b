/** `polyalign compare`: the same stages for several fusion variants and seeds, and a report. */
import type { CliCommand } from "../command.ts";
import { parseCommandArgs, requireString, stringList } from "../args.ts";
import { UsageError } from "../../core/errors.ts";
import { runComparison } from "../../core/compare/run-compare.ts";

export const compareCommand: CliCommand = {
  name: "compare",
  summary: "pre-train and evaluate several fusion variants over seeds; report with mean ± std",
  help: `usage: polyalign compare --config FILE --variants A,B[,...] [--seeds K] [--set key.path=value ...] [--fresh]

Runs the stages of the config's compare: section (default: the config's own
task only) for every variant and seed into runs/compare-<name>/<variant>/seed-<s>/<stage>/,
then writes runs/compare-<name>/report.md, report.json and PNG plots.

  -c, --config FILE     the compared config (its compare.stages list the fine-tunings and evaluations)
  --variants A,B        fusion plugin names (cross-attention, hypergraph, merged-attention)
                        or names of compare.variants entries
  --seeds K             seeds config.seed … config.seed+K−1, the same for every variant (default 1)
  --set key=value       applied to every stage, after the stage's own overrides
  --fresh               delete an earlier comparison of the same name first

Resumable: a stage whose folder holds its summary.json is not rerun, one cut
short continues from its latest checkpoint; a folder made by a different
config is an error (use --fresh or another --set name=...).`,
  async run(args, io) {
    const { values } = parseCommandArgs("compare", args, {
      config: { type: "string", short: "c" },
      variants: { type: "string" },
      seeds: { type: "string", default: "1" },
      set: { type: "string", multiple: true },
      fresh: { type: "boolean", default: false },
    });
    const configFile = requireString("compare", values, "config");
    const variants = requireString("compare", values, "variants")
      .split(",")
      .map((v) => v.trim())
      .filter((v) => v !== "");
    const seeds = Number(values.seeds);
    if (!Number.isInteger(seeds) || seeds < 1) throw new UsageError(`polyalign compare: --seeds must be a positive integer (got ${values.seeds})`);
    const report = await runComparison(io.registry, {
      configFile,
      variants,
      seeds,
      sets: stringList(values.set),
      fresh: !!values.fresh,
      command: ["polyalign compare", ...args].join(" "),
      log: io.log,
      out: io.out,
    });
    io.out(`compare ${report.name}: ${report.variants.length} variants × ${report.seeds.length} seeds → ${report.files.markdown}`);
    return 0;
  },
};
