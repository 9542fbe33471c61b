/** Zero-shot image–text retrieval after pre-training: each held-out image with its one caption, ranked by the embedding head's similarities. */
import { type ImageTextBatch, retrievalMetrics, type RetrievalMetrics, tf, tokenKey, type VisionLanguageModel } from "../../../core/index.ts";

export async function zeroShotRetrieval(model: VisionLanguageModel, batches: AsyncIterable<ImageTextBatch>, max: number): Promise<RetrievalMetrics> {
  const imageFeats: Float32Array[] = [];
  const textFeats: Float32Array[] = [];
  const textKeys: string[] = [];
  let n = 0;
  const head = model.requireEmbedding("zero-shot retrieval");
  model.eval();
  for await (const b of batches) {
    if (n >= max) break;
    const take = Math.min(b.batch, max - n);
    for (let r = 0; r < take; r++) textKeys.push(tokenKey(b.ids.subarray(r * b.length, (r + 1) * b.length), b.mask.subarray(r * b.length, (r + 1) * b.length)));
    tf.tidy(() => {
      const images = tf.tensor4d(b.images.subarray(0, take * 3 * b.size * b.size), [take, 3, b.size, b.size]);
      const ids = tf.tensor2d(b.ids.subarray(0, take * b.length), [take, b.length], "int32");
      const mask = tf.tensor2d(b.mask.subarray(0, take * b.length), [take, b.length], "int32");
      imageFeats.push(Float32Array.from(head.imageFeatures(model.encodeImage(images)).dataSync()));
      textFeats.push(Float32Array.from(head.textFeatures(model.encodeText(ids, mask), mask).dataSync()));
    });
    n += take;
  }
  model.train();
  const dim = head.dim;
  const sim = tf.tidy(() => {
    const img = tf.tensor2d(concat(imageFeats), [n, dim]);
    const txt = tf.tensor2d(concat(textFeats), [n, dim]);
    return tf.matMul(img, txt, false, true).dataSync() as Float32Array;
  });
  return retrievalMetrics(sim, n, textKeys);
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
