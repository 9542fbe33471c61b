/**
 * A trained model for use: embeddings, image–text scores, Grad-CAM maps and
 * zero-shot classification, with images as paths, bytes or pixels. The
 * numbers are the tasks' own: the evaluation transform, preCaption and the
 * tokenizer as the retrieval and grounding tasks apply them, ITC features from
 * the embedding head, ITM from the matching head, Grad-CAM from the grounding
 * task's code. Tensors are made and freed per batch inside each call.
 */
import {
  type EmbeddingHead,
  type ImageTransformConfig,
  PolyalignError,
  preCaption,
  type RunConfig,
  tf,
  type Tensor,
  type Tokenizer,
  type VisionLanguageModel,
} from "../../core/index.ts";
import { gradCamMap, gradCamRowMaps, itcAttentionGradients, itmAttentionGradients } from "../tasks/grounding/grad-cam.ts";
import { describeImage, type ImageInput, modelPixels } from "./image-input.ts";

/** `count` unit vectors of `dim`, row-major. */
export interface Embeddings {
  count: number;
  dim: number;
  data: Float32Array;
}

/** row `i` of an Embeddings (a view) */
export function embeddingRow(e: Embeddings, i: number): Float32Array {
  return e.data.subarray(i * e.dim, (i + 1) * e.dim);
}

export interface TextScore {
  text: string;
  /** ITC: the cosine of the image's and the text's features */
  similarity: number;
  /** ITC's logit, cosine / τ */
  itcLogit: number;
  /** ITM: the matching head's probability that the text describes the image */
  itmProbability: number;
  /** ITM's logits [no match, match] */
  itmLogits: [number, number];
}

export interface GradCamOptions {
  /** `itm` (default): the ITM logit on a fusion layer's text → image attention; `itc`: the ITC similarity on a ViT block's self-attention */
  mode?: "itm" | "itc";
  /** 0-based fusion layer (itm; default the 3rd, or the last of a shallower fusion) or ViT block (itc; default the last) */
  layer?: number;
}

export interface WordMap {
  /** the word piece as the tokenizer decodes it */
  token: string;
  /** its position in the token sequence (0 is [CLS]) */
  position: number;
  /** grid × grid, row-major */
  map: Float32Array;
}

export interface GradCamResult {
  mode: "itm" | "itc";
  layer: number;
  /** the patch grid's side */
  grid: number;
  /** the whole text's map (grid × grid, row-major): what the grounding task scores boxes with */
  whole: Float32Array;
  /** one map per word piece (ITM mode; ITC's similarity has no per-word attention) */
  words: WordMap[];
  /** the caption as the model saw it (after preCaption) */
  text: string;
}

export interface ZeroShotOptions {
  /** prompts with `{}` for the label, averaged per label (CLIP's prompt ensembling); default `["{}"]` */
  templates?: readonly string[];
}

export interface LabelScore {
  label: string;
  /** softmax over the labels of the ITC logits */
  probability: number;
  similarity: number;
}

export interface LoadedFrom {
  /** e.g. `run runs/demo` */
  description: string;
  /** the weights file read */
  file: string;
}

export class PolyalignModel {
  private disposed = false;
  private readonly head: EmbeddingHead;

  constructor(
    readonly model: VisionLanguageModel,
    readonly tokenizer: Tokenizer,
    readonly config: RunConfig,
    readonly transform: ImageTransformConfig,
    readonly source: LoadedFrom,
    /** images or texts per forward pass */
    readonly batchSize = 16,
  ) {
    this.head = model.requireEmbedding("the inference API");
    model.eval();
  }

  /** the ITC features' dimension */
  get dim(): number {
    return this.head.dim;
  }

  /** the caption as the tasks clean it (lower case, punctuation dropped, at most data.format.maxWords words) */
  caption(text: string): string {
    return preCaption(text, this.config.data?.format.maxWords);
  }

