/**
 * The `nlvr-pretrain` task: ALBEF's text-assignment pre-training
 * (Pretrain_nlvr.py, NLVR_pretrain.yaml) on image–caption pairs — the
 * NLVR2 model's paired fusion learns which of two images a caption is of
 * (or neither), the pairs drawn in the batch by image similarity. Its
 * checkpoint is what ALBEF's NLVR2 fine-tuning starts from (`nlvr` with
 * `init: runs/<this run>`). Reports the text-assignment accuracy on the
 * held-out pairs, drawn the same way, against always answering the commonest class.
 */
import { z } from "zod";
import {
  albefLoadRules,
  ConfigError,
  crossEntropy,
  evalBatches,
  Fusion,
  gradsByName,
  loadInitialWeights,
  loadPartsInto,
  openPool,
  PRETRAINING_ONLY,
  partsInitOption,
  readyTokenizer,
  resolveHubPaths,
  Rng,
  type RunContext,
  runTrainingLoop,
  scheduleOptions,
  type Task,
  type TaskResult,
  taskSections,
  unfrozenParameters,
  TextEncoder,
  tf,
  trainingReport,
  VisionEncoder,
  writeSummary,
} from "../../../core/index.ts";
import { describeInit, writeInitReport } from "../shared/init-report.ts";
import { drawTextAssignment, TA_CLASSES, TextAssignmentModel } from "./text-assignment.ts";

export const NlvrPretrainConfig = z.strictObject({
  /** the pre-trained model (ALBEF: its 4M/14M pre-training checkpoint) */
  init: partsInitOption(),
  ...scheduleOptions(1),
  /** the fused text → ta_head: ALBEF's CLS row, or the mean (a model pre-trained with mean-pooled text) */
  pooling: z.enum(["cls", "mean"]).default("cls"),
  /** width of the image projection that picks similar images (default: the ITC objective's embedDim, else 256) */
  embedDim: z.number().int().positive().optional(),
  evalBatchSize: z.number().int().positive().default(32),
});
export type NlvrPretrainConfig = z.output<typeof NlvrPretrainConfig>;

/** Load rules: NLVR2's (fusion layer i → both layers of pair i), keeping the ITC image projection. */
function taLoadRules(pairs: number) {
  const nlvr = albefLoadRules.nlvr(pairs);
  return {
    ...nlvr,
    ignore: (n: string) => PRETRAINING_ONLY.test(n) && !n.startsWith("vision_proj."),
    optional: (n: string) => n.startsWith("ta_head.") || (nlvr.optional?.(n) ?? false),
  };
}

export class NlvrPretrainTask implements Task<RunContext> {
  readonly name = "nlvr-pretrain";
  constructor(readonly cfg: NlvrPretrainConfig) {}

