/**
 * The `grounding` task: ALBEF's weakly-supervised visual grounding
 * evaluation (Grounding.py). A model fine-tuned for retrieval on image–text
 * pairs (no boxes) localises a referring expression through Grad-CAM — on the
 * text → image attention of one fusion layer (ITM mode) or on a ViT block's
 * self-attention (ITC mode); the candidate box that the map covers best is
 * the answer, correct at IoU ≥ 0.5.
 */
import { join } from "node:path";
import {
  chwToRgb,
  ConfigError,
  evalBatches,
  openPool,
  preCaption,
  type RunContext,
  type Task,
  type TaskResult,
  taskSections,
  testSampleMeta,
  tf,
  writeSummary,
  z,
} from "../../../core/index.ts";
import { loadEvaluationModel } from "../shared/albef-model.ts";
import { groundExpression, iouInclusive } from "./boxes.ts";
import { itcGradCam, itmGradCam } from "./grad-cam.ts";
import { GroundingGallery } from "./gallery.ts";
import { groundingQueries, type GroundingQuery } from "./queries.ts";

export const GroundingConfig = z.strictObject({
  /** the model to evaluate: a run folder, a checkpoint folder or a safetensors file (ALBEF: the retrieval-fine-tuned model) */
  init: z.string().min(1),
  /**
   * `itm`: Grad-CAM of the ITM logit on a fusion layer's text → image attention (ALBEF's default);
   * `itc`: of the ITC similarity on a ViT block's self-attention (the paper's ALBEF_itc)
   */
  mode: z.enum(["itm", "itc"]).default("itm"),
  /** 0-based layer: fusion layer for itm (default the 3rd, ALBEF's block_num 8, or the last of a shallower fusion); ViT block for itc (default the last) */
  layer: z.number().int().min(0).optional(),
  maxImages: z.number().int().positive().default(1000),
  /** expressions per Grad-CAM pass */
  batchSize: z.number().int().positive().default(32),
  /** pictures of the first expressions' maps and boxes in the run's report page (gallery/); 0: none */
  gallery: z.number().int().min(0).default(12),
});
export type GroundingConfig = z.output<typeof GroundingConfig>;

interface Scored {
  correct: number;
  total: number;
  /** Σ over queries of the share of candidates with IoU ≥ 0.5: a random pick's expected hits */
  chance: number;
  candidates: number;
}

export class GroundingTask implements Task<RunContext> {
  readonly name = "grounding";
  constructor(readonly cfg: GroundingConfig) {}

