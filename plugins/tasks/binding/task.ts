/**
 * The `binding` task: does the model tie attributes to the right entities?
 * Each test image's caption is scored against its binding negatives — the
 * same words with two entities' colours or shapes swapped, each describing
 * a scene that is not there ("a red circle above a blue square" vs "a blue
 * circle above a red square"). Bag-of-words matching cannot tell them apart;
 * multi-entity alignment can. Reports how often the true caption wins, by
 * ITC similarity and by the ITM logit (chance 50 %).
 */
import { ConfigError, type RunContext, type Task, type TaskResult, taskSections, writeSummary, z } from "../../../core/index.ts";
import { loadEvaluationModel } from "../shared/albef-model.ts";
import { DEFAULT_REPLACEMENTS_PER_KIND, measureBinding, replacedMarkdown } from "../shared/binding.ts";

export const BindingConfig = z.strictObject({
  /** the model to evaluate: a run folder, a checkpoint folder or a safetensors file */
  init: z.string().min(1),
  /** the .json fields: the caption (a string, or a list whose first entry the negatives were made from) and the negatives */
  captionField: z.string().min(1).default("captions"),
  negativesField: z.string().min(1).default("negatives"),
  /** the .json field of replacement negatives by attribute (`{"colour": [...], "shape": [...]}`), scored by kind where present */
  replacementsField: z.string().min(1).default("replacements"),
  replacementsPerKind: z.number().int().positive().default(DEFAULT_REPLACEMENTS_PER_KIND),
  maxImages: z.number().int().positive().default(1000),
  batchSize: z.number().int().positive().default(32),
});
export type BindingConfig = z.output<typeof BindingConfig>;

export class BindingTask implements Task<RunContext> {
  readonly name = "binding";
  constructor(readonly cfg: BindingConfig) {}

  async run(ctx: RunContext): Promise<TaskResult> {
    const { scope } = ctx;
    const { config, log } = scope;
    const { data } = await taskSections(ctx, "binding", "whose .json carries captions and binding negatives");
    const test = data.test as string;
    const t0 = performance.now();
    const { model, tokenizer, file } = await loadEvaluationModel(ctx, "binding", this.cfg.init);
    const scores = await measureBinding(model, scope, ctx.dropped, data, tokenizer, this.cfg);
    if (!scores) throw new ConfigError(`no image in ${test} has binding negatives`, "data.test");
    const seconds = Math.round(((performance.now() - t0) / 1000) * 10) / 10;
    log.info(`binding: ${scores.pairs} caption/negative pairs over ${scores.images} images`);
    writeSummary(
      ctx,
      { name: config.name, task: "binding", weights: file, fusion: config.model?.fusion.name, ...scores, seconds },
      [
        `# ${config.name}: attribute binding`,
        "",
        `${file} (${config.model?.fusion.name} fusion) on ${scores.images} test images with ${scores.pairs} caption / binding-negative pairs.`,
        "",
        "| score | caption beats the negative (pairs) | caption beats all its negatives (images) |",
        "| --- | --- | --- |",
        `| ITC similarity | ${scores.itcPairs.toFixed(1)} % | ${scores.itcImages.toFixed(1)} % |`,
        `| ITM logit | ${scores.itmPairs.toFixed(1)} % | ${scores.itmImages.toFixed(1)} % |`,
        `| chance (random scores) | 50 % | ${scores.chanceImages.toFixed(1)} % |`,
        "",
        ...replacedMarkdown(scores),
      ].join("\n"),
    );
    model.dispose();
    return {
      metrics: {
        pairs: scores.pairs,
        itc_pairs: scores.itcPairs,
        itm_pairs: scores.itmPairs,
        itc_images: scores.itcImages,
        itm_images: scores.itmImages,
        seconds,
      },
      artifacts: {},
    };
  }
}
