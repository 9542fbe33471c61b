/**
 * The `pretrain` task: ALBEF pre-training (ITC + ITM + MLM, or whichever
 * objectives the config lists) on WebDataset shards, with checkpoints,
 * resume, metrics and a loss curve, then zero-shot image–text retrieval on
 * the held-out shards and a summary.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import {
  buildPretrainModel,
  ConfigError,
  DataConfig,
  expandShardSpec,
  latestCheckpoint,
  loadCheckpoint,
  type Objective,
  OptimConfig,
  type PretrainModel,
  PretrainStep,
  retrievalMetrics,
  type RetrievalMetrics,
  Rng,
  type RunContext,
  type StreamPosition,
  type Task,
  type TaskResult,
  tf,
  Tokenizer,
  Trainer,
  writeLinePlot,
  zodToConfigError,
} from "../../core/index.ts";
import { countSamples, ensureSynthData, evalBatches, openPool, trainBatches } from "./pretrain-data.ts";

export const PretrainConfig = z.strictObject({
  epochs: z.number().int().positive().default(30),
  /** total optimiser steps (default: epochs × steps per epoch) */
  steps: z.number().int().positive().optional(),
  checkpointEvery: z.number().int().min(0).default(1000),
  keepCheckpoints: z.number().int().positive().default(2),
  logEvery: z.number().int().positive().default(10),
  /** steps over which ITC/MLM distillation α ramps up (default: the first epoch, as ALBEF) */
  alphaRampSteps: z.number().int().min(0).optional(),
  /** zero-shot retrieval on data.test after training */
  evalRetrieval: z.boolean().default(true),
  evalMaxImages: z.number().int().positive().default(1000),
});
export type PretrainConfig = z.output<typeof PretrainConfig>;

interface ObjectiveInfo {
  obj: Objective<PretrainStep>;
  options?: { queue?: number; momentum?: number; alpha?: number; temp?: number; embedDim?: number; probability?: number; pooling?: { image: "cls" | "mean"; text: "cls" | "mean" } };
}

function parseSection<S extends z.ZodType>(schema: S, value: unknown, path: string): z.output<S> {
  const r = schema.safeParse(value ?? {});
  if (!r.success) throw zodToConfigError(r.error, value, schema, [path], "");
  return r.data;
}

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

function lossCurve(runDir: string): string | null {
  const file = join(runDir, "metrics.jsonl");
  if (!existsSync(file)) return null;
  const rows = readFileSync(file, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, number>);
  const keys: [string, [number, number, number]][] = [["loss", [20, 20, 20]], ["itc", [40, 80, 220]], ["itm", [220, 60, 40]], ["mlm", [40, 160, 60]]];
  const series = keys
    .filter(([k]) => rows.some((r) => typeof r[k] === "number"))
    .map(([k, colour]) => ({ name: k, colour, points: rows.map((r) => [r.step, r[k]] as [number, number]) }));
  const png = join(runDir, "loss.png");
  writeLinePlot(png, series, { title: "training loss" });
  return png;
}

export class PretrainTask implements Task<RunContext> {
  readonly name = "pretrain";
  constructor(readonly cfg: PretrainConfig) {}

