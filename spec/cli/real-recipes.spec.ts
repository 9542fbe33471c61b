/**
 * Every task's real recipe (configs/*.yaml) runs a few steps and its
 * evaluation to a metric on shards built from the real samples in
 * ../shared/data — COCO (Karpathy layout), VQA v2, NLVR2, RefCOCO-style refs
 * from COCO boxes. Only the model is shrunk (and steps and evaluation sizes):
 * data layout, sample formats, objectives, task options and schedules are the
 * recipes'. The values mean nothing at this size; the spec checks the runs.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { createLogger } from "../../core/index.ts";
import { runCli } from "../../cli/main.ts";
import { REPO_ROOT, sharedPathOrSkip, tempDir, useTestBackend } from "../helpers.ts";

async function cli(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await runCli(argv, { out: (l) => lines.push(l), log: createLogger({ level: "error", sink: { write: (l) => lines.push(l) } }) });
  return { code, out: lines.join("\n") };
}

interface CocoIndexImage {
  file: string;
  coco_id: number;
  captions: string[];
}

/** The recipes' model at test size; the text vocabulary stays BERT's (the recipes' tokenizer). */
const TINY_MODEL = {
  vision: { name: "vit", imageSize: 32, patch: 16, width: 32, depth: 1, heads: 2 },
  text: { name: "bert", vocab: 30522, width: 32, layers: 1, heads: 2, intermediate: 64, maxPositions: 40 },
};

