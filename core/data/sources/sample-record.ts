/**
 * What a shard builder writes for one sample: its image members (member name
 * → file on disk), an optional `.txt` and the `.json` metadata. Builders of
 * the real data sets (Karpathy, VQA, NLVR2, RefCOCO+) produce these; the
 * image-caption builders' records become them through `captionSample`.
 */
import type { ImageTextRecord } from "./image-text-sources.ts";

export interface SampleRecord {
  /** the sample's key (default: from the first image's file name) */
  key?: string;
  /** member name without extension (`jpg`'s sample has one: "") → image file; the extension comes from the file */
  images: { member: string; path: string }[];
  txt?: string;
  json: Record<string, unknown>;
  /** names the record in errors and warnings ("dataset_coco.json: images[3]") */
  where: string;
}

/** One image with its captions: KEY.<ext>, KEY.txt (the first caption), KEY.json ({captions, ...meta}). */
export function captionSample(r: ImageTextRecord, where: string): SampleRecord {
  return { images: [{ member: "", path: r.image }], txt: r.captions[0], json: { captions: r.captions, ...r.meta }, where };
}
