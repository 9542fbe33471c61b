/**
 * Backend selection. `auto` tries the Backend plugins by priority: the
 * TensorFlow backend from tfjs-node-gpu / tfjs-node when installed and
 * loadable (100), `cpu-native` — the cpu backend with polyalign's OpenBLAS
 * kernels — when the addon loads (50), `cpu-js` with polyalign's JS kernels
 * (10), then stock `cpu` (0). tfjs-node is optional and never required.
 */
import { availableParallelism } from "node:os";
import { tf } from "./tf.ts";
import { loadNativeOps } from "../native/addon.ts";
import { createJsOps } from "../native/js-ops.ts";
import { installKernels, uninstallKernels } from "../native/install.ts";
import type { Logger } from "../log.ts";
import { PolyalignError } from "../errors.ts";

export interface BackendInfo {
  /** tfjs backend name now active (`tensorflow`, `cpu`) */
  backend: string;
  /** polyalign's name for the choice (the Backend plugin's name) */
  plugin: string;
  /** which kernels are in use, for the run log's first line */
  kernels: string;
  threads: number;
}

export interface BackendProvider {
  readonly name: string;
  /** Higher is tried first by `auto`. */
  readonly priority: number;
  /** `null` when usable here, otherwise why not (logged when `auto` passes over it). */
  probe(): Promise<string | null>;
  activate(opts: { threads: number; log: Logger }): Promise<BackendInfo>;
}

async function importOptional(specifier: string): Promise<unknown> {
  // A variable specifier keeps bundlers and tsc from requiring the module.
  const name: string = specifier;
  return import(name);
}

/** tfjs-node-gpu or tfjs-node, whichever loads first. */
export function tensorflowNodeProvider(): BackendProvider {
  let loaded: string | null = null;
  const tryLoad = async (): Promise<string | null> => {
    if (loaded) return null;
    const reasons: string[] = [];
    for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
      try {
        await importOptional(pkg);
        if (tf.findBackendFactory("tensorflow") !== null) {
          loaded = pkg;
          return null;
        }
        reasons.push(`${pkg} loaded but registered no "tensorflow" backend (a second copy of tfjs-core?)`);
      } catch (e) {
        reasons.push(`${pkg}: ${firstLine(e)}`);
      }
    }
    return reasons.join("; ");
  };
  return {
    name: "tensorflow",
    priority: 100,
    probe: tryLoad,
    async activate({ threads }) {
      const why = await tryLoad();
      if (why !== null) throw new PolyalignError(`backend "tensorflow" is not available: ${why}`);
      uninstallKernels();
      if (!(await tf.setBackend("tensorflow"))) throw new PolyalignError(`tf.setBackend("tensorflow") failed`);
      await tf.ready();
      return { backend: "tensorflow", plugin: "tensorflow", kernels: `libtensorflow (${loaded})`, threads };
    },
  };
}

/** The stock tfjs `cpu` backend (polyalign's kernels removed if they were installed). */
export function stockCpuProvider(): BackendProvider {
  return {
    name: "cpu",
    priority: 0,
    probe: async () => null,
    async activate() {
      await activateCpu();
      uninstallKernels();
      return { backend: "cpu", plugin: "cpu", kernels: "stock tfjs-backend-cpu", threads: 1 };
    },
  };
}

/** The `cpu` backend with polyalign's native (OpenBLAS) kernels, when the addon loads. */
export function nativeCpuProvider(): BackendProvider {
  return {
    name: "cpu-native",
    priority: 50,
    probe: async () => {
      const load = loadNativeOps();
      return load.ops ? null : load.detail;
    },
    async activate({ threads }) {
      const load = loadNativeOps();
      if (!load.ops) throw new PolyalignError(`backend "cpu-native" is not available: ${load.detail}`);
      await activateCpu();
      load.ops.setThreads(threads);
      const installed = installKernels(load.ops);
      return {
        backend: "cpu",
        plugin: "cpu-native",
        kernels: `polyalign native (${load.blas === "builtin" ? "built-in sgemm" : "OpenBLAS"}, ${load.ops.getThreads()} threads): ${installed.names.join(" ")}`,
        threads: load.ops.getThreads(),
      };
    },
  };
}

/** The `cpu` backend with polyalign's pure-JS kernels (no build needed). */
export function jsCpuProvider(): BackendProvider {
  return {
    name: "cpu-js",
    priority: 10,
    probe: async () => null,
    async activate() {
      await activateCpu();
      const installed = installKernels(createJsOps());
      return { backend: "cpu", plugin: "cpu-js", kernels: `polyalign JS: ${installed.names.join(" ")}`, threads: 1 };
    },
  };
}

/** Switch to the `cpu` backend and silence its one-time "install tfjs-node" banner. */
export async function activateCpu(): Promise<void> {
  if (!(await tf.setBackend("cpu"))) throw new PolyalignError(`tf.setBackend("cpu") failed`);
  await tf.ready();
  const backend = tf.backend() as unknown as { firstUse?: boolean };
  if (typeof backend.firstUse === "boolean") backend.firstUse = false;
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split("\n")[0];
}

/** POLYALIGN_THREADS when set (it overrides the config), else `configured`, else the number of cores. */
export function resolveThreads(configured?: number): number {
  const env = process.env.POLYALIGN_THREADS;
  if (env !== undefined && env !== "") {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new PolyalignError(`POLYALIGN_THREADS must be a positive integer, got "${env}"`);
    return n;
  }
  return configured ?? Math.max(1, availableParallelism());
}

/**
 * Activate the requested backend (`auto` or a provider name) and log the
 * choice. Providers come from the registry's Backend kind.
 */
export async function selectBackend(preference: string, providers: readonly BackendProvider[], opts: { threads?: number; log: Logger }): Promise<BackendInfo> {
  const threads = resolveThreads(opts.threads);
  const ordered = [...providers].sort((a, b) => b.priority - a.priority);
  if (preference !== "auto") {
    const p = ordered.find((x) => x.name === preference);
    if (!p) {
      throw new PolyalignError(`unknown backend "${preference}"; known: auto, ${ordered.map((x) => x.name).join(", ")}`);
    }
    const info = await p.activate({ threads, log: opts.log });
    opts.log.info(`backend: ${info.backend} (${info.kernels}), threads ${info.threads}`);
    return info;
  }
  for (const p of ordered) {
    const why = await p.probe();
    if (why !== null) {
      opts.log.debug(`backend ${p.name} skipped: ${why}`);
      continue;
    }
    const info = await p.activate({ threads, log: opts.log });
    opts.log.info(`backend: ${info.backend} (${info.kernels}), threads ${info.threads}`);
    return info;
  }
  throw new PolyalignError("no backend is usable (not even cpu)");
}
