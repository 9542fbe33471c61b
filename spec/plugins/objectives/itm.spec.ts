/**
 * ALBEF's ITM objective: hard-negative weights from the embedding head's
 * in-batch similarities (same-image pairs zeroed when fine-tuning with
 * image ids), the draws, the uniform ablation, and the head it owns.
 */
import assert from "node:assert/strict";
import { AlignmentStep, Rng, tf } from "../../../core/index.ts";
import { itmNegativeWeights, sampleNegatives } from "../../../plugins/objectives/itm.ts";
import { maxAbsDiff, useTestBackend } from "../../helpers.ts";
import { tinyImageTextModel } from "../../tiny-model.ts";

const SPECIAL = { pad: 0, cls: 1, sep: 2, mask: 3, unk: 4 };

describe("plugins/objectives/itm", () => {
  before(useTestBackend);

  it("itmNegativeWeights zeroes every same-image pair, not just the diagonal", () => {
    tf.tidy(() => {
      const sim = tf.tensor2d([
        [0, 1, 2, 9],
        [1, 0, 0, 9],
        [3, 1, 0, 9],
      ]); // columns past B (the queue) are ignored
      const w = itmNegativeWeights(sim, 3, Int32Array.from([5, 6, 5])).dataSync();
      const sm = (row: number[]) => {
        const e = row.map(Math.exp);
        const z = e.reduce((a, b) => a + b);
        return e.map((x) => x / z);
      };
      const r0 = sm([0, 1, 2]);
      const r1 = sm([1, 0, 0]);
      const r2 = sm([3, 1, 0]);
      assert.ok(maxAbsDiff(w, [0, r0[1], 0, r1[0], 0, r1[2], 0, r2[1], 0]) < 1e-6);
      const plain = itmNegativeWeights(sim, 3).dataSync();
      assert.ok(maxAbsDiff(plain, [0, r0[1], r0[2], r1[0], 0, r1[2], r2[0], r2[1], 0]) < 1e-6);
    });
  });

  it("sampleNegatives never draws a same-image negative, also in the uniform fallback; −1 when a row has none", () => {
    const ids = Int32Array.from([1, 1, 2, 2]);
    const rng = new Rng(5);
    const zero = new Float32Array(16); // all weights 0: every row takes the fallback
    const skewed = Float32Array.from([0, 5, 1, 1, 5, 0, 1, 1, 1, 1, 0, 5, 1, 1, 5, 0]); // heaviest weight on the same image
    for (let n = 0; n < 200; n++) {
      for (const w of [zero, skewed]) {
        const neg = sampleNegatives(w, 4, rng, ids);
        neg.forEach((j, i) => assert.notEqual(ids[j], ids[i], `row ${i} drew ${j}`));
      }
    }
    assert.deepEqual(Array.from(sampleNegatives(new Float32Array(4), 2, rng, Int32Array.from([3, 3]))), [-1, -1]);
    assert.deepEqual(Array.from(sampleNegatives(new Float32Array(1), 1, rng)), [-1]);
  });

  it("without ids, the uniform fallback draws the same columns as before ids existed (rng.int(B−1), skipping the row)", () => {
    const a = new Rng(11);
    const b = new Rng(11);
    const got = sampleNegatives(new Float32Array(25), 5, a);
    const want = Array.from({ length: 5 }, (_, i) => {
      const j = b.int(4);
      return j >= i ? j + 1 : j;
    });
    assert.deepEqual(Array.from(got), want);
  });

  it("negatives `random` (the paper's ablation) are uniform draws, whatever the similarities; `hard` follows them, after `randomSteps` uniform steps", async () => {
    // a temperature of 0.001 makes the similarity softmax peaked, so hard and uniform draws differ
    const b = 6;
    const batch = {
      images: tf.randomNormal([b, 3, 16, 16], 0, 1, "float32", 3),
      ids: tf.tensor2d(
        Array.from({ length: b * 3 }, (_, i) => (i % 3 === 0 ? 1 : 5 + i)),
        [b, 3],
        "int32",
      ),
      mask: tf.ones([b, 3], "int32"),
    };
    const special = { pad: 0, cls: 1, sep: 2, mask: 3, unk: 4 };
    const negativesOf = async (negatives: "hard" | "random", atStep = 0, randomSteps = 0) => {
      const model = await tinyImageTextModel(
        { name: "cross-attention" },
        {
          objectives: [
            { name: "itc", embedDim: 8, queue: 0, temp: 0.001 },
            { name: "itm", negatives, randomSteps },
          ],
          batchSize: b,
        },
      );
      let neg: Int32Array = new Int32Array(0);
      let weights: Float32Array = new Float32Array(0);
      const step = new AlignmentStep(model, batch, {
        alpha: 0,
        rng: new Rng(7),
        step: atStep,
        special,
        vocabSize: 40,
        record: (name, v) => {
          if (name === "neg_image_idx" && typeof v === "object" && !(v instanceof tf.Tensor)) neg = Int32Array.from(v.data);
          if (name === "itm_weights_t2i" && v instanceof tf.Tensor) weights = Float32Array.from(v.dataSync());
        },
      });
      step.prepare();
      tf.tidy(() => {
        step.loss();
      });
      step.finish();
      model.dispose();
      return { neg, weights };
    };
    const random = await negativesOf("random");
    assert.deepEqual(Array.from(random.neg), Array.from(sampleNegatives(new Float32Array(b * b), b, new Rng(7))));
    const hard = await negativesOf("hard");
    assert.deepEqual(Array.from(hard.neg), Array.from(sampleNegatives(hard.weights, b, new Rng(7))));
    assert.notDeepEqual(Array.from(hard.neg), Array.from(random.neg), "the two modes draw differently here");
    // the curriculum: uniform draws before step 5, hard ones from step 5 on
    assert.deepEqual(Array.from((await negativesOf("hard", 4, 5)).neg), Array.from(random.neg));
    assert.deepEqual(Array.from((await negativesOf("hard", 5, 5)).neg), Array.from(hard.neg));
    tf.dispose([batch.images, batch.ids, batch.mask]);
  });

  it("textNegatives: each image with a text negative adds one non-matching pair, scored like any other; without batch negatives it names data.format.negatives", async () => {
    const b = 3;
    const model = await tinyImageTextModel(
      { name: "cross-attention" },
      { objectives: [{ name: "itm", negatives: "random", textNegatives: true }], batchSize: b },
    );
    model.eval(); // no dropout: the pair can be scored again outside the step
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
    let logits: number[][] = [];
    let labels: number[] = [];
    const step = new AlignmentStep(
      model,
      { ...batch, textNegatives: negatives },
      {
        alpha: 0,
        rng: new Rng(2),
        special: SPECIAL,
        vocabSize: 40,
        record: (name, v) => {
          if (name === "itm_logits" && v instanceof tf.Tensor) logits = v.arraySync() as number[][];
          if (name === "itm_labels" && v instanceof tf.Tensor) labels = Array.from(v.dataSync());
        },
      },
    );
    step.prepare();
    tf.tidy(() => {
      step.loss();
    });
    step.finish();
    assert.equal(logits.length, 3 * b + 2, "B positives, 2B in-batch negatives, 2 text negatives");
    assert.deepEqual(labels, [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    const direct = tf.tidy(() => {
      const image = tf.gather(model.encodeImage(batch.images), tf.tensor1d([0, 2], "int32"));
      const text = model.encodeText(negatives.ids, negatives.mask);
      return model.matchLogits(text, negatives.mask, image).arraySync() as number[][];
    });
    assert.ok(maxAbsDiff(logits.slice(3 * b).flat(), direct.flat()) < 1e-5, `${logits.slice(3 * b)} vs ${direct}`);
    const without = new AlignmentStep(model, batch, { alpha: 0, rng: new Rng(2), special: SPECIAL, vocabSize: 40 });
    without.prepare();
    assert.throws(() => tf.tidy(() => without.loss()), /set data\.format\.negatives/);
    without.release();
    model.dispose();
    tf.dispose([batch.images, batch.ids, batch.mask, negatives.ids, negatives.mask]);
  });

  it("owns itm_head (fusion width → 2) and is the model's matching head; random negatives need no embedding head, hard ones are refused without", async () => {
    const model = await tinyImageTextModel({ name: "cross-attention" }, { objectives: [{ name: "itm", negatives: "random", pooling: "mean" }], batchSize: 2 });
    assert.deepEqual([...model.stateEntries()].find(([n]) => n === "itm_head.weight")?.[1].shape, [2, 16]);
    assert.equal(model.embedding, null);
    const fused = tf.randomNormal([3, 4, 16], 0, 1, "float32", 1);
    const mask = tf.tensor2d(
      [
        [1, 1, 1, 1],
        [1, 1, 0, 0],
        [1, 0, 0, 0],
      ],
      [3, 4],
      "int32",
    );
    // mean pooling over the valid tokens, then the head
    const want = tf.tidy(() => {
      const m = tf.expandDims(tf.cast(mask, "float32"), 2);
      const pooled = tf.div(tf.sum(tf.mul(fused, m), 1), tf.sum(m, 1));
      return (
        model.matching!.matchLogits(
          tf.concat([tf.expandDims(pooled, 1), tf.zeros([3, 3, 16])], 1),
          tf.tensor2d(
            [
              [1, 0, 0, 0],
              [1, 0, 0, 0],
              [1, 0, 0, 0],
            ],
            [3, 4],
            "int32",
          ),
        ) as tf.Tensor
      ).dataSync();
    });
    assert.ok(
      maxAbsDiff(
        tf.tidy(() => model.matching!.matchLogits(fused, mask).dataSync()),
        want,
      ) < 1e-6,
    );
    tf.dispose([fused, mask]);
    const batch = {
      images: tf.randomNormal([2, 3, 16, 16], 0, 1, "float32", 3),
      ids: tf.tensor2d(
        [
          [1, 5],
          [1, 6],
        ],
        [2, 2],
        "int32",
      ),
      mask: tf.ones([2, 2], "int32"),
    };
    const random = new AlignmentStep(model, batch, { alpha: 0, rng: new Rng(1), special: SPECIAL, vocabSize: 40 });
    random.prepare();
    assert.ok(Number.isFinite(tf.tidy(() => random.loss().dataSync()[0])));
    random.finish();
    model.dispose();
    const hard = await tinyImageTextModel({ name: "cross-attention" }, { objectives: [{ name: "itm" }], batchSize: 2 });
    const step = new AlignmentStep(hard, batch, { alpha: 0, rng: new Rng(1), special: SPECIAL, vocabSize: 40 });
    step.prepare();
    assert.throws(() => tf.tidy(() => step.loss()), /needs an objective with an image-text embedding/);
    step.release();
    tf.dispose([batch.images, batch.ids, batch.mask]);
    hard.dispose();
  });
});
