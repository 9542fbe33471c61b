/**
 * Text search over a folder of images: every image's ITC features, cached
 * beside the images (`<dir>/.polyalign-index-<model>.safetensors`, one file
 * per model), brought up to date on each search — new and changed files
 * (size or modification time) are embedded, removed ones dropped — then the
 * images ranked by their cosine with the text's features.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fromFloat32, type Logger, PolyalignError, ProgressBar, readSafetensors, toFloat32, writeSafetensors } from "../../core/index.ts";
import { embeddingRow, type PolyalignModel } from "./polyalign-model.ts";

const IMAGE_FILE = /\.(jpe?g|png|webp|gif|tiff?|avif)$/i;

export interface IndexedImage {
  /** relative to the folder */
  file: string;
  size: number;
  mtimeMs: number;
}

export interface ImageIndex {
  dir: string;
  /** the cache file */
  file: string;
  images: IndexedImage[];
  /** [images.length, dim] unit rows */
  features: Float32Array;
  dim: number;
  /** embedded by this call (new or changed files) */
  embedded: number;
  /** files that could not be read as images (named in the log), left out */
  skipped: string[];
}

export interface SearchHit {
  file: string;
  similarity: number;
}

/** Image files under `dir` (recursively, hidden entries skipped), sorted. */
export function listImages(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new PolyalignError(`${dir}: not a folder of images`);
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith(".")) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && IMAGE_FILE.test(e.name)) out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** The cache file's name for this model: its weights file (path, size, time) and its image transform. */
export function indexFileFor(dir: string, model: PolyalignModel): string {
  const w = statSync(model.source.file);
  const id = createHash("sha256")
    .update(JSON.stringify([model.source.file, w.size, w.mtimeMs, model.transform]))
    .digest("hex")
    .slice(0, 16);
  return join(dir, `.polyalign-index-${id}.safetensors`);
}

function readCache(file: string, dim: number): Map<string, { entry: IndexedImage; row: Float32Array }> {
  const cached = new Map<string, { entry: IndexedImage; row: Float32Array }>();
  if (!existsSync(file)) return cached;
  try {
    const st = readSafetensors(file);
    const images = JSON.parse(st.metadata.images ?? "[]") as IndexedImage[];
    const t = st.tensors.get("features");
    if (!t || t.shape[1] !== dim || t.shape[0] !== images.length) return cached;
    const all = toFloat32(t, "features");
    images.forEach((entry, i) => cached.set(entry.file, { entry, row: all.slice(i * dim, (i + 1) * dim) }));
  } catch {
    // a damaged cache is rebuilt
  }
  return cached;
}

/** The folder's index for `model`, brought up to date (and saved when anything changed). */
export async function updateImageIndex(model: PolyalignModel, dir: string, log?: Logger): Promise<ImageIndex> {
  const files = listImages(dir);
  const file = indexFileFor(dir, model);
  const dim = model.dim;
  const cached = readCache(file, dim);
  const images: IndexedImage[] = [];
  const rows: Float32Array[] = [];
  const todo: IndexedImage[] = [];
  for (const f of files) {
    const s = statSync(join(dir, f));
    const entry = { file: f, size: s.size, mtimeMs: s.mtimeMs };
    const hit = cached.get(f);
    if (hit && hit.entry.size === entry.size && hit.entry.mtimeMs === entry.mtimeMs) {
      images.push(entry);
      rows.push(hit.row);
    } else todo.push(entry);
  }
  const skipped: string[] = [];
  const progress = todo.length > 0 && log ? new ProgressBar({ label: "embedding images", total: todo.length, log }) : null;
  let done = 0;
  const embed = async (chunk: IndexedImage[]) => {
    const e = await model.embedImages(chunk.map((c) => join(dir, c.file)));
    chunk.forEach((entry, i) => {
      images.push(entry);
      rows.push(embeddingRow(e, i).slice());
    });
  };
  for (let s = 0; s < todo.length; s += model.batchSize) {
    const chunk = todo.slice(s, s + model.batchSize);
    try {
      await embed(chunk);
    } catch {
      // one unreadable file fails its batch: the batch again one by one, to name it and keep the rest
      for (const entry of chunk) {
        try {
          await embed([entry]);
        } catch (err) {
          skipped.push(entry.file);
          log?.warn(`search: ${join(dir, entry.file)} left out: ${(err as Error).message}`);
        }
      }
    }
    done += chunk.length;
    progress?.update(done);
  }
  progress?.stop();
  const order = images.map((_, i) => i).sort((a, b) => (images[a].file < images[b].file ? -1 : 1));
  const sorted = order.map((i) => images[i]);
  const features = new Float32Array(sorted.length * dim);
  order.forEach((i, k) => features.set(rows[i], k * dim));
  const changed = todo.length > 0 || cached.size !== sorted.length;
  if (changed && sorted.length > 0) {
    writeSafetensors(file, [["features", fromFloat32(features, [sorted.length, dim])]], { images: JSON.stringify(sorted), format: "polyalign-image-index" });
  }
  return { dir, file, images: sorted, features, dim, embedded: todo.length - skipped.length, skipped };
}

/** The `top` images most similar to `text` by ITC (cosine of unit features), best first. */
export function searchIndex(model: PolyalignModel, index: ImageIndex, text: string, top = 10): SearchHit[] {
  const q = model.embedTexts([text]).data;
  const hits = index.images.map((img, i) => {
    let s = 0;
    const row = index.features.subarray(i * index.dim, (i + 1) * index.dim);
    for (let d = 0; d < index.dim; d++) s += row[d] * q[d];
    return { file: img.file, similarity: s };
  });
  return hits.sort((a, b) => b.similarity - a.similarity || (a.file < b.file ? -1 : 1)).slice(0, Math.max(0, top));
}
