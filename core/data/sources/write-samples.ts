/**
 * Sample records → WebDataset shards: each record's images read from disk
 * (the member's extension from the bytes, so NLVR2's JPEGs named .png become
 * `.jpg`), its `.txt` and `.json`; a record whose image is missing or is no
 * image is skipped with a warning naming it, or fails the build (`onError:
 * "fail"`) — and then nothing is left half-written. Beside sizes.json, a
 * caption source's shards get pairs.json: their image–caption pairs, the
 * epoch length of per-caption sampling (`data.captions: each`).
 */
import { existsSync, readFileSync } from "node:fs";
import { extname } from "node:path";
import { type ShardSummary, ShardWriter, updateCountIndex } from "../webdataset/writer.ts";
import { keyFromPath, SourceFormatError } from "./image-text-sources.ts";
import type { SampleRecord } from "./sample-record.ts";

const IMAGE_EXTS = new Set(["jpg", "jpeg", "png", "webp", "gif", "tif", "tiff", "bmp"]);

/** The image type of `bytes` by its magic number, else null. */
export function sniffImageExt(bytes: Uint8Array): string | null {
  const at = (i: number, ...v: number[]) => v.every((x, k) => bytes[i + k] === x);
  if (at(0, 0xff, 0xd8, 0xff)) return "jpg";
  if (at(0, 0x89, 0x50, 0x4e, 0x47)) return "png";
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return "webp";
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return "gif";
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return "tif";
  if (at(0, 0x42, 0x4d)) return "bmp";
  return null;
}

export interface WriteSamplesOptions {
  pattern: string;
  maxcount: number;
  maxsize: number;
  onError: "skip" | "fail";
  warn: (message: string) => void;
  /** after each record, written or skipped: how many of the records are done */
  onProgress?: (done: number, total: number) => void;
}

export interface WriteSamplesResult {
  written: number;
  skipped: number;
  shards: ShardSummary[];
}

export async function writeSampleRecords(records: readonly SampleRecord[], opts: WriteSamplesOptions): Promise<WriteSamplesResult> {
  const writer = new ShardWriter({ pattern: opts.pattern, maxcount: opts.maxcount, maxsize: opts.maxsize, onWarning: opts.warn });
  const used = new Set<string>();
  let skipped = 0;
  // captions per written sample, in order: the shards fill one after another, so pairs.json follows from their sample counts
  const pairs: number[] = [];
  let done = 0;
  try {
    for (const r of records) {
      if (done > 0) opts.onProgress?.(done, records.length);
      done++;
      const files: Record<string, Uint8Array | string> = {};
      let problem: string | null = null;
      for (const im of r.images) {
        if (!existsSync(im.path)) problem = `${im.path}: image file not found`;
        else {
          const bytes = new Uint8Array(readFileSync(im.path));
          const ext = sniffImageExt(bytes) ?? extname(im.path).slice(1).toLowerCase().replace("jpeg", "jpg");
          if (!IMAGE_EXTS.has(ext)) problem = `${im.path}: not an image (.${ext})`;
          else files[im.member === "" ? ext : `${im.member}.${ext}`] = bytes;
        }
        if (problem) break;
      }
      if (problem) {
        if (opts.onError === "fail") throw new SourceFormatError(`${r.where}: ${problem}`);
        opts.warn(`skipped ${r.where}: ${problem}`);
        skipped++;
        continue;
      }
      if (r.txt !== undefined) files.txt = r.txt;
      files.json = JSON.stringify(r.json);
      const base = r.key !== undefined ? r.key.replace(/[^A-Za-z0-9_-]/g, "_") || "sample" : keyFromPath(r.images[0].path);
      let key = base;
      for (let n = 1; used.has(key); n++) key = `${base}_${n}`;
      used.add(key);
      await writer.write({ key, files });
      pairs.push(Array.isArray(r.json.captions) ? r.json.captions.length : 1);
    }
  } catch (e) {
    writer.abort();
    throw e;
  }
  const shards = await writer.close();
  if (records.some((r) => Array.isArray(r.json.captions))) {
    let at = 0;
    updateCountIndex(
      "pairs.json",
      shards.map((s) => {
        const count = pairs.slice(at, at + s.samples).reduce((a, n) => a + n, 0);
        at += s.samples;
        return { file: s.file, count };
      }),
    );
  }
  return { written: records.length - skipped, skipped, shards };
}
