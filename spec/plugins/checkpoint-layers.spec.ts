/**
 * Activation checkpointing (`checkpointLayers` on vit, bert and the fusions):
 * one ITC + ITM + MLM step with dropout on gives the loss and every
 * parameter's gradient of the same model without it — the recomputed forward
 * draws the same dropout masks and hypergraph seeds — while the forward holds
 * fewer tensor bytes, and nothing leaks.
 */
import assert from "node:assert/strict";
import { AlignmentStep, buildVisionLanguageModel, createLogger, dropoutSeeds, prepareRun, Rng, tf } from "../../core/index.ts";
import { builtinRegistry } from "../../plugins/index.ts";
import { useTestBackend } from "../helpers.ts";

const B = 4;
const L = 7;

async function step(fusion: Record<string, unknown>, checkpointLayers: boolean) {
  const config = {
    name: "checkpoint-layers",
    seed: 5,
    backend: "auto",
    objectives: [{ name: "itc", embedDim: 8, queue: 0 }, { name: "itm" }, { name: "mlm" }],
    model: {
      vision: { name: "vit", imageSize: 16, patch: 4, width: 16, depth: 2, heads: 2, checkpointLayers },
      text: { name: "bert", vocab: 40, width: 16, layers: 2, heads: 2, intermediate: 32, maxPositions: 16, checkpointLayers },
      fusion: { heads: 2, intermediate: 32, layers: 2, ...fusion, checkpointLayers },
    },
  };
  const { scope } = await prepareRun(builtinRegistry(), config, { log: createLogger({ level: "error" }) });
  const model = buildVisionLanguageModel(scope, { batchSize: B, imageIds: false });
  const vars = [...model.trainable()];
  const images = tf.randomNormal([B, 3, 16, 16], 0, 1, "float32", 9);
  const ids = tf.tensor2d(
    Array.from({ length: B * L }, (_, i) => (i % L === 0 ? 2 : 5 + ((i * 7) % 30))),
    [B, L],
    "int32",
  );
  const mask = tf.tensor2d(
    Array.from({ length: B * L }, (_, i) => (i % L < L - (i % 3) ? 1 : 0)),
    [B, L],
    "int32",
  );
  const tensorsBefore = tf.memory().numTensors;
  dropoutSeeds.beginStep(1234);
  let heldAfterForward = 0;
  try {
    const s = new AlignmentStep(
      model,
      { images, ids, mask },
      { alpha: 0.4, rng: new Rng(7), special: { pad: 0, unk: 1, cls: 2, sep: 3, mask: 4 }, vocabSize: 40 },
    );
    s.prepare();
    const { value, grads } = tf.variableGrads(
      () => {
        const l = s.loss();
        heldAfterForward = tf.memory().numBytes;
        return l;
      },
      vars.map(([, v]) => v),
    );
    s.finish();
    const loss = value.dataSync()[0];
    const byName = new Map(vars.map(([n, v]) => [n, grads[v.name].dataSync().slice()]));
    tf.dispose([value, ...Object.values(grads)]);
    return {
      loss,
      grads: byName,
      heldAfterForward,
      leaked: () => tf.memory().numTensors - tensorsBefore,
      dispose: () => {
        tf.dispose([images, ids, mask]);
        model.dispose();
      },
    };
  } finally {
    dropoutSeeds.end();
  }
}

describe("plugins: activation checkpointing (checkpointLayers)", function () {
  this.timeout(60000);
  before(async () => {
    await useTestBackend();
  });

  for (const fusion of [{ name: "cross-attention" }, { name: "hypergraph", knn: 3, clusters: 2, iterations: 2, kmeansInit: "random" }]) {
    it(`${fusion.name}: the same loss and gradients with dropout on, fewer bytes held after the forward, no tensor left behind`, async () => {
      const plain = await step(fusion, false);
      const leakPlain = plain.leaked();
      plain.dispose();
      const ckpt = await step(fusion, true);
      assert.equal(ckpt.leaked(), leakPlain, "tensors left after the step (the model's own are disposed below)");
      ckpt.dispose();
      assert.equal(ckpt.loss, plain.loss, "loss");
      let worst = 0;
      for (const [name, g] of plain.grads) {
        const h = ckpt.grads.get(name) as Float32Array;
        // a key bias's gradient is zero in exact arithmetic (softmax ignores a shift per row): rounding noise, not compared
        let scale = 1e-4;
        for (let i = 0; i < g.length; i++) scale = Math.max(scale, Math.abs(g[i]));
        for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(g[i] - h[i]) / scale);
        assert.ok(g.some((v) => v !== 0) === h.some((v) => v !== 0), `${name}: zero in one run only`);
      }
      assert.ok(worst < 1e-5, `largest gradient difference, relative to the parameter's largest gradient (or 1e-4): ${worst}`);
      assert.ok(ckpt.heldAfterForward < plain.heldAfterForward, `bytes held after the forward: ${ckpt.heldAfterForward} vs ${plain.heldAfterForward}`);
    });
  }
});
