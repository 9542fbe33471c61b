/**
 * The `pretrain` task: ALBEF pre-training (ITC + ITM + MLM, or whichever
 * objectives the config lists) on WebDataset shards, with checkpoints,
 * resume, metrics and a loss curve, then zero-shot image–text retrieval on
 * the held-out shards and a summary.
 */
import { z } from "zod";
import {
  type PretrainModel,
  retrievalMetrics,
  type RetrievalMetrics,
  type RunContext,
  type Task,
  type TaskResult,
  tf,
  evalBatches,
  openPool,
  taskSections,
  trainingReport,
  type TrainingSummary,
  writeSummary,
  scheduleOptions,
} from "../../core/index.ts";
import { setUpAlbef, trainAlbef } from "./albef-training.ts";
import { type BindingScores, measureBinding } from "./binding-eval.ts";

export const PretrainConfig = z.strictObject({
  ...scheduleOptions(30),
  /** zero-shot retrieval on data.test after training */
  evalRetrieval: z.boolean().default(true),
  evalMaxImages: z.number().int().positive().default(1000),
  /** attribute binding on data.test when its samples carry binding negatives (the built-in set does) */
  evalBinding: z.boolean().default(true),
});
export type PretrainConfig = z.output<typeof PretrainConfig>;

async function zeroShotRetrieval(model: PretrainModel, batches: AsyncIterable<{ images: Float32Array; ids: Int32Array; mask: Int32Array; batch: number; length: number; size: number }>, max: number): Promise<RetrievalMetrics> {
  const imageFeats: Float32Array[] = [];
  const textFeats: Float32Array[] = [];
  let n = 0;
  model.eval();
  for await (const b of batches) {
    if (n >= max) break;
    const take = Math.min(b.batch, max - n);
    tf.tidy(() => {
      const images = tf.tensor4d(b.images.subarray(0, take * 3 * b.size * b.size), [take, 3, b.size, b.size]);
      const ids = tf.tensor2d(b.ids.subarray(0, take * b.length), [take, b.length], "int32");
      const mask = tf.tensor2d(b.mask.subarray(0, take * b.length), [take, b.length], "int32");
      imageFeats.push(Float32Array.from(model.imageFeat(model.encodeImage(images)).dataSync()));
      textFeats.push(Float32Array.from(model.textFeat(model.encodeText(ids, mask), false, mask).dataSync()));
    });
    n += take;
  }
  model.train();
  const dim = model.opts.embedDim;
  const sim = tf.tidy(() => {
    const img = tf.tensor2d(concat(imageFeats), [n, dim]);
    const txt = tf.tensor2d(concat(textFeats), [n, dim]);
    return tf.matMul(img, txt, false, true).dataSync() as Float32Array;
  });
  return retrievalMetrics(sim, n);
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export class PretrainTask implements Task<RunContext> {
  readonly name = "pretrain";
  constructor(readonly cfg: PretrainConfig) {}

  async run(ctx: RunContext): Promise<TaskResult> {
    const { scope, runDir } = ctx;
    const { data, optim } = await taskSections(ctx, "pretraining");
    const setup = await setUpAlbef(ctx, data, "pretraining");
    const { model, tokenizer } = setup;
    const outcome = await trainAlbef(ctx, setup, data, optim, this.cfg);
    const { trainer } = outcome;
    const { base, artifacts } = trainingReport(ctx, outcome);
    const metrics: Record<string, number> = { steps: base.steps, samples: base.samples, train_seconds: base.wall_time_s, skipped_samples: base.skipped_samples };
    let retrieval: RetrievalMetrics | null = null;
    if (this.cfg.evalRetrieval && data.test) {
      const evalPool = await openPool(scope, data, "test", Math.min(1, data.workers));
      try {
        retrieval = await zeroShotRetrieval(model, evalBatches(data, data.test, evalPool, tokenizer.special.pad, 64), this.cfg.evalMaxImages);
      } finally {
        await evalPool.close();
      }
      Object.assign(metrics, {
        "i2t_r1": retrieval.i2t.r1, "i2t_r5": retrieval.i2t.r5, "i2t_r10": retrieval.i2t.r10,
        "t2i_r1": retrieval.t2i.r1, "t2i_r5": retrieval.t2i.r5, "t2i_r10": retrieval.t2i.r10,
        r_mean: retrieval.rMean, chance_r1: retrieval.chance.r1, chance_r5: retrieval.chance.r5, chance_r10: retrieval.chance.r10,
      });
    }
    const binding =
      this.cfg.evalBinding && data.test
        ? await measureBinding(model, scope, data, tokenizer, { captionField: "captions", negativesField: "negatives", maxImages: this.cfg.evalMaxImages, batchSize: 64, lenient: true })
        : null;
    if (binding) Object.assign(metrics, { binding_itc: binding.itcPairs, binding_itm: binding.itmPairs });
    const summary = {
      ...base,
      retrieval: retrieval && { n: retrieval.n, i2t: retrieval.i2t, t2i: retrieval.t2i, r_mean: retrieval.rMean, chance: retrieval.chance },
      binding,
    };
    writeSummary(runDir, summary, summaryMarkdown(summary));
    model.dispose();
    trainer.dispose();
    return { metrics, artifacts };
  }
}

function summaryMarkdown(s: TrainingSummary & {
  retrieval: { n: number; i2t: { r1: number; r5: number; r10: number }; t2i: { r1: number; r5: number; r10: number }; r_mean: number; chance: { r1: number; r5: number; r10: number } } | null;
  binding: BindingScores | null;
}): string {
  const f = (v: number) => v.toFixed(1);
  const lines = [
    `# ${s.name}: pre-training summary`,
    "",
    `${s.steps} steps (${s.samples} samples, ${s.epochs} epochs) in ${s.wall_time_s} s on ${s.backend}; fusion: ${s.fusion ?? "?"}.`,
    "",
    `Final losses: ${s.final_loss ? Object.entries(s.final_loss).map(([k, v]) => `${k} ${v}`).join(", ") : "—"}. Loss curve: loss.png.`,
    "",
  ];
  if (s.retrieval) {
    const r = s.retrieval;
    lines.push(
      `## Zero-shot retrieval on ${r.n} held-out images (one caption each)`,
      "",
      "| direction | R@1 | R@5 | R@10 |",
      "| --- | --- | --- | --- |",
      `| image → text | ${f(r.i2t.r1)} | ${f(r.i2t.r5)} | ${f(r.i2t.r10)} |`,
      `| text → image | ${f(r.t2i.r1)} | ${f(r.t2i.r5)} | ${f(r.t2i.r10)} |`,
      `| chance | ${f(r.chance.r1)} | ${f(r.chance.r5)} | ${f(r.chance.r10)} |`,
      "",
      `Mean recall ${f(r.r_mean)} %; a random ranking gives R@K = K / ${r.n}.`,
      "",
    );
  }
  if (s.binding) {
    const b = s.binding;
    lines.push(
      `## Attribute binding (${b.pairs} caption / swapped-attribute negative pairs on ${b.images} held-out images)`,
      "",
      `The caption beats its negative in ${f(b.itcPairs)} % of pairs by ITC similarity and ${f(b.itmPairs)} % by the ITM logit; chance is 50 %.`,
      "",
    );
  }
  return lines.join("\n");
}
