/**
 * Sampling as ALBEF does: ALBEF's per-caption rows become one sample per image
 * whose captions share its id through build → shards → batches; with
 * `captions: each` every caption is a training sample once per epoch (and a
 * resumed epoch yields the same rest); a weighted mixture draws its sources in
 * their shares, its default weights are the sources' pairs, and it resumes.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import {
  DroppedSamples,
  captionSample,
  createTransformPool,
  DataConfig,
  type DataPosition,
  imageKeys,
  type ImageTextBatch,
  ImageTransformConfig,
  readAlbefList,
  SampleFormat,
  samplesPerTrainingEpoch,
  trainBatches,
  trainSources,
  type TransformPool,
  writeSampleRecords,
} from "../../../../core/index.ts";
import { imageIdOf } from "../../../../plugins/tasks/retrieval/task.ts";
import { tempDir } from "../../../helpers.ts";

const WORDS = ["a", "red", "blue", "green", "circle", "square", "photo", "of", "the", "one", "two", "three", "img"];

describe("core/data/pipeline: per-caption samples and mixtures", function () {
  this.timeout(120000);
  let tmp: ReturnType<typeof tempDir>;
  let pool: TransformPool;
  let vocab: string;

  before(async () => {
    tmp = tempDir();
    vocab = join(tmp.path, "vocab.txt");
    writeFileSync(vocab, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ...WORDS].join("\n") + "\n");
    const png = async (i: number) =>
      sharp({ create: { width: 12, height: 12, channels: 3, background: { r: (i * 40) % 256, g: (i * 90) % 256, b: 30 } } })
        .png()
        .toBuffer();
    // ALBEF's training file: one row per caption, image_id shared by an image's rows, rows of images interleaved
    const rows: { image: string; caption: string; image_id: string }[] = [];
    for (let c = 0; c < 3; c++)
      for (let i = 0; i < 6; i++) rows.push({ image: `img${i}.png`, caption: `${WORDS[1 + c]} photo ${WORDS[9 + (i % 3)]} img`, image_id: `coco_${i}` });
    for (let i = 0; i < 6; i++) writeFileSync(join(tmp.path, `img${i}.png`), await png(i));
    writeFileSync(join(tmp.path, "coco_train.json"), JSON.stringify(rows));
    const list = readAlbefList(join(tmp.path, "coco_train.json"));
    await writeSampleRecords(
      list.map((r, i) => captionSample(r, `record ${i}`)),
      { pattern: join(tmp.path, "coco", "c-%06d.tar"), maxcount: 4, maxsize: 1e9, onError: "fail", warn: () => {} },
    );
    // two sources for the mixtures: 60 and 20 single-caption samples
    for (const [name, n] of [
      ["a", 60],
      ["b", 20],
    ] as const) {
      const recs = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const file = join(tmp.path, `${name}${i}.png`);
          writeFileSync(file, await png(i));
          return captionSample({ image: file, captions: [`${name === "a" ? "red" : "blue"} circle`], meta: {} }, `${name} ${i}`);
        }),
      );
      await writeSampleRecords(recs, { pattern: join(tmp.path, name, `${name}-%06d.tar`), maxcount: 16, maxsize: 1e9, onError: "fail", warn: () => {} });
    }
    pool = await createTransformPool(
      {
        image: ImageTransformConfig.parse({ size: 8, randAugment: null }),
        format: SampleFormat.parse({ text: "json:captions" }),
        tokenizer: { name: "wordpiece", vocab, maxLength: 16 },
        plugins: [],
      },
      { threads: 0 },
    );
  });
  after(async () => {
    await pool?.close();
    tmp?.cleanup();
  });

  const data = (over: Record<string, unknown>) =>
    DataConfig.parse({ batchSize: 3, shuffle: 5, format: { text: "json:captions" }, image: { size: 8, randAugment: null }, ...over });

  async function epoch(d: DataConfig, e = 0, position?: DataPosition, stopAfter = Infinity): Promise<ImageTextBatch[]> {
    const out: ImageTextBatch[] = [];
    for await (const b of trainBatches(d, trainSources(d), pool, 7, e, 0, position, new DroppedSamples())) {
      out.push(b);
      if (out.length >= stopAfter) break;
    }
    return out;
  }
  const pairs = (bs: ImageTextBatch[]) => bs.flatMap((b) => b.keys.map((k, i) => `${k}|${b.captions[i]}`));

  it("ALBEF's rows → one sample per image with its three captions and one id; pairs.json counts the pairs", async () => {
    const d = data({ train: join(tmp.path, "coco", "c-{000000..000001}.tar") });
    assert.equal(trainSources(d)[0].samples, 6);
    const each = data({ train: join(tmp.path, "coco", "c-{000000..000001}.tar"), captions: "each" });
    assert.equal(trainSources(each)[0].samples, 18);
    assert.equal(samplesPerTrainingEpoch(each, trainSources(each)), 18);
    // draw: one caption per image per epoch
    const drawn = await epoch(d);
    assert.equal(pairs(drawn).length, 6);
  });

  it("captions: each — every caption of every image is trained on once an epoch; an image's captions carry its id into the batches", async () => {
    const d = data({ train: join(tmp.path, "coco", "c-{000000..000001}.tar"), captions: "each" });
    const batches = await epoch(d);
    const seen = pairs(batches);
    assert.equal(seen.length, 18);
    assert.equal(new Set(seen).size, 18, "each pair once");
    const byKey = new Map<string, Set<string>>();
    for (const p of seen) {
      const [k, c] = p.split("|");
      byKey.set(k, (byKey.get(k) ?? new Set()).add(c));
    }
    assert.equal(byKey.size, 6);
    for (const [k, caps] of byKey) {
      assert.equal(caps.size, 3, `${k}: all three captions`);
      assert.equal(new Set([...caps].map(() => imageIdOf(k))).size, 1);
    }
    // retrieval's ids: the copies of an image are one id, other images other ids
    const ids = new Set(batches.flatMap((b) => b.keys.map(imageIdOf)));
    assert.equal(ids.size, 6);
    // copies are shuffled apart rather than delivered back to back
    assert.ok(
      batches.some((b) => new Set(b.keys).size === b.keys.length),
      "some batch holds three different images",
    );
    assert.throws(
      () => trainBatches(data({ train: d.train, captions: "each", format: { text: "txt" } }), trainSources(d), pool, 7, 0, 0, undefined, new DroppedSamples()),
      /json:FIELD/,
    );
  });

  it("captions: each through worker threads — every copy of a sample reaches its worker with the sample's bytes", async () => {
    // the pool transfers a task's bytes to the worker; copies sharing one buffer failed from the second on ("Unable to deserialize cloned data")
    const threaded = await createTransformPool(
      {
        image: ImageTransformConfig.parse({ size: 8, randAugment: null }),
        format: SampleFormat.parse({ text: "json:captions" }),
        tokenizer: { name: "wordpiece", vocab, maxLength: 16 },
        plugins: [],
      },
      { threads: 1 },
    );
    try {
      const d = data({ train: join(tmp.path, "coco", "c-{000000..000001}.tar"), captions: "each" });
      const dropped = new DroppedSamples();
      const seen: string[] = [];
      for await (const b of trainBatches(d, trainSources(d), threaded, 7, 0, 0, undefined, dropped))
        seen.push(...b.keys.map((k, i) => `${k}|${b.captions[i]}`));
      assert.deepEqual(dropped.summary(), { samples: 0, by_reason: {}, shards: {} }, "nothing dropped");
      assert.equal(new Set(seen).size, 18);
    } finally {
      await threaded.close();
    }
  });

  it("a per-caption epoch resumed from a batch's position yields the same rest", async () => {
    const d = data({ train: join(tmp.path, "coco", "c-{000000..000001}.tar"), captions: "each" });
    const whole = await epoch(d, 1);
    const head = await epoch(d, 1, undefined, 2);
    const rest = await epoch(d, 1, head[1].position);
    assert.deepEqual(pairs([...head, ...rest]), pairs(whole));
    assert.deepEqual(
      [...head, ...rest].map((b) => Array.from(b.images.slice(0, 5))),
      whole.map((b) => Array.from(b.images.slice(0, 5))),
      "the same augmentations",
    );
  });

  it("a 3:1 mixture yields ~3:1 samples; default weights are the sources' pairs; per-source names are checked", async () => {
    const a = join(tmp.path, "a", "a-{000000..000003}.tar");
    const b = join(tmp.path, "b", "b-{000000..000001}.tar");
    const weighted = data({
      train: [
        { shards: a, weight: 3, name: "a" },
        { shards: b, weight: 1, name: "b" },
      ],
      samplesPerEpoch: 600,
    });
    const counts = (bs: ImageTextBatch[]) => {
      const out: Record<string, number> = {};
      for (const s of bs.flatMap((x) => x.sources)) out[s] = (out[s] ?? 0) + 1;
      return out;
    };
    const c = counts(await epoch(weighted));
    assert.equal(c.a + c.b, 600);
    assert.ok(c.a / c.b > 2.5 && c.a / c.b < 3.6, `3:1 drawn as ${c.a}:${c.b}`);
    const byPairs = data({ train: [{ shards: a }, { shards: b }] });
    const sources = trainSources(byPairs);
    assert.deepEqual(
      sources.map((s) => [s.name, s.weight]),
      [
        ["source1", 60],
        ["source2", 20],
      ],
    );
    assert.equal(samplesPerTrainingEpoch(byPairs, sources), 80, "one pass over each, in all");
    const d = counts(await epoch(byPairs));
    assert.equal(d.source1 + d.source2, 78, "80 samples, batches of 3");
    assert.throws(
      () =>
        trainSources(
          data({
            train: [
              { shards: a, name: "x" },
              { shards: b, name: "x" },
            ],
          }),
        ),
      /the name x is taken/,
    );
    assert.throws(() => trainSources(data({ train: [{ shards: a }], resampled: true })), /already draws its sources/);
  });

  it("in a mixture an image is named by source and key: two sources' equal keys are two images (retrieval ids)", () => {
    const keys = imageKeys({ keys: ["123", "123", "7"], sources: ["coco", "vg", "coco"] });
    assert.deepEqual(keys, ["coco/123", "vg/123", "coco/7"]);
    assert.notEqual(imageIdOf(keys[0]), imageIdOf(keys[1]));
    assert.deepEqual(imageKeys({ keys: ["123"], sources: [""] }), ["123"], "one source: the bare key, as before");
  });

  it("a mixture resumed from a batch's position yields the same rest, sources and all", async () => {
    const a = join(tmp.path, "a", "a-{000000..000003}.tar");
    const b = join(tmp.path, "b", "b-{000000..000001}.tar");
    const d = data({
      train: [
        { shards: a, weight: 1 },
        { shards: b, weight: 2 },
      ],
      samplesPerEpoch: 90,
    });
    const whole = await epoch(d, 2);
    const head = await epoch(d, 2, undefined, 11);
    const rest = await epoch(d, 2, head[10].position);
    const seq = (bs: ImageTextBatch[]) => bs.flatMap((x) => x.keys.map((k, i) => `${x.sources[i]}:${k}`));
    assert.deepEqual(seq([...head, ...rest]), seq(whole));
    assert.ok(seq(whole).filter((s) => s.startsWith("source2:")).length > 40, "source 2 (20 samples, weight 2) is read in several passes");
  });
});
