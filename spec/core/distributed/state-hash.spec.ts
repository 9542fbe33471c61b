/** The ranks' state check: the hash of a module's state changes with any one value, name or shape, and not otherwise. */
import assert from "node:assert/strict";
import { compareRankStates, Module, normal, Rng, SINGLE_PROCESS, stateHash, tf, type Variable } from "../../../core/index.ts";
import { useTestBackend } from "../../helpers.ts";

class Two extends Module {
  readonly a: Variable;
  readonly b: Variable;
  constructor(seed: number, names = ["a", "b"]) {
    super();
    const rng = new Rng(seed);
    this.a = this.param(names[0], [3, 4], normal(1), rng);
    this.b = this.param(names[1], [5], normal(1), rng);
  }
}

describe("core/distributed: the ranks' state hash", () => {
  before(useTestBackend);

  it("equal states hash alike; one changed value, another name or another seed do not", async () => {
    const [x, y, renamed, other] = [new Two(1), new Two(1), new Two(1, ["a", "c"]), new Two(2)];
    const h = stateHash(x);
    assert.equal(h.entries, 2);
    assert.equal(stateHash(y).hash, h.hash);
    assert.notEqual(stateHash(renamed).hash, h.hash);
    assert.notEqual(stateHash(other).hash, h.hash);
    const v = Array.from(y.b.dataSync());
    v[4] = Math.fround(v[4] + 1e-6);
    y.b.assign(tf.tensor1d(v));
    assert.notEqual(stateHash(y).hash, h.hash, "a change in the last value shows");
    const alone = await compareRankStates(SINGLE_PROCESS, x);
    assert.deepEqual(alone, { hashes: [h.hash], identical: true, entries: 2 });
    for (const m of [x, y, renamed, other]) m.dispose();
  });
});
