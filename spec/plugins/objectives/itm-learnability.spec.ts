/**
 * Can the fusion encoder learn to match at all? A toy where it must: solid-
 * colour images, the one-word colour as caption, ITM alone with random
 * negatives (a third of the pairs match; the label prior's entropy is 0.6365).
 * A narrow model (width 32) learns it well within 150 steps when its weights
 * start at BERT's gain for that width (0.02·√(768 / 32) ≈ 0.098); at BERT's
 * 0.02, made for width 768, the image barely reaches the fused text and the
 * loss sits at the prior — why the bert and fusion plugins take `initStd`.
 */
import { strict as assert } from "node:assert";
import { AdamW, AlignmentStep, buildVisionLanguageModel, createLogger, gradsByName, prepareRun, Rng, type Tensor, tf } from "../../../core/index.ts";
import { builtinRegistry } from "../../../plugins/index.ts";
import { useTestBackend } from "../../helpers.ts";

const PRIOR = -(1 / 3) * Math.log(1 / 3) - (2 / 3) * Math.log(2 / 3);
const COLOURS = [
  [1, 0, 0],
  [0, 1, 0],
  [0, 0, 1],
  [1, 1, 0],
  [1, 0, 1],
  [0, 1, 1],
  [1, 1, 1],
  [0, 0, 0],
];
const B = 16;
const S = 16;

function colourBatch(rng: Rng): { images: Tensor; ids: Tensor; mask: Tensor } {
  const c = Array.from({ length: B }, () => rng.int(COLOURS.length));
  const px = new Float32Array(B * 3 * S * S);
  for (let i = 0; i < B; i++)
    for (let ch = 0; ch < 3; ch++) for (let k = 0; k < S * S; k++) px[(i * 3 + ch) * S * S + k] = (COLOURS[c[i]][ch] - 0.5) * 3 + 0.3 * rng.normal();
  const ids = new Int32Array(B * 2);
  for (let i = 0; i < B; i++) {
    ids[2 * i] = 1;
    ids[2 * i + 1] = 10 + c[i];
  }
  return { images: tf.tensor4d(px, [B, 3, S, S]), ids: tf.tensor2d(ids, [B, 2], "int32"), mask: tf.ones([B, 2], "int32") };
}

/** The ITM loss (a running mean over 25 steps) after each 25 of `steps` AdamW steps. */
async function trainToy(initStd: number | null, steps: number, fusion: Record<string, unknown>): Promise<number[]> {
  const std = initStd === null ? {} : { initStd };
  const cfg = {
    seed: 1,
    model: {
      vision: { name: "vit", imageSize: S, patch: 8, width: 32, depth: 1, heads: 2 },
      text: { name: "bert", vocab: 40, width: 32, layers: 1, heads: 2, intermediate: 64, maxPositions: 8, ...std },
      fusion: { layers: 1, heads: 2, intermediate: 64, ...std, ...fusion },
    },
    objectives: [{ name: "itm", negatives: "random" }],
  };
  const { scope } = await prepareRun(builtinRegistry(), cfg, { log: createLogger({ level: "error" }) });
  const model = buildVisionLanguageModel(scope, { batchSize: B, imageIds: false });
  const vars = [...model.trainable()];
  const lr = 1e-3;
  const opt = new AdamW(vars, { lr, weightDecay: 0.02 });
  const rng = new Rng(5);
  const curve: number[] = [];
  let window: number[] = [];
  try {
    for (let s = 1; s <= steps; s++) {
      const batch = colourBatch(rng);
      const step = new AlignmentStep(model, batch, { alpha: 0, rng, step: s - 1, special: { pad: 0, cls: 1, sep: 2, mask: 3, unk: 4 }, vocabSize: 40 });
      step.prepare();
      const { value, grads } = tf.variableGrads(
        () => step.loss(),
        vars.map(([, v]) => v),
      );
      opt.apply(gradsByName(vars, grads), lr);
      step.finish();
      window.push(value.dataSync()[0]);
      tf.dispose([value, ...Object.values(grads), batch.images, batch.ids, batch.mask]);
      if (s % 25 === 0) {
        curve.push(window.reduce((a, x) => a + x, 0) / window.length);
        window = [];
      }
    }
  } finally {
    opt.dispose();
    model.dispose();
  }
  return curve;
}

describe("plugins/objectives: ITM learnability", function () {
  this.timeout(300_000);
  before(useTestBackend);

  for (const fusion of [{ name: "cross-attention" }, { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 }]) {
    it(`a ${fusion.name} fusion learns to match colour words to colour images well within 150 steps, its weights at BERT's gain for width 32`, async () => {
      const curve = await trainToy(0.02 * Math.sqrt(768 / 32), 150, fusion);
      assert.ok(curve[0] > PRIOR - 0.05, `starts near the prior: ${curve.map((x) => x.toFixed(3))}`);
      assert.ok(curve.at(-1)! < 0.5, `ITM loss well below the prior ${PRIOR.toFixed(3)} after 150 steps: ${curve.map((x) => x.toFixed(3))}`);
    });
  }

  it("at BERT's 0.02 (its gain for width 768) the same toy is still at the label prior after 150 steps", async () => {
    const curve = await trainToy(null, 150, { name: "cross-attention" });
    assert.ok(Math.abs(curve.at(-1)! - PRIOR) < 0.02, `still at the prior ${PRIOR.toFixed(3)}: ${curve.map((x) => x.toFixed(3))}`);
  });
});
