/**
 * Attribute binding: each test image's caption against its binding negatives
 * (two entities' colours or shapes swapped), by ITC similarity and ITM logit;
 * and, where a sample also carries the scene its first negative describes
 * (the built-in set's `swap.jpg`), Winoground's text, image and group scores
 * over the two captions and the two images.
 */
import {
  type DataConfig,
  type DroppedSamples,
  DataError,
  type EmbeddingHead,
  evalBatches,
  openPool,
  preCaption,
  type RunScope,
  testSampleMeta,
  tf,
  type Tokenizer,
  type VisionLanguageModel,
} from "../../../core/index.ts";

export interface BindingOptions {
  captionField: string;
  negativesField: string;
  maxImages: number;
  batchSize: number;
  /** skip samples without the fields (the pretrain task's optional check) instead of failing */
  lenient?: boolean;
  /** the .json field `{caption}` naming the counterfactual image's caption, and that image's member */
  counterfactualField?: string;
  counterfactualMember?: string;
  /** the .json field `{kind: [texts]}` of replacement negatives (the caption with one attribute wrong), scored by kind where samples carry it */
  replacementsField?: string;
  /** replacement negatives scored per kind and image, evenly spaced over the sample's list */
  replacementsPerKind?: number;
}

/** Replacement negatives scored per kind and image unless the options say otherwise. */
export const DEFAULT_REPLACEMENTS_PER_KIND = 3;

interface BindingCase {
  caption: string;
  negatives: string[];
  /** the caption the counterfactual image shows (Winoground's second caption), when the sample has one */
  counterfactual: string | null;
  /** replacement negatives by the attribute they get wrong, at most `replacementsPerKind` each */
  replacements: [kind: string, texts: string[]][];
}

/** `n` of `list`'s entries, evenly spaced (all of them when it has no more). */
export function evenlySpaced<T>(list: readonly T[], n: number): T[] {
  if (list.length <= n) return [...list];
  return Array.from({ length: n }, (_, i) => list[Math.floor((i * list.length) / n)]);
}

function replacementLists(meta: Record<string, unknown>, cfg: BindingOptions, where: string): [string, string[]][] {
  const field = cfg.replacementsField ?? "replacements";
  const v = meta[field];
  if (v === undefined) return [];
  const lists = v !== null && typeof v === "object" && !Array.isArray(v) ? Object.entries(v as Record<string, unknown>) : null;
  if (!lists?.every(([, l]) => Array.isArray(l) && l.every((t) => typeof t === "string")))
    throw new DataError(`${where}: "${field}" is not an object of text lists by attribute ({"colour": [...], ...})`);
  const n = cfg.replacementsPerKind ?? DEFAULT_REPLACEMENTS_PER_KIND;
  return (lists as [string, string[]][]).map(([kind, texts]) => [kind, evenlySpaced(texts, n)] as [string, string[]]).filter(([, t]) => t.length > 0);
}

function bindingCase(meta: Record<string, unknown>, cfg: BindingOptions, where: string): BindingCase | null {
  const c = meta[cfg.captionField];
  const caption = typeof c === "string" ? c : Array.isArray(c) && typeof c[0] === "string" ? c[0] : null;
  const negatives = meta[cfg.negativesField];
  if (caption === null) throw new DataError(`${where}: .json has no caption "${cfg.captionField}"`);
  if (negatives === undefined) throw new DataError(`${where}: .json has no "${cfg.negativesField}" list`);
  if (!Array.isArray(negatives) || !negatives.every((n) => typeof n === "string"))
    throw new DataError(`${where}: "${cfg.negativesField}" is not a list of strings`);
  const cf = meta[cfg.counterfactualField ?? "counterfactual"];
  let counterfactual: string | null = null;
  if (cf !== undefined) {
    const c2 = (cf as { caption?: unknown } | null)?.caption;
    if (typeof c2 !== "string") throw new DataError(`${where}: "${cfg.counterfactualField ?? "counterfactual"}" has no caption string`);
    counterfactual = c2;
  }
  const replacements = replacementLists(meta, cfg, where);
  return negatives.length > 0 || replacements.length > 0 ? { caption, negatives, counterfactual, replacements } : null;
}

/** ITC similarity and the ITM class-1 logit of one image against several texts. */
function scoreTexts(
  model: VisionLanguageModel,
  head: EmbeddingHead,
  tokenizer: Tokenizer,
  pixels: Float32Array,
  size: number,
  texts: readonly string[],
): { itc: Float32Array; itm: Float32Array } {
  const enc = tokenizer.encode([...texts]);
  return tf.tidy(() => {
    const image = model.encodeImage(tf.tensor4d(pixels, [1, 3, size, size]));
    const ids = tf.tensor2d(enc.ids, [enc.batch, enc.length], "int32");
    const mask = tf.tensor2d(enc.mask, [enc.batch, enc.length], "int32");
    const text = model.encodeText(ids, mask);
    const sim = tf.sum(tf.mul(head.textFeatures(text, mask), head.imageFeatures(image)), -1);
    const images = tf.tile(image, [enc.batch, 1, 1]);
    const logit = tf.squeeze(tf.slice(model.matchLogits(text, mask, images), [0, 1], [-1, 1]), [1]);
    return { itc: sim.dataSync() as Float32Array, itm: logit.dataSync() as Float32Array };
  });
}

