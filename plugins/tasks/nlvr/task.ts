/**
 * The `nlvr` task: ALBEF's NLVR2 fine-tuning (NLVR.py) — does a statement
 * hold for a pair of images? The pre-trained fusion layers become pairs
 * (image 0, image 1) with shared cross-attention keys/values, a classifier
 * reads the fused text, and the loss is (1 − α)·CE + α·soft-CE against the
 * momentum model's prediction (α ramped over the first epoch). Reports test
 * accuracy before (optional) and after fine-tuning.
 */
import { z } from "zod";
import {
  ConfigError,
  crossEntropy,
  type DataConfig,
  type DroppedSamples,
  distillOptions,
  evalBatches,
  gradsByName,
  albefLoadRules,
  loadPartsInto,
  partsInitOption,
  resolveHubPaths,
  openPool,
  readyTokenizer,
  type RunContext,
  type RunScope,
  runTrainingLoop,
  scheduleOptions,
  softTargetCrossEntropy,
  type Task,
  type TaskResult,
  taskSections,
  unfrozenParameters,
  tf,
  type Tokenizer,
  trainingReport,
  writeSummary,
} from "../../../core/index.ts";
import { buildNlvrModel } from "./build.ts";
import { loadNlvrWeights } from "./weights.ts";
import type { NlvrModel } from "./model.ts";
import { describeInit, writeInitReport } from "../shared/init-report.ts";
import { useBestModel } from "../shared/best-model.ts";

export const NlvrConfig = z.strictObject({
  init: partsInitOption(),
  ...scheduleOptions(10),
  ...distillOptions(),
  /** the fused text → the classifier: ALBEF takes the CLS row; a model pre-trained with mean-pooled text wants "mean" */
  pooling: z.enum(["cls", "mean"]).default("cls"),
  evalBatchSize: z.number().int().positive().default(32),
  evalBefore: z.boolean().default(false),
});
export type NlvrConfig = z.output<typeof NlvrConfig>;

interface Accuracy {
  accuracy: number;
  n: number;
  /** share of the most frequent label: what always answering it scores */
  majority: number;
}

async function testAccuracy(
  model: NlvrModel,
  scope: RunScope,
  dropped: DroppedSamples,
  data: DataConfig,
  tokenizer: Tokenizer,
  batchSize: number,
): Promise<Accuracy> {
  const pool = await openPool(scope, data, "test", Math.min(1, data.workers));
  let right = 0;
  let n = 0;
  const counts = new Map<number, number>();
  model.eval();
  try {
    for await (const b of evalBatches(data, data.test as string, pool, tokenizer.special.pad, batchSize, dropped, {
      label: "NLVR2: test pairs",
      log: scope.log,
    })) {
      const pred = tf.tidy(() => {
        const images = tf.tensor5d(b.images, [b.batch, 2, 3, b.size, b.size]);
        const ids = tf.tensor2d(b.ids, [b.batch, b.length], "int32");
        const mask = tf.tensor2d(b.mask, [b.batch, b.length], "int32");
        return tf.argMax(model.logits(images, ids, mask), -1).dataSync();
      });
      b.labels.forEach((l, i) => {
        counts.set(l, (counts.get(l) ?? 0) + 1);
        if (pred[i] === l) right++;
      });
      n += b.batch;
    }
  } finally {
    await pool.close();
    model.train();
  }
  if (n === 0) throw new ConfigError(`no test pair in ${data.test}`, "data.test");
  return { accuracy: (100 * right) / n, n, majority: (100 * Math.max(...counts.values())) / n };
}

export class NlvrTask implements Task<RunContext> {
  readonly name = "nlvr";
  constructor(readonly cfg: NlvrConfig) {}

