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
      0.3, // caption 2: a tie with the wrong image 0, ranked behind it (pessimistic) → image 1 second
    ]);
    const m = galleryRetrievalMetrics(i2t, t2i, textImage, 2);
    assert.deepEqual(m.i2t, { r1: 50, r5: 100, r10: 100 });
    assert.ok(Math.abs(m.t2i.r1 - 100 / 3) < 1e-9);
    assert.equal(m.t2i.r5, 100);
    assert.equal(m.images, 2);
    assert.equal(m.texts, 3);
    assert.deepEqual(m.ties, { i2t: 0, t2i: 1 });
    assert.throws(() => galleryRetrievalMetrics(i2t, t2i, Int32Array.from([0, 0, 2]), 2), /caption 2 points at image 2/);
  });

  it("ties: a caption identical to an image's own is correct for it; other exact ties rank the wrong answer first; the order of the gallery does not matter", () => {
    // 3 images, one caption each; captions 1 and 2 are the same text ("b"), so they score alike everywhere
    const keys = ["a", "b", "b"];
    const i2t = Float32Array.from([0.9, 0.2, 0.2, 0.1, 0.7, 0.7, 0.1, 0.6, 0.6]);
    const t2i = new Float32Array(9);
    for (let i = 0; i < 3; i++) for (let t = 0; t < 3; t++) t2i[t * 3 + i] = i2t[i * 3 + t];
    const withKeys = galleryRetrievalMetrics(i2t, t2i, Int32Array.from([0, 1, 2]), 3, keys);
    // image 2's best correct caption is 1 or 2 (both "b"): first; caption 2 → images 1 and 2 both correct: image 1 first
    assert.deepEqual(withKeys.i2t, { r1: 100, r5: 100, r10: 100 });
    assert.deepEqual(withKeys.t2i, { r1: 100, r5: 100, r10: 100 });
    assert.equal(withKeys.sharedTexts, 2);
    assert.deepEqual(withKeys.ties, { i2t: 0, t2i: 0 });
    // without the texts: the identical captions are exact ties, ranked behind — whichever comes first in the gallery
    const blind = galleryRetrievalMetrics(i2t, t2i, Int32Array.from([0, 1, 2]), 3);
    assert.ok(Math.abs(blind.i2t.r1 - 100 / 3) < 1e-9, "images 1 and 2 each tie their caption with the other's");
    assert.deepEqual(blind.ties, { i2t: 2, t2i: 0 });
    // the same gallery in another order gives the same figures
    const perm = [2, 0, 1];
    const pI2t = new Float32Array(9);
    for (let i = 0; i < 3; i++) for (let t = 0; t < 3; t++) pI2t[i * 3 + t] = i2t[perm[i] * 3 + perm[t]];
    const pT2i = new Float32Array(9);
    for (let i = 0; i < 3; i++) for (let t = 0; t < 3; t++) pT2i[t * 3 + i] = pI2t[i * 3 + t];
    const moved = galleryRetrievalMetrics(pI2t, pT2i, Int32Array.from([0, 1, 2]), 3);
    assert.deepEqual([moved.i2t, moved.t2i, moved.ties], [blind.i2t, blind.t2i, blind.ties]);
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
