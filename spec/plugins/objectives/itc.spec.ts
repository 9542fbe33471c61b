/**
 * ALBEF's ITC objective: the parameters it owns (mounted under ALBEF's names,
 * with momentum copies and queues), its distilled targets, and fine-tuning
 * with image ids (Retrieval.py) — every batch or queued column of the same
 * image a positive, the ids queued beside the features.
 */
import assert from "node:assert/strict";
import { AlignmentStep, type Module, Rng, tf, type Tensor } from "../../../core/index.ts";
import { idTargets, itcTargets } from "../../../plugins/objectives/itc.ts";
import { maxAbsDiff, useTestBackend } from "../../helpers.ts";
import { tinyImageTextModel } from "../../tiny-model.ts";

const special = { pad: 0, cls: 1, sep: 2, mask: 3, unk: 4 };

/** Two random 16 px images with a three-token and a two-token caption. */
const twoCaptions = (seed: number) => ({
  images: tf.randomNormal([2, 3, 16, 16], 0, 1, "float32", seed),
  ids: tf.tensor2d([1, 7, 8, 1, 9, 0], [2, 3], "int32"),
  mask: tf.tensor2d([1, 1, 1, 1, 1, 0], [2, 3], "int32"),
});

function entry(model: Module, name: string): Tensor {
  const found = [...model.stateEntries()].find(([n]) => n === name);
  if (!found) throw new Error(`no state entry ${name}`);
  return found[1];
}

