#!/usr/bin/env python3
"""Generates golden.json, the cross-check data of golden_test.go.

Run from the repository root with the shared data at ../shared:

    python3 tokenizer/testdata/gen_golden.py ../shared > tokenizer/testdata/golden.json

It needs only Python 3 and the `regex` module (the one transformers uses).
The pre-tokenization splits come from the real regexes run by `regex`; the
BPE and WordPiece ids come from small re-statements of transformers' slow
GPT2Tokenizer.bpe and BERT BasicTokenizer/WordpieceTokenizer algorithms run
on the real vocabularies. Random strings are drawn from a fixed seed over an
alphabet of tricky characters (contractions, accents, combining marks, CJK,
emoji, exotic whitespace, control characters) and include long words, so
that both of the Go merge algorithms are exercised.
"""
import json
import random
import sys
import unicodedata

import regex as re

GPT2_PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
CLIP_PAT = re.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    re.IGNORECASE,
)

ALPHABET = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    + list(" " * 12)
    + list("\t\n\r\x0b\x0c")
    + list(".,;:!?'\"()[]{}<>|-_/\\@#$%^&*+=~`")
    + ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'RE", "n't", "<|endoftext|>", "<|startoftext|>"]
    + list("éèêëñüößçåøÉÑÜ") + ["e\u0301", "a\u0308", "\u0301", "\u0308"]
    + list("中文字符你好世界，。！") + list("한국어안녕") + list("こんにちはカタカナ")
    + list("مرحبا٣٤") + ["नमस्ते", "क्ष"] + list("Ωαβγδ") + list("Привет")
    + ["😀", "👋", "👋🏽", "👨\u200d👩\u200d👧", "🇫🇷", "♪", "♫", "€", "—", "–", "“", "”", "…", "¿", "¡", "°"]
    + list("²½Ⅻ") + ["\u00a0", "\u2003", "\u3000", "\u2028", "\u200b", "\ufeff", "\x00", "\x1c", "\x7f", "\x85", "\ufffd"]
)
WORDS = (
    "the quick brown fox jumps over lazy dog photo cat sitting grass astronaut coffee transcription "
    "internationalization unbelievable don't won't it's we're I'm they've you'll he'd naïve café "
    "Americans country fellow ask".split()
)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENC = bytes_to_unicode()


def get_pairs(word):
    return {(word[i], word[i + 1]) for i in range(len(word) - 1)}


def bpe(token, ranks):
    # transformers' GPT2Tokenizer.bpe, restated.
    word = tuple(token)
    pairs = get_pairs(word)
    if not pairs:
        return [token]
    while True:
        bigram = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if bigram not in ranks:
            break
        first, second = bigram
        new, i = [], 0
        while i < len(word):
            try:
                j = word.index(first, i)
            except ValueError:
                new.extend(word[i:])
                break
            new.extend(word[i:j])
            i = j
            if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                new.append(first + second)
                i += 2
            else:
                new.append(word[i])
                i += 1
        word = tuple(new)
        if len(word) == 1:
            break
        pairs = get_pairs(word)
    return list(word)


def gpt2_ids(text, vocab, ranks):
    ids = []
    for piece in GPT2_PAT.findall(text):
        enc = "".join(BYTE_ENC[b] for b in piece.encode("utf-8"))
        ids.extend(vocab[t] for t in bpe(enc, ranks))
    return ids


# BERT basic tokenizer (slow transformers), without the NFC step that the
# fast tokenizer does not have either.
def is_control(c):
    if c in "\t\n\r":
        return False
    return unicodedata.category(c).startswith("C")


def is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def is_punct(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def is_chinese(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def bert_basic(text):
    out = []
    for c in text:
        cp = ord(c)
        if cp == 0 or cp == 0xFFFD or is_control(c):
            continue
        out.append(" " if is_whitespace(c) else c)
    text = "".join(" " + c + " " if is_chinese(ord(c)) else c for c in out)
    tokens = []
    for tok in text.strip().split():
        tok = tok.lower()
        tok = "".join(c for c in unicodedata.normalize("NFD", tok) if unicodedata.category(c) != "Mn")
        cur = []
        for c in tok:
            if is_punct(c):
                if cur:
                    tokens.append("".join(cur))
                    cur = []
                tokens.append(c)
            else:
                cur.append(c)
        if cur:
            tokens.append("".join(cur))
    return " ".join(tokens).split()


def wordpiece(tokens, vocab):
    out = []
    for tok in tokens:
        chars = list(tok)
        if len(chars) > 100:
            out.append("[UNK]")
            continue
        start, sub, bad = 0, [], False
        while start < len(chars):
            end, cur = len(chars), None
            while start < end:
                s = "".join(chars[start:end])
                if start > 0:
                    s = "##" + s
                if s in vocab:
                    cur = s
                    break
                end -= 1
            if cur is None:
                bad = True
                break
            sub.append(cur)
            start = end
        out.extend(["[UNK]"] if bad else sub)
    return out


def random_text(rng):
    n = rng.choice([0, 1, 2, 3, 5, 8, 13, 21, 34])
    parts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.35:
            parts.append(rng.choice(WORDS))
        elif r < 0.45:
            parts.append(" " * rng.randint(1, 4))
        else:
            parts.append(rng.choice(ALPHABET))
    if rng.random() < 0.05:
        # A long word, beyond the Go scan-merge threshold.
        parts.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyzé中") for _ in range(rng.randint(50, 300))))
    return "".join(parts)


def main():
    shared = sys.argv[1] if len(sys.argv) > 1 else "../shared"
    with open(f"{shared}/vocab/gpt2/vocab.json", encoding="utf-8") as f:
        gvocab = json.load(f)
    with open(f"{shared}/vocab/gpt2/merges.txt", encoding="utf-8") as f:
        merges = [tuple(m.split()) for m in f.read().split("\n")[1:-1]]
    ranks = dict(zip(merges, range(len(merges))))
    with open(f"{shared}/vocab/bert-base-uncased/vocab.txt", encoding="utf-8") as f:
        bvocab = {t.rstrip("\n"): i for i, t in enumerate(f.readlines())}
    rng = random.Random(20240601)
    cases = []
    for _ in range(400):
        text = random_text(rng)
        basic = bert_basic(text)
        wp = wordpiece(basic, bvocab)
        cases.append({
            "text": text,
            "gpt2_pieces": GPT2_PAT.findall(text),
            "clip_pieces": CLIP_PAT.findall(text),
            "gpt2_ids": gpt2_ids(text, gvocab, ranks),
            "bert_tokens": wp,
            "bert_ids": [bvocab[t] for t in wp],
        })
    # Python's errors="replace" on invalid UTF-8: maximal subparts.
    invalid = []
    for _ in range(300):
        b = bytes(rng.choice([0x41, 0x80, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xE2, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF, 0x9F, 0xA0, 0x82])
                  for _ in range(rng.randint(0, 10)))
        invalid.append({"hex": b.hex(), "decoded": b.decode("utf-8", errors="replace")})
    out = sys.stdout
    out.write('{"cases": [\n')
    out.write(",\n".join(json.dumps(c, ensure_ascii=True) for c in cases))
    out.write('\n],\n"invalid_utf8": [\n')
    out.write(",\n".join(json.dumps(c, ensure_ascii=True) for c in invalid))
    out.write("\n]}\n")


if __name__ == "__main__":
    main()