  async run(ctx: RunContext): Promise<TaskResult> {
    const { scope, runDir } = ctx;
    const config = scope.config;
    const log = scope.log;
    if (!config.data) throw new ConfigError("pretraining needs a data: section", "data");
    const data = parseSection(DataConfig, config.data, "data");
    const optim = parseSection(OptimConfig, config.optim, "optim");
    await ensureSynthData(data, log);
    const tokenizer = scope.resolve(Tokenizer);
    await tokenizer.init?.();
    const objectives = scope.objectives() as unknown as ObjectiveInfo["obj"][];
    if (objectives.length === 0) throw new ConfigError("pretraining needs at least one objective (objectives: [{name: itc}, ...])", "objectives");
    const itc = objectives.find((o) => o.name === "itc") as (Objective<PretrainStep> & { options: Required<NonNullable<ObjectiveInfo["options"]>> }) | undefined;
    const mlm = objectives.find((o) => o.name === "mlm") as (Objective<PretrainStep> & { probability: number }) | undefined;
    const model = buildPretrainModel(scope, {
      embedDim: itc?.options.embedDim ?? 256,
      queueSize: itc?.options.queue ?? data.batchSize,
      momentum: itc?.options.momentum ?? 0.995,
      temp: itc?.options.temp ?? 0.07,
      pooling: itc?.options.pooling,
    });
    const textVocab = model.text_encoder.vocabSize ?? Infinity;
    if (tokenizer.vocabSize > textVocab) {
      throw new ConfigError(`model.text.vocab (${textVocab}) is smaller than the tokenizer's vocabulary (${tokenizer.vocabSize})`, "model.text.vocab");
    }
    if (model.opts.queueSize > 0 && model.opts.queueSize % data.batchSize !== 0) {
      throw new ConfigError(`the ITC queue (${model.opts.queueSize}) must be a multiple of data.batchSize (${data.batchSize})`, "objectives.itc.queue");
    }
    const shards = expandShardSpec(data.train);
    const samplesPerEpoch = data.samplesPerEpoch ?? countSamples(shards);
    const microPerEpoch = samplesPerEpoch === null ? null : Math.floor(samplesPerEpoch / data.batchSize);
    const stepsPerEpoch = microPerEpoch === null ? null : Math.max(1, Math.floor(microPerEpoch / optim.accumulate));
    if (this.cfg.steps === undefined && stepsPerEpoch === null) {
      throw new ConfigError("cannot tell how many steps an epoch has (no sizes.json beside the shards): set task.steps or data.samplesPerEpoch", "task.steps");
    }
    const totalSteps = this.cfg.steps ?? this.cfg.epochs * (stepsPerEpoch as number);
    const rampSteps = this.cfg.alphaRampSteps ?? stepsPerEpoch ?? 0;
    const rng = Rng.derive(config.seed, "trainer");
    const trainer = new Trainer(model, [...model.trainable()], {
      runDir,
      optim,
      totalSteps,
      checkpointEvery: this.cfg.checkpointEvery,
      keepCheckpoints: this.cfg.keepCheckpoints,
      logEvery: this.cfg.logEvery,
      log,
      rng,
      config,
    });
    let position: StreamPosition | undefined;
    if (ctx.resume) {
      const dir = latestCheckpoint(runDir);
      if (!dir) throw new ConfigError(`--resume: no checkpoint in ${join(runDir, "checkpoints")}`, "");
      const state = loadCheckpoint(dir, model, trainer.optimizer);
      trainer.restore(state);
      position = (state.data as StreamPosition | null) ?? undefined;
      ctx.out(`resumed from ${dir} (step ${state.step}, epoch ${state.epoch})`);
    }
    const needs = { itc: objectives.some((o) => o.name === "itc"), itm: objectives.some((o) => o.name === "itm"), mlm: !!mlm };
    const problems: { shard: string; key: string; reason: string }[] = [];
    const onProblem = (p: { shard: string; key: string; reason: string }) => {
      problems.push(p);
      if (problems.length <= 20) log.warn(`skipped sample ${p.key} of ${p.shard}: ${p.reason}`);
    };
    const t0 = performance.now();
    const pool = await openPool(config, data, "train", data.workers);
    const vars = [...model.trainable()];
    // the hypergraph fusion reports the fraction of hyperedges holding both modalities
    const fusionStats = model.fusion as unknown as { collectStats?: (on: boolean) => void; stats?: () => Record<string, number> };
    fusionStats.collectStats?.(true);
    try {
      while (!trainer.done) {
        const epoch = trainer.epoch;
        let microInEpoch = 0;
        for await (const batch of trainBatches(data, shards, pool, config.seed, epoch, tokenizer.special.pad, position, onProblem)) {
          position = undefined;
          if (trainer.done) break;
          trainer.beginMicroStep();
          const baseAlpha = itc?.options.alpha ?? 0.4;
          const alpha = epoch === 0 && rampSteps > 0 ? baseAlpha * Math.min(1, trainer.step / rampSteps) : baseAlpha;
          const images = tf.tensor4d(batch.images, [batch.batch, 3, batch.size, batch.size]);
          const ids = tf.tensor2d(batch.ids, [batch.batch, batch.length], "int32");
          const mask = tf.tensor2d(batch.mask, [batch.batch, batch.length], "int32");
          const step = new PretrainStep(model, { images, ids, mask }, {
            alpha,
            rng,
            special: tokenizer.special,
            vocabSize: tokenizer.vocabSize,
            mlmProbability: mlm?.probability ?? 0.15,
            needs,
          });
          step.prepare();
          const parts: Record<string, number> = {};
          const { value, grads } = tf.variableGrads(() => {
            const terms = objectives.map((o) => {
              const l = o.compute(step).loss;
              parts[o.name] = l.dataSync()[0];
              return tf.mul(l, o.weight);
            });
            step.endPass();
            return tf.addN(terms) as tf.Scalar;
          }, vars.map(([, v]) => v));
          const loss = value.dataSync()[0];
          value.dispose();
          Object.assign(parts, fusionStats.stats?.() ?? {});
          const byName: Record<string, tf.Tensor> = {};
          for (const [name, v] of vars) byName[name] = grads[v.name];
          step.finish();
          tf.dispose([images, ids, mask]);
          trainer.addMicroStep({ loss, parts, grads: byName }, batch.batch, batch.position);
          microInEpoch++;
        }
        if (trainer.done) break;
        if (microInEpoch === 0) throw new ConfigError(`epoch ${epoch} produced no batch (fewer samples than data.batchSize?)`, "data.batchSize");
        trainer.epoch++;
      }
    } finally {
      await pool.close();
    }
    const checkpoint = trainer.checkpoint();
    const trainSeconds = (performance.now() - t0) / 1000;
    const artifacts: Record<string, string> = { metrics: join(runDir, "metrics.jsonl") };
    if (checkpoint) artifacts.checkpoint = checkpoint;
    const curve = lossCurve(runDir);
    if (curve) artifacts.lossCurve = curve;
    const metrics: Record<string, number> = { steps: trainer.step, samples: trainer.samples, train_seconds: Math.round(trainSeconds * 10) / 10, skipped_samples: problems.length };
    let retrieval: RetrievalMetrics | null = null;
    if (this.cfg.evalRetrieval && data.test) {
      const evalPool = await openPool(config, data, "test", Math.min(1, data.workers));
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
    const summary = {
      name: config.name,
      steps: trainer.step,
      epochs: stepsPerEpoch ? Math.round((trainer.step / stepsPerEpoch) * 100) / 100 : trainer.epoch,
      samples: trainer.samples,
      wall_time_s: Math.round(trainSeconds * 10) / 10,
      backend: `${ctx.backend.backend} (${ctx.backend.plugin})`,
      fusion: config.model?.fusion.name,
      final_loss: trainer.lastState ? readLastLoss(join(runDir, "metrics.jsonl")) : null,
      skipped_samples: problems.length,
      retrieval: retrieval && { n: retrieval.n, i2t: retrieval.i2t, t2i: retrieval.t2i, r_mean: retrieval.rMean, chance: retrieval.chance },
      checkpoint,
    };
    writeFileSync(join(runDir, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
    writeFileSync(join(runDir, "summary.md"), summaryMarkdown(summary));
    artifacts.summary = join(runDir, "summary.json");
    model.dispose();
    trainer.dispose();
    return { metrics, artifacts };
  }
}

function readLastLoss(file: string): Record<string, number> | null {
  const lines = readFileSync(file, "utf8").trim().split("\n");
  const last = JSON.parse(lines[lines.length - 1]) as Record<string, number>;
  const out: Record<string, number> = {};
  for (const k of ["loss", "itc", "itm", "mlm"]) if (typeof last[k] === "number") out[k] = Math.round(last[k] * 1e4) / 1e4;
  return out;
}

function summaryMarkdown(s: {
  name: string;
  steps: number;
  epochs: number;
  samples: number;
  wall_time_s: number;
  backend: string;
  fusion?: string;
  final_loss: Record<string, number> | null;
  retrieval: { n: number; i2t: { r1: number; r5: number; r10: number }; t2i: { r1: number; r5: number; r10: number }; r_mean: number; chance: { r1: number; r5: number; r10: number } } | null;
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
  return lines.join("\n");
}