  async run(ctx: RunContext): Promise<TaskResult> {
    const { scope, runDir } = ctx;
    const { config, log } = scope;
    const { data } = await taskSections(ctx, "grounding", "whose .json carries refs or objects with boxes");
    const test = data.test as string;
    const t0 = performance.now();
    const { model, tokenizer, file } = await loadEvaluationModel(ctx, "grounding", this.cfg.init);
    const itc = this.cfg.mode === "itc";
    const depth = (itc ? model.visual_encoder.depth : model.fusion.depth) ?? 1;
    const layer = this.cfg.layer ?? (itc ? depth - 1 : Math.min(2, depth - 1));
    if (layer >= depth) {
      model.dispose();
      throw new ConfigError(
        `task.layer ${layer}: the ${itc ? "vision encoder" : "fusion"} has ${depth} layer${depth === 1 ? "" : "s"} (0..${depth - 1})`,
        "task.layer",
      );
    }
    const queries = await testSampleMeta(data, this.cfg.maxImages, groundingQueries);
    const score: Scored = { correct: 0, total: 0, chance: 0, candidates: 0 };
    // ALBEF reports RefCOCO+ val, testA and testB apart
    const bySplit = new Map<string, { correct: number; total: number }>();
    const examples: { key: string; expression: string; iou: number; correct: boolean }[] = [];
    const gallery = new GroundingGallery(runDir, this.cfg.gallery, this.cfg.mode);
    const pool = await openPool(scope, data, "test", Math.min(1, data.workers));
    let images = 0;
    try {
      for await (const b of evalBatches(data, test, pool, tokenizer.special.pad, 16, ctx.dropped, {
        label: "grounding: images",
        log,
        limit: this.cfg.maxImages,
      })) {
        const plane = 3 * b.size * b.size;
        const jobs: { image: number; key: string; q: GroundingQuery }[] = [];
        for (let i = 0; i < b.batch && images + i < this.cfg.maxImages; i++)
          for (const q of queries.get(b.keys[i]) ?? []) jobs.push({ image: i, key: b.keys[i], q });
        images += Math.min(b.batch, this.cfg.maxImages - images);
        for (let s = 0; s < jobs.length; s += this.cfg.batchSize) {
          const chunk = jobs.slice(s, s + this.cfg.batchSize);
          const enc = tokenizer.encode(chunk.map((j) => preCaption(j.q.expression, data.format.maxWords)));
          const pixels = new Float32Array(chunk.length * plane);
          chunk.forEach((j, n) => pixels.set(b.images.subarray(j.image * plane, (j.image + 1) * plane), n * plane));
          const imagesT = tf.tensor4d(pixels, [chunk.length, 3, b.size, b.size]);
          const ids = tf.tensor2d(enc.ids, [enc.batch, enc.length], "int32");
          const mask = tf.tensor2d(enc.mask, [enc.batch, enc.length], "int32");
          const cam = (itc ? itcGradCam : itmGradCam)(model, imagesT, ids, mask, layer);
          tf.dispose([imagesT, ids, mask]);
          chunk.forEach((j, n) => {
            const map = cam.maps.subarray(n * cam.grid * cam.grid, (n + 1) * cam.grid * cam.grid);
            const out = groundExpression(map, cam.grid, j.q.width, j.q.height, j.q.candidates, j.q.box);
            score.total++;
            if (out.correct) score.correct++;
            if (j.q.split !== undefined) {
              const sp = bySplit.get(j.q.split) ?? { correct: 0, total: 0 };
              sp.total++;
              if (out.correct) sp.correct++;
              bySplit.set(j.q.split, sp);
            }
            score.chance += j.q.candidates.filter((c) => iouInclusive(c, j.q.box) >= 0.5).length / j.q.candidates.length;
            score.candidates += j.q.candidates.length;
            if (examples.length < 20) examples.push({ key: j.key, expression: j.q.expression, iou: Math.round(out.iou * 1000) / 1000, correct: out.correct });
            if (!gallery.full)
              gallery.add({
                rgb: chwToRgb(b.images.subarray(j.image * plane, (j.image + 1) * plane), b.size, data.image.mean, data.image.std),
                size: b.size,
                map,
                grid: cam.grid,
                expression: j.q.expression,
                truth: j.q.box,
                chosen: j.q.candidates[out.chosen],
                width: j.q.width,
                height: j.q.height,
                iou: out.iou,
              });
          });
        }
        if (images >= this.cfg.maxImages) break;
      }
    } finally {
      await pool.close();
    }
    await gallery.write();
    if (score.total === 0) throw new ConfigError(`no referring expression found in ${test} (need refs, or objects in scenes of two or more)`, "data.test");
    const accuracy = (100 * score.correct) / score.total;
    const chance = (100 * score.chance) / score.total;
    const seconds = Math.round(((performance.now() - t0) / 1000) * 10) / 10;
    const splits = [...bySplit].sort(([a], [b]) => a.localeCompare(b));
    const summary = {
      name: config.name,
      task: "grounding",
      weights: file,
      fusion: config.model?.fusion.name,
      mode: this.cfg.mode,
      layer,
      images,
      expressions: score.total,
      mean_candidates: Math.round((score.candidates / score.total) * 100) / 100,
      accuracy,
      chance,
      ...(splits.length > 0 ? { accuracy_by_split: Object.fromEntries(splits.map(([k, v]) => [k, (100 * v.correct) / v.total])) } : {}),
      seconds,
      backend: `${ctx.backend.backend} (${ctx.backend.plugin})`,
      examples,
    };
    writeSummary(
      ctx,
      summary,
      [
        `# ${config.name}: weakly-supervised grounding`,
        "",
        `Grad-CAM (${itc ? `ITC, ViT block ${layer}` : `ITM, fusion layer ${layer}`}) of ${file} on ${score.total} referring expressions over ${images} test images ` +
          `(${summary.mean_candidates} candidate boxes each on average), in ${seconds} s.`,
        "",
        "| | accuracy (IoU ≥ 0.5) |",
        "| --- | --- |",
        `| Grad-CAM box choice | ${accuracy.toFixed(1)} % |`,
        ...splits.map(([k, v]) => `| — on ${k} (${v.total} expressions) | ${((100 * v.correct) / v.total).toFixed(1)} % |`),
        `| a random candidate (chance) | ${chance.toFixed(1)} % |`,
        "",
      ].join("\n"),
    );
    model.dispose();
    return { metrics: { expressions: score.total, accuracy, chance, seconds }, artifacts: { summary: join(runDir, "summary.json") } };
  }
}
