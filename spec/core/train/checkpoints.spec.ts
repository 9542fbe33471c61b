/**
 * Checkpoints survive a crash at every point of a write (fault points via
 * POLYALIGN_FAULT): an intact checkpoint is always on disk and found;
 * latest.json is relative to the run folder; a dangling or damaged latest.json
 * falls back to the newest intact step; a dead writer's temp folders go.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AdamW, checkpointDir, latestCheckpoint, Linear, removeStaleCheckpointFolders, Rng, saveCheckpoint, type TrainerState } from "../../../core/index.ts";
import { tempDir, useTestBackend } from "../../helpers.ts";

const state = (step: number): TrainerState => ({ step, epoch: 0, samples: step * 8, rng: [1, 2, 3, 4], data: null, config: {}, savedAt: "now" });

function withFault<T>(name: string, f: () => T): T {
  process.env.POLYALIGN_FAULT = name;
  try {
    return f();
  } finally {
    delete process.env.POLYALIGN_FAULT;
  }
}

describe("core/train/checkpoints: nothing lost at any moment of a write", () => {
  let tmp: ReturnType<typeof tempDir>;
  let model: Linear;
  let opt: AdamW;
  before(async () => {
    await useTestBackend();
    model = new Linear(3, 2, new Rng(1));
    opt = new AdamW(model.namedParameters(), { lr: 1e-3, weightDecay: 0 });
  });
  beforeEach(() => (tmp = tempDir()));
  afterEach(() => tmp.cleanup());
  after(() => {
    model.dispose();
    opt.dispose();
  });

  it("latest.json names the folder relative to the run folder", () => {
    saveCheckpoint(tmp.path, model, opt, state(1));
    saveCheckpoint(tmp.path, model, opt, state(2));
    const latest = JSON.parse(readFileSync(join(tmp.path, "checkpoints", "latest.json"), "utf8")) as { dir: string };
    assert.equal(latest.dir, join("checkpoints", "step-0000002"));
    assert.equal(latestCheckpoint(tmp.path), checkpointDir(tmp.path, 2));
  });

  for (const point of ["checkpoint:written", "checkpoint:set-aside", "checkpoint:renamed", "checkpoint:latest"]) {
    it(`a crash at ${point} (saving a step again, then a new one) leaves an intact checkpoint that is found`, () => {
      saveCheckpoint(tmp.path, model, opt, state(1));
      saveCheckpoint(tmp.path, model, opt, state(2));
      for (const step of [2, 3]) {
        try {
          withFault(point, () => saveCheckpoint(tmp.path, model, opt, state(step)));
        } catch (e) {
          assert.match((e as Error).message, /fault injected/);
        }
        const found = latestCheckpoint(tmp.path);
        assert.ok(found, `${point}, step ${step}: a checkpoint is found`);
        for (const f of ["trainer.json", "model.safetensors", "optimizer.safetensors"]) assert.ok(existsSync(join(found, f)), `${found}/${f}`);
        const saved = (JSON.parse(readFileSync(join(found, "trainer.json"), "utf8")) as TrainerState).step;
        assert.ok(saved === 2 || saved === step, `${point}: step ${saved}`);
      }
      assert.ok(!readdirSync(join(tmp.path, "checkpoints")).some((d) => d.includes(".tmp-")), "no temp folder left by a failed write");
    });
  }

  it("a latest.json that names a folder that is gone, or is damaged, falls back to the newest intact step", () => {
    saveCheckpoint(tmp.path, model, opt, state(1), 5);
    saveCheckpoint(tmp.path, model, opt, state(2), 5);
    saveCheckpoint(tmp.path, model, opt, state(3), 5);
    rmSync(checkpointDir(tmp.path, 3), { recursive: true });
    assert.equal(latestCheckpoint(tmp.path), checkpointDir(tmp.path, 2));
    rmSync(join(checkpointDir(tmp.path, 2), "optimizer.safetensors"));
    writeFileSync(join(tmp.path, "checkpoints", "latest.json"), "{not json");
    assert.equal(latestCheckpoint(tmp.path), checkpointDir(tmp.path, 1), "step 2 is not intact any more");
  });

  it("temp folders of a writer that is gone are removed at the next save; a live one's stay", () => {
    const dead = join(tmp.path, "checkpoints", "step-0000004.tmp-999999999");
    const live = join(tmp.path, "checkpoints", `step-0000005.tmp-${process.pid}`);
    mkdirSync(dead, { recursive: true });
    mkdirSync(live, { recursive: true });
    saveCheckpoint(tmp.path, model, opt, state(1));
    assert.ok(!existsSync(dead));
    assert.ok(existsSync(live));
  });

  it("a dead writer's set-aside copy of a step whose new copy never got its name goes back, not away", () => {
    saveCheckpoint(tmp.path, model, opt, state(1));
    saveCheckpoint(tmp.path, model, opt, state(2));
    // killed between setting step 2 aside and renaming the new one in
    const aside = `${checkpointDir(tmp.path, 2)}.old-999999999`;
    renameSync(checkpointDir(tmp.path, 2), aside);
    mkdirSync(`${checkpointDir(tmp.path, 2)}.tmp-999999999`);
    assert.deepEqual(removeStaleCheckpointFolders(tmp.path), ["step-0000002.tmp-999999999"]);
    assert.ok(!existsSync(aside));
    assert.equal(latestCheckpoint(tmp.path), checkpointDir(tmp.path, 2), "step 2 is back");
  });
});
