/**
 * Data-parallel training under `mpirun -np 2` on loopback (pending where Open
 * MPI or polyalign's MPI binding is absent): two ranks of batch B/2 train as
 * one process of batch B (an objective that couples no samples: MLM), every
 * rank ends with the same weights and queues under ITC + ITM + MLM, a killed
 * rank stops the job with the last checkpoint intact, and --resume on two ranks
 * goes on from it.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { buildSynthDataset, latestCheckpoint, loadMpiBinding, readSafetensors, readShards, ShardWriter, shardOrder, type WdsSample } from "../../core/index.ts";
import { REPO_ROOT } from "../helpers.ts";
import { tinyConfig, useTempRuns } from "../tiny-run.ts";

const MPIRUN_FLAGS = ["--oversubscribe", "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"];

function mpiOrSkip(ctx: Mocha.Context): void {
  if (spawnSync("mpirun", ["--version"], { encoding: "utf8" }).status !== 0 || !loadMpiBinding().binding) ctx.skip();
}

interface Launched {
  child: ChildProcess;
  done: Promise<{ code: number | null; out: string; seconds: number }>;
}

/** `polyalign ARGS` under mpirun with `n` ranks (node, also when the suite runs on Deno), or alone with n = 0. */
function launch(n: number, args: string[], extraEnv: Record<string, string> = {}): Launched {
  const node = "Deno" in globalThis ? "node" : process.execPath;
  const cli = [node, join(REPO_ROOT, "bin", "polyalign.js"), ...args];
  const [cmd, ...argv] = n > 0 ? ["mpirun", "-np", String(n), ...MPIRUN_FLAGS, ...cli] : cli;
  const t0 = performance.now();
  const child = spawn(cmd, argv, {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      POLYALIGN_LOG: "warn",
      OMPI_ALLOW_RUN_AS_ROOT: "1",
      OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1",
      OMPI_MCA_rmaps_base_oversubscribe: "1",
      ...extraEnv,
    },
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ code: number | null; out: string; seconds: number }>((resolve) =>
    child.on("close", (code) => resolve({ code, out, seconds: (performance.now() - t0) / 1000 })),
  );
  return { child, done };
}

