/**
 * Streaming tar reading on tar-stream: regular files only, ustar prefix, GNU
 * long names and PAX records (tar-stream resolves them), transparent gzip.
 * A stream cut inside a member is an error; a cut at a header boundary is a
 * clean end, as Python's streaming tarfile treats them.
 */
import { createGunzip } from "node:zlib";
import { Readable } from "node:stream";
import tarStream from "tar-stream";
import { PolyalignError } from "../../errors.ts";

export interface TarMember {
  name: string;
  /** a copy (tar-stream's chunks are views into a shared read buffer) */
  data: Uint8Array;
}

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

/** Members of a tar stream, in archive order. `url` only labels errors. */
export async function* readTarMembers(source: AsyncIterable<Uint8Array>, url: string): AsyncGenerator<TarMember> {
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
  const feed = (async () => {
    try {
      for await (const chunk of gunzipIfNeeded(source)) {
        if (extract.destroyed) break;
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
