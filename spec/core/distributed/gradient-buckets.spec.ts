/**
 * Gradient averaging over ranks: buckets of consecutive parameters under the
 * byte limit, one all-reduce per bucket, the mean handed back; a parameter no
 * rank's loss reached stays without a gradient. Two ranks are simulated in one
 * process by worlds whose all-reduce sums both ranks' buffers.
 */
import assert from "node:assert/strict";
import { GradientAverager, planBuckets, SINGLE_PROCESS, type Tensor, tf, type World } from "../../../core/index.ts";
import { useTestBackend } from "../../helpers.ts";

/** `n` worlds in one process: each collective resolves once every rank has called it, with the ranks' buffers summed. */
function simulatedWorlds(n: number): World[] {
  let waiting: { buf: Float32Array; done: () => void }[] = [];
  let calls = 0;
  const worlds = Array.from({ length: n }, (_, rank) => ({
    ...SINGLE_PROCESS,
    size: n,
    rank,
    isMain: rank === 0,
    description: `simulated rank ${rank} of ${n}`,
    allreduceSum: (buf: Float32Array) =>
      new Promise<void>((resolve) => {
        waiting.push({ buf, done: resolve });
        if (waiting.length < n) return;
        calls++;
        const sum = new Float32Array(buf.length);
        for (const w of waiting) for (let i = 0; i < sum.length; i++) sum[i] += w.buf[i];
        for (const w of waiting) w.buf.set(sum);
        const all = waiting;
        waiting = [];
        for (const w of all) w.done();
      }),
  }));
  Object.defineProperty(worlds, "calls", { get: () => calls });
  return worlds;
}

describe("core/distributed: gradient averaging in buckets", () => {
  before(useTestBackend);

  it("plans buckets of consecutive parameters up to the byte limit; a parameter larger than the limit gets one of its own", () => {
    const plan = planBuckets(
      [
        { name: "a", size: 3 },
        { name: "b", size: 4 },
        { name: "c", size: 10 },
        { name: "d", size: 1 },
        { name: "e", size: 2 },
      ],
      8 * 4,
    );
    assert.deepEqual(
      plan.buckets.map((b) => b.names),
      [["a", "b"], ["c"], ["d", "e"]],
    );
    assert.deepEqual(plan.buckets[0].offsets, [0, 3]);
    assert.deepEqual(
      plan.buckets.map((b) => b.length),
      [7, 10, 3],
    );
  });

  it("two ranks get the mean of their gradients, bit for bit the same on both, one all-reduce per bucket; unreached parameters stay absent", async () => {
    const params = [
      { name: "w1", shape: [2, 3] },
      { name: "b1", shape: [3] },
      { name: "w2", shape: [3, 4] },
      { name: "unused", shape: [2] },
      { name: "half", shape: [2] },
    ];
    const worlds = simulatedWorlds(2);
    const averagers = worlds.map((w) => new GradientAverager(w, params, 10 * 4));
    assert.equal(averagers[0].plan.buckets.length, 3);
    const grads = (seed: number, withHalf: boolean): Record<string, Tensor> => ({
      w1: tf.randomNormal([2, 3], 0, 1, "float32", seed),
      b1: tf.randomNormal([3], 0, 1, "float32", seed + 1),
      w2: tf.randomNormal([3, 4], 0, 1, "float32", seed + 2),
      ...(withHalf ? { half: tf.randomNormal([2], 0, 1, "float32", seed + 3) } : {}),
    });
    const g0 = grads(10, true);
    const g1 = grads(20, false);
    const expected = Object.fromEntries(
      Object.keys(g0).map((k) => [k, Array.from(g0[k].dataSync()).map((v, i) => (v + (g1[k] ? g1[k].dataSync()[i] : 0)) / 2)]),
    );
    const [a0, a1] = await Promise.all([averagers[0].average(g0), averagers[1].average(g1)]);
    assert.equal((worlds as unknown as { calls: number }).calls, 3);
    assert.deepEqual(Object.keys(a0).sort(), ["b1", "half", "w1", "w2"], "no rank reached `unused`; `half` was reached on rank 0");
    for (const k of Object.keys(a0)) {
      assert.deepEqual(a0[k].shape, params.find((p) => p.name === k)?.shape);
      assert.deepEqual(Array.from(a0[k].dataSync()), Array.from(a1[k].dataSync()), `${k}: ranks differ`);
      const got = Array.from(a0[k].dataSync());
      got.forEach((v, i) => assert.ok(Math.abs(v - expected[k][i]) < 1e-6, `${k}[${i}]: ${v} vs ${expected[k][i]}`));
    }
    assert.ok(averagers[0].last.calls === 3 && averagers[0].last.bytes > 0);
    tf.dispose([...Object.values(a0), ...Object.values(a1)]);
  });

  it("alone, the gradients come back untouched", async () => {
    const g = { w: tf.ones([2]) };
    const out = await new GradientAverager(SINGLE_PROCESS, [{ name: "w", shape: [2] }]).average(g);
    assert.equal(out.w, g.w);
    g.w.dispose();
  });
});
