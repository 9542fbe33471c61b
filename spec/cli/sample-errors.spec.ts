/**
 * The sample error policy through a whole run: `data.onError: fail` stops the
 * run at a bad sample with one line naming it; `skip` trains without it and
 * counts it by reason in summary.json.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { readShards, ShardWriter } from "../../core/index.ts";
import { cli, tinyConfig, useTempRuns } from "../tiny-run.ts";

describe("cli: a run's sample error policy", function () {
  this.timeout(300000);
  const tmp = useTempRuns();

  it("fail stops the run naming shard, key and reason; skip counts the bad samples by reason in the summary", async () => {
    // build the built-in set through a first run, then a shard holding two damaged samples
    const base = tinyConfig(tmp.path, { name: "cross-attention" }, { name: "first" });
    writeFileSync(join(tmp.path, "first.yaml"), stringify({ ...base, task: { ...base.task, steps: 1, evalRetrieval: false } }));
    assert.equal((await cli("train", "--config", join(tmp.path, "first.yaml"))).code, 0);
    const w = new ShardWriter({ pattern: join(tmp.path, "bad-%06d.tar") });
    let n = 0;
    for await (const s of readShards([join(tmp.path, "synth", "train-000000.tar")])) {
      if (n >= 2) break;
      await w.write({
        key: `bad${n}`,
        files: { jpg: n === 0 ? s.files.jpg.subarray(0, 30) : s.files.jpg, json: s.files.json, ...(n === 0 ? { txt: s.files.txt } : {}) },
      });
      n++;
    }
    await w.close();
    const train = `${join(tmp.path, "bad-000000.tar")}::${join(tmp.path, "synth", "train-000000.tar")}`;
    const run = (name: string, onError: string) => {
      const cfg = tinyConfig(tmp.path, { name: "cross-attention" }, { name });
      writeFileSync(
        join(tmp.path, `${name}.yaml`),
        stringify({ ...cfg, task: { ...cfg.task, evalRetrieval: false }, data: { ...cfg.data, train, samplesPerEpoch: 50, onError } }),
      );
      return cli("train", "--config", join(tmp.path, `${name}.yaml`));
    };
    const failed = await run("fail", "fail");
    assert.notEqual(failed.code, 0);
    assert.match(failed.out, /sample bad[01] of .*bad-000000\.tar: .*data\.onError: fail/);
    assert.doesNotMatch(failed.out, /\n\s+at /, "one line, no stack trace");
    const skipped = await run("skip", "skip");
    assert.equal(skipped.code, 0, skipped.out);
    const summary = JSON.parse(readFileSync(join(tmp.path, "runs", "skip", "summary.json"), "utf8")) as {
      skipped_samples: number;
      skipped_by_reason: Record<string, number>;
    };
    assert.equal(summary.skipped_samples, 2);
    const kinds = Object.keys(summary.skipped_by_reason).sort();
    assert.equal(kinds.length, 2);
    assert.match(kinds.join(" | "), /\.jpg: cannot (decode|read) the image/);
    assert.match(kinds.join(" | "), /has no \.txt member/);
  });
});
