/**
 * `data.format.regions`: which object each caption word names, its box moved
 * with the crop and flip, and the token boxes a worker sends through collate
 * — on the built-in data set's own scenes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  BatchLoader,
  buildSynthDataset,
  createSampleProcessor,
  createTransformPool,
  ImageTransformConfig,
  type ProcessorSpec,
  readShards,
  SampleFormat,
  SampleStream,
  type WdsSample,
} from "../../../../core/index.ts";
import { phraseObjects, type RegionObject, sampleRegionObjects, tokenBoxes, transformedBox } from "../../../../core/data/pipeline/token-regions.ts";
import { tempDir } from "../../../helpers.ts";

const object = (box: [number, number, number, number], ...words: string[]): RegionObject => ({ box, words: new Set(words) });
const info = (crop: { left: number; top: number; width: number; height: number } | undefined, flipped: boolean) => ({
  source: { width: 64, height: 64 },
  crop,
  flipped,
  augmentations: [],
});

describe("core/data/pipeline: token regions", function () {
  this.timeout(60000);
  let tmp: ReturnType<typeof tempDir>;
  before(() => (tmp = tempDir()));
  after(() => tmp.cleanup());

  it("a phrase of attribute words names the one object it fits; one that fits several or none names nothing", () => {
    const objects = [
      object([0, 0, 8, 8], "large", "red", "circle"),
      object([8, 8, 16, 16], "small", "red", "square"),
      object([0, 8, 8, 16], "small", "blue", "square"),
    ];
    const words = "a large red circle left of a red square and a red one and a small square and a green circle".split(" ");
    assert.deepEqual(Array.from(phraseObjects(words, objects)), [-1, 0, 0, 0, -1, -1, -1, 1, 1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0]);
    // (the last: "green" is no object's word, so the phrase is "circle" alone — the set's captions are true of their scenes)
  });

  it("boxes follow the crop, the resize and the flip, in the transformed image's unit square; cropped away is none", () => {
    const crop = { left: 10, top: 0, width: 40, height: 40 };
    assert.deepEqual(transformedBox([20, 10, 30, 20], info(crop, false)), [0.25, 0.25, 0.5, 0.5]);
    assert.deepEqual(transformedBox([20, 10, 30, 20], info(crop, true)), [0.5, 0.25, 0.75, 0.5]);
    assert.deepEqual(transformedBox([0, 30, 20, 50], info(crop, false)), [0, 0.75, 0.25, 1], "clipped to the crop");
    assert.equal(transformedBox([52, 0, 60, 8], info(crop, false)), null);
    assert.deepEqual(transformedBox([16, 32, 32, 64], info(undefined, false)), [0.25, 0.5, 0.5, 1], "test mode: the whole image");
  });

  it("every token of a grounded word gets its object's box; CLS, other words and truncated tokens none", () => {
    const objects = [object([0, 0, 32, 32], "red", "circle")];
    // CLS, "a" (1 token), "red" (2 tokens), "circle" (1), then truncated at 4 tokens
    const boxes = tokenBoxes(Int32Array.of(-1, 0, 0), [2, 4, 5], objects, info(undefined, false), 4);
    const rows = Array.from({ length: 4 }, (_, t) => Array.from(boxes.subarray(t * 4, t * 4 + 4)));
    assert.ok(rows[0].every(Number.isNaN) && rows[1].every(Number.isNaN));
    assert.deepEqual(rows[2], [0, 0, 0.5, 0.5]);
    assert.deepEqual(rows[3], [0, 0, 0.5, 0.5]);
  });

  it("names the sample and field of a malformed object list", () => {
    const json = (v: unknown) => ({ json: new TextEncoder().encode(JSON.stringify({ objects: v })) });
    assert.throws(() => sampleRegionObjects(json("x"), "json:objects", "s.tar: sample k"), /s\.tar: sample k: \.json field "objects" is no list of objects/);
    assert.throws(() => sampleRegionObjects(json([{ box: [4, 0, 2, 8] }]), "json:objects", "k"), /k: objects\[0\]\.box is not \[x0, y0, x1, y1\]/);
    assert.throws(() => sampleRegionObjects({}, "json:objects", "k"), /k has no \.json member for its regions/);
  });

  it("on the built-in scenes: a grounded token's box is that of an object with its word (exactly, without a crop; no wider than the crop allows, with one); the draws are those without regions", async () => {
    const built = await buildSynthDataset({ out: join(tmp.path, "synth"), train: 24, val: 2, test: 2, pairs: 2, imageSize: 64, samplesPerShard: 12, seed: 5 });
    const samples: WdsSample[] = [];
    for await (const s of readShards(built.splits.train.shards)) samples.push(s);
    const base: ProcessorSpec = {
      image: ImageTransformConfig.parse({ size: 32, scale: [0.5, 1], randAugment: null }),
      format: SampleFormat.parse({}),
      tokenizer: { name: "wordpiece", vocab: built.vocab, maxLength: 32 },
      plugins: [],
    };
    const plain = await createSampleProcessor(base);
    const grounded = await createSampleProcessor({ ...base, format: SampleFormat.parse({ regions: "json:objects" }) });
    const vocab = (await import("node:fs")).readFileSync(built.vocab, "utf8").trim().split("\n");
    let checked = 0;
    for (const [i, s] of samples.entries()) {
      const task = { seq: i, key: s.key, url: s.url, files: s.files, seed: 100 + i };
      const a = await plain(task);
      const b = await grounded(task);
      if (!a.ok || !b.ok || !b.regions) throw new Error(`${s.key}: ${JSON.stringify(a.ok ? b : a)}`);
      const regions: Float32Array = b.regions;
      assert.equal(b.caption, a.caption, "the same caption drawn");
      assert.deepEqual(b.pixels, a.pixels, "the same augmentation drawn");
      assert.equal(a.regions, null);
      const meta = JSON.parse(new TextDecoder().decode(s.files.json)) as { objects: { box: number[]; shape: string; colour: string; size: string }[] };
      for (let t = 0; t < b.ids.length; t++) {
        const box: number[] = Array.from(regions.subarray(t * 4, t * 4 + 4));
        if (box.every(Number.isNaN)) continue;
        const word: string = vocab[b.ids[t]];
        const fits = meta.objects.filter((o) => [o.shape, o.colour, o.size].includes(word));
        assert.ok(fits.length > 0, `${s.key}: token "${word}" is no object's word`);
        // a box fully inside the crop maps to the unit square exactly; its width there is the object's width over the crop's
        const widths = fits.map((o) => (o.box[2] - o.box[0]) / 64);
        assert.ok(box[2] > box[0] && box[3] > box[1] && box.every((v) => v >= 0 && v <= 1), `${s.key}: ${box}`);
        assert.ok(
          widths.some((w) => box[2] - box[0] <= w / 0.5 + 1e-6),
          `${s.key}: "${word}" box ${box} too wide for ${widths}`,
        );
        checked++;
      }
      // every shape word of the caption names an object unless its phrase is ambiguous or cropped away
      const shapeTokens = Array.from(b.ids).filter((id) => ["circle", "square", "triangle", "diamond"].includes(vocab[id])).length;
      assert.ok(shapeTokens === 0 || checked > 0);
    }
    assert.ok(checked > 3 * samples.length, `${checked} grounded tokens in ${samples.length} captions`);
    const whole = await createSampleProcessor({
      ...base,
      image: ImageTransformConfig.parse({ size: 32, mode: "test" }),
      format: SampleFormat.parse({ regions: "json:objects" }),
    });
    let exact = 0;
    for (const [i, s] of samples.entries()) {
      const r = await whole({ seq: i, key: s.key, url: s.url, files: s.files, seed: i });
      if (!r.ok || !r.regions) throw new Error(s.key);
      const regions: Float32Array = r.regions;
      const meta = JSON.parse(new TextDecoder().decode(s.files.json)) as { objects: { box: number[]; shape: string; colour: string; size: string }[] };
      for (let t = 0; t < r.ids.length; t++) {
        const box: number[] = Array.from(regions.subarray(t * 4, t * 4 + 4));
        if (box.every(Number.isNaN)) continue;
        const word: string = vocab[r.ids[t]];
        const same = meta.objects.filter(
          (o) => [o.shape, o.colour, o.size].includes(word) && o.box.every((v, k) => Math.abs(Math.min(1, v / 64) - box[k]) < 1e-6),
        );
        assert.equal(same.length >= 1, true, `${s.key}: "${word}" → ${box}`);
        exact++;
      }
    }
    assert.ok(exact > 3 * samples.length);
  });

  it("collate pads the token boxes with NaN to the batch's length; without regions the batch has none", async () => {
    const built = await buildSynthDataset({ out: join(tmp.path, "collate"), train: 8, val: 2, test: 2, pairs: 2, imageSize: 32, samplesPerShard: 8, seed: 6 });
    const spec: ProcessorSpec = {
      image: ImageTransformConfig.parse({ size: 16, randAugment: null }),
      format: SampleFormat.parse({ regions: "json:objects" }),
      tokenizer: { name: "wordpiece", vocab: built.vocab, maxLength: 32 },
      plugins: [],
    };
    for (const regions of ["json:objects", null] as const) {
      const pool = await createTransformPool({ ...spec, format: SampleFormat.parse({ regions }) }, { threads: 0 });
      try {
        const loader = new BatchLoader(new SampleStream({ shards: built.splits.train.shards, seed: 1, shuffleBuffer: 1 }, 0), pool, {
          batchSize: 4,
          imageSize: 16,
          padId: 0,
          seed: 1,
          epoch: 0,
        });
        for await (const batch of loader.batches()) {
          if (!regions) {
            assert.equal(batch.regions, null);
            continue;
          }
          assert.ok(batch.regions);
          assert.equal(batch.regions.length, batch.batch * batch.length * 4);
          for (let i = 0; i < batch.batch * batch.length; i++) {
            if (batch.mask[i] === 0) assert.ok(Number.isNaN(batch.regions[i * 4]), `padding token ${i}`);
          }
          assert.ok(batch.regions.some((v) => !Number.isNaN(v)));
        }
      } finally {
        await pool.close();
      }
    }
  });
});