  async run(ctx: RunContext): Promise<TaskResult> {
    const { scope } = ctx;
    const { config, log } = scope;
    const { data, optim } = await taskSections(ctx, "NLVR2", "of pairs to evaluate on");
    if (data.format.imageMembers?.length !== 2)
      throw new ConfigError('NLVR2 samples hold two images: set data.format.imageMembers (e.g. ["img0.jpg", "img1.jpg"])', "data.format.imageMembers");
    if (!data.format.label) throw new ConfigError('NLVR2 needs labels: set data.format.label (e.g. "json:label")', "data.format.label");
    const tokenizer = await readyTokenizer(ctx);
    const model = buildNlvrModel(scope, { momentum: this.cfg.momentum, pooling: this.cfg.pooling, classes: 2 });
    if (this.cfg.init && !ctx.resume) {
      const fusionStart = Number(config.model?.text.layers ?? 0);
      const r = loadPartsInto(model, await resolveHubPaths(this.cfg.init, log), fusionStart, {
        log,
        loadCheckpoint: (path) => loadNlvrWeights(model, path, fusionStart),
        expand: albefLoadRules.nlvr(model.fusion.depth).expand,
        startFromPretrained: () => [model.fusion.image0, model.fusion.image1].map((f) => f.startFromPretrained?.() ?? null).find((n) => n !== null) ?? null,
      });
      writeInitReport(ctx, r);
      const classifier = r.fresh.includes("cls_head.0.weight") ? "; fresh: the classifier (cls_head)" : "";
      for (const p of r.parts) ctx.out(`initial weights${p.part === "checkpoint" ? "" : ` (${p.part})`}: ${p.loaded} tensors from ${p.file}${classifier}`);
    } else if (!this.cfg.init) {
      log.warn("task.init is null: NLVR2 starts from random weights");
    }
    const before = this.cfg.evalBefore && !ctx.resume ? await testAccuracy(model, scope, ctx.dropped, data, tokenizer, this.cfg.evalBatchSize) : null;
    const vars = unfrozenParameters(model.trainable(), optim.freeze);
    const { distill } = this.cfg;
    // ALBEF's NLVR.py: the val accuracy picks the epoch whose model is tested
    const selection = data.val
      ? {
          metric: "val accuracy",
          evaluate: async () => (await testAccuracy(model, scope, ctx.dropped, { ...data, test: data.val }, tokenizer, this.cfg.evalBatchSize)).accuracy,
        }
      : undefined;
    const outcome = await runTrainingLoop(ctx, data, optim, this.cfg, {
      model,
      trainable: vars,
      padId: tokenizer.special.pad,
      alpha: distill ? this.cfg.alpha : 0,
      selection,
      microStep: (batch, alpha, _rng, _step, micro) => {
        if (batch.labels.some((l) => l < 0 || l > 1))
          throw new ConfigError(`NLVR2 labels are 0/1; batch holds ${[...new Set(batch.labels)].join(", ")}`, "data.format.label");
        const images = tf.tensor5d(batch.images, [batch.batch, 2, 3, batch.size, batch.size]);
        const ids = tf.tensor2d(batch.ids, [batch.batch, batch.length], "int32");
        const mask = tf.tensor2d(batch.mask, [batch.batch, batch.length], "int32");
        const labels = tf.tensor1d(batch.labels, "int32");
        let soft: tf.Tensor | null = null;
        if (distill) {
          // once per optimizer step, as ALBEF's step does; later micro-batches of it see the same momentum model
          if (micro.first) model.momentumUpdate();
          soft = tf.tidy(() => tf.softmax(model.logits(images, ids, mask, true), -1));
        }
        const parts: Record<string, number> = {};
        const { value, grads } = tf.variableGrads(
          () => {
            const logits = model.logits(images, ids, mask);
            const ce = crossEntropy(logits, labels);
            parts.ce = ce.dataSync()[0];
            parts.train_accuracy = tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(logits, -1), labels), "float32")).dataSync()[0]);
            return (soft ? tf.add(tf.mul(ce, 1 - alpha), tf.mul(softTargetCrossEntropy(logits, soft), alpha)) : ce) as tf.Scalar;
          },
          vars.map(([, v]) => v),
        );
        const loss = value.dataSync()[0];
        tf.dispose([value, images, ids, mask, labels, ...(soft ? [soft] : [])]);
        return { loss, parts, grads: gradsByName(vars, grads) };
      },
    });
    await useBestModel(ctx, outcome, model);
    const after = await testAccuracy(model, scope, ctx.dropped, data, tokenizer, this.cfg.evalBatchSize);
    const { base, artifacts } = await trainingReport(ctx, outcome);
    const summary = {
      ...base,
      task: "nlvr",
      init: this.cfg.init,
      test_pairs: after.n,
      accuracy_before: before?.accuracy ?? null,
      accuracy: after.accuracy,
      majority_class: after.majority,
    };
    writeSummary(
      ctx,
      summary,
      [
        `# ${config.name}: NLVR2 fine-tuning`,
        "",
        `${summary.steps} steps in ${summary.wall_time_s} s from ${describeInit(this.cfg.init)}; ${after.n} test pairs.`,
        "",
        "| | test accuracy |",
        "| --- | --- |",
        ...(before ? [`| before fine-tuning (random classifier) | ${before.accuracy.toFixed(1)} % |`] : []),
        `| fine-tuned | ${after.accuracy.toFixed(1)} % |`,
        `| always the majority label | ${after.majority.toFixed(1)} % |`,
        "",
      ].join("\n"),
    );
    model.dispose();
    outcome.trainer.dispose();
    return { metrics: { steps: summary.steps, train_seconds: summary.wall_time_s, accuracy: after.accuracy, majority_class: after.majority }, artifacts };
  }
}
