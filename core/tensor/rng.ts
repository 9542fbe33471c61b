/**
 * Seeded random numbers (xoshiro128**), with a state that can be saved in a
 * checkpoint and restored, so that a resumed run draws the same numbers.
 */
export type RngState = [number, number, number, number];

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class Rng {
  private s: Uint32Array;
  private spareNormal: number | null = null;

  constructor(seed: number | RngState = 0) {
    this.s = new Uint32Array(4);
    if (Array.isArray(seed)) {
      this.setState(seed);
    } else {
      const sm = splitmix32(seed);
      for (let i = 0; i < 4; i++) this.s[i] = sm();
      if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
    }
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n > 0)) throw new RangeError(`Rng.int needs n > 0, got ${n}`);
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box–Muller, the spare value is kept). */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** A seed for a tfjs op that takes one (dropout, randomUniform). */
  nextSeed(): number {
    return this.nextUint32();
  }

  /** A stream determined by a seed and a label alone (order of creation does not matter). */
  static derive(seed: number, label: string): Rng {
    const sm = splitmix32((seed ^ hashLabel(label)) >>> 0);
    sm();
    return new Rng(sm());
  }

  /** An independent stream derived from this one's current state and a label. */
  fork(label: string): Rng {
    return new Rng(this.nextUint32() ^ hashLabel(label));
  }

  getState(): RngState {
    // The spare normal is dropped on save; restoring starts a fresh pair, which
    // is what both the original and the resumed run do after the save point.
    this.spareNormal = null;
    return [this.s[0], this.s[1], this.s[2], this.s[3]];
  }

  setState(state: RngState): void {
    if (state.length !== 4 || state.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new RangeError(`Rng state must be four uint32 values, got ${JSON.stringify(state)}`);
    }
    this.s.set(state);
    this.spareNormal = null;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
