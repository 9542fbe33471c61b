/**
 * `npm run bench:scale`: data-parallel scaling on this machine — samples/s of
 * pre-training the tiny model (configs/demo.yaml's) and a mid-size one
 * (width 256, 4 + 4 + 2 layers, 64 px, patch 8) as 1 process × 2 compute
 * threads against 2 MPI ranks × 1 thread (mpirun on loopback), both reading
 * the built-in data set in-process (data.workers 0), the same global batch
 * (32: 2 ranks × 16); and the ranks' gradient all-reduce per step against its
 * bytes. Each configuration runs `--steps` optimizer steps after `--warmup`
 * untimed ones (the figures come from the runs' metrics.jsonl elapsed times).
 * Last line: one JSON object with every figure.
 *
 * Needs Open MPI (openmpi-bin, libopenmpi-dev) and `npm run build:mpi`.
 * Options: --steps N (default 20), --warmup N (default 3), --sizes tiny,mid
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { loadMpiBinding } from "../core/index.ts";

const root = resolve(fileURLToPath(new URL(".", import.meta.url)), existsSync(fileURLToPath(new URL("../package.json", import.meta.url))) ? ".." : "../..");
const work = join(root, "bench", ".cache", "scale");
const MPIRUN = ["--oversubscribe", "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"];

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const SIZES: Record<string, Record<string, unknown>> = {
  tiny: {},
  mid: {
    vision: { name: "vit", imageSize: 64, patch: 8, width: 256, depth: 4, heads: 4 },
    text: { name: "bert", vocab: 64, width: 256, layers: 4, heads: 4, intermediate: 1024, maxPositions: 40 },
    fusion: { name: "hypergraph", layers: 2, heads: 4, intermediate: 1024, knn: 5, clusters: 4, iterations: 3 },
  },
};

interface Measured {
  samplesPerSec: number;
  stepSeconds: number;
  allreduceSecondsPerStep: number | null;
  allreduceMbPerStep: number | null;
  buckets: number | null;
}

function run(size: string, ranks: number, steps: number, warmup: number): Measured {
  const name = `scale-${size}-${ranks}`;
  const runs = join(work, "runs");
  const model = SIZES[size];
  const config = {
    extends: join(root, "configs", "demo.yaml"),
    name,
    runs,
    ...(Object.keys(model).length > 0 ? { model } : {}),
    threads: ranks === 1 ? 2 : 1,
    task: { name: "pretrain", steps: steps + warmup, checkpointEvery: 0, logEvery: 1000, evalRetrieval: false, evalBinding: false },
    data: { workers: 0, batchSize: 32 / ranks, ...(size === "mid" ? { image: { size: 64 } } : {}) },
  };
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, stringify(config));
  rmSync(join(runs, name), { recursive: true, force: true });
  const cli = [process.execPath, join(root, "bin", "polyalign.js"), "train", "--config", file];
  const [cmd, ...args] = ranks === 1 ? cli : ["mpirun", "-np", String(ranks), ...MPIRUN, ...cli];
  const r = spawnSync(cmd, args, {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, POLYALIGN_LOG: "warn", OMPI_ALLOW_RUN_AS_ROOT: "1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1" },
  });
  if (r.status !== 0) throw new Error(`${name} failed (${r.status}):\n${(r.stdout + r.stderr).slice(-3000)}`);
  const rows = readFileSync(join(runs, name, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { step: number; samples: number; elapsed_s: number; allreduce_s?: number });
  const first = rows[warmup - 1];
  const last = rows[rows.length - 1];
  const timed = rows.slice(warmup);
  const seconds = last.elapsed_s - first.elapsed_s;
  const summary = JSON.parse(readFileSync(join(runs, name, "summary.json"), "utf8")) as { allreduce?: { mb_per_step: number; buckets: number } };
  const reduce = timed.filter((x) => x.allreduce_s !== undefined);
  return {
    samplesPerSec: (last.samples - first.samples) / seconds,
    stepSeconds: seconds / timed.length,
    allreduceSecondsPerStep: reduce.length > 0 ? reduce.reduce((a, x) => a + (x.allreduce_s as number), 0) / reduce.length : null,
    allreduceMbPerStep: summary.allreduce?.mb_per_step ?? null,
    buckets: summary.allreduce?.buckets ?? null,
  };
}

function main(): void {
  if (spawnSync("mpirun", ["--version"]).status !== 0 || !loadMpiBinding().binding) {
    console.log("bench:scale needs Open MPI (apt-get install openmpi-bin libopenmpi-dev) and `npm run build:mpi`");
    process.exit(1);
  }
  mkdirSync(work, { recursive: true });
  const steps = Number(arg("steps", "20"));
  const warmup = Number(arg("warmup", "3"));
  const results: Record<string, unknown> = {};
  console.log(`${steps} timed steps after ${warmup}, global batch 32, data read in-process (workers 0)\n`);
  console.log("| model | 1 process × 2 threads | 2 ranks × 1 thread | ratio (2 ranks / 1) | all-reduce per step | gradient MB per step | share of the step |");
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const size of arg("sizes", "tiny,mid").split(",")) {
    const one = run(size, 1, steps, warmup);
    const two = run(size, 2, steps, warmup);
    const ratio = two.samplesPerSec / one.samplesPerSec;
    const share = two.allreduceSecondsPerStep !== null ? two.allreduceSecondsPerStep / two.stepSeconds : null;
    console.log(
      `| ${size} | ${one.samplesPerSec.toFixed(1)} samples/s | ${two.samplesPerSec.toFixed(1)} samples/s | ${ratio.toFixed(2)}x | ` +
        `${((two.allreduceSecondsPerStep ?? 0) * 1000).toFixed(1)} ms | ${(two.allreduceMbPerStep ?? 0).toFixed(2)} (${two.buckets} bucket(s)) | ${share !== null ? (100 * share).toFixed(1) : "—"} % |`,
    );
    results[size] = { one, two, ratio };
  }
  console.log(JSON.stringify(results));
}

main();
