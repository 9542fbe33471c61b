/** `polyalign report`: (re)draw a run folder's report.html from the files it holds. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { CliCommand } from "../command.ts";
import { parseCommandArgs, requireString } from "../args.ts";
import { UsageError } from "../../core/errors.ts";
import { writeRunPage } from "../../core/run/run-page.ts";

export const reportCommand: CliCommand = {
  name: "report",
  summary: "(re)draw a run folder's report.html",
  help: `usage: polyalign report --run DIR

Writes DIR/report.html from what the run folder holds — summary.md, summary.json,
metrics.jsonl, config.yaml, gallery/ — as every run does when it ends: for a run
made by an earlier polyalign, one stopped before its end, or after its files changed.
The page is self-contained (charts inline, pictures as data): it opens offline.`,
  async run(args, io) {
    const { values } = parseCommandArgs("report", args, { run: { type: "string" } });
    const run = requireString("report", values, "run");
    if (!existsSync(join(run, "config.yaml")) && !existsSync(join(run, "metrics.jsonl")))
      throw new UsageError(`polyalign report: ${run} is not a run folder (no config.yaml or metrics.jsonl)`);
    io.out(await writeRunPage(run));
    return 0;
  },
};
