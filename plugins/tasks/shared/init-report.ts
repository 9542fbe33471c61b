/** `init-report.json` in a run folder: what a task's initial weights loaded, ignored, reshaped and left new. */
import { join } from "node:path";
import { type InitialWeightsReport, type PartsReport, type RunContext, writeFileAtomic } from "../../../core/index.ts";

/** A single checkpoint's load as the parts report the image-text tasks write. */
export function checkpointReport(r: InitialWeightsReport): PartsReport {
  return { parts: [{ part: "checkpoint", file: r.file, loaded: r.loaded.length, ignored: r.unexpected, reshaped: [] }], fresh: r.fresh, fusionStart: null };
}

export function writeInitReport(ctx: RunContext, report: PartsReport): void {
  writeFileAtomic(join(ctx.runDir, "init-report.json"), JSON.stringify(report, null, 2) + "\n");
}
