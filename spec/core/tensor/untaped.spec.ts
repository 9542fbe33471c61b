/**
 * `untaped` (torch.no_grad): what it computes is a constant to the gradient
 * tape, the tape is back on after it (also when it throws), and the
 * hypergraph branch built on it gives the same gradients as before.
 */
import assert from "node:assert/strict";
import { GC_MAIN_THREAD_PARAMETERS, tf, untaped, wantsMainThreadMarking } from "../../../core/index.ts";
import { useTestBackend } from "../../helpers.ts";

describe("core/tensor untaped", () => {
  before(async () => {
    await useTestBackend();
  });

  it("a factor computed untaped is a constant: d/dx Σ x·(2x) is 2x, not 4x", () => {
    const x = tf.tensor1d([1, -2, 3]);
    const taped = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(v, tf.mul(v, 2))))(x);
    const constant = tf.grad((v: tf.Tensor) =>
      tf.sum(
        tf.mul(
          v,
          untaped(() => tf.mul(v, 2)),
        ),
      ),
    )(x);
    assert.deepEqual([...taped.dataSync()], [4, -8, 12]);
    assert.deepEqual([...constant.dataSync()], [2, -4, 6]);
    tf.dispose([x, taped, constant]);
  });

  it("records again after it returns or throws", () => {
    const x = tf.scalar(3);
    const g = tf.grad((v: tf.Tensor) => {
      assert.throws(
        () =>
          untaped(() => {
            throw new Error("inside");
          }),
        /inside/,
      );
      const c = untaped(() => tf.mul(v, v));
      return tf.mul(tf.mul(v, v), c); // d/dv (v²·9) = 18v = 54
    })(x);
    assert.equal(g.dataSync()[0], 54);
    tf.dispose([x, g]);
  });

  it("keeps nothing for the backward pass: the tape holds no node of its ops", () => {
    const engine = tf.engine() as unknown as { state: { activeTape: unknown[] | null } };
    const x = tf.ones([4, 4]);
    let inside = -1;
    let outside = -1;
    const g = tf.grad((v: tf.Tensor) => {
      const before = engine.state.activeTape?.length ?? 0;
      const c = untaped(() => tf.exp(tf.matMul(v, v)));
      inside = (engine.state.activeTape?.length ?? 0) - before;
      const y = tf.sum(tf.mul(v, c));
      outside = (engine.state.activeTape?.length ?? 0) - before;
      return y;
    })(x);
    assert.equal(inside, 0);
    assert.ok(outside >= 2, `the ops after it are on the tape (${outside})`);
    tf.dispose([x, g]);
  });
});

describe("core/tensor V8 marking beside the kernels' threads", () => {
  it("moves to the main thread for a large model on more than one kernel thread, unless told otherwise", () => {
    const none = {};
    assert.equal(wantsMainThreadMarking(2, 210_000_000, none), true);
    assert.equal(wantsMainThreadMarking(1, 210_000_000, none), false, "one kernel thread leaves the other core to the marker");
    assert.equal(wantsMainThreadMarking(2, 500_000, none), false, "a small model's kernels stay on one thread");
    assert.equal(wantsMainThreadMarking(2, GC_MAIN_THREAD_PARAMETERS, none), true);
    assert.equal(wantsMainThreadMarking(2, 210_000_000, { POLYALIGN_CONCURRENT_GC: "1" }), false);
    assert.equal(wantsMainThreadMarking(1, 1000, { POLYALIGN_CONCURRENT_GC: "0" }), true);
  });
});