type Row = Record<string, number>;
const metrics = (run: string): Row[] =>
  readFileSync(join(run, "metrics.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Row);

describe("cli: data-parallel training on MPI (mpirun -np 2, loopback)", function () {
  this.timeout(600000);
  const tmp = useTempRuns();
  let shards: { a: string; b: string; single: string } | null = null;

  /**
   * Shards whose batches line up: ranks 0 and 1 each read one of part-0/part-1 (the shard order
   * says which), 4 samples a step; one process reads `single`, where each 8-sample batch is rank 0's
   * 4 then rank 1's 4 — the rows in the order the per-row streams number them.
   */
  async function alignedShards(seed: number): Promise<{ a: string; b: string; single: string }> {
    if (shards) return shards;
    const synth = await buildSynthDataset({ out: join(tmp.path, "synth"), seed: 5, train: 24, val: 0, test: 8, pairs: 0, imageSize: 24 });
    const samples: WdsSample[] = [];
    for await (const s of readShards(synth.splits.train.shards)) samples.push(s);
    const write = async (pattern: string, list: typeof samples, maxcount: number) => {
      const w = new ShardWriter({ pattern: join(tmp.path, pattern), maxcount });
      for (const s of list) await w.write({ key: s.key, files: s.files });
      return (await w.close()).map((x) => x.file);
    };
    const [part0, part1] = await write("part-%06d.tar", samples, 12);
    const rank0 = shardOrder([part0, part1], 0, 0, { seed, rank: 0, worldSize: 2 }).shardAt(0);
    const [first, second] = rank0 === part0 ? [samples.slice(0, 12), samples.slice(12)] : [samples.slice(12), samples.slice(0, 12)];
    const interleaved = [0, 1, 2].flatMap((k) => [...first.slice(4 * k, 4 * k + 4), ...second.slice(4 * k, 4 * k + 4)]);
    shards = { a: part0, b: part1, single: (await write("single-%06d.tar", interleaved, 1000))[0] };
    return shards;
  }

  function config(name: string, extra: Record<string, unknown>): string {
    const base = tinyConfig(tmp.path, { name: "cross-attention", dropout: 0 }, { name });
    const cfg = {
      ...base,
      model: { ...base.model, text: { ...base.model.text, dropout: 0 } },
      task: { name: "pretrain", steps: 3, checkpointEvery: 1, logEvery: 1, evalRetrieval: false, evalBinding: false },
      ...extra,
      // no sample shuffle, and a transform that draws nothing that matters (the draws follow each rank's stream): the same pixels wherever a sample is read
      data: {
        ...base.data,
        workers: 0,
        shuffle: 1,
        image: { size: 16, scale: [1, 1], ratio: [1, 1], hflip: 0, randAugment: null },
        ...((extra.data as object) ?? {}),
      },
    };
    const file = join(tmp.path, `${name}.yaml`);
    writeFileSync(file, stringify(cfg));
    return file;
  }

  it("MLM alone: 2 ranks × batch 4 give the losses and weights of 1 process × batch 8 (1e-5)", async function () {
    mpiOrSkip(this);
    const s = await alignedShards(7);
    const mlm = { objectives: [{ name: "mlm", probability: 0.3 }] };
    const one = await launch(0, ["train", "--config", config("mlm-one", { ...mlm, data: { train: s.single, batchSize: 8 } })]).done;
    assert.equal(one.code, 0, one.out);
    const two = await launch(2, [
      "train",
      "--config",
      config("mlm-two", { ...mlm, data: { train: join(tmp.path, "part-{000000..000001}.tar"), batchSize: 4 } }),
    ]).done;
    assert.equal(two.code, 0, two.out);
    const [a, b] = [metrics(join(tmp.path, "runs", "mlm-one")), metrics(join(tmp.path, "runs", "mlm-two"))];
    assert.deepEqual(
      b.map((r) => [r.step, r.samples]),
      a.map((r) => [r.step, r.samples]),
      "the same steps over the same samples",
    );
    for (let i = 0; i < a.length; i++)
      assert.ok(Math.abs(a[i].mlm - b[i].mlm) <= 1e-5 * Math.max(1, Math.abs(a[i].mlm)), `step ${a[i].step}: mlm ${a[i].mlm} vs ${b[i].mlm}`);
    const w1 = readSafetensors(join(latestCheckpoint(join(tmp.path, "runs", "mlm-one")) as string, "model.safetensors")).tensors;
    const w2 = readSafetensors(join(latestCheckpoint(join(tmp.path, "runs", "mlm-two")) as string, "model.safetensors")).tensors;
    let worst = 0;
    let worstName = "";
    for (const [k, t] of w1) {
      if (t.dtype !== "F32") continue;
      const x = new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4);
      const u = w2.get(k)!;
      const y = new Float32Array(u.data.buffer, u.data.byteOffset, u.data.byteLength / 4);
      for (let i = 0; i < x.length; i++)
        if (Math.abs(x[i] - y[i]) > worst) {
          worst = Math.abs(x[i] - y[i]);
          worstName = `${k}[${i}]: ${x[i]} vs ${y[i]}`;
        }
    }
    assert.ok(worst <= 1e-5, `largest weight difference ${worst} (${worstName})`);
    const summary = JSON.parse(readFileSync(join(tmp.path, "runs", "mlm-two", "summary.json"), "utf8")) as { processes: number; samples: number };
    assert.equal(summary.processes, 2);
    assert.equal(summary.samples, 24, "samples counted over both ranks");
  });

  it("ITC + ITM + MLM with a queue: after the steps every rank holds bit-identical weights and queues", async function () {
    mpiOrSkip(this);
    await alignedShards(7);
    const run = await launch(2, [
      "train",
      "--config",
      config("all-two", {
        objectives: [{ name: "itc", queue: 16, embedDim: 8 }, { name: "itm" }, { name: "mlm" }],
        data: { train: join(tmp.path, "part-{000000..000001}.tar"), batchSize: 4 },
      }),
    ]).done;
    assert.equal(run.code, 0, run.out);
    const summary = JSON.parse(readFileSync(join(tmp.path, "runs", "all-two", "summary.json"), "utf8")) as {
      rank_states: { identical: boolean; hashes: string[]; entries: number };
    };
    assert.equal(summary.rank_states.hashes.length, 2);
    assert.equal(summary.rank_states.hashes[0], summary.rank_states.hashes[1], "every rank's state hashes alike");
    assert.ok(summary.rank_states.identical && summary.rank_states.entries > 100);
    const state = readSafetensors(join(latestCheckpoint(join(tmp.path, "runs", "all-two")) as string, "model.safetensors")).tensors;
    assert.ok(state.has("image_queue") && state.has("text_queue"), "the queues are part of the state the ranks compare");
  });

  it("retrieval: 2 ranks re-rank their share of the gallery's queries and every rank gets the whole — the figures of one process", async function () {
    mpiOrSkip(this);
    const init = join(tmp.path, "runs", "all-two");
    if (!existsSync(join(init, "summary.json"))) this.skip(); // made by the case above
    const retrieval = (name: string) =>
      config(name, {
        objectives: [{ name: "itc", queue: 0, embedDim: 8 }, { name: "itm" }],
        task: { name: "retrieval", init, steps: 1, kTest: 10, evalBefore: true, evalMaxImages: 8, rerankScore: "itm" },
        data: { train: join(tmp.path, "part-{000000..000001}.tar"), test: join(tmp.path, "synth", "test-000000.tar"), batchSize: 4 },
      });
    const one = await launch(0, ["train", "--config", retrieval("ret-one")]).done;
    assert.equal(one.code, 0, one.out);
    const two = await launch(2, ["train", "--config", retrieval("ret-two")]).done;
    assert.equal(two.code, 0, two.out);
    const evalBefore = (name: string) =>
      (JSON.parse(readFileSync(join(tmp.path, "runs", name, "summary.json"), "utf8")) as { before: Record<string, unknown> }).before;
    const [a, b] = [evalBefore("ret-one"), evalBefore("ret-two")];
    assert.deepEqual(b.itm, a.itm, "ITM re-ranked recall");
    assert.deepEqual(b.itc, a.itc);
  });

  it("a process a launcher started as one of several, without the MPI binding, stops before writing anything, saying how to build it", async () => {
    const file = config("no-binding", { task: { name: "pretrain", steps: 2, evalRetrieval: false, evalBinding: false } });
    const ended = await launch(0, ["train", "--config", file], { OMPI_COMM_WORLD_SIZE: "2", OMPI_COMM_WORLD_RANK: "0", POLYALIGN_MPI: "0" }).done;
    assert.equal(ended.code, 1, ended.out);
    assert.match(ended.out, /rank 0 of 2 \(started by mpirun \(Open MPI\)\), but polyalign's MPI binding is not built \(POLYALIGN_MPI=0\).*npm run build:mpi/);
    assert.ok(!existsSync(join(tmp.path, "runs", "no-binding")), "no run folder");
  });

  it("a rank killed mid-run stops the job within seconds, the last checkpoint intact; --resume on 2 ranks goes on", async function () {
    mpiOrSkip(this);
    if ("Deno" in globalThis) this.skip(); // Deno's child_process reports a signalled child late
    await alignedShards(7);
    const file = config("kill-two", {
      task: { name: "pretrain", steps: 30, checkpointEvery: 2, logEvery: 1, evalRetrieval: false, evalBinding: false },
      data: { train: join(tmp.path, "part-{000000..000001}.tar"), batchSize: 4 },
    });
    const runDir = join(tmp.path, "runs", "kill-two");
    const job = launch(2, ["train", "--config", file]);
    let finished = false;
    void job.done.then(() => (finished = true));
    while (!finished && !(existsSync(join(runDir, "metrics.jsonl")) && metrics(runDir).length >= 5)) await new Promise((r) => setTimeout(r, 20));
    assert.ok(!finished, "the run was still going at step 5");
    const rank1 = rankPid(1);
    assert.ok(rank1 !== null, "rank 1's process");
    const t0 = performance.now();
    process.kill(rank1 as number, "SIGKILL");
    const ended = await job.done;
    const seconds = (performance.now() - t0) / 1000;
    assert.notEqual(ended.code, 0);
    assert.ok(seconds < 30, `the job took ${seconds.toFixed(1)} s to stop`);
    assert.match(ended.out, /rank 1|process rank 1|exited on signal 9/i, ended.out.slice(-2000));
    const dir = latestCheckpoint(runDir) as string;
    assert.ok(dir, "a checkpoint was left");
    const step = Number(/step-(\d+)/.exec(dir)?.[1]);
    assert.ok(step >= 2, `checkpoint at step ${step}`);
    assert.ok(readSafetensors(join(dir, "model.safetensors")).tensors.size > 100, "the checkpoint reads whole");
    // mpirun may return while rank 0, blocked in a collective, is still being killed: its run lock is taken over once it is gone
    for (let t = 0; rankPid(0) !== null && t < 600; t++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(rankPid(0), null, "rank 0 is gone within 30 s");
    const resumed = await launch(2, ["train", "--config", file, "--resume"]).done;
    assert.equal(resumed.code, 0, resumed.out);
    const rows = metrics(runDir);
    assert.equal(rows[rows.length - 1].step, 30);
    assert.deepEqual(
      rows.map((r) => r.step),
      Array.from({ length: 30 }, (_, i) => i + 1),
      "every step once in metrics.jsonl",
    );
  });
});

/** The pid of the polyalign process that is rank `rank` of a running mpirun job (by its environment). */
function rankPid(rank: number): number | null {
  const ps = spawnSync("pgrep", ["-f", "bin/polyalign.js train"], { encoding: "utf8" });
  for (const pid of ps.stdout.split("\n").filter(Boolean).map(Number)) {
    try {
      const env = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
      if (env.includes(`OMPI_COMM_WORLD_RANK=${rank}`) && env.some((e) => e.startsWith("OMPI_COMM_WORLD_SIZE="))) return pid;
    } catch {
      // gone meanwhile
    }
  }
  return null;
}
