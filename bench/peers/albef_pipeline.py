#!/usr/bin/env python3
"""The same-work peer of `npm run bench:pipeline`: ALBEF's pre-training input
pipeline as ALBEF's code runs it, over the bench's WebDataset shards.

Per sample, in torch DataLoader workers (ALBEF's dataset/__init__.py,
pretrain_transform): PIL decode -> RandomResizedCrop(256, scale=(0.2, 1.0),
bicubic) -> RandomHorizontalFlip -> RandomAugment(2, 7, isPIL=True) over
ALBEF's ten ops on cv2/numpy (dataset/randaugment.py: Identity, AutoContrast,
Equalize, Brightness, Sharpness, ShearX, ShearY, TranslateX, TranslateY,
Rotate; each applied with p = 0.5) -> ToTensor -> Normalize (CLIP mean/std);
the caption through pre_caption(max_words=30). Per batch, in the main process
as ALBEF's Pretrain.py does: BERT WordPiece (bert-base-uncased's vocab,
lower-cased, accents stripped, punctuation split), padding to the longest,
truncation at 25 tokens, ids and attention mask as tensors.

The RandomAugment ops and pre_caption are re-written here from ALBEF's
definitions (same formulas, same cv2 calls); the WordPiece tokenizer is the
BERT reference algorithm (basic tokenizer + greedy longest-match-first).

Usage: python3 albef_pipeline.py --data DIR --vocab vocab.txt --workers 1 2
Prints one JSON line per worker count: {"loader": "albef", "workers": N, "samples_per_s": X}
Needs Debian's python3-torch, python3-torchvision, python3-opencv, python3-pil.
"""

import argparse
import glob
import io
import json
import os
import re
import tarfile
import time
import unicodedata

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from torchvision import transforms

cv2.setNumThreads(0)  # as in a DataLoader worker: one thread each

# ---------------------------------------------------------------- ALBEF's RandomAugment ops (cv2 / numpy)

FILL = (128, 128, 128)
MAX_LEVEL = 10


def _per_channel(img, tune):
    return cv2.merge([tune(ch) for ch in cv2.split(img)])


def autocontrast(img):
    def tune(ch):
        high, low = ch.max(), ch.min()
        if high <= low:
            return ch
        scale = 255.0 / (high - low)
        table = (np.arange(256) * scale - low * scale).clip(0, 255).astype(np.uint8)
        return table[ch]

    return _per_channel(img, tune)


def equalize(img):
    def tune(ch):
        hist = cv2.calcHist([ch], [0], None, [256], [0, 256])
        nonzero = hist[hist != 0].reshape(-1)
        step = np.sum(nonzero[:-1]) // 255
        if step == 0:
            return ch
        n = np.empty_like(hist)
        n[0] = step // 2
        n[1:] = hist[:-1]
        return (np.cumsum(n) // step).clip(0, 255).astype(np.uint8)[ch]

    return _per_channel(img, tune)


def brightness(img, factor):
    return (np.arange(256, dtype=np.float32) * factor).clip(0, 255).astype(np.uint8)[img]


def sharpness(img, factor):
    kernel = np.ones((3, 3), dtype=np.float32)
    kernel[1][1] = 5
    kernel /= 13
    blurred = cv2.filter2D(img, -1, kernel)
    if factor == 0.0:
        return blurred
    if factor == 1.0:
        return img
    out = img.astype(np.float32)
    inner = blurred.astype(np.float32)[1:-1, 1:-1, :]
    out[1:-1, 1:-1, :] = inner + factor * (out[1:-1, 1:-1, :] - inner)
    return out.astype(np.uint8)


def _affine(img, m):
    h, w = img.shape[0], img.shape[1]
    return cv2.warpAffine(img, m, (w, h), borderValue=FILL, flags=cv2.INTER_LINEAR).astype(np.uint8)


def shear_x(img, f):
    return _affine(img, np.float32([[1, f, 0], [0, 1, 0]]))


def shear_y(img, f):
    return _affine(img, np.float32([[1, 0, 0], [f, 1, 0]]))


def translate_x(img, off):
    return _affine(img, np.float32([[1, 0, -off], [0, 1, 0]]))


def translate_y(img, off):
    return _affine(img, np.float32([[1, 0, 0], [0, 1, -off]]))


def rotate(img, degree):
    h, w = img.shape[0], img.shape[1]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degree, 1)
    return cv2.warpAffine(img, m, (w, h), borderValue=FILL)


def _signed(v):
    return -v if np.random.random() > 0.5 else v


OPS = {
    "Identity": (lambda img: img, lambda m: ()),
    "AutoContrast": (autocontrast, lambda m: ()),
    "Equalize": (equalize, lambda m: ()),
    "Brightness": (brightness, lambda m: ((m / MAX_LEVEL) * 1.8 + 0.1,)),
    "Sharpness": (sharpness, lambda m: ((m / MAX_LEVEL) * 1.8 + 0.1,)),
    "ShearX": (shear_x, lambda m: (_signed((m / MAX_LEVEL) * 0.3),)),
    "ShearY": (shear_y, lambda m: (_signed((m / MAX_LEVEL) * 0.3),)),
    "TranslateX": (translate_x, lambda m: (_signed((m / MAX_LEVEL) * 10.0),)),
    "TranslateY": (translate_y, lambda m: (_signed((m / MAX_LEVEL) * 10.0),)),
    "Rotate": (rotate, lambda m: (-(m / MAX_LEVEL) * 30 if np.random.random() < 0.5 else (m / MAX_LEVEL) * 30,)),
}


