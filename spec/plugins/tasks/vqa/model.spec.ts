/**
 * ALBEF's generative VQA: the causal answer decoder, answers as
 * `[CLS] a [SEP]`, the per-answer token loss with distillation, and
 * rank_answer (checked against scoring every candidate in full).
 */
import assert from "node:assert/strict";
import { AdamW, assertNoTensorLeak, tf, type Tokenizer } from "../../../../core/index.ts";
import { answerTokenLoss, encodeAnswers, rankAnswers } from "../../../../plugins/tasks/vqa/answers.ts";
import { buildVqaModel } from "../../../../plugins/tasks/vqa/build.ts";
import { causalMask } from "../../../../plugins/tasks/vqa/model.ts";
import { vqaScore } from "../../../../plugins/tasks/vqa/task.ts";
import { useTestBackend } from "../../../helpers.ts";
import { HYPERGRAPH_TINY, tinyScope } from "../../../tiny-model.ts";

/** A whitespace tokenizer over a fixed word list: [CLS]=1, [SEP]=2, [PAD]=0, words from 5. */
function wordTokenizer(words: string[]): Tokenizer {
  return {
    vocabSize: 5 + words.length,
    special: { pad: 0, cls: 1, sep: 2, mask: 3, unk: 4 },
    encode(texts, opts) {
      const rows = texts.map((t) => [
        1,
        ...t
          .split(" ")
          .filter(Boolean)
          .map((w) => 5 + words.indexOf(w)),
      ]);
      const length = opts?.padTo === "max" && opts.maxLength ? opts.maxLength : Math.max(...rows.map((r) => r.length));
      const ids = new Int32Array(rows.length * length);
      const mask = new Int32Array(rows.length * length);
      rows.forEach((r, i) => {
        ids.set(r, i * length);
        mask.fill(1, i * length, i * length + r.length);
      });
      return { ids, mask, batch: rows.length, length };
    },
    decode: (ids) => ids.map((i) => words[i - 5] ?? "?").join(" "),
  };
}

async function tinyVqa(fusion: Record<string, unknown>) {
  const model = buildVqaModel(await tinyScope(fusion, { seed: 4, fusionLayers: 2, vocab: 12 }), { momentum: 0.995 });
  model.eval();
  return model;
}

