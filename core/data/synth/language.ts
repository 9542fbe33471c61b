/**
 * Text about scenes: captions that name several entities and a relation,
 * attribute-swapped "binding" captions as hard negatives, VQA questions with
 * answers, and NLVR2-style statements about a pair of scenes.
 */
import type { Rng } from "../../tensor/rng.ts";
import { COLOURS, relation, type Scene, type SceneObject, SHAPES, SIZES } from "./scene.ts";

const NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight"];

export const describeObject = (o: Pick<SceneObject, "size" | "colour" | "shape">, withSize = true): string =>
  `a ${withSize ? o.size + " " : ""}${o.colour} ${o.shape}`;

/** Several captions; the first names every object and one relation. */
export function captions(scene: Scene, rng: Rng): string[] {
  const objs = scene.objects;
  if (objs.length === 1) return [describeObject(objs[0]), `${describeObject(objs[0], false)} on a plain background`];
  const out: string[] = [];
  const order = rng.shuffle([...objs]);
  const [a, b, ...rest] = order;
  const tail = rest.length ? ` and ${rest.map((o) => describeObject(o)).join(" and ")}` : "";
  out.push(`${describeObject(a)} ${relation(a, b)} ${describeObject(b)}${tail}`);
  out.push(`${describeObject(b, false)} ${relation(b, a)} ${describeObject(a, false)}`);
  out.push(`${NUMBER_WORDS[objs.length]} shapes: ${objs.map((o) => describeObject(o, false)).join(" and ")}`);
  return out;
}

/** A binding negative and the scene it describes: the original with the two entities' colours (or shapes) swapped. */
export interface Counterfactual {
  caption: string;
  scene: Scene;
}

/**
 * The caption with two entities' colours (or shapes) swapped: the same words,
 * a wrong binding. Kept only when both swapped entities are absent from the
 * scene, so that every negative is false of it — and true of the swapped
 * scene (Winoground's second image).
 */
export function counterfactuals(scene: Scene, caption: string): Counterfactual[] {
  const out = new Map<string, Scene>();
  const objs = scene.objects;
  const exists = (colour: string, shape: string) => objs.some((o) => o.colour === colour && o.shape === shape);
  const swap = (i: number, j: number, na: Pick<SceneObject, "colour" | "shape">, nb: Pick<SceneObject, "colour" | "shape">) => {
    const [a, b] = [objs[i], objs[j]];
    const pa = `${a.colour} ${a.shape}`;
    const pb = `${b.colour} ${b.shape}`;
    const swapped = caption.replace(new RegExp(`\\b(${pa}|${pb})\\b`, "g"), (m) => (m === pa ? `${na.colour} ${na.shape}` : `${nb.colour} ${nb.shape}`));
    if (swapped === caption || out.has(swapped)) return;
    const objects = objs.map((o, k) => (k === i ? { ...o, ...na } : k === j ? { ...o, ...nb } : o));
    out.set(swapped, { ...scene, objects });
  };
  for (let i = 0; i < objs.length; i++) {
    for (let j = i + 1; j < objs.length; j++) {
      const a = objs[i];
      const b = objs[j];
      if (a.colour !== b.colour && !exists(b.colour, a.shape) && !exists(a.colour, b.shape)) {
        swap(i, j, { colour: b.colour, shape: a.shape }, { colour: a.colour, shape: b.shape });
      }
      if (a.shape !== b.shape && !exists(a.colour, b.shape) && !exists(b.colour, a.shape)) {
        swap(i, j, { colour: a.colour, shape: b.shape }, { colour: b.colour, shape: a.shape });
      }
    }
  }
  return [...out].map(([c, sc]) => ({ caption: c, scene: sc }));
}

/** The binding negatives of a caption (see `counterfactuals`). */
export function bindingNegatives(scene: Scene, caption: string): string[] {
  return counterfactuals(scene, caption).map((c) => c.caption);
}

/** What a replacement negative gets wrong: one object's colour, shape or size. */
export const REPLACED_ATTRIBUTES = ["colour", "shape", "size"] as const;
export type ReplacedAttribute = (typeof REPLACED_ATTRIBUTES)[number];

