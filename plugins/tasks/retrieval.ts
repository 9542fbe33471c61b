/**
 * The `retrieval` task: ALBEF's image–text retrieval fine-tuning
 * (Retrieval.py) — ITC with image-id positives over the batch and the id
 * queue, ITM with hard negatives that are never the same image, momentum
 * distillation, no temperature clamp — from pre-trained weights, then ALBEF's
 * evaluation: ITC ranking of the whole test gallery, the top k of each query
 * re-scored by the ITM head.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import {
  ConfigError,
  DataConfig,
  type GalleryRetrievalMetrics,
  loadInitialWeights,
  OptimConfig,
  type RunContext,
  type Task,
  type TaskResult,
} from "../../core/index.ts";
import { setUpAlbef, trainAlbef } from "./albef-training.ts";
import { ensureSynthData } from "./pretrain-data.ts";
import { evaluateGallery, type GalleryEvaluation } from "./retrieval-eval.ts";
import { lossCurve, parseSection, readLastLoss } from "./run-report.ts";

export const RetrievalConfig = z.strictObject({
  /** pre-trained weights: a run folder, a checkpoint folder or a safetensors file (polyalign or ALBEF names); null = from scratch */
  init: z.string().min(1).nullable().default(null),
  epochs: z.number().int().positive().default(5),
  steps: z.number().int().positive().optional(),
  checkpointEvery: z.number().int().min(0).default(1000),
  keepCheckpoints: z.number().int().positive().default(2),
  logEvery: z.number().int().positive().default(10),
  alphaRampSteps: z.number().int().min(0).optional(),
  /** candidates per query re-scored by ITM (ALBEF: 256 on COCO, 128 on Flickr30K); at least 10 so R@10 never ranks unscored entries */
  kTest: z.number().int().min(10).default(256),
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

const QUEUES = new Set(["image_queue", "text_queue", "queue_ptr", "idx_queue"]);

export class RetrievalTask implements Task<RunContext> {
  readonly name = "retrieval";
  constructor(readonly cfg: RetrievalConfig) {}

