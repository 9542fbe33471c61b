/**
 * `npm run bench:pipeline`: samples/s of polyalign's data pipeline — shards
 * from ../shared/peer/make_shards.py (8 × 100, 640 × 480 JPEGs), ALBEF's
 * pre-training transform at 256 px (RandomResizedCrop 0.2–1, flip,
 * RandAugment 2/7, CLIP normalisation), caption cleaning and WordPiece
 * tokenisation, batches of 32 — with 1 and 2 worker threads, beside the
 * Python peer (`peer_pipeline.py --loader torch` and `--loader mp`) run in
 * the same invocation. That peer does less per sample (no RandAugment, a toy
 * tokenizer); the same-work peer is ALBEF's own pipeline
 * (`bench/peers/albef_pipeline.py`: ALBEF's pre-training transform with its
 * cv2 RandomAugment, pre_caption, BERT WordPiece per batch, under a torch
 * DataLoader). Both ratios are reported. Last line: one JSON object with every figure.
 *
 * Options: --passes N (timed passes, default 2), --workers 1,2, --shards DIR (skip generation)
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BatchLoader, createTransformPool, expandShardSpec, ImageTransformConfig, SampleFormat, SampleStream, type ProcessorSpec } from "../core/index.ts";

const root = resolve(fileURLToPath(new URL(".", import.meta.url)), existsSync(fileURLToPath(new URL("../package.json", import.meta.url))) ? ".." : "../..");
const shared = resolve(root, "../shared");
const python = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function ensureShards(): string {
  const given = arg("shards");
  if (given) return given;
  const dir = join(root, "bench", ".cache", "peer-shards");
  if (existsSync(join(dir, "sizes.json"))) return dir;
  mkdirSync(dir, { recursive: true });
  console.log(`making 8 × 100 shards with make_shards.py → ${dir}`);
  const r = spawnSync(python, [join(shared, "peer", "make_shards.py"), "--out", dir, "--shards", "8", "--samples", "100"], { stdio: "inherit" });
  if (r.status !== 0) throw new Error("make_shards.py failed (needs ../shared and python3 with numpy + Pillow)");
  return dir;
}

function peer(dir: string, loader: "torch" | "mp", workers: number[]): Record<number, number | null> {
  const out: Record<number, number | null> = {};
  const r = spawnSync(
    python,
    [join(shared, "peer", "peer_pipeline.py"), "--data", dir, "--workers", ...workers.map(String), "--loader", loader, "--warmup", "--epochs", "2"],
    {
      encoding: "utf8",
      env: { ...process.env, OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1" },
    },
  );
  for (const w of workers) out[w] = null;
  if (r.status !== 0) {
    console.log(`peer --loader ${loader} failed: ${(r.stderr || "").trim().split("\n").pop()}`);
    return out;
  }
  for (const line of r.stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    const j = JSON.parse(line) as { workers: number; samples_per_s: number; loader: string };
    out[j.workers] = j.samples_per_s;
  }
  return out;
}

/** ALBEF's own input pipeline (the same work as ours), samples/s by worker count; null where it failed. */
function albefPeer(dir: string, workers: number[]): Record<number, number | null> {
  const out: Record<number, number | null> = Object.fromEntries(workers.map((w) => [w, null]));
  const r = spawnSync(
    python,
    [join(root, "bench", "peers", "albef_pipeline.py"), "--data", dir, "--vocab", vocabFile(), "--workers", ...workers.map(String), "--epochs", "2"],
    { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1" } },
  );
  if (r.status !== 0) {
    console.log(`ALBEF peer failed (needs python3-torch, python3-torchvision, python3-opencv): ${(r.stderr || "").trim().split("\n").pop()}`);
    return out;
  }
  for (const line of r.stdout.split("\n").filter((l) => l.startsWith("{"))) {
    const j = JSON.parse(line) as { workers: number; samples_per_s: number };
    out[j.workers] = j.samples_per_s;
  }
  return out;
}

function vocabFile(): string {
  const bert = join(shared, "data", "tokenizers", "bert-base-uncased", "vocab.txt");
  if (existsSync(bert)) return bert;
  const tiny = join(root, "bench", ".cache", "tiny-vocab.txt");
  mkdirSync(join(root, "bench", ".cache"), { recursive: true });
  writeFileSync(tiny, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n");
  return tiny;
}

async function ours(dir: string, threads: number, passes: number): Promise<number> {
  const spec: ProcessorSpec = {
    image: ImageTransformConfig.parse({ size: 256, scale: [0.2, 1] }),
    format: SampleFormat.parse({}),
    tokenizer: { name: "wordpiece", vocab: vocabFile(), maxLength: 25 },
    plugins: [],
  };
  const pool = await createTransformPool(spec, { threads, tasksPerThread: 2 });
  const shards = expandShardSpec(dir);
  const pass = async (epoch: number) => {
    let n = 0;
    const loader = new BatchLoader(new SampleStream({ shards, seed: 0, shuffleBuffer: 100 }, epoch), pool, {
      batchSize: 32,
      imageSize: 256,
      padId: 0,
      seed: 0,
      epoch,
      dropLast: false,
      maxInFlight: Math.max(8, 6 * threads),
    });
    for await (const b of loader.batches()) n += b.batch;
    return n;
  };
  try {
    await pass(0); // warm-up: page cache, worker start, JIT
    const t0 = performance.now();
    let n = 0;
    for (let p = 1; p <= passes; p++) n += await pass(p);
    return n / ((performance.now() - t0) / 1000);
  } finally {
    await pool.close();
  }
}

async function main(): Promise<void> {
  const passes = Number(arg("passes") ?? 2);
  const workers = (arg("workers") ?? "1,2").split(",").map(Number);
  const dir = ensureShards();
  const figures: Record<string, number | string | null> = { bench: "pipeline" };
  const torch = peer(dir, "torch", workers);
  const mp = peer(dir, "mp", workers);
  const albef = albefPeer(dir, workers);
  console.log(`\n${"pipeline".padEnd(44)} ${workers.map((w) => `${w} worker${w > 1 ? "s" : ""}`.padStart(12)).join("")}`);
  const mine: Record<number, number> = {};
  for (const w of workers) mine[w] = await ours(dir, w, passes);
  const row = (label: string, v: Record<number, number | null>) =>
    console.log(`${label.padEnd(44)} ${workers.map((w) => (v[w] == null ? "—" : (v[w] as number).toFixed(1)).padStart(12)).join("")}  samples/s`);
  row("polyalign (tar-stream + Piscina + sharp)", mine);
  row("Python peer, torch DataLoader", torch);
  row("Python peer, multiprocessing (count only)", mp);
  row("ALBEF's pipeline (same work), torch DataLoader", albef);
  for (const w of workers) {
    figures[`polyalign_${w}w`] = Math.round(mine[w] * 10) / 10;
    figures[`torch_${w}w`] = torch[w];
    figures[`mp_${w}w`] = mp[w];
    figures[`ratio_torch_${w}w`] = torch[w] ? Math.round((mine[w] / (torch[w] as number)) * 100) / 100 : null;
    figures[`albef_${w}w`] = albef[w];
    figures[`ratio_albef_${w}w`] = albef[w] ? Math.round((mine[w] / (albef[w] as number)) * 100) / 100 : null;
  }
  console.log(workers.map((w) => `ratio to the torch DataLoader at ${w} worker(s): ${figures[`ratio_torch_${w}w`] ?? "—"}x`).join("; "));
  console.log(workers.map((w) => `ratio to ALBEF's pipeline (same work) at ${w} worker(s): ${figures[`ratio_albef_${w}w`] ?? "—"}x`).join("; "));
  console.log(JSON.stringify(figures));
}

await main();
