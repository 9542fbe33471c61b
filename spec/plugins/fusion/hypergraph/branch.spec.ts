/** The hypergraph branch's fusion with attention against the reference's worked example (hypergraph-reference Ex.5). */
import { strict as assert } from "node:assert";
import { Rng, tf, type Variable } from "../../../../core/index.ts";
import { BranchFusion } from "../../../../plugins/fusion/hypergraph/branch.ts";
import { assertClose, useTestBackend } from "../../../helpers.ts";

describe("plugins/fusion/hypergraph: branch fusion", () => {
  before(useTestBackend);

  it("Ex.5: per-token branch-attention fusion gives the reference weights and outputs", () => {
    const f = new BranchFusion("branchAttention", 2, 2, 0, 1e-12, 0.02, new Rng(1));
    const set = (v: Variable, vals: number[]) => v.assign(tf.tensor(vals, [...v.shape]));
    // W_f is [D, d_a] in the reference; our Linear stores [out, in] = W_fᵀ
    set(f.score!.weight, [1, 0.5, -1, 0.5]);
    set(f.score!.bias!, [0.1, -0.2]);
    set(f.query!.weight, [1, 2]);
    set(f.branch_bias!, [0, 0]);
    const fa = tf.tensor3d([
      [
        [1, 0],
        [0.5, -1],
      ],
    ]);
    const fhg = tf.tensor3d([
      [
        [0, 2],
        [0.5, 1],
      ],
    ]);
    assertClose(f.weights(fa, fhg)!, [0.0476349, 0.952365, 0.122025, 0.877975], 1e-6);
    assertClose(f.forward(fa, fhg), [0.0476349, 1.90473, 0.5, 0.755949], 1e-6);
    assert.equal(f.lastBranchWeight, null, "no statistic unless collected");
    f.collectStats = true;
    tf.dispose(f.forward(fa, fhg));
    // the hypergraph branch's mean weight over the tokens: (0.952365 + 0.877975) / 2
    assert.ok(Math.abs((f.lastBranchWeight ?? 0) - 0.91517) < 1e-5, `${f.lastBranchWeight}`);
    tf.dispose([fa, fhg]);
    f.dispose();
  });
});
