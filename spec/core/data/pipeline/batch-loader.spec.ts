import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import sharp from "sharp";
import { CORE_API_MODULE } from "../../../../plugins/index.ts";
import {
  BatchLoader,
  createTransformPool,
  ImageTransformConfig,
  type ImageTextBatch,
  type LoaderProblem,
  type ProcessorSpec,
  SampleFormat,
  SampleStream,
  sampleSeed,
  type SampleStreamOptions,
  ShardWriter,
  type StreamPosition,
  type TransformPool,
  WorkerPoolError,
} from "../../../../core/index.ts";
import { tempDir } from "../../../helpers.ts";

const WORDS = ["a", "red", "blue", "green", "circle", "square", "left", "of", "the", "crash"];

async function solidJpeg(r: number, g: number, b: number): Promise<Uint8Array> {
  return new Uint8Array(
    await sharp({ create: { width: 24, height: 20, channels: 3, background: { r, g, b } } })
      .jpeg()
      .toBuffer(),
  );
}

async function collectBatches(loader: BatchLoader): Promise<ImageTextBatch[]> {
  const out: ImageTextBatch[] = [];
  for await (const b of loader.batches()) out.push(b);
  return out;
}

describe("core/data/pipeline: worker pool and batches", function () {
  this.timeout(120000);
  let tmp: ReturnType<typeof tempDir>;
  let shards: string[];
  let spec: ProcessorSpec;
  const pools: TransformPool[] = [];

  before(async () => {
    tmp = tempDir();
    const vocab = join(tmp.path, "vocab.txt");
    writeFileSync(vocab, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ...WORDS].join("\n") + "\n");
    const w = new ShardWriter({ pattern: join(tmp.path, "t-%06d.tar"), maxcount: 8 });
    for (let i = 0; i < 20; i++) {
      const files: Record<string, Uint8Array | string> = {
        jpg: await solidJpeg((i * 37) % 256, (i * 91) % 256, (i * 13) % 256),
        txt: `A red circle, left of ${"the blue square ".repeat(1 + (i % 3))}`,
      };
      if (i === 5) files.jpg = (files.jpg as Uint8Array).subarray(0, 40); // corrupt JPEG
      if (i === 9) delete files.jpg; // no image
      if (i === 13) files.txt = new Uint8Array([0x61, 0xff, 0xfe]); // not UTF-8
      await w.write({ key: `s${String(i).padStart(3, "0")}`, files });
    }
    shards = (await w.close()).map((s) => s.file);
    spec = {
      image: ImageTransformConfig.parse({ size: 16 }),
      format: SampleFormat.parse({}),
      tokenizer: { name: "wordpiece", vocab, maxLength: 8 },
      plugins: [],
    };
  });
  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
    tmp.cleanup();
  });

  async function pool(threads: number, s = spec, taskTimeoutMs?: number): Promise<TransformPool> {
    const p = await createTransformPool(s, { threads, taskTimeoutMs });
    pools.push(p);
    return p;
  }

  const streamOpts = (): SampleStreamOptions => ({ shards, seed: 7, shuffleBuffer: 6 });

  it("collates transformed samples into batches; bad samples are dropped and reported with shard and key", async () => {
    const problems: LoaderProblem[] = [];
    const loader = new BatchLoader(new SampleStream(streamOpts(), 0), await pool(0), {
      batchSize: 4,
      imageSize: 16,
      padId: 0,
      seed: 1,
      epoch: 0,
      onProblem: (p) => problems.push(p),
    });
    const batches = await collectBatches(loader);
    assert.equal(batches.length, 4, "17 good samples → 4 full batches (the last one dropped)");
    const b = batches[0];
    assert.equal(b.images.length, 4 * 3 * 16 * 16);
    assert.equal(b.ids.length, b.batch * b.length);
    for (let r = 0; r < b.batch; r++) {
      assert.equal(b.ids[r * b.length], 2, "each row starts with [CLS]");
      const n = b.mask.subarray(r * b.length, (r + 1) * b.length).reduce((x, y) => x + y, 0);
      assert.ok(
        b.ids.subarray(r * b.length + n, (r + 1) * b.length).every((v) => v === 0),
        "padding after the mask",
      );
    }
    assert.ok(b.length <= 8, "maxLength 8 incl. [CLS]");
    assert.deepEqual(loader.stats, { pulled: 20, delivered: 16, failed: 3 });
    assert.deepEqual(problems.map((p) => p.key).sort(), ["s005", "s009", "s013"]);
    const reasons = Object.fromEntries(problems.map((p) => [p.key, p.reason]));
    assert.match(reasons.s005, /t-000000\.tar: sample s005\.jpg: cannot (decode|read) the image/);
    assert.match(reasons.s009, /sample s009 has no image member/);
    assert.match(reasons.s013, /\.txt is not valid UTF-8/);
    assert.ok(problems.every((p) => p.shard.endsWith(".tar")));
  });

  it("the sample error policy: fail stops at the first bad sample naming shard, key and reason; skip counts by kind; mostly bad data stops the run", async () => {
    const opts = { batchSize: 4, imageSize: 16, padId: 0, seed: 1, epoch: 0 };
    const failing = new BatchLoader(new SampleStream(streamOpts(), 0), await pool(0), { ...opts, onError: "fail" });
    await assert.rejects(collectBatches(failing), /sample s0(05|09|13) of .*t-00000[0-2]\.tar: .*\(data\.onError: fail; skip to go on without it\)/);
    const skipping = new BatchLoader(new SampleStream(streamOpts(), 0), await pool(0), opts);
    await collectBatches(skipping);
    const kinds = Object.fromEntries([...skipping.failedByKind].sort());
    const jpeg = Object.keys(kinds).find((k) => k.startsWith(".jpg"));
    assert.match(jpeg ?? "", /^\.jpg: cannot (decode|read) the image$/, "the decoder's own detail left out");
    assert.deepEqual(kinds, { [jpeg as string]: 1, "has no image member (.jpg/.jpeg/.png/.webp)": 1, ".txt is not valid UTF-8": 1 });
    // 3 of 20 bad: over a tenth
    const strict = new BatchLoader(new SampleStream(streamOpts(), 0), await pool(0), { ...opts, maxSkipFraction: 0.1 });
    await assert.rejects(collectBatches(strict), /3 of the first 20 samples could not be made, more than data\.maxSkipFraction 0\.1: 1 × /);
    const lenient = new BatchLoader(new SampleStream(streamOpts(), 0), await pool(0), { ...opts, maxSkipFraction: 0.2 });
    assert.equal((await collectBatches(lenient)).length, 4);
  });

  it("text negatives (format.negatives): one drawn per sample after the other draws, padded rows, valid only where the sample has one", async () => {
    const w = new ShardWriter({ pattern: join(tmp.path, "neg-%06d.tar"), maxcount: 8 });
    const lists = [["red"], ["blue", "green"], [], ["square"]];
    for (let i = 0; i < 8; i++) {
      const files: Record<string, Uint8Array | string> = {
        jpg: await solidJpeg(10 * i, 0, 0),
        txt: "a red circle",
        json: JSON.stringify({ negatives: lists[i % 4] }),
      };
      await w.write({ key: `n${i}`, files });
    }
    const negShards = (await w.close()).map((x) => x.file);
    const run = async (format: Record<string, unknown>) => {
      const p = await pool(0, { ...spec, format: SampleFormat.parse(format) });
      const loader = new BatchLoader(new SampleStream({ shards: negShards, seed: 3, shuffleBuffer: 1 }, 0), p, {
        batchSize: 8,
        imageSize: 16,
        padId: 0,
        seed: 1,
        epoch: 0,
      });
      return (await collectBatches(loader))[0];
    };
    const plain = await run({});
    const withNeg = await run({ negatives: "json:negatives" });
    assert.equal(plain.negatives, null);
    assert.deepEqual(withNeg.images, plain.images, "the negatives' draw comes after the image transform's");
    assert.deepEqual(withNeg.ids, plain.ids);
    const n = withNeg.negatives!;
    const word = { red: 6, blue: 7, green: 8, square: 10 } as Record<string, number>;
    for (let i = 0; i < withNeg.batch; i++) {
      const list = lists[Number(withNeg.keys[i].slice(1)) % 4];
      assert.equal(n.valid[i], list.length > 0 ? 1 : 0, withNeg.keys[i]);
      const row = Array.from(n.ids.subarray(i * n.length, (i + 1) * n.length));
      if (list.length === 0) assert.ok(row.every((v) => v === 0));
      else {
        assert.equal(row[0], 2, "[CLS] first");
        assert.ok(list.map((x) => word[x]).includes(row[1]), `${withNeg.keys[i]}: ${row} from ${list}`);
        const tokens = n.mask.subarray(i * n.length, (i + 1) * n.length).reduce((a, x) => a + x, 0);
        assert.ok(row.slice(tokens).every((v) => v === 0) && row.slice(0, tokens).every((v) => v !== 0), `${row}: padding after the ${tokens} tokens`);
      }
    }
  });

  it("per-caption text negatives (a list per caption): the drawn caption's own list; a list short of the drawn caption is a bad sample, named", async () => {
    // the caption each sample draws depends on the shard's path (a temp folder): 10 samples of each kind make
    // "every full one drew the same caption" and "no short one drew past its list" about 1e-5 each
    const w = new ShardWriter({ pattern: join(tmp.path, "capneg-%06d.tar"), maxcount: 20 });
    // caption k's negatives are all word k + 6 (red, blue, green)
    const captions = ["a red circle", "a blue circle", "a green circle"];
    const perCaption = [["red"], ["blue"], ["green"]];
    for (let i = 0; i < 20; i++) {
      const json = { captions, caption_negatives: i >= 10 ? perCaption.slice(0, 1) : perCaption };
      await w.write({ key: `c${i}`, files: { jpg: await solidJpeg(10 * i, 0, 0), json: JSON.stringify(json) } });
    }
    const shards = (await w.close()).map((x) => x.file);
    const format = SampleFormat.parse({ text: "json:captions", negatives: "json:caption_negatives" });
    const p = await pool(0, { ...spec, format });
    const problems: LoaderProblem[] = [];
    const loader = new BatchLoader(new SampleStream({ shards, seed: 5, shuffleBuffer: 1 }, 0), p, {
      batchSize: 1,
      imageSize: 16,
      padId: 0,
      seed: 2,
      epoch: 0,
      onError: "skip",
      onProblem: (x) => problems.push(x),
    });
    const drawn = new Set<number>();
    let rows = 0;
    for (const b of await collectBatches(loader)) {
      for (let i = 0; i < b.batch; i++, rows++) {
        const captionWord = b.ids[i * b.length + 2];
        assert.equal(b.negatives!.ids[i * b.negatives!.length + 1], captionWord, `${b.keys[i]}: the negative is not its caption's`);
        drawn.add(captionWord);
      }
    }
    assert.equal(rows + problems.length, 20);
    assert.ok(drawn.size >= 2, "draws pick different captions");
    // c10..c19 carry negatives for their first caption only: a draw of another caption is a bad sample, named
    assert.ok(problems.length >= 1, "one of c10..c19 drew a caption without negatives");
    for (const x of problems) assert.match(x.reason, /c1\d: \.json field "caption_negatives" has negatives for 1 caption\(s\), not for caption [12]/);
  });

  it("worker threads (Piscina on Node, Web Workers on Deno) produce exactly the batches the inline pool does", async () => {
    const inline = await collectBatches(
      new BatchLoader(new SampleStream(streamOpts(), 1), await pool(0), { batchSize: 4, imageSize: 16, padId: 0, seed: 1, epoch: 1 }),
    );
    const threaded = await pool(2);
    assert.equal(threaded.kind, typeof (globalThis as { Deno?: unknown }).Deno === "undefined" ? "piscina" : "web-worker");
    const par = await collectBatches(
      new BatchLoader(new SampleStream(streamOpts(), 1), threaded, { batchSize: 4, imageSize: 16, padId: 0, seed: 1, epoch: 1, maxInFlight: 6 }),
    );
    assert.equal(par.length, inline.length);
    par.forEach((b, i) => {
      assert.deepEqual(b.keys, inline[i].keys);
      assert.deepEqual(b.ids, inline[i].ids);
      assert.deepEqual(b.images, inline[i].images);
    });
  });

  it("augmentation seeds depend on the shard's name and the key, not on where the checkout lives", async () => {
    assert.equal(sampleSeed(1, 0, "/home/a/polyalign/shards/synth/train-000000.tar", "k7"), sampleSeed(1, 0, "/tmp/b/shards/synth/train-000000.tar", "k7"));
    assert.equal(sampleSeed(1, 0, "https://mirror/x/synth/train-000000.tar?sig=1", "k7"), sampleSeed(1, 0, "synth/train-000000.tar", "k7"));
    assert.notEqual(sampleSeed(1, 0, "synth/train-000000.tar", "k7"), sampleSeed(1, 0, "synth/train-000001.tar", "k7"));
    assert.notEqual(sampleSeed(1, 0, "synth/train-000000.tar", "k7"), sampleSeed(1, 1, "synth/train-000000.tar", "k7"));
    // the same shards copied under another root give the same training batches (random crops, flips and all)
    const copies = ["a", "b"].map((root) => {
      const dir = join(tmp.path, root, "data");
      mkdirSync(dir, { recursive: true });
      return shards.map((f) => {
        const to = join(dir, basename(f));
        copyFileSync(f, to);
        return to;
      });
    });
    const train = await pool(0, { ...spec, image: ImageTransformConfig.parse({ size: 16, mode: "train" }) });
    const [x, y] = await Promise.all(
      copies.map(async (c) =>
        collectBatches(
          new BatchLoader(new SampleStream({ shards: c, seed: 7, shuffleBuffer: 6 }, 0), train, { batchSize: 4, imageSize: 16, padId: 0, seed: 1, epoch: 0 }),
        ),
      ),
    );
    assert.equal(x.length, y.length);
    x.forEach((b, i) => assert.deepEqual(b.images, y[i].images));
  });

  it("a batch's position resumes the loader at the next batch", async () => {
    const p = await pool(0);
    const opts = { batchSize: 3, imageSize: 16, padId: 0, seed: 1, epoch: 2, dropLast: false };
    const all = await collectBatches(new BatchLoader(new SampleStream(streamOpts(), 2), p, opts));
    const saved = JSON.parse(JSON.stringify(all[1].position)) as StreamPosition;
    const rest = await collectBatches(new BatchLoader(new SampleStream(streamOpts(), 2, saved), p, opts));
    assert.deepEqual(
      rest.map((b) => b.keys),
      all.slice(2).map((b) => b.keys),
    );
    assert.deepEqual(rest[0].images, all[2].images);
  });

  it("a worker that dies or hangs mid-task costs that sample only (a hung one is replaced after the timeout); a worker that cannot load is a fatal error", async () => {
    const crashy = join(tmp.path, "crashy-tokenizer.mjs");
    writeFileSync(
      crashy,
      `export default function (registry, polyalign) {
  registry.registerPlugin({ kind: polyalign.Tokenizer, name: "crashy", schema: polyalign.z.strictObject({ vocab: polyalign.z.string() }),
    create: (cfg) => { const inner = new polyalign.WordPieceTokenizer({ vocab: cfg.vocab, lowercase: true, albef: true, maxLength: 8 });
      return { vocabSize: inner.vocabSize, special: inner.special, decode: (i) => inner.decode(i),
        encode: (texts, o) => { if (texts.some((t) => t.includes("crash"))) process.exit(3); return inner.encode(texts, o); } }; } });
}\n`,
    );
    const w = new ShardWriter({ pattern: join(tmp.path, "crash-%06d.tar") });
    for (let i = 0; i < 6; i++) await w.write({ key: `c${i}`, files: { jpg: await solidJpeg(10 * i, 0, 0), txt: i === 2 ? "a crash" : "a red circle" } });
    const crashShards = (await w.close()).map((s) => s.file);
    const crashSpec: ProcessorSpec = {
      ...spec,
      tokenizer: { name: "crashy", vocab: (spec.tokenizer as { vocab: string }).vocab },
      plugins: [crashy],
      apiModule: CORE_API_MODULE,
    };
    const problems: LoaderProblem[] = [];
    const loader = new BatchLoader(new SampleStream({ shards: crashShards, seed: 1, shuffle: false }, 0), await pool(1, crashSpec, 5000), {
      batchSize: 1,
      imageSize: 16,
      padId: 0,
      seed: 1,
      epoch: 0,
      maxInFlight: 1,
      onProblem: (p) => problems.push(p),
    });
    const keys = (await collectBatches(loader)).map((b) => b.keys[0]);
    assert.deepEqual(keys, ["c0", "c1", "c3", "c4", "c5"]);
    assert.equal(problems.length, 1);
    assert.match(problems[0].reason, /data worker died/);

    // a worker stuck in a loop (a plugin's, a decoder's): that sample fails after the timeout, the worker is replaced, the rest go on
    const stuck = join(tmp.path, "stuck-tokenizer.mjs");
    writeFileSync(stuck, readFileSync(crashy, "utf8").replace('"crashy"', '"stuck"').replace("process.exit(3);", "for (;;);"));
    const stuckSpec: ProcessorSpec = { ...crashSpec, tokenizer: { ...crashSpec.tokenizer, name: "stuck" }, plugins: [stuck] };
    const stuckProblems: LoaderProblem[] = [];
    const stuckLoader = new BatchLoader(new SampleStream({ shards: crashShards, seed: 1, shuffle: false }, 0), await pool(1, stuckSpec, 3000), {
      batchSize: 1,
      imageSize: 16,
      padId: 0,
      seed: 1,
      epoch: 0,
      maxInFlight: 1,
      onProblem: (p) => stuckProblems.push(p),
    });
    assert.deepEqual(
      (await collectBatches(stuckLoader)).map((b) => b.keys[0]),
      ["c0", "c1", "c3", "c4", "c5"],
    );
    assert.deepEqual(
      stuckProblems.map((p) => p.key),
      ["c2"],
    );
    assert.match(stuckProblems[0].reason, /data worker (gave no answer within 3000 ms \(stopped and replaced|died: no answer within 3000 ms)/);

    const broken: ProcessorSpec = { ...spec, plugins: [join(tmp.path, "no-such-plugin.mjs")] };
    await assert.rejects(
      createTransformPool(broken, { threads: 1, startTimeoutMs: 30000 }),
      (e: unknown) => e instanceof WorkerPoolError && /a data worker failed to load: .*no-such-plugin\.mjs/.test((e as Error).message),
    );
  });
});
