/** Shared spec helpers: repo paths, the shared data folder, temp dirs, tensor comparisons. */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createLogger, jsCpuProvider, nativeCpuProvider, selectBackend, stockCpuProvider, tf, type BackendInfo, type Tensor } from "../core/index.ts";

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "core"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the polyalign root above ${start}`);
    dir = up;
  }
}

/** The repository root (works from spec/ on Deno and dist/spec/ on Node). */
export const REPO_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

/** `../shared` beside the checkout (or POLYALIGN_SHARED), or null when absent. */
export function sharedDir(): string | null {
  const candidates = [process.env.POLYALIGN_SHARED, resolve(REPO_ROOT, "../shared")].filter((p): p is string => !!p);
  return candidates.find((p) => existsSync(join(p, "data"))) ?? null;
}

/** Path inside ../shared, or marks the running test pending when the folder is absent. */
export function sharedPathOrSkip(ctx: Mocha.Context, ...parts: string[]): string {
  const dir = sharedDir();
  if (dir === null || !existsSync(join(dir, ...parts))) {
    ctx.skip();
  }
  return join(dir as string, ...parts);
}

export function tempDir(prefix = "polyalign-spec-"): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * The backend specs run on: what `backend: auto` picks among the cpu variants
 * (native kernels when the addon is built and not disabled by
 * POLYALIGN_NATIVE=0, else the JS kernels). Re-selected by every spec file
 * that calls it, since a spec may switch kernels.
 */
export async function useTestBackend(): Promise<BackendInfo> {
  return selectBackend("auto", [nativeCpuProvider(), jsCpuProvider(), stockCpuProvider()], {
    log: createLogger({ level: "error" }),
  });
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Assert that every element is within atol + rtol·|expected|. */
export function assertClose(actual: Tensor | ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-6, rtol = 1e-5): void {
  const a = actual instanceof tf.Tensor ? actual.dataSync() : actual;
  if (a.length !== expected.length) throw new Error(`length ${a.length} ≠ expected ${expected.length}`);
  for (let i = 0; i < a.length; i++) {
    const tol = atol + rtol * Math.abs(expected[i]);
    if (!(Math.abs(a[i] - expected[i]) <= tol)) {
      throw new Error(`element ${i}: ${a[i]} ≠ ${expected[i]} (tolerance ${tol})`);
    }
  }
}

/** A python3 that can import `modules` (Debian's first, then PATH), or null. */
export function pythonWith(...modules: string[]): string | null {
  for (const py of ["/usr/bin/python3", "python3"]) {
    const r = spawnSync(py, ["-c", modules.map((m) => `import ${m}`).join("; ") || "pass"], { encoding: "utf8" });
    if (r.status === 0) return py;
  }
  return null;
}

/** Run a Python snippet; throws with its stderr on failure. */
export function runPython(py: string, code: string, args: string[] = [], input?: string): string {
  const r = spawnSync(py, ["-c", code, ...args], { encoding: "utf8", maxBuffer: 64 << 20, input });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