describe("plugins/tasks/vqa: the VQA model (answer decoder, rank_answer)", () => {
  before(async () => {
    await useTestBackend();
  });

  it("answers are [CLS] a [SEP] padded to the longest; the decoder mask is causal and hides padding", () => {
    const tok = wordTokenizer(["two", "red", "circle"]);
    const enc = encodeAnswers(tok, ["two", "red circle"]);
    assert.deepEqual(Array.from(enc.ids), [1, 5, 2, 0, 1, 6, 7, 2]);
    assert.deepEqual(Array.from(enc.mask), [1, 1, 1, 0, 1, 1, 1, 1]);
    const m = tf.tidy(() => causalMask(tf.tensor2d([[1, 1, 0]], [1, 3], "int32")).dataSync());
    assert.deepEqual(
      Array.from(m, (v) => v + 0),
      [0, -10000, -10000, 0, 0, -10000, 0, 0, -10000],
    );
  });

  it("the per-answer loss sums (1 − α)·CE + α·soft-CE over target tokens t ≥ 1 predicted from t − 1, padding excluded", () => {
    tf.tidy(() => {
      // one answer [CLS] 2 [SEP(=1)] over a 3-token vocabulary, then padding
      const logits = tf.tensor3d([
        [
          [0, 1, 2],
          [1, 0, 0],
          [5, 5, 5],
          [9, 9, 9],
        ],
      ]);
      const ids = tf.tensor2d([[0, 2, 1, 0]], [1, 4], "int32");
      const mask = tf.tensor2d([[1, 1, 1, 0]], [1, 4], "int32");
      const lsm = (row: number[]) => {
        const z = Math.log(row.reduce((a, x) => a + Math.exp(x), 0));
        return row.map((x) => x - z);
      };
      const ce = -lsm([0, 1, 2])[2] - lsm([1, 0, 0])[1];
      assert.ok(Math.abs(answerTokenLoss(logits, ids, mask, null, 0).dataSync()[0] - ce) < 1e-5);
      const soft = tf.tensor3d([
        [
          [0.2, 0.3, 0.5],
          [0.1, 0.1, 0.8],
          [1, 0, 0],
          [1, 0, 0],
        ],
      ]);
      const dist = -[0.2, 0.3, 0.5].reduce((a, p, i) => a + p * lsm([0, 1, 2])[i], 0) - [0.1, 0.1, 0.8].reduce((a, p, i) => a + p * lsm([1, 0, 0])[i], 0);
      assert.ok(Math.abs(answerTokenLoss(logits, ids, mask, soft, 0.4).dataSync()[0] - (0.6 * ce + 0.4 * dist)) < 1e-5);
    });
  });

  it("the decoder is causal and padding-blind: a later token or trailing padding leaves earlier logits unchanged", async () => {
    const model = await tinyVqa({ name: "cross-attention" });
    tf.tidy(() => {
      const states = tf.randomNormal([1, 4, 16], 0, 1, "float32", 2);
      const sMask = tf.ones([1, 4], "int32");
      const a = model.answerLogits(states, sMask, tf.tensor2d([[1, 5, 6, 2]], [1, 4], "int32"), tf.ones([1, 4], "int32"));
      const b = model.answerLogits(states, sMask, tf.tensor2d([[1, 5, 9, 2]], [1, 4], "int32"), tf.ones([1, 4], "int32"));
      const early = (t: tf.Tensor) => tf.slice(t, [0, 0, 0], [1, 2, -1]);
      assert.ok(tf.max(tf.abs(tf.sub(early(a), early(b)))).dataSync()[0] < 1e-5);
      assert.ok(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] > 1e-4);
      const padded = model.answerLogits(states, sMask, tf.tensor2d([[1, 5, 6, 2, 0, 0]], [1, 6], "int32"), tf.tensor2d([[1, 1, 1, 1, 0, 0]], [1, 6], "int32"));
      assert.ok(tf.max(tf.abs(tf.sub(a, tf.slice(padded, [0, 0, 0], [1, 4, -1])))).dataSync()[0] < 1e-5);
    });
    model.dispose();
  });

  for (const fusion of [{ name: "cross-attention" }, HYPERGRAPH_TINY]) {
    it(`rank_answer (${fusion.name}) picks the best full score among the top k by first token, and leaks nothing`, async () => {
      const model = await tinyVqa(fusion);
      const tok = wordTokenizer(["one", "two", "red", "blue", "circle", "yes", "no"]);
      const answers = ["one", "two", "red circle", "blue circle", "yes", "no", "red"];
      const cand = encodeAnswers(tok, answers);
      const images = tf.randomNormal([3, 3, 16, 16], 0, 1, "float32", 6);
      const ids = tf.tensor2d(
        [
          [1, 5, 6],
          [1, 7, 0],
          [1, 9, 10],
        ],
        [3, 3],
        "int32",
      );
      const mask = tf.tensor2d(
        [
          [1, 1, 1],
          [1, 1, 0],
          [1, 1, 1],
        ],
        [3, 3],
        "int32",
      );
      const states = model.questionStates(images, ids, mask);
      // full scores of every candidate: log p(first) counted twice (ALBEF) or once
      const full = (twice: boolean) =>
        tf.tidy(() => {
          const n = cand.n;
          const aIds = tf.tensor2d(cand.ids, [n, cand.length], "int32");
          const aMask = tf.tensor2d(cand.mask, [n, cand.length], "int32");
          return [0, 1, 2].map((q) => {
            const s = tf.tile(tf.slice(states, [q, 0, 0], [1, -1, -1]), [n, 1, 1]);
            const m = tf.tile(tf.slice(mask, [q, 0], [1, -1]), [n, 1]);
            const logits = model.answerLogits(s, m, aIds, aMask);
            const nll = answerTokenLoss(logits, aIds, aMask, null, 0).dataSync();
            const first = tf.logSoftmax(tf.squeeze(tf.slice(logits, [0, 0, 0], [-1, 1, -1]), [1]), -1).arraySync() as number[][];
            return Array.from(nll, (v, a) => (twice ? first[a][cand.ids[a * cand.length + 1]] : 0) - v);
          });
        });
      const argmax = (xs: number[]) => xs.indexOf(Math.max(...xs));
      for (const twice of [true, false]) {
        const want = full(twice).map(argmax);
        let got: Int32Array = new Int32Array(0);
        await assertNoTensorLeak(
          () => {
            got = rankAnswers(model, states, mask, cand, tok.special, cand.n, twice);
          },
          2,
          0,
        );
        assert.deepEqual(Array.from(got), want, `k = all, first token twice: ${twice}`);
      }
      // k = 1: the answer whose first token the first decoder step likes best
      const k1 = rankAnswers(model, states, mask, cand, tok.special, 1);
      const firstStep = tf.tidy(() => {
        const start = tf.fill([3, 1], 1, "int32");
        return tf.logSoftmax(tf.squeeze(model.answerLogits(states, mask, start, tf.onesLike(start)), [1]), -1).arraySync() as number[][];
      });
      for (let q = 0; q < 3; q++) assert.equal(k1[q], argmax(answers.map((_, a) => firstStep[q][cand.ids[a * cand.length + 1]])));
      tf.dispose([images, ids, mask, states]);
      model.dispose();
    });
  }

  it("learns: memorises answers to 12 random image–question pairs in 200 AdamW steps (after a plateau at the answer prior), and rank_answer returns them", async () => {
    const model = await tinyVqa(HYPERGRAPH_TINY);
    const tok = wordTokenizer(["one", "two", "red", "blue", "circle", "yes", "no"]);
    const answers = ["one", "two", "red", "blue", "yes", "no"];
    const cand = encodeAnswers(tok, answers);
    const truth = Array.from({ length: 12 }, (_, i) => (i * 5) % answers.length);
    const gold = encodeAnswers(
      tok,
      truth.map((a) => answers[a]),
    );
    const images = tf.randomNormal([12, 3, 16, 16], 0, 1, "float32", 12);
    const ids = tf.tensor2d(
      Array.from({ length: 12 * 3 }, (_, i) => (i % 3 === 0 ? 1 : 5 + ((i * 7) % 7))),
      [12, 3],
      "int32",
    );
    const mask = tf.ones([12, 3], "int32");
    const aIds = tf.tensor2d(gold.ids, [12, gold.length], "int32");
    const aMask = tf.tensor2d(gold.mask, [12, gold.length], "int32");
    const vars = [...model.trainable()];
    const opt = new AdamW(vars, { lr: 3e-3, weightDecay: 0 });
    for (let step = 0; step < 200; step++) {
      const { value, grads } = tf.variableGrads(
        () => tf.mean(answerTokenLoss(model.answerLogits(model.questionStates(images, ids, mask), mask, aIds, aMask), aIds, aMask, null, 0)) as tf.Scalar,
        vars.map(([, v]) => v),
      );
      const byName: Record<string, tf.Tensor> = {};
      for (const [n, v] of vars) if (grads[v.name]) byName[n] = grads[v.name];
      opt.apply(byName);
      tf.dispose([value, ...Object.values(grads)]);
    }
    const got = tf.tidy(() => rankAnswers(model, model.questionStates(images, ids, mask), mask, cand, tok.special, 3));
    assert.deepEqual(Array.from(got), truth);
    opt.dispose();
    tf.dispose([images, ids, mask, aIds, aMask]);
    model.dispose();
  });

  it("VQA accuracy: min(1, votes / 3) for ten-answer questions, exact match for single answers", () => {
    const ten = [
      { answer: "2", weight: 0.2, count: 2, total: 10 },
      { answer: "two", weight: 0.8, count: 8, total: 10 },
    ];
    assert.ok(Math.abs(vqaScore("2", ten) - 2 / 3) < 1e-12);
    assert.equal(vqaScore("two", ten), 1);
    assert.equal(vqaScore("3", ten), 0);
    assert.equal(vqaScore("red", [{ answer: "red", weight: 1, count: 1, total: 1 }]), 1);
  });
});
