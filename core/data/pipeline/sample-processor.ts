/**
 * What a data worker does to one raw sample: pick the image and the caption,
 * run the image transform, clean and tokenise the caption. Everything a
 * worker needs arrives in a plain `ProcessorSpec`, so that the same code runs
 * in a Piscina thread, a Deno Web Worker, or inline.
 */
import { validateSection } from "../../config/validate.ts";
import type { PlainObject } from "../../config/merge.ts";
import { createLogger } from "../../log.ts";
import { Tokenizer } from "../../registry/kinds/index.ts";
import { loadPluginModules } from "../../registry/loader.ts";
import { PluginRegistry } from "../../registry/registry.ts";
import { Rng } from "../../tensor/rng.ts";
import { type ImageTransformConfig, type TransformedImage, transformImage } from "../image/transform.ts";
import { preCaption } from "../text/clean.ts";
import { registerTokenizerPlugins } from "../text/tokenizer-plugins.ts";
import type { SampleFormat } from "./sample-format.ts";
import { phraseObjects, sampleRegionObjects, tokenBoxes } from "./token-regions.ts";

export interface ProcessorSpec {
  image: ImageTransformConfig;
  format: SampleFormat;
  /** a Tokenizer plugin section `{ name, ...options }` */
  tokenizer: PlainObject;
  /** user plugin modules (absolute paths) that may register the tokenizer */
  plugins: string[];
  /** the module user plugin modules are handed (the main thread's `PluginRegistry.apiModule`); needed with `plugins` */
  apiModule?: string;
}

export interface SampleTask {
  seq: number;
  key: string;
  url: string;
  files: Record<string, Uint8Array>;
  /** the sample's own random seed (same whichever worker runs it) */
  seed: number;
  /** train on this caption of the sample's list (per-caption samples); undefined: one drawn at random */
  caption?: number;
}

export type SampleResult =
  /**
   * `pixels`: [images, 3, S, S] — one image unless `imageMembers` lists several; `label`: −1 without a label source;
   * `answers`: the drawn question's distinct answers with their shares of the votes (empty without `qa`)
   */
  | {
      seq: number;
      ok: true;
      key: string;
      caption: string;
      pixels: Float32Array;
      ids: Int32Array;
      label: number;
      answers: WeightedAnswer[];
      /** the drawn text negative's token ids: empty when the sample has none, null without `format.negatives` */
      negativeIds: Int32Array | null;
      /** per caption token its region [tokens, 4] in the transformed image's unit square (NaN: none); null without `format.regions` */
      regions: Float32Array | null;
    }
  | { seq: number; ok: false; key: string; url: string; reason: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Every caption a sample carries under `format.text`: the text member, or the JSON field's string or list. */
export function sampleCaptions(files: Record<string, Uint8Array>, format: SampleFormat, where: string): string[] {
  if (format.text === "txt" || !format.text.startsWith("json:")) {
    const ext = format.text;
    const bytes = files[ext];
    if (!bytes) throw new Error(`${where} has no .${ext} member`);
    try {
      return [utf8.decode(bytes)];
    } catch {
      throw new Error(`${where}: .${ext} is not valid UTF-8`);
    }
  }
  const field = format.text.slice("json:".length);
  const bytes = files.json;
  if (!bytes) throw new Error(`${where} has no .json member`);
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(utf8.decode(bytes)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${where}: .json is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  const v = meta[field];
  if (typeof v === "string") return [v];
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "string")) return v as string[];
  throw new Error(`${where}: .json has no string or string list "${field}"`);
}

export interface WeightedAnswer {
  answer: string;
  /** share of the answers given (VQA: count / 10; 1 for a single answer), times the item's `weight` (ALBEF's Visual Genome answers: 0.5) */
  weight: number;
  /** how many annotators gave it */
  count: number;
  /** how many answers the question has in all */
  total: number;
}