  async run(ctx: RunContext): Promise<TaskResult> {
    const { scope, runDir } = ctx;
    const { config, log } = scope;
    const { data, optim } = await taskSections(ctx, "text-assignment pre-training", "of image–caption pairs to score the assignment on");
    if (data.format.imageMembers)
      throw new ConfigError(
        "text assignment trains on image–caption pairs (one image per sample): data.format.imageMembers must be null",
        "data.format.imageMembers",
      );
    const model = config.model;
    if (!model) throw new ConfigError("the config has no model: section", "model");
    const itc = config.objectives.find((o) => o.name === "itc") as { embedDim?: number } | undefined;
    const embedDim = this.cfg.embedDim ?? itc?.embedDim ?? 256;
    const tokenizer = await readyTokenizer(ctx);
    const ta = new TextAssignmentModel(
      {
        vision: scope.create(VisionEncoder, model.vision, "model.vision"),
        text: scope.create(TextEncoder, model.text, "model.text"),
        fusion0: scope.create(Fusion, model.fusion, "model.fusion"),
        fusion1: scope.create(Fusion, model.fusion, "model.fusion.image1"),
      },
      embedDim,
      this.cfg.pooling,
      Rng.derive(config.seed, "ta-heads"),
    );
    const fusionStart = Number(model.text.layers ?? 0);
    if (this.cfg.init && !ctx.resume) {
      const rules = taLoadRules(ta.fusion.depth);
      const r = loadPartsInto(ta, await resolveHubPaths(this.cfg.init, log), fusionStart, {
        log,
        loadCheckpoint: (path) => loadInitialWeights(ta, path, { fusionStart, ...rules }),
        expand: rules.expand,
        startFromPretrained: () => [ta.fusion.image0, ta.fusion.image1].map((f) => f.startFromPretrained?.() ?? null).find((n) => n !== null) ?? null,
      });
      writeInitReport(ctx, r);
      if (r.fresh.some((n) => n.startsWith("vision_proj.")))
        log.warn("the initial weights have no vision_proj (ITC's image projection): pairs are drawn by the similarity of a random projection");
      for (const p of r.parts) ctx.out(`initial weights${p.part === "checkpoint" ? "" : ` (${p.part})`}: ${p.loaded} tensors from ${p.file}`);
    } else if (!this.cfg.init) log.warn("task.init is null: text assignment starts from random weights");
    const vars = unfrozenParameters(ta.trainable(), optim.freeze);
    const drawRng = Rng.derive(config.seed, "ta-pairs");
    const outcome = await runTrainingLoop(ctx, data, optim, this.cfg, {
      model: ta,
      trainable: vars,
      padId: tokenizer.special.pad,
      alpha: 0,
      microStep: (batch) => {
        const images = tf.tensor4d(batch.images, [batch.batch, 3, batch.size, batch.size]);
        const ids = tf.tensor2d(batch.ids, [batch.batch, batch.length], "int32");
        const mask = tf.tensor2d(batch.mask, [batch.batch, batch.length], "int32");
        const parts: Record<string, number> = {};
        const { value, grads } = tf.variableGrads(
          () => {
            const embeds = ta.visual_encoder.forward(images);
            const draw = drawTextAssignment(ta.pairWeights(embeds), batch.batch, drawRng);
            const labels = tf.tensor1d(draw.labels, "int32");
            const logits = ta.logits(embeds, ids, mask, draw);
            const loss = crossEntropy(logits, labels);
            parts.ta = loss.dataSync()[0];
            parts.train_accuracy = tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(logits, -1), labels), "float32")).dataSync()[0]);
            return loss as tf.Scalar;
          },
          vars.map(([, v]) => v),
        );
        const loss = value.dataSync()[0];
        tf.dispose([value, images, ids, mask]);
        return { loss, parts, grads: gradsByName(vars, grads) };
      },
    });
    const held = await this.heldOutAccuracy(ctx, ta, data, tokenizer.special.pad);
    const { base, artifacts } = await trainingReport(ctx, outcome);
    const summary = { ...base, task: "nlvr-pretrain", init: this.cfg.init, test_pairs: held.n, accuracy: held.accuracy, majority_class: held.majority };
    writeSummary(
      ctx,
      summary,
      [
        `# ${config.name}: text-assignment pre-training (ALBEF's NLVR2 stage)`,
        "",
        `${summary.steps} steps in ${summary.wall_time_s} s from ${describeInit(this.cfg.init)}; ${held.n} held-out captions, each against a drawn pair.`,
        "",
        "| | text assignment (of image 0 / image 1 / neither) |",
        "| --- | --- |",
        `| trained | ${held.accuracy.toFixed(1)} % |`,
        `| always the commonest class | ${held.majority.toFixed(1)} % |`,
        "",
        `NLVR2 fine-tunes from it: \`task: {name: nlvr, init: ${runDir}}\`.`,
        "",
      ].join("\n"),
    );
    ta.dispose();
    outcome.trainer.dispose();
    return { metrics: { steps: summary.steps, train_seconds: summary.wall_time_s, accuracy: held.accuracy, majority_class: held.majority }, artifacts };
  }

  /** Held-out captions, each against a pair drawn as in training (a fixed stream): accuracy and the commonest class's share. */
  private async heldOutAccuracy(ctx: RunContext, ta: TextAssignmentModel, data: NonNullable<RunContext["scope"]["config"]["data"]>, padId: number) {
    const pool = await openPool(ctx.scope, data, "test", Math.min(1, data.workers));
    const rng = Rng.derive(ctx.scope.config.seed, "ta-eval-pairs");
    const counts = new Array<number>(TA_CLASSES).fill(0);
    let right = 0;
    let n = 0;
    ta.eval();
    try {
      for await (const b of evalBatches(data, data.test as string, pool, padId, this.cfg.evalBatchSize, ctx.dropped, {
        label: "text assignment: test pairs",
        log: ctx.scope.log,
      })) {
        if (b.batch < 3) continue;
        const { pred, labels } = tf.tidy(() => {
          const embeds = ta.visual_encoder.forward(tf.tensor4d(b.images, [b.batch, 3, b.size, b.size]));
          const draw = drawTextAssignment(ta.pairWeights(embeds), b.batch, rng);
          const ids = tf.tensor2d(b.ids, [b.batch, b.length], "int32");
          const mask = tf.tensor2d(b.mask, [b.batch, b.length], "int32");
          return { pred: tf.argMax(ta.logits(embeds, ids, mask, draw), -1).dataSync(), labels: draw.labels };
        });
        labels.forEach((l, i) => {
          counts[l]++;
          if (pred[i] === l) right++;
        });
        n += b.batch;
      }
    } finally {
      await pool.close();
      ta.train();
    }
    if (n === 0) throw new ConfigError(`no held-out batch of 3 or more pairs in ${data.test}`, "data.test");
    return { accuracy: (100 * right) / n, n, majority: (100 * Math.max(...counts)) / n };
  }
}
