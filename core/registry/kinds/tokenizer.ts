/** The Tokenizer kind: text → token ids (and back). */
import { defineKind } from "./define.ts";

export interface EncodedText {
  /** [batch, length] row-major */
  ids: Int32Array;
  /** [batch, length], 1 = token */
  mask: Int32Array;
  batch: number;
  length: number;
}

export interface SpecialTokenIds {
  pad: number;
  cls: number;
  sep: number;
  mask: number;
  unk: number;
}

export interface Tokenizer {
  /** Asynchronous set-up (e.g. a WebAssembly module); await before the first encode. */
  init?(): Promise<void>;
  readonly vocabSize: number;
  readonly special: SpecialTokenIds;
  encode(texts: readonly string[], opts?: { maxLength?: number; padTo?: "longest" | "max" }): EncodedText;
  decode(ids: readonly number[]): string;
}
export const Tokenizer = defineKind<Tokenizer>("Tokenizer", "text → token ids");
