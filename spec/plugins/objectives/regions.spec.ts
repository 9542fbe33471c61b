/**
 * Word-region grounding: the targets over the patch grid, the loss against a
 * hand computation from the fusion's own attention (all three layouts), its
 * gradient, that it can be learnt, and its errors.
 */
import assert from "node:assert/strict";
import { AlignmentStep, Rng, tf, type VisionLanguageModel } from "../../../core/index.ts";
import { regionTargets } from "../../../plugins/objectives/regions.ts";
import { useTestBackend } from "../../helpers.ts";
import { HYPERGRAPH_TINY, tinyImageTextModel } from "../../tiny-model.ts";

const SPECIAL = { pad: 0, cls: 1, sep: 2, mask: 3, unk: 4 };
const B = 2;
const L = 4;
const NaN4 = [Number.NaN, Number.NaN, Number.NaN, Number.NaN];
// sample 0: token 1 → top-left patch, token 2 → the right half; sample 1: token 2 → bottom-right
const BOXES = Float32Array.from([...NaN4, 0, 0, 0.5, 0.5, 0.25, 0, 1, 0.5, ...NaN4, ...NaN4, ...NaN4, 0.5, 0.5, 1, 1, ...NaN4]);

function batch() {
  return {
    images: tf.randomNormal([B, 3, 16, 16], 0, 1, "float32", 9),
    ids: tf.tensor2d([1, 7, 8, 9, 1, 10, 11, 0], [B, L], "int32"),
    mask: tf.tensor2d([1, 1, 1, 1, 1, 1, 1, 0], [B, L], "int32"),
    tokenRegions: BOXES,
  };
}

function stepOf(model: VisionLanguageModel, b: ReturnType<typeof batch>, record?: (name: string, v: unknown) => void) {
  return new AlignmentStep(model, b, { alpha: 0, rng: new Rng(1), special: SPECIAL, vocabSize: 40, record });
}

/** −log of the head-mean attention mass on each grounded token's patches, from attention maps the fusion shows a probe. */
function expectedLoss(model: VisionLanguageModel, b: ReturnType<typeof batch>, layout: "cross" | "merged", ids: tf.Tensor = b.ids): number {
  const maps: number[][][][][] = [];
  const sites = Array.from({ length: model.fusionDepth }, (_, i) => model.fusionAttention(i));
  for (const s of sites)
    s.attention.probe = (p) => {
      maps.push(p.arraySync() as number[][][][]);
      return p;
    };
  tf.tidy(() => {
    model.fuse(model.encodeText(ids, b.mask), b.mask, model.encodeImage(b.images));
  });
  for (const s of sites) s.attention.probe = null;
  const targets: Record<string, number[]> = { "0,1": [1], "0,2": [1, 2], "1,2": [4] };
  let sum = 0;
  for (const m of maps) {
    for (const [key, patches] of Object.entries(targets)) {
      const [s, t] = key.split(",").map(Number);
      const row = layout === "cross" ? t : 5 + t; // merged: [5 image tokens; text]
      const heads = m[s];
      const mass = heads.reduce((acc, h) => acc + patches.reduce((a, p) => a + h[row][p], 0), 0) / heads.length;
      sum += -Math.log(mass + 1e-6);
    }
  }
  return sum / 3 / maps.length;
}

