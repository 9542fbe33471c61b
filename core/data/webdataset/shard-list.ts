/**
 * Shard sources → shard URLs: `::`-joined lists, brace patterns
 * (`shards/x-{000000..000099}.tar`), directories (every *.tar, *.tar.gz,
 * *.tgz inside, sorted), `*`/`?` globs in the last path segment, and
 * `http(s)://…` / `pipe:CMD` URLs passed through as they are.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { PolyalignError } from "../../errors.ts";
import { braceExpand } from "./braces.ts";

export class ShardListError extends PolyalignError {}

const SHARD_FILE = /\.(tar|tar\.gz|tgz)$/i;

export function isRemote(url: string): boolean {
  return /^(https?:\/\/|pipe:)/.test(url);
}

function globToRegExp(glob: string): RegExp {
  const re = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, "[^/]*")
    .replace(/\?/g, "[^/]");
  return new RegExp(`^${re}$`);
}

function expandLocal(item: string, baseDir: string): string[] {
  const path = item.startsWith("file://") ? new URL(item).pathname : item;
  const abs = isAbsolute(path) ? path : resolve(baseDir, path);
  if (/[*?]/.test(basename(abs))) {
    const dir = dirname(abs);
    if (/[*?]/.test(dir)) throw new ShardListError(`glob "${item}": wildcards are supported in the last path segment only`);
    if (!existsSync(dir)) throw new ShardListError(`glob "${item}": directory ${dir} does not exist`);
    const re = globToRegExp(basename(abs));
    return readdirSync(dir)
      .filter((f) => re.test(f))
      .sort()
      .map((f) => join(dir, f));
  }
  if (existsSync(abs) && statSync(abs).isDirectory()) {
    return readdirSync(abs)
      .filter((f) => SHARD_FILE.test(f))
      .sort()
      .map((f) => join(abs, f));
  }
  return [abs];
}

/**
 * Every shard a source names, in order. Local paths are made absolute
 * against `baseDir`; a spec that names nothing is an error.
 */
export function expandShardSpec(spec: string | readonly string[], baseDir = process.cwd()): string[] {
  const parts = (typeof spec === "string" ? spec.split("::") : spec).map((p) => p.trim()).filter((p) => p !== "");
  const out: string[] = [];
  for (const part of parts) {
    for (const item of braceExpand(part)) {
      if (isRemote(item)) out.push(item);
      else out.push(...expandLocal(item, baseDir));
    }
  }
  if (out.length === 0) throw new ShardListError(`shard source ${JSON.stringify(spec)} names no shards`);
  return out;
}
