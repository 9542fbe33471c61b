/** `init-report.json` in a run folder: what a task's initial weights loaded, ignored, reshaped and left new. */
import { join } from "node:path";
import type { PartsInit, PartsReport, RunContext } from "../../../core/index.ts";
import { writeFileAtomic } from "../../../core/index.ts";

export function writeInitReport(ctx: RunContext, report: PartsReport): void {
  writeFileAtomic(join(ctx.runDir, "init-report.json"), JSON.stringify(report, null, 2) + "\n");
}

/** `task.init` for a summary line: the path, the parts, or random weights. */
export function describeInit(init: string | PartsInit | null): string {
  if (init === null) return "random weights";
  if (typeof init === "string") return init;
  return Object.entries(init)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${v}`)
    .join(" + ");
}
