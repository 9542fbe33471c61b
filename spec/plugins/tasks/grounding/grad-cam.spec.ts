/**
 * Grad-CAM for weakly-supervised grounding (ALBEF's ITM mode): the gradient of
 * the ITM logit with respect to a fusion layer's text → image attention
 * (checked by finite differences through the attention probe), ALBEF's map
 * from it, the box choice and IoU.
 */
import assert from "node:assert/strict";
import { assertNoTensorLeak, tf, type Tensor, type VisionLanguageModel } from "../../../../core/index.ts";
import { type Box, boxScores, groundExpression, iouInclusive, mapToImage } from "../../../../plugins/tasks/grounding/boxes.ts";
import { gradCamMap, itcAttentionGradients, itmAttentionGradients, itmGradCam } from "../../../../plugins/tasks/grounding/grad-cam.ts";
import { useTestBackend } from "../../../helpers.ts";
import { HYPERGRAPH_TINY, tinyImageTextModel } from "../../../tiny-model.ts";

async function tinyModel(fusion: Record<string, unknown>): Promise<VisionLanguageModel> {
  const model = await tinyImageTextModel(fusion, { seed: 5, fusionLayers: 2 });
  model.eval();
  return model;
}

function inputs() {
  return {
    images: tf.randomNormal([2, 3, 16, 16], 0, 1, "float32", 21),
    ids: tf.tensor2d(
      [
        [1, 7, 8, 9],
        [1, 11, 12, 0],
      ],
      [2, 4],
      "int32",
    ),
    mask: tf.tensor2d(
      [
        [1, 1, 1, 1],
        [1, 1, 1, 0],
      ],
      [2, 4],
      "int32",
    ),
  };
}

