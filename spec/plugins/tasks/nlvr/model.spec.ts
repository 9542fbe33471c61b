/**
 * ALBEF's NLVR2 model: paired fusion layers (image 0, image 1) sharing their
 * cross-attention key/value projections, the classifier, momentum copies, and
 * the multi-image sample format that feeds it.
 */
import assert from "node:assert/strict";
import { assertNoTensorLeak, AdamW, type Fusion, crossEntropy, SampleFormat, sampleLabel, tf } from "../../../../core/index.ts";
import { buildNlvrModel } from "../../../../plugins/tasks/nlvr/build.ts";
import type { LayeredFusion } from "../../../../plugins/fusion/layered-fusion.ts";
import { useTestBackend } from "../../../helpers.ts";
import { HYPERGRAPH_TINY, tinyScope } from "../../../tiny-model.ts";

/** the built-in fusion behind the Fusion kind, to look at its layers */
const layered = (f: Fusion) => f as LayeredFusion;

async function tiny(fusion: Record<string, unknown>) {
  return buildNlvrModel(await tinyScope(fusion, { seed: 2, fusionLayers: 2 }), { momentum: 0.9, pooling: "cls", classes: 2 });
}

describe("plugins/tasks/nlvr: the NLVR2 model (paired fusion)", () => {
  before(async () => {
    await useTestBackend();
  });

  it("each pair shares its cross-attention key/value (one variable, listed under both names); everything else is its own", async () => {
    const model = await tiny({ name: "cross-attention" });
    const a = layered(model.fusion.image0).layer.at(1).crossattention!.self;
    const b = layered(model.fusion.image1).layer.at(1).crossattention!.self;
    assert.equal(b.key.weight, a.key.weight);
    assert.equal(b.value.bias, a.value.bias);
    assert.notEqual(b.query.weight, a.query.weight);
    const entries = new Map([...model.stateEntries()].map(([n, , meta]) => [n, meta.tiedTo]));
    assert.equal(entries.get("fusion.image1.layer.1.crossattention.self.key.weight"), "fusion.image0.layer.1.crossattention.self.key.weight");
    assert.equal(entries.get("fusion_m.image1.layer.0.crossattention.self.value.bias"), "fusion_m.image0.layer.0.crossattention.self.value.bias");
    const trainable = new Set([...model.trainable()].map(([n]) => n));
    assert.ok(!trainable.has("fusion.image1.layer.0.crossattention.self.key.weight"), "a shared parameter is trained once");
    assert.ok(trainable.has("fusion.image1.layer.0.crossattention.self.query.weight"));
    assert.ok(![...trainable].some((n) => /_m\./.test(n)), "momentum copies are not trained");
    for (const n of ["cls_head.0.weight", "cls_head.2.bias"]) assert.ok(trainable.has(n), n);
    model.dispose();
  });

  it("gradients of a shared key sum both layers' uses; the momentum copy starts equal and follows the EMA", async () => {
    const model = await tiny(HYPERGRAPH_TINY);
    model.eval();
    const images = tf.randomNormal([2, 2, 3, 16, 16], 0, 1, "float32", 3);
    const ids = tf.tensor2d(
      [
        [1, 5, 6],
        [1, 7, 0],
      ],
      [2, 3],
      "int32",
    );
    const mask = tf.tensor2d(
      [
        [1, 1, 1],
        [1, 1, 0],
      ],
      [2, 3],
      "int32",
    );
    const shared = layered(model.fusion.image0).layer.at(0).crossattention!.self.key.weight;
    const score = () => tf.sum(tf.slice(model.logits(images, ids, mask), [0, 1], [-1, 1])) as tf.Scalar;
    const g = tf.variableGrads(score, [shared]);
    const analytic = g.grads[shared.name].dataSync();
    // finite differences on one entry of the shared weight (moves both layers at once)
    const at = 5;
    const eps = 1e-2;
    const bumped = (d: number) =>
      tf.tidy(() => {
        const orig = shared.clone();
        const delta = tf.reshape(tf.oneHot(tf.tensor1d([at], "int32"), shared.size), shared.shape);
        shared.assign(tf.add(orig, tf.mul(delta, d)));
        const v = score().dataSync()[0];
        shared.assign(orig);
        return v;
      });
    const fd = (bumped(eps) - bumped(-eps)) / (2 * eps);
    assert.ok(Math.abs(fd - analytic[at]) <= 2e-3 + 0.05 * Math.abs(analytic[at]), `fd ${fd} vs ${analytic[at]}`);
    tf.dispose([g.value, ...Object.values(g.grads)]);
    // image order matters: image 0 feeds the first layer of each pair
    const swapped = tf.tidy(() => tf.concat([tf.slice(images, [0, 1], [-1, 1]), tf.slice(images, [0, 0], [-1, 1])], 1));
    const d = tf.tidy(() => tf.max(tf.abs(tf.sub(model.logits(images, ids, mask), model.logits(swapped, ids, mask)))).dataSync()[0]);
    assert.ok(d > 1e-4, "swapping the images changes the prediction");
    const onQ = layered(model.fusion.image1).layer.at(1).attention.self.query.weight;
    const moQ = layered(model.fusion_m.image1).layer.at(1).attention.self.query.weight;
    assert.equal(
      tf.tidy(() => tf.max(tf.abs(tf.sub(onQ, moQ))).dataSync()[0]),
      0,
    );
    const before = moQ.dataSync().slice();
    tf.tidy(() => onQ.assign(tf.add(onQ, 1)));
    model.momentumUpdate();
    const after = moQ.dataSync();
    for (let i = 0; i < 5; i++) assert.ok(Math.abs(after[i] - (before[i] + 0.1)) < 1e-5, "θ_m ← 0.9·θ_m + 0.1·(θ_m + 1)");
    await assertNoTensorLeak(
      () => {
        tf.dispose(model.logits(images, ids, mask));
      },
      2,
      0,
    );
    tf.dispose([images, ids, mask, swapped]);
    model.dispose();
  });

  it("learns: memorises 16 random image pairs with random labels in 60 AdamW steps (every parameter path trains)", async () => {
    const model = await tiny(HYPERGRAPH_TINY);
    const images = tf.randomNormal([16, 2, 3, 16, 16], 0, 1, "float32", 8);
    const ids = tf.tensor2d(
      Array.from({ length: 16 * 4 }, (_, i) => (i % 4 === 0 ? 1 : 5 + ((i * 11) % 30))),
      [16, 4],
      "int32",
    );
    const mask = tf.ones([16, 4], "int32");
    const labelValues = Array.from({ length: 16 }, (_, i) => ((i * 7) % 5) % 2);
    const labels = tf.tensor1d(labelValues, "int32");
    const vars = [...model.trainable()];
    const opt = new AdamW(vars, { lr: 3e-3, weightDecay: 0 });
    model.eval(); // no dropout: a clean memorisation check
    let loss = Infinity;
    for (let step = 0; step < 60; step++) {
      const { value, grads } = tf.variableGrads(
        () => crossEntropy(model.logits(images, ids, mask), labels) as tf.Scalar,
        vars.map(([, v]) => v),
      );
      loss = value.dataSync()[0];
      const byName: Record<string, tf.Tensor> = {};
      for (const [n, v] of vars) if (grads[v.name]) byName[n] = grads[v.name];
      opt.apply(byName);
      tf.dispose([value, ...Object.values(grads)]);
    }
    const pred = tf.tidy(() => tf.argMax(model.logits(images, ids, mask), -1).dataSync());
    assert.deepEqual(Array.from(pred), labelValues, `final loss ${loss}`);
    opt.dispose();
    tf.dispose([images, ids, mask, labels]);
    model.dispose();
  });

  it("merged attention is refused with the reason", async () => {
    await assert.rejects(tiny({ name: "merged-attention" }), /NLVR2 needs a cross-attention fusion/);
  });

  it('labels from the sample JSON: integers, booleans, NLVR2\'s "True"/"False"; anything else names the sample', () => {
    const fmt = SampleFormat.parse({ label: "json:label" });
    const json = (v: unknown) => ({ json: new TextEncoder().encode(JSON.stringify({ label: v })) });
    assert.equal(sampleLabel(json(true), fmt, "s"), 1);
    assert.equal(sampleLabel(json("False"), fmt, "s"), 0);
    assert.equal(sampleLabel(json(2), fmt, "s"), 2);
    assert.throws(() => sampleLabel(json("maybe"), fmt, "shard.tar: sample k7"), /shard\.tar: sample k7: \.json field "label" is no label/);
    assert.equal(sampleLabel(json(1), SampleFormat.parse({}), "s"), -1, "no label source: −1");
    assert.throws(() => SampleFormat.parse({ label: "label" }), /json:FIELD/);
  });
});
