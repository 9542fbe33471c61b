import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { preCaption, preQuestion, readSentencePiecePieces, SentencePieceTokenizer, WordPieceTokenizer } from "../../../../core/index.ts";
import { pythonWith, runPython, sharedPathOrSkip, tempDir } from "../../../helpers.ts";

// BERT's BasicTokenizer + WordpieceTokenizer, written from the published algorithm: the reference.
const PY_BERT = `
import json, sys, unicodedata
vocab = {}
for i, line in enumerate(open(sys.argv[1], encoding="utf-8")):
    vocab.setdefault(line.rstrip("\\n"), i)
def is_ws(c): return c in " \\t\\n\\r" or unicodedata.category(c) == "Zs"
def is_ctrl(c): return c not in "\\t\\n\\r" and unicodedata.category(c) in ("Cc", "Cf")
def is_punc(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126: return True
    return unicodedata.category(c).startswith("P")
def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)
def basic(text):
    text = "".join(" " if is_ws(c) else c for c in text if not (ord(c) in (0, 0xFFFD) or is_ctrl(c)))
    text = "".join(" %s " % c if is_cjk(ord(c)) else c for c in text)
    out = []
    for tok in text.strip().split():
        tok = unicodedata.normalize("NFD", tok.lower())
        tok = "".join(c for c in tok if unicodedata.category(c) != "Mn")
        cur = ""
        for c in tok:
            if is_punc(c):
                if cur: out.append(cur)
                out.append(c); cur = ""
            else: cur += c
        if cur: out.append(cur)
    return out
def wordpiece(tok):
    if len(tok) > 100: return [vocab["[UNK]"]]
    ids, start = [], 0
    while start < len(tok):
        end, cur = len(tok), None
        while start < end:
            sub = tok[start:end]
            if start > 0: sub = "##" + sub
            if sub in vocab: cur = vocab[sub]; break
            end -= 1
        if cur is None: return [vocab["[UNK]"]]
        ids.append(cur); start = end
    return ids
texts = json.load(open(sys.argv[2], encoding="utf-8"))
print(json.dumps([[i for t in basic(x) for i in wordpiece(t)] for x in texts]))
`;

describe("core/data/text: cleaning and tokenizers", () => {
  it("preCaption and preQuestion clean as ALBEF does", () => {
    assert.equal(preCaption("A man, riding a WAVE... on top-of a surf/board!  <person> (ok)\n"), "a man riding a wave on top of a surf board person ok");
    assert.equal(preCaption("one two three four", 2), "one two");
    assert.equal(preCaption("  spaced   out  "), "spaced out");
    assert.equal(preQuestion("What's  the man's name?  "), "whats  the mans name");
    assert.equal(preQuestion("a  b c", 3), "a  b", "double spaces make empty words that count");
  });

  it("wordpiece ids equal BERT's reference tokenizer on every real COCO caption, ALBEF mode adds no [SEP]", function () {
    this.timeout(60000);
    const vocab = sharedPathOrSkip(this, "data", "tokenizers", "bert-base-uncased", "vocab.txt");
    const index = sharedPathOrSkip(this, "data", "coco", "index.json");
    const py = pythonWith("unicodedata");
    if (!py) this.skip();
    const entries = (JSON.parse(readFileSync(index, "utf8")) as { images: { captions: string[] }[] }).images;
    const edge = ["Café naïve RÉSUMÉ", "unaffable xyzzyqqq", "a\u00a0non-breaking\tspace", "中文 text", "emoji 🚀 here", "x".repeat(120), "e.g. U.S.A.'s", ""];
    const texts = [...entries.flatMap((e) => e.captions), ...edge];
    assert.ok(texts.length > 1200);
    const tmp = tempDir();
    try {
      const file = join(tmp.path, "texts.json");
      writeFileSync(file, JSON.stringify(texts));
      const want = JSON.parse(runPython(py, PY_BERT, [vocab, file])) as number[][];
      for (const source of [vocab, vocab.replace("vocab.txt", "tokenizer.json")]) {
        const tok = new WordPieceTokenizer({ vocab: source, lowercase: true, albef: true, maxLength: 512 });
        assert.deepEqual(tok.special, { pad: 0, unk: 100, cls: 101, sep: 102, mask: 103 });
        assert.equal(tok.vocabSize, 30522);
        texts.forEach((t, i) => assert.deepEqual(tok.pieces(t), want[i], `${source}: ${JSON.stringify(t)}`));
      }
    } finally {
      tmp.cleanup();
    }
    const tok = new WordPieceTokenizer({ vocab, lowercase: true, albef: true, maxLength: 6 });
    const enc = tok.encode(["a man riding a wave on top of a surfboard", "a dog"]);
    assert.equal(enc.length, 6);
    assert.deepEqual([...enc.ids], [101, 1037, 2158, 5559, 1037, 4400, 101, 1037, 3899, 0, 0, 0], "[CLS] + at most 5 pieces, no [SEP], [PAD] = 0");
    assert.deepEqual([...enc.mask], [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
    const bert = new WordPieceTokenizer({ vocab, lowercase: true, albef: false, maxLength: 6 });
    assert.deepEqual([...bert.encode(["a dog"], { padTo: "max" }).ids], [101, 1037, 3899, 102, 0, 0], "BERT mode appends [SEP]");
    assert.equal(tok.decode([101, 1037, 14175, 6277, 0]), "a surfboard");
  });

  it("sentencepiece reads ALBERT's model: piece table, special ids, lower-casing, ALBEF mode", async function () {
    this.timeout(60000);
    const model = sharedPathOrSkip(this, "data", "tokenizers", "albert-base-v2", "spiece.model");
    const pieces = readSentencePiecePieces(readFileSync(model));
    assert.equal(pieces.length, 30000);
    assert.deepEqual(pieces.slice(0, 5), ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]);
    const tok = new SentencePieceTokenizer({ model, lowercase: true, albef: true, maxLength: 25 });
    assert.throws(() => tok.encode(["x"]), /await init\(\)/);
    await tok.init();
    assert.deepEqual(tok.special, { pad: 0, unk: 1, cls: 2, sep: 3, mask: 4 });
    const enc = tok.encode(["A man riding a wave on top of a surfboard."]);
    assert.deepEqual([...enc.ids], [2, 21, 169, 4247, 21, 2367, 27, 371, 16, 21, 12187, 2806, 9]);
    assert.equal(tok.decode([...enc.ids]), "a man riding a wave on top of a surfboard.");
  });
});
