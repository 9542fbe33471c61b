/**
 * A run folder is never lost or mixed up: one run per folder (run.lock, a dead
 * owner's lock taken over), --resume refuses a changed hyper-parameter and cuts
 * metrics.jsonl back to the resumed step, and Ctrl-C / SIGTERM finish the step,
 * write a checkpoint and exit 130 / 143 — resumed, the run ends exactly where an
 * uninterrupted one does. The signal cases run the real CLI in a child process.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { REPO_ROOT } from "../helpers.ts";
import { cli, tinyConfig, useTempRuns } from "../tiny-run.ts";

type Row = Record<string, number>;
const rows = (file: string): Row[] =>
  readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Row);

function sameLosses(a: Row[], b: Row[], what: string): void {
  assert.deepEqual(
    b.map((r) => r.step),
    a.map((r) => r.step),
    `${what}: the same steps`,
  );
  for (let i = 0; i < a.length; i++)
    for (const k of ["loss", "itc", "itm", "mlm"]) assert.equal(b[i][k], a[i][k], `${what}, step ${a[i].step} ${k}: ${a[i][k]} vs ${b[i][k]}`);
}

/** The polyalign CLI in a child process (node, also when the suite runs on Deno). */
function spawnCli(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> } {
  const node = "Deno" in globalThis ? "node" : process.execPath;
  const child = spawn(node, [join(REPO_ROOT, "bin", "polyalign.js"), ...args], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, POLYALIGN_LOG: "warn" },
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, out })),
  );
  return { child, done };
}

/**
 * The signal cases run the CLI on Node in a child process whichever runtime runs the suite;
 * under Deno its node:child_process reports a signalled child's exit code as null and delivers
 * its output late, so these cases are Node's.
 */
function skipOnDeno(ctx: Mocha.Context): void {
  if ("Deno" in globalThis) ctx.skip();
}

async function untilSteps(metrics: string, n: number, done: Promise<unknown>): Promise<void> {
  let finished = false;
  void done.then(() => (finished = true));
  while (!finished) {
    if (existsSync(metrics) && readFileSync(metrics, "utf8").split("\n").filter(Boolean).length >= n) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`the run ended before step ${n}`);
}

