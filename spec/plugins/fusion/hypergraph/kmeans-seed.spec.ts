/**
 * Random k-means seeding (`kmeansInit: random`) draws a new seed per layer and
 * training step from the step's seed stream (as dropout does, so a resumed run
 * repeats it), and a fixed one per layer outside training steps.
 */
import { strict as assert } from "node:assert";
import { dropoutSeeds, Rng, tf } from "../../../../core/index.ts";
import { HypergraphBranch, type HypergraphBranchConfig } from "../../../../plugins/fusion/hypergraph/branch.ts";
import { useTestBackend } from "../../../helpers.ts";

const cfg = (kmeansInit: "random" | "strided"): HypergraphBranchConfig => ({
  knn: 2,
  clusters: 2,
  iterations: 2,
  kmeansInit,
  modalityMode: "joint",
  edgeWeights: "fixed",
  norm: "sym",
  branch: "residual",
  fusion: "branchAttention",
  branchBias: 0,
  width: 4,
  eps: 1e-12,
  dropout: 0,
  initStd: 0.02,
  mlpHidden: 4,
  attentionDim: 1,
});

describe("plugins/fusion/hypergraph: random k-means seeding", () => {
  before(useTestBackend);

  it("a seed per layer and per training step, repeatable from the step's seed; fixed per layer outside steps", () => {
    const rng = new Rng(3);
    const layers = [new HypergraphBranch(cfg("random"), rng), new HypergraphBranch(cfg("random"), rng)];
    const evalSeeds = layers.map((l) => l.kmeansSeed());
    assert.notEqual(evalSeeds[0], evalSeeds[1], "layers differ");
    assert.deepEqual(
      layers.map((l) => l.kmeansSeed()),
      evalSeeds,
      "evaluation repeats",
    );
    const stepSeeds = (seed: number) => {
      dropoutSeeds.beginStep(seed);
      try {
        return layers.map((l) => l.kmeansSeed());
      } finally {
        dropoutSeeds.end();
      }
    };
    const a = stepSeeds(11);
    assert.notEqual(a[0], a[1], "layers differ within a step");
    assert.notDeepEqual(stepSeeds(12), a, "steps differ");
    assert.deepEqual(stepSeeds(11), a, "the same step seed gives the same draws (resume)");
    // and the seeding reaches the hyperedges: two steps give two k-means incidences for the same nodes
    const x = tf.randomNormal([1, 6, 4], 0, 1, "float32", 4);
    const mask = tf.ones([1, 6]);
    const modality = tf.tensor2d([[0, 0, 0, 1, 1, 1]]);
    const adj = (seed: number) => {
      dropoutSeeds.beginStep(seed);
      try {
        return Array.from(tf.tidy(() => layers[0].adjacency(x, mask, modality)).dataSync());
      } finally {
        dropoutSeeds.end();
      }
    };
    const seen = new Set(
      [1, 2, 3, 4, 5, 6, 7, 8].map((s) =>
        adj(s)
          .map((v) => v.toFixed(5))
          .join(),
      ),
    );
    assert.ok(seen.size > 1, "the hyperedges vary with the step");
    tf.dispose([x, mask, modality]);
    for (const l of layers) l.dispose();
  });

  it("only random seeding draws its seed (one fork, after every parameter): a strided model's stream is untouched", () => {
    const strided = new Rng(5);
    const random = new Rng(5);
    const s = new HypergraphBranch(cfg("strided"), strided);
    const r = new HypergraphBranch(cfg("random"), random);
    assert.deepEqual(Array.from(r.theta.weight.dataSync()), Array.from(s.theta.weight.dataSync()), "the same parameters");
    s.dispose();
    r.dispose();
    strided.nextUint32();
    assert.equal(random.nextUint32(), strided.nextUint32(), "the random branch consumed exactly one more draw, at the end");
  });
});
