/** Reading a finished stage's figures: its summary.json by dotted path, and per-step values of its metrics.jsonl. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DataError } from "../errors.ts";
import { isPlainObject, type PlainObject } from "../config/merge.ts";

export function readSummary(runDir: string): PlainObject {
  const file = join(runDir, "summary.json");
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new DataError(`cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (!isPlainObject(value)) throw new DataError(`${file}: expected a JSON object`);
  return value;
}

/** The number at a dotted path (`retrieval.r_mean`), or null when absent or not a finite number. */
export function numberAt(obj: PlainObject, path: string): number | null {
  let node: unknown = obj;
  for (const seg of path.split(".")) {
    if (!isPlainObject(node)) return null;
    node = node[seg];
  }
  return typeof node === "number" && Number.isFinite(node) ? node : null;
}

/** label → path: the configured figures, or every finite number at the top level. */
export function metricPaths(summary: PlainObject, configured: Record<string, string> | undefined): Record<string, string> {
  if (configured) return configured;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(summary)) if (typeof v === "number" && Number.isFinite(v)) out[k] = k;
  return out;
}

/** [step, value] of one field over metrics.jsonl (rows without it are skipped). */
export function metricCurve(runDir: string, field: string): [number, number][] {
  const file = join(runDir, "metrics.jsonl");
  if (!existsSync(file)) return [];
  const out: [number, number][] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      continue; // a line cut short by an interrupted run
    }
    if (!isPlainObject(row)) continue;
    const step = row.step;
    const v = row[field];
    if (typeof step === "number" && typeof v === "number" && Number.isFinite(v)) out.push([step, v]);
  }
  return out;
}

/** The metrics.jsonl fields whose name starts with a prefix (e.g. `bimodal_fraction_layer`), sorted. */
export function curveFields(runDir: string, prefix: string): string[] {
  const file = join(runDir, "metrics.jsonl");
  if (!existsSync(file)) return [];
  const fields = new Set<string>();
  for (const line of readFileSync(file, "utf8").split("\n")) {
    try {
      const row: unknown = JSON.parse(line);
      if (isPlainObject(row)) for (const k of Object.keys(row)) if (k.startsWith(prefix)) fields.add(k);
    } catch {
      // blank or cut-short line
    }
  }
  return [...fields].sort();
}
