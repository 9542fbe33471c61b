/** The hypergraph structure against the reference's worked examples (numpy float64, 6 digits). */
import assert from "node:assert/strict";
import { tf } from "../../../../core/index.ts";
import { hypergraphAdjacency, hypergraphIncidence, kmeansIncidence, knnIncidence, normalizeTokens } from "../../../../plugins/fusion/hypergraph/hyperedges.ts";
import { assertClose, useTestBackend } from "../../../helpers.ts";

const X = [
  [1.0, 0.2, 0.0],
  [0.9, 0.4, 0.1],
  [0.1, 1.0, 0.3],
  [0.0, 0.8, 0.9],
  [0.5, 0.5, 0.5],
  [0.3, -0.7, 2.0],
];
const MASK = [1, 1, 1, 1, 1, 0];

describe("plugins/fusion/hypergraph: hyperedges and propagation (worked examples Ex.1–4)", () => {
  before(useTestBackend);

  it("Ex.1: A_sym and A_mean from a given H and W; A·√dv = √dv; scaling W leaves A_sym unchanged", () => {
    const h = tf.tensor3d([
      [
        [1, 0, 1],
        [1, 0, 0],
        [1, 1, 0],
        [0, 1, 1],
        [0, 0, 1],
      ],
    ]);
    const w = tf.tensor1d([1, 2, 0.5]);
    const a = hypergraphAdjacency(h, w, "sym");
    assertClose(
      a,
      [
        0.333333, 0.272166, 0.157135, 0.0860663, 0.19245, 0.272166, 0.333333, 0.19245, 0, 0, 0.157135, 0.19245, 0.444444, 0.365148, 0, 0.0860663, 0, 0.365148,
        0.466667, 0.149071, 0.19245, 0, 0, 0.149071, 0.333333,
      ],
      2e-6,
    );
    const sqrtDv = tf.tensor3d([[[Math.sqrt(1.5)], [1], [Math.sqrt(3)], [Math.sqrt(2.5)], [Math.sqrt(0.5)]]]);
    assertClose(tf.matMul(a, sqrtDv), sqrtDv.dataSync(), 1e-6);
    assertClose(hypergraphAdjacency(h, tf.mul(w, 7), "sym"), a.dataSync(), 1e-6);
    assertClose(
      hypergraphAdjacency(h, w, "mean"),
      [
        0.333333, 0.222222, 0.222222, 0.111111, 0.111111, 0.333333, 0.333333, 0.333333, 0, 0, 0.111111, 0.111111, 0.444444, 0.333333, 0, 0.0666667, 0, 0.4,
        0.466667, 0.0666667, 0.333333, 0, 0, 0.333333, 0.333333,
      ],
      2e-6,
    );
    assertClose(
      hypergraphAdjacency(h, tf.ones([3]), "sym"),
      [
        0.333333, 0.235702, 0.166667, 0.166667, 0.235702, 0.235702, 0.333333, 0.235702, 0, 0, 0.166667, 0.235702, 0.416667, 0.25, 0, 0.166667, 0, 0.25,
        0.416667, 0.235702, 0.235702, 0, 0, 0.235702, 0.333333,
      ],
      2e-6,
    );
  });

  it("Ex.2: a pad vertex and an empty edge give a zero row and column, no NaN", () => {
    const h = tf.tensor3d([
      [
        [1, 0, 1, 0],
        [1, 0, 0, 0],
        [1, 1, 0, 0],
        [0, 1, 1, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 0],
      ],
    ]);
    const a = hypergraphAdjacency(h, tf.tensor1d([1, 2, 0.5, 1]));
    const v = a.dataSync();
    assert.ok(v.every(Number.isFinite));
    assert.ok([0, 1, 2, 3, 4, 5].every((i) => v[5 * 6 + i] === 0 && v[i * 6 + 5] === 0));
    assert.ok(Math.abs(v[0] - 0.333333) < 1e-6 && Math.abs(v[3 * 6 + 2] - 0.365148) < 1e-6);
  });

  it("Ex.3: kNN hyperedges from cosine similarity (k = 3 with the centre), pad excluded, then A and A·XΘ", () => {
    const x = tf.tensor3d([X]);
    const mask = tf.tensor2d([MASK]);
    const h = knnIncidence(normalizeTokens(x), mask, 3);
    assert.deepEqual(Array.from(h.dataSync()), [1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
    const a = hypergraphAdjacency(h, tf.ones([6]));
    assertClose(
      a,
      [
        0.333333, 0.272166, 0, 0, 0.210819, 0, 0.272166, 0.333333, 0, 0.111111, 0.258199, 0, 0, 0, 0.333333, 0.272166, 0.210819, 0, 0, 0.111111, 0.272166,
        0.333333, 0.258199, 0, 0.210819, 0.258199, 0.210819, 0.258199, 0.333333, 0, 0, 0, 0, 0, 0, 0,
      ],
      2e-6,
    );
    const theta = tf.tensor2d([
      [0.5, -0.2],
      [0.1, 0.3],
      [-0.4, 0.7],
    ]);
    const y = tf.matMul(a, tf.reshape(tf.matMul(tf.reshape(x, [6, 3]), theta), [1, 6, 2]));
    assertClose(y, [0.31689, 0.0403824, 0.286235, 0.165176, -0.0451245, 0.484445, -0.00934848, 0.527752, 0.193177, 0.434335, 0, 0], 2e-6);
  });

  it("Ex.4: spherical k-means (C = 2, T = 3, strided seeds) and the combined A", () => {
    const x = tf.tensor3d([X]);
    const mask = tf.tensor2d([MASK]);
    const km = kmeansIncidence(normalizeTokens(x), mask, 2, 3);
    assert.deepEqual(Array.from(km.dataSync()), [1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 0]);
    const h = hypergraphIncidence(x, mask, tf.zeros([1, 6]), { k: 3, clusters: 2, iterations: 3, modalityMode: "joint" });
    assert.deepEqual(h.shape, [1, 6, 8]);
    const a = hypergraphAdjacency(h, tf.ones([8]));
    assertClose(
      a,
      [
        0.333333, 0.288675, 0, 0, 0.235702, 0, 0.288675, 0.333333, 0, 0.0833333, 0.272166, 0, 0, 0, 0.388889, 0.336788, 0.157135, 0, 0, 0.0833333, 0.336788,
        0.375, 0.204124, 0, 0.235702, 0.272166, 0.157135, 0.204124, 0.333333, 0, 0, 0, 0, 0, 0, 0,
      ],
      2e-6,
    );
  });

  it("is a constant of the tape: gradients through A·x equal those with A frozen, and nothing throws", () => {
    const x = tf.tensor3d([X]);
    const mask = tf.tensor2d([MASK]);
    const theta = tf.tensor2d([
      [0.5, -0.2],
      [0.1, 0.3],
      [-0.4, 0.7],
    ]);
    const opts = { k: 3, clusters: 2, iterations: 3, modalityMode: "joint" as const };
    const f = (xi: tf.Tensor, frozen?: tf.Tensor) => {
      const a = frozen ?? hypergraphAdjacency(hypergraphIncidence(xi, mask, tf.zeros([1, 6]), opts), tf.ones([8]));
      return tf.sum(tf.square(tf.matMul(a, tf.reshape(tf.matMul(tf.reshape(xi, [6, 3]), theta), [1, 6, 2]))));
    };
    const frozenA = hypergraphAdjacency(hypergraphIncidence(x, mask, tf.zeros([1, 6]), opts), tf.ones([8]));
    const g1 = tf.grad((xi: tf.Tensor) => f(xi))(x);
    const g2 = tf.grad((xi: tf.Tensor) => f(xi, frozenA))(x);
    assert.deepEqual(g1.dataSync(), g2.dataSync());
    assert.ok(g1.dataSync().some((v) => v !== 0));
  });

  it("padding invariance, few valid tokens (nValid < k) and more clusters than tokens: no NaN, pads untouched", () => {
    const x1 = tf.tensor3d([X]);
    const x2 = tf.tensor3d([[...X.slice(0, 5), [9, 9, -9]]]);
    const mask = tf.tensor2d([MASK]);
    const opts = { k: 3, clusters: 2, iterations: 3, modalityMode: "joint" as const };
    const a1 = hypergraphAdjacency(hypergraphIncidence(x1, mask, tf.zeros([1, 6]), opts), tf.ones([8]));
    const a2 = hypergraphAdjacency(hypergraphIncidence(x2, mask, tf.zeros([1, 6]), opts), tf.ones([8]));
    assert.deepEqual(a1.dataSync(), a2.dataSync(), "pad features do not change A");
    const two = tf.tensor2d([[1, 1, 0, 0, 0, 0]]);
    const few = hypergraphAdjacency(hypergraphIncidence(x1, two, tf.zeros([1, 6]), { ...opts, k: 4, clusters: 5 }), tf.ones([11]));
    const v = few.dataSync();
    assert.ok(v.every(Number.isFinite));
    assert.ok(
      v.slice(2 * 6).every((z) => z === 0),
      "rows of padding are zero",
    );
    assert.ok(v[0] > 0 && v[1] > 0);
  });

  it("cross mode: every kNN edge of a valid centre holds the other modality", () => {
    const x = tf.tensor3d([X]);
    const mask = tf.tensor2d([[1, 1, 1, 1, 1, 1]]);
    const modality = tf.tensor2d([[0, 0, 0, 1, 1, 1]]);
    const h = knnIncidence(normalizeTokens(x), mask, 3, modality, "cross").arraySync() as number[][][];
    for (let e = 0; e < 6; e++) {
      const members = [0, 1, 2, 3, 4, 5].filter((v) => h[0][v][e] === 1);
      assert.ok(members.includes(e), `edge ${e} holds its centre`);
      assert.ok(
        members.every((v) => v === e || v < 3 !== e < 3),
        `edge ${e}: ${members}`,
      );
      assert.equal(members.length, 3);
    }
    const bal = knnIncidence(normalizeTokens(x), mask, 3, modality, "balanced").arraySync() as number[][][];
    for (let e = 0; e < 6; e++) {
      const members = [0, 1, 2, 3, 4, 5].filter((v) => bal[0][v][e] === 1);
      assert.equal(members.length, 3);
      assert.ok(members.some((v) => v !== e && v < 3 === e < 3) && members.some((v) => v < 3 !== e < 3), `balanced edge ${e}: ${members}`);
    }
  });
});
