/**
 * Opening one shard URL as a byte stream: local paths and file:// URLs,
 * http(s):// (streamed with fetch), and pipe:CMD (the command's stdout; an
 * exit status other than 0 or 141/SIGPIPE is an error).
 */
import { spawn } from "node:child_process";
import { createReadStream, existsSync } from "node:fs";
import { Readable } from "node:stream";
import { PolyalignError } from "../../errors.ts";

export class ShardOpenError extends PolyalignError {
  constructor(
    message: string,
    readonly url: string,
  ) {
    super(message);
  }
}

async function* fromHttp(url: string): AsyncGenerator<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new ShardOpenError(`${url}: request failed: ${(e as Error).message}`, url);
  }
  if (!res.ok || !res.body) throw new ShardOpenError(`${url}: HTTP ${res.status} ${res.statusText}`, url);
  yield* Readable.fromWeb(res.body as import("node:stream/web").ReadableStream<Uint8Array>) as AsyncIterable<Uint8Array>;
}

async function* fromPipe(url: string): AsyncGenerator<Uint8Array> {
  const cmd = url.slice("pipe:".length);
  const child = spawn("sh", ["-c", cmd], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    if (stderr.length < 2000) stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  let finished = false;
  try {
    yield* child.stdout as AsyncIterable<Uint8Array>;
    finished = true;
  } finally {
    if (!finished) child.kill("SIGPIPE");
  }
  const code = await exited;
  if (code !== 0 && code !== 141) {
    throw new ShardOpenError(`${url}: command exited with status ${code}${stderr ? `: ${stderr.trim().split("\n").pop()}` : ""}`, url);
  }
}

async function* fromFile(url: string): AsyncGenerator<Uint8Array> {
  const path = url.startsWith("file://") ? new URL(url).pathname : url;
  if (!existsSync(path)) throw new ShardOpenError(`shard not found: ${path}`, url);
  yield* createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Uint8Array>;
}

export function openShard(url: string): AsyncIterable<Uint8Array> {
  if (url.startsWith("http://") || url.startsWith("https://")) return fromHttp(url);
  if (url.startsWith("pipe:")) return fromPipe(url);
  return fromFile(url);
}
