/**
 * Worker pools for the per-sample transforms, behind one interface: Piscina
 * threads on Node, Web Workers on Deno (its node:worker_threads messaging is
 * ~20x slower), or inline in the calling thread. Sample bytes go in and
 * pixels/ids come back as transferred buffers. A task whose worker dies
 * comes back as a failed sample (the pool replaces the worker), and so does a
 * task not answered within `taskTimeoutMs` (its worker is stopped and
 * replaced: a stuck decoder or plugin cannot stall training); a worker that
 * cannot even load is a fatal error raised at start-up.
 */
import { fileURLToPath } from "node:url";
import { PolyalignError } from "../../errors.ts";
import { createSampleProcessor, type ProcessorSpec, type SampleResult, type SampleTask } from "./sample-processor.ts";

export class WorkerPoolError extends PolyalignError {}

export interface TransformPool {
  readonly kind: "piscina" | "web-worker" | "inline";
  readonly threads: number;
  run(task: SampleTask): Promise<SampleResult>;
  close(): Promise<void>;
}

export interface PoolOptions {
  /** 0 = inline */
  threads: number;
  /** tasks in flight per thread (sharp works asynchronously, so 2 keeps a core busy) */
  tasksPerThread?: number;
  backend?: "auto" | "piscina" | "web-worker" | "inline";
  /** give up starting a worker after this long */
  startTimeoutMs?: number;
  /**
   * a task not answered within this long counts as a failed sample and its
   * worker is replaced (a worker stuck in a loop, or a Web Worker that ended
   * without an error event). Default 120 s; the inline pool has none.
   */
  taskTimeoutMs?: number;
}

const DEFAULT_TASK_TIMEOUT_MS = 120_000;

const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";

function transferOf(task: SampleTask): ArrayBuffer[] {
  const seen = new Set<ArrayBuffer>();
  for (const b of Object.values(task.files)) seen.add(b.buffer as ArrayBuffer);
  return [...seen];
}

function failed(task: SampleTask, reason: string): SampleResult {
  return { seq: task.seq, ok: false, key: task.key, url: task.url, reason };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new WorkerPoolError(`${what} did not start within ${ms} ms`)), ms);
    }),
  ]);
}

async function inlinePool(spec: ProcessorSpec): Promise<TransformPool> {
  const process = await createSampleProcessor(spec);
  return { kind: "inline", threads: 0, run: process, close: async () => {} };
}

function workerFile(base: string): string {
  // dist/…/x.js when compiled (Node), …/x.ts from sources (Deno)
  const ext = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
  return new URL(`./${base}${ext}`, import.meta.url).href;
}

async function piscinaPool(spec: ProcessorSpec, opts: PoolOptions): Promise<TransformPool> {
  const { Piscina } = await import("piscina");
  const pool = new Piscina({
    filename: workerFile("piscina-worker"),
    workerData: { spec },
    minThreads: opts.threads,
    maxThreads: opts.threads,
    idleTimeout: 60_000,
    concurrentTasksPerWorker: opts.tasksPerThread ?? 2,
  });
  let fatal: Error | null = null;
  const onError = (e: Error) => {
    fatal = e;
  };
  pool.on("error", onError);
  try {
    // one warm-up task per thread: a worker that cannot load fails here, not later (Piscina would hang)
    await withTimeout(
      Promise.all(Array.from({ length: opts.threads }, () => pool.run({ warmup: true }))),
      opts.startTimeoutMs ?? 60_000,
      "the data worker pool",
    );
  } catch (e) {
    await pool.destroy();
    throw new WorkerPoolError(`a data worker failed to load: ${(fatal ?? (e as Error)).message}`, { cause: e });
  }
  return {
    kind: "piscina",
    threads: opts.threads,
    async run(task) {
      if (fatal) throw new WorkerPoolError(`the data worker pool failed: ${(fatal as Error).message}`);
      const timeout = opts.taskTimeoutMs ?? DEFAULT_TASK_TIMEOUT_MS;
      try {
        const transferList = transferOf(task) as unknown as NonNullable<Parameters<typeof pool.run>[1]>["transferList"];
        // an aborted task's worker is terminated, and Piscina starts another
        return (await pool.run(task, { transferList, signal: AbortSignal.timeout(timeout) })) as SampleResult;
      } catch (e) {
        if ((e as Error).name === "AbortError")
          return failed(task, `data worker gave no answer within ${timeout} ms (stopped and replaced; data.sampleTimeout)`);
        return failed(task, `data worker died: ${(e as Error).message}`);
      }
    },
    close: () => pool.destroy(),
  };
}

/** The parts of the Web Worker API used here (not in the compile-time lib). */
interface WebWorkerLike {
  onmessage: ((e: MessageEvent) => void) | null;
  onerror: ((e: ErrorEvent) => void) | null;
  postMessage(msg: unknown, transfer?: ArrayBuffer[]): void;
  terminate(): void;
}
type WebWorkerCtor = new (url: string, opts: { type: "module" }) => WebWorkerLike;