/** Winoground's scores in %, over caption c0 / image i0 and its counterfactual c1 / i1 (chance 25, 25, 16.7). */
export interface WinogroundScores {
  /** c0 beats c1 on i0 and c1 beats c0 on i1 */
  text: number;
  /** i0 beats i1 for c0 and i1 beats i0 for c1 */
  image: number;
  /** both */
  group: number;
}

export interface BindingScores {
  /** pairs (caption, one negative) */
  pairs: number;
  images: number;
  /** % of pairs where the caption scores higher */
  itcPairs: number;
  itmPairs: number;
  /** % of images whose caption beats every negative */
  itcImages: number;
  itmImages: number;
  /** what random scores give per image: mean of 1 / (negatives + 1) */
  chanceImages: number;
  /**
   * where the samples carry replacement negatives: by the attribute replaced, how many
   * (caption, replacement) pairs and in how many % the caption scores higher —
   * whether the model sees that attribute of each object at all
   */
  replaced?: Record<string, { pairs: number; itc: number; itm: number }>;
  /** Winoground scores, where the samples carry counterfactual images */
  winogroundPairs?: number;
  winogroundItc?: WinogroundScores;
  winogroundItm?: WinogroundScores;
}

/** null when no test image has negatives. */
export async function measureBinding(
  model: VisionLanguageModel,
  scope: RunScope,
  dropped: DroppedSamples,
  data: DataConfig,
  tokenizer: Tokenizer,
  opts: BindingOptions,
): Promise<BindingScores | null> {
  const head = model.requireEmbedding("attribute binding");
  model.requireMatching("attribute binding");
  const wasTraining = model.training;
  model.eval();
  try {
    const read = (meta: Record<string, unknown>, where: string) => {
      if (opts.lenient && (meta[opts.negativesField] === undefined || meta[opts.captionField] === undefined)) return null;
      return bindingCase(meta, opts, where);
    };
    const cases = await testSampleMeta(data, opts.maxImages, read);
    const onFirstImage = new Map<string, { itc: Float32Array; itm: Float32Array }>();
    const won = { itcPairs: 0, itmPairs: 0, itcImages: 0, itmImages: 0, pairs: 0, images: 0, chanceImages: 0 };
    const replaced: Record<string, { pairs: number; itc: number; itm: number }> = {};
    const pool = await openPool(scope, data, "test", Math.min(1, data.workers));
    let seen = 0;
    try {
      for await (const b of evalBatches(data, data.test as string, pool, tokenizer.special.pad, opts.batchSize, dropped, {
        label: "binding: test images",
        log: scope.log,
        limit: opts.maxImages,
      })) {
        const plane = 3 * b.size * b.size;
        for (let i = 0; i < b.batch && seen < opts.maxImages; i++, seen++) {
          const c = cases.get(b.keys[i]);
          if (!c) continue;
          const replacedTexts = c.replacements.flatMap(([, t]) => t);
          const texts = [c.caption, ...c.negatives, ...replacedTexts].map((t) => preCaption(t, data.format.maxWords));
          const all = scoreTexts(model, head, tokenizer, b.images.subarray(i * plane, (i + 1) * plane), b.size, texts);
          let at = 1 + c.negatives.length;
          for (const [kind, list] of c.replacements) {
            replaced[kind] ??= { pairs: 0, itc: 0, itm: 0 };
            const r = replaced[kind];
            for (let j = 0; j < list.length; j++, at++) {
              r.pairs++;
              if (all.itc[0] > all.itc[at]) r.itc++;
              if (all.itm[0] > all.itm[at]) r.itm++;
            }
          }
          const upTo = 1 + c.negatives.length;
          const itc = all.itc.subarray(0, upTo);
          const itm = all.itm.subarray(0, upTo);
          if (c.negatives.length === 0) continue;
          if (c.counterfactual !== null) {
            // the counterfactual caption is (on the built-in set) the first negative, already scored
            const k = c.negatives.indexOf(c.counterfactual) + 1;
            const pair =
              k > 0
                ? { itc: Float32Array.of(itc[0], itc[k]), itm: Float32Array.of(itm[0], itm[k]) }
                : scoreTexts(model, head, tokenizer, b.images.subarray(i * plane, (i + 1) * plane), b.size, [
                    texts[0],
                    preCaption(c.counterfactual, data.format.maxWords),
                  ]);
            onFirstImage.set(b.keys[i], pair);
          }
          const wins = (s: ArrayLike<number>) => Array.from({ length: s.length - 1 }, (_, j) => s[0] > s[j + 1]);
          const wItc = wins(itc);
          const wItm = wins(itm);
          won.pairs += wItc.length;
          won.images++;
          // random scores: the caption is the best of k + 1 with probability 1 / (k + 1)
          won.chanceImages += 1 / (wItc.length + 1);
          won.itcPairs += wItc.filter(Boolean).length;
          won.itmPairs += wItm.filter(Boolean).length;
          if (wItc.every(Boolean)) won.itcImages++;
          if (wItm.every(Boolean)) won.itmImages++;
        }
        if (seen >= opts.maxImages) break;
      }
    } finally {
      await pool.close();
    }
    if (won.pairs === 0) return null;
    const pct = (n: number, d: number) => (100 * n) / d;
    const winoground = await measureWinoground(model, head, scope, dropped, data, tokenizer, opts, cases, onFirstImage);
    const byKind = Object.entries(replaced).map(([k, r]) => [k, { pairs: r.pairs, itc: pct(r.itc, r.pairs), itm: pct(r.itm, r.pairs) }]);
    return {
      ...(byKind.length > 0 ? { replaced: Object.fromEntries(byKind) } : {}),
      ...(winoground ? { winogroundPairs: winoground.pairs, winogroundItc: winoground.itc, winogroundItm: winoground.itm } : {}),
      pairs: won.pairs,
      images: won.images,
      itcPairs: pct(won.itcPairs, won.pairs),
      itmPairs: pct(won.itmPairs, won.pairs),
      itcImages: pct(won.itcImages, won.images),
      itmImages: pct(won.itmImages, won.images),
      chanceImages: pct(won.chanceImages, won.images),
    };
  } finally {
    model.train(wasTraining);
  }
}

