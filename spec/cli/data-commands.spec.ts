import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { createLogger, readShards, ShardWriter, type WdsSample } from "../../core/index.ts";
import { runCli } from "../../cli/main.ts";
import { sharedPathOrSkip, tempDir } from "../helpers.ts";

async function cli(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await runCli(argv, { out: (l) => lines.push(l), log: createLogger({ level: "error" }) });
  return { code, out: lines.join("\n") };
}

async function readAll(shard: string): Promise<WdsSample[]> {
  const out: WdsSample[] = [];
  for await (const s of readShards([shard])) out.push(s);
  return out;
}

describe("core/cli data commands: synth, shards build/inspect/verify, tokenize", function () {
  this.timeout(60000);
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(() => tmp.cleanup());

  it("synth builds the data set once and keeps it; inspect --json counts it", async () => {
    const out = join(tmp.path, "synth");
    const a = await cli("synth", "--out", out, "--train", "30", "--val", "5", "--test", "5", "--pairs", "4", "--size", "32");
    assert.equal(a.code, 0, a.out);
    assert.match(a.out, /train\s+30 samples in 1 shard/);
    const again = await cli("synth", "--out", out, "--train", "30", "--val", "5", "--test", "5", "--pairs", "4", "--size", "32");
    assert.match(again.out, /already there/);
    const inspect = await cli("shards", "inspect", `${join(out, "train-000000.tar")}::${join(out, "val-000000.tar")}`, "--json");
    assert.deepEqual(JSON.parse(inspect.out), { shards: 2, samples: 35, extensions: { jpg: 35, json: 35, txt: 35 } });
    const bad = await cli("synth", "--train", "many");
    assert.equal(bad.code, 2);
    assert.match(bad.out, /--train must be an integer/);
    const other = await cli("synth", "--out", out, "--train", "30", "--val", "5", "--test", "5", "--pairs", "4", "--size", "32", "--objects", "2");
    assert.doesNotMatch(other.out, /already there/, "another object range is another set");
    assert.deepEqual(JSON.parse(readFileSync(join(out, "meta.json"), "utf8")).objects, [2, 2]);
    const badRange = await cli("synth", "--objects", "3-2");
    assert.equal(badRange.code, 2);
    assert.match(badRange.out, /--objects must be N or MIN-MAX within 1–8, got "3-2"/);
  });

  it("shards build reads ALBEF lists and CSV files, skips missing images (or fails with --on-error fail)", async () => {
    const img = join(tmp.path, "a.b.jpg");
    writeFileSync(
      img,
      await sharp({ create: { width: 8, height: 8, channels: 3, background: "red" } })
        .jpeg()
        .toBuffer(),
    );
    writeFileSync(
      join(tmp.path, "list.json"),
      JSON.stringify([
        { image: "a.b.jpg", caption: ["one", "two"] },
        { image: "missing.jpg", caption: "x" },
        { image: "a.b.jpg", caption: "again" },
      ]),
    );
    const r = await cli("shards", "build", "--out", join(tmp.path, "out", "s-%03d.tar"), "--albef", join(tmp.path, "list.json"));
    assert.equal(r.code, 0, r.out);
    // the rows of one image are one sample with all its captions (one image id, every caption kept)
    assert.match(r.out, /wrote 1 samples in 1 shard\(s\); skipped 1/);
    const inspect = await cli("shards", "inspect", join(tmp.path, "out"));
    assert.match(inspect.out, /first keys: a_b$/m);
    const [sample] = await readAll(join(tmp.path, "out", "s-000.tar"));
    assert.deepEqual((JSON.parse(new TextDecoder().decode(sample.files.json)) as { captions: string[] }).captions, ["one", "two", "again"]);
    // ALBEF's training rows carry image_id: rows with one id are one sample, the id kept in its JSON; a clash is an error naming the entry
    writeFileSync(
      join(tmp.path, "ids.json"),
      JSON.stringify([
        { image: "a.b.jpg", caption: "first", image_id: "coco_7" },
        { image: "a.b.jpg", caption: "second", image_id: "coco_7" },
      ]),
    );
    const ids = await cli("shards", "build", "--out", join(tmp.path, "ids", "s-%03d.tar"), "--albef", join(tmp.path, "ids.json"));
    assert.match(ids.out, /wrote 1 samples/);
    const [withId] = await readAll(join(tmp.path, "ids", "s-000.tar"));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(withId.files.json)), { captions: ["first", "second"], file: "a.b.jpg", image_id: "coco_7" });
    writeFileSync(
      join(tmp.path, "clash.json"),
      JSON.stringify([
        { image: "a.b.jpg", caption: "x", image_id: 1 },
        { image: "other.jpg", caption: "y", image_id: 1 },
      ]),
    );
    const clash = await cli("shards", "build", "--out", join(tmp.path, "clash", "s-%03d.tar"), "--albef", join(tmp.path, "clash.json"));
    assert.notEqual(clash.code, 0);
    assert.match(clash.out, /entry 1: image_id 1 names other\.jpg, an earlier entry a\.b\.jpg/);
    const strict = await cli("shards", "build", "--out", join(tmp.path, "out2", "s-%03d.tar"), "--albef", join(tmp.path, "list.json"), "--on-error", "fail");
    assert.equal(strict.code, 1, "a data problem, not a usage one");
    assert.match(strict.out, /list\.json: record 1: .*missing\.jpg: image file not found/);
    writeFileSync(join(tmp.path, "pairs.csv"), 'image,caption\na.b.jpg,"a red, square image"\n');
    const csv = await cli("shards", "build", "--out", join(tmp.path, "csv", "c-%03d.tar"), "--csv", join(tmp.path, "pairs.csv"));
    assert.match(csv.out, /wrote 1 samples/);
    // CC3M's layout: caption TAB image, no header; or columns named
    writeFileSync(join(tmp.path, "cc3m.tsv"), "a red square\ta.b.jpg\nanother caption\tmissing.jpg\n");
    const tsv = await cli("shards", "build", "--out", join(tmp.path, "tsv", "t-%03d.tar"), "--tsv", join(tmp.path, "cc3m.tsv"));
    assert.match(tsv.out, /wrote 1 samples in 1 shard\(s\); skipped 1/);
    const [fromTsv] = await readAll(join(tmp.path, "tsv", "t-000.tar"));
    assert.equal(new TextDecoder().decode(fromTsv.files.txt), "a red square");
    writeFileSync(join(tmp.path, "sbu.tsv"), "image\tcaption\na.b.jpg\tone caption\n");
    const named = await cli("shards", "build", "--out", join(tmp.path, "tsv2", "t-%03d.tar"), "--tsv", join(tmp.path, "sbu.tsv"), "--columns", "image,caption");
    assert.match(named.out, /wrote 1 samples/);
    const badTsv = await cli("shards", "build", "--out", join(tmp.path, "tsv3", "t-%03d.tar"), "--tsv", join(tmp.path, "sbu.tsv"), "--columns", "url,text");
    assert.match(badTsv.out, /--columns must name "image" and "caption"/);
    const none = await cli("shards", "build", "--out", join(tmp.path, "x-%d.tar"));
    assert.match(none.out, /exactly one of --coco, --albef, --csv/);
  });

  it("shards verify decodes everything and lists bad samples with exit code 1", async () => {
    const w = new ShardWriter({ pattern: join(tmp.path, "v-%06d.tar") });
    const jpg = new Uint8Array(
      await sharp({ create: { width: 8, height: 8, channels: 3, background: "blue" } })
        .jpeg()
        .toBuffer(),
    );
    await w.write({ key: "good", files: { jpg, txt: "fine", json: "{}" } });
    await w.write({ key: "badimg", files: { jpg: jpg.subarray(0, 30), txt: "fine" } });
    await w.write({ key: "badjson", files: { jpg, json: "{nope" } });
    await w.write({ key: "badtxt", files: { jpg, txt: new Uint8Array([0xc3]) } });
    await w.close();
    const r = await cli("shards", "verify", tmp.path, "--json");
    assert.equal(r.code, 1);
    const report = JSON.parse(r.out) as { samples: number; bad: { key: string; reason: string }[] };
    assert.equal(report.samples, 4);
    assert.deepEqual(
      report.bad.map((b) => b.key),
      ["badimg", "badjson", "badtxt"],
    );
  });

  it("COCO captions + images build shards that verify clean", async function () {
    const caps = sharedPathOrSkip(this, "data", "coco", "annotations", "captions_train2017_subset80.json");
    const images = sharedPathOrSkip(this, "data", "coco", "train2017");
    const r = await cli("shards", "build", "--out", join(tmp.path, "coco-%06d.tar"), "--coco", caps, "--images", images, "--maxcount", "50");
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /wrote 80 samples in 2 shard/);
    const v = await cli("shards", "verify", tmp.path);
    assert.match(v.out, /80 samples checked, 0 problem/);
  });

  it("tokenize prints ids per text for a tokenizer config", async function () {
    const vocab = sharedPathOrSkip(this, "data", "tokenizers", "bert-base-uncased", "vocab.txt");
    const texts = join(tmp.path, "t.json");
    writeFileSync(texts, JSON.stringify(["A man riding a wave.", "Café"]));
    const albef = await cli("tokenize", texts, "--vocab", vocab, "--albef");
    assert.deepEqual(
      albef.out.split("\n").map((l) => (JSON.parse(l) as { ids: number[] }).ids),
      [
        [101, 1037, 2158, 5559, 1037, 4400, 1012],
        [101, 7668],
      ],
    );
    const bert = await cli("tokenize", texts, "--vocab", vocab, "--no-albef", "--clean", "--max-length", "4");
    assert.deepEqual(JSON.parse(bert.out.split("\n")[0]), { text: "a man riding a wave", ids: [101, 1037, 2158, 102], length: 4 });
    const bad = await cli("tokenize", texts, "--tokenizer", "wordpeice", "--vocab", vocab);
    assert.equal(bad.code, 2);
    assert.match(bad.out, /unknown Tokenizer plugin "wordpeice" \(did you mean "wordpiece"\?\)/);
  });
});
