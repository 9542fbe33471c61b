/**
 * The downstream sample formats on real data from ../shared/data: NLVR2 pairs
 * (two images — JPEG bytes behind a .png name — a sentence and a "True"/"False"
 * label) and VQA v2 questions with their ten human answers, through shards,
 * the worker pool and the batch loader.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  BatchLoader,
  createTransformPool,
  type ImageTextBatch,
  ImageTransformConfig,
  SampleFormat,
  SampleStream,
  ShardWriter,
} from "../../../../core/index.ts";
import { vqaScore } from "../../../../plugins/tasks/vqa/task.ts";
import { sharedPathOrSkip, tempDir } from "../../../helpers.ts";

async function batchesOf(shard: string, format: Record<string, unknown>, vocab: string): Promise<ImageTextBatch[]> {
  const pool = await createTransformPool(
    {
      image: ImageTransformConfig.parse({ size: 32, mode: "test" }),
      format: SampleFormat.parse(format),
      tokenizer: { name: "wordpiece", vocab, maxLength: 40 },
      plugins: [],
    },
    { threads: 0 },
  );
  try {
    const out: ImageTextBatch[] = [];
    const loader = new BatchLoader(new SampleStream({ shards: [shard], seed: 0, shuffleBuffer: 1 }, 0), pool, {
      batchSize: 4,
      imageSize: 32,
      padId: 0,
      seed: 0,
      epoch: 0,
      dropLast: false,
    });
    for await (const b of loader.batches()) out.push(b);
    return out;
  } finally {
    await pool.close();
  }
}

describe("core/data/pipeline: NLVR2 pairs and VQA questions (real data)", function () {
  this.timeout(120000);
  let tmp: ReturnType<typeof tempDir>;
  before(() => {
    tmp = tempDir();
  });
  after(() => tmp.cleanup());

  it("NLVR2: both images decoded (JPEG data named .png), the sentence as text, True/False as 1/0, in file order", async function () {
    const dir = sharedPathOrSkip(this, "data", "nlvr2");
    const vocab = sharedPathOrSkip(this, "data", "tokenizers", "bert-base-uncased", "vocab.txt");
    const lines = readFileSync(join(dir, "sample.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { identifier: string; sentence: string; label: string });
    const w = new ShardWriter({ pattern: join(tmp.path, "nlvr-%06d.tar") });
    for (const l of lines) {
      const pair = l.identifier.split("-").slice(0, 3).join("-");
      await w.write({
        key: l.identifier,
        files: {
          "img0.png": new Uint8Array(readFileSync(join(dir, "images", `${pair}-img0.png`))),
          "img1.png": new Uint8Array(readFileSync(join(dir, "images", `${pair}-img1.png`))),
          json: JSON.stringify({ sentence: l.sentence, label: l.label }),
        },
      });
    }
    const [{ file }] = await w.close();
    const batches = await batchesOf(file, { imageMembers: ["img0.png", "img1.png"], text: "json:sentence", label: "json:label" }, vocab);
    const labels = batches.flatMap((b) => Array.from(b.labels));
    assert.deepEqual(
      labels,
      lines.map((l) => (l.label === "True" ? 1 : 0)),
    );
    assert.ok(labels.includes(0) && labels.includes(1));
    for (const b of batches) {
      assert.equal(b.imagesPerSample, 2);
      assert.equal(b.images.length, b.batch * 2 * 3 * 32 * 32);
      // the two images of a pair differ
      const plane = 3 * 32 * 32;
      const a = b.images.subarray(0, plane);
      const c = b.images.subarray(plane, 2 * plane);
      assert.ok(a.some((v, i) => Math.abs(v - c[i]) > 1e-3));
    }
    assert.equal(batches[0].captions[0], lines[0].sentence.toLowerCase().replace(/[.]$/, ""));
  });

  it("VQA v2: one question drawn per pass with its ten answers folded into weights; VQA accuracy from the votes", async function () {
    const dir = sharedPathOrSkip(this, "data", "vqa");
    const vocab = sharedPathOrSkip(this, "data", "tokenizers", "bert-base-uncased", "vocab.txt");
    const image = sharedPathOrSkip(this, "data", "coco", "train2014", "COCO_train2014_000000458752.jpg");
    const questions = (JSON.parse(readFileSync(join(dir, "vqav2_questions_sample.json"), "utf8")) as { questions: { question: string; question_id: number }[] })
      .questions;
    const annotations = (
      JSON.parse(readFileSync(join(dir, "vqav2_annotations_sample.json"), "utf8")) as { annotations: { question_id: number; answers: { answer: string }[] }[] }
    ).annotations;
    const w = new ShardWriter({ pattern: join(tmp.path, "vqa-%06d.tar") });
    const jpg = new Uint8Array(readFileSync(image));
    // one sample per question (as ALBEF's VQA dataset has), each with that question only
    for (const q of questions) {
      const a = annotations.find((x) => x.question_id === q.question_id)!;
      await w.write({ key: `q${q.question_id}`, files: { jpg, json: JSON.stringify({ vqa: [{ question: q.question, answers: a.answers }] }) } });
    }
    const [{ file }] = await w.close();
    const [batch] = await batchesOf(file, { qa: "json:vqa" }, vocab);
    assert.equal(batch.batch, 3);
    batch.answers.forEach((answers, i) => {
      const given = annotations[i].answers.map((x) => x.answer);
      assert.equal(
        answers.reduce((s, a) => s + a.count, 0),
        10,
      );
      for (const a of answers) {
        assert.equal(a.count, given.filter((g) => g === a.answer).length);
        assert.equal(a.weight, a.count / 10);
        assert.equal(a.total, 10);
        assert.equal(vqaScore(a.answer, answers), Math.min(1, a.count / 3));
      }
    });
    assert.equal(batch.captions[0], questions[0].question.toLowerCase().replace(/\?$/, ""));
  });
});