  /** Unit ITC features of the images (the embedding head on the vision encoder's output). */
  async embedImages(images: readonly ImageInput[]): Promise<Embeddings> {
    this.alive();
    const dim = this.head.dim;
    const data = new Float32Array(images.length * dim);
    for (let s = 0; s < images.length; s += this.batchSize) {
      const chunk = images.slice(s, s + this.batchSize);
      const pixels = await this.pixels(chunk, s);
      try {
        data.set(
          tf.tidy(() => this.head.imageFeatures(this.model.encodeImage(pixels)).dataSync() as Float32Array),
          s * dim,
        );
      } finally {
        pixels.dispose();
      }
    }
    return { count: images.length, dim, data };
  }

  /** Unit ITC features of the texts (after preCaption). */
  embedTexts(texts: readonly string[]): Embeddings {
    this.alive();
    const dim = this.head.dim;
    const data = new Float32Array(texts.length * dim);
    for (let s = 0; s < texts.length; s += this.batchSize) {
      const feats = tf.tidy(() => {
        const { ids, mask } = this.tokens(texts.slice(s, s + this.batchSize));
        return this.head.textFeatures(this.model.encodeText(ids, mask), mask).dataSync() as Float32Array;
      });
      data.set(feats, s * dim);
    }
    return { count: texts.length, dim, data };
  }

  /** Each text against one image: ITC similarity and logit, ITM probability and logits. */
  async score(image: ImageInput, texts: readonly string[]): Promise<TextScore[]> {
    this.alive();
    if (texts.length === 0) return [];
    const model = this.model;
    model.requireMatching("score (ITM)");
    const pixels = await this.pixels([image], 0);
    let imageEmbeds: Tensor;
    try {
      imageEmbeds = tf.tidy(() => model.encodeImage(pixels));
    } finally {
      pixels.dispose();
    }
    const imageFeat = tf.tidy(() => this.head.imageFeatures(imageEmbeds));
    try {
      const out: TextScore[] = [];
      for (let s = 0; s < texts.length; s += this.batchSize) {
        const chunk = texts.slice(s, s + this.batchSize);
        // the token tensors are made inside the tidy, which frees them with the rest
        const [sims, logits, itm] = tf.tidy(() => {
          const { ids, mask } = this.tokens(chunk);
          const textEmbeds = model.encodeText(ids, mask);
          const cos = tf.matMul(imageFeat, this.head.textFeatures(textEmbeds, mask), false, true);
          const repeated = tf.tile(imageEmbeds, [chunk.length, 1, 1]);
          const z = model.matchLogits(textEmbeds, mask, repeated);
          return [cos.dataSync() as Float32Array, this.head.scaleSimilarity(cos).dataSync() as Float32Array, z.dataSync() as Float32Array];
        });
        chunk.forEach((text, i) => {
          const z0 = itm[2 * i];
          const z1 = itm[2 * i + 1];
          out.push({ text, similarity: sims[i], itcLogit: logits[i], itmProbability: 1 / (1 + Math.exp(z0 - z1)), itmLogits: [z0, z1] });
        });
      }
      return out;
    } finally {
      tf.dispose([imageFeat, imageEmbeds]);
    }
  }

