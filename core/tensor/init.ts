/**
 * Parameter initialisers. Values are drawn in JS from a seeded `Rng`, so a
 * model initialises identically on every backend.
 */
import type { Rng } from "./rng.ts";

export type Initializer = (shape: readonly number[], rng: Rng) => Float32Array;

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export const zeros: Initializer = (shape) => new Float32Array(size(shape));

export const ones: Initializer = (shape) => new Float32Array(size(shape)).fill(1);

export function constant(value: number): Initializer {
  return (shape) => new Float32Array(size(shape)).fill(value);
}

export function normal(std: number, mean = 0): Initializer {
  return (shape, rng) => {
    const out = new Float32Array(size(shape));
    for (let i = 0; i < out.length; i++) out[i] = mean + std * rng.normal();
    return out;
  };
}

/**
 * Normal(mean, std) truncated to [a, b] by resampling, as timm's
 * `trunc_normal_` (whose bounds are absolute values, default ±2).
 */
export function truncatedNormal(std: number, mean = 0, a = -2, b = 2): Initializer {
  if (!(a < b)) throw new RangeError(`truncatedNormal needs a < b, got [${a}, ${b}]`);
  return (shape, rng) => {
    const out = new Float32Array(size(shape));
    for (let i = 0; i < out.length; i++) {
      let v: number;
      let tries = 0;
      do {
        v = mean + std * rng.normal();
        if (++tries > 1000) {
          v = Math.min(b, Math.max(a, v));
          break;
        }
      } while (v < a || v > b);
      out[i] = v;
    }
    return out;
  };
}

/** PyTorch's default `nn.Linear` init: U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for weight and bias. */
export function uniformFanIn(fanIn: number): Initializer {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return (shape, rng) => {
    const out = new Float32Array(size(shape));
    for (let i = 0; i < out.length; i++) out[i] = (rng.uniform() * 2 - 1) * bound;
    return out;
  };
}