describe("plugins/objectives/regions", () => {
  before(useTestBackend);

  it("regionTargets: the patches a box covers by minOverlap of their area, else the one it covers most; NaN grounds nothing", () => {
    const boxes = Float32Array.from([0, 0, 0.5, 0.5, 0.25, 0, 1, 0.5, 0.45, 0.48, 0.6, 0.6, ...NaN4]);
    const { targets, grounded } = regionTargets(boxes, 4, 2, 0.1);
    const rows = Array.from({ length: 4 }, (_, t) => Array.from(targets.subarray(t * 5, t * 5 + 5)));
    assert.deepEqual(rows[0], [0, 1, 0, 0, 0], "exactly the top-left patch (never CLS)");
    assert.deepEqual(rows[1], [0, 1, 1, 0, 0], "half of the top-left patch and all of the top-right");
    // 0.45–0.6 × 0.48–0.6 covers 0.8 %, 0.8 %, 2 % and 4 % of the four patches: below 0.1 everywhere, most of the bottom-right
    assert.deepEqual(rows[2], [0, 0, 0, 0, 1]);
    assert.deepEqual(rows[3], [0, 0, 0, 0, 0]);
    assert.deepEqual(Array.from(grounded), [1, 1, 1, 0]);
  });

  for (const [label, fusion, layout] of [
    ["cross-attention", { name: "cross-attention" }, "cross"],
    ["hypergraph", HYPERGRAPH_TINY, "cross"],
    ["merged-attention", { name: "merged-attention" }, "merged"],
  ] as const) {
    it(`${label}: the loss is −log of the head-mean attention mass on each grounded token's patches, over tokens and layers`, async () => {
      const model = await tinyImageTextModel(fusion, { objectives: [{ name: "regions" }], fusionLayers: 2, batchSize: B });
      model.eval();
      const b = batch();
      let recorded = Number.NaN;
      const step = stepOf(model, b, (name, v) => {
        if (name === "loss_regions" && v instanceof tf.Tensor) recorded = v.dataSync()[0];
      });
      step.prepare();
      const parts: Record<string, number> = {};
      tf.tidy(() => {
        step.loss(parts);
      });
      step.finish();
      const want = expectedLoss(model, b, layout);
      assert.ok(Math.abs(parts.regions - want) < 1e-5, `${parts.regions} vs ${want}`);
      assert.equal(recorded, parts.regions);
      model.dispose();
      tf.dispose([b.images, b.ids, b.mask]);
    });
  }

  it("maskProbability 1: every grounded token is [MASK] in its pass (it must find its object from its phrase); other tokens keep their words", async () => {
    const model = await tinyImageTextModel({ name: "cross-attention" }, { objectives: [{ name: "regions", maskProbability: 1 }], batchSize: B });
    model.eval();
    const b = batch();
    const step = stepOf(model, b);
    step.prepare();
    const parts: Record<string, number> = {};
    tf.tidy(() => {
      step.loss(parts);
    });
    step.finish();
    const masked = tf.tensor2d([1, SPECIAL.mask, SPECIAL.mask, 9, 1, 10, SPECIAL.mask, 0], [B, L], "int32");
    const want = expectedLoss(model, b, "cross", masked);
    const plain = expectedLoss(model, b, "cross");
    assert.ok(Math.abs(parts.regions - want) < 1e-5, `${parts.regions} vs ${want}`);
    assert.ok(Math.abs(want - plain) > 1e-4, "masking changes the attention");
    model.dispose();
    tf.dispose([b.images, b.ids, b.mask, masked]);
  });

  it("its gradient reaches the cross-attention's query and key and the vision encoder, and a few steps on one batch lower it", async () => {
    const model = await tinyImageTextModel({ name: "cross-attention", initStd: 0.1 }, { objectives: [{ name: "regions" }], batchSize: B });
    const b = batch();
    const vars = [...model.trainable()];
    const lossAndGrads = () => {
      const step = stepOf(model, b);
      step.prepare();
      const { value, grads } = tf.variableGrads(
        () => step.loss(),
        vars.map(([, v]) => v),
      );
      step.finish();
      const loss = value.dataSync()[0];
      value.dispose();
      return { loss, grads };
    };
    const first = lossAndGrads();
    const norm = (pattern: RegExp) =>
      vars
        .filter(([n]) => pattern.test(n))
        .reduce((a, [, v]) => a + (first.grads[v.name] ? (tf.tidy(() => tf.sum(tf.square(first.grads[v.name])).dataSync()[0]) as number) : 0), 0);
    assert.ok(norm(/^fusion\.layer\.0\.crossattention\.self\.query\./) > 0, "query");
    assert.ok(norm(/^fusion\.layer\.0\.crossattention\.self\.key\./) > 0, "key");
    assert.ok(norm(/^visual_encoder\./) > 0, "vision encoder");
    assert.equal(norm(/^fusion\.layer\.0\.(intermediate|output)\./), 0, "the FFN after the attention plays no part");
    tf.dispose(Object.values(first.grads));
    const opt = tf.train.adam(1e-2);
    let loss = first.loss;
    for (let i = 0; i < 30; i++) {
      const r = lossAndGrads();
      loss = r.loss;
      opt.applyGradients(r.grads as Record<string, tf.Variable>);
      tf.dispose(Object.values(r.grads));
    }
    assert.ok(loss < 0.5 * first.loss, `30 steps: ${first.loss} → ${loss}`);
    opt.dispose();
    model.dispose();
    tf.dispose([b.images, b.ids, b.mask]);
  });

  it("names data.format.regions when the batches carry no regions, and a fusion layer that does not exist", async () => {
    const model = await tinyImageTextModel({ name: "cross-attention" }, { objectives: [{ name: "regions" }], batchSize: B });
    const { tokenRegions: _, ...plain } = batch();
    const step = stepOf(model, plain as ReturnType<typeof batch>);
    step.prepare();
    assert.throws(() => tf.tidy(() => step.loss()), /set data\.format\.regions/);
    step.release();
    model.dispose();
    const deep = await tinyImageTextModel({ name: "cross-attention" }, { objectives: [{ name: "regions", layers: [3] }], batchSize: B });
    const b = batch();
    const s2 = stepOf(deep, b);
    s2.prepare();
    assert.throws(() => tf.tidy(() => s2.loss()), /objectives\.regions\.layers: fusion layer 3 does not exist \(0\.\.0\)/);
    s2.release();
    deep.dispose();
    tf.dispose([b.images, b.ids, b.mask, plain.images, plain.ids, plain.mask]);
  });
});