class RandomAugment:
    def __init__(self, n, m):
        self.n, self.m = n, m
        self.names = list(OPS)

    def __call__(self, pil):
        img = np.array(pil)
        for name in np.random.choice(self.names, self.n):
            if np.random.random() > 0.5:
                continue
            fn, args = OPS[name]
            img = fn(img, *args(self.m))
        return img


# ---------------------------------------------------------------- captions: ALBEF's pre_caption, BERT WordPiece


def pre_caption(caption, max_words=30):
    caption = re.sub(r"([,.'!?\"()*#:;~])", "", caption.lower()).replace("-", " ").replace("/", " ").replace("<person>", "person")
    caption = re.sub(r"\s{2,}", " ", caption).rstrip("\n").strip(" ")
    words = caption.split(" ")
    return " ".join(words[:max_words]) if len(words) > max_words else caption


def _is_cjk(cp):
    return (
        0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F
    )


def _is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


class WordPiece:
    def __init__(self, vocab_file):
        with open(vocab_file, encoding="utf-8") as f:
            self.vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
        self.unk = self.vocab.get("[UNK]", 1)
        self.cls = self.vocab.get("[CLS]", 2)
        self.sep = self.vocab.get("[SEP]", 3)
        self.pad = self.vocab.get("[PAD]", 0)

    def _basic(self, text):
        kept = []
        for ch in text:
            if ord(ch) in (0, 0xFFFD) or (unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\t\n\r"):
                continue
            kept.append(" " if ch.isspace() else f" {ch} " if _is_cjk(ord(ch)) else ch)
        text = "".join(kept)
        out = []
        for word in text.lower().split():
            word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")
            cur = ""
            for ch in word:
                if _is_punct(ch):
                    if cur:
                        out.append(cur)
                    out.append(ch)
                    cur = ""
                else:
                    cur += ch
            if cur:
                out.append(cur)
        return out

    def _pieces(self, word):
        if len(word) > 100:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.vocab:
                    found = self.vocab[sub]
                    break
                end -= 1
            if found is None:
                return [self.unk]
            ids.append(found)
            start = end
        return ids

    def __call__(self, texts, max_length=25):
        rows = []
        for t in texts:
            ids = [p for w in self._basic(t) for p in self._pieces(w)][: max_length - 2]
            rows.append([self.cls, *ids, self.sep])
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            input_ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        return input_ids, mask


# ---------------------------------------------------------------- shards


_KEY = re.compile(r"^((?:.*/|)[^.]+)[.]([^/]*)$")


def tar_samples(path):
    current = None
    with tarfile.open(path, mode="r|*") as tf:
        for ti in tf:
            if not ti.isreg():
                continue
            m = _KEY.match(ti.name)
            if not m:
                continue
            key, ext = m.group(1), m.group(2).lower()
            data = tf.extractfile(ti).read()
            tf.members = []
            if current is None or key != current["__key__"]:
                if current is not None:
                    yield current
                current = {"__key__": key}
            current[ext] = data
    if current is not None:
        yield current


class Shards(IterableDataset):
    def __init__(self, shards, transform):
        self.shards, self.transform = shards, transform

    def __iter__(self):
        info = get_worker_info()
        mine = self.shards[info.id :: info.num_workers] if info else self.shards
        for path in mine:
            for s in tar_samples(path):
                img = Image.open(io.BytesIO(s["jpg"])).convert("RGB")
                yield self.transform(img), pre_caption(s["txt"].decode("utf-8"))


def albef_transform(size):
    normalize = transforms.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
    return transforms.Compose(
        [
            transforms.RandomResizedCrop(size, scale=(0.2, 1.0), interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.RandomHorizontalFlip(),
            RandomAugment(2, 7),
            transforms.ToTensor(),
            normalize,
        ]
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--epochs", type=int, default=2, help="timed passes after one warm-up pass")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(1)
    shards = sorted(glob.glob(os.path.join(args.data, "*.tar")))
    tokenizer = WordPiece(args.vocab)
    for workers in args.workers:
        loader = DataLoader(Shards(shards, albef_transform(args.size)), batch_size=args.batch, num_workers=workers, persistent_workers=True)

        def one_pass():
            n = 0
            for images, captions in loader:
                ids, mask = tokenizer(list(captions))
                assert images.shape[0] == ids.shape[0] == mask.shape[0]
                n += images.shape[0]
            return n

        one_pass()  # warm-up: workers start, page cache
        t0 = time.perf_counter()
        n = sum(one_pass() for _ in range(args.epochs))
        print(json.dumps({"loader": "albef", "workers": workers, "samples_per_s": n / (time.perf_counter() - t0)}), flush=True)


if __name__ == "__main__":
    main()