describe("cli: every task's real recipe on the real samples", function () {
  this.timeout(600000);
  let tmp: ReturnType<typeof tempDir>;
  let data: string;
  const summaries: Record<string, Record<string, unknown>> = {};

  before(async function () {
    data = sharedPathOrSkip(this, "data");
    tmp = tempDir();
    await useTestBackend();
    const build = async (...args: string[]) => {
      const r = await cli("shards", "build", ...args);
      assert.equal(r.code, 0, r.out);
    };
    const index = (JSON.parse(readFileSync(join(data, "coco/index.json"), "utf8")) as { images: CocoIndexImage[] }).images.filter(
      (im) => im.captions.length > 0,
    );
    const splits = ["train", "train", "restval", "val", "test"];
    const karpathy = join(tmp.path, "dataset_coco.json");
    writeFileSync(
      karpathy,
      JSON.stringify({
        images: index.map((im, i) => ({
          filepath: im.file.split("/")[0],
          filename: im.file.split("/")[1],
          cocoid: im.coco_id,
          split: splits[i % 5],
          sentences: im.captions.map((raw) => ({ raw })),
        })),
      }),
    );
    const shards = (name: string) => join(tmp.path, "shards", name);
    await build(
      "--out",
      join(shards("coco"), "train-%06d.tar"),
      "--karpathy",
      karpathy,
      "--images",
      join(data, "coco"),
      "--split",
      "train+restval",
      "--maxcount",
      "60",
    );
    await build("--out", join(shards("coco"), "val-%06d.tar"), "--karpathy", karpathy, "--images", join(data, "coco"), "--split", "val");
    await build("--out", join(shards("coco"), "test-%06d.tar"), "--karpathy", karpathy, "--images", join(data, "coco"), "--split", "test");
    const vqa = join(data, "vqa");
    await build(
      "--out",
      join(shards("vqa"), "train-%06d.tar"),
      "--vqa",
      join(vqa, "vqav2_questions_sample.json"),
      "--annotations",
      join(vqa, "vqav2_annotations_sample.json"),
      "--images",
      join(data, "coco"),
    );
    const vg = join(tmp.path, "vg_qa.json");
    writeFileSync(
      vg,
      JSON.stringify(
        index
          .slice(0, 6)
          .map((im, i) => ({ question: "what is in the picture?", answer: ["net", "pitcher", "orange", "yes", "white", "table"][i], image: im.file })),
      ),
    );
    await build("--out", join(shards("vqa"), "vg-%06d.tar"), "--vg-qa", vg, "--images", join(data, "coco"));
    await build("--out", join(shards("nlvr2"), "pairs-%06d.tar"), "--nlvr2", join(data, "nlvr2/sample.jsonl"), "--images", join(data, "nlvr2/images"));
    const inst = JSON.parse(readFileSync(join(data, "coco/annotations/instances_val2017_subset79.json"), "utf8")) as {
      images: { id: number; file_name: string }[];
      annotations: { id: number; image_id: number; category_id: number }[];
      categories: { id: number; name: string }[];
    };
    const instances = join(tmp.path, "instances.json");
    writeFileSync(instances, JSON.stringify({ ...inst, images: inst.images.map((im) => ({ ...im, file_name: `val2017/${im.file_name}` })) }));
    const name = new Map(inst.categories.map((c) => [c.id, c.name]));
    const refSplits = ["train", "train", "val", "testA", "testB"];
    const refs = inst.annotations
      .slice(0, 60)
      .map((a, i) => ({ ref_id: i, ann_id: a.id, image_id: a.image_id, split: refSplits[i % 5], sentences: [{ sent: `the ${name.get(a.category_id)}` }] }));
    writeFileSync(join(tmp.path, "refs.json"), JSON.stringify(refs));
    const refArgs = ["--refcoco", join(tmp.path, "refs.json"), "--instances", instances, "--images", join(data, "coco")];
    await build("--out", join(shards("refcoco+"), "train-%06d.tar"), ...refArgs, "--split", "train");
    await build("--out", join(shards("refcoco+"), "eval-%06d.tar"), ...refArgs, "--split", "val+testA+testB");
  });
  after(() => tmp?.cleanup());

  /** The recipe, extended: the tiny model, a few steps, small evaluations, the shards built above, runs in the temp folder. */
  async function run(recipe: string, name: string, over: Record<string, unknown>): Promise<Record<string, unknown>> {
    const file = join(tmp.path, `${name}.yaml`);
    const overTask = (over.task ?? {}) as Record<string, unknown>;
    const overData = (over.data ?? {}) as Record<string, unknown>;
    const cfg = {
      extends: join(REPO_ROOT, "configs", recipe),
      name,
      runs: join(tmp.path, "runs"),
      tokenizer: { name: "wordpiece", vocab: join(data, "tokenizers/bert-base-uncased/vocab.txt"), maxLength: 25 },
      // the recipes' six fusion layers (the hypergraph branch in each), at test width
      model: { ...TINY_MODEL, fusion: { layers: 6, heads: 2, intermediate: 64 } },
      ...(over.objectives ? { objectives: over.objectives } : {}),
      task: overTask,
      data: { workers: 0, shuffle: 8, image: { size: 32 }, ...overData },
      optim: { warmupSteps: 1 },
    };
    writeFileSync(file, stringify(cfg));
    const r = await cli("train", "--config", file);
    assert.equal(r.code, 0, `${recipe}: ${r.out}`);
    const summary = JSON.parse(readFileSync(join(tmp.path, "runs", name, "summary.json"), "utf8")) as Record<string, unknown>;
    summaries[name] = summary;
    return summary;
  }
  const s = (name: string) => join(tmp.path, "shards", name);
  const trainTask = (t: Record<string, unknown>) => ({ checkpointEvery: 0, logEvery: 1, ...t });
  const smallItc = [{ name: "itc", queue: 16, momentum: 0.995, alpha: 0.4, temp: 0.07, embedDim: 16 }, { name: "itm" }, { name: "mlm", probability: 0.15 }];

  it("pretrain-4m: the four-source mixture of per-caption samples, a few steps, zero-shot retrieval", async () => {
    const summary = await run("pretrain-4m.yaml", "pretrain", {
      objectives: smallItc,
      task: trainTask({ init: null, steps: 3, evalMaxImages: 8 }),
      data: {
        batchSize: 8,
        train: [
          { name: "coco", shards: join(s("coco"), "train-{000000..000001}.tar") },
          { name: "vg-stand-in", shards: join(s("refcoco+"), "train-000000.tar") },
        ],
        test: join(s("coco"), "test-000000.tar"),
      },
    });
    assert.equal(summary.steps, 3);
    const bySource = summary.samples_by_source as Record<string, number>;
    assert.equal(bySource.coco + bySource["vg-stand-in"], 24);
    assert.ok(typeof (summary.retrieval as { r_mean: number }).r_mean === "number");
  });

  it("coco-photos: shards from the two COCO caption files as its header says, every caption a sample through a data worker", async () => {
    const photos = s("coco-photos");
    for (const [split, captions] of [
      ["train2017", "captions_train2017_subset80.json"],
      ["val2017", "captions_val2017_subset159.json"],
    ]) {
      const r = await cli(
        "shards",
        "build",
        "--out",
        join(photos, `${split}-%06d.tar`),
        "--coco",
        join(data, "coco/annotations", captions),
        "--images",
        join(data, "coco", split),
      );
      assert.equal(r.code, 0, r.out);
    }
    const summary = await run("coco-photos.yaml", "coco-photos", {
      objectives: smallItc,
      task: trainTask({ steps: 3 }),
      // a worker thread: each caption's copy of a sample carries its own bytes to it
      data: { workers: 1, batchSize: 8, train: `${join(photos, "train2017-000000.tar")}::${join(photos, "val2017-000000.tar")}` },
    });
    assert.equal(summary.steps, 3);
    assert.equal(summary.skipped_samples, 0);
  });

  it("retrieval-coco (and its twin): per-caption training, the val split picks the model, the test split is scored", async () => {
    // the twin is attention-only: the hypergraph pre-training run does not load into it (strict), so it starts fresh here
    for (const [recipe, name, init] of [
      ["retrieval-coco.yaml", "retrieval", join(tmp.path, "runs", "pretrain")],
      ["retrieval-coco-attention.yaml", "retrieval-attention", null],
    ]) {
      const summary = await run(recipe as string, name as string, {
        objectives: smallItc.slice(0, 2),
        task: trainTask({ init, epochs: 2, kTest: 10, evalMaxImages: 16 }),
        data: {
          batchSize: 8,
          samplesPerEpoch: 16,
          train: join(s("coco"), "train-{000000..000001}.tar"),
          val: join(s("coco"), "val-000000.tar"),
          test: join(s("coco"), "test-000000.tar"),
        },
      });
      assert.equal((summary.selection as { by_epoch: unknown[] }).by_epoch.length, 2);
      assert.ok(typeof (summary.after as { itm: { rMean: number } }).itm.rMean === "number");
      assert.equal(summary.fusion, (name as string).endsWith("attention") ? "cross-attention" : "hypergraph");
    }
  });

  it("vqa: VQA v2 + VG-QA mixture with ALBEF's answer list, predictions in the result file", async () => {
    const summary = await run("vqa.yaml", "vqa", {
      task: trainTask({ init: join(tmp.path, "runs", "pretrain"), steps: 2, kTest: 4, evalBatchSize: 3 }),
      data: {
        batchSize: 3,
        train: [
          { name: "vqa-train", shards: join(s("vqa"), "train-000000.tar") },
          { name: "vg", shards: join(s("vqa"), "vg-000000.tar") },
        ],
        test: join(s("vqa"), "train-000000.tar"),
      },
    });
    assert.equal(summary.answers, 3128);
    assert.ok(typeof summary.accuracy === "number");
    const result = JSON.parse(readFileSync(join(tmp.path, "runs", "vqa", "vqa_result.json"), "utf8")) as { question_id: number }[];
    assert.deepEqual(
      result.map((x) => x.question_id),
      [458752000, 458752001, 458752002],
    );
  });

  it("nlvr-pretrain then nlvr: text assignment on COCO pairs, NLVR2 from it on the real pairs, dev picks the model", async () => {
    const ta = await run("nlvr-pretrain.yaml", "nlvr-pretrain", {
      objectives: smallItc,
      task: trainTask({ init: join(tmp.path, "runs", "pretrain"), steps: 2, evalBatchSize: 8 }),
      data: { batchSize: 8, train: join(s("coco"), "train-{000000..000001}.tar"), test: join(s("coco"), "test-000000.tar") },
    });
    assert.ok(typeof ta.accuracy === "number");
    const nlvr = await run("nlvr.yaml", "nlvr", {
      task: trainTask({ init: join(tmp.path, "runs", "nlvr-pretrain"), epochs: 2, steps: 2, evalBatchSize: 4 }),
      data: {
        batchSize: 4,
        train: join(s("nlvr2"), "pairs-000000.tar"),
        val: join(s("nlvr2"), "pairs-000000.tar"),
        test: join(s("nlvr2"), "pairs-000000.tar"),
      },
    });
    assert.equal(nlvr.test_pairs, 16);
    assert.ok(typeof nlvr.accuracy === "number" && typeof nlvr.majority_class === "number");
  });

  it("grounding-finetune then grounding: expressions as captions, Grad-CAM on val / testA / testB", async () => {
    await run("grounding-finetune.yaml", "grounding-finetune", {
      objectives: smallItc.slice(0, 2),
      task: trainTask({ init: join(tmp.path, "runs", "pretrain"), steps: 2, kTest: 10, evalMaxImages: 16 }),
      data: { batchSize: 4, train: join(s("refcoco+"), "train-000000.tar"), test: join(s("coco"), "test-000000.tar") },
    });
    const g = await run("grounding.yaml", "grounding", {
      objectives: smallItc.slice(0, 2),
      task: { init: join(tmp.path, "runs", "grounding-finetune") },
      data: { test: join(s("refcoco+"), "eval-000000.tar") },
    });
    assert.deepEqual(Object.keys(g.accuracy_by_split as object).sort(), ["testA", "testB", "val"]);
    assert.equal(g.expressions, 36);
  });
});