/** A replacement negative: the caption with one object's attribute replaced (see `replacements`). */
export interface Replacement {
  kind: ReplacedAttribute;
  caption: string;
  /** the new value is another object's in the scene: every word is true of something there, only the binding is wrong */
  inScene: boolean;
}

/**
 * The caption with one object's colour, shape or size replaced by a value that
 * makes it false of the scene — every other shape (colour) no object of that
 * colour (shape) has, and the other size: a negative that asks whether that one
 * attribute is seen (the "replace" negatives of ARO/CREPE, beside the swaps of
 * `counterfactuals`). An object is replaced where the caption names it with its
 * size ("a large red circle").
 */
export function replacements(scene: Scene, caption: string): Replacement[] {
  const out: Replacement[] = [];
  const objs = scene.objects;
  const exists = (colour: string, shape: string) => objs.some((o) => o.colour === colour && o.shape === shape);
  for (const o of objs) {
    const phrase = `${o.size} ${o.colour} ${o.shape}`;
    const at = new RegExp(`\\b${phrase}\\b`);
    if (!at.test(caption)) continue;
    const others = objs.filter((x) => x !== o);
    const put = (kind: ReplacedAttribute, size: string, colour: string, shape: string, inScene: boolean) =>
      out.push({ kind, caption: caption.replace(at, `${size} ${colour} ${shape}`), inScene });
    for (const shape of SHAPES)
      if (shape !== o.shape && !exists(o.colour, shape))
        put(
          "shape",
          o.size,
          o.colour,
          shape,
          others.some((x) => x.shape === shape),
        );
    for (const colour of Object.keys(COLOURS))
      if (colour !== o.colour && !exists(colour, o.shape))
        put(
          "colour",
          o.size,
          colour,
          o.shape,
          others.some((x) => x.colour === colour),
        );
    const size = SIZES.find((z) => z !== o.size) as string;
    put(
      "size",
      size,
      o.colour,
      o.shape,
      others.some((x) => x.size === size),
    );
  }
  return out;
}

export interface QuestionAnswer {
  question: string;
  answer: string;
}

export function questions(scene: Scene, rng: Rng): QuestionAnswer[] {
  const objs = scene.objects;
  const qa: QuestionAnswer[] = [{ question: "how many shapes are there", answer: NUMBER_WORDS[objs.length] }];
  const o = objs[rng.int(objs.length)];
  if (objs.filter((x) => x.shape === o.shape).length === 1) qa.push({ question: `what color is the ${o.shape}`, answer: o.colour });
  if (objs.filter((x) => x.colour === o.colour).length === 1) qa.push({ question: `what shape is ${o.colour}`, answer: o.shape });
  const shape = SHAPES[rng.int(SHAPES.length)];
  qa.push({ question: `is there a ${shape}`, answer: objs.some((x) => x.shape === shape) ? "yes" : "no" });
  if (objs.length >= 2) {
    const [a, b] = rng.shuffle([...objs]).slice(0, 2);
    if (objs.filter((x) => x.colour === b.colour && x.shape === b.shape).length === 1) {
      qa.push({ question: `what shape is ${relation(a, b)} the ${b.colour} ${b.shape}`, answer: a.shape });
    }
  }
  return qa;
}

export interface PairStatement {
  statement: string;
  label: boolean;
}

/** A statement about (left, right) scenes and whether it holds. */
export function pairStatement(left: Scene, right: Scene, rng: Rng): PairStatement {
  const has = (s: Scene, f: (o: SceneObject) => boolean) => s.objects.some(f);
  switch (rng.int(3)) {
    case 0: {
      const o = (rng.int(2) === 0 ? left : right).objects[0];
      return { statement: `the left image contains ${describeObject(o, false)}`, label: has(left, (x) => x.colour === o.colour && x.shape === o.shape) };
    }
    case 1: {
      const shape = [...left.objects, ...right.objects][rng.int(left.objects.length + right.objects.length)].shape;
      return { statement: `both images contain a ${shape}`, label: has(left, (x) => x.shape === shape) && has(right, (x) => x.shape === shape) };
    }
    default:
      return { statement: "there are more shapes in the left image than in the right image", label: left.objects.length > right.objects.length };
  }
}
