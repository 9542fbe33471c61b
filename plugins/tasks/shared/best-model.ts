/** After training with model selection: the best epoch's weights back into the model, so that the test split is evaluated once, with them. */
import { broadcastState, loadBestModel, type Module, type RunContext, type TrainingOutcome } from "../../../core/index.ts";

export async function useBestModel(ctx: RunContext, outcome: TrainingOutcome, model: Module): Promise<void> {
  const best = outcome.selection?.best;
  if (best) {
    loadBestModel(best, model);
    ctx.out(`testing the best model: epoch ${best.epoch} (step ${best.step}), ${best.metric} ${best.score.toFixed(2)} — ${best.dir}`);
  }
  // in a data-parallel run rank 0 selected: every rank evaluates its weights
  if (ctx.world && ctx.world.size > 1 && outcome.selection) await broadcastState(ctx.world, model);
}
