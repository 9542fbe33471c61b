/** What a Task is handed when the CLI runs it. */
import type { World } from "../distributed/world.ts";
import type { RunScope } from "../registry/run-scope.ts";
import type { DroppedSamples } from "../data/pipeline/dropped-samples.ts";
import type { BackendInfo } from "../tensor/backend.ts";

export interface RunContext {
  readonly scope: RunScope;
  /** `<runs>/<name>`: metrics, checkpoints, plots, summaries */
  readonly runDir: string;
  /** continue from the run folder's latest checkpoint */
  readonly resume: boolean;
  readonly backend: BackendInfo;
  /** test samples and shards an evaluation of this run could not use (summary.json: evaluation_dropped) */
  readonly dropped: DroppedSamples;
  /** the processes of a data-parallel run (default: this one alone) */
  readonly world?: World;
  /** user-facing output (the CLI prints it) */
  out(line: string): void;
}
