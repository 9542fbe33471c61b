/**
 * The `vqa` task: ALBEF's VQA fine-tuning (VQA.py) — the answer is generated,
 * not classified: an answer decoder (initialised from the pre-trained fusion
 * layers, the text encoder's embeddings and MLM head) is trained on
 * `[CLS] answer [SEP]` given the question states, each answer weighted by its
 * share of the votes, with momentum distillation; at test time `rank_answer`
 * picks from the answer list. Reports VQA accuracy (min(1, votes / 3); exact
 * match for single-answer data) before (optional) and after fine-tuning.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import {
  ConfigError,
  type DataConfig,
  type DroppedSamples,
  distillOptions,
  evalBatches,
  trainSources,
  gradsByName,
  albefLoadRules,
  loadPartsInto,
  partsInitOption,
  resolveHubPaths,
  MOMENTUM_ENTRY,
  openPool,
  readShards,
  readyTokenizer,
  type RunContext,
  type RunScope,
  runTrainingLoop,
  sampleQuestions,
  scheduleOptions,
  type Task,
  type TaskResult,
  taskSections,
  unfrozenParameters,
  testSampleMeta,
  tf,
  type Tokenizer,
  trainingReport,
  type WeightedAnswer,
  writeFileAtomic,
  writeSummary,
} from "../../../core/index.ts";
import { answerTokenLoss, encodeAnswers, rankAnswers } from "./answers.ts";
import { buildVqaModel } from "./build.ts";
import { loadVqaWeights } from "./weights.ts";
import type { VqaModel } from "./model.ts";
import { describeInit, writeInitReport } from "../shared/init-report.ts";

export const VqaConfig = z.strictObject({
  init: partsInitOption(),
  ...scheduleOptions(8),
  ...distillOptions(),
  /** answer decoder layers (default: as many as the fusion has) */
  decoderLayers: z.number().int().positive().optional(),
  /** candidates re-scored per question (ALBEF: 128) */
  kTest: z.number().int().positive().default(128),
  /** ALBEF's ranking counts the first token's log-probability twice; false = the plain answer log-likelihood (LAVIS) */
  firstTokenTwice: z.boolean().default(true),
  /** the candidate answers: a JSON list (ALBEF's answer_list.json); null = every answer in the training shards */
  answerList: z.string().min(1).nullable().default(null),
  evalBatchSize: z.number().int().positive().default(32),
  evalMaxQuestions: z.number().int().positive().default(5000),
  evalBefore: z.boolean().default(false),
});
export type VqaConfig = z.output<typeof VqaConfig>;

/** VQA's accuracy of one prediction: min(1, votes / 3), or exact match when the question has fewer than 3 answers. */
export function vqaScore(prediction: string, answers: readonly WeightedAnswer[]): number {
  const hit = answers.find((a) => a.answer === prediction);
  if (!hit) return 0;
  return hit.total >= 3 ? Math.min(1, hit.count / 3) : 1;
}

async function answerListOf(cfg: VqaConfig, data: DataConfig): Promise<string[]> {
  if (cfg.answerList) {
    const list = JSON.parse(readFileSync(cfg.answerList, "utf8")) as unknown;
    if (!Array.isArray(list) || !list.every((a) => typeof a === "string"))
      throw new ConfigError(`${cfg.answerList}: not a JSON list of answer strings`, "task.answerList");
    return list as string[];
  }
  const seen = new Set<string>();
  for await (const s of readShards(
    trainSources(data).flatMap((src) => src.shards),
    { onError: data.onError, maxMemberBytes: data.maxMemberBytes },
  )) {
    for (const q of sampleQuestions(s.files, data.format, `${s.url}: sample ${s.key}`)) for (const a of q.answers) seen.add(a.answer);
  }
  return [...seen].sort();
}

interface VqaAccuracy {
  /** over the questions with answers; null when none has any (VQA test-dev: only the result file) */
  accuracy: number | null;
  questions: number;
  /** questions with human answers to score against */
  answered: number;
  /** each question's sample key and predicted answer, in test order */
  predictions: { key: string; answer: string }[];
}

