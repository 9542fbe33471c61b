/**
 * Writing the built-in data set: image–text shards (train/val/test) whose
 * samples carry an image, a caption, and JSON with every object's box, more
 * captions, binding hard negatives and VQA pairs; NLVR2-style pair shards;
 * and a WordPiece vocabulary covering every word used. Everything is derived
 * from one seed, so the same options give the same bytes.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { Rng } from "../../tensor/rng.ts";
import { writeFileAtomic } from "../../util/atomic-file.ts";
import { preCaption } from "../text/clean.ts";
import { ShardWriter } from "../webdataset/writer.ts";
import { captions, counterfactuals, pairStatement, questions, REPLACED_ATTRIBUTES, replacements } from "./language.ts";
import { renderScene } from "./render.ts";
import { DEFAULT_OBJECTS, randomScene, type Scene } from "./scene.ts";

export interface SynthOptions {
  out: string;
  seed?: number;
  /** image side in pixels */
  imageSize?: number;
  train?: number;
  val?: number;
  test?: number;
  /** NLVR2-style pairs per split (train, test) */
  pairs?: number;
  /** objects per scene, [min, max] (default 1–4) */
  objects?: readonly [number, number];
  samplesPerShard?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface SynthSummary {
  out: string;
  splits: Record<string, { shards: string[]; samples: number }>;
  vocab: string;
  vocabSize: number;
}

/** 2: test samples carry `swap.jpg`, the scene their first binding negative describes; 3: `caption_negatives`, each caption's own binding negatives; `replacements` (one object's colour, shape or size wrong) and `hard_negatives` (the swaps and the replacements true word by word of the scene) */
export const SYNTH_VERSION = 3;

export const SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] as const;

