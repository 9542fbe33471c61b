/**
 * ALBEF's retrieval evaluation: recall over a gallery with several captions per
 * image (itm_eval), its chance level, and the ITM re-ranking of each query's
 * top k (everything else −100).
 */
import assert from "node:assert/strict";
import {
  assertNoTensorLeak,
  buildPretrainModel,
  galleryRetrievalMetrics,
  itmRerank,
  PretrainStep,
  Rng,
  tf,
  topK,
  UNSCORED,
} from "../../../core/index.ts";
import { useTestBackend } from "../../helpers.ts";
import { HYPERGRAPH_TINY, tinyScope } from "../../tiny-model.ts";


describe("core/eval: gallery retrieval (ALBEF's itm_eval and k_test re-ranking)", () => {
  before(async () => {
    await useTestBackend();
  });

  it("recall with several captions per image: TR@K takes the image's best caption, IR@K each caption's image", () => {
    // 2 images; captions 0,1 → image 0; caption 2 → image 1
    const textImage = Int32Array.from([0, 0, 1]);
    const i2t = Float32Array.from([
      0.1, 0.9, 0.5, // image 0: caption 1 ranks first → TR@1 hit
      0.8, 0.7, 0.6, // image 1: its caption 2 ranks third → TR@1 miss, TR@5 hit
    ]);
    const t2i = Float32Array.from([
      0.2, 0.4, // caption 0: image 0 second → IR@1 miss
      0.9, 0.1, // caption 1: image 0 first
      0.3, 0.3, // caption 2: a tie, broken by the lower index (image 0) first → image 1 second
    ]);
    const m = galleryRetrievalMetrics(i2t, t2i, textImage, 2);
    assert.deepEqual(m.i2t, { r1: 50, r5: 100, r10: 100 });
    assert.ok(Math.abs(m.t2i.r1 - 100 / 3) < 1e-9);
    assert.equal(m.t2i.r5, 100);
    assert.equal(m.images, 2);
    assert.equal(m.texts, 3);
    assert.throws(() => galleryRetrievalMetrics(i2t, t2i, Int32Array.from([0, 0, 2]), 2), /caption 2 points at image 2/);
  });

  it("chance: 1 − C(n−c, K)/C(n, K) per image for TR@K (checked by enumeration), K/n for IR@K", () => {
    // 3 images with 2, 1, 3 captions among 6 texts
    const textImage = Int32Array.from([0, 0, 1, 2, 2, 2]);
    const zeros = new Float32Array(18);
    const m = galleryRetrievalMetrics(zeros, zeros, textImage, 3);
    // enumerate every ordering of 6 texts: fraction where one of the image's captions is within the first K
    const perms: number[][] = [];
    const permute = (rest: number[], acc: number[]) => {
      if (rest.length === 0) perms.push(acc);
      rest.forEach((x, i) => permute([...rest.slice(0, i), ...rest.slice(i + 1)], [...acc, x]));
    };
    permute([0, 1, 2, 3, 4, 5], []);
    const exact = (k: number) =>
      (100 / 3) *
      [0, 1, 2].reduce((a, img) => a + perms.filter((p) => p.slice(0, k).some((t) => textImage[t] === img)).length / perms.length, 0);
    assert.ok(Math.abs(m.chance.i2t.r1 - exact(1)) < 1e-9);
    assert.ok(Math.abs(m.chance.i2t.r5 - exact(5)) < 1e-9);
    assert.equal(m.chance.i2t.r10, 100);
    assert.ok(Math.abs(m.chance.t2i.r1 - 100 / 3) < 1e-9);
  });

  it("topK: the k largest, descending, ties by lower index", () => {
    assert.deepEqual(Array.from(topK(Float32Array.from([3, 9, 3, 7, 1]), 3)), [1, 3, 0]);
    assert.deepEqual(Array.from(topK(Float32Array.from([2, 1]), 5)), [0, 1]);
  });

  for (const fusion of [{ name: "cross-attention" }, HYPERGRAPH_TINY]) {
    it(`itmRerank (${fusion.name}): the top k by ITC get the ITM class-1 logit of that pair, everything else −100, no tensor left behind`, async () => {
      const { scope } = { scope: await tinyScope(fusion) };
      const model = buildPretrainModel(scope, { embedDim: 8, queueSize: 0, momentum: 0.995, temp: 0.07 });
      model.eval();
      const nI = 4;
      const nT = 6;
      const images = tf.randomNormal([nI, 3, 16, 16], 0, 1, "float32", 9);
      const ids = tf.tensor2d(Array.from({ length: nT * 5 }, (_, i) => (i % 5 === 0 ? 1 : 5 + ((i * 7) % 30))), [nT, 5], "int32");
      const mask = tf.tensor2d(Array.from({ length: nT * 5 }, (_, i) => (i % 5 < 3 + (Math.floor(i / 5) % 3) ? 1 : 0)), [nT, 5], "int32");
      const gallery = { imageEmbeds: model.encodeImage(images), textEmbeds: model.encodeText(ids, mask), textMask: mask };
      const rng = new Rng(1);
      const sim = Float32Array.from({ length: nI * nT }, () => rng.uniform());
      const k = 2;
      let scores: ReturnType<typeof itmRerank> | undefined;
      await assertNoTensorLeak(() => {
        scores = itmRerank(model, gallery, sim, k, 3);
      }, 2, 0);
      const pairLogit = (t: number, i: number) =>
        tf.tidy(() => model.matchLogits(tf.slice(gallery.textEmbeds, [t, 0, 0], [1, -1, -1]), tf.slice(mask, [t, 0], [1, -1]), tf.slice(gallery.imageEmbeds, [i, 0, 0], [1, -1, -1])).dataSync()[1]);
      for (let i = 0; i < nI; i++) {
        const top = new Set(topK(sim.subarray(i * nT, (i + 1) * nT), k));
        for (let t = 0; t < nT; t++) {
          const v = scores!.i2t[i * nT + t];
          if (top.has(t)) assert.ok(Math.abs(v - pairLogit(t, i)) < 1e-4, `i2t (${i}, ${t})`);
          else assert.equal(v, UNSCORED);
        }
      }
      for (let t = 0; t < nT; t++) {
        const column = Float32Array.from({ length: nI }, (_, i) => sim[i * nT + t]);
        const top = new Set(topK(column, k));
        for (let i = 0; i < nI; i++) {
          const v = scores!.t2i[t * nI + i];
          if (top.has(i)) assert.ok(Math.abs(v - pairLogit(t, i)) < 1e-4, `t2i (${t}, ${i})`);
          else assert.equal(v, UNSCORED);
        }
      }
      tf.dispose([images, ids, mask, gallery.imageEmbeds, gallery.textEmbeds]);
      model.dispose();
    });
  }

  it("PretrainStep with image ids: queued features of the same image are ITC positives, and the ids are queued with them", async () => {
    const { scope } = { scope: await tinyScope({ name: "cross-attention" }) };
    const model = buildPretrainModel(scope, { embedDim: 8, queueSize: 4, momentum: 0.995, temp: 0.07, idQueue: true });
    assert.deepEqual(Array.from(model.queuedIds()), [-100, -100, -100, -100]);
    const special = { pad: 0, cls: 1, sep: 2, mask: 3, unk: 4 };
    const batch = () => ({
      images: tf.randomNormal([2, 3, 16, 16], 0, 1, "float32", 4),
      ids: tf.tensor2d([[1, 7, 8], [1, 9, 0]], [2, 3], "int32"),
      mask: tf.tensor2d([[1, 1, 1], [1, 1, 0]], [2, 3], "int32"),
    });
    const run = (imageIds: number[]) => {
      const b = batch();
      const targets: number[][] = [];
      const step = new PretrainStep(model, b, {
        alpha: 0,
        rng: new Rng(2),
        special,
        vocabSize: 40,
        mlmProbability: 0.15,
        needs: { itc: true, itm: false, mlm: false },
        imageIds: Int32Array.from(imageIds),
        record: (name, v) => {
          if (name === "sim_i2t_targets" && v instanceof tf.Tensor) targets.push(Array.from(v.dataSync()));
        },
      });
      step.prepare();
      step.finish();
      tf.dispose([b.images, b.ids, b.mask]);
      return targets[0];
    };
    // step 1: queue empty (−100): plain diagonal targets over [batch | queue]
    assert.deepEqual(run([10, 20]), [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    assert.deepEqual(Array.from(model.queuedIds()), [10, 20, -100, -100]);
    // step 2: image 20 again → its row splits over the batch column and queue column 1
    assert.deepEqual(run([30, 20]), [1, 0, 0, 0, 0, 0, 0, 0.5, 0, 0.5, 0, 0]);
    assert.deepEqual(Array.from(model.queuedIds()), [10, 20, 30, 20]);
    const noQueue = buildPretrainModel(scope, { embedDim: 8, queueSize: 4, momentum: 0.995, temp: 0.07 });
    const b = batch();
    const step = new PretrainStep(noQueue, b, { alpha: 0, rng: new Rng(2), special, vocabSize: 40, mlmProbability: 0.15, needs: { itc: true, itm: false, mlm: false }, imageIds: Int32Array.from([1, 2]) });
    assert.throws(() => step.prepare(), /need the model's id queue/);
    tf.dispose([b.images, b.ids, b.mask]);
    noQueue.dispose();
    model.dispose();
  });
});
