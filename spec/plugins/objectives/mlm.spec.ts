/**
 * ALBEF's MLM objective: the masking (never [PAD] or [CLS]; 80 % [MASK],
 * 10 % a random id, 10 % kept), and the loss recomputed by hand from the
 * logits it reports — (1 − α)·CE + α·CE against the momentum model's soft labels.
 */
import assert from "node:assert/strict";
import { AlignmentStep, Rng, tf } from "../../../core/index.ts";
import { maskGrounded, mlmMask } from "../../../plugins/objectives/mlm.ts";
import { useTestBackend } from "../../helpers.ts";
import { tinyImageTextModel } from "../../tiny-model.ts";

const special = { pad: 0, cls: 1, sep: 2, mask: 3, unk: 4 };

function logSoftmax(row: number[]): number[] {
  const m = Math.max(...row);
  const z = Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0)) + m;
  return row.map((v) => v - z);
}

describe("plugins/objectives/mlm", () => {
  before(useTestBackend);

  it("masks with probability p, never [PAD] or [CLS]; of the masked 80 % become [MASK], 10 % a random id, 10 % stay", () => {
    const rows = 400;
    const l = 10;
    const ids = Int32Array.from({ length: rows * l }, (_, i) => (i % l === 0 ? special.cls : i % l >= 8 ? special.pad : 5 + (i % 7)));
    const m = mlmMask(ids, l, special, 40, 0.5, (r) => Rng.derive(3, `row ${r}`));
    let maskable = 0;
    let masked = 0;
    let toMask = 0;
    let kept = 0;
    for (let i = 0; i < ids.length; i++) {
      const canMask = ids[i] !== special.pad && ids[i] !== special.cls;
      if (canMask) maskable++;
      if (m.labels[i] === -100) {
        assert.equal(m.inputIds[i], ids[i], `position ${i} is not masked and keeps its id`);
        continue;
      }
      assert.ok(canMask, `position ${i} (${ids[i]}) must never be masked`);
      assert.equal(m.labels[i], ids[i]);
      masked++;
      if (m.inputIds[i] === special.mask) toMask++;
      else if (m.inputIds[i] === ids[i]) kept++;
    }
    assert.deepEqual(
      Array.from(m.positions),
      Array.from(m.labels.keys()).filter((i) => m.labels[i] !== -100),
    );
    // 2,800 maskable positions at p = 0.5: 4 standard deviations are ±3.8 points; of ~1,400 masked, 80/10/10 within ±5 points
    assert.ok(Math.abs(masked / maskable - 0.5) < 0.04, `masked ${masked}/${maskable}`);
    assert.ok(Math.abs(toMask / masked - 0.8) < 0.05, `[MASK] ${toMask}/${masked}`);
    // a random id may equal the original, so "kept" is 10 % + 10 % / 40 of the masked
    assert.ok(Math.abs(kept / masked - (0.1 + 0.1 / 40)) < 0.04, `kept ${kept}/${masked}`);
    // given draws (reference checks) are taken as they are
    const given = mlmMask(Int32Array.from([1, 7, 8, 0]), 4, special, 40, 0.5, () => new Rng(0), {
      mask: Int32Array.from([1, 1, 1, 1]),
      replace: Int32Array.from([0, 9, 3, 0]),
    });
    assert.deepEqual(Array.from(given.inputIds), [1, 9, 3, 0]);
    assert.deepEqual(Array.from(given.labels), [-100, 7, 8, -100]);
  });

  it("a row's masks come from its own stream: the same whatever the other rows, the batch's padding or the row's place in it", () => {
    const stream = (offset: number) => (r: number) => Rng.derive(5, `mlm:${offset + r}`);
    const rowA = [1, 7, 8, 9, 10, 11, 12, 0];
    const rowB = [1, 13, 14, 15, 0, 0, 0, 0];
    // one batch [A; B] at L = 8, against A and B alone (B as row 1 of the whole batch), B padded further
    const both = mlmMask(Int32Array.from([...rowA, ...rowB]), 8, special, 40, 0.5, stream(0));
    const a = mlmMask(Int32Array.from(rowA), 8, special, 40, 0.5, stream(0));
    const b = mlmMask(Int32Array.from([...rowB.slice(0, 4), 0, 0]), 6, special, 40, 0.5, stream(1));
    assert.deepEqual(Array.from(both.inputIds.subarray(0, 8)), Array.from(a.inputIds));
    assert.deepEqual(Array.from(both.inputIds.subarray(8, 12)), Array.from(b.inputIds.subarray(0, 4)));
    assert.deepEqual(Array.from(both.labels.subarray(8, 12)), Array.from(b.labels.subarray(0, 4)));
    assert.ok(b.positions.length > 0 && a.positions.length > 0, "both rows have masked tokens");
  });

  it("groundedProbability: tokens that name an object are also masked, as [MASK], at that rate, after ALBEF's draws (which it leaves alone)", () => {
    const special = { pad: 0, cls: 1, mask: 3 };
    const ids = Int32Array.from({ length: 4000 }, (_, i) => (i % 40 === 0 ? 1 : 5 + (i % 7)));
    const grounded = Uint8Array.from(ids, (_, i) => (i % 3 === 0 ? 1 : 0));
    const base = mlmMask(ids, 40, special, 20, 0.15, (r) => Rng.derive(4, `row ${r}`));
    const m = maskGrounded(base, ids, 40, grounded, 0.5, 3, (r) => Rng.derive(9, `row ${r}`));
    let extra = 0;
    let free = 0;
    for (let i = 0; i < ids.length; i++) {
      if (base.labels[i] !== -100) {
        assert.equal(m.labels[i], base.labels[i]);
        assert.equal(m.inputIds[i], base.inputIds[i], "ALBEF's masked tokens keep their 80/10/10 replacement");
        continue;
      }
      if (grounded[i] === 1) free++;
      if (m.labels[i] !== -100) {
        assert.equal(grounded[i], 1, "only grounded tokens are added");
        assert.equal(m.inputIds[i], 3);
        assert.equal(m.labels[i], ids[i]);
        extra++;
      }
    }
    assert.ok(Math.abs(extra / free - 0.5) < 0.05, `${extra} of ${free}`);
    assert.deepEqual(
      Array.from(m.positions),
      [...m.labels.keys()].filter((i) => m.labels[i] !== -100),
      "positions row-major",
    );
    assert.deepEqual(maskGrounded(base, ids, 40, grounded, 0, 3, (r) => Rng.derive(9, `row ${r}`)).labels, base.labels);
  });

  it("the loss is (1 − α)·CE(labels) + α·CE(softmax of the momentum logits), recomputed from the reported logits", async () => {
    const model = await tinyImageTextModel({ name: "cross-attention" }, { objectives: [{ name: "mlm", probability: 0.5 }], batchSize: 2 });
    const batch = {
      images: tf.randomNormal([2, 3, 16, 16], 0, 1, "float32", 5),
      ids: tf.tensor2d(
        [
          [1, 7, 8, 9, 10, 11],
          [1, 12, 13, 14, 0, 0],
        ],
        [2, 6],
        "int32",
      ),
      mask: tf.tensor2d(
        [
          [1, 1, 1, 1, 1, 1],
          [1, 1, 1, 1, 0, 0],
        ],
        [2, 6],
        "int32",
      ),
    };
    const seen = new Map<string, number[][] | number>();
    const alpha = 0.3;
    const step = new AlignmentStep(model, batch, {
      alpha,
      rng: new Rng(11),
      special,
      vocabSize: 40,
      record: (name, v) => {
        if (v instanceof tf.Tensor) seen.set(name, v.rank === 2 ? (v.arraySync() as number[][]) : v.dataSync()[0]);
        else if (typeof v === "object") seen.set(name, [Array.from(v.data)]);
      },
    });
    step.prepare();
    const total = tf.tidy(() => step.loss().dataSync()[0]);
    step.finish();
    const logits = seen.get("mlm_logits") as number[][];
    const logitsM = seen.get("mlm_logits_m") as number[][];
    const labels = (seen.get("mlm_labels") as number[][])[0].filter((v) => v !== -100);
    assert.ok(labels.length > 0 && labels.length === logits.length, "some positions are masked");
    let ce = 0;
    let distill = 0;
    logits.forEach((row, i) => {
      const lp = logSoftmax(row);
      ce -= lp[labels[i]];
      const soft = logSoftmax(logitsM[i]).map(Math.exp);
      distill -= soft.reduce((a, p, k) => a + p * lp[k], 0);
    });
    ce /= logits.length;
    distill /= logits.length;
    assert.ok(Math.abs((seen.get("loss_mlm_ce") as number) - ce) < 1e-5);
    assert.ok(Math.abs((seen.get("loss_mlm_distill") as number) - distill) < 1e-5);
    assert.ok(Math.abs(total - ((1 - alpha) * ce + alpha * distill)) < 1e-5, `loss ${total}`);
    tf.dispose([batch.images, batch.ids, batch.mask]);
    model.dispose();
  });
});
