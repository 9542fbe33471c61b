/**
 * Atomic file writes: write a temp file beside the target, fsync, rename.
 * A crash or an error mid-write leaves the previous file untouched and no
 * temp file behind.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export function tempPathFor(file: string): string {
  const rand = Math.floor(Math.random() * 0xffffffff).toString(16);
  return join(dirname(file), `.${basename(file)}.tmp-${process.pid}-${rand}`);
}

/**
 * Write `chunks` (produced lazily, so huge files need not be held twice) to
 * `file` atomically. If producing or writing any chunk throws, the temp file is
 * removed and the error rethrown.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array | Iterable<Uint8Array>): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = tempPathFor(file);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, "wx", 0o644);
    if (typeof data === "string") writeAll(fd, Buffer.from(data, "utf8"));
    else if (data instanceof Uint8Array) writeAll(fd, data);
    else for (const chunk of data) writeAll(fd, chunk);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) {
      try {
        closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    rmSync(tmp, { force: true });
    throw e;
  }
}

function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}
