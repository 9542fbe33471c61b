/**
 * ALBEF's box selection and metric for weakly-supervised grounding
 * (dataset/utils.py `grounding_eval`): the Grad-CAM map is resized to the
 * image with bicubic interpolation, every candidate box [x, y, w, h] scores
 * (sum of the map inside, integer-truncated coordinates) / √(w·h), the best
 * box is the prediction, correct when its IoU with the ground truth is ≥ 0.5
 * (inclusive-pixel convention).
 */
import { bicubicResize } from "../../../core/index.ts";

/** [x, y, w, h] in pixels of the original image */
export type Box = [number, number, number, number];

/** ALBEF's computeIoU: x2 = x + w − 1; an intersection counts only with a strictly positive extent. */
export function iouInclusive(a: Box, b: Box): number {
  const x1 = Math.max(a[0], b[0]);
  const y1 = Math.max(a[1], b[1]);
  const x2 = Math.min(a[0] + a[2] - 1, b[0] + b[2] - 1);
  const y2 = Math.min(a[1] + a[3] - 1, b[1] + b[3] - 1);
  const inter = x1 < x2 && y1 < y2 ? (x2 - x1 + 1) * (y2 - y1 + 1) : 0;
  return inter / (a[2] * a[3] + b[2] * b[3] - inter);
}

/** The grid×grid map resized to height×width (row-major). */
export function mapToImage(map: Float32Array, grid: number, width: number, height: number): Float32Array {
  return bicubicResize(map, grid, grid, height, width, 1);
}

/** Each box's score on a full-size map: Σ map[y..y+h, x..x+w] / √(w·h), coordinates truncated to integers. */
export function boxScores(full: Float32Array, width: number, height: number, boxes: readonly Box[]): number[] {
  return boxes.map(([bx, by, bw, bh]) => {
    const x0 = Math.max(0, Math.trunc(bx));
    const y0 = Math.max(0, Math.trunc(by));
    const x1 = Math.min(width, Math.trunc(bx) + Math.trunc(bw));
    const y1 = Math.min(height, Math.trunc(by) + Math.trunc(bh));
    let sum = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += full[y * width + x];
    return sum / Math.sqrt(bw * bh);
  });
}

export interface GroundingOutcome {
  /** index of the chosen candidate */
  chosen: number;
  iou: number;
  correct: boolean;
}

/**
 * Pick the best-scoring candidate for one expression. (ALBEF starts its
 * running maximum at 0, so a map that scores no box above 0 silently reuses the
 * previous sample's box; here the highest score always wins.)
 */
export function groundExpression(map: Float32Array, grid: number, width: number, height: number, candidates: readonly Box[], truth: Box): GroundingOutcome {
  if (candidates.length === 0) throw new Error("grounding: no candidate boxes");
  const scores = boxScores(mapToImage(map, grid, width, height), width, height, candidates);
  let chosen = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i] > scores[chosen]) chosen = i;
  const iou = iouInclusive(candidates[chosen], truth);
  return { chosen, iou, correct: iou >= 0.5 };
}
