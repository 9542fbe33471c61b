/**
 * The `pretrain` task: ALBEF pre-training (ITC + ITM + MLM, or whichever
 * objectives the config lists) on WebDataset shards, with checkpoints,
 * resume, metrics and a loss curve, then zero-shot image–text retrieval and
 * attribute binding on the held-out shards, and a summary.
 */
import {
  evalBatches,
  openPool,
  type RetrievalMetrics,
  type RunContext,
  partsInitOption,
  scheduleOptions,
  type Task,
  type TaskResult,
  taskSections,
  trainAlignment,
  trainingReport,
  writeSummary,
  z,
} from "../../../core/index.ts";
import { initialiseModel, setUpModel } from "../shared/albef-model.ts";
import { measureBinding } from "../shared/binding.ts";
import { summaryMarkdown } from "./summary.ts";
import { zeroShotRetrieval } from "./zero-shot.ts";

export const PretrainConfig = z.strictObject({
  ...scheduleOptions(30),
  /** initial weights: null = from scratch; a checkpoint; or parts, `{vision: DeiT, text: BERT}` as ALBEF starts */
  init: partsInitOption(),
  /** zero-shot retrieval on data.test after training (needs an objective with an embedding head) */
  evalRetrieval: z.boolean().default(true),
  evalMaxImages: z.number().int().positive().default(1000),
  /** attribute binding on data.test when its samples carry binding negatives (the built-in set does; needs embedding and matching heads) */
  evalBinding: z.boolean().default(true),
});
export type PretrainConfig = z.output<typeof PretrainConfig>;

export class PretrainTask implements Task<RunContext> {
  readonly name = "pretrain";
  constructor(readonly cfg: PretrainConfig) {}

  async run(ctx: RunContext): Promise<TaskResult> {
    const { scope } = ctx;
    const { log } = scope;
    const { data, optim } = await taskSections(ctx, "pretraining");
    const { model, tokenizer } = await setUpModel(ctx, "pretraining", { batchSize: data.batchSize });
    try {
      // in a data-parallel run rank 0 evaluates (and writes the summary); the others end with training
      const main = ctx.world?.isMain ?? true;
      const evalRetrieval = main && this.cfg.evalRetrieval && !!data.test && !!model.embedding;
      const evalBinding = main && this.cfg.evalBinding && !!data.test && !!model.embedding && !!model.matching;
      if (main && this.cfg.evalRetrieval && data.test && !evalRetrieval) log.warn("no objective has an embedding head: zero-shot retrieval is skipped");
      if (main && this.cfg.evalBinding && data.test && !evalBinding) log.warn("attribute binding needs an embedding and a matching head: it is skipped");
      if (this.cfg.init && !ctx.resume) await initialiseModel(ctx, model, this.cfg.init);
      const outcome = await trainAlignment(ctx, model, tokenizer, data, optim, this.cfg);
      const { base, artifacts } = await trainingReport(ctx, outcome);
      const metrics: Record<string, number> = {
        steps: base.steps,
        samples: base.samples,
        train_seconds: base.wall_time_s,
        skipped_samples: base.skipped_samples,
      };
      let retrieval: RetrievalMetrics | null = null;
      if (evalRetrieval && data.test) {
        const evalPool = await openPool(scope, data, "test", Math.min(1, data.workers));
        try {
          retrieval = await zeroShotRetrieval(
            model,
            evalBatches(data, data.test, evalPool, tokenizer.special.pad, 64, ctx.dropped, {
              label: "zero-shot retrieval: test images",
              log,
              limit: this.cfg.evalMaxImages,
            }),
            this.cfg.evalMaxImages,
          );
        } finally {
          await evalPool.close();
        }
        Object.assign(metrics, {
          i2t_r1: retrieval.i2t.r1,
          i2t_r5: retrieval.i2t.r5,
          i2t_r10: retrieval.i2t.r10,
          t2i_r1: retrieval.t2i.r1,
          t2i_r5: retrieval.t2i.r5,
          t2i_r10: retrieval.t2i.r10,
          r_mean: retrieval.rMean,
          chance_i2t_r1: retrieval.chance.i2t.r1,
          chance_t2i_r1: retrieval.chance.t2i.r1,
        });
      }
      const binding = evalBinding
        ? await measureBinding(model, scope, ctx.dropped, data, tokenizer, {
            captionField: "captions",
            negativesField: "negatives",
            maxImages: this.cfg.evalMaxImages,
            batchSize: 64,
            lenient: true,
          })
        : null;
      if (binding) Object.assign(metrics, { binding_itc: binding.itcPairs, binding_itm: binding.itmPairs });
      const summary = {
        ...base,
        retrieval: retrieval && {
          n: retrieval.n,
          i2t: retrieval.i2t,
          t2i: retrieval.t2i,
          r_mean: retrieval.rMean,
          chance: retrieval.chance,
          ties: retrieval.ties,
          shared_captions: retrieval.sharedTexts,
        },
        binding,
      };
      writeSummary(ctx, summary, summaryMarkdown(summary));
      outcome.trainer.dispose();
      return { metrics, artifacts };
    } finally {
      model.dispose();
    }
  }
}
