/** How a shard sample's members become an image (or images), a text, a label or a question with its answers (`data.format`). */
import { z } from "zod";

export const SampleFormat = z.strictObject({
  /** image members tried in order */
  imageExts: z.array(z.string().min(1)).min(1).default(["jpg", "jpeg", "png", "webp"]),
  /** `txt`, or `json:FIELD` (a string, or a list of which one is drawn at random) */
  text: z.string().min(1).default("txt"),
  /** ALBEF's pre_caption word limit */
  maxWords: z.number().int().positive().default(30),
  /**
   * Samples with several images (NLVR2: `[img0.jpg, img1.jpg]`): these members,
   * each transformed on its own, in this order; a name without an extension
   * (`img0`) takes the first of `imageExts` the sample has; null = one image found by `imageExts`
   */
  imageMembers: z.array(z.string().min(1)).min(1).nullable().default(null),
  /** a class label: `json:FIELD` holding an integer, a boolean or "True"/"False" (NLVR2); null = none */
  label: z
    .string()
    .regex(/^json:.+/, 'a label source is "json:FIELD"')
    .nullable()
    .default(null),
  /**
   * question answering: `json:FIELD` holding a list of `{question, answer}` or
   * `{question, answers: [...]}` (VQA: ten human answers), with an optional
   * `weight` scaling its answers' (ALBEF's Visual Genome answers: 0.5); one item is drawn per
   * pass, its question becomes the text; null = none
   */
  qa: z
    .string()
    .regex(/^json:.+/, 'a question-answer source is "json:FIELD"')
    .nullable()
    .default(null),
  /**
   * text negatives: `json:FIELD` holding a list of texts false of the image (the
   * built-in set's binding negatives of its first caption, `negatives`), or one such
   * list per caption (`caption_negatives`: each caption's own, so that a negative differs
   * from the drawn caption only in what it gets wrong); one is drawn per pass and becomes
   * the sample's text negative (an empty list: none); null = none
   */
  negatives: z
    .string()
    .regex(/^json:.+/, 'a negatives source is "json:FIELD"')
    .nullable()
    .default(null),
  /**
   * where each caption word's image region is: `json:FIELD` holding the sample's
   * objects, each a `box` [x0, y0, x1, y1] in source pixels with its attribute
   * words as string fields (the built-in set: `json:objects`); a phrase of
   * attribute words grounds in the one object it fits (token-regions.ts); for
   * objectives that ground words (`regions`); null = none
   */
  regions: z
    .string()
    .regex(/^json:.+/, 'a regions source is "json:FIELD"')
    .nullable()
    .default(null),
});
export type SampleFormat = z.output<typeof SampleFormat>;