async function testAccuracy(
  model: VqaModel,
  scope: RunScope,
  dropped: DroppedSamples,
  data: DataConfig,
  tokenizer: Tokenizer,
  cfg: VqaConfig,
  answers: string[],
): Promise<VqaAccuracy> {
  const candidates = encodeAnswers(tokenizer, answers);
  const pool = await openPool(scope, data, "test", Math.min(1, data.workers));
  let score = 0;
  let n = 0;
  let answered = 0;
  const predictions: { key: string; answer: string }[] = [];
  model.eval();
  try {
    for await (const b of evalBatches(data, data.test as string, pool, tokenizer.special.pad, cfg.evalBatchSize, dropped, {
      label: "VQA: test questions",
      log: scope.log,
      limit: cfg.evalMaxQuestions,
    })) {
      const take = Math.min(b.batch, cfg.evalMaxQuestions - n);
      const best = tf.tidy(() => {
        const images = tf.tensor4d(b.images.subarray(0, take * 3 * b.size * b.size), [take, 3, b.size, b.size]);
        const ids = tf.tensor2d(b.ids.subarray(0, take * b.length), [take, b.length], "int32");
        const mask = tf.tensor2d(b.mask.subarray(0, take * b.length), [take, b.length], "int32");
        const states = model.questionStates(images, ids, mask);
        return rankAnswers(model, states, mask, candidates, tokenizer.special, cfg.kTest, cfg.firstTokenTwice);
      });
      for (let i = 0; i < take; i++) {
        predictions.push({ key: b.keys[i], answer: answers[best[i]] });
        if (b.answers[i].length === 0) continue;
        answered++;
        score += vqaScore(answers[best[i]], b.answers[i]);
      }
      n += take;
      if (n >= cfg.evalMaxQuestions) break;
    }
  } finally {
    await pool.close();
    model.train();
  }
  if (n === 0) throw new ConfigError(`no test question in ${data.test}`, "data.test");
  return { accuracy: answered > 0 ? (100 * score) / answered : null, questions: n, answered, predictions };
}

/**
 * The evaluation server's result file: `[{question_id, answer}]`, the id from
 * each sample's JSON (`question_id`, as the VQA builder writes it), else its key.
 */
async function writeVqaResult(runDir: string, data: DataConfig, predictions: VqaAccuracy["predictions"]): Promise<string> {
  const ids = await testSampleMeta(data, Number.POSITIVE_INFINITY, (meta) => meta.question_id);
  const result = predictions.map((p) => {
    const id = ids.get(p.key);
    return { question_id: typeof id === "number" || typeof id === "string" ? id : p.key, answer: p.answer };
  });
  const file = join(runDir, "vqa_result.json");
  writeFileAtomic(file, JSON.stringify(result));
  return file;
}

const pct = (v: number | null) => (v === null ? "— (no answers)" : `${v.toFixed(1)} %`);

export class VqaTask implements Task<RunContext> {
  readonly name = "vqa";
  constructor(readonly cfg: VqaConfig) {}

