import assert from "node:assert/strict";
import { normal, Rng, truncatedNormal, uniformFanIn } from "../../../core/index.ts";

describe("core/tensor Rng and initialisers", () => {
  it("the same seed gives the same stream; different seeds differ", () => {
    const a = new Rng(123);
    const b = new Rng(123);
    const c = new Rng(124);
    const sa = Array.from({ length: 5 }, () => a.nextUint32());
    assert.deepEqual(
      sa,
      Array.from({ length: 5 }, () => b.nextUint32()),
    );
    assert.notDeepEqual(
      sa,
      Array.from({ length: 5 }, () => c.nextUint32()),
    );
  });

  it("a saved state resumes the exact same sequence", () => {
    const a = new Rng(9);
    for (let i = 0; i < 10; i++) a.uniform();
    const state = a.getState();
    const rest = Array.from({ length: 6 }, () => a.normal());
    const b = new Rng(state);
    assert.deepEqual(
      Array.from({ length: 6 }, () => b.normal()),
      rest,
    );
    assert.throws(() => new Rng([1, 2, 3] as unknown as [number, number, number, number]), /four uint32/);
  });

  it("derive() depends on seed and label only", () => {
    assert.equal(Rng.derive(5, "x").nextUint32(), Rng.derive(5, "x").nextUint32());
    assert.notEqual(Rng.derive(5, "x").nextUint32(), Rng.derive(5, "y").nextUint32());
  });

  it("uniform, int and shuffle stay in range and permute", () => {
    const r = new Rng(1);
    for (let i = 0; i < 1000; i++) {
      const u = r.uniform();
      assert.ok(u >= 0 && u < 1);
      const k = r.int(7);
      assert.ok(Number.isInteger(k) && k >= 0 && k < 7);
    }
    const s = r.shuffle([0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual([...s].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("normal(std) has the requested moments; truncatedNormal respects its bounds", () => {
    const v = normal(0.02)([200000], new Rng(2));
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
    assert.ok(Math.abs(mean) < 2e-4, `mean ${mean}`);
    assert.ok(Math.abs(std - 0.02) < 2e-4, `std ${std}`);
    const t = truncatedNormal(1, 0, -0.5, 0.5)([10000], new Rng(3));
    assert.ok(t.every((x) => x >= -0.5 && x <= 0.5));
    const u = uniformFanIn(16)([1000], new Rng(4));
    assert.ok(u.every((x) => Math.abs(x) <= 0.25));
  });
});
