/**
 * `npm run bench:step`: forward + backward of one pre-LN transformer encoder
 * layer (fused qkv, softmax attention, exact GELU, two LayerNorms, MSE loss)
 * at two sizes — (a) B8 N64 D256, (b) ViT-B-like B2 N197 D768 — on the stock
 * tfjs `cpu` kernels, on polyalign's kernels (native at 1 and 2 threads, JS),
 * and in PyTorch (Debian python3-torch) in the same run. Prints ms/step and
 * ratios to PyTorch; the last line is one JSON object with every figure.
 *
 * Options: --steps N (default 10), --skip-stock, --sizes small,vitb
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  createJsOps,
  gelu,
  installKernels,
  LayerNorm,
  Linear,
  loadNativeOps,
  mergeHeads,
  Module,
  Rng,
  scaledDotProductAttention,
  splitHeads,
  tf,
  uninstallKernels,
  activateCpu,
  type CpuOps,
} from "../core/index.ts";

interface Size {
  key: "small" | "vitb";
  b: number;
  n: number;
  d: number;
  heads: number;
  mlp: number;
}

const SIZES: Size[] = [
  { key: "small", b: 8, n: 64, d: 256, heads: 4, mlp: 1024 },
  { key: "vitb", b: 2, n: 197, d: 768, heads: 12, mlp: 3072 },
];

class EncoderLayer extends Module {
  readonly ln1: LayerNorm;
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly ln2: LayerNorm;
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(
    readonly s: Size,
    rng: Rng,
  ) {
    super();
    this.ln1 = this.child("ln1", new LayerNorm(s.d, 1e-6, rng));
    this.qkv = this.child("qkv", new Linear(s.d, 3 * s.d, rng));
    this.proj = this.child("proj", new Linear(s.d, s.d, rng));
    this.ln2 = this.child("ln2", new LayerNorm(s.d, 1e-6, rng));
    this.fc1 = this.child("fc1", new Linear(s.d, s.mlp, rng));
    this.fc2 = this.child("fc2", new Linear(s.mlp, s.d, rng));
  }
  forward(x: tf.Tensor): tf.Tensor {
    const [q, k, v] = tf.split(this.qkv.forward(this.ln1.forward(x)), 3, -1).map((t) => splitHeads(t, this.s.heads));
    const { context, probs } = scaledDotProductAttention(q, k, v);
    probs.dispose();
    const h = tf.add(x, this.proj.forward(mergeHeads(context)));
    return tf.add(h, this.fc2.forward(gelu(this.fc1.forward(this.ln2.forward(h)))));
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeTfjs(size: Size, steps: number, warmup: number): { median: number; min: number } {
  const rng = new Rng(0);
  const layer = new EncoderLayer(size, rng);
  const vars = [...layer.namedParameters()].map(([, v]) => v);
  const x = tf.randomNormal([size.b, size.n, size.d], 0, 1, "float32", 1);
  const target = tf.randomNormal([size.b, size.n, size.d], 0, 1, "float32", 2);
  const times: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.squaredDifference(layer.forward(x), target)) as tf.Scalar, vars);
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
    if (i >= warmup) times.push(performance.now() - t0);
  }
  tf.dispose([x, target]);
  layer.dispose();
  return { median: median(times), min: Math.min(...times) };
}

function torchPeer(size: Size, steps: number, threads: number): { median: number; min: number } | { error: string } {
  const script = fileURLToPath(new URL("../../bench/peers/torch_step.py", import.meta.url));
  const peer = existsSync(script) ? script : fileURLToPath(new URL("./peers/torch_step.py", import.meta.url));
  const python = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const env = {
    ...process.env,
    OPENBLAS_NUM_THREADS: String(threads),
    OMP_NUM_THREADS: String(threads),
    OMP_WAIT_POLICY: "PASSIVE",
    MKL_NUM_THREADS: String(threads),
  };
  const r = spawnSync(python, [peer, ...[size.b, size.n, size.d, size.heads, size.mlp, steps, 3, threads].map(String)], { env, encoding: "utf8" });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || "failed").trim().split("\n").pop() ?? "failed" };
  const out = JSON.parse(r.stdout.trim().split("\n").pop() as string) as { median_ms: number; min_ms: number };
  return { median: out.median_ms, min: out.min_ms };
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const steps = Number(arg("steps") ?? 10);
  const skipStock = process.argv.includes("--skip-stock");
  const sizes = (arg("sizes") ?? "small,vitb").split(",");
  await activateCpu();
  const native = loadNativeOps();
  const figures: Record<string, number | string | null> = { bench: "step" };
  if (!native.ops) figures.native = native.detail;
  const row = (label: string, ms: number, peer: number | null) =>
    console.log(`  ${label.padEnd(34)} ${ms.toFixed(1).padStart(9)} ms/step${peer ? `   ${(ms / peer).toFixed(2)}x PyTorch` : ""}`);

  for (const size of SIZES.filter((s) => sizes.includes(s.key))) {
    console.log(`\n(${size.key}) B${size.b} N${size.n} D${size.d} heads ${size.heads} MLP ${size.mlp}, ${steps} steps`);
    const t1 = torchPeer(size, steps, 1);
    const t2 = torchPeer(size, steps, 2);
    const p1 = "median" in t1 ? t1.median : null;
    const p2 = "median" in t2 ? t2.median : null;
    if (p1 === null) console.log(`  PyTorch peer unavailable: ${(t1 as { error: string }).error}`);
    figures[`${size.key}_torch_1t_ms`] = p1;
    figures[`${size.key}_torch_2t_ms`] = p2;
    if (p1 !== null) row("PyTorch, 1 thread", p1, null);
    if (p2 !== null) row("PyTorch, 2 threads", p2, null);

    const runWith = (ops: CpuOps | null, threads: number, n: number, warm: number) => {
      if (ops) {
        ops.setThreads(threads);
        installKernels(ops);
      } else uninstallKernels();
      try {
        return timeTfjs(size, n, warm);
      } finally {
        uninstallKernels();
      }
    };
    if (native.ops) {
      const n1 = runWith(native.ops, 1, steps, 3).median;
      const n2 = runWith(native.ops, 2, steps, 3).median;
      row("polyalign native, 1 thread", n1, p1);
      row("polyalign native, 2 threads", n2, p2);
      figures[`${size.key}_native_1t_ms`] = n1;
      figures[`${size.key}_native_2t_ms`] = n2;
      figures[`${size.key}_ratio_1t`] = p1 ? n1 / p1 : null;
      figures[`${size.key}_ratio_2t`] = p2 ? n2 / p2 : null;
    }
    const js = runWith(createJsOps(), 1, Math.max(2, Math.ceil(steps / 4)), 1).median;
    row("polyalign JS fallback", js, p1);
    figures[`${size.key}_js_ms`] = js;
    figures[`${size.key}_js_ratio`] = p1 ? js / p1 : null;
    if (!skipStock) {
      const stock = runWith(null, 1, size.key === "small" ? 2 : 1, 0).median;
      row("stock tfjs cpu", stock, p1);
      figures[`${size.key}_stock_ms`] = stock;
      figures[`${size.key}_stock_ratio`] = p1 ? stock / p1 : null;
    }
  }
  console.log(JSON.stringify(figures));
}

await main();
