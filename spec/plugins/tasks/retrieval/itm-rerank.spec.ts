/** ALBEF's k_test re-ranking: each query's top k by ITC similarity re-scored by the ITM head, everything else −100. */
import assert from "node:assert/strict";
import { assertNoTensorLeak, Rng, tf } from "../../../../core/index.ts";
import { itmRerank, topK, UNSCORED } from "../../../../plugins/tasks/retrieval/itm-rerank.ts";
import { useTestBackend } from "../../../helpers.ts";
import { HYPERGRAPH_TINY, tinyImageTextModel } from "../../../tiny-model.ts";

describe("plugins/tasks/retrieval: ITM re-ranking", () => {
  before(useTestBackend);

  it("topK: the k largest, descending, ties by lower index", () => {
    assert.deepEqual(Array.from(topK(Float32Array.from([3, 9, 3, 7, 1]), 3)), [1, 3, 0]);
    assert.deepEqual(Array.from(topK(Float32Array.from([2, 1]), 5)), [0, 1]);
  });

  for (const fusion of [{ name: "cross-attention" }, HYPERGRAPH_TINY]) {
    it(`itmRerank (${fusion.name}): the top k by ITC get the ITM class-1 logit of that pair (its log-odds with itm-log-odds, plus the ITC similarity with itm+itc, log σ(log-odds) + cos/τ with joint), everything else −100, no tensor left behind`, async () => {
      const model = await tinyImageTextModel(fusion);
      model.eval();
      const nI = 4;
      const nT = 6;
      const images = tf.randomNormal([nI, 3, 16, 16], 0, 1, "float32", 9);
      const ids = tf.tensor2d(
        Array.from({ length: nT * 5 }, (_, i) => (i % 5 === 0 ? 1 : 5 + ((i * 7) % 30))),
        [nT, 5],
        "int32",
      );
      const mask = tf.tensor2d(
        Array.from({ length: nT * 5 }, (_, i) => (i % 5 < 3 + (Math.floor(i / 5) % 3) ? 1 : 0)),
        [nT, 5],
        "int32",
      );
      const gallery = { imageEmbeds: model.encodeImage(images), textEmbeds: model.encodeText(ids, mask), textMask: mask };
      const rng = new Rng(1);
      const sim = Float32Array.from({ length: nI * nT }, () => rng.uniform());
      const k = 2;
      let scores: ReturnType<typeof itmRerank> | undefined;
      await assertNoTensorLeak(
        () => {
          scores = itmRerank(model, gallery, sim, { k, batchSize: 3 });
        },
        2,
        0,
      );
      const pairLogit = (t: number, i: number) =>
        tf.tidy(
          () =>
            model
              .matchLogits(
                tf.slice(gallery.textEmbeds, [t, 0, 0], [1, -1, -1]),
                tf.slice(mask, [t, 0], [1, -1]),
                tf.slice(gallery.imageEmbeds, [i, 0, 0], [1, -1, -1]),
              )
              .dataSync()[1],
        );
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
      // BLIP's score: the same logit plus the candidate's ITC similarity, in both directions
      const blip = itmRerank(model, gallery, sim, { k, batchSize: 4, score: "itm+itc" });
      let checked = 0;
      for (let i = 0; i < nI; i++) {
        for (let t = 0; t < nT; t++) {
          const a = scores!.i2t[i * nT + t];
          if (a !== UNSCORED) {
            assert.ok(Math.abs(blip.i2t[i * nT + t] - (a + sim[i * nT + t])) < 1e-5, `i2t (${i}, ${t}) itm+itc`);
            checked++;
          } else assert.equal(blip.i2t[i * nT + t], UNSCORED);
          const b = scores!.t2i[t * nI + i];
          if (b !== UNSCORED) assert.ok(Math.abs(blip.t2i[t * nI + i] - (b + sim[i * nT + t])) < 1e-5, `t2i (${t}, ${i}) itm+itc`);
          else assert.equal(blip.t2i[t * nI + i], UNSCORED);
        }
      }
      assert.equal(checked, nI * k);
      // the log-odds: match minus no-match logit of the same pair
      const odds = itmRerank(model, gallery, sim, { k, score: "itm-log-odds" });
      const pairOdds = (t: number, i: number) =>
        tf.tidy(() => {
          const l = model
            .matchLogits(
              tf.slice(gallery.textEmbeds, [t, 0, 0], [1, -1, -1]),
              tf.slice(mask, [t, 0], [1, -1]),
              tf.slice(gallery.imageEmbeds, [i, 0, 0], [1, -1, -1]),
            )
            .dataSync();
          return l[1] - l[0];
        });
      for (let i = 0; i < nI; i++)
        for (let t = 0; t < nT; t++) {
          const v = odds.i2t[i * nT + t];
          if (scores!.i2t[i * nT + t] === UNSCORED) assert.equal(v, UNSCORED);
          else assert.ok(Math.abs(v - pairOdds(t, i)) < 1e-4, `i2t (${i}, ${t}) log-odds`);
        }
      // joint: log σ(log-odds) + cos / τ with the model's own temperature, worked by hand
      const joint = itmRerank(model, gallery, sim, { k, score: "joint" });
      const tau = [...model.stateEntries()].find(([n]) => n === "temp")?.[1].dataSync()[0] as number;
      assert.ok(tau > 0, "the ITC temperature");
      for (let i = 0; i < nI; i++)
        for (let t = 0; t < nT; t++) {
          const v = joint.i2t[i * nT + t];
          if (scores!.i2t[i * nT + t] === UNSCORED) assert.equal(v, UNSCORED);
          else {
            const want = -Math.log1p(Math.exp(-pairOdds(t, i))) + sim[i * nT + t] / tau;
            assert.ok(Math.abs(v - want) < 1e-3, `i2t (${i}, ${t}) joint: ${v} vs ${want}`);
          }
        }
      // a data-parallel evaluation: two ranks' shares of the queries sum to the whole, bit for bit
      const shares = [0, 1].map((rank) => itmRerank(model, gallery, sim, { k, score: "joint", share: { rank, size: 2 } }));
      assert.ok(
        shares[0].i2t.some((v, j) => v !== 0 && shares[1].i2t[j] === 0),
        "rank 0 has rows rank 1 leaves at 0",
      );
      const summed = Float32Array.from(shares[0].i2t, (v, j) => v + shares[1].i2t[j]);
      const summedT = Float32Array.from(shares[0].t2i, (v, j) => v + shares[1].t2i[j]);
      assert.deepEqual(Array.from(summed), Array.from(joint.i2t));
      assert.deepEqual(Array.from(summedT), Array.from(joint.t2i));
      tf.dispose([images, ids, mask, gallery.imageEmbeds, gallery.textEmbeds]);
      model.dispose();
    });
  }
});