async function jpeg(scene: Scene, rng: Rng): Promise<Uint8Array> {
  const img = renderScene(scene, rng);
  const buf = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

function objectsOf(scene: Scene) {
  return scene.objects.map(({ shape, colour, size, box }) => ({ shape, colour, size, box }));
}

export async function buildSynthDataset(opts: SynthOptions): Promise<SynthSummary> {
  const seed = opts.seed ?? 0;
  const size = opts.imageSize ?? 64;
  const objects = opts.objects ?? DEFAULT_OBJECTS;
  const perShard = opts.samplesPerShard ?? 500;
  const counts: Record<string, number> = { train: opts.train ?? 2000, val: opts.val ?? 200, test: opts.test ?? 500 };
  const pairs = opts.pairs ?? 200;
  mkdirSync(opts.out, { recursive: true });
  const words = new Set<string>();
  const addWords = (...texts: string[]) =>
    texts.forEach((t) =>
      preCaption(t, 1000)
        .split(" ")
        .forEach((w) => w && words.add(w)),
    );
  const summary: SynthSummary = { out: opts.out, splits: {}, vocab: join(opts.out, "vocab.txt"), vocabSize: 0 };
  const total = counts.train + counts.val + counts.test + 2 * pairs;
  let done = 0;

  for (const [split, n] of Object.entries(counts)) {
    const writer = new ShardWriter({ pattern: join(opts.out, `${split}-%06d.tar`), maxcount: perShard });
    for (let i = 0; i < n; i++) {
      const rng = Rng.derive(seed, `${split}:${i}`);
      const scene = randomScene(rng, size, objects);
      const caps = captions(scene, rng);
      const swaps = counterfactuals(scene, caps[0]);
      const negatives = swaps.map((c) => c.caption);
      // each caption's own binding negatives (the first's are `negatives`): a text negative in the caption's own words
      const captionNegatives = caps.map((c, k) => (k === 0 ? negatives : counterfactuals(scene, c).map((x) => x.caption)));
      // the first caption with one object's colour, shape or size wrong, by kind (what the binding task probes);
      // hard negatives for training: the swaps and the replacements whose every word is true of something in the scene
      const replaced = replacements(scene, caps[0]);
      const byKind = Object.fromEntries(REPLACED_ATTRIBUTES.map((k) => [k, replaced.filter((r) => r.kind === k).map((r) => r.caption)]));
      const hardNegatives = [...negatives, ...replaced.filter((r) => r.inScene).map((r) => r.caption)];
      const qa = questions(scene, rng);
      addWords(...caps, ...hardNegatives, ...replaced.map((r) => r.caption), ...qa.flatMap((q) => [q.question, q.answer]));
      const files: Record<string, Uint8Array | string> = { jpg: await jpeg(scene, rng), txt: caps[0] };
      // the test split's Winoground pairs: the scene the first negative describes, rendered with its own noise
      const counterfactual = split === "test" && swaps.length > 0 ? swaps[0] : null;
      if (counterfactual) files["swap.jpg"] = await jpeg(counterfactual.scene, Rng.derive(seed, `${split}:${i}:swap`));
      const meta = {
        image_size: size,
        objects: objectsOf(scene),
        captions: caps,
        negatives,
        caption_negatives: captionNegatives,
        replacements: byKind,
        hard_negatives: hardNegatives,
        vqa: qa,
        ...(counterfactual ? { counterfactual: { caption: counterfactual.caption, objects: objectsOf(counterfactual.scene) } } : {}),
      };
      files.json = JSON.stringify(meta);
      await writer.write({ key: `${split}${String(i).padStart(6, "0")}`, files });
      opts.onProgress?.(++done, total);
    }
    const shards = await writer.close();
    summary.splits[split] = { shards: shards.map((s) => s.file), samples: n };
  }

  for (const split of ["train", "test"]) {
    const writer = new ShardWriter({ pattern: join(opts.out, `nlvr-${split}-%06d.tar`), maxcount: perShard });
    for (let i = 0; i < pairs; i++) {
      const rng = Rng.derive(seed, `nlvr-${split}:${i}`);
      const left = randomScene(rng, size, objects);
      const right = randomScene(rng, size, objects);
      const st = pairStatement(left, right, rng);
      addWords(st.statement);
      await writer.write({
        key: `nlvr${split}${String(i).padStart(6, "0")}`,
        files: {
          "img0.jpg": await jpeg(left, rng),
          "img1.jpg": await jpeg(right, rng),
          json: JSON.stringify({ statement: st.statement, label: st.label, left: objectsOf(left), right: objectsOf(right) }),
        },
      });
      opts.onProgress?.(++done, total);
    }
    const shards = await writer.close();
    summary.splits[`nlvr-${split}`] = { shards: shards.map((s) => s.file), samples: pairs };
  }

  const vocab = [...SPECIAL_TOKENS, ...[...words].sort()];
  writeFileAtomic(summary.vocab, vocab.join("\n") + "\n");
  summary.vocabSize = vocab.length;
  writeFileSync(
    join(opts.out, "meta.json"),
    JSON.stringify(
      {
        generator: "polyalign synth",
        version: SYNTH_VERSION,
        seed,
        imageSize: size,
        objects,
        samplesPerShard: perShard,
        splits: Object.fromEntries(Object.entries(summary.splits).map(([k, v]) => [k, v.samples])),
        vocabSize: vocab.length,
      },
      null,
      2,
    ) + "\n",
  );
  return summary;
}

/** The options a built set's meta.json records. */
export interface SynthMeta {
  version?: number;
  seed: number;
  imageSize: number;
  objects?: readonly [number, number];
  splits: Record<string, number>;
}

/** Whether the set in a folder (its meta.json) was built with these options, so need not be rebuilt. */
export function synthMetaMatches(
  meta: SynthMeta,
  opts: Required<Pick<SynthOptions, "seed" | "imageSize" | "train" | "val" | "test" | "pairs" | "objects">>,
): boolean {
  const [lo, hi] = meta.objects ?? DEFAULT_OBJECTS;
  return (
    meta.version === SYNTH_VERSION &&
    meta.seed === opts.seed &&
    meta.imageSize === opts.imageSize &&
    lo === opts.objects[0] &&
    hi === opts.objects[1] &&
    meta.splits.train === opts.train &&
    meta.splits.val === opts.val &&
    meta.splits.test === opts.test &&
    (meta.splits["nlvr-train"] ?? 0) === opts.pairs
  );
}
