/**
 * SentencePiece tokenisation (sentencepiece-js, the library's WebAssembly
 * build) for `.model` files such as ALBERT's. The piece table is read from the
 * model's protobuf directly, for the vocabulary size and the special ids.
 */
import { readFileSync } from "node:fs";
import sentencepiece from "sentencepiece-js";
import { PolyalignError } from "../../errors.ts";
import type { SpecialTokenIds } from "../../registry/kinds/index.ts";
import { PieceTokenizer } from "./encode.ts";

export interface SentencePieceOptions {
  model: string;
  /** lower-case before encoding (ALBERT's tokenizer does; the model itself does not) */
  lowercase: boolean;
  albef: boolean;
  maxLength: number;
}

function varint(buf: Uint8Array, pos: number): [number, number] {
  let result = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos++];
    if (b === undefined) throw new PolyalignError("sentencepiece: truncated model file");
    result += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) return [result, pos];
    shift += 7;
  }
}

/** The `pieces` of a SentencePiece ModelProto (field 1, each with its piece string in field 1). */
export function readSentencePiecePieces(model: Uint8Array): string[] {
  const pieces: string[] = [];
  const dec = new TextDecoder();
  let pos = 0;
  while (pos < model.length) {
    let key: number;
    [key, pos] = varint(model, pos);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 2) {
      let len: number;
      [len, pos] = varint(model, pos);
      if (field === 1) {
        const sub = model.subarray(pos, pos + len);
        let p = 0;
        let piece = "";
        while (p < sub.length) {
          let k: number;
          [k, p] = varint(sub, p);
          const w = k & 7;
          if (w === 2) {
            let l: number;
            [l, p] = varint(sub, p);
            if (k >> 3 === 1) piece = dec.decode(sub.subarray(p, p + l));
            p += l;
          } else if (w === 0) [, p] = varint(sub, p);
          else if (w === 5) p += 4;
          else if (w === 1) p += 8;
          else throw new PolyalignError(`sentencepiece: unexpected wire type ${w} in a piece`);
        }
        pieces.push(piece);
      }
      pos += len;
    } else if (wire === 0) [, pos] = varint(model, pos);
    else if (wire === 5) pos += 4;
    else if (wire === 1) pos += 8;
    else throw new PolyalignError(`sentencepiece: unexpected wire type ${wire}: not a .model file?`);
  }
  return pieces;
}

interface Processor {
  load(path: string): Promise<void>;
  encodeIds(text: string): number[];
  decodeIds(ids: number[]): string;
}

export class SentencePieceTokenizer extends PieceTokenizer {
  readonly vocabSize: number;
  readonly special: SpecialTokenIds;
  private sp: Processor | null = null;

  /** Reads the piece table now; the WebAssembly processor loads in `init()`. */
  constructor(readonly opts: SentencePieceOptions) {
    super(opts);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(opts.model);
    } catch (e) {
      throw new PolyalignError(`sentencepiece: cannot read model ${opts.model}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const pieces = readSentencePiecePieces(bytes);
    this.vocabSize = pieces.length;
    const find = (...names: string[]) => {
      for (const n of names) {
        const i = pieces.indexOf(n);
        if (i >= 0) return i;
      }
      throw new PolyalignError(`sentencepiece: model ${opts.model} has none of ${names.join(", ")}`);
    };
    this.special = {
      pad: find("<pad>", "[PAD]"),
      unk: find("<unk>", "[UNK]"),
      cls: find("[CLS]", "<s>"),
      sep: find("[SEP]", "</s>"),
      mask: find("[MASK]", "<mask>"),
    };
  }

  async init(): Promise<void> {
    if (this.sp) return;
    const sp = new sentencepiece.SentencePieceProcessor() as Processor;
    await sp.load(this.opts.model);
    this.sp = sp;
  }

  private processor(): Processor {
    if (!this.sp) throw new PolyalignError("sentencepiece: call and await init() before encoding");
    return this.sp;
  }

  pieces(text: string): number[] {
    return this.processor().encodeIds(this.opts.lowercase ? text.toLowerCase() : text);
  }

  decode(ids: readonly number[]): string {
    const specials = new Set(Object.values(this.special));
    return this.processor().decodeIds(ids.filter((i) => !specials.has(i)));
  }
}
