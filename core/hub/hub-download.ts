/**
 * Fetching one `hf://` file into the Hugging Face cache, as huggingface_hub
 * does: HEAD `…/resolve/<revision>/<path>` for the commit and the file's ETag
 * (an LFS file's sha256, given as X-Linked-Etag beside a redirect to its CDN
 * copy), download into `blobs/<etag>.incomplete` — resumed with a Range
 * request after a dropped connection —, check size and sha256, then link
 * `snapshots/<commit>/<path>` and record `refs/<revision>`. A file already in
 * the cache is not downloaded again; `HF_HUB_OFFLINE=1` never touches the network.
 */
import { createHash } from "node:crypto";
import { SingleBar } from "cli-progress";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  copyFileSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import { CheckpointError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { type HfFile, hubEndpoint, hubOffline, parseHfUri, repoCacheDir } from "./hf-uri.ts";

export interface HubDownloadOptions {
  log?: Logger;
  /** draw a progress bar on stderr (default: when stderr is a terminal); otherwise progress goes to the log every 2 s */
  progressBar?: boolean;
  env?: NodeJS.ProcessEnv;
  /** attempts per download (a dropped connection resumes where it stopped) */
  attempts?: number;
}

const COMMIT = /^[0-9a-f]{40}$/;
const SHA256 = /^[0-9a-f]{64}$/;

const cleanEtag = (e: string | null): string | null => (e ? e.replace(/^W\//, "").replace(/^"|"$/g, "") : null);

/** The snapshot path of a file already cached for this revision, or null. */
function cachedSnapshot(file: HfFile, dir: string): string | null {
  const commit = COMMIT.test(file.revision)
    ? file.revision
    : existsSync(join(dir, "refs", file.revision))
      ? readFileSync(join(dir, "refs", file.revision), "utf8").trim()
      : null;
  if (!commit) return null;
  const p = join(dir, "snapshots", commit, file.path);
  return existsSync(p) ? p : null;
}

interface Remote {
  commit: string;
  etag: string;
  size: number | null;
  url: string;
}

async function head(uri: string, file: HfFile, env: NodeJS.ProcessEnv): Promise<Remote> {
  const url = `${hubEndpoint(env)}/${file.repo}/resolve/${encodeURIComponent(file.revision)}/${file.path.split("/").map(encodeURIComponent).join("/")}`;
  const headers: Record<string, string> = { "user-agent": "polyalign" };
  if (env.HF_TOKEN) headers.authorization = `Bearer ${env.HF_TOKEN}`;
  const res = await fetch(url, { method: "HEAD", redirect: "manual", headers });
  if (res.status === 401 || res.status === 403)
    throw new CheckpointError(`${uri}: the hub refuses access (HTTP ${res.status}); a gated or private repository needs HF_TOKEN`, uri);
  if (res.status === 404) throw new CheckpointError(`${uri}: not found on ${hubEndpoint(env)} (HTTP 404: repository, revision or file)`, uri);
  const redirect = res.status >= 300 && res.status < 400 ? res.headers.get("location") : null;
  if (!redirect && !res.ok) throw new CheckpointError(`${uri}: the hub answered HTTP ${res.status}`, uri);
  const commit = res.headers.get("x-repo-commit") ?? (COMMIT.test(file.revision) ? file.revision : null);
  const etag = cleanEtag(res.headers.get("x-linked-etag") ?? res.headers.get("etag"));
  if (!commit || !etag) throw new CheckpointError(`${uri}: the hub's answer lacks X-Repo-Commit or ETag; is ${hubEndpoint(env)} a Hugging Face hub?`, uri);
  const size = Number(res.headers.get("x-linked-size") ?? res.headers.get("content-length") ?? Number.NaN);
  return { commit, etag, size: Number.isFinite(size) ? size : null, url: redirect ? new URL(redirect, url).toString() : url };
}

async function fetchInto(uri: string, remote: Remote, part: string, opts: HubDownloadOptions): Promise<void> {
  const attempts = opts.attempts ?? 5;
  let last = 0;
  for (let attempt = 1; ; attempt++) {
    const have = existsSync(part) ? statSync(part).size : 0;
    if (remote.size !== null && have === remote.size) return;
    try {
      const res = await fetch(remote.url, { headers: have > 0 ? { range: `bytes=${have}-` } : {} });
      if (have > 0 && res.status !== 206) rmSync(part, { force: true }); // the server ignored the range: start over
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      const fd = openSync(part, res.status === 206 ? "a" : "w");
      let done = res.status === 206 ? have : 0;
      const bar =
        (opts.progressBar ?? process.stderr.isTTY) && remote.size
          ? new SingleBar({ format: `${uri} [{bar}] {percentage}% {value}/{total} MB {speed} MB/s`, hideCursor: true }, undefined)
          : null;
      const started = performance.now();
      const startedAt = done;
      bar?.start(Math.round(remote.size! / 1e6), Math.round(done / 1e6), { speed: "0" });
      try {
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          writeSync(fd, chunk);
          done += chunk.length;
          const speed = ((done - startedAt) / 1e6 / Math.max(1e-3, (performance.now() - started) / 1000)).toFixed(1);
          if (bar) bar.update(Math.round(done / 1e6), { speed });
          else if (performance.now() - last > 2000) {
            last = performance.now();
            opts.log?.info(`${uri}: ${(done / 1e6).toFixed(1)}${remote.size ? ` / ${(remote.size / 1e6).toFixed(1)}` : ""} MB, ${speed} MB/s`, {
              done,
              total: remote.size,
            });
          }
        }
      } finally {
        bar?.stop();
        closeSync(fd);
      }
      if (remote.size === null || statSync(part).size >= remote.size) return;
      throw new Error(`the connection closed after ${statSync(part).size} of ${remote.size} bytes`);
    } catch (e) {
      if (attempt >= attempts) throw new CheckpointError(`${uri}: download failed after ${attempts} attempts: ${(e as Error).message}`, uri);
      opts.log?.warn(`${uri}: ${(e as Error).message}; resuming (attempt ${attempt + 1} of ${attempts})`);
    }
  }
}

function sha256Of(file: string): string {
  const h = createHash("sha256");
  const fd = openSync(file, "r");
  const buf = new Uint8Array(8 << 20);
  try {
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

function link(blob: string, snapshot: string): void {
  mkdirSync(dirname(snapshot), { recursive: true });
  rmSync(snapshot, { force: true });
  try {
    symlinkSync(relative(dirname(snapshot), blob), snapshot);
  } catch {
    copyFileSync(blob, snapshot); // file systems without symlinks (huggingface_hub does the same)
  }
}

/** The local path of an `hf://` file, downloading it into the cache if needed. */
export async function hubFile(uri: string, opts: HubDownloadOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const file = parseHfUri(uri);
  const dir = repoCacheDir(file, env);
  const cached = cachedSnapshot(file, dir);
  if (hubOffline(env)) {
    if (cached) return cached;
    throw new CheckpointError(`${uri}: HF_HUB_OFFLINE is set and the file is not in the cache (${dir}); download it once with network access`, uri);
  }
  let remote: Remote;
  try {
    remote = await head(uri, file, env);
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    if (cached) {
      opts.log?.warn(`${uri}: cannot reach ${hubEndpoint(env)} (${(e as Error).message}); using the cached copy`);
      return cached;
    }
    throw new CheckpointError(
      `${uri}: cannot reach ${hubEndpoint(env)} (${(e as Error).message}) and the file is not cached; with the file cached, HF_HUB_OFFLINE=1 works without a network`,
      uri,
    );
  }
  const blob = join(dir, "blobs", remote.etag);
  const snapshot = join(dir, "snapshots", remote.commit, file.path);
  if (!existsSync(blob)) {
    mkdirSync(dirname(blob), { recursive: true });
    const part = `${blob}.incomplete`;
    await fetchInto(uri, remote, part, opts);
    const size = statSync(part).size;
    if (remote.size !== null && size !== remote.size) {
      rmSync(part, { force: true });
      throw new CheckpointError(`${uri}: downloaded ${size} bytes, the hub announced ${remote.size}`, uri);
    }
    if (SHA256.test(remote.etag)) {
      const sha = sha256Of(part);
      if (sha !== remote.etag) {
        rmSync(part, { force: true });
        throw new CheckpointError(`${uri}: sha256 ${sha} does not match the hub's ${remote.etag}: the download is corrupt (deleted)`, uri);
      }
    }
    renameSync(part, blob);
    opts.log?.info(`${uri}: ${(size / 1e6).toFixed(1)} MB into ${dir}`);
  }
  link(blob, snapshot);
  if (remote.commit !== file.revision) {
    mkdirSync(join(dir, "refs"), { recursive: true });
    writeFileSync(join(dir, "refs", file.revision), remote.commit);
  }
  return snapshot;
}
