/**
 * Whether the ranks of a data-parallel run hold the same state: every rank
 * hashes its state entries (names, shapes and bytes, in order; FNV-1a 64) and
 * the hashes are gathered. Data-parallel training keeps them bit-identical —
 * the same averaged gradients, the same optimizer, queues fed by all ranks —
 * so a difference is a defect, reported at the end of every such run.
 */
import type { Module } from "../tensor/module.ts";
import { gatherJson, type World } from "./world.ts";

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK = 0xffffffffffffffffn;

/** FNV-1a 64 over the module's state entries, as hex. */
export function stateHash(model: Module): { hash: string; entries: number } {
  let h = FNV_OFFSET;
  let entries = 0;
  const feed = (bytes: Uint8Array) => {
    for (let i = 0; i < bytes.length; i++) h = ((h ^ BigInt(bytes[i])) * FNV_PRIME) & MASK;
  };
  // 64-bit FNV over BigInt is slow per byte: fold each 4-byte word into one step instead
  const feedWords = (data: ArrayBufferView) => {
    const words = new Uint32Array(data.buffer, data.byteOffset, Math.floor(data.byteLength / 4));
    for (let i = 0; i < words.length; i++) h = ((h ^ BigInt(words[i])) * FNV_PRIME) & MASK;
  };
  const enc = new TextEncoder();
  for (const [name, v] of model.stateEntries()) {
    feed(enc.encode(`${name}:${v.dtype}:${v.shape.join("x")};`));
    feedWords(v.dataSync() as Float32Array | Int32Array);
    entries++;
  }
  return { hash: h.toString(16).padStart(16, "0"), entries };
}

export interface RankStates {
  /** every rank's hash, in rank order */
  hashes: string[];
  identical: boolean;
  entries: number;
}

/** Every rank's state hash (a collective). */
export async function compareRankStates(world: World, model: Module): Promise<RankStates> {
  const mine = stateHash(model);
  const hashes = await gatherJson(world, mine.hash);
  return { hashes, identical: hashes.every((h) => h === hashes[0]), entries: mine.entries };
}