/** The question-answer items under `format.qa`. */
export function sampleQuestions(files: Record<string, Uint8Array>, format: SampleFormat, where: string): { question: string; answers: WeightedAnswer[] }[] {
  if (!format.qa) return [];
  const field = format.qa.slice("json:".length);
  const bytes = files.json;
  if (!bytes) throw new Error(`${where} has no .json member for its questions`);
  const v = (JSON.parse(utf8.decode(bytes)) as Record<string, unknown>)[field];
  if (!Array.isArray(v) || v.length === 0) throw new Error(`${where}: .json field "${field}" is no list of questions`);
  return v.map((item: { question?: unknown; answer?: unknown; answers?: unknown; weight?: unknown }, i) => {
    const all =
      typeof item?.answer === "string"
        ? [item.answer]
        : Array.isArray(item?.answers)
          ? item.answers.map((a: unknown) => (typeof a === "string" ? a : (a as { answer?: unknown })?.answer))
          : null;
    // an empty list: a question without annotations (VQA test-dev), scored by the evaluation server
    if (typeof item?.question !== "string" || !all || !all.every((a): a is string => typeof a === "string")) {
      throw new Error(`${where}: ${field}[${i}] needs a "question" and an "answer" or "answers" list`);
    }
    const factor = item.weight === undefined ? 1 : item.weight;
    if (typeof factor !== "number" || !(factor > 0))
      throw new Error(`${where}: ${field}[${i}].weight must be a positive number (got ${JSON.stringify(item.weight)})`);
    const counts = new Map<string, number>();
    for (const a of all) counts.set(a, (counts.get(a) ?? 0) + 1);
    return { question: item.question, answers: [...counts].map(([answer, n]) => ({ answer, weight: (factor * n) / all.length, count: n, total: all.length })) };
  });
}

/**
 * The texts under `format.negatives` (`json:FIELD`; absent or empty: none): a list of
 * texts false of the image, or one such list per caption (the caption's own negatives —
 * the built-in set's `caption_negatives`), of which the drawn caption's is taken.
 */
export function sampleTextNegatives(files: Record<string, Uint8Array>, format: SampleFormat, where: string, captionIndex = 0): string[] {
  if (!format.negatives) return [];
  const field = format.negatives.slice("json:".length);
  const bytes = files.json;
  if (!bytes) throw new Error(`${where} has no .json member for its text negatives`);
  const v = (JSON.parse(utf8.decode(bytes)) as Record<string, unknown>)[field];
  if (v === undefined) return [];
  const texts = (x: unknown): x is string[] => Array.isArray(x) && x.every((t) => typeof t === "string");
  if (texts(v)) return v;
  if (Array.isArray(v) && v.every(texts)) {
    if (captionIndex >= v.length) throw new Error(`${where}: .json field "${field}" has negatives for ${v.length} caption(s), not for caption ${captionIndex}`);
    return v[captionIndex];
  }
  throw new Error(`${where}: .json field "${field}" is no list of texts (nor one list per caption)`);
}

/** The sample's class label from `format.label` (`json:FIELD`). */
export function sampleLabel(files: Record<string, Uint8Array>, format: SampleFormat, where: string): number {
  if (!format.label) return -1;
  const field = format.label.slice("json:".length);
  const bytes = files.json;
  if (!bytes) throw new Error(`${where} has no .json member for its label`);
  const v = (JSON.parse(utf8.decode(bytes)) as Record<string, unknown>)[field];
  if (typeof v === "boolean") return v ? 1 : 0;
  if (v === "True" || v === "true") return 1;
  if (v === "False" || v === "false") return 0;
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
  throw new Error(`${where}: .json field "${field}" is no label (an integer ≥ 0, a boolean or "True"/"False"; got ${JSON.stringify(v)})`);
}

/** The sample's caption (the copy's own, or one drawn) and its index among the sample's captions. */
function caption(task: SampleTask, format: SampleFormat, rng: Rng): { text: string; index: number } {
  const where = `${task.url}: sample ${task.key}`;
  const all = sampleCaptions(task.files, format, where);
  if (task.caption !== undefined) {
    if (task.caption >= all.length) throw new Error(`${where} has ${all.length} captions, no caption ${task.caption}`);
    return { text: all[task.caption], index: task.caption };
  }
  const index = all.length === 1 ? 0 : rng.int(all.length);
  return { text: all[index], index };
}

