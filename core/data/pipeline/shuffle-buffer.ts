/**
 * webdataset's shuffle buffer (`filters._shuffle`), made explicit so its
 * state can be saved: a sample enters, and — while the buffer is short of
 * `size` — a second one is pulled too (it fills twice as fast); once it holds
 * `initial` items, a uniformly chosen item leaves (swap with the last, pop).
 * At the end of the stream the rest drains in random order.
 */
import type { Rng } from "../../tensor/rng.ts";

export class ShuffleBuffer<T> {
  readonly items: T[] = [];

  constructor(
    readonly size: number,
    readonly initial: number,
    private readonly rng: Rng,
  ) {
    if (!(size >= 1)) throw new RangeError(`shuffle buffer size must be ≥ 1, got ${size}`);
  }

  /** How many to pull before the next `take`: 2 while short of `size`, else 1. */
  wantsTwo(): boolean {
    return this.items.length + 1 < this.size;
  }

  add(item: T): void {
    this.items.push(item);
  }

  ready(): boolean {
    return this.items.length >= Math.min(this.initial, this.size);
  }

  take(): T | undefined {
    const n = this.items.length;
    if (n === 0) return undefined;
    const i = this.rng.int(n);
    const item = this.items[i];
    this.items[i] = this.items[n - 1];
    this.items.pop();
    return item;
  }
}