  async run(ctx: RunContext): Promise<TaskResult> {
    const { scope, runDir } = ctx;
    const { config, log } = scope;
    const { data, optim } = await taskSections(ctx, "VQA", "to evaluate on");
    if (!data.format.qa) throw new ConfigError('VQA needs questions and answers: set data.format.qa (e.g. "json:vqa")', "data.format.qa");
    const tokenizer = await readyTokenizer(ctx);
    const answers = await answerListOf(this.cfg, data);
    if (answers.length === 0) throw new ConfigError("the answer list is empty", "task.answerList");
    const model = buildVqaModel(scope, { momentum: this.cfg.momentum, decoderLayers: this.cfg.decoderLayers });
    if (this.cfg.init && !ctx.resume) {
      const fusionStart = Number(config.model?.text.layers ?? 0);
      const r = loadPartsInto(model, await resolveHubPaths(this.cfg.init, log), fusionStart, {
        log,
        loadCheckpoint: (path) => loadVqaWeights(model, path, fusionStart),
        expand: albefLoadRules.vqa(model.text_decoder.layer.length).expand,
        startFromPretrained: () => model.fusion.startFromPretrained?.() ?? null,
      });
      writeInitReport(ctx, r);
      const fresh = r.fresh.filter((f) => !MOMENTUM_ENTRY.test(f));
      for (const p of r.parts) ctx.out(`initial weights${p.part === "checkpoint" ? "" : ` (${p.part})`}: ${p.loaded} tensors from ${p.file}`);
      if (fresh.length) ctx.out(`fresh: ${fresh.join(", ")}`);
    } else if (!this.cfg.init) {
      log.warn("task.init is null: VQA starts from random weights");
    }
    log.info(`answer list: ${answers.length} answers`);
    const before = this.cfg.evalBefore && !ctx.resume ? await testAccuracy(model, scope, ctx.dropped, data, tokenizer, this.cfg, answers) : null;
    const vars = unfrozenParameters(model.trainable(), optim.freeze);
    const { distill } = this.cfg;
    const outcome = await runTrainingLoop(ctx, data, optim, this.cfg, {
      model,
      trainable: vars,
      padId: tokenizer.special.pad,
      alpha: distill ? this.cfg.alpha : 0,
      microStep: (batch, alpha, _rng, _step, micro) => {
        const flat = batch.answers.flatMap((list, i) => list.map((a) => ({ sample: i, ...a })));
        if (flat.length === 0) throw new ConfigError("a VQA batch has no answers", "data.format.qa");
        const enc = encodeAnswers(
          tokenizer,
          flat.map((a) => a.answer),
        );
        const images = tf.tensor4d(batch.images, [batch.batch, 3, batch.size, batch.size]);
        const ids = tf.tensor2d(batch.ids, [batch.batch, batch.length], "int32");
        const mask = tf.tensor2d(batch.mask, [batch.batch, batch.length], "int32");
        const rows = tf.tensor1d(
          flat.map((a) => a.sample),
          "int32",
        );
        const aIds = tf.tensor2d(enc.ids, [enc.n, enc.length], "int32");
        const aMask = tf.tensor2d(enc.mask, [enc.n, enc.length], "int32");
        const weights = tf.tensor1d(flat.map((a) => a.weight));
        let soft: tf.Tensor | null = null;
        if (distill) {
          // once per optimizer step, as ALBEF's step does; later micro-batches of it see the same momentum model
          if (micro.first) model.momentumUpdate();
          soft = tf.tidy(() => {
            const states = tf.gather(model.questionStates(images, ids, mask, true), rows);
            return tf.softmax(model.answerLogits(states, tf.gather(mask, rows), aIds, aMask, true), -1);
          });
        }
        const { value, grads } = tf.variableGrads(
          () => {
            const states = tf.gather(model.questionStates(images, ids, mask), rows);
            const per = answerTokenLoss(model.answerLogits(states, tf.gather(mask, rows), aIds, aMask), aIds, aMask, soft, alpha);
            return tf.div(tf.sum(tf.mul(per, weights)), batch.batch) as tf.Scalar;
          },
          vars.map(([, v]) => v),
        );
        const loss = value.dataSync()[0];
        tf.dispose([value, images, ids, mask, rows, aIds, aMask, weights, ...(soft ? [soft] : [])]);
        return { loss, parts: { vqa: loss }, grads: gradsByName(vars, grads) };
      },
    });
    const after = await testAccuracy(model, scope, ctx.dropped, data, tokenizer, this.cfg, answers);
    const { base, artifacts } = await trainingReport(ctx, outcome);
    if (ctx.world?.isMain ?? true) artifacts.result = await writeVqaResult(runDir, data, after.predictions);
    const summary = {
      ...base,
      task: "vqa",
      init: this.cfg.init,
      answers: answers.length,
      k_test: this.cfg.kTest,
      test_questions: after.questions,
      answered_questions: after.answered,
      accuracy_before: before?.accuracy ?? null,
      accuracy: after.accuracy,
    };
    writeSummary(
      ctx,
      summary,
      [
        `# ${config.name}: VQA fine-tuning`,
        "",
        `${summary.steps} steps in ${summary.wall_time_s} s from ${describeInit(this.cfg.init)}; ${after.questions} test questions, ` +
          `${answers.length} candidate answers, the top ${Math.min(this.cfg.kTest, answers.length)} re-scored per question.`,
        "",
        "| | VQA accuracy |",
        "| --- | --- |",
        ...(before ? [`| before fine-tuning | ${pct(before.accuracy)} |`] : []),
        `| fine-tuned | ${pct(after.accuracy)} |`,
        `| a random candidate (chance) | ${(100 / answers.length).toFixed(1)} % |`,
        "",
        `Predictions for the evaluation server (\`[{question_id, answer}]\`): ${artifacts.result}` +
          (after.answered < after.questions ? ` (${after.questions - after.answered} test questions have no answers to score here)` : ""),
        "",
      ].join("\n"),
    );
    model.dispose();
    outcome.trainer.dispose();
    const metrics: Record<string, number> = { steps: summary.steps, train_seconds: summary.wall_time_s, questions: after.questions };
    if (after.accuracy !== null) metrics.accuracy = after.accuracy;
    return { metrics, artifacts };
  }
}
