/**
 * RefCOCO / RefCOCO+ / RefCOCOg in the REFER layout ALBEF evaluates with:
 * `refs(unc).p` (a pickle; or the same list as JSON) — `[{ref_id, ann_id,
 * image_id, split, sentences: [{sent}]}]` — the COCO `instances.json` it goes
 * with (boxes [x, y, w, h] by annotation id, image sizes and file names), and
 * optionally ALBEF's `dets.json` (`{image_id: [[x, y, w, h, ...], ...]}`:
 * the detector's candidate boxes). One sample per image: `{image_id, width,
 * height, file, refs: [{ref_id, expression, box, split}], captions,
 * candidates}` — every sentence of a ref is one query, as ALBEF's test files
 * list them; the candidates are the detections (else the image's annotated
 * boxes); `captions` lists the sentences, what ALBEF's grounding fine-tuning
 * (Grounding.py: ITC + ITM on expression–image pairs, one id per image) trains on.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { latin1Encode, PyDict, type PyValue, PyTuple, unpickle } from "../../checkpoint/pytorch/pickle.ts";
import { readJsonFile, SourceFormatError } from "./image-text-sources.ts";
import type { SampleRecord } from "./sample-record.ts";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A pickle of plain data (dicts, lists, strings, numbers: REFER's refs file) as JSON values; any global is refused. */
export function readDataPickle(file: string): Json {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch {
    throw new SourceFormatError(`${file}: no such file`);
  }
  const toJson = (v: PyValue): Json => {
    if (v === null || typeof v === "boolean" || typeof v === "number" || typeof v === "string") return v;
    if (typeof v === "bigint") return Number(v);
    // Python 2 `str` arrives as bytes
    if (v instanceof Uint8Array) return new TextDecoder("utf-8").decode(v);
    if (Array.isArray(v)) return v.map(toJson);
    if (v instanceof PyTuple) return v.items.map(toJson);
    if (v instanceof PyDict) return Object.fromEntries([...v.entries].map(([k, x]) => [String(k), toJson(x)]));
    throw new SourceFormatError(`${file}: the pickle holds a ${v.constructor.name}, not plain data`);
  };
  const globals = new Map([["_codecs.encode", latin1Encode(file)]]);
  const refusal = "a data pickle is read as plain dicts, lists, strings and numbers and nothing in it is executed; convert the file to JSON if it needs more";
  return toJson(unpickle(bytes, { globals, source: file, refusal }).value);
}

type XywhBox = [number, number, number, number];
const isBox = (v: unknown): v is number[] => Array.isArray(v) && v.length >= 4 && v.slice(0, 4).every((x) => typeof x === "number" && Number.isFinite(x));

export interface RefcocoInput {
  refs: string;
  instances: string;
  dets?: string;
  imagesRoot: string;
  /** keep refs of these splits (REFER: train, val, testA, testB; RefCOCOg: test); all when omitted */
  splits?: readonly string[];
}

export function readRefcoco(input: RefcocoInput): SampleRecord[] {
  const refs = input.refs.endsWith(".p") || input.refs.endsWith(".pkl") ? readDataPickle(input.refs) : readJsonFile(input.refs);
  if (!Array.isArray(refs)) throw new SourceFormatError(`${input.refs}: expected a list of refs`);
  const inst = readJsonFile(input.instances) as { images?: unknown; annotations?: unknown };
  if (!Array.isArray(inst?.images) || !Array.isArray(inst.annotations))
    throw new SourceFormatError(`${input.instances}: not a COCO instances file (needs "images" and "annotations")`);
  const images = new Map<number, { file_name: string; width: number; height: number }>();
  for (const im of inst.images as { id: number; file_name: string; width: number; height: number }[]) images.set(im.id, im);
  const annBox = new Map<number, XywhBox>();
  const imageBoxes = new Map<number, XywhBox[]>();
  for (const a of inst.annotations as { id: number; image_id: number; bbox: unknown }[]) {
    if (!isBox(a.bbox)) throw new SourceFormatError(`${input.instances}: annotation ${a.id} has no bbox [x, y, w, h]`);
    const box = a.bbox.slice(0, 4) as XywhBox;
    annBox.set(a.id, box);
    imageBoxes.set(a.image_id, [...(imageBoxes.get(a.image_id) ?? []), box]);
  }
  const dets = input.dets ? (readJsonFile(input.dets) as Record<string, unknown>) : null;
  if (dets !== null && (typeof dets !== "object" || Array.isArray(dets)))
    throw new SourceFormatError(`${input.dets}: expected {image_id: [[x, y, w, h], ...]}`);
  const byImage = new Map<number, SampleRecord>();
  refs.forEach((r: Json, i) => {
    const where = `${input.refs}: refs[${i}]`;
    const ref = r as { ref_id?: unknown; ann_id?: unknown; image_id?: unknown; split?: unknown; sentences?: unknown };
    if (typeof ref?.ref_id !== "number" || typeof ref.ann_id !== "number" || typeof ref.image_id !== "number" || typeof ref.split !== "string")
      throw new SourceFormatError(`${where} needs "ref_id", "ann_id", "image_id" and "split"`);
    if (input.splits && !input.splits.includes(ref.split)) return;
    const sentences = Array.isArray(ref.sentences)
      ? ref.sentences.map((s) => (s as { sent?: unknown; raw?: unknown })?.sent ?? (s as { raw?: unknown })?.raw)
      : [];
    if (sentences.length === 0 || !sentences.every((s): s is string => typeof s === "string"))
      throw new SourceFormatError(`${where} (ref ${ref.ref_id}) has no "sentences" list of {sent}`);
    const box = annBox.get(ref.ann_id);
    if (!box) throw new SourceFormatError(`${where} (ref ${ref.ref_id}): annotation ${ref.ann_id} is not in ${input.instances}`);
    const image = images.get(ref.image_id);
    if (!image) throw new SourceFormatError(`${where} (ref ${ref.ref_id}): image ${ref.image_id} is not in ${input.instances}`);
    let record = byImage.get(ref.image_id);
    if (!record) {
      const detected = dets?.[String(ref.image_id)];
      if (dets && (!Array.isArray(detected) || !detected.every(isBox)))
        throw new SourceFormatError(`${input.dets}: image ${ref.image_id} (ref ${ref.ref_id}) has no list of [x, y, w, h] detections`);
      const candidates = dets ? (detected as number[][]).map((d) => d.slice(0, 4)) : (imageBoxes.get(ref.image_id) ?? []);
      record = {
        key: `coco_${ref.image_id}`,
        images: [{ member: "", path: resolve(input.imagesRoot, image.file_name) }],
        json: { image_id: ref.image_id, file: image.file_name, width: image.width, height: image.height, refs: [], captions: [], candidates },
        where,
      };
      byImage.set(ref.image_id, record);
    }
    for (const expression of sentences) {
      (record.json.refs as unknown[]).push({ ref_id: ref.ref_id, expression, box, split: ref.split });
      (record.json.captions as string[]).push(expression);
    }
    // a text member as every caption source has (the first expression), so the default sample format reads the sample
    record.txt ??= sentences[0];
  });
  return [...byImage.values()];
}
