/**
 * The `binding` task: does the model tie attributes to the right entities?
 * Each test image's caption is scored against its binding negatives — the
 * same words with two entities' colours or shapes swapped, each describing
 * a scene that is not there ("a red circle above a blue square" vs "a blue
 * circle above a red square"). Bag-of-words matching cannot tell them apart;
 * multi-entity alignment can. Reports how often the true caption wins, by
 * ITC similarity and by the ITM logit (chance 50 %).
 */
import { z } from "zod";
import {
  ConfigError,
  preCaption,
  type RunContext,
  type Task,
  type TaskResult,
  tf,
  DataError,
} from "../../core/index.ts";
import { loadAlbefForEvaluation } from "./albef-training.ts";
import { evalBatches, openPool, taskSections, testSampleMeta } from "./pretrain-data.ts";
import { writeSummary } from "./run-report.ts";

export const BindingConfig = z.strictObject({
  /** the model to evaluate: a run folder, a checkpoint folder or a safetensors file */
  init: z.string().min(1),
  /** the .json fields: the caption (a string, or a list whose first entry the negatives were made from) and the negatives */
  captionField: z.string().min(1).default("captions"),
  negativesField: z.string().min(1).default("negatives"),
  maxImages: z.number().int().positive().default(1000),
  batchSize: z.number().int().positive().default(32),
});
export type BindingConfig = z.output<typeof BindingConfig>;

interface BindingCase {
  caption: string;
  negatives: string[];
}

function bindingCase(meta: Record<string, unknown>, cfg: BindingConfig, where: string): BindingCase | null {
  const c = meta[cfg.captionField];
  const caption = typeof c === "string" ? c : Array.isArray(c) && typeof c[0] === "string" ? c[0] : null;
  const negatives = meta[cfg.negativesField];
  if (caption === null) throw new DataError(`${where}: .json has no caption "${cfg.captionField}"`);
  if (negatives === undefined) throw new DataError(`${where}: .json has no "${cfg.negativesField}" list`);
  if (!Array.isArray(negatives) || !negatives.every((n) => typeof n === "string")) throw new DataError(`${where}: "${cfg.negativesField}" is not a list of strings`);
  return negatives.length > 0 ? { caption, negatives } : null;
}

export interface BindingScores {
  /** pairs (caption, one negative) */
  pairs: number;
  images: number;
  /** % of pairs where the caption scores higher */
  itcPairs: number;
  itmPairs: number;
  /** % of images whose caption beats every negative */
  itcImages: number;
  itmImages: number;
  /** what random scores give per image: mean of 1 / (negatives + 1) */
  chanceImages: number;
}

export class BindingTask implements Task<RunContext> {
  readonly name = "binding";
  constructor(readonly cfg: BindingConfig) {}

  async run(ctx: RunContext): Promise<TaskResult> {
    const { scope, runDir } = ctx;
    const { config, log } = scope;
    const { data } = await taskSections(ctx, "binding", "whose .json carries captions and binding negatives");
    const test = data.test as string;
    const t0 = performance.now();
    const { model, tokenizer, file } = await loadAlbefForEvaluation(ctx, data, "binding", this.cfg.init);
    const cases = await testSampleMeta(data, this.cfg.maxImages, (meta, where) => bindingCase(meta, this.cfg, where));
    const won = { itcPairs: 0, itmPairs: 0, itcImages: 0, itmImages: 0, pairs: 0, images: 0, chanceImages: 0 };
    const pool = await openPool(config, data, "test", Math.min(1, data.workers));
    let seen = 0;
    try {
      for await (const b of evalBatches(data, test, pool, tokenizer.special.pad, this.cfg.batchSize)) {
        const plane = 3 * b.size * b.size;
        for (let i = 0; i < b.batch && seen < this.cfg.maxImages; i++, seen++) {
          const c = cases.get(b.keys[i]);
          if (!c) continue;
          const texts = [c.caption, ...c.negatives].map((t) => preCaption(t, data.format.maxWords));
          const enc = tokenizer.encode(texts);
          const [itc, itm] = tf.tidy(() => {
            const image = model.encodeImage(tf.tensor4d(b.images.subarray(i * plane, (i + 1) * plane), [1, 3, b.size, b.size]));
            const ids = tf.tensor2d(enc.ids, [enc.batch, enc.length], "int32");
            const mask = tf.tensor2d(enc.mask, [enc.batch, enc.length], "int32");
            const text = model.encodeText(ids, mask);
            const sim = tf.sum(tf.mul(model.textFeat(text, false, mask), model.imageFeat(image)), -1);
            const images = tf.tile(image, [enc.batch, 1, 1]);
            const logit = tf.squeeze(tf.slice(model.matchLogits(text, mask, images), [0, 1], [-1, 1]), [1]);
            return [sim.dataSync(), logit.dataSync()];
          });
          const wins = (s: ArrayLike<number>) => Array.from({ length: s.length - 1 }, (_, j) => s[0] > s[j + 1]);
          const wItc = wins(itc);
          const wItm = wins(itm);
          won.pairs += wItc.length;
          won.images++;
          // random scores: the caption is the best of k + 1 with probability 1 / (k + 1)
          won.chanceImages += 1 / (wItc.length + 1);
          won.itcPairs += wItc.filter(Boolean).length;
          won.itmPairs += wItm.filter(Boolean).length;
          if (wItc.every(Boolean)) won.itcImages++;
          if (wItm.every(Boolean)) won.itmImages++;
        }
        if (seen >= this.cfg.maxImages) break;
      }
    } finally {
      await pool.close();
    }
    if (won.pairs === 0) throw new ConfigError(`no image in ${test} has binding negatives`, "data.test");
    const pct = (n: number, d: number) => (100 * n) / d;
    const scores: BindingScores = {
      pairs: won.pairs,
      images: won.images,
      itcPairs: pct(won.itcPairs, won.pairs),
      itmPairs: pct(won.itmPairs, won.pairs),
      itcImages: pct(won.itcImages, won.images),
      itmImages: pct(won.itmImages, won.images),
      chanceImages: pct(won.chanceImages, won.images),
    };
    const seconds = Math.round(((performance.now() - t0) / 1000) * 10) / 10;
    log.info(`binding: ${won.pairs} caption/negative pairs over ${won.images} images`);
    writeSummary(
      runDir,
      { name: config.name, task: "binding", weights: file, fusion: config.model?.fusion.name, ...scores, seconds },
      [
        `# ${config.name}: attribute binding`,
        "",
        `${file} (${config.model?.fusion.name} fusion) on ${won.images} test images with ${won.pairs} caption / binding-negative pairs.`,
        "",
        "| score | caption beats the negative (pairs) | caption beats all its negatives (images) |",
        "| --- | --- | --- |",
        `| ITC similarity | ${scores.itcPairs.toFixed(1)} % | ${scores.itcImages.toFixed(1)} % |`,
        `| ITM logit | ${scores.itmPairs.toFixed(1)} % | ${scores.itmImages.toFixed(1)} % |`,
        `| chance (random scores) | 50 % | ${scores.chanceImages.toFixed(1)} % |`,
        "",
      ].join("\n"),
    );
    model.dispose();
    return { metrics: { pairs: won.pairs, itc_pairs: scores.itcPairs, itm_pairs: scores.itmPairs, itc_images: scores.itcImages, itm_images: scores.itmImages, seconds }, artifacts: {} };
  }
}
