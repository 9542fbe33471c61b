import assert from "node:assert/strict";
import { activeKernels, AdamW, createJsOps, decays, installKernels, tf, toFloat32 } from "../../../core/index.ts";
import { useTestBackend } from "../../helpers.ts";

describe("core/train AdamW", () => {
  before(useTestBackend);

  it("uses ALBEF's groups: no decay for 1-D parameters and *.bias, decay for the rest (incl. 0-D temp)", () => {
    assert.equal(decays("fc.weight", [4, 3]), true);
    assert.equal(decays("norm.weight", [4]), false);
    assert.equal(decays("fc.bias", [4]), false);
    assert.equal(decays("temp", []), true);
  });

  it("matches PyTorch's AdamW on a hand-computed step", () => {
    const p = tf.variable(tf.tensor2d([[1, -2]]));
    const opt = new AdamW([["w", p]], { lr: 0.1, weightDecay: 0.5 });
    const g = tf.tensor2d([[0.5, 0.25]]);
    opt.apply({ w: g });
    // step 1: m̂ = g, v̂ = g², update = g/(|g|+eps) = sign(g); p ← p(1 − lr·wd) − lr·sign(g)
    const got = p.dataSync();
    assert.ok(Math.abs(got[0] - (1 * 0.95 - 0.1)) < 1e-6);
    assert.ok(Math.abs(got[1] - (-2 * 0.95 - 0.1)) < 1e-6);
    tf.dispose([p, g]);
    opt.dispose();
  });

  it("the fused kernel step (native and JS routines) equals the tfjs-op step over 5 steps, with and without decay", function () {
    const kernels = activeKernels();
    if (!kernels) this.skip();
    const restore = kernels!.ops;
    const run = (fused: boolean) => {
      const params: [string, tf.Variable][] = [
        ["a.weight", tf.variable(tf.randomNormal([7, 5], 0, 1, "float32", 1))],
        ["a.bias", tf.variable(tf.randomNormal([5], 0, 1, "float32", 2))],
      ];
      const opt = new AdamW(params, { lr: 0.01, weightDecay: 0.1, fused });
      for (let step = 0; step < 5; step++) {
        const grads = { "a.weight": tf.randomNormal([7, 5], 0, 1, "float32", 10 + step), "a.bias": tf.randomNormal([5], 0, 1, "float32", 20 + step) };
        opt.apply(grads, 0.01 * (step + 1));
        tf.dispose(Object.values(grads));
      }
      const out = params.map(([, v]) => Float32Array.from(v.dataSync()));
      const moments = [...opt.state().tensors.values()].map((t) => toFloat32(t));
      tf.dispose(params.map(([, v]) => v));
      opt.dispose();
      return [...out, ...moments];
    };
    const reference = run(false);
    try {
      for (const ops of [restore, createJsOps()]) {
        installKernels(ops);
        const got = run(true);
        got.forEach((arr, i) =>
          arr.forEach((x, j) =>
            assert.ok(
              Math.abs(x - reference[i][j]) <= 1e-6 * Math.max(1, Math.abs(reference[i][j])),
              `${ops.name} array ${i}[${j}]: ${x} vs ${reference[i][j]}`,
            ),
          ),
        );
      }
    } finally {
      installKernels(restore);
    }
  });

  for (const fused of [false, true]) {
    it(`peak memory of a ${fused ? "fused" : "tfjs-op"} step does not grow with the number of parameters`, async () => {
      const n = 40;
      const size = 4096;
      const params: [string, tf.Variable][] = Array.from({ length: n }, (_, i) => [
        `p${i}.weight`,
        tf.variable(tf.randomNormal([64, size / 64], 0, 1, "float32", i)),
      ]);
      const grads = Object.fromEntries(params.map(([name], i) => [name, tf.randomNormal([64, size / 64], 0, 1, "float32", 100 + i)]));
      const opt = new AdamW(params, { lr: 1e-3, weightDecay: 0.02, fused });
      const start = tf.memory().numBytes;
      const before = tf.memory().numTensors;
      const profile = await tf.profile(() => opt.apply(grads));
      const paramBytes = n * size * 4;
      // one parameter's temporaries (~10 copies) at a time, not all parameters' at once
      assert.ok(profile.peakBytes - start < paramBytes / 2, `peak extra ${profile.peakBytes - start} B for ${paramBytes} B of parameters`);
      assert.equal(tf.memory().numTensors, before);
      tf.dispose([...params.map(([, v]) => v), ...Object.values(grads)]);
      opt.dispose();
    });
  }
});
