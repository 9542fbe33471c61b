/**
 * Multi-entity scenes for the built-in data set: 1–4 objects (or a chosen range), each a shape,
 * a colour and a size at a position, placed without overlap; pairwise
 * spatial relations follow from the positions.
 */
import type { Rng } from "../../tensor/rng.ts";

export const SHAPES = ["circle", "square", "triangle", "diamond"] as const;
export const COLOURS = {
  red: [220, 40, 40],
  green: [40, 170, 60],
  blue: [40, 80, 220],
  yellow: [235, 210, 40],
  purple: [150, 60, 190],
  orange: [245, 140, 30],
} as const satisfies Record<string, readonly [number, number, number]>;
export const SIZES = ["small", "large"] as const;

export type Shape = (typeof SHAPES)[number];
export type Colour = keyof typeof COLOURS;
export type Size = (typeof SIZES)[number];
export type Relation = "left of" | "right of" | "above" | "below";

export interface SceneObject {
  shape: Shape;
  colour: Colour;
  size: Size;
  /** centre and radius in pixels */
  cx: number;
  cy: number;
  r: number;
  /** [x0, y0, x1, y1], pixels, inclusive–exclusive */
  box: [number, number, number, number];
}

export interface Scene {
  size: number;
  background: [number, number, number];
  objects: SceneObject[];
}

const COLOUR_NAMES = Object.keys(COLOURS) as Colour[];

export function radiusOf(size: Size, canvas: number): number {
  return Math.max(2, Math.round(canvas * (size === "small" ? 0.09 : 0.16)));
}

/** Where `a` is relative to `b`, by the larger of the two offsets. */
export function relation(a: SceneObject, b: SceneObject): Relation {
  const dx = a.cx - b.cx;
  const dy = a.cy - b.cy;
  if (Math.abs(dx) >= Math.abs(dy)) return dx < 0 ? "left of" : "right of";
  return dy < 0 ? "above" : "below";
}

/** How many objects a scene holds: exactly this many, or uniformly from [min, max]. */
export type ObjectCount = number | readonly [number, number];

export const DEFAULT_OBJECTS: readonly [number, number] = [1, 4];

export function randomScene(rng: Rng, canvas: number, count: ObjectCount = DEFAULT_OBJECTS): Scene {
  const n = typeof count === "number" ? count : count[0] + rng.int(count[1] - count[0] + 1);
  const bg = 200 + rng.int(40);
  const background: [number, number, number] = [bg, bg - rng.int(20), bg - rng.int(20)];
  const objects: SceneObject[] = [];
  for (let i = 0; i < n; i++) {
    for (let attempt = 0; attempt < 60; attempt++) {
      const size = SIZES[rng.int(2)];
      const r = radiusOf(size, canvas);
      const cx = r + 1 + rng.int(Math.max(1, canvas - 2 * r - 2));
      const cy = r + 1 + rng.int(Math.max(1, canvas - 2 * r - 2));
      if (objects.some((o) => Math.hypot(o.cx - cx, o.cy - cy) < o.r + r + 3)) continue;
      // distinct (shape, colour) pairs, so that every object can be named unambiguously
      const shape = SHAPES[rng.int(SHAPES.length)];
      const colour = COLOUR_NAMES[rng.int(COLOUR_NAMES.length)];
      if (objects.some((o) => o.shape === shape && o.colour === colour)) continue;
      objects.push({ shape, colour, size, cx, cy, r, box: [cx - r, cy - r, cx + r + 1, cy + r + 1] });
      break;
    }
  }
  return { size: canvas, background, objects };
}