interface WebWorkerSlot {
  worker: WebWorkerLike;
  pending: Map<number, { task: SampleTask; resolve: (r: SampleResult) => void; timer: ReturnType<typeof setTimeout> }>;
  dead: boolean;
}

async function webWorkerPool(spec: ProcessorSpec, opts: PoolOptions): Promise<TransformPool> {
  const url = workerFile("web-worker");
  const start = (): Promise<WebWorkerSlot> =>
    withTimeout(
      new Promise<WebWorkerSlot>((resolve, reject) => {
        const Ctor = (globalThis as { Worker?: WebWorkerCtor }).Worker;
        if (!Ctor) throw new WorkerPoolError("this runtime has no Web Worker API");
        const worker = new Ctor(url, { type: "module" });
        const slot: WebWorkerSlot = { worker, pending: new Map(), dead: false };
        worker.onmessage = (e: MessageEvent) => {
          const msg = e.data as { type: "ready" } | { type: "failed"; message: string } | { type: "result"; result: SampleResult };
          if (msg.type === "ready") resolve(slot);
          else if (msg.type === "failed") {
            worker.terminate();
            reject(new WorkerPoolError(`a data worker failed to load: ${msg.message}`));
          } else {
            const p = slot.pending.get(msg.result.seq);
            if (!p) return;
            clearTimeout(p.timer);
            slot.pending.delete(msg.result.seq);
            p.resolve(msg.result);
          }
        };
        worker.onerror = (e: ErrorEvent) => {
          e.preventDefault();
          reject(new WorkerPoolError(`a data worker failed to load: ${e.message}`));
        };
        worker.postMessage({ type: "init", spec });
      }),
      opts.startTimeoutMs ?? 60_000,
      "a data worker",
    );
  const slots = await Promise.all(Array.from({ length: opts.threads }, start));
  let closed = false;
  /** replacements being started; `run` waits for one when no worker is live */
  const restarts = new Set<Promise<unknown>>();
  // After start-up, a crash (or a silent hang) fails that worker's tasks and the worker is replaced.
  const replace = (slot: WebWorkerSlot, reason: string) => {
    if (slot.dead) return;
    slot.dead = true;
    for (const { task, resolve, timer } of slot.pending.values()) {
      clearTimeout(timer);
      resolve(failed(task, `data worker died: ${reason}`));
    }
    slot.pending.clear();
    slot.worker.terminate();
    if (closed) return;
    const i = slots.indexOf(slot);
    const restart = start().then(
      (s) => {
        if (closed) s.worker.terminate();
        else {
          slots[i] = s;
          watch(s);
        }
      },
      () => {},
    );
    restarts.add(restart);
    void restart.finally(() => restarts.delete(restart));
  };
  const watch = (slot: WebWorkerSlot) => {
    slot.worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      replace(slot, e.message);
    };
  };
  slots.forEach(watch);
  const taskTimeout = opts.taskTimeoutMs ?? DEFAULT_TASK_TIMEOUT_MS;
  let next = 0;
  return {
    kind: "web-worker",
    threads: opts.threads,
    async run(task) {
      let live = slots.filter((s) => !s.dead);
      while (live.length === 0 && restarts.size > 0) {
        await Promise.race(restarts);
        live = slots.filter((s) => !s.dead);
      }
      if (live.length === 0) return failed(task, "no data worker could be restarted");
      const slot = live.reduce((best, s) => (s.pending.size < best.pending.size ? s : best), live[next++ % live.length]);
      return new Promise<SampleResult>((resolve) => {
        const timer = setTimeout(() => replace(slot, `no answer within ${taskTimeout} ms (data.sampleTimeout)`), taskTimeout);
        slot.pending.set(task.seq, { task, resolve, timer });
        slot.worker.postMessage({ type: "task", task }, transferOf(task));
      });
    },
    close: async () => {
      closed = true;
      slots.forEach((s) => {
        for (const p of s.pending.values()) clearTimeout(p.timer);
        s.worker.terminate();
      });
    },
  };
}

export async function createTransformPool(spec: ProcessorSpec, opts: PoolOptions): Promise<TransformPool> {
  const backend = opts.backend ?? "auto";
  if (opts.threads <= 0 || backend === "inline") return inlinePool(spec);
  if (backend === "web-worker" || (backend === "auto" && isDeno)) return webWorkerPool(spec, opts);
  return piscinaPool(spec, opts);
}

/** The worker script paths, for diagnostics. */
export function workerScripts(): { piscina: string; webWorker: string } {
  return { piscina: fileURLToPath(workerFile("piscina-worker")), webWorker: fileURLToPath(workerFile("web-worker")) };
}
