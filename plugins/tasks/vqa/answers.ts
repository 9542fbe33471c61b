/**
 * ALBEF's VQA answer handling: answers tokenised as `[CLS] a₁ … aₙ [SEP]`, the
 * decoder's per-answer loss (sum over tokens of (1 − α)·CE + α·soft-CE,
 * predicting token t+1 from the prefix ≤ t), and `rank_answer`: the top k
 * answers by their first token's probability, re-scored by the whole answer.
 */
import { type SpecialTokenIds, tf, type Tensor, type Tokenizer } from "../../../core/index.ts";
import type { VqaModel } from "./model.ts";

export interface EncodedAnswers {
  /** [N, La] */
  ids: Int32Array;
  mask: Int32Array;
  n: number;
  length: number;
}

/** `[CLS] answer [SEP]`, padded to the longest (ALBEF appends "[SEP]" to the answer text). */
export function encodeAnswers(tokenizer: Tokenizer, answers: readonly string[]): EncodedAnswers {
  const enc = tokenizer.encode(answers, { padTo: "longest" });
  const sep = tokenizer.special.sep;
  const length = enc.length + 1;
  const ids = new Int32Array(enc.batch * length).fill(tokenizer.special.pad);
  const mask = new Int32Array(enc.batch * length);
  for (let i = 0; i < enc.batch; i++) {
    let n = 0;
    while (n < enc.length && enc.mask[i * enc.length + n] === 1) n++;
    // a tokenizer that already ends with [SEP] keeps it; otherwise it is appended
    if (n > 0 && enc.ids[i * enc.length + n - 1] === sep) n--;
    ids.set(enc.ids.subarray(i * enc.length, i * enc.length + n), i * length);
    ids[i * length + n] = sep;
    mask.fill(1, i * length, i * length + n + 1);
  }
  return { ids, mask, n: enc.batch, length };
}

/**
 * Per-answer loss [N]: Σ over target tokens (t ≥ 1, non-padding) of
 * (1 − α)·(−log p(token_t)) + α·(−Σ soft_t · log p), where p comes from the
 * logits at t − 1. `soft` [N, La, V] are the momentum model's probabilities.
 */
export function answerTokenLoss(logits: Tensor, ids: Tensor, mask: Tensor, soft: Tensor | null, alpha: number): Tensor {
  return tf.tidy(() => {
    const [n, la, v] = logits.shape as [number, number, number];
    const logp = tf.logSoftmax(tf.slice(logits, [0, 0, 0], [n, la - 1, v]), -1);
    const target = tf.slice(ids, [0, 1], [n, la - 1]);
    const valid = tf.cast(tf.slice(mask, [0, 1], [n, la - 1]), "float32");
    const ce = tf.neg(tf.sum(tf.mul(logp, tf.oneHot(target, v)), -1));
    let per = ce;
    if (soft && alpha > 0) {
      const distill = tf.neg(tf.sum(tf.mul(logp, tf.slice(soft, [0, 0, 0], [n, la - 1, v])), -1));
      per = tf.add(tf.mul(ce, 1 - alpha), tf.mul(distill, alpha));
    }
    return tf.sum(tf.mul(per, valid), -1);
  });
}

/**
 * ALBEF's `rank_answer` for questions with states [B, Lq, D]: the decoder's
 * first step from [CLS] scores every candidate by its first token; the top k
 * are teacher-forced and scored log p(first token) − NLL(answer) — the first
 * token counted twice, as ALBEF's code does (`firstTokenTwice: false` gives
 * LAVIS's plain log-likelihood). Returns the best candidate per question.
 */
export function rankAnswers(
  model: VqaModel,
  states: Tensor,
  statesMask: Tensor,
  candidates: EncodedAnswers,
  special: SpecialTokenIds,
  k: number,
  firstTokenTwice = true,
): Int32Array {
  const b = states.shape[0] as number;
  const kk = Math.min(k, candidates.n);
  const firstTokens = Int32Array.from({ length: candidates.n }, (_, a) => candidates.ids[a * candidates.length + 1]);
  const firstLogp = tf.tidy(() => {
    const start = tf.fill([b, 1], special.cls, "int32");
    const logits = model.answerLogits(states, statesMask, start, tf.onesLike(start));
    const logp = tf.logSoftmax(tf.squeeze(logits, [1]), -1);
    return tf.gather(logp, tf.tensor1d(firstTokens, "int32"), 1).arraySync() as number[][];
  });
  const best = new Int32Array(b);
  // the candidates' tokens once for all questions (ALBEF: 3,128 answers)
  const all = tf.tensor2d(candidates.ids, [candidates.n, candidates.length], "int32");
  const allMask = tf.tensor2d(candidates.mask, [candidates.n, candidates.length], "int32");
  try {
    for (let q = 0; q < b; q++) {
      const order = Array.from(firstLogp[q].keys())
        .sort((x, y) => firstLogp[q][y] - firstLogp[q][x] || x - y)
        .slice(0, kk);
      const nll = tf.tidy(() => {
        const rows = tf.tensor1d(order, "int32");
        const ids = tf.gather(all, rows);
        const mask = tf.gather(allMask, rows);
        const qStates = tf.tile(tf.slice(states, [q, 0, 0], [1, -1, -1]), [kk, 1, 1]);
        const qMask = tf.tile(tf.slice(statesMask, [q, 0], [1, -1]), [kk, 1]);
        return answerTokenLoss(model.answerLogits(qStates, qMask, ids, mask), ids, mask, null, 0).dataSync();
      });
      let top = 0;
      let topScore = -Infinity;
      order.forEach((a, j) => {
        const score = (firstTokenTwice ? firstLogp[q][a] : 0) - nll[j];
        if (score > topScore) {
          topScore = score;
          top = a;
        }
      });
      best[q] = top;
    }
  } finally {
    tf.dispose([all, allMask]);
  }
  return best;
}
