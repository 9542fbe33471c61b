import assert from "node:assert/strict";
import { assertNoTensorLeak, Linear, Rng, tf, TensorLeakError } from "../../../core/index.ts";
import { useTestBackend } from "../../helpers.ts";

describe("core/tensor leak guard", () => {
  before(useTestBackend);

  it("passes a step that disposes everything it makes", async () => {
    const lin = new Linear(8, 4, new Rng(1));
    const report = await assertNoTensorLeak(() => {
      const x = tf.randomNormal([3, 8]);
      const y = lin.forward(x);
      tf.dispose([x, y]);
    }, 4);
    assert.equal(report.growthPerStep, 0);
    lin.dispose();
  });

  it("catches a step that leaves one tensor behind", async () => {
    const leaked: tf.Tensor[] = [];
    await assert.rejects(
      assertNoTensorLeak(() => {
        leaked.push(tf.zeros([2]));
      }, 3),
      (e: unknown) => e instanceof TensorLeakError && /1\.0 tensors leaked per step/.test(e.message),
    );
    tf.dispose(leaked);
  });

  it("gradients through Linear leave nothing behind", async () => {
    const lin = new Linear(8, 4, new Rng(1));
    const vars = [...lin.namedParameters()].map(([, v]) => v);
    await assertNoTensorLeak(() => {
      const x = tf.randomNormal([3, 8]);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(lin.forward(x))) as tf.Scalar, vars);
      tf.dispose([x, value, ...Object.values(grads)]);
    }, 3);
    lin.dispose();
  });
});
