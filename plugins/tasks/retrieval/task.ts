/**
 * The `retrieval` task: ALBEF's image–text retrieval fine-tuning
 * (Retrieval.py) — ITC with image-id positives over the batch and the id
 * queue, ITM with hard negatives that are never the same image, momentum
 * distillation, no temperature clamp — from pre-trained weights, then ALBEF's
 * evaluation: ITC ranking of the whole test gallery, the top k of each query
 * re-scored by the ITM head.
 */
import {
  type GalleryRetrievalMetrics,
  partsInitOption,
  type RunContext,
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
import { evaluateGallery, type GalleryEvaluation } from "./gallery.ts";
import { RERANK_SCORES, type RerankScore } from "./itm-rerank.ts";
import { describeInit } from "../shared/init-report.ts";
import { useBestModel } from "../shared/best-model.ts";

const RERANK_SCORE_TEXT: Record<RerankScore, string> = {
  itm: "scored by the match logit (ALBEF's evaluation).",
  "itm-log-odds": "scored by the match log-odds (match minus no-match logit).",
  "itm+itc": "scored by the match logit plus the ITC similarity (BLIP's evaluation).",
  joint: "scored by ITM's log-probability of a match plus ITC's similarity logit (cos/τ).",
};

export const RetrievalConfig = z.strictObject({
  init: partsInitOption(),
  ...scheduleOptions(5),
  /** candidates per query re-scored by ITM (ALBEF: 256 on COCO, 128 on Flickr30K); at least 10 so R@10 never ranks unscored entries */
  kTest: z.number().int().min(10).default(256),
  /** a re-scored candidate's score: `itm`, the ITM match logit (ALBEF); `itm-log-odds`, match minus no-match logit; `itm+itc`, the match logit plus the ITC similarity (BLIP) */
  rerankScore: z.enum(RERANK_SCORES).default("itm"),
  evalMaxImages: z.number().int().positive().default(1000),
  evalBatchSize: z.number().int().positive().default(64),
  /** also evaluate the initial weights, to show what fine-tuning changed */
  evalBefore: z.boolean().default(false),
});
export type RetrievalConfig = z.output<typeof RetrievalConfig>;

/** A stable non-negative id per sample key (FNV-1a, 31 bits): the same across processes, so a resumed id queue stays valid. */
export function imageIdOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) & 0x7fffffff;
}

export class RetrievalTask implements Task<RunContext> {
  readonly name = "retrieval";
  constructor(readonly cfg: RetrievalConfig) {}

  async run(ctx: RunContext): Promise<TaskResult> {
    const { scope } = ctx;
    const { config, log } = scope;
    const { data, optim } = await taskSections(ctx, "retrieval fine-tuning", "to evaluate on");
    const { model, tokenizer } = await setUpModel(ctx, "retrieval fine-tuning", { batchSize: data.batchSize, imageIds: true });
    model.requireEmbedding("retrieval fine-tuning");
    model.requireMatching("retrieval fine-tuning");
    if (this.cfg.init && !ctx.resume) {
      await initialiseModel(ctx, model, this.cfg.init);
    } else if (!this.cfg.init) {
      log.warn("task.init is null: fine-tuning starts from random weights");
    }
    const gallery = { maxImages: this.cfg.evalMaxImages, kTest: this.cfg.kTest, batchSize: this.cfg.evalBatchSize, rerankScore: this.cfg.rerankScore };
    // every rank evaluates together (each re-ranks its share of the queries); rank 0 alone scores the val split for model selection
    const together = { ...gallery, world: ctx.world };
    const before = this.cfg.evalBefore && !ctx.resume ? await evaluateGallery(model, scope, ctx.dropped, data, tokenizer, together, log) : null;
    // ALBEF's Retrieval.py: the val split's mean recall of the ITM-re-ranked scores picks the epoch whose model is tested
    const selection = data.val
      ? {
          metric: "val mean recall (ITM re-ranked)",
          evaluate: async () => (await evaluateGallery(model, scope, ctx.dropped, { ...data, test: data.val }, tokenizer, gallery, log)).itm.rMean,
        }
      : undefined;
    const outcome = await trainAlignment(ctx, model, tokenizer, data, optim, this.cfg, { imageIds: (keys) => Int32Array.from(keys, imageIdOf), selection });
    await useBestModel(ctx, outcome, model);
    const after = await evaluateGallery(model, scope, ctx.dropped, data, tokenizer, together, log);
    const { base, artifacts } = await trainingReport(ctx, outcome);
    const metrics: Record<string, number> = {
      steps: base.steps,
      samples: base.samples,
      train_seconds: base.wall_time_s,
      skipped_samples: base.skipped_samples,
      ...flat("itm", after.itm),
      ...flat("itc", after.itc),
    };
    const summary = {
      ...base,
      task: "retrieval",
      init: this.cfg.init,
      k_test: this.cfg.kTest,
      rerank_score: this.cfg.rerankScore,
      before: before && { itc: before.itc, itm: before.itm },
      after: { itc: after.itc, itm: after.itm },
      eval_seconds: Math.round(after.seconds * 10) / 10,
    };
    writeSummary(ctx, summary, summaryMarkdown(config.name, summary.steps, summary.wall_time_s, this.cfg, before, after));
    const { trainer } = outcome;
    model.dispose();
    trainer.dispose();
    return { metrics, artifacts };
  }
}

