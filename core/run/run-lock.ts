/**
 * One run per folder: `<run>/run.lock` holds the owner's pid and host. A
 * second run on the folder is refused, naming the owner; a lock whose process
 * is gone (same host) is taken over. The lock goes when the run ends, however
 * it ends (the process's exit removes it too).
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { PolyalignError } from "../errors.ts";
import { processAlive } from "../util/process-alive.ts";
import type { Logger } from "../log.ts";

export const RUN_LOCK = "run.lock";

export class RunFolderBusyError extends PolyalignError {}

interface LockOwner {
  pid: number;
  host: string;
  started: string;
}

function readOwner(file: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(file, "utf8")) as Partial<LockOwner>;
    return typeof o.pid === "number" && typeof o.host === "string" ? { pid: o.pid, host: o.host, started: String(o.started ?? "?") } : null;
  } catch {
    return null;
  }
}

/** Take the folder's lock (creating the folder); returns the release. */
export function acquireRunLock(runDir: string, log?: Logger): () => void {
  mkdirSync(runDir, { recursive: true });
  const file = join(runDir, RUN_LOCK);
  const me: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx");
      try {
        writeSync(fd, JSON.stringify(me) + "\n");
      } finally {
        closeSync(fd);
      }
      const release = () => {
        process.off("exit", release);
        if (readOwner(file)?.pid === me.pid) rmSync(file, { force: true });
      };
      process.on("exit", release);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const owner = readOwner(file);
    if (owner && owner.host !== me.host)
      throw new RunFolderBusyError(
        `${runDir} is in use by process ${owner.pid} on ${owner.host} (since ${owner.started}); if that run is gone, delete ${file}`,
      );
    if (owner && owner.pid !== me.pid && processAlive(owner.pid))
      throw new RunFolderBusyError(
        `${runDir} is in use by process ${owner.pid} (since ${owner.started}); wait for it, stop it, or --set name=... to use another folder`,
      );
    log?.warn(`${file}: ${owner ? `process ${owner.pid} is gone` : "unreadable lock"}; taking the run folder over`);
    rmSync(file, { force: true });
  }
  throw new RunFolderBusyError(`${runDir}: could not take ${RUN_LOCK} (another run took it at the same moment?)`);
}
