/**
 * From per-text token ids to a padded batch: special tokens, truncation
 * (specials counted), padding to the longest text or to `maxLength`, masks.
 */
import type { EncodedText, SpecialTokenIds, Tokenizer } from "../../registry/kinds/index.ts";

export interface BatchEncodeOptions {
  maxLength?: number;
  padTo?: "longest" | "max";
  /** append [SEP] after the text (BERT); ALBEF appends none */
  appendSep: boolean;
}

export function encodeBatch(pieces: readonly number[][], special: SpecialTokenIds, opts: BatchEncodeOptions): EncodedText {
  const maxLength = opts.maxLength ?? 512;
  const room = maxLength - 1 - (opts.appendSep ? 1 : 0);
  if (room < 0) throw new RangeError(`maxLength ${maxLength} leaves no room for the special tokens`);
  const rows = pieces.map((p) => [special.cls, ...p.slice(0, room), ...(opts.appendSep ? [special.sep] : [])]);
  const length = opts.padTo === "max" ? maxLength : Math.max(1, ...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * length).fill(special.pad);
  const mask = new Int32Array(rows.length * length);
  rows.forEach((r, b) => {
    ids.set(r, b * length);
    mask.fill(1, b * length, b * length + r.length);
  });
  return { ids, mask, batch: rows.length, length };
}

/**
 * What every subword tokenizer shares: from per-text pieces to a padded batch
 * ([CLS] first, [SEP] unless in ALBEF mode, truncated to maxLength).
 */
export abstract class PieceTokenizer implements Tokenizer {
  abstract readonly vocabSize: number;
  abstract readonly special: SpecialTokenIds;

  constructor(protected readonly batchDefaults: { maxLength: number; albef: boolean }) {}

  /** Subword ids of one text, without special tokens. */
  abstract pieces(text: string): number[];
  abstract decode(ids: readonly number[]): string;

  encode(texts: readonly string[], o: { maxLength?: number; padTo?: "longest" | "max" } = {}): EncodedText {
    return encodeBatch(
      texts.map((t) => this.pieces(t)),
      this.special,
      {
        maxLength: o.maxLength ?? this.batchDefaults.maxLength,
        padTo: o.padTo,
        appendSep: !this.batchDefaults.albef,
      },
    );
  }
}