/** The second pass: the counterfactual images against both captions. */
async function measureWinoground(
  model: VisionLanguageModel,
  head: EmbeddingHead,
  scope: RunScope,
  dropped: DroppedSamples,
  data: DataConfig,
  tokenizer: Tokenizer,
  opts: BindingOptions,
  cases: Map<string, BindingCase | null>,
  onFirstImage: Map<string, { itc: Float32Array; itm: Float32Array }>,
): Promise<{ pairs: number; itc: WinogroundScores; itm: WinogroundScores } | null> {
  if (onFirstImage.size === 0) return null;
  const member = opts.counterfactualMember ?? "swap.jpg";
  const swapData: DataConfig = { ...data, format: { ...data.format, imageExts: [member, ...data.format.imageExts] } };
  const counts = { itc: { text: 0, image: 0, group: 0 }, itm: { text: 0, image: 0, group: 0 }, pairs: 0 };
  const pool = await openPool(scope, swapData, "test", Math.min(1, data.workers));
  try {
    for await (const b of evalBatches(swapData, data.test as string, pool, tokenizer.special.pad, opts.batchSize, dropped, {
      label: "binding: swapped images",
      log: scope.log,
      limit: opts.maxImages,
    })) {
      const plane = 3 * b.size * b.size;
      for (let i = 0; i < b.batch; i++) {
        const first = onFirstImage.get(b.keys[i]);
        const c = cases.get(b.keys[i]);
        if (!first || !c?.counterfactual) continue;
        const texts = [c.caption, c.counterfactual].map((t) => preCaption(t, data.format.maxWords));
        const second = scoreTexts(model, head, tokenizer, b.images.subarray(i * plane, (i + 1) * plane), b.size, texts);
        counts.pairs++;
        for (const kind of ["itc", "itm"] as const) {
          // s[caption][image]
          const s00 = first[kind][0];
          const s10 = first[kind][1];
          const s01 = second[kind][0];
          const s11 = second[kind][1];
          const text = s00 > s10 && s11 > s01;
          const image = s00 > s01 && s11 > s10;
          if (text) counts[kind].text++;
          if (image) counts[kind].image++;
          if (text && image) counts[kind].group++;
        }
        onFirstImage.delete(b.keys[i]);
      }
      if (onFirstImage.size === 0) break;
    }
  } finally {
    await pool.close();
  }
  if (counts.pairs === 0) return null;
  const pct = (k: { text: number; image: number; group: number }) => ({
    text: (100 * k.text) / counts.pairs,
    image: (100 * k.image) / counts.pairs,
    group: (100 * k.group) / counts.pairs,
  });
  return { pairs: counts.pairs, itc: pct(counts.itc), itm: pct(counts.itm) };
}

/** summary.md lines for the replacement negatives by kind (none when the samples carry none). */
export function replacedMarkdown(b: BindingScores): string[] {
  if (!b.replaced) return [];
  const f = (v: number) => v.toFixed(1);
  return [
    "Replacement negatives — the caption with one object's attribute wrong (does the model see that attribute at all?); chance 50 %:",
    "",
    "| attribute replaced | pairs | caption wins by ITC | by ITM |",
    "| --- | --- | --- | --- |",
    ...Object.entries(b.replaced).map(([k, r]) => `| ${k} | ${r.pairs} | ${f(r.itc)} % | ${f(r.itm)} % |`),
    "",
  ];
}
