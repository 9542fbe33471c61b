import assert from "node:assert/strict";
import {
  additiveMask,
  Dropout,
  Embedding,
  gelu,
  LayerNorm,
  Linear,
  MultiHeadAttention,
  Rng,
  scaledDotProductAttention,
  ShapeError,
  tf,
  type Variable,
} from "../../../core/index.ts";
import { assertClose, useTestBackend } from "../../helpers.ts";

function set(v: Variable, values: number[]): void {
  tf.tidy(() => v.assign(tf.tensor(values, [...v.shape])));
}

describe("core/tensor layers (hand-computed values)", () => {
  before(useTestBackend);

  it("Linear keeps PyTorch's [out, in] weight and computes x Wᵀ + b for any leading shape", () => {
    const lin = new Linear(2, 3, new Rng(1));
    assert.deepEqual(lin.weight.shape, [3, 2]);
    set(lin.weight, [1, 2, 3, 4, 5, 6]);
    set(lin.bias!, [0.5, -1, 2]);
    const x = tf.tensor3d([
      [
        [1, -1],
        [2, 0.5],
      ],
    ]);
    const y = lin.forward(x);
    assert.deepEqual(y.shape, [1, 2, 3]);
    assertClose(y, [-0.5, -2, 1, 3.5, 7, 15]);
    tf.dispose([x, y]);
    lin.dispose();
  });

  it("Linear without bias, and a clear error on the wrong input width", () => {
    const lin = new Linear(2, 1, new Rng(1), { bias: false });
    assert.equal(lin.bias, null);
    assert.deepEqual(
      [...lin.namedParameters()].map(([n]) => n),
      ["weight"],
    );
    const bad = tf.zeros([4, 3]);
    assert.throws(
      () => lin.forward(bad),
      (e: unknown) => e instanceof ShapeError && /expected last dimension 2/.test(e.message),
    );
    bad.dispose();
    lin.dispose();
  });

  it("LayerNorm uses its own eps and the biased variance", () => {
    const ln = new LayerNorm(4, 1.0, new Rng(1)); // eps 1: var 1.25 + 1 = 2.25 → std 1.5
    set(ln.weight, [1, 2, 3, 4]);
    set(ln.bias, [0, 0, 0, 1]);
    const x = tf.tensor2d([[1, 2, 3, 4]]);
    const y = ln.forward(x);
    assertClose(y, [-1, -2 / 3, 1, 5]);
    const ln2 = new LayerNorm(4, 1e-12, new Rng(1));
    const y2 = ln2.forward(x);
    const s = 1 / Math.sqrt(1.25);
    assertClose(y2, [-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s]);
    tf.dispose([x, y, y2]);
    ln.dispose();
    ln2.dispose();
  });

  it("GELU is the exact erf form (not the tanh approximation)", () => {
    const x = tf.tensor1d([-3, -1, 0, 0.5, 1, 2]);
    const y = gelu(x);
    assertClose(y, [-0.00404969409489031, -0.15865525393145707, 0, 0.34573123063700656, 0.8413447460685429, 1.9544997361036416], 1e-6, 1e-6);
    tf.dispose([x, y]);
  });

  it("Embedding gathers rows for ids of any shape and rejects float ids", () => {
    const emb = new Embedding(3, 2, new Rng(1));
    set(emb.weight, [0, 1, 10, 11, 20, 21]);
    const ids = tf.tensor2d(
      [
        [2, 0],
        [1, 1],
      ],
      [2, 2],
      "int32",
    );
    const y = emb.forward(ids);
    assert.deepEqual(y.shape, [2, 2, 2]);
    assertClose(y, [20, 21, 0, 1, 10, 11, 10, 11]);
    const f = tf.tensor1d([0]);
    assert.throws(() => emb.forward(f), /int32/);
    tf.dispose([ids, y, f]);
    emb.dispose();
  });

  it("scaled dot-product attention matches a hand computation, with and without an additive mask", () => {
    const q = tf.tensor4d([[[[1, 0]]]]);
    const k = tf.tensor4d([
      [
        [
          [1, 0],
          [0, 1],
          [1, 1],
        ],
      ],
    ]);
    const v = tf.tensor4d([
      [
        [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
      ],
    ]);
    const plain = scaledDotProductAttention(q, k, v);
    assertClose(plain.probs, [0.40111209, 0.19777581, 0.40111209], 1e-6);
    assertClose(plain.context, [3, 4], 1e-5);
    const keyMask = tf.tensor2d([[1, 1, 0]], [1, 3], "int32");
    const mask = additiveMask(keyMask);
    assert.deepEqual(mask.shape, [1, 1, 1, 3]);
    assertClose(mask, [0, 0, -10000]);
    const masked = scaledDotProductAttention(q, k, v, { mask });
    assertClose(masked.probs, [0.66976155, 0.33023845, 0], 1e-6);
    assertClose(masked.context, [1.6604769, 2.6604769], 1e-5);
    tf.dispose([q, k, v, plain.context, plain.probs, keyMask, mask, masked.context, masked.probs]);
  });

  it("MultiHeadAttention splits heads within the width (2 heads, identity projections, key mask)", () => {
    const mha = new MultiHeadAttention(4, 2, new Rng(3));
    const eye = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
    for (const l of [mha.query, mha.key, mha.value, mha.out]) {
      set(l.weight, eye);
      set(l.bias!, [0, 0, 0, 0]);
    }
    const x = tf.tensor3d([
      [
        [1, 0, 0, 1],
        [0, 1, 2, 0],
      ],
    ]);
    const ctx = tf.tensor3d([
      [
        [1, 1, 0, 0],
        [0, 2, 1, 1],
        [1, 0, 0, 3],
      ],
    ]);
    const keyMask = tf.tensor2d([[1, 1, 0]], [1, 3], "int32");
    const y = mha.forward(x, ctx, keyMask);
    assertClose(
      y,
      [
        0.6697615493266569, 1.3302384506733431, 0.6697615493266569, 0.6697615493266569, 0.3302384506733431, 1.6697615493266569, 0.8044296825069569,
        0.8044296825069569,
      ],
      1e-5,
    );
    tf.dispose([x, ctx, keyMask, y]);
    mha.dispose();
  });

  it("Dropout: identity in eval mode, inverted scaling and seeded masks in training", () => {
    const x = tf.ones([1000]);
    const evalDrop = new Dropout(0.5, new Rng(1)).eval();
    assert.equal(evalDrop.forward(x), x);
    const a = new Dropout(0.5, new Rng(7)).forward(x);
    const b = new Dropout(0.5, new Rng(7)).forward(x);
    const av = a.dataSync();
    assert.deepEqual([...new Set(av)].sort(), [0, 2]);
    assert.deepEqual(av, b.dataSync());
    const kept = av.filter((v) => v > 0).length;
    assert.ok(kept > 400 && kept < 600, `kept ${kept} of 1000`);
    tf.dispose([x, a, b]);
  });

  it("training/eval mode propagates to children", () => {
    const mha = new MultiHeadAttention(4, 2, new Rng(3));
    mha.eval();
    assert.equal(mha.query.training, false);
    mha.train();
    assert.equal(mha.out.training, true);
    assert.deepEqual(
      [...mha.namedParameters()].map(([n]) => n),
      ["query.weight", "query.bias", "key.weight", "key.bias", "value.weight", "value.bias", "out.weight", "out.bias"],
    );
    mha.dispose();
  });
});
