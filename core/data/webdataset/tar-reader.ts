/**
 * Streaming tar reading on tar-stream: regular files only, ustar prefix, GNU
 * long names and PAX records (tar-stream resolves them), transparent gzip.
 * A stream cut inside a member is an error; so is one that ends without the
 * end-of-archive blocks (two zero blocks of 512 bytes, which every tar writer
 * puts there): a shard cut exactly at a member boundary would otherwise read
 * as complete, its lost tail unnoticed. An empty stream is an error too. A member larger than
 * `maxMemberBytes` is not held in memory: it is read past and reported as
 * `tooLarge` with its size (a gzip bomb or a giant image costs no memory).
 */
import { createGunzip } from "node:zlib";
import { Readable } from "node:stream";
import tarStream from "tar-stream";
import { PolyalignError } from "../../errors.ts";

export interface TarMember {
  name: string;
  /** a copy (tar-stream's chunks are views into a shared read buffer); empty when `tooLarge` */
  data: Uint8Array;
  /** the member's size when it exceeds the reader's `maxMemberBytes` (its bytes were skipped) */
  tooLarge?: number;
}

/** The largest member a reader holds in memory unless told otherwise (64 MiB). */
export const DEFAULT_MAX_MEMBER_BYTES = 64 * 1024 * 1024;

export class TarFormatError extends PolyalignError {
  constructor(
    message: string,
    readonly url: string,
    readonly member: string | null,
  ) {
    super(message);
  }
}

async function* gunzipIfNeeded(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  const head = first.value;
  const rest: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => ({
      next: () => it.next(),
      return: async () => (it.return ? it.return() : { done: true, value: undefined }),
    }),
  };
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = createGunzip();
    const input = Readable.from(
      (async function* () {
        yield head;
        yield* rest;
      })(),
    );
    input.on("error", (e) => gunzip.destroy(e));
    yield* input.pipe(gunzip) as AsyncIterable<Uint8Array>;
    return;
  }
  yield head;
  yield* rest;
}

/** Watches the last 1,024 bytes of a stream: a tar ends with two zero blocks. */
class EndOfArchive {
  bytes = 0;
  private last = new Uint8Array(1024);
  private filled = 0;

  push(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    if (chunk.length >= 1024) {
      this.last.set(chunk.subarray(chunk.length - 1024));
      this.filled = 1024;
      return;
    }
    const keep = Math.min(this.filled, 1024 - chunk.length);
    this.last.copyWithin(0, this.filled - keep, this.filled);
    this.last.set(chunk, keep);
    this.filled = keep + chunk.length;
  }

  get ended(): boolean {
    return this.filled === 1024 && this.last.every((b) => b === 0);
  }
}

/** Members of a tar stream, in archive order. `url` only labels errors. */
export async function* readTarMembers(
  source: AsyncIterable<Uint8Array>,
  url: string,
  maxMemberBytes: number = DEFAULT_MAX_MEMBER_BYTES,
): AsyncGenerator<TarMember> {
  const extract = tarStream.extract();
  let current: string | null = null;
  // A reader that stops early destroys `extract`: the feeder must then stop too
  // (a wait for "drain" alone would never end, and the `await feed` below with it).
  const drainedOrClosed = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        extract.off("drain", done);
        extract.off("close", done);
        resolve();
      };
      extract.on("drain", done);
      extract.on("close", done);
    });
  const tail = new EndOfArchive();
  const feed = (async () => {
    try {
      for await (const chunk of gunzipIfNeeded(source)) {
        if (extract.destroyed) break;
        tail.push(chunk);
        if (!extract.write(chunk)) await drainedOrClosed();
      }
      if (!extract.destroyed) (extract as unknown as { end(): void }).end();
    } catch (e) {
      extract.destroy(e as Error);
    }
  })();
  try {
    for await (const entry of extract) {
      const { name, type, size } = entry.header;
      current = name;
      if (type !== "file" && type !== "contiguous-file") {
        entry.resume();
        continue;
      }
      if ((size ?? 0) > maxMemberBytes) {
        let seen = 0;
        for await (const chunk of entry as AsyncIterable<Uint8Array>) seen += chunk.length;
        if (seen !== size) throw new TarFormatError(`${url}: member ${name} is truncated (${seen} of ${size} bytes)`, url, name);
        yield { name, data: new Uint8Array(0), tooLarge: size };
        current = null;
        continue;
      }
      const data = new Uint8Array(size ?? 0);
      let off = 0;
      for await (const chunk of entry as AsyncIterable<Uint8Array>) {
        data.set(chunk, off);
        off += chunk.length;
      }
      if (off !== data.length) throw new TarFormatError(`${url}: member ${name} is truncated (${off} of ${data.length} bytes)`, url, name);
      yield { name, data };
      current = null;
    }
    await feed;
    if (tail.bytes === 0) throw new TarFormatError(`${url}: empty file, not a tar`, url, null);
    if (!tail.ended) throw new TarFormatError(`${url}: the tar ends without its end-of-archive blocks (cut short after ${tail.bytes} bytes?)`, url, null);
  } catch (e) {
    if (e instanceof TarFormatError) throw e;
    const msg = (e as Error).message;
    const where = current ? `inside member ${current}` : "between members";
    throw new TarFormatError(`${url}: corrupt or truncated tar (${where}): ${msg}`, url, current);
  } finally {
    extract.destroy();
    await feed;
  }
}
