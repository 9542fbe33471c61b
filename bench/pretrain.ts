/**
 * `npm run bench:pretrain`: ms per pre-training step (ITC + ITM + MLM, forward,
 * backward, AdamW, momentum update) and peak memory, for the tiny demo model
 * and the paper's base model (ViT-B/16 at 256 px, BERT 6 + 6), with ALBEF's
 * cross-attention fusion and with the hypergraph fusion. Random inputs; the
 * base model runs at a small batch on a CPU. Last line: one JSON object.
 *
 * "peak tensors" is tfjs' own count (tf.memory().numBytes), which counts every
 * view of a buffer — reshapes, the clones the tape saves for backward — so it
 * overstates the distinct bytes (about 2x for a ViT block); peak RSS is what
 * the machine pays.
 *
 * Each model runs in a child process of its own, so its peak RSS (getrusage's
 * maxrss) is its own. At base size the same step in PyTorch
 * (`bench/peers/torch_albef_step.py`: ALBEF's model_pretrain.py step in plain
 * PyTorch, Debian's python3-torch) runs in the same invocation with as many
 * threads; the ratios of step time and peak RSS to it are reported.
 *
 * Options: --steps N (default 15 tiny / 2 base), --sizes tiny,base, --batch-base N (default 2), --skip-peer
 */
import { activateBackend, AlignmentStep, buildVisionLanguageModel, createLogger, OptimConfig, prepareRun, Rng, tf, Trainer } from "../core/index.ts";
import { builtinRegistry } from "../plugins/index.ts";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL(".", import.meta.url)), existsSync(fileURLToPath(new URL("../package.json", import.meta.url))) ? ".." : "../..");
const python = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const SIZES = {
  tiny: {
    batch: 32,
    length: 24,
    vision: { name: "vit", imageSize: 32, patch: 8, width: 64, depth: 2, heads: 2 },
    text: { name: "bert", vocab: 64, width: 64, layers: 2, heads: 2, intermediate: 128, maxPositions: 40 },
    fusion: { layers: 2, heads: 2, intermediate: 128 },
    hyper: { knn: 5, clusters: 4, iterations: 3 },
    itc: { embedDim: 32, queue: 0 },
  },
  base: {
    batch: Number(arg("batch-base") ?? 2),
    length: 25,
    vision: { name: "vit", imageSize: 256, patch: 16, width: 768, depth: 12, heads: 12 },
    text: { name: "bert", vocab: 30522, width: 768, layers: 6, heads: 12, intermediate: 3072 },
    fusion: { layers: 6, heads: 12 },
    hyper: { knn: 10, clusters: 16, iterations: 5 },
    itc: { embedDim: 256, queue: 256 },
  },
} as const;

async function measure(size: keyof typeof SIZES, fusion: "cross-attention" | "hypergraph", steps: number, checkpointLayers = false) {
  const s = SIZES[size];
  const log = createLogger({ level: "error" });
  const fusionCfg = fusion === "hypergraph" ? { name: "hypergraph", ...s.fusion, ...s.hyper } : { name: "cross-attention", ...s.fusion };
  const objectives = [{ name: "itc", ...s.itc }, { name: "itm" }, { name: "mlm" }];
  const model = { vision: { ...s.vision, checkpointLayers }, text: { ...s.text, checkpointLayers }, fusion: { ...fusionCfg, checkpointLayers } };
  const { scope } = await prepareRun(builtinRegistry(), { model, objectives }, { log });
  await activateBackend(scope);
  const vlm = buildVisionLanguageModel(scope, { batchSize: s.batch, imageIds: false });
  const rng = new Rng(0);
  const trainer = new Trainer(vlm, [...vlm.trainable()], {
    runDir: join(tmpdir(), `polyalign-bench-${process.pid}`),
    optim: OptimConfig.parse({ warmupSteps: 0 }),
    totalSteps: 1e9,
    checkpointEvery: 0,
    keepCheckpoints: 1,
    logEvery: 1e9,
    log,
    rng,
    config: {},
  });
  const vars = [...vlm.trainable()];
  const b = s.batch;
  const images = tf.randomNormal([b, 3, s.vision.imageSize, s.vision.imageSize], 0, 1, "float32", 1);
  const ids = tf.tensor2d(
    Array.from({ length: b * s.length }, (_, i) => (i % s.length === 0 ? 2 : 5 + (i % 50))),
    [b, s.length],
    "int32",
  );
  const mask = tf.ones([b, s.length], "int32");
  const times: number[] = [];
  let peakRss = process.memoryUsage().rss;
  let peakTensorBytes = 0;
  const oneStep = async () => {
    trainer.beginMicroStep();
    const step = new AlignmentStep(
      vlm,
      { images, ids, mask },
      { alpha: 0.4, rng, special: { pad: 0, unk: 1, cls: 2, sep: 3, mask: 4 }, vocabSize: s.text.vocab },
    );
    step.prepare();
    const { value, grads } = tf.variableGrads(
      () => {
        const l = step.loss();
        peakTensorBytes = Math.max(peakTensorBytes, tf.memory().numBytes);
        return l;
      },
      vars.map(([, v]) => v),
    );
    peakTensorBytes = Math.max(peakTensorBytes, tf.memory().numBytes);
    const loss = value.dataSync()[0];
    value.dispose();
    const byName: Record<string, tf.Tensor> = {};
    for (const [n, v] of vars) byName[n] = grads[v.name];
    step.finish();
    await trainer.addMicroStep({ loss, parts: {}, grads: byName }, b, null);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  };
  for (let i = 0; i < steps + 1; i++) {
    const t0 = performance.now();
    await oneStep();
    if (i > 0) times.push(performance.now() - t0); // the first step warms up
  }
  // one more step, profiled: the multiply-adds of its matrix products (the work the kernels cannot avoid)
  const profile = await tf.profile(oneStep);
  const matmulGmacs = profile.kernels.reduce((sum, k) => sum + matmulMacs(k.name, k.inputShapes, k.outputShapes), 0) / 1e9;
  tf.dispose([images, ids, mask]);
  trainer.dispose();
  vlm.dispose();
  times.sort((x, y) => x - y);
  peakRss = Math.max(peakRss, process.resourceUsage().maxRSS * 1024);
  return {
    msPerStep: times[Math.floor(times.length / 2)],
    stepsMs: times.map(Math.round),
    matmulGmacs,
    peakRssMb: peakRss / 2 ** 20,
    peakTensorMb: peakTensorBytes / 2 ** 20,
    batch: b,
  };
}