describe("cli: run folders — one run each, resumed as they were, stopped by signals without loss", function () {
  this.timeout(300000);
  const tmp = useTempRuns();
  const config = (name: string, extra: Record<string, unknown> = {}) => {
    const base = tinyConfig(tmp.path, { name: "cross-attention" }, { name });
    return { ...base, task: { ...base.task, evalRetrieval: false, steps: 12, checkpointEvery: 4 }, ...extra };
  };
  const write = (name: string, cfg: object) => {
    const file = join(tmp.path, `${name}.yaml`);
    writeFileSync(file, stringify(cfg));
    return file;
  };

  it("a second run on a live run's folder is refused and touches nothing; a dead owner's lock is taken over", async () => {
    const file = write("locked", config("locked"));
    const dir = join(tmp.path, "runs", "locked");
    mkdirSync(dir, { recursive: true });
    // the spec's parent process is alive and is not this process
    writeFileSync(join(dir, "run.lock"), JSON.stringify({ pid: process.ppid, host: (await import("node:os")).hostname(), started: "then" }));
    const refused = await cli("train", "--config", file);
    assert.equal(refused.code, 1, refused.out);
    assert.match(refused.out, new RegExp(`runs/locked is in use by process ${process.ppid} \\(since then\\); wait for it, stop it, or --set name=`));
    assert.ok(!existsSync(join(dir, "metrics.jsonl")) && !existsSync(join(dir, "config.yaml")), "nothing written");
    writeFileSync(join(dir, "run.lock"), JSON.stringify({ pid: 2 ** 22 + 12345, host: (await import("node:os")).hostname(), started: "long ago" }));
    const taken = await cli("train", "--config", file);
    assert.equal(taken.code, 0, taken.out);
    assert.ok(!existsSync(join(dir, "run.lock")), "the lock goes with the run");
    assert.equal(rows(join(dir, "metrics.jsonl")).length, 12);
  });

  it("--resume refuses changed hyper-parameters (naming them, config.yaml untouched) unless --allow-config-change; worker counts may change", async () => {
    const file = write("changed", config("changed"));
    assert.equal((await cli("train", "--config", file)).code, 0);
    const dir = join(tmp.path, "runs", "changed");
    const saved = readFileSync(join(dir, "config.yaml"), "utf8");
    const r = await cli("train", "--config", file, "--resume", "--set", "optim.lr=0.002", "--set", "data.batchSize=4");
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /--resume: the config differs from the checkpoint's in 2 place\(s\): data\.batchSize: 8 → 4; optim\.lr: 0\.001 → 0\.002\. /);
    assert.match(r.out, /--allow-config-change/);
    assert.equal(readFileSync(join(dir, "config.yaml"), "utf8"), saved, "config.yaml untouched");
    const workers = await cli("train", "--config", file, "--resume", "--set", "data.workers=1", "--set", "task.logEvery=2");
    assert.equal(workers.code, 0, workers.out);
    const allowed = await cli("train", "--config", file, "--resume", "--allow-config-change", "--set", "optim.lr=0.002");
    assert.equal(allowed.code, 0, allowed.out);
    const alone = await cli("train", "--config", file, "--allow-config-change");
    assert.equal(alone.code, 2);
    assert.match(alone.out, /--allow-config-change goes with --resume/);
  });

  it("--resume after a crash cuts metrics.jsonl back to the checkpoint's step: each step once, with the uninterrupted run's losses", async () => {
    const file = write("crashed", config("crashed"));
    assert.equal((await cli("train", "--config", file)).code, 0);
    const dir = join(tmp.path, "runs", "crashed");
    const full = rows(join(dir, "metrics.jsonl"));
    // the state a kill after step 10 leaves: checkpoints up to step 8, metrics to step 10 and a line cut mid-write
    for (const step of [12]) rmSync(join(dir, "checkpoints", `step-${String(step).padStart(7, "0")}`), { recursive: true, force: true });
    rmSync(join(dir, "checkpoints", "latest.json"));
    const lines = readFileSync(join(dir, "metrics.jsonl"), "utf8").split("\n").slice(0, 10);
    writeFileSync(join(dir, "metrics.jsonl"), lines.join("\n") + '\n{"step": 11, "lo');
    const r = await cli("train", "--config", file, "--resume");
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /resumed from .*step-0000008 \(step 8/);
    sameLosses(full, rows(join(dir, "metrics.jsonl")), "resumed after a crash");
  });

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`${signal} finishes the step, writes a checkpoint and exits ${signal === "SIGINT" ? 130 : 143}; --resume ends where an uninterrupted run does`, async function () {
      skipOnDeno(this);
      const steps = { ...config(`whole-${signal}`), task: { ...config("x").task, steps: 40, checkpointEvery: 1000, logEvery: 50 } };
      const whole = spawnCli(["train", "--config", write(`whole-${signal}`, steps)]);
      const wholeEnd = await whole.done;
      assert.equal(wholeEnd.code, 0, wholeEnd.out);
      const name = `stopped-${signal}`;
      const file = write(name, { ...steps, name });
      const dir = join(tmp.path, "runs", name);
      const run = spawnCli(["train", "--config", file]);
      await untilSteps(join(dir, "metrics.jsonl"), 5, run.done);
      run.child.kill(signal);
      const stopped = await run.done;
      assert.equal(stopped.code, signal === "SIGINT" ? 130 : 143, stopped.out);
      const m = /stopped by SIG\w+ after step (\d+); checkpoint (checkpoints\/step-\d+) written in .*: --resume continues the run/.exec(stopped.out);
      assert.ok(m, stopped.out);
      const at = Number(m[1]);
      assert.ok(at >= 5 && at < 40, `stopped at step ${at}`);
      assert.ok(existsSync(join(dir, m[2], "model.safetensors")));
      assert.ok(!existsSync(join(dir, "run.lock")), "the lock went with the run");
      const resumed = spawnCli(["train", "--config", file, "--resume"]);
      const end = await resumed.done;
      assert.equal(end.code, 0, end.out);
      sameLosses(rows(join(tmp.path, "runs", `whole-${signal}`, "metrics.jsonl")), rows(join(dir, "metrics.jsonl")), `stopped at ${at}, resumed`);
    });
  }

  it("a second SIGINT exits at once, without waiting for the step", async function () {
    skipOnDeno(this);
    const base = config("twice");
    // steps long enough (a wider, deeper model on more patches) that the second signal comes inside one
    const model = {
      vision: { ...base.model.vision, imageSize: 64, patch: 8, width: 192, depth: 6 },
      text: { ...base.model.text, width: 192, layers: 4, intermediate: 384 },
      fusion: { ...base.model.fusion, layers: 2, intermediate: 384 },
    };
    const file = write("twice", {
      ...base,
      model,
      data: { ...base.data, image: { size: 64 } },
      task: { ...base.task, steps: 100000, checkpointEvery: 1000, logEvery: 1000 },
    });
    const run = spawnCli(["train", "--config", file]);
    const metrics = join(tmp.path, "runs", "twice", "metrics.jsonl");
    // the first signal a third of the way into a step (one step timed first), so that the rest of
    // the step and its checkpoint outlast the spec's reaction to the warning
    await untilSteps(metrics, 1, run.done);
    const t0 = performance.now();
    await untilSteps(metrics, 2, run.done);
    await new Promise((r) => setTimeout(r, (performance.now() - t0) / 3));
    run.child.kill("SIGINT");
    // the second 50 ms later, inside the same step (the run's log line for the first reaches a pipe only when
    // its event loop turns, near the step's end — too late to wait for)
    await new Promise((r) => setTimeout(r, 50));
    run.child.kill("SIGINT");
    const end = await run.done;
    assert.equal(end.code, 130, end.out);
    assert.match(end.out, /SIGINT again: stopping now, without a checkpoint of the current step/);
    assert.doesNotMatch(end.out, /stopped by SIGINT after step/);
  });

  it("a copied run folder resumes from its own checkpoint, under its own lock", async () => {
    const file = write("original", config("original"));
    assert.equal((await cli("train", "--config", file)).code, 0);
    cpSync(join(tmp.path, "runs", "original"), join(tmp.path, "runs", "copy"), { recursive: true });
    rmSync(join(tmp.path, "runs", "original"), { recursive: true });
    const copy = write("copy", { ...config("copy"), task: { ...config("copy").task, steps: 14 } });
    const r = await cli("train", "--config", copy, "--resume", "--allow-config-change");
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /resumed from .*runs\/copy\/checkpoints\/step-0000012/);
  });
});