describe("plugins/tasks/grounding: Grad-CAM (ALBEF's ITM and ITC modes)", () => {
  before(async () => {
    await useTestBackend();
  });

  const fusions = [{ name: "cross-attention" }, { name: "merged-attention" }, HYPERGRAPH_TINY];
  for (const fusion of fusions) {
    it(`${fusion.name}: ∂ITM logit/∂attention agrees with finite differences through the probe`, async () => {
      const model = await tinyModel(fusion);
      const { images, ids, mask } = inputs();
      const att = itmAttentionGradients(model, images, ids, mask, 1);
      const shape = att.probs.shape as number[];
      assert.deepEqual(att.grads.shape, shape);
      const grads = att.grads.dataSync();
      const site = model.fusion.attentionSite!(1);
      const logitSum = (at: number, eps: number) =>
        tf.tidy(() => {
          const bump = tf.reshape(tf.oneHot(tf.tensor1d([at], "int32"), att.probs.size), shape);
          site.attention.probe = (p: Tensor) => tf.add(p, tf.mul(bump, eps));
          const e = model.encodeImage(images);
          const t = model.encodeText(ids, mask);
          const v = tf.sum(tf.slice(model.matchLogits(t, mask, e), [0, 1], [-1, 1])).dataSync()[0];
          site.attention.probe = null;
          return v;
        });
      // the largest gradients and a few fixed positions
      const order = Array.from(grads.keys()).sort((a, b) => Math.abs(grads[b]) - Math.abs(grads[a]));
      for (const at of [...order.slice(0, 4), 3, Math.floor(grads.length / 2)]) {
        const eps = 1e-2;
        const fd = (logitSum(at, eps) - logitSum(at, -eps)) / (2 * eps);
        assert.ok(Math.abs(fd - grads[at]) <= 2e-3 + 0.05 * Math.abs(grads[at]), `element ${at}: finite difference ${fd} vs gradient ${grads[at]}`);
      }
      tf.dispose([att.probs, att.grads, images, ids, mask]);
      model.dispose();
    });
  }

  it("the map is ALBEF's: mean over heads and all text rows of A ⊙ max(G, 0), padding rows zeroed, CLS column dropped", async () => {
    const model = await tinyModel({ name: "cross-attention" });
    const { images, ids, mask } = inputs();
    const att = itmAttentionGradients(model, images, ids, mask, 0);
    const [b, h, l, n] = att.probs.shape as number[];
    const a = att.probs.dataSync() as Float32Array;
    const g = att.grads.dataSync();
    const m = mask.dataSync();
    const cam = gradCamMap(att, mask);
    assert.equal(cam.grid, 2);
    for (let bi = 0; bi < b; bi++) {
      for (let p = 0; p < n - 1; p++) {
        let sum = 0;
        for (let hi = 0; hi < h; hi++) {
          for (let li = 0; li < l; li++) {
            const at = ((bi * h + hi) * l + li) * n + 1 + p;
            sum += m[bi * l + li] * a[at] * Math.max(0, g[at]);
          }
        }
        assert.ok(Math.abs(cam.maps[bi * 4 + p] - sum / (h * l)) < 1e-7, `b ${bi} patch ${p}`);
      }
    }
    // each query row of A is a distribution over the image tokens
    for (let r = 0; r < b * h * l; r++) assert.ok(Math.abs(a.subarray(r * n, (r + 1) * n).reduce((x, y) => x + y, 0) - 1) < 1e-5);
    tf.dispose([att.probs, att.grads]);
    await assertNoTensorLeak(
      () => {
        itmGradCam(model, images, ids, mask, 1);
      },
      2,
      0,
    );
    assert.equal(model.fusion.attentionSite!(1).attention.probe, null, "the probe is removed afterwards");
    tf.dispose([images, ids, mask]);
    model.dispose();
  });

  it("ITC mode: ∂(Σ image·text / τ)/∂(ViT block attention) agrees with finite differences; the map is the CLS row's A ⊙ max(G, 0) over heads", async () => {
    const model = await tinyModel(HYPERGRAPH_TINY);
    const { images, ids, mask } = inputs();
    const att = itcAttentionGradients(model, images, ids, mask, 0);
    const shape = att.probs.shape as number[];
    assert.deepEqual(shape, [2, 2, 5, 5]);
    const grads = att.grads.dataSync();
    const attention = model.visual_encoder.selfAttention!(0);
    const simSum = (at: number, eps: number) =>
      tf.tidy(() => {
        const bump = tf.reshape(tf.oneHot(tf.tensor1d([at], "int32"), att.probs.size), shape);
        attention.probe = (p: Tensor) => tf.add(p, tf.mul(bump, eps));
        const head = model.embedding!;
        const img = head.imageFeatures(model.encodeImage(images));
        attention.probe = null;
        const txt = head.textFeatures(model.encodeText(ids, mask), mask);
        return head.scaleSimilarity(tf.sum(tf.mul(img, txt))).dataSync()[0];
      });
    const order = Array.from(grads.keys()).sort((a, b) => Math.abs(grads[b]) - Math.abs(grads[a]));
    for (const at of [...order.slice(0, 4), 7]) {
      const eps = 1e-2;
      const fd = (simSum(at, eps) - simSum(at, -eps)) / (2 * eps);
      assert.ok(Math.abs(fd - grads[at]) <= 5e-3 + 0.05 * Math.abs(grads[at]), `element ${at}: finite difference ${fd} vs gradient ${grads[at]}`);
    }
    const a = att.probs.dataSync();
    const cam = gradCamMap(att);
    for (let b = 0; b < 2; b++) {
      for (let p = 0; p < 4; p++) {
        let sum = 0;
        for (let h = 0; h < 2; h++) {
          const at = ((b * 2 + h) * 5 + 0) * 5 + 1 + p;
          sum += a[at] * Math.max(0, grads[at]);
        }
        assert.ok(Math.abs(cam.maps[b * 4 + p] - sum / 2) < 1e-7);
      }
    }
    tf.dispose([att.probs, att.grads, images, ids, mask]);
    assert.equal(attention.probe, null);
    model.dispose();
  });

  it("box choice and IoU as ALBEF's grounding_eval: Σ inside / √(w·h), inclusive-pixel IoU", () => {
    assert.equal(iouInclusive([0, 0, 10, 10], [0, 0, 10, 10]), 1);
    // x2 = 9 vs x1 = 5: 5 columns, 10 rows → 50 of 100 + 100 − 50
    assert.ok(Math.abs(iouInclusive([0, 0, 10, 10], [5, 0, 10, 10]) - 50 / 150) < 1e-12);
    assert.equal(iouInclusive([0, 0, 5, 5], [4, 0, 5, 5]), 0, "a one-pixel-wide overlap has no positive extent");
    const full = new Float32Array(16).fill(0);
    full[5] = 4; // (x 1, y 1) in a 4×4 image
    const scores = boxScores(full, 4, 4, [
      [1, 1, 1, 1],
      [0, 0, 4, 4],
      [2, 2, 2, 2],
    ]);
    assert.deepEqual(scores, [4, 1, 0]);
    // a map that is hot in the top-left patch of a 2×2 grid picks the top-left box of a 64×64 image
    const map = Float32Array.from([1, 0, 0, 0]);
    const up = mapToImage(map, 2, 64, 64);
    assert.ok(up[0] > up[63 * 64 + 63]);
    const boxes: Box[] = [
      [40, 40, 20, 20],
      [4, 4, 20, 20],
    ];
    const out = groundExpression(map, 2, 64, 64, boxes, [5, 5, 20, 20]);
    assert.equal(out.chosen, 1);
    assert.ok(out.correct && out.iou > 0.8);
  });
});