type Measured = Awaited<ReturnType<typeof measure>>;

/** batch·m·n·k of a BatchMatMul / _FusedMatMul from its shapes: k is op(a)'s dimension that is not the output's m. */
function matmulMacs(name: string, inputs: number[][], outputs: number[][]): number {
  if (name !== "BatchMatMul" && name !== "_FusedMatMul") return 0;
  const a = inputs[0];
  const out = outputs[0];
  if (!a || !out || a.length < 2 || out.length < 2) return 0;
  const m = out[out.length - 2];
  const k = a[a.length - 2] === m ? a[a.length - 1] : a[a.length - 2];
  return out.reduce((p, d) => p * d, 1) * k;
}

/** One model in a child process (its own peak RSS). */
function measureApart(size: keyof typeof SIZES, fusion: "cross-attention" | "hypergraph", steps: number, checkpointLayers = false): Measured {
  const script = fileURLToPath(import.meta.url);
  const extra = arg("batch-base") ? ["--batch-base", arg("batch-base") as string] : [];
  const only = `${size}:${fusion}${checkpointLayers ? ":checkpoint" : ""}`;
  const r = spawnSync(process.execPath, [script, "--only", only, "--steps", String(steps), ...extra], { encoding: "utf8", maxBuffer: 1 << 24 });
  const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
  if (r.status !== 0 || !line) throw new Error(`${size} ${fusion} failed: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`);
  return JSON.parse(line) as Measured;
}

/** ALBEF's step in PyTorch at base size, with `threads` threads; null where torch is missing. */
function torchPeer(batch: number, steps: number, threads: number): { ms_per_step: number; peak_rss_mb: number; params: number } | null {
  const t = String(threads);
  const r = spawnSync(
    python,
    [
      join(root, "bench", "peers", "torch_albef_step.py"),
      "--batch",
      String(batch),
      "--steps",
      String(steps),
      "--threads",
      t,
      "--queue",
      String(SIZES.base.itc.queue),
    ],
    {
      encoding: "utf8",
      env: { ...process.env, OPENBLAS_NUM_THREADS: t, OMP_NUM_THREADS: t },
    },
  );
  const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
  if (r.status !== 0 || !line) {
    console.log(`PyTorch peer failed (needs python3-torch): ${(r.stderr || "").trim().split("\n").pop()}`);
    return null;
  }
  return JSON.parse(line) as { ms_per_step: number; peak_rss_mb: number; params: number };
}

