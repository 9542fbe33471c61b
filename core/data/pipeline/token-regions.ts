/**
 * Which image region each caption token speaks of (`data.format.regions`), for
 * objectives that ground words in the image. A sample's JSON lists its objects,
 * each with a `box` [x0, y0, x1, y1] in source pixels and its attribute words
 * as string fields (the built-in set: `{shape, colour, size, box}`). A phrase
 * is a maximal run of caption words that are attribute words of some object;
 * it names the one object whose attributes contain all its words ("a large
 * red circle" → the large red circle). A phrase that fits no object or several
 * grounds nothing. Every token of a grounded word gets the object's box, moved
 * as the image transform moved the pixels (crop, resize, flip) and given in
 * the transformed image's unit square.
 */
import type { TransformedImage } from "../image/transform.ts";

export interface RegionObject {
  box: [number, number, number, number];
  /** its attribute words, lower case */
  words: ReadonlySet<string>;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The objects under `json:FIELD` of a sample's JSON; `where` names the sample in errors. */
export function sampleRegionObjects(files: Record<string, Uint8Array>, source: string, where: string): RegionObject[] {
  const field = source.slice("json:".length);
  const bytes = files.json;
  if (!bytes) throw new Error(`${where} has no .json member for its regions`);
  const v = (JSON.parse(utf8.decode(bytes)) as Record<string, unknown>)[field];
  if (!Array.isArray(v)) throw new Error(`${where}: .json field "${field}" is no list of objects`);
  return v.map((o: Record<string, unknown>, i) => {
    const box = o?.box;
    if (!Array.isArray(box) || box.length !== 4 || !box.every((x) => typeof x === "number" && Number.isFinite(x)) || box[2] <= box[0] || box[3] <= box[1]) {
      throw new Error(`${where}: ${field}[${i}].box is not [x0, y0, x1, y1] with x1 > x0 and y1 > y0 (got ${JSON.stringify(box)})`);
    }
    const words = new Set<string>();
    for (const [k, w] of Object.entries(o))
      if (k !== "box" && typeof w === "string") for (const part of w.toLowerCase().split(/\s+/)) if (part) words.add(part);
    return { box: box as [number, number, number, number], words };
  });
}

/** Per word of `words`: the index of the object its phrase names, or −1. */
export function phraseObjects(words: readonly string[], objects: readonly RegionObject[]): Int32Array {
  const out = new Int32Array(words.length).fill(-1);
  const isAttribute = (w: string) => objects.some((o) => o.words.has(w));
  let start = 0;
  while (start < words.length) {
    if (!isAttribute(words[start])) {
      start++;
      continue;
    }
    let end = start;
    while (end < words.length && isAttribute(words[end])) end++;
    const phrase = words.slice(start, end);
    const fits = objects.map((o, i) => (phrase.every((w) => o.words.has(w)) ? i : -1)).filter((i) => i >= 0);
    if (fits.length === 1) out.fill(fits[0], start, end);
    start = end;
  }
  return out;
}

/** A source-pixel box in the transformed image's unit square (crop, resize to a square, horizontal flip), clipped; null when cropped away. */
export function transformedBox(box: readonly number[], info: TransformedImage["info"]): [number, number, number, number] | null {
  const crop = info.crop ?? { left: 0, top: 0, width: info.source.width, height: info.source.height };
  const clip = (v: number) => Math.min(1, Math.max(0, v));
  let x0 = clip((box[0] - crop.left) / crop.width);
  let x1 = clip((box[2] - crop.left) / crop.width);
  const y0 = clip((box[1] - crop.top) / crop.height);
  const y1 = clip((box[3] - crop.top) / crop.height);
  if (info.flipped) [x0, x1] = [1 - x1, 1 - x0];
  return x1 > x0 && y1 > y0 ? [x0, y0, x1, y1] : null;
}

/**
 * Token boxes [tokens, 4] (NaN: the token grounds nothing) from each word's
 * token span: `wordEnds[i]` = index after word i's last token (the CLS token
 * is 0, so word 0 starts at 1); tokens past `tokens` (truncation) are dropped.
 */
export function tokenBoxes(
  wordObjects: Int32Array,
  wordEnds: readonly number[],
  objects: readonly RegionObject[],
  info: TransformedImage["info"],
  tokens: number,
): Float32Array {
  const out = new Float32Array(tokens * 4).fill(Number.NaN);
  const moved = objects.map((o) => transformedBox(o.box, info));
  let begin = 1;
  wordObjects.forEach((obj, i) => {
    const end = Math.min(wordEnds[i], tokens);
    const box = obj >= 0 ? moved[obj] : null;
    if (box) for (let t = begin; t < end; t++) out.set(box, t * 4);
    begin = Math.max(begin, end);
  });
  return out;
}
