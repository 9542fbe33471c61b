// A user task: zero-shot classification. Each class name becomes a text through a
// prompt ("{} shapes" → "two shapes"); a held-out image is put in the class whose
// text it is most similar to, by the model's embedding head — no training. The
// true class is read from each sample's .json (`field`: a dotted path, `.length`
// of a list allowed). Writes predictions.jsonl and summary.json / summary.md.

/** @param {import("polyalign").PluginRegistry} registry @param {import("polyalign").PolyalignApi} polyalign */
export default function register(registry, polyalign) {
  const { z, tf, Task, ConfigError, DataError } = polyalign;

  const Options = z.strictObject({
    /** the model: a run folder, a checkpoint folder or a safetensors file */
    init: z.string().min(1),
    /** where a sample's .json holds its class, e.g. `objects.length` */
    field: z.string().min(1),
    /** class value (as the field gives it) → class name */
    classes: z.record(z.string(), z.string().min(1)).refine((c) => Object.keys(c).length >= 2, "at least two classes"),
    /** how a class name becomes a text: `{}` is replaced by the name */
    prompt: z.string().includes("{}").default("{}"),
    maxImages: z.number().int().positive().default(1000),
    batchSize: z.number().int().positive().default(64),
  });

  /** The value at a dotted path; `.length` of a list or string. */
  function valueAt(meta, path, where) {
    let v = meta;
    for (const key of path.split(".")) {
      if (v === null || typeof v !== "object" || !(key in v)) throw new DataError(`${where}: .json has no "${path}"`);
      v = v[key];
    }
    return String(v);
  }

  class ZeroShotTask {
    name = "zero-shot";
    constructor(cfg) {
      this.cfg = cfg;
    }

    async run(ctx) {
      const { scope, runDir } = ctx;
      const { cfg } = this;
      const { data } = await polyalign.taskSections(ctx, "zero-shot classification", "to classify");
      const tokenizer = await polyalign.readyTokenizer(ctx);
      const model = polyalign.buildVisionLanguageModel(scope, { batchSize: 1, imageIds: false });
      const t0 = performance.now();
      try {
        polyalign.checkVocabulary(model, tokenizer);
        const head = model.requireEmbedding("zero-shot classification");
        const weights = polyalign.loadVisionLanguageWeights(model, cfg.init, Number(scope.config.model?.text.layers ?? 0), scope.log);
        model.eval();
        const values = Object.keys(cfg.classes);
        const prompts = values.map((v) => polyalign.preCaption(cfg.prompt.replace("{}", cfg.classes[v]), data.format.maxWords));
        const enc = tokenizer.encode(prompts);
        const classFeatures = tf.tidy(() => {
          const ids = tf.tensor2d(enc.ids, [enc.batch, enc.length], "int32");
          const mask = tf.tensor2d(enc.mask, [enc.batch, enc.length], "int32");
          return head.textFeatures(model.encodeText(ids, mask), mask);
        });
        const truth = await polyalign.testSampleMeta(data, cfg.maxImages, (meta, where) => valueAt(meta, cfg.field, where));
        const predictions = [];
        let unknown = 0;
        const pool = await polyalign.openPool(scope, data, "test", Math.min(1, data.workers));
        try {
          for await (const b of polyalign.evalBatches(data, data.test, pool, tokenizer.special.pad, cfg.batchSize, ctx.dropped)) {
            const take = Math.min(b.batch, cfg.maxImages - predictions.length - unknown);
            if (take <= 0) break;
            const scores = tf.tidy(() => {
              const images = tf.tensor4d(b.images.subarray(0, take * 3 * b.size * b.size), [take, 3, b.size, b.size]);
              return tf.matMul(head.imageFeatures(model.encodeImage(images)), classFeatures, false, true).arraySync();
            });
            scores.forEach((row, i) => {
              const key = b.keys[i];
              const value = truth.get(key);
              if (value === undefined || !(value in cfg.classes)) {
                unknown++;
                return;
              }
              const predicted = values[row.indexOf(Math.max(...row))];
              predictions.push({ key, truth: value, predicted, scores: row.map((s) => Math.round(s * 1e4) / 1e4) });
            });
          }
        } finally {
          await pool.close();
          classFeatures.dispose();
        }
        if (predictions.length === 0)
          throw new ConfigError(`no test image of ${data.test} has a class among ${values.join(", ")} at "${cfg.field}"`, "task.classes");
        const correct = predictions.filter((p) => p.predicted === p.truth).length;
        const counts = Object.fromEntries(values.map((v) => [v, predictions.filter((p) => p.truth === v).length]));
        const accuracy = (100 * correct) / predictions.length;
        // always answering the most frequent class
        const majority = (100 * Math.max(...Object.values(counts))) / predictions.length;
        const { writeFileSync } = await import("node:fs");
        const { join } = await import("node:path");
        const predictionsFile = join(runDir, "predictions.jsonl");
        writeFileSync(predictionsFile, predictions.map((p) => JSON.stringify(p)).join("\n") + "\n");
        const seconds = Math.round((performance.now() - t0) / 100) / 10;
        const summary = {
          name: scope.config.name,
          task: "zero-shot",
          weights: weights.file,
          images: predictions.length,
          unknown,
          accuracy,
          majority,
          chance: 100 / values.length,
          counts,
          prompts,
          seconds,
        };
        polyalign.writeSummary(
          ctx,
          summary,
          [
            `# ${scope.config.name}: zero-shot classification`,
            "",
            `${predictions.length} test images (${unknown} with no listed class), ${values.length} classes by the prompts ${prompts.map((p) => `"${p}"`).join(", ")}; weights ${weights.file}.`,
            "",
            "| | accuracy |",
            "| --- | --- |",
            `| zero-shot | ${accuracy.toFixed(1)} % |`,
            `| always the most frequent class | ${majority.toFixed(1)} % |`,
            `| a random class | ${(100 / values.length).toFixed(1)} % |`,
            "",
          ].join("\n"),
        );
        return {
          metrics: { images: predictions.length, accuracy, majority, seconds },
          artifacts: { summary: join(runDir, "summary.json"), predictions: predictionsFile },
        };
      } finally {
        model.dispose();
      }
    }
  }

  registry.registerPlugin({
    kind: Task,
    name: "zero-shot",
    schema: Options,
    description: "example user task: zero-shot classification of the test images by prompted class names",
    create: (cfg) => new ZeroShotTask(cfg),
  });
}
