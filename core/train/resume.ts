/**
 * What `--resume` checks and repairs: the run must go on as it was set up
 * (a changed hyper-parameter would make a different run under the old name,
 * so it is refused unless allowed), and metrics.jsonl is cut back to the
 * resumed step, so the steps done again after a crash are not there twice.
 */
import { existsSync, readFileSync } from "node:fs";
import { ConfigError } from "../errors.ts";
import { writeFileAtomic } from "../util/atomic-file.ts";

/** Config paths that may differ on resume: where things are and how fast they run, not what is trained. */
export const RESUMABLE_CHANGES: readonly string[] = [
  "name",
  "runs",
  "threads",
  "backend",
  "data.workers",
  "data.tasksPerWorker",
  "data.sampleTimeout",
  "data.test",
  "data.val",
  "task.logEvery",
  "task.checkpointEvery",
  "task.keepCheckpoints",
];

function differences(a: unknown, b: unknown, path: string, out: string[]): void {
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
  if (isObject(a) && isObject(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) differences(a[k], b[k], path ? `${path}.${k}` : k, out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => differences(x, b[i], `${path}.${i}`, out));
    return;
  }
  out.push(path);
}

const show = (v: unknown) => (v === undefined ? "(unset)" : JSON.stringify(v));

function valueAt(obj: unknown, path: string): unknown {
  return path.split(".").reduce<unknown>((o, k) => (typeof o === "object" && o !== null ? (o as Record<string, unknown>)[k] : undefined), obj);
}

/**
 * The config paths where `now` differs from the checkpoint's `saved` config,
 * beyond RESUMABLE_CHANGES; a ConfigError naming them (old → new) unless
 * `allow`. A checkpoint without a config (older files) is not checked.
 */
export function checkResumeConfig(saved: unknown, now: unknown, allow: boolean): string[] {
  if (saved === null || typeof saved !== "object" || Object.keys(saved).length === 0) return [];
  const paths: string[] = [];
  differences(JSON.parse(JSON.stringify(saved)), JSON.parse(JSON.stringify(now)), "", paths);
  const changed = paths.filter((p) => !RESUMABLE_CHANGES.some((r) => p === r || p.startsWith(`${r}.`)));
  if (changed.length > 0 && !allow) {
    const listed = changed
      .slice(0, 6)
      .map((p) => `${p}: ${show(valueAt(saved, p))} → ${show(valueAt(now, p))}`)
      .join("; ");
    throw new ConfigError(
      `--resume: the config differs from the checkpoint's in ${changed.length} place(s): ${listed}${changed.length > 6 ? "; …" : ""}. ` +
        "Resuming would not continue the same run: put the values back, start a new run (--fresh or --set name=...), or pass --allow-config-change",
      changed[0],
    );
  }
  return changed;
}

/** Keep metrics.jsonl's lines up to `step` (and none that does not parse: a line cut by a crash); returns how many went. */
export function truncateMetrics(file: string, step: number): number {
  if (!existsSync(file)) return 0;
  const lines = readFileSync(file, "utf8").split("\n").filter(Boolean);
  const kept = lines.filter((l) => {
    try {
      const s = (JSON.parse(l) as { step?: unknown }).step;
      return typeof s === "number" && s <= step;
    } catch {
      return false;
    }
  });
  if (kept.length !== lines.length) writeFileAtomic(file, kept.map((l) => l + "\n").join(""));
  return lines.length - kept.length;
}
