/**
 * Referring expressions with boxes from a sample's JSON, in one of two forms:
 * - RefCOCO-style: `refs: [{expression, box: [x, y, w, h], split?}]`, `candidates:
 *   [[x, y, w, h], ...]` (e.g. detector boxes; default: the refs' boxes), and
 *   `width`/`height` (or `image_size`) of the original image;
 * - the built-in data set: `objects: [{size, colour, shape, box: [x0, y0, x1, y1]}]`
 *   and `image_size`; every object whose description ("a small red circle") is
 *   unique in a scene of two or more objects is a query, every object a candidate.
 */
import { DataError } from "../../../core/index.ts";
import type { Box } from "./boxes.ts";

export interface GroundingQuery {
  expression: string;
  box: Box;
  /** the ref's split (RefCOCO: val, testA, testB), when the ref names one */
  split?: string;
  candidates: Box[];
  width: number;
  height: number;
}

const isBox = (v: unknown): v is Box => Array.isArray(v) && v.length === 4 && v.every((x) => typeof x === "number" && Number.isFinite(x));

export function groundingQueries(meta: Record<string, unknown>, where: string): GroundingQuery[] {
  const size = typeof meta.image_size === "number" ? meta.image_size : undefined;
  const width = typeof meta.width === "number" ? meta.width : size;
  const height = typeof meta.height === "number" ? meta.height : size;
  if (!width || !height) throw new DataError(`${where}: the .json gives no image size (width/height or image_size)`);
  if (Array.isArray(meta.refs)) {
    const refs = meta.refs.map((r: { expression?: unknown; sentence?: unknown; box?: unknown; split?: unknown }, i) => {
      const expression = typeof r?.expression === "string" ? r.expression : typeof r?.sentence === "string" ? r.sentence : null;
      if (!expression || !isBox(r.box)) throw new DataError(`${where}: refs[${i}] needs an "expression" and a "box" [x, y, w, h]`);
      return { expression, box: r.box, ...(typeof r.split === "string" ? { split: r.split } : {}) };
    });
    const candidates = meta.candidates === undefined ? refs.map((r) => r.box) : meta.candidates;
    if (!Array.isArray(candidates) || !candidates.every(isBox)) throw new DataError(`${where}: "candidates" must be a list of [x, y, w, h] boxes`);
    return refs.map((r) => ({ ...r, candidates: candidates as Box[], width, height }));
  }
  if (Array.isArray(meta.objects)) {
    const objects = meta.objects as { size?: string; colour?: string; shape?: string; box?: unknown }[];
    if (objects.length < 2) return [];
    const describe = (o: (typeof objects)[number]) => `a ${o.size} ${o.colour} ${o.shape}`;
    const boxes = objects.map((o, i) => {
      const b = o.box;
      if (!isBox(b)) throw new DataError(`${where}: objects[${i}] has no box [x0, y0, x1, y1]`);
      return [b[0], b[1], b[2] - b[0], b[3] - b[1]] as Box;
    });
    const names = objects.map(describe);
    return objects.flatMap((_, i) =>
      names.filter((n) => n === names[i]).length === 1 ? [{ expression: names[i], box: boxes[i], candidates: boxes, width, height }] : [],
    );
  }
  throw new DataError(`${where}: the .json has neither "refs" nor "objects" to ground`);
}
