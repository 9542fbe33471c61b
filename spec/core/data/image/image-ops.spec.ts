/**
 * The native image operations (core/native/src/image_ops.c) give the JS ones'
 * pixels bit for bit — warps with every kind of border case, sharpness, the
 * normalisation — so a run's images do not depend on whether the addon loaded.
 */
import assert from "node:assert/strict";
import { jsImageOps, loadNativeOps, Rng } from "../../../../core/index.ts";

function image(w: number, h: number, rng: Rng): Uint8Array {
  return Uint8Array.from({ length: w * h * 3 }, () => rng.nextUint32() % 256);
}

describe("core/data/image: native and JS image operations agree bit for bit", () => {
  const native = loadNativeOps().image ?? null;
  before(function () {
    if (!native) this.skip();
  });

  it("affine warps (shears, translations, rotations, maps wholly outside), sharpness and normalisation", () => {
    const ops = native as NonNullable<typeof native>;
    const rng = new Rng(11);
    for (let t = 0; t < 60; t++) {
      const [w, h] = [1 + (rng.nextUint32() % 70), 1 + (rng.nextUint32() % 70)];
      const src = image(w, h, rng);
      const deg = ((rng.uniform() - 0.5) * 120 * Math.PI) / 180;
      const maps = [
        [1, (rng.uniform() - 0.5) * 0.6, 0, 0, 1, 0],
        [1, 0, 0, (rng.uniform() - 0.5) * 0.6, 1, 0],
        [1, 0, (rng.uniform() - 0.5) * 30, 0, 1, (rng.uniform() - 0.5) * 30],
        [Math.cos(deg), -Math.sin(deg), w / 3, Math.sin(deg), Math.cos(deg), -h / 4],
        [1, 0, 5 * w, 0, 1, 0],
      ];
      for (const m of maps) {
        const inv = Float64Array.from(m);
        const [a, b] = [new Uint8Array(src.length), new Uint8Array(src.length)];
        ops.warpAffine(src, a, w, h, inv, 128);
        jsImageOps.warpAffine(src, b, w, h, inv, 128);
        assert.deepEqual(a, b, `warp ${w}×${h} by ${m.map((v) => v.toFixed(3))}`);
      }
      const factor = rng.uniform() * 2;
      const [s1, s2] = [new Uint8Array(src.length), new Uint8Array(src.length)];
      ops.sharpness(src, s1, w, h, factor);
      jsImageOps.sharpness(src, s2, w, h, factor);
      assert.deepEqual(s1, s2, `sharpness ${w}×${h} at ${factor}`);
      const scale = Float64Array.of(1 / (255 * 0.26862954), 1 / (255 * 0.26130258), 1 / (255 * 0.27577711));
      const shift = Float64Array.of(0.48145466 / 0.26862954, 0.4578275 / 0.26130258, 0.40821073 / 0.27577711);
      const [n1, n2] = [new Float32Array(src.length), new Float32Array(src.length)];
      ops.normalizeChw(src, n1, scale, shift);
      jsImageOps.normalizeChw(src, n2, scale, shift);
      assert.deepEqual(n1, n2);
    }
  });

  it("wrong lengths are refused by name, nothing written", () => {
    const ops = native as NonNullable<typeof native>;
    const out = new Uint8Array(12);
    assert.throws(() => ops.warpAffine(new Uint8Array(11), out, 2, 2, new Float64Array(6), 0), /warpAffine\(src, out, w, h, inv, fill\)/);
    assert.throws(() => ops.sharpness(new Uint8Array(12), out, 3, 2, 1), /sharpness\(src, out, w, h, factor\)/);
    assert.throws(() => ops.normalizeChw(new Uint8Array(12), new Float32Array(11), new Float64Array(3), new Float64Array(3)), /normalizeChw/);
    assert.ok(out.every((v) => v === 0));
  });
});
