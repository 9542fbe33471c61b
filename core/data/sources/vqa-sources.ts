/**
 * VQA data as ALBEF trains on it, one sample per question:
 * - VQA v2's official files: questions (`{questions: [{question_id, image_id,
 *   question}], data_subtype}`) and, except for test(-dev), annotations
 *   (`{annotations: [{question_id, answers: [{answer}]}]}`: ten human answers,
 *   each weighing its share); images at `<subtype>/COCO_<subtype>_<12-digit id>.jpg`;
 * - Visual Genome QA as ALBEF's `vg_qa.json` (`[{question, answer, image,
 *   dataset: "vg"}]`), whose one answer weighs 0.5 (ALBEF's vqa_dataset.py).
 * The sample's JSON: `{question_id, image_id, dataset ("vqa-v2" or "vg"), vqa: [{question,
 * answers, weight}]}` (`data.format.qa: json:vqa`).
 */
import { resolve } from "node:path";
import { readJsonFile, SourceFormatError } from "./image-text-sources.ts";
import type { SampleRecord } from "./sample-record.ts";

/** ALBEF's weight of a Visual Genome answer (one answer, not ten votes). */
export const VG_ANSWER_WEIGHT = 0.5;

export function cocoImageFile(subtype: string, imageId: number): string {
  return `${subtype}/COCO_${subtype}_${String(imageId).padStart(12, "0")}.jpg`;
}

export function readVqaV2(questionsFile: string, annotationsFile: string | undefined, imagesRoot: string): SampleRecord[] {
  const q = readJsonFile(questionsFile) as { questions?: unknown; data_subtype?: unknown };
  if (!Array.isArray(q?.questions)) throw new SourceFormatError(`${questionsFile}: not a VQA questions file (needs a "questions" list)`);
  if (typeof q.data_subtype !== "string")
    throw new SourceFormatError(`${questionsFile}: no "data_subtype" (train2014, val2014, test2015) to find the images by`);
  const subtype = q.data_subtype;
  const answers = new Map<number, string[]>();
  if (annotationsFile) {
    const a = readJsonFile(annotationsFile) as { annotations?: unknown };
    if (!Array.isArray(a?.annotations)) throw new SourceFormatError(`${annotationsFile}: not a VQA annotations file (needs an "annotations" list)`);
    a.annotations.forEach((ann: { question_id?: unknown; answers?: unknown }, i: number) => {
      const list = ann?.answers;
      if (
        typeof ann?.question_id !== "number" ||
        !Array.isArray(list) ||
        list.length === 0 ||
        !list.every((x: { answer?: unknown }) => typeof x?.answer === "string")
      )
        throw new SourceFormatError(`${annotationsFile}: annotations[${i}] needs a "question_id" and an "answers" list of {answer}`);
      answers.set(
        ann.question_id,
        list.map((x: { answer: string }) => x.answer),
      );
    });
  }
  return q.questions.map((item: { question_id?: unknown; image_id?: unknown; question?: unknown }, i: number) => {
    const where = `${questionsFile}: questions[${i}]`;
    if (typeof item?.question_id !== "number" || typeof item.image_id !== "number" || typeof item.question !== "string")
      throw new SourceFormatError(`${where} needs "question_id", "image_id" and "question"`);
    const given = answers.get(item.question_id);
    if (annotationsFile && !given) throw new SourceFormatError(`${where}: question ${item.question_id} has no annotation in ${annotationsFile}`);
    const file = cocoImageFile(subtype, item.image_id);
    return {
      key: `vqa_${item.question_id}`,
      images: [{ member: "", path: resolve(imagesRoot, file) }],
      json: {
        question_id: item.question_id,
        image_id: item.image_id,
        dataset: "vqa-v2",
        file,
        vqa: [{ question: item.question, answers: given ?? [], weight: 1 }],
      },
      where,
    };
  });
}

/** ALBEF's `vg_qa.json` (or any list of `{question, answer, image}`): each answer weighs 0.5. */
export function readVgQa(file: string, imagesRoot: string): SampleRecord[] {
  const data = readJsonFile(file);
  if (!Array.isArray(data)) throw new SourceFormatError(`${file}: expected a JSON list of {question, answer, image}`);
  return data.map((e: { question?: unknown; answer?: unknown; image?: unknown; question_id?: unknown }, i) => {
    const where = `${file}: entry ${i}`;
    const answer = Array.isArray(e?.answer) && e.answer.length === 1 ? e.answer[0] : e?.answer;
    if (typeof e?.question !== "string" || typeof answer !== "string" || typeof e.image !== "string")
      throw new SourceFormatError(`${where} needs "question", one "answer" and "image"`);
    return {
      key: `vg_${typeof e.question_id === "number" || typeof e.question_id === "string" ? e.question_id : i}`,
      images: [{ member: "", path: resolve(imagesRoot, e.image) }],
      json: { question_id: e.question_id ?? null, dataset: "vg", file: e.image, vqa: [{ question: e.question, answers: [answer], weight: VG_ANSWER_WEIGHT }] },
      where,
    };
  });
}