function flat(prefix: string, m: GalleryRetrievalMetrics): Record<string, number> {
  return {
    [`${prefix}_i2t_r1`]: m.i2t.r1,
    [`${prefix}_i2t_r5`]: m.i2t.r5,
    [`${prefix}_i2t_r10`]: m.i2t.r10,
    [`${prefix}_t2i_r1`]: m.t2i.r1,
    [`${prefix}_t2i_r5`]: m.t2i.r5,
    [`${prefix}_t2i_r10`]: m.t2i.r10,
    [`${prefix}_r_mean`]: m.rMean,
  };
}

function summaryMarkdown(
  name: string,
  steps: number,
  seconds: number,
  cfg: RetrievalConfig,
  before: GalleryEvaluation | null,
  after: GalleryEvaluation,
): string {
  const f = (v: number) => v.toFixed(1);
  const row = (label: string, m: GalleryRetrievalMetrics) =>
    `| ${label} | ${f(m.i2t.r1)} | ${f(m.i2t.r5)} | ${f(m.i2t.r10)} | ${f(m.t2i.r1)} | ${f(m.t2i.r5)} | ${f(m.t2i.r10)} | ${f(m.rMean)} |`;
  const m = after.itm;
  return [
    `# ${name}: retrieval fine-tuning summary`,
    "",
    `${steps} steps in ${seconds} s from ${describeInit(cfg.init)}. Test gallery: ${m.images} images, ${m.texts} captions; ` +
      `ITM re-ranks each query's top ${cfg.kTest} by ITC similarity, ` +
      RERANK_SCORE_TEXT[cfg.rerankScore],
    "",
    "| ranking | TR@1 | TR@5 | TR@10 | IR@1 | IR@5 | IR@10 | mean |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...(before ? [row("before fine-tuning, ITC", before.itc), row("before fine-tuning, ITC + ITM", before.itm)] : []),
    row("fine-tuned, ITC", after.itc),
    row("fine-tuned, ITC + ITM", after.itm),
    `| chance | ${f(m.chance.i2t.r1)} | ${f(m.chance.i2t.r5)} | ${f(m.chance.i2t.r10)} | ${f(m.chance.t2i.r1)} | ${f(m.chance.t2i.r5)} | ${f(m.chance.t2i.r10)} | |`,
    "",
    "TR@K (image → text): an image counts when its best-ranked caption is in the top K; IR@K (text → image): the caption's image is in the top K.",
    `A caption identical to another image's (${m.sharedTexts} of ${m.texts}) is correct for both; any other exact tie ranks the wrong answer first ` +
      `(fine-tuned ITC: ${after.itc.ties.i2t} image → text and ${after.itc.ties.t2i} text → image queries had one in their top 10).`,
    "",
  ].join("\n");
}
