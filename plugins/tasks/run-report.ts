/** Small pieces the tasks share: validating a config section, the loss curve, the last logged losses. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { z } from "zod";
import { writeLinePlot, zodToConfigError } from "../../core/index.ts";

export function parseSection<S extends z.ZodType>(schema: S, value: unknown, path: string): z.output<S> {
  const r = schema.safeParse(value ?? {});
  if (!r.success) throw zodToConfigError(r.error, value, schema, [path], "");
  return r.data;
}

/** loss.png from metrics.jsonl: the total and every objective's loss that was logged. */
export function lossCurve(runDir: string): string | null {
  const file = join(runDir, "metrics.jsonl");
  if (!existsSync(file)) return null;
  const rows = readFileSync(file, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, number>);
  const keys: [string, [number, number, number]][] = [["loss", [20, 20, 20]], ["itc", [40, 80, 220]], ["itm", [220, 60, 40]], ["mlm", [40, 160, 60]]];
  const series = keys
    .filter(([k]) => rows.some((r) => typeof r[k] === "number"))
    .map(([k, colour]) => ({ name: k, colour, points: rows.map((r) => [r.step, r[k]] as [number, number]) }));
  const png = join(runDir, "loss.png");
  writeLinePlot(png, series, { title: "training loss" });
  return png;
}

export function readLastLoss(file: string): Record<string, number> | null {
  const lines = readFileSync(file, "utf8").trim().split("\n");
  const last = JSON.parse(lines[lines.length - 1]) as Record<string, number>;
  const out: Record<string, number> = {};
  for (const k of ["loss", "itc", "itm", "mlm"]) if (typeof last[k] === "number") out[k] = Math.round(last[k] * 1e4) / 1e4;
  return out;
}
