/**
 * WordPiece (BERT) tokenisation on @huggingface/tokenizers: BERT's normaliser
 * (lower-casing, accent stripping, CJK spacing), punctuation splitting,
 * greedy longest-match `##` pieces, `[UNK]` for words it cannot cover. Reads a
 * `tokenizer.json`, or a `vocab.txt` from which the same pipeline is built.
 */
import { readFileSync } from "node:fs";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { PolyalignError } from "../../errors.ts";
import type { SpecialTokenIds } from "../../registry/kinds/index.ts";
import { PieceTokenizer } from "./encode.ts";

export interface WordPieceOptions {
  /** vocab.txt or tokenizer.json */
  vocab: string;
  lowercase: boolean;
  /** ALBEF mode: `[CLS] tokens`, no trailing `[SEP]` */
  albef: boolean;
  maxLength: number;
}

function tokenizerJsonFromVocab(vocabText: string, lowercase: boolean): object {
  const vocab: Record<string, number> = {};
  vocabText.split("\n").forEach((line, i) => {
    const tok = line.replace(/\r$/, "");
    if (tok !== "" && !(tok in vocab)) vocab[tok] = i;
  });
  const specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].filter((t) => t in vocab);
  return {
    version: "1.0",
    added_tokens: specials.map((t) => ({ id: vocab[t], content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: null,
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab },
  };
}

export class WordPieceTokenizer extends PieceTokenizer {
  private readonly hf: HfTokenizer;
  readonly vocabSize: number;
  readonly special: SpecialTokenIds;
  private readonly vocab: Map<string, number>;

  constructor(readonly opts: WordPieceOptions) {
    super(opts);
    let text: string;
    try {
      text = readFileSync(opts.vocab, "utf8");
    } catch (e) {
      throw new PolyalignError(`wordpiece: cannot read vocabulary ${opts.vocab}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    let json: { model?: { vocab?: Record<string, number> }; normalizer?: unknown };
    if (opts.vocab.endsWith(".json")) {
      json = JSON.parse(text) as typeof json;
      if (!json.model?.vocab) throw new PolyalignError(`wordpiece: ${opts.vocab} has no model.vocab (not a WordPiece tokenizer.json)`);
    } else {
      json = tokenizerJsonFromVocab(text, opts.lowercase) as typeof json;
    }
    this.vocab = new Map(Object.entries(json.model!.vocab!));
    this.vocabSize = Math.max(...this.vocab.values()) + 1;
    const id = (t: string) => {
      const v = this.vocab.get(t);
      if (v === undefined) throw new PolyalignError(`wordpiece: vocabulary ${opts.vocab} has no ${t} token`);
      return v;
    };
    this.special = { pad: id("[PAD]"), unk: id("[UNK]"), cls: id("[CLS]"), sep: id("[SEP]"), mask: id("[MASK]") };
    this.hf = new HfTokenizer(json, { do_lower_case: opts.lowercase });
  }

  /** Word-piece ids of one text, without special tokens. */
  pieces(text: string): number[] {
    return this.hf.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: readonly number[]): string {
    return this.hf.decode([...ids], { skip_special_tokens: true });
  }
}