  async run(ctx: RunContext): Promise<TaskResult> {
    const { scope, runDir } = ctx;
    const { config, log } = scope;
    if (!config.data) throw new ConfigError("retrieval fine-tuning needs a data: section", "data");
    const data = parseSection(DataConfig, config.data, "data");
    if (!data.test) throw new ConfigError("retrieval fine-tuning needs data.test shards to evaluate on", "data.test");
    const optim = parseSection(OptimConfig, config.optim, "optim");
    await ensureSynthData(data, log);
    const setup = await setUpAlbef(ctx, data, "retrieval fine-tuning", { idQueue: true });
    const { model, tokenizer } = setup;
    if (this.cfg.init && !ctx.resume) {
      const r = loadInitialWeights(model, this.cfg.init, {
        fusionStart: Number(config.model?.text.layers ?? 0),
        optional: (n) => n === "idx_queue",
        reinitOnMismatch: (n) => QUEUES.has(n),
      });
      ctx.out(`initial weights: ${r.loaded.length} tensors from ${r.file}${r.fresh.length ? `; fresh: ${r.fresh.join(", ")}` : ""}`);
    } else if (!this.cfg.init) {
      log.warn("task.init is null: fine-tuning starts from random weights");
    }
    const gallery = { maxImages: this.cfg.evalMaxImages, kTest: this.cfg.kTest, batchSize: this.cfg.evalBatchSize };
    const before = this.cfg.evalBefore && !ctx.resume ? await evaluateGallery(model, config, data, tokenizer, gallery, log) : null;
    const { trainer, trainSeconds, stepsPerEpoch, skippedSamples, checkpoint } = await trainAlbef(ctx, setup, data, optim, this.cfg, {
      imageIds: (keys) => Int32Array.from(keys, imageIdOf),
      clampTemp: false,
    });
    const after = await evaluateGallery(model, config, data, tokenizer, gallery, log);
    const artifacts: Record<string, string> = { metrics: join(runDir, "metrics.jsonl") };
    if (checkpoint) artifacts.checkpoint = checkpoint;
    const curve = lossCurve(runDir);
    if (curve) artifacts.lossCurve = curve;
    const metrics: Record<string, number> = {
      steps: trainer.step,
      samples: trainer.samples,
      train_seconds: Math.round(trainSeconds * 10) / 10,
      skipped_samples: skippedSamples,
      ...flat("itm", after.itm),
      ...flat("itc", after.itc),
    };
    const summary = {
      name: config.name,
      task: "retrieval",
      init: this.cfg.init,
      steps: trainer.step,
      epochs: stepsPerEpoch ? Math.round((trainer.step / stepsPerEpoch) * 100) / 100 : trainer.epoch,
      samples: trainer.samples,
      wall_time_s: Math.round(trainSeconds * 10) / 10,
      backend: `${ctx.backend.backend} (${ctx.backend.plugin})`,
      fusion: config.model?.fusion.name,
      final_loss: trainer.lastState ? readLastLoss(join(runDir, "metrics.jsonl")) : null,
      skipped_samples: skippedSamples,
      k_test: this.cfg.kTest,
      before: before && { itc: before.itc, itm: before.itm },
      after: { itc: after.itc, itm: after.itm },
      eval_seconds: Math.round(after.seconds * 10) / 10,
      checkpoint,
    };
    writeFileSync(join(runDir, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
    writeFileSync(join(runDir, "summary.md"), summaryMarkdown(config.name, summary.steps, summary.wall_time_s, this.cfg, before, after));
    artifacts.summary = join(runDir, "summary.json");
    model.dispose();
    trainer.dispose();
    return { metrics, artifacts };
  }
}

function flat(prefix: string, m: GalleryRetrievalMetrics): Record<string, number> {
  return {
    [`${prefix}_i2t_r1`]: m.i2t.r1, [`${prefix}_i2t_r5`]: m.i2t.r5, [`${prefix}_i2t_r10`]: m.i2t.r10,
    [`${prefix}_t2i_r1`]: m.t2i.r1, [`${prefix}_t2i_r5`]: m.t2i.r5, [`${prefix}_t2i_r10`]: m.t2i.r10,
    [`${prefix}_r_mean`]: m.rMean,
  };
}

function summaryMarkdown(name: string, steps: number, seconds: number, cfg: RetrievalConfig, before: GalleryEvaluation | null, after: GalleryEvaluation): string {
  const f = (v: number) => v.toFixed(1);
  const row = (label: string, m: GalleryRetrievalMetrics) => `| ${label} | ${f(m.i2t.r1)} | ${f(m.i2t.r5)} | ${f(m.i2t.r10)} | ${f(m.t2i.r1)} | ${f(m.t2i.r5)} | ${f(m.t2i.r10)} | ${f(m.rMean)} |`;
  const m = after.itm;
  return [
    `# ${name}: retrieval fine-tuning summary`,
    "",
    `${steps} steps in ${seconds} s from ${cfg.init ?? "random weights"}. Test gallery: ${m.images} images, ${m.texts} captions; ` +
      `ITM re-ranks each query's top ${cfg.kTest} by ITC similarity (ALBEF's evaluation).`,
    "",
    "| ranking | TR@1 | TR@5 | TR@10 | IR@1 | IR@5 | IR@10 | mean |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...(before ? [row("before fine-tuning, ITC", before.itc), row("before fine-tuning, ITC + ITM", before.itm)] : []),
    row("fine-tuned, ITC", after.itc),
    row("fine-tuned, ITC + ITM", after.itm),
    `| chance | ${f(m.chance.i2t.r1)} | ${f(m.chance.i2t.r5)} | ${f(m.chance.i2t.r10)} | ${f(m.chance.t2i.r1)} | ${f(m.chance.t2i.r5)} | ${f(m.chance.t2i.r10)} | |`,
    "",
    "TR@K (image → text): an image counts when its best-ranked caption is in the top K; IR@K (text → image): the caption's image is in the top K.",
    "",
  ].join("\n");
}
