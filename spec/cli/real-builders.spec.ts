/**
 * `polyalign shards build` on the real samples in ../shared/data: Karpathy
 * splits (COCO, Flickr30K — split files written here from the official
 * captions the folder holds), VQA v2 and Visual Genome QA, NLVR2 and a RefCOCO+
 * ref file made from COCO instance boxes; each shard read back through the
 * sample processor the tasks use.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  createLogger,
  createSampleProcessor,
  ImageTransformConfig,
  type ProcessorSpec,
  readShards,
  SampleFormat,
  sampleQuestions,
  type WdsSample,
} from "../../core/index.ts";
import { runCli } from "../../cli/main.ts";
import { groundingQueries } from "../../plugins/tasks/grounding/queries.ts";
import { pythonWith, runPython, sharedPathOrSkip, tempDir } from "../helpers.ts";

async function cli(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await runCli(argv, { out: (l) => lines.push(l), log: createLogger({ level: "error" }) });
  return { code, out: lines.join("\n") };
}

async function readAll(pattern: string): Promise<WdsSample[]> {
  const out: WdsSample[] = [];
  for await (const s of readShards([pattern])) out.push(s);
  return out;
}

const json = (s: WdsSample) => JSON.parse(new TextDecoder().decode(s.files.json)) as Record<string, unknown>;

const processor = (data: string, format: Record<string, unknown>) => {
  const spec: ProcessorSpec = {
    image: ImageTransformConfig.parse({ size: 32, mode: "test" }),
    format: SampleFormat.parse(format),
    tokenizer: { name: "wordpiece", vocab: join(data, "tokenizers/bert-base-uncased/vocab.txt"), maxLength: 30 },
    plugins: [],
  };
  return createSampleProcessor(spec);
};

interface CocoIndexImage {
  file: string;
  coco_id: number;
  captions: string[];
  karpathy_split: string | null;
  width: number;
  height: number;
}

describe("cli: shards build on the real data sets' own layouts", function () {
  this.timeout(120000);
  let tmp: ReturnType<typeof tempDir>;
  let data: string;
  before(function () {
    data = sharedPathOrSkip(this, "data");
    tmp = tempDir();
  });
  after(() => tmp?.cleanup());

  it("--karpathy (COCO): one sample per image of the asked splits, every caption, the COCO id; a bad split is named", async () => {
    const index = (JSON.parse(readFileSync(join(data, "coco/index.json"), "utf8")) as { images: CocoIndexImage[] }).images.filter(
      (im) => im.captions.length > 0,
    );
    const splits = ["train", "restval", "val"];
    const images = index.map((im, i) => ({
      filepath: im.file.split("/")[0],
      filename: im.file.split("/")[1],
      cocoid: im.coco_id,
      imgid: i,
      split: im.karpathy_split ?? splits[i % 3],
      sentences: im.captions.map((raw) => ({ raw, tokens: raw.toLowerCase().split(" ") })),
    }));
    const file = join(tmp.path, "dataset_coco.json");
    writeFileSync(file, JSON.stringify({ images, dataset: "coco" }));
    const r = await cli(
      "shards",
      "build",
      "--out",
      join(tmp.path, "coco-%06d.tar"),
      "--karpathy",
      file,
      "--images",
      join(data, "coco"),
      "--split",
      "train+restval",
    );
    assert.equal(r.code, 0, r.out);
    const want = images.filter((im) => im.split === "train" || im.split === "restval");
    const got = await readAll(join(tmp.path, "coco-000000.tar"));
    assert.equal(got.length, want.length);
    got.forEach((s, i) => {
      const meta = json(s);
      assert.equal(meta.image_id, want[i].cocoid);
      assert.deepEqual(
        meta.captions,
        want[i].sentences.map((x) => x.raw),
      );
      assert.ok(s.files.jpg, "the image");
    });
    const bad = await cli("shards", "build", "--out", join(tmp.path, "x-%06d.tar"), "--karpathy", file, "--images", data, "--split", "train+dev");
    assert.equal(bad.code, 1);
    assert.match(bad.out, /unknown Karpathy split "dev"/);
  });

  it("--karpathy (Flickr30K): the Entities sentences' plain captions, Karpathy's imgid as the id", async () => {
    const dir = join(data, "flickr30k/sentences");
    const images = readdirSync(dir).map((f, i) => ({
      filename: f.replace(/\.txt$/, ".jpg"),
      imgid: 100 + i,
      split: "test",
      sentences: readFileSync(join(dir, f), "utf8")
        .trim()
        .split("\n")
        .map((l) => ({ raw: l.replace(/\[\/EN#\d+\/\S+ ([^\]]*)\]/g, "$1") })),
    }));
    const file = join(tmp.path, "dataset_flickr30k.json");
    writeFileSync(file, JSON.stringify({ images, dataset: "flickr30k" }));
    const r = await cli(
      "shards",
      "build",
      "--out",
      join(tmp.path, "f30k-%06d.tar"),
      "--karpathy",
      file,
      "--images",
      join(data, "flickr30k/images"),
      "--split",
      "test",
    );
    assert.equal(r.code, 0, r.out);
    const got = await readAll(join(tmp.path, "f30k-000000.tar"));
    assert.equal(got.length, 2);
    const meta = json(got[0]);
    assert.equal(meta.image_id, 100);
    assert.equal((meta.captions as string[]).length, 5);
    assert.ok(
      (meta.captions as string[]).every((c) => !c.includes("[/EN#")),
      "markup stripped",
    );
  });

  it("--vqa: one sample per question with its ten answers; --vg-qa answers weigh 0.5 (ALBEF); annotations missing a question are named", async () => {
    const q = join(data, "vqa/vqav2_questions_sample.json");
    const a = join(data, "vqa/vqav2_annotations_sample.json");
    const r = await cli("shards", "build", "--out", join(tmp.path, "vqa-%06d.tar"), "--vqa", q, "--annotations", a, "--images", join(data, "coco"));
    assert.equal(r.code, 0, r.out);
    const got = await readAll(join(tmp.path, "vqa-000000.tar"));
    assert.deepEqual(
      got.map((s) => json(s).question_id),
      [458752000, 458752001, 458752002],
    );
    const items = sampleQuestions(got[0].files, SampleFormat.parse({ qa: "json:vqa" }), "q0");
    assert.equal(items.length, 1);
    assert.equal(
      items[0].answers.reduce((s, x) => s + x.count, 0),
      10,
    );
    assert.ok(Math.abs(items[0].answers.reduce((s, x) => s + x.weight, 0) - 1) < 1e-9, "the shares of ten votes");
    const vg = join(tmp.path, "vg_qa.json");
    writeFileSync(
      vg,
      JSON.stringify([{ question: "what is the man holding?", answer: "bat", image: "train2014/COCO_train2014_000000458752.jpg", dataset: "vg" }]),
    );
    assert.equal((await cli("shards", "build", "--out", join(tmp.path, "vg-%06d.tar"), "--vg-qa", vg, "--images", join(data, "coco"))).code, 0);
    const vgItems = sampleQuestions((await readAll(join(tmp.path, "vg-000000.tar")))[0].files, SampleFormat.parse({ qa: "json:vqa" }), "vg");
    assert.deepEqual(vgItems[0].answers, [{ answer: "bat", weight: 0.5, count: 1, total: 1 }]);
    const partial = join(tmp.path, "partial.json");
    const ann = JSON.parse(readFileSync(a, "utf8")) as { annotations: unknown[] };
    writeFileSync(partial, JSON.stringify({ ...ann, annotations: ann.annotations.slice(0, 2) }));
    const bad = await cli("shards", "build", "--out", join(tmp.path, "y-%06d.tar"), "--vqa", q, "--annotations", partial, "--images", join(data, "coco"));
    assert.equal(bad.code, 1);
    assert.match(bad.out, /questions\[2\]: question 458752002 has no annotation/);
  });

  it("--nlvr2: both images of each example (JPEG data named .png stored as .jpg), statement and label; the processor decodes img0 and img1", async () => {
    const r = await cli(
      "shards",
      "build",
      "--out",
      join(tmp.path, "nlvr-%06d.tar"),
      "--nlvr2",
      join(data, "nlvr2/sample.jsonl"),
      "--images",
      join(data, "nlvr2/images"),
    );
    assert.equal(r.code, 0, r.out);
    const got = await readAll(join(tmp.path, "nlvr-000000.tar"));
    assert.equal(got.length, 16);
    const first = json(got[0]);
    assert.equal(first.identifier, "dev-850-0-0");
    assert.equal(first.label, false);
    assert.ok(got.every((s) => s.files["img0.jpg"] && s.files["img1.jpg"]));
    const proc = await processor(data, { imageMembers: ["img0", "img1"], text: "json:statement", label: "json:label" });
    const out = await proc({ seq: 0, key: got[0].key, url: "nlvr", files: got[0].files, seed: 1 });
    assert.ok(out.ok, out.ok ? "" : out.reason);
    assert.equal(out.pixels.length, 2 * 3 * 32 * 32);
    assert.equal(out.label, 0);
  });

  it("--refcoco: refs grouped by image with every sentence, the annotation's box, the image size and the detections; the grounding task reads them", async () => {
    const inst = JSON.parse(readFileSync(join(data, "coco/annotations/instances_val2017_subset79.json"), "utf8")) as {
      images: { id: number; file_name: string }[];
      annotations: { id: number; image_id: number; bbox: number[]; category_id: number }[];
      categories: { id: number; name: string }[];
    };
    // instances.json with file names relative to the images root, as REFER's layout has them
    const instances = join(tmp.path, "instances.json");
    writeFileSync(instances, JSON.stringify({ ...inst, images: inst.images.map((im) => ({ ...im, file_name: `val2017/${im.file_name}` })) }));
    const name = new Map(inst.categories.map((c) => [c.id, c.name]));
    const anns = inst.annotations.slice(0, 12);
    const splits = ["val", "testA", "testB"];
    const refs = anns.map((a, i) => ({
      ref_id: 1000 + i,
      ann_id: a.id,
      image_id: a.image_id,
      split: splits[i % 3],
      sentences: [{ sent: `the ${name.get(a.category_id)}` }, { sent: `a ${name.get(a.category_id)} in the picture` }],
    }));
    const refsFile = join(tmp.path, "refs.json");
    writeFileSync(refsFile, JSON.stringify(refs));
    const dets: Record<string, number[][]> = {};
    for (const a of inst.annotations) {
      dets[String(a.image_id)] = [...(dets[String(a.image_id)] ?? []), [...a.bbox.map((v) => v + 1), 0.9]];
    }
    const detsFile = join(tmp.path, "dets.json");
    writeFileSync(detsFile, JSON.stringify(dets));
    const args = ["--instances", instances, "--dets", detsFile, "--images", join(data, "coco"), "--split", "val+testA+testB"];
    const r = await cli("shards", "build", "--out", join(tmp.path, "ref-%06d.tar"), "--refcoco", refsFile, ...args);
    assert.equal(r.code, 0, r.out);
    const got = await readAll(join(tmp.path, "ref-000000.tar"));
    assert.equal(got.length, new Set(anns.map((a) => a.image_id)).size);
    let queries = 0;
    for (const s of got) {
      const meta = json(s) as {
        refs: { ref_id: number; box: number[]; split: string }[];
        candidates: number[][];
        width: number;
        height: number;
        image_id: number;
      };
      for (const ref of meta.refs) {
        const ann = anns[ref.ref_id - 1000];
        assert.deepEqual(ref.box, ann.bbox);
        assert.equal(ref.split, splits[(ref.ref_id - 1000) % 3]);
      }
      assert.equal(meta.candidates.length, dets[String(meta.image_id)].length);
      assert.ok(meta.width > 0 && meta.height > 0);
      const qs = groundingQueries(meta, s.key);
      assert.deepEqual(
        qs.map((q) => q.split),
        meta.refs.map((r) => r.split),
        "each query keeps its ref's split (grounding reports val / testA / testB apart)",
      );
      assert.deepEqual(
        (meta as unknown as { captions: string[] }).captions,
        qs.map((q) => q.expression),
        "the expressions as captions, to fine-tune on",
      );
      assert.equal(new TextDecoder().decode(s.files.txt), qs[0].expression, "a .txt, so the default format reads the sample");
      queries += qs.length;
    }
    assert.equal(queries, 2 * anns.length, "every sentence of every ref");
    const testA = await cli("shards", "build", "--out", join(tmp.path, "refA-%06d.tar"), "--refcoco", refsFile, ...args.slice(0, -1), "testA");
    assert.equal(testA.code, 0, testA.out);
    const a = await readAll(join(tmp.path, "refA-000000.tar"));
    assert.ok(a.flatMap((s) => (json(s).refs as { split: string }[]).map((x) => x.split)).every((x) => x === "testA"));
  });

  it("--refcoco reads REFER's refs(unc).p pickle (Python 2 strings as bytes) and refuses one that calls a global", async function () {
    const py = pythonWith();
    if (!py) this.skip();
    const pickled = join(tmp.path, "refs(unc).p");
    const evil = join(tmp.path, "evil.p");
    const inst = JSON.parse(readFileSync(join(data, "coco/annotations/instances_val2017_subset79.json"), "utf8")) as {
      annotations: { id: number; image_id: number }[];
    };
    const a = inst.annotations[0];
    runPython(
      py,
      `import pickle, sys, os
refs = [{'ref_id': 7, 'ann_id': ${a.id}, 'image_id': ${a.image_id}, 'split': b'val', 'sentences': [{'sent': b'the thing', 'raw': 'The thing.'}]}]
open(sys.argv[1], 'wb').write(pickle.dumps(refs, protocol=2))
class E:
    def __reduce__(self): return (os.system, ('true',))
open(sys.argv[2], 'wb').write(pickle.dumps([E()], protocol=2))`,
      [pickled, evil],
    );
    const instances = join(data, "coco/annotations/instances_val2017_subset79.json");
    const r = await cli(
      "shards",
      "build",
      "--out",
      join(tmp.path, "p-%06d.tar"),
      "--refcoco",
      pickled,
      "--instances",
      instances,
      "--images",
      join(data, "coco/val2017"),
    );
    assert.equal(r.code, 0, r.out);
    const [s] = await readAll(join(tmp.path, "p-000000.tar"));
    assert.deepEqual(
      (json(s).refs as { expression: string; split: string }[]).map((x) => [x.expression, x.split]),
      [["the thing", "val"]],
    );
    const bad = await cli("shards", "build", "--out", join(tmp.path, "q-%06d.tar"), "--refcoco", evil, "--instances", instances, "--images", data);
    assert.notEqual(bad.code, 0);
    assert.match(bad.out, /posix\.system|os\.system/);
  });
});
