/** Rasterising a scene into 8-bit RGB (background gradient and noise, flat-coloured shapes). */
import type { Rng } from "../../tensor/rng.ts";
import type { RgbImage } from "../image/rgb.ts";
import { COLOURS, type Scene, type SceneObject } from "./scene.ts";

function inside(o: SceneObject, x: number, y: number): boolean {
  const dx = x - o.cx;
  const dy = y - o.cy;
  switch (o.shape) {
    case "circle":
      return dx * dx + dy * dy <= o.r * o.r;
    case "square":
      return Math.abs(dx) <= o.r * 0.85 && Math.abs(dy) <= o.r * 0.85;
    case "diamond":
      return Math.abs(dx) + Math.abs(dy) <= o.r;
    case "triangle": {
      if (dy < -o.r || dy > o.r) return false;
      const half = (o.r * (dy + o.r)) / (2 * o.r);
      return Math.abs(dx) <= half;
    }
  }
}

export function renderScene(scene: Scene, rng: Rng): RgbImage {
  const s = scene.size;
  const data = new Uint8Array(s * s * 3);
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      const o = (y * s + x) * 3;
      const shade = (y / s) * 25;
      for (let c = 0; c < 3; c++) data[o + c] = Math.max(0, Math.min(255, Math.round(scene.background[c] - shade + (rng.uniform() - 0.5) * 10)));
      for (const obj of scene.objects) {
        if (!inside(obj, x, y)) continue;
        const col = COLOURS[obj.colour];
        for (let c = 0; c < 3; c++) data[o + c] = Math.max(0, Math.min(255, col[c] + Math.round((rng.uniform() - 0.5) * 12)));
      }
    }
  }
  return { data, width: s, height: s };
}