export async function createSampleProcessor(spec: ProcessorSpec): Promise<(task: SampleTask) => Promise<SampleResult>> {
  const registry = new PluginRegistry({ apiModule: spec.apiModule });
  registerTokenizerPlugins(registry);
  if (spec.plugins.length > 0) await loadPluginModules(spec.plugins, registry);
  const section = validateSection(registry, Tokenizer, spec.tokenizer, "tokenizer");
  const { name, ...options } = section;
  const plugin = registry.get(Tokenizer, String(name));
  const tokenizer = plugin.create(options, {
    resolve: () => {
      throw new Error("a tokenizer in a data worker cannot resolve other plugins");
    },
    log: createLogger({ level: "warn" }),
    rng: new Rng(0),
  });
  await tokenizer.init?.();
  return async (task) => {
    try {
      const rng = new Rng(task.seed);
      const where = `${task.url}: sample ${task.key}`;
      const members = spec.format.imageMembers ?? [spec.format.imageExts.find((e) => task.files[e] !== undefined)];
      if (members[0] === undefined) throw new Error(`${where} has no image member (.${spec.format.imageExts.join("/.")})`);
      let answers: WeightedAnswer[] = [];
      let raw: string;
      let captionIndex = 0;
      if (spec.format.qa) {
        const items = sampleQuestions(task.files, spec.format, where);
        const item = items[items.length === 1 ? 0 : rng.int(items.length)];
        raw = item.question;
        answers = item.answers;
      } else ({ text: raw, index: captionIndex } = caption(task, spec.format, rng));
      const text = preCaption(raw, spec.format.maxWords);
      const label = sampleLabel(task.files, spec.format, where);
      const images: Float32Array[] = [];
      let firstImage: TransformedImage["info"] | null = null;
      for (const named of members as string[]) {
        // a member named without its extension (`img0`) is whichever image type the sample has (NLVR2: JPEG or PNG)
        const m = task.files[named] || named.includes(".") ? named : (spec.format.imageExts.map((e) => `${named}.${e}`).find((k) => task.files[k]) ?? named);
        if (!task.files[m]) throw new Error(`${where} has no .${named} member`);
        const t = await transformImage(task.files[m], spec.image, rng, `${where}.${m}`);
        firstImage ??= t.info;
        images.push(t.pixels);
      }
      const pixels = images.length === 1 ? images[0] : new Float32Array(images.reduce((a, p) => a + p.length, 0));
      if (images.length > 1) images.forEach((p, i) => pixels.set(p, i * p.length));
      // drawn after everything else, so that a format without negatives makes the same draws as before
      const negatives = sampleTextNegatives(task.files, spec.format, where, captionIndex);
      const negative = negatives.length === 0 ? "" : preCaption(negatives[negatives.length === 1 ? 0 : rng.int(negatives.length)], spec.format.maxWords);
      const tokens = (t: string) => {
        const enc = tokenizer.encode([t]);
        let n = 0;
        while (n < enc.length && enc.mask[n] === 1) n++;
        return enc.ids.slice(0, n);
      };
      const ids = tokens(text);
      let regions: Float32Array | null = null;
      if (spec.format.regions && firstImage) {
        const objects = sampleRegionObjects(task.files, spec.format.regions, where);
        const words = text.split(" ");
        // a word's tokens end where its prefix's do, before any trailing special token ([SEP], unless in ALBEF's mode)
        const trailing = tokens("").length - 1;
        const wordEnds = words.map((_, i) => tokens(words.slice(0, i + 1).join(" ")).length - trailing);
        regions = tokenBoxes(phraseObjects(words, objects), wordEnds, objects, firstImage, ids.length);
      }
      return {
        seq: task.seq,
        ok: true,
        key: task.key,
        caption: text,
        pixels,
        ids,
        regions,
        label,
        answers,
        negativeIds: !spec.format.negatives ? null : negative === "" ? new Int32Array(0) : tokens(negative),
      };
    } catch (e) {
      return { seq: task.seq, ok: false, key: task.key, url: task.url, reason: (e as Error).message };
    }
  };
}