async function main(): Promise<void> {
  const only = arg("only");
  if (only) {
    const [size, fusion, checkpoint] = only.split(":") as [keyof typeof SIZES, "cross-attention" | "hypergraph", string | undefined];
    console.log(JSON.stringify(await measure(size, fusion, Number(arg("steps") ?? 2), checkpoint === "checkpoint")));
    return;
  }
  const sizes = (arg("sizes") ?? "tiny,base").split(",") as (keyof typeof SIZES)[];
  const threads = Number(process.env.POLYALIGN_THREADS ?? availableParallelism());
  const figures: Record<string, number | string | null> = { bench: "pretrain", threads };
  console.log(`${"model".padEnd(28)} ${"batch".padStart(5)} ${"ms/step".padStart(10)} ${"peak RSS MB".padStart(12)} ${"peak tensors MB".padStart(16)}`);
  for (const size of sizes) {
    const steps = Number(arg("steps") ?? (size === "tiny" ? 15 : 2));
    for (const fusion of ["cross-attention", "hypergraph"] as const) {
      const r = measureApart(size, fusion, steps);
      console.log(
        `${`${size} ${fusion}`.padEnd(28)} ${String(r.batch).padStart(5)} ${r.msPerStep.toFixed(0).padStart(10)} ${r.peakRssMb.toFixed(0).padStart(12)} ${r.peakTensorMb.toFixed(0).padStart(16)}`,
      );
      const key = `${size}_${fusion === "hypergraph" ? "hypergraph" : "attention"}`;
      figures[`${key}_ms`] = Math.round(r.msPerStep);
      figures[`${key}_peak_rss_mb`] = Math.round(r.peakRssMb);
      figures[`${key}_peak_tensor_mb`] = Math.round(r.peakTensorMb);
      figures[`${key}_matmul_gmacs`] = Math.round(r.matmulGmacs * 10) / 10;
    }
    if (size === "base") {
      // activation checkpointing: peak RSS and time with every layer checkpointed
      const r = measureApart(size, "cross-attention", steps, true);
      console.log(
        `${"base cross-attention, checkpointLayers".padEnd(28)} ${String(r.batch).padStart(5)} ${r.msPerStep.toFixed(0).padStart(10)} ${r.peakRssMb.toFixed(0).padStart(12)} ${r.peakTensorMb.toFixed(0).padStart(16)}`,
      );
      figures.base_attention_checkpoint_ms = Math.round(r.msPerStep);
      figures.base_attention_checkpoint_peak_rss_mb = Math.round(r.peakRssMb);
      figures.base_attention_checkpoint_peak_tensor_mb = Math.round(r.peakTensorMb);
    }
    figures[`${size}_hypergraph_over_attention`] =
      Math.round(((figures[`${size}_hypergraph_ms`] as number) / (figures[`${size}_attention_ms`] as number)) * 100) / 100;
    figures[`${size}_hypergraph_over_attention_matmul_work`] =
      Math.round(((figures[`${size}_hypergraph_matmul_gmacs`] as number) / (figures[`${size}_attention_matmul_gmacs`] as number)) * 100) / 100;
    if (size === "base" && !process.argv.includes("--skip-peer")) {
      const peer = torchPeer(SIZES.base.batch, steps, threads);
      if (peer) {
        console.log(
          `${"base PyTorch (ALBEF's step)".padEnd(28)} ${String(SIZES.base.batch).padStart(5)} ${peer.ms_per_step.toFixed(0).padStart(10)} ${peer.peak_rss_mb.toFixed(0).padStart(12)}`,
        );
        figures.base_torch_ms = Math.round(peer.ms_per_step);
        figures.base_torch_peak_rss_mb = Math.round(peer.peak_rss_mb);
        for (const k of ["attention", "hypergraph"]) {
          figures[`base_${k}_over_torch`] = Math.round(((figures[`base_${k}_ms`] as number) / peer.ms_per_step) * 100) / 100;
          figures[`base_${k}_rss_over_torch`] = Math.round(((figures[`base_${k}_peak_rss_mb`] as number) / peer.peak_rss_mb) * 100) / 100;
        }
        console.log(
          `step time against PyTorch: attention ${figures.base_attention_over_torch}x, hypergraph ${figures.base_hypergraph_over_torch}x (goal ≤ 1.0x); ` +
            `peak RSS: ${figures.base_attention_rss_over_torch}x / ${figures.base_hypergraph_rss_over_torch}x (goal ≤ 1.0x)`,
        );
      }
    }
    console.log(
      `${size}: hypergraph over attention ${figures[`${size}_hypergraph_over_attention`]}x (goal ≤ ${size === "tiny" ? "1.3" : "1.15"}x); ` +
        `the step's matrix products: ${figures[`${size}_attention_matmul_gmacs`]} vs ${figures[`${size}_hypergraph_matmul_gmacs`]} G multiply-adds, ` +
        `${figures[`${size}_hypergraph_over_attention_matmul_work`]}x`,
    );
  }
  console.log(JSON.stringify(figures));
}

await main();
