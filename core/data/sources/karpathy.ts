/**
 * Karpathy's split files (`dataset_coco.json`, `dataset_flickr30k.json`,
 * `dataset_flickr8k.json`): `{images: [{filepath?, filename, split,
 * sentences: [{raw}], cocoid? | imgid}]}`. One record per image with all its
 * captions and its id (COCO's `cocoid`, else Karpathy's `imgid`), filtered to
 * the splits asked for — ALBEF trains COCO retrieval on `train` + `restval`.
 */
import { resolve } from "node:path";
import { readJsonFile, type ImageTextRecord, SourceFormatError } from "./image-text-sources.ts";

export const KARPATHY_SPLITS = ["train", "restval", "val", "test"] as const;
export type KarpathySplit = (typeof KARPATHY_SPLITS)[number];

/** `train+restval` → ["train", "restval"]; an unknown name is an error. */
export function parseKarpathySplits(spec: string): KarpathySplit[] {
  const names = spec.split("+").map((s) => s.trim());
  for (const n of names) {
    if (!(KARPATHY_SPLITS as readonly string[]).includes(n))
      throw new SourceFormatError(`unknown Karpathy split "${n}" (one of ${KARPATHY_SPLITS.join(", ")}, joined with +)`);
  }
  return names as KarpathySplit[];
}

export function readKarpathy(file: string, imagesRoot: string, splits: readonly KarpathySplit[]): ImageTextRecord[] {
  const data = readJsonFile(file) as { images?: unknown };
  if (!Array.isArray(data?.images)) throw new SourceFormatError(`${file}: not a Karpathy split file (needs an "images" list)`);
  const out: ImageTextRecord[] = [];
  data.images.forEach((im: Record<string, unknown>, i: number) => {
    const where = `${file}: images[${i}]`;
    if (typeof im?.filename !== "string") throw new SourceFormatError(`${where} has no "filename"`);
    if (typeof im.split !== "string" || !(KARPATHY_SPLITS as readonly string[]).includes(im.split))
      throw new SourceFormatError(`${where} (${im.filename}) has no split of ${KARPATHY_SPLITS.join("/")} (got ${JSON.stringify(im.split)})`);
    if (!splits.includes(im.split as KarpathySplit)) return;
    const sentences = im.sentences;
    if (!Array.isArray(sentences) || sentences.length === 0 || !sentences.every((s: { raw?: unknown }) => typeof s?.raw === "string"))
      throw new SourceFormatError(`${where} (${im.filename}) has no "sentences" list of {raw}`);
    const id = typeof im.cocoid === "number" ? im.cocoid : im.imgid;
    if (typeof id !== "number") throw new SourceFormatError(`${where} (${im.filename}) has neither "cocoid" nor "imgid"`);
    const rel = typeof im.filepath === "string" && im.filepath !== "" ? `${im.filepath}/${im.filename}` : im.filename;
    out.push({
      image: resolve(imagesRoot, rel),
      captions: sentences.map((s: { raw: string }) => s.raw),
      meta: { file: rel, image_id: id, split: im.split },
    });
  });
  return out;
}
