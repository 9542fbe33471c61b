/**
 * `polyalign eval`: a task's evaluation of trained weights without training.
 * Each fine-tuned tiny run is evaluated again from its final checkpoint: the
 * test figures must equal the ones the run itself reported after training
 * (the same evaluation code on the same weights), with no step taken and no
 * checkpoint written.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { cli, pretrainTinyBase, tinyConfig, useTempRuns } from "../../tiny-run.ts";

const HYPERGRAPH = { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 };

describe("cli/commands/eval", function () {
  this.timeout(400000);
  const tmp = useTempRuns();
  let base: string;
  before(async () => {
    base = await pretrainTinyBase(tmp.path, HYPERGRAPH, "base", { pairs: 24 });
  });

  const summaryOf = (run: string) => JSON.parse(readFileSync(join(tmp.path, "runs", run, "summary.json"), "utf8")) as Record<string, unknown>;

  /** Trains `cfg` (its name), then evaluates its run folder; returns both summaries and the eval's output. */
  async function trainThenEval(cfg: { name: string } & Record<string, unknown>) {
    const file = join(tmp.path, `${cfg.name}.yaml`);
    writeFileSync(file, stringify(cfg));
    const t = await cli("train", "--config", file);
    assert.equal(t.code, 0, t.out);
    const e = await cli("eval", "--config", file, "--checkpoint", join(tmp.path, "runs", cfg.name));
    assert.equal(e.code, 0, e.out);
    const evalDir = join(tmp.path, "runs", `${cfg.name}-eval`);
    assert.ok(!existsSync(join(evalDir, "checkpoints")), "no checkpoint written");
    assert.ok(!existsSync(join(evalDir, "metrics.jsonl")), "no training step logged");
    return { trained: summaryOf(cfg.name), evaluated: summaryOf(`${cfg.name}-eval`), out: e.out };
  }

  it("retrieval: the fine-tuned run's ITC ranking and ITM re-ranking, number for number", async () => {
    const cfg = tinyConfig(tmp.path, HYPERGRAPH, { name: "ret" });
    const { trained, evaluated, out } = await trainThenEval({
      ...cfg,
      objectives: [{ name: "itc", queue: 16, embedDim: 8 }, { name: "itm" }],
      task: { name: "retrieval", init: base, epochs: 1, kTest: 10, evalMaxImages: 16, evalBatchSize: 5, logEvery: 1 },
      data: { ...cfg.data, format: { text: "json:captions" } },
    });
    assert.equal(trained.steps, 6);
    assert.equal(evaluated.steps, 0);
    assert.deepEqual(evaluated.after, trained.after);
    assert.match(out, /evaluating .*runs\/ret with task retrieval/);
    assert.match(out, new RegExp(`itm_r_mean ${Math.round((trained.after as { itm: { rMean: number } }).itm.rMean * 100) / 100}`));
  });

  it("VQA: the fine-tuned answer decoder's test accuracy and answers", async () => {
    const cfg = tinyConfig(tmp.path, HYPERGRAPH, { name: "vqa" });
    const { trained, evaluated } = await trainThenEval({
      ...cfg,
      task: { name: "vqa", init: base, epochs: 1, kTest: 4, logEvery: 1, evalBatchSize: 5 },
      data: { ...cfg.data, format: { qa: "json:vqa" } },
    });
    assert.equal(evaluated.accuracy, trained.accuracy);
    assert.equal(evaluated.test_questions, trained.test_questions);
    const answers = (run: string) => readFileSync(join(tmp.path, "runs", run, "vqa_result.json"), "utf8");
    assert.equal(answers("vqa-eval"), answers("vqa"));
  });

  it("NLVR2: the fine-tuned pair model's test accuracy (its classifier comes from the checkpoint too)", async () => {
    const cfg = tinyConfig(tmp.path, HYPERGRAPH, { name: "nlvr" });
    const { trained, evaluated } = await trainThenEval({
      ...cfg,
      task: { name: "nlvr", init: base, epochs: 1, logEvery: 1, evalBatchSize: 5 },
      data: {
        ...cfg.data,
        synth: { ...cfg.data.synth, pairs: 24 },
        train: join(tmp.path, "synth", "nlvr-train-000000.tar"),
        test: join(tmp.path, "synth", "nlvr-test-000000.tar"),
        format: { imageMembers: ["img0.jpg", "img1.jpg"], text: "json:statement", label: "json:label" },
      },
    });
    assert.equal(evaluated.accuracy, trained.accuracy);
    assert.equal(evaluated.test_pairs, trained.test_pairs);
  });

  it("errors: weights that are not there, a folder holding a training run, a missing option", async () => {
    const file = join(tmp.path, "ret.yaml");
    const missing = await cli("eval", "--config", file, "--checkpoint", join(tmp.path, "nowhere"));
    assert.equal(missing.code, 2);
    assert.match(missing.out, /--checkpoint .*nowhere: no such file or folder/);
    mkdirSync(join(tmp.path, "runs", "taken", "checkpoints"), { recursive: true });
    const taken = await cli("eval", "--config", file, "--checkpoint", base, "--name", "taken");
    assert.equal(taken.code, 2);
    assert.match(taken.out, /runs\/taken holds a training run's checkpoints; --name picks another folder/);
    assert.ok(existsSync(join(tmp.path, "runs", "taken", "checkpoints")), "nothing deleted");
    const noCheckpoint = await cli("eval", "--config", file);
    assert.equal(noCheckpoint.code, 2);
    assert.match(noCheckpoint.out, /--checkpoint/);
  });
});
