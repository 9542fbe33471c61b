/** After training with model selection: the best epoch's weights back into the model, so that the test split is evaluated once, with them. */
import { loadBestModel, type Module, type RunContext, type TrainingOutcome } from "../../../core/index.ts";

export function useBestModel(ctx: RunContext, outcome: TrainingOutcome, model: Module): void {
  const best = outcome.selection?.best;
  if (!best) return;
  loadBestModel(best, model);
  ctx.out(`testing the best model: epoch ${best.epoch} (step ${best.step}), ${best.metric} ${best.score.toFixed(2)} — ${best.dir}`);
}
