/**
 * ALBEF's retrieval evaluation over a test gallery: every image of the test
 * shards with every one of its captions (`data.format.text`, e.g.
 * `json:captions`), ITC similarities over the whole gallery, then the ITM
 * re-ranking of each query's top k. Reports both rankings.
 */
import {
  type DataConfig,
  type DroppedSamples,
  DataError,
  evalBatches,
  expandShardSpec,
  galleryRetrievalMetrics,
  tokenKey,
  type GalleryRetrievalMetrics,
  type Logger,
  openPool,
  preCaption,
  ProgressBar,
  readShards,
  type RunScope,
  sampleCaptions,
  tf,
  type Tensor,
  type Tokenizer,
  type VisionLanguageModel,
  SINGLE_PROCESS,
  type World,
} from "../../../core/index.ts";
import { type EncodedGallery, itmRerank, type RerankScore, shareReranked } from "./itm-rerank.ts";

export interface GalleryEvaluation {
  /** ranked by ITC similarity alone */
  itc: GalleryRetrievalMetrics;
  /** each query's top k re-scored by the ITM head (ALBEF's reported numbers; with `rerankScore: itm+itc`, BLIP's) */
  itm: GalleryRetrievalMetrics;
  kTest: number;
  rerankScore: RerankScore;
  seconds: number;
}

export interface GalleryOptions {
  maxImages: number;
  kTest: number;
  batchSize: number;
  rerankScore: RerankScore;
  /** the processes of a data-parallel run that evaluate together (each re-ranks its share); default: this one alone */
  world?: World;
}

/** Captions of the first `max` test samples, by key, in shard order. */
async function galleryCaptions(data: DataConfig, max: number): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for await (const s of readShards(expandShardSpec(data.test as string), { onError: data.onError, maxMemberBytes: data.maxMemberBytes })) {
    if (out.size >= max) break;
    out.set(
      s.key,
      sampleCaptions(s.files, data.format, `${s.url}: sample ${s.key}`).map((c) => preCaption(c, data.format.maxWords)),
    );
  }
  return out;
}

function concatRows(parts: Tensor[]): Tensor {
  const all = tf.concat(parts, 0);
  tf.dispose(parts);
  return all;
}

export async function evaluateGallery(
  model: VisionLanguageModel,
  scope: RunScope,
  dropped: DroppedSamples,
  data: DataConfig,
  tokenizer: Tokenizer,
  opts: GalleryOptions,
  log: Logger,
): Promise<GalleryEvaluation> {
  if (!data.test) throw new DataError("retrieval evaluation needs data.test shards");
  const t0 = performance.now();
  const captions = await galleryCaptions(data, opts.maxImages);
  const head = model.requireEmbedding("retrieval evaluation");
  model.requireMatching("retrieval evaluation (ITM re-ranking)");
  model.eval();
  const imageEmbeds: Tensor[] = [];
  const imageFeats: Tensor[] = [];
  const keys: string[] = [];
  const pool = await openPool(scope, data, "test", Math.min(1, data.workers));
  try {
    for await (const b of evalBatches(data, data.test, pool, tokenizer.special.pad, opts.batchSize, dropped, {
      label: "retrieval: gallery images",
      log,
      limit: opts.maxImages,
    })) {
      const take = Math.min(b.batch, opts.maxImages - keys.length);
      if (take <= 0) break;
      const [emb, feat] = tf.tidy(() => {
        const images = tf.tensor4d(b.images.subarray(0, take * 3 * b.size * b.size), [take, 3, b.size, b.size]);
        const e = model.encodeImage(images);
        return [e, head.imageFeatures(e)];
      });
      imageEmbeds.push(emb);
      imageFeats.push(feat);
      keys.push(...b.keys.slice(0, take));
    }
  } finally {
    await pool.close();
  }
  const texts: string[] = [];
  const textImage: number[] = [];
  keys.forEach((k, i) => {
    const caps = captions.get(k);
    if (!caps) throw new DataError(`test sample ${k} has no captions (was it skipped when reading?)`);
    for (const c of caps) {
      texts.push(c);
      textImage.push(i);
    }
  });
  const textEmbeds: Tensor[] = [];
  const textMasks: Tensor[] = [];
  const textFeats: Tensor[] = [];
  // tokenised once, padded to one length for the whole gallery so that the text tensors concatenate
  const all = tokenizer.encode(texts, { padTo: "longest" });
  const length = all.length;
  for (let s = 0; s < texts.length; s += opts.batchSize) {
    const n = Math.min(opts.batchSize, texts.length - s);
    const [emb, mask, feat] = tf.tidy(() => {
      const ids = tf.tensor2d(all.ids.subarray(s * length, (s + n) * length), [n, length], "int32");
      const m = tf.tensor2d(all.mask.subarray(s * length, (s + n) * length), [n, length], "int32");
      const e = model.encodeText(ids, m);
      return [e, m, head.textFeatures(e, m)];
    });
    textEmbeds.push(emb);
    textMasks.push(mask);
    textFeats.push(feat);
  }
  const gallery: EncodedGallery = { imageEmbeds: concatRows(imageEmbeds), textEmbeds: concatRows(textEmbeds), textMask: concatRows(textMasks) };
  const imgF = concatRows(imageFeats);
  const txtF = concatRows(textFeats);
  const nI = keys.length;
  const nT = texts.length;
  try {
    const sim = tf.tidy(() => tf.matMul(imgF, txtF, false, true).dataSync() as Float32Array);
    const simT = new Float32Array(nT * nI);
    for (let i = 0; i < nI; i++) for (let t = 0; t < nT; t++) simT[t * nI + i] = sim[i * nT + t];
    const ids = Int32Array.from(textImage);
    // captions identical after tokenisation score identically: each is correct for every image it belongs to
    const textKeys = Array.from({ length: nT }, (_, t) =>
      tokenKey(all.ids.subarray(t * length, (t + 1) * length), all.mask.subarray(t * length, (t + 1) * length)),
    );
    const itc = galleryRetrievalMetrics(sim, simT, ids, nI, textKeys);
    log.info(`retrieval gallery: ${nI} images, ${nT} captions; ITM re-ranking of the top ${opts.kTest}`);
    let progress: ProgressBar | null = null;
    // in a data-parallel run each rank re-ranks its share of the queries; the scores are summed into the whole on every rank
    const world = opts.world ?? SINGLE_PROCESS;
    const reranked = await shareReranked(
      world,
      itmRerank(model, gallery, sim, {
        k: opts.kTest,
        batchSize: opts.batchSize,
        score: opts.rerankScore,
        share: { rank: world.rank, size: world.size },
        onProgress: (done, total) => {
          progress ??= new ProgressBar({ label: "re-ranking queries", total, log });
          progress.update(done);
        },
      }),
    );
    (progress as ProgressBar | null)?.stop();
    const itm = galleryRetrievalMetrics(reranked.i2t, reranked.t2i, ids, nI, textKeys);
    return { itc, itm, kTest: opts.kTest, rerankScore: opts.rerankScore, seconds: (performance.now() - t0) / 1000 };
  } finally {
    tf.dispose([gallery.imageEmbeds, gallery.textEmbeds, gallery.textMask, imgF, txtF]);
    model.train();
  }
}
