/**
 * ALBEF's retrieval fine-tuning changes to the pre-training step
 * (Retrieval.py): ITC ground truth spread over every column of the same
 * image (batch and id queue), ITM negatives never of the same image, image
 * ids queued beside the features.
 */
import assert from "node:assert/strict";
import { buildPretrainModel, idTargets, itcTargets, itmNegativeWeights, PretrainStep, Rng, sampleNegatives, tf } from "../../../core/index.ts";
import { maxAbsDiff, useTestBackend } from "../../helpers.ts";
import { tinyScope } from "../../tiny-model.ts";

describe("core/model: fine-tuning with image ids", () => {
  before(async () => {
    await useTestBackend();
  });

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
      const sim = tf.tensor2d([[1, 2, 0], [0, 0, 0]]);
      const truth = tf.tensor2d([[0.5, 0.5, 0], [0, 1, 0]]);
      const got = itcTargets(sim, 0.4, truth).dataSync();
      const e = [Math.E, Math.E ** 2, 1];
      const z = e[0] + e[1] + e[2];
      const want = [0.4 * (e[0] / z) + 0.3, 0.4 * (e[1] / z) + 0.3, 0.4 * (e[2] / z), 0.4 / 3, 0.4 / 3 + 0.6, 0.4 / 3];
      assert.ok(maxAbsDiff(got, want) < 1e-6);
      const diag = itcTargets(sim, 0, undefined).dataSync();
      assert.deepEqual(Array.from(diag), [1, 0, 0, 0, 1, 0]);
    });
  });

  it("itmNegativeWeights zeroes every same-image pair, not just the diagonal", () => {
    tf.tidy(() => {
      const sim = tf.tensor2d([[0, 1, 2, 9], [1, 0, 0, 9], [3, 1, 0, 9]]); // columns past B (the queue) are ignored
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

  it("ITM negatives `random` (the paper's ablation) are uniform draws, whatever the similarities; `hard` follows them", async () => {
    // a temperature of 0.001 makes the similarity softmax peaked, so hard and uniform draws differ
    const model = buildPretrainModel(await tinyScope({ name: "cross-attention" }), { embedDim: 8, queueSize: 0, momentum: 0.995, temp: 0.001 });
    const b = 6;
    const batch = {
      images: tf.randomNormal([b, 3, 16, 16], 0, 1, "float32", 3),
      ids: tf.tensor2d(Array.from({ length: b * 3 }, (_, i) => (i % 3 === 0 ? 1 : 5 + i)), [b, 3], "int32"),
      mask: tf.ones([b, 3], "int32"),
    };
    const special = { pad: 0, cls: 1, sep: 2, mask: 3, unk: 4 };
    const negativesOf = (mode: "hard" | "random") => {
      let neg: Int32Array = new Int32Array(0);
      let weights: Float32Array = new Float32Array(0);
      const step = new PretrainStep(model, batch, {
        alpha: 0,
        rng: new Rng(7),
        special,
        vocabSize: 40,
        mlmProbability: 0.15,
        needs: { itc: true, itm: true, mlm: false },
        record: (name, v) => {
          if (name === "neg_image_idx" && typeof v === "object" && !(v instanceof tf.Tensor)) neg = Int32Array.from(v.data);
          if (name === "itm_weights_t2i" && v instanceof tf.Tensor) weights = Float32Array.from(v.dataSync());
        },
      });
      step.prepare();
      tf.tidy(() => {
        step.itmLoss(mode);
      });
      step.endPass();
      step.finish();
      return { neg, weights };
    };
    const random = negativesOf("random");
    assert.deepEqual(Array.from(random.neg), Array.from(sampleNegatives(new Float32Array(b * b), b, new Rng(7))));
    const hard = negativesOf("hard");
    assert.deepEqual(Array.from(hard.neg), Array.from(sampleNegatives(hard.weights, b, new Rng(7))));
    assert.notDeepEqual(Array.from(hard.neg), Array.from(random.neg), "the two modes draw differently here");
    tf.dispose([batch.images, batch.ids, batch.mask]);
    model.dispose();
  });
});
