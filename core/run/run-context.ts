/** What a Task is handed when the CLI runs it. */
import type { RunScope } from "../registry/run-scope.ts";
import type { BackendInfo } from "../tensor/backend.ts";

export interface RunContext {
  readonly scope: RunScope;
  /** `<runs>/<name>`: metrics, checkpoints, plots, summaries */
  readonly runDir: string;
  /** continue from the run folder's latest checkpoint */
  readonly resume: boolean;
  readonly backend: BackendInfo;
  /** user-facing output (the CLI prints it) */
  out(line: string): void;
}