describe("plugins/objectives/itc", () => {
  before(useTestBackend);

  it("idTargets spreads each row's mass evenly over the columns of its image (batch first, then the id queue)", () => {
    // batch ids [7, 3, 7]; queue ids [3, -100, 7]
    const t = idTargets(Int32Array.from([7, 3, 7]), Int32Array.from([7, 3, 7, 3, -100, 7]));
    const third = 1 / 3;
    assert.ok(maxAbsDiff(t.dataSync(), [third, 0, third, 0, 0, third, 0, 0.5, 0, 0.5, 0, 0, third, 0, third, 0, 0, third]) < 1e-7);
    t.dispose();
    assert.throws(() => idTargets(Int32Array.from([1]), Int32Array.from([2, 3])), /image id 1 of row 0 is not among the ITC columns/);
  });

  it("itcTargets mixes α · softmax(momentum sims) with the given ground truth (default: the batch diagonal)", () => {
    tf.tidy(() => {
      const sim = tf.tensor2d([
        [1, 2, 0],
        [0, 0, 0],
      ]);
      const truth = tf.tensor2d([
        [0.5, 0.5, 0],
        [0, 1, 0],
      ]);
      const got = itcTargets(sim, 0.4, truth).dataSync();
      const e = [Math.E, Math.E ** 2, 1];
      const z = e[0] + e[1] + e[2];
      const want = [0.4 * (e[0] / z) + 0.3, 0.4 * (e[1] / z) + 0.3, 0.4 * (e[2] / z), 0.4 / 3, 0.4 / 3 + 0.6, 0.4 / 3];
      assert.ok(maxAbsDiff(got, want) < 1e-6);
      const diag = itcTargets(sim, 0, undefined).dataSync();
      assert.deepEqual(Array.from(diag), [1, 0, 0, 0, 1, 0]);
    });
  });

  it("owns vision_proj, text_proj (each with a momentum copy), temp and the queues, under ALBEF's names; a queue that does not fit the batch is refused", async () => {
    const model = await tinyImageTextModel({ name: "cross-attention" }, { objectives: [{ name: "itc", embedDim: 8, queue: 4 }], batchSize: 2, imageIds: true });
    const entries = new Map([...model.stateEntries()].map(([n, v, meta]) => [n, { shape: v.shape, kind: meta.kind }]));
    assert.deepEqual(entries.get("vision_proj.weight")?.shape, [8, 16]);
    assert.deepEqual(entries.get("text_proj_m.bias")?.shape, [8]);
    assert.deepEqual(entries.get("temp")?.shape, []);
    assert.deepEqual(entries.get("image_queue"), { shape: [8, 4], kind: "buffer" });
    assert.deepEqual(entries.get("idx_queue"), { shape: [1, 4], kind: "buffer" });
    const trainable = new Set([...model.trainable()].map(([n]) => n));
    assert.ok(trainable.has("vision_proj.weight") && trainable.has("temp") && !trainable.has("vision_proj_m.weight"));
    // queues start as random unit columns
    const norms = tf.tidy(() => tf.sqrt(tf.sum(tf.square(entry(model, "image_queue")), 0)).dataSync());
    for (const v of norms) assert.ok(Math.abs(v - 1) < 1e-5, `column norm ${v}`);
    model.dispose();
    await assert.rejects(
      tinyImageTextModel({ name: "cross-attention" }, { objectives: [{ name: "itc", queue: 5 }], batchSize: 2 }),
      /the ITC queue \(5\) must be a multiple of data.batchSize \(2\)/,
    );
  });

  it("with image ids: queued features of the same image are positives, and the ids are queued with them; the temperature is not clamped", async () => {
    const model = await tinyImageTextModel({ name: "cross-attention" }, { objectives: [{ name: "itc", embedDim: 8, queue: 4 }], batchSize: 2, imageIds: true });
    // a temperature that has left [0.001, 0.5]
    const hot = (m: Module) => tf.tidy(() => (entry(m, "temp") as tf.Variable).assign(tf.scalar(0.6)));
    hot(model);
    const idQueue = () => Array.from(entry(model, "idx_queue").dataSync());
    assert.deepEqual(idQueue(), [-100, -100, -100, -100]);
    const batch = () => twoCaptions(4);
    const run = (imageIds: number[]) => {
      const b = batch();
      const seen: Record<string, number[]> = {};
      const step = new AlignmentStep(
        model,
        { ...b, imageIds: Int32Array.from(imageIds) },
        {
          alpha: 0,
          rng: new Rng(2),
          special,
          vocabSize: 40,
          record: (name, v) => {
            if ((name === "sim_i2t_targets" || name === "temp") && v instanceof tf.Tensor) seen[name] = Array.from(v.dataSync());
          },
        },
      );
      step.prepare();
      step.finish();
      tf.dispose([b.images, b.ids, b.mask]);
      return seen;
    };
    // step 1: queue empty (−100): plain diagonal targets over [batch | queue]
    const first = run([10, 20]);
    assert.deepEqual(first.sim_i2t_targets, [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    assert.ok(Math.abs(first.temp[0] - 0.6) < 1e-7, "ALBEF's retrieval model leaves τ unclamped");
    assert.deepEqual(idQueue(), [10, 20, -100, -100]);
    // step 2: image 20 again → its row splits over the batch column and queue column 1
    assert.deepEqual(run([30, 20]).sim_i2t_targets, [1, 0, 0, 0, 0, 0, 0, 0.5, 0, 0.5, 0, 0]);
    assert.deepEqual(idQueue(), [10, 20, 30, 20]);
    model.dispose();
    // pre-training (no ids) clamps τ to [0.001, 0.5]
    const pre = await tinyImageTextModel({ name: "cross-attention" }, { objectives: [{ name: "itc", embedDim: 8, queue: 0 }], batchSize: 2 });
    hot(pre);
    const b = batch();
    let temp = 0;
    const step = new AlignmentStep(pre, b, {
      alpha: 0,
      rng: new Rng(2),
      special,
      vocabSize: 40,
      record: (name, v) => {
        if (name === "temp" && v instanceof tf.Tensor) temp = v.dataSync()[0];
      },
    });
    step.prepare();
    step.finish();
    assert.ok(Math.abs(temp - 0.5) < 1e-7, `clamped to 0.5 (got ${temp})`);
    tf.dispose([b.images, b.ids, b.mask]);
    pre.dispose();
  });

  it("gradient accumulation: the momentum update runs once per optimizer step (first micro-batch) and the queue advances once, by every micro-batch's features (last)", async () => {
    const model = await tinyImageTextModel({ name: "cross-attention" }, { objectives: [{ name: "itc", embedDim: 8, queue: 8, momentum: 0.5 }], batchSize: 2 });
    const value = (name: string) => Array.from((entry(model, name) as tf.Variable).dataSync());
    const momentumName = "visual_encoder_m.patch_embed.proj.weight";
    // make online and momentum weights differ, so that every EMA update moves the momentum copy
    tf.tidy(() =>
      (entry(model, "visual_encoder.patch_embed.proj.weight") as tf.Variable).assign(
        tf.randomNormal((entry(model, momentumName) as tf.Variable).shape, 0, 1, "float32", 9),
      ),
    );
    const micro = (seed: number, position: { first: boolean; last: boolean }) => {
      const b = twoCaptions(seed);
      const step = new AlignmentStep(model, b, { alpha: 0, rng: new Rng(seed), special, vocabSize: 40, micro: position });
      step.prepare();
      step.finish();
      tf.dispose([b.images, b.ids, b.mask]);
    };
    const queue0 = value("image_queue");
    const m0 = value(momentumName);
    micro(1, { first: true, last: false });
    const m1 = value(momentumName);
    assert.notDeepEqual(m1, m0, "the first micro-batch updates the momentum copy");
    assert.deepEqual(value("queue_ptr"), [0], "nothing enqueued before the last micro-batch");
    assert.deepEqual(value("image_queue"), queue0);
    micro(2, { first: false, last: true });
    assert.deepEqual(value(momentumName), m1, "the second micro-batch of the step leaves the momentum copy alone");
    assert.deepEqual(value("queue_ptr"), [4], "both micro-batches (2 + 2 columns) enqueued at once");
    const q = value("image_queue");
    const column = (a: number[], c: number) => [0, 1, 2, 3, 4, 5, 6, 7].map((r) => a[r * 8 + c]);
    for (const c of [0, 1, 2, 3]) assert.notDeepEqual(column(q, c), column(queue0, c), `column ${c} written`);
    for (const c of [4, 5, 6, 7]) assert.deepEqual(column(q, c), column(queue0, c), `column ${c} untouched`);
    model.dispose();
  });
  it("textNegatives: each image with a text negative adds −log of its caption's share against it (by ITC's scaled similarity), averaged; without batch negatives it names data.format.negatives", async () => {
    const b = 3;
    const make = (textNegatives: boolean) =>
      tinyImageTextModel({ name: "cross-attention" }, { objectives: [{ name: "itc", queue: 0, embedDim: 8, textNegatives }], batchSize: b });
    const batch = {
      images: tf.randomNormal([b, 3, 16, 16], 0, 1, "float32", 4),
      ids: tf.tensor2d([1, 7, 8, 2, 1, 9, 2, 0, 1, 10, 11, 2], [b, 4], "int32"),
      mask: tf.tensor2d([1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1], [b, 4], "int32"),
    };
    const negatives = {
      ids: tf.tensor2d([1, 12, 13, 2, 1, 14, 2, 0], [2, 4], "int32"),
      mask: tf.tensor2d([1, 1, 1, 1, 1, 1, 1, 0], [2, 4], "int32"),
      rows: Int32Array.of(0, 2),
    };
    const lossOf = (model: Awaited<ReturnType<typeof make>>, withNegatives: boolean) => {
      let term = Number.NaN;
      const step = new AlignmentStep(model, withNegatives ? { ...batch, textNegatives: negatives } : batch, {
        alpha: 0,
        rng: new Rng(2),
        special,
        vocabSize: 40,
        record: (name, v) => {
          if (name === "loss_ita_text_negatives" && v instanceof tf.Tensor) term = v.dataSync()[0];
        },
      });
      step.prepare();
      const loss = tf.tidy(() => step.loss().dataSync()[0]);
      step.finish();
      return { loss, term };
    };
    const plain = await make(false);
    plain.eval();
    const withTerm = await make(true);
    withTerm.eval();
    const base = lossOf(plain, true).loss;
    const got = lossOf(withTerm, true);
    // by hand: the caption's and the negative's scaled similarity to each image that has a negative
    const expected = tf.tidy(() => {
      const head = withTerm.requireEmbedding("the spec");
      const rows = tf.tensor1d([0, 2], "int32");
      const img = head.imageFeatures(tf.gather(withTerm.encodeImage(batch.images), rows));
      const cap = head.textFeatures(tf.gather(withTerm.encodeText(batch.ids, batch.mask), rows), tf.gather(batch.mask, rows));
      const neg = head.textFeatures(withTerm.encodeText(negatives.ids, negatives.mask), negatives.mask);
      const pos = head.scaleSimilarity(tf.sum(tf.mul(img, cap), -1)).arraySync() as number[];
      const bad = head.scaleSimilarity(tf.sum(tf.mul(img, neg), -1)).arraySync() as number[];
      return pos.reduce((a, p, i) => a - (p - Math.log(Math.exp(p) + Math.exp(bad[i]))), 0) / pos.length;
    });
    assert.ok(Math.abs(got.term - expected) < 1e-5, `${got.term} vs ${expected}`);
    assert.ok(Math.abs(got.loss - (base + expected)) < 1e-4, `the term is added to ITC's loss: ${got.loss} vs ${base} + ${expected}`);
    const without = new AlignmentStep(withTerm, batch, { alpha: 0, rng: new Rng(2), special, vocabSize: 40 });
    without.prepare();
    assert.throws(() => tf.tidy(() => without.loss()), /itc textNegatives: .*set data\.format\.negatives/);
    without.release();
    plain.dispose();
    withTerm.dispose();
    tf.dispose([batch.images, batch.ids, batch.mask, negatives.ids, negatives.mask]);
  });
});
