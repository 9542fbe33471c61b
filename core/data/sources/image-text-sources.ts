/**
 * Image–caption collections in the formats people have: COCO caption files
 * (+ an image folder), ALBEF-style JSON lists (`{image, caption}` with a
 * string or a list), and CSV files with `image` and `caption` columns. Each
 * yields records in file order; paths are resolved against a base folder.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, extname, isAbsolute, resolve } from "node:path";
import { PolyalignError } from "../../errors.ts";

export interface ImageTextRecord {
  image: string;
  captions: string[];
  /** extra metadata kept in the sample's JSON */
  meta: Record<string, unknown>;
}

export class SourceFormatError extends PolyalignError {}

export function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new SourceFormatError(`${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : `not valid JSON (${(e as Error).message})`}`);
  }
}

export function readCocoCaptions(file: string, imagesDir: string): ImageTextRecord[] {
  const data = readJsonFile(file) as { images?: { id: number; file_name: string }[]; annotations?: { image_id: number; caption: string }[] };
  if (!Array.isArray(data.images) || !Array.isArray(data.annotations)) {
    throw new SourceFormatError(`${file}: not a COCO captions file (needs "images" and "annotations" lists)`);
  }
  const caps = new Map<number, string[]>();
  for (const a of data.annotations) caps.set(a.image_id, [...(caps.get(a.image_id) ?? []), a.caption]);
  return data.images
    .filter((im) => caps.has(im.id))
    .map((im) => ({ image: resolve(imagesDir, im.file_name), captions: caps.get(im.id) as string[], meta: { image_id: im.id, file: im.file_name } }));
}

/**
 * An ALBEF list. ALBEF's training files have one row per caption (`{image,
 * caption, image_id}`); rows of one image — the same `image_id`, or without
 * one the same image path — become one record holding all its captions, so
 * that a shard keeps one sample per image (one id: ALBEF's `idx == idx.T`
 * positives) and every caption stays available (`format.text: json:captions`).
 */
export function readAlbefList(file: string, imagesRoot = dirname(file)): ImageTextRecord[] {
  const data = readJsonFile(file);
  if (!Array.isArray(data)) throw new SourceFormatError(`${file}: expected a JSON list of {image, caption}`);
  const byImage = new Map<string, ImageTextRecord>();
  data.forEach((e: { image?: unknown; caption?: unknown; image_id?: unknown }, i) => {
    if (typeof e?.image !== "string") throw new SourceFormatError(`${file}: entry ${i} has no "image" path`);
    const caption = e.caption;
    const captions =
      typeof caption === "string" ? [caption] : Array.isArray(caption) && caption.every((c) => typeof c === "string") ? (caption as string[]) : null;
    if (!captions || captions.length === 0) throw new SourceFormatError(`${file}: entry ${i} (${e.image}) has no caption string or list`);
    const id = e.image_id;
    if (id !== undefined && typeof id !== "string" && typeof id !== "number")
      throw new SourceFormatError(`${file}: entry ${i} (${e.image}) has an image_id that is neither a string nor a number`);
    const image = isAbsolute(e.image) ? e.image : resolve(imagesRoot, e.image);
    const group = id !== undefined ? `id:${id}` : `path:${image}`;
    const seen = byImage.get(group);
    if (seen) {
      if (seen.image !== image)
        throw new SourceFormatError(`${file}: entry ${i}: image_id ${JSON.stringify(id)} names ${e.image}, an earlier entry ${String(seen.meta.file)}`);
      seen.captions.push(...captions);
    } else byImage.set(group, { image, captions: [...captions], meta: { file: e.image, ...(id !== undefined ? { image_id: id } : {}) } });
  });
  return [...byImage.values()];
}

/** RFC 4180-ish: commas, double-quoted fields with "" escapes, a header row naming `image` and `caption`. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      if (row.some((f) => f !== "")) rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  row.push(field);
  if (row.some((f) => f !== "")) rows.push(row);
  return rows;
}

/**
 * A tab-separated list, as CC3M's and SBU's come (`Train_GCC-training.tsv`:
 * caption, then the image URL, no header): `columns` names the fields in
 * order (default `caption,image`); a first row that names the columns is
 * skipped. The image field is a path (relative to `imagesRoot`) to the file
 * downloaded for that row.
 */
export function readTsv(file: string, imagesRoot = dirname(file), columns: readonly string[] = ["caption", "image"]): ImageTextRecord[] {
  if (!existsSync(file)) throw new SourceFormatError(`${file}: no such file`);
  const ic = columns.indexOf("image");
  const cc = columns.indexOf("caption");
  if (ic < 0 || cc < 0) throw new SourceFormatError(`--columns must name "image" and "caption" (got ${columns.join(",")})`);
  const lines = readFileSync(file, "utf8").split(/\r?\n/);
  const out: ImageTextRecord[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const f = line.split("\t");
    if (i === 0 && f[ic]?.trim().toLowerCase() === "image" && f[cc]?.trim().toLowerCase() === "caption") return;
    if (f.length < columns.length || !f[ic] || !f[cc]) throw new SourceFormatError(`${file}: line ${i + 1} has no ${columns.join(" / ")} fields`);
    out.push({ image: isAbsolute(f[ic]) ? f[ic] : resolve(imagesRoot, f[ic]), captions: [f[cc]], meta: { file: f[ic] } });
  });
  return out;
}

export function readCsv(file: string, imagesRoot = dirname(file)): ImageTextRecord[] {
  if (!existsSync(file)) throw new SourceFormatError(`${file}: no such file`);
  const [header, ...rows] = parseCsv(readFileSync(file, "utf8"));
  const col = (name: string) => header?.findIndex((h) => h.trim().toLowerCase() === name) ?? -1;
  const ic = col("image");
  const cc = col("caption");
  if (ic < 0 || cc < 0) throw new SourceFormatError(`${file}: the header must name "image" and "caption" columns (found: ${header?.join(", ")})`);
  return rows.map((r, i) => {
    if (!r[ic] || r[cc] === undefined) throw new SourceFormatError(`${file}: row ${i + 2} lacks image or caption`);
    return { image: isAbsolute(r[ic]) ? r[ic] : resolve(imagesRoot, r[ic]), captions: [r[cc]], meta: { file: r[ic] } };
  });
}

/** A shard-safe key from an image path: its basename, dots and odd characters replaced. */
export function keyFromPath(path: string): string {
  const stem = basename(path, extname(path));
  return stem.replace(/[^A-Za-z0-9_-]/g, "_") || "sample";
}