  /** Where the text looks in the image: the whole text's Grad-CAM map and, in ITM mode, one per word piece. */
  async gradcam(image: ImageInput, text: string, opts: GradCamOptions = {}): Promise<GradCamResult> {
    this.alive();
    const mode = opts.mode ?? "itm";
    const itc = mode === "itc";
    const depth = (itc ? this.model.visual_encoder.depth : this.model.fusion.depth) ?? 1;
    const layer = opts.layer ?? (itc ? depth - 1 : Math.min(2, depth - 1));
    if (!Number.isInteger(layer) || layer < 0 || layer >= depth) {
      throw new PolyalignError(
        `gradcam: layer ${layer} does not exist: the ${itc ? "vision encoder" : "fusion"} has ${depth} layer${depth === 1 ? "" : "s"} (0..${depth - 1})`,
      );
    }
    const caption = this.caption(text);
    // encoded as the grounding task encodes its expressions (the ITM map's mean counts padding rows, as ALBEF's)
    const enc = this.tokenizer.encode([caption]);
    const pixels = await this.pixels([image], 0);
    const ids = tf.tensor2d(enc.ids, [1, enc.length], "int32");
    const mask = tf.tensor2d(enc.mask, [1, enc.length], "int32");
    try {
      const att = (itc ? itcAttentionGradients : itmAttentionGradients)(this.model, pixels, ids, mask, layer);
      try {
        const whole = itc ? gradCamMap(att) : gradCamMap(att, mask);
        const words: WordMap[] = [];
        if (!itc) {
          const rows = gradCamRowMaps(att, mask);
          const cells = rows.grid * rows.grid;
          const { cls, sep, pad, unk } = this.tokenizer.special;
          for (let p = 0; p < enc.length; p++) {
            const id = enc.ids[p];
            if (enc.mask[p] === 0 || id === cls || id === sep || id === pad) continue;
            const token = id === unk ? "[UNK]" : this.tokenizer.decode([id]);
            words.push({ token, position: p, map: rows.maps.slice(p * cells, (p + 1) * cells) });
          }
        }
        return { mode, layer, grid: whole.grid, whole: whole.maps, words, text: caption };
      } finally {
        tf.dispose([att.probs, att.grads]);
      }
    } finally {
      tf.dispose([pixels, ids, mask]);
    }
  }

  /** Each image's labels ranked by ITC: the label's text features (averaged over the templates) against the image's. */
  async zeroShot(images: readonly ImageInput[], labels: readonly string[], opts: ZeroShotOptions = {}): Promise<LabelScore[][]> {
    this.alive();
    if (labels.length === 0) throw new PolyalignError("zeroShot: no labels given");
    const templates = opts.templates ?? ["{}"];
    if (templates.length === 0 || templates.some((t) => !t.includes("{}")))
      throw new PolyalignError('zeroShot: every template needs "{}" where the label goes');
    if (images.length === 0) return [];
    const prompts = labels.flatMap((label) => templates.map((t) => t.replaceAll("{}", label)));
    const text = this.embedTexts(prompts);
    const imageFeats = await this.embedImages(images);
    const dim = text.dim;
    const [sims, logits] = tf.tidy(() => {
      // mean over a label's templates, back to unit length
      const perLabel = tf.mean(tf.reshape(tf.tensor2d(text.data, [prompts.length, dim]), [labels.length, templates.length, dim]), 1);
      const unit = tf.div(perLabel, tf.norm(perLabel, 2, 1, true));
      const cos = tf.matMul(tf.tensor2d(imageFeats.data, [images.length, dim]), unit, false, true);
      return [cos.dataSync() as Float32Array, tf.softmax(this.head.scaleSimilarity(cos)).dataSync() as Float32Array];
    });
    return images.map((_, i) =>
      labels
        .map((label, j) => ({ label, probability: logits[i * labels.length + j], similarity: sims[i * labels.length + j] }))
        .sort((a, b) => b.probability - a.probability),
    );
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
  }

  private alive(): void {
    if (this.disposed) throw new PolyalignError("this PolyalignModel was disposed");
  }

  private async pixels(images: readonly ImageInput[], offset: number): Promise<Tensor> {
    const size = this.transform.size;
    const plane = 3 * size * size;
    const all = new Float32Array(images.length * plane);
    for (let i = 0; i < images.length; i++) all.set(await modelPixels(images[i], this.transform, describeImage(images[i], offset + i)), i * plane);
    return tf.tensor4d(all, [images.length, 3, size, size]);
  }

  private tokens(texts: readonly string[]): { ids: Tensor; mask: Tensor } {
    const enc = this.tokenizer.encode(
      texts.map((t) => this.caption(t)),
      { padTo: "longest" },
    );
    return { ids: tf.tensor2d(enc.ids, [enc.batch, enc.length], "int32"), mask: tf.tensor2d(enc.mask, [enc.batch, enc.length], "int32") };
  }
}
