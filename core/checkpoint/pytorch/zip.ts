/**
 * Reading entries of a zip archive (as `torch.save` writes since PyTorch 1.6)
 * from an open file: the central directory (zip64 too, for files over 4 GB),
 * then each entry's bytes on demand — so a checkpoint of several GB is never
 * held twice. Stored entries (what torch writes) and deflated ones are read.
 */
import { readSync } from "node:fs";
import { inflateRawSync } from "node:zlib";
import { CheckpointError } from "../../errors.ts";

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  /** offset of the local file header */
  headerOffset: number;
}

function readAt(fd: number, offset: number, length: number, source: string): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, length - done, offset + done);
    if (n === 0) throw new CheckpointError(`${source}: truncated: wanted ${length} bytes at ${offset}, the file ends first`, source);
    done += n;
  }
  return out;
}

const big = (v: bigint, source: string) => {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError(`${source}: corrupt zip64 field ${v}`, source);
  return Number(v);
};

/** The archive's entries by name. */
export function zipEntries(fd: number, fileSize: number, source: string): Map<string, ZipEntry> {
  const fail = (msg: string) => new CheckpointError(`${source}: ${msg}`, source);
  const tailLen = Math.min(fileSize, 65557 + 20);
  const tail = readAt(fd, fileSize - tailLen, tailLen, source);
  const tv = new DataView(tail.buffer);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw fail("a zip archive without its end record: truncated or corrupt");
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || tv.getUint32(loc, true) !== 0x07064b50) throw fail("zip64 sizes without a zip64 locator: corrupt");
    const rec = readAt(fd, big(tv.getBigUint64(loc + 8, true), source), 56, source);
    const rv = new DataView(rec.buffer);
    if (rv.getUint32(0, true) !== 0x06064b50) throw fail("zip64 end record missing: corrupt");
    count = big(rv.getBigUint64(32, true), source);
    cdSize = big(rv.getBigUint64(40, true), source);
    cdOffset = big(rv.getBigUint64(48, true), source);
  }
  if (cdOffset + cdSize > fileSize) throw fail(`the central directory (${cdSize} bytes at ${cdOffset}) lies past the end of the file: truncated`);
  const cd = readAt(fd, cdOffset, cdSize, source);
  const cv = new DataView(cd.buffer);
  const out = new Map<string, ZipEntry>();
  let p = 0;
  for (let k = 0; k < count; k++) {
    if (p + 46 > cdSize || cv.getUint32(p, true) !== 0x02014b50) throw fail(`central directory entry ${k} is corrupt`);
    const method = cv.getUint16(p + 10, true);
    let compressedSize = cv.getUint32(p + 20, true);
    let size = cv.getUint32(p + 24, true);
    const nameLen = cv.getUint16(p + 28, true);
    const extraLen = cv.getUint16(p + 30, true);
    const commentLen = cv.getUint16(p + 32, true);
    let headerOffset = cv.getUint32(p + 42, true);
    const name = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen));
    // zip64 extra field: the 64-bit values, in this order, for those that are 0xffffffff
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = cv.getUint16(e, true);
      const len = cv.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        const next = () => {
          const v = big(cv.getBigUint64(q, true), source);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (headerOffset === 0xffffffff) headerOffset = next();
      }
      e += 4 + len;
    }
    out.set(name, { name, method, compressedSize, size, headerOffset });
    p = extraEnd + commentLen;
  }
  return out;
}

/** An entry's bytes (inflated if deflated). */
export function readZipEntry(fd: number, fileSize: number, entry: ZipEntry, source: string): Uint8Array {
  const fail = (msg: string) => new CheckpointError(`${source}: ${entry.name}: ${msg}`, source);
  const header = readAt(fd, entry.headerOffset, 30, source);
  const hv = new DataView(header.buffer);
  if (hv.getUint32(0, true) !== 0x04034b50) throw fail("local header missing: corrupt archive");
  const start = entry.headerOffset + 30 + hv.getUint16(26, true) + hv.getUint16(28, true);
  if (start + entry.compressedSize > fileSize) {
    throw fail(`${entry.compressedSize} bytes at ${start} lie past the end of the file (${fileSize} bytes): truncated`);
  }
  const raw = readAt(fd, start, entry.compressedSize, source);
  if (entry.method === 0) return raw;
  if (entry.method === 8) {
    const data = new Uint8Array(inflateRawSync(raw));
    if (data.length !== entry.size) throw fail(`inflates to ${data.length} bytes, the directory says ${entry.size}: corrupt`);
    return data;
  }
  throw fail(`compression method ${entry.method} is not supported (stored or deflated only)`);
}
