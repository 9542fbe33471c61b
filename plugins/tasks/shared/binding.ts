/**
 * Attribute binding: each test image's caption against its binding negatives
 * (two entities' colours or shapes swapped), by ITC similarity and ITM logit.
 */
import {
  type DataConfig,
  DataError,
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
}

interface BindingCase {
  caption: string;
  negatives: string[];
}

function bindingCase(meta: Record<string, unknown>, cfg: BindingOptions, where: string): BindingCase | null {
  const c = meta[cfg.captionField];
  const caption = typeof c === "string" ? c : Array.isArray(c) && typeof c[0] === "string" ? c[0] : null;
  const negatives = meta[cfg.negativesField];
  if (caption === null) throw new DataError(`${where}: .json has no caption "${cfg.captionField}"`);
  if (negatives === undefined) throw new DataError(`${where}: .json has no "${cfg.negativesField}" list`);
  if (!Array.isArray(negatives) || !negatives.every((n) => typeof n === "string"))
    throw new DataError(`${where}: "${cfg.negativesField}" is not a list of strings`);
  return negatives.length > 0 ? { caption, negatives } : null;
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
}

/** null when no test image has negatives. */
export async function measureBinding(
  model: VisionLanguageModel,
  scope: RunScope,
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
    const won = { itcPairs: 0, itmPairs: 0, itcImages: 0, itmImages: 0, pairs: 0, images: 0, chanceImages: 0 };
    const pool = await openPool(scope, data, "test", Math.min(1, data.workers));
    let seen = 0;
    try {
      for await (const b of evalBatches(data, data.test as string, pool, tokenizer.special.pad, opts.batchSize)) {
        const plane = 3 * b.size * b.size;
        for (let i = 0; i < b.batch && seen < opts.maxImages; i++, seen++) {
          const c = cases.get(b.keys[i]);
          if (!c) continue;
          const texts = [c.caption, ...c.negatives].map((t) => preCaption(t, data.format.maxWords));
          const enc = tokenizer.encode(texts);
          const [itc, itm] = tf.tidy(() => {
            const image = model.encodeImage(tf.tensor4d(b.images.subarray(i * plane, (i + 1) * plane), [1, 3, b.size, b.size]));
            const ids = tf.tensor2d(enc.ids, [enc.batch, enc.length], "int32");
            const mask = tf.tensor2d(enc.mask, [enc.batch, enc.length], "int32");
            const text = model.encodeText(ids, mask);
            const sim = tf.sum(tf.mul(head.textFeatures(text, mask), head.imageFeatures(image)), -1);
            const images = tf.tile(image, [enc.batch, 1, 1]);
            const logit = tf.squeeze(tf.slice(model.matchLogits(text, mask, images), [0, 1], [-1, 1]), [1]);
            return [sim.dataSync(), logit.dataSync()];
          });
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
    return {
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
