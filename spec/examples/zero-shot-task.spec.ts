/**
 * The user task of examples/zero-shot-task: loaded through a config's
 * `plugins:`, run on a tiny pre-trained model; its predictions are checked
 * against the model's own similarities, computed here.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import {
  DroppedSamples,
  buildVisionLanguageModel,
  createLogger,
  evalBatches,
  loadVisionLanguageWeights,
  openPool,
  preCaption,
  prepareRun,
  readyTokenizer,
  type RunContext,
  tf,
} from "../../core/index.ts";
import { builtinRegistry } from "../../plugins/index.ts";
import { REPO_ROOT } from "../helpers.ts";
import { cli, pretrainTinyBase, tinyConfig, useTempRuns } from "../tiny-run.ts";

const ZERO_SHOT = join(REPO_ROOT, "examples", "zero-shot-task", "zero-shot.js");
const CLASSES = { "1": "one", "2": "two", "3": "three", "4": "four" };

interface Prediction {
  key: string;
  truth: string;
  predicted: string;
  scores: number[];
}

describe("examples/zero-shot-task", function () {
  this.timeout(300000);
  const tmp = useTempRuns();

  it("classifies the test images of a tiny pre-trained model by prompted class names, as the model's similarities say", async () => {
    const baseRun = await pretrainTinyBase(tmp.path, { name: "cross-attention" }, "base");
    const cfg = {
      ...tinyConfig(tmp.path, { name: "cross-attention" }, { name: "zs" }),
      plugins: [ZERO_SHOT],
      task: { name: "zero-shot", init: baseRun, field: "objects.length", classes: CLASSES, prompt: "{} shapes" },
    };
    const file = join(tmp.path, "zs.yaml");
    writeFileSync(file, stringify(cfg));
    const r = await cli("train", "--config", file);
    assert.equal(r.code, 0, r.out);
    const run = join(tmp.path, "runs", "zs");
    const summary = JSON.parse(readFileSync(join(run, "summary.json"), "utf8")) as {
      images: number;
      accuracy: number;
      majority: number;
      counts: Record<string, number>;
    };
    const predictions = readFileSync(join(run, "predictions.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Prediction);
    assert.equal(summary.images, predictions.length);
    assert.equal(summary.images, 16, "every test scene has one to four shapes");
    assert.ok(Math.abs(summary.accuracy - (100 * predictions.filter((p) => p.truth === p.predicted).length) / predictions.length) < 1e-9);
    assert.equal(
      Object.values(summary.counts).reduce((a, b) => a + b, 0),
      16,
    );
    // the first batch again, by hand: prompts through the text side, images through the vision side, the embedding head between
    const { scope } = await prepareRun(builtinRegistry(), { ...cfg, name: "check" }, { log: createLogger({ level: "error" }) });
    const model = buildVisionLanguageModel(scope, { batchSize: 1, imageIds: false });
    loadVisionLanguageWeights(model, baseRun, 1);
    model.eval();
    const head = model.requireEmbedding("the check");
    const tokenizer = await readyTokenizer({ scope } as RunContext);
    const enc = tokenizer.encode(Object.values(CLASSES).map((c) => preCaption(`${c} shapes`, 30)));
    const data = scope.config.data!;
    const pool = await openPool(scope, data, "test", 0);
    try {
      for await (const b of evalBatches(data, data.test!, pool, tokenizer.special.pad, 8, new DroppedSamples())) {
        const scores = tf.tidy(() => {
          const text = head.textFeatures(
            model.encodeText(tf.tensor2d(enc.ids, [enc.batch, enc.length], "int32"), tf.tensor2d(enc.mask, [enc.batch, enc.length], "int32")),
            tf.tensor2d(enc.mask, [enc.batch, enc.length], "int32"),
          );
          const image = head.imageFeatures(model.encodeImage(tf.tensor4d(b.images, [b.batch, 3, b.size, b.size])));
          return tf.matMul(image, text, false, true).arraySync() as number[][];
        });
        scores.forEach((row, i) => {
          const p = predictions.find((x) => x.key === b.keys[i])!;
          row.forEach((s, k) => assert.ok(Math.abs(s - p.scores[k]) < 1e-3, `${b.keys[i]} class ${k}: ${s} vs ${p.scores[k]}`));
          assert.equal(p.predicted, Object.keys(CLASSES)[row.indexOf(Math.max(...row))]);
        });
        break;
      }
    } finally {
      await pool.close();
      model.dispose();
    }
  });

  it("a config whose classes no test image has fails with the field to set", async () => {
    const baseRun = join(tmp.path, "runs", "base");
    const cfg = {
      ...tinyConfig(tmp.path, { name: "cross-attention" }, { name: "zs-none" }),
      plugins: [ZERO_SHOT],
      task: { name: "zero-shot", init: baseRun, field: "objects.length", classes: { "7": "seven", "8": "eight" } },
    };
    const file = join(tmp.path, "zs-none.yaml");
    writeFileSync(file, stringify(cfg));
    const r = await cli("train", "--config", file);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /no test image .* has a class among 7, 8 at "objects.length"/);
  });

  it("the example's own config validates", async () => {
    const r = await cli("config", "--config", join(REPO_ROOT, "examples", "zero-shot-task", "config.yaml"));
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /name: zero-shot/);
  });
});
