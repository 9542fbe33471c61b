/**
 * A run is reproducible to the bit on one build: the same config run twice —
 * the second while another process keeps every core busy, and with worker
 * threads, whose results arrive in whatever order the machine allows — logs
 * the same losses, gradient norms and evaluation figures.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { cli, tinyConfig, useTempRuns } from "../tiny-run.ts";

describe("cli: a run is reproducible to the bit on one build, also under load", function () {
  this.timeout(300000);
  const tmp = useTempRuns();

  it("two runs of one config (one beside a busy process, both with 2 data workers) give identical metrics.jsonl and summaries", async () => {
    const base = tinyConfig(tmp.path, { name: "hypergraph", knn: 3, clusters: 2, iterations: 2 }, { name: "quiet" });
    const cfg = { ...base, task: { ...base.task, steps: 12 }, data: { ...base.data, workers: 2 } };
    const run = async (name: string) => {
      const file = join(tmp.path, `${name}.yaml`);
      writeFileSync(file, stringify({ ...cfg, name }));
      const r = await cli("train", "--config", file);
      assert.equal(r.code, 0, r.out);
      const dir = join(tmp.path, "runs", name);
      const metrics = readFileSync(join(dir, "metrics.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => {
          const { elapsed_s: _, ...rest } = JSON.parse(l) as Record<string, number>;
          return rest;
        });
      const {
        wall_time_s: _w,
        step_time_s: _s,
        peak_rss_mb: _p,
        name: _n,
        checkpoint: _c,
        ...summary
      } = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as Record<string, unknown>;
      return { metrics, summary };
    };
    const quiet = await run("quiet");
    // a busy loop on every core while the second run trains
    const burners = Array.from({ length: availableParallelism() }, () =>
      spawn("Deno" in globalThis ? "node" : process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" }),
    );
    let loaded: Awaited<ReturnType<typeof run>>;
    try {
      loaded = await run("loaded");
    } finally {
      for (const b of burners) b.kill("SIGKILL");
    }
    assert.equal(quiet.metrics.length, 12);
    assert.deepEqual(loaded.metrics, quiet.metrics, "every logged step bit for bit");
    assert.deepEqual(loaded.summary, quiet.summary, "the evaluation figures too");
  });
});
