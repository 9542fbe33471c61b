/** Retrieval recall over a gallery with several captions per image (ALBEF's itm_eval) and its chance level. */
import assert from "node:assert/strict";
import { galleryRetrievalMetrics } from "../../../core/index.ts";

describe("core/eval: gallery retrieval metrics", () => {
  it("recall with several captions per image: TR@K takes the image's best caption, IR@K each caption's image", () => {
    // 2 images; captions 0,1 → image 0; caption 2 → image 1
    const textImage = Int32Array.from([0, 0, 1]);
    const i2t = Float32Array.from([
      0.1,
      0.9,
      0.5, // image 0: caption 1 ranks first → TR@1 hit
      0.8,
      0.7,
      0.6, // image 1: its caption 2 ranks third → TR@1 miss, TR@5 hit
    ]);
    const t2i = Float32Array.from([
      0.2,
      0.4, // caption 0: image 0 second → IR@1 miss
      0.9,
      0.1, // caption 1: image 0 first
      0.3,
      0.3, // caption 2: a tie, broken by the lower index (image 0) first → image 1 second
    ]);
    const m = galleryRetrievalMetrics(i2t, t2i, textImage, 2);
    assert.deepEqual(m.i2t, { r1: 50, r5: 100, r10: 100 });
    assert.ok(Math.abs(m.t2i.r1 - 100 / 3) < 1e-9);
    assert.equal(m.t2i.r5, 100);
    assert.equal(m.images, 2);
    assert.equal(m.texts, 3);
    assert.throws(() => galleryRetrievalMetrics(i2t, t2i, Int32Array.from([0, 0, 2]), 2), /caption 2 points at image 2/);
  });

  it("chance: 1 − C(n−c, K)/C(n, K) per image for TR@K (checked by enumeration), K/n for IR@K", () => {
    // 3 images with 2, 1, 3 captions among 6 texts
    const textImage = Int32Array.from([0, 0, 1, 2, 2, 2]);
    const zeros = new Float32Array(18);
    const m = galleryRetrievalMetrics(zeros, zeros, textImage, 3);
    // enumerate every ordering of 6 texts: fraction where one of the image's captions is within the first K
    const perms: number[][] = [];
    const permute = (rest: number[], acc: number[]) => {
      if (rest.length === 0) perms.push(acc);
      rest.forEach((x, i) => permute([...rest.slice(0, i), ...rest.slice(i + 1)], [...acc, x]));
    };
    permute([0, 1, 2, 3, 4, 5], []);
    const exact = (k: number) =>
      (100 / 3) * [0, 1, 2].reduce((a, img) => a + perms.filter((p) => p.slice(0, k).some((t) => textImage[t] === img)).length / perms.length, 0);
    assert.ok(Math.abs(m.chance.i2t.r1 - exact(1)) < 1e-9);
    assert.ok(Math.abs(m.chance.i2t.r5 - exact(5)) < 1e-9);
    assert.equal(m.chance.i2t.r10, 100);
    assert.ok(Math.abs(m.chance.t2i.r1 - 100 / 3) < 1e-9);
  });
});
