#!/usr/bin/env python3
"""Generates llama_golden.json, the expected ids of llama_test.go.

Run once from the repository root with the shared data at ../shared and
Debian's python3-sentencepiece (0.1.97) installed:

    /usr/bin/python3 tokenizer/testdata/gen_llama_golden.py ../shared > tokenizer/testdata/llama_golden.json

transformers itself cannot be installed here, so the ids come from Google's
sentencepiece library running the real Llama tokenizer.model, with what
transformers 4.40's LlamaTokenizerFast does around it stated explicitly:

  * special tokens (<unk>, <s>, </s>, and the llava fixture's <image>, <pad>)
    written in the text are cut out first; the text between them is
    encoded piece by piece;
  * legacy=true (normalizer Prepend("▁") + Replace(" ", "▁")): every piece
    gets a "▁" in front, which is exactly sentencepiece's add_dummy_prefix,
    so the piece is encoded by the unmodified model;
  * legacy=false, as transformers 4.40's LlamaTokenizer (the slow one, which
    a checkpoint without tokenizer.json gets, and which the llava fixture's
    ids show) does it: "▁" in the text becomes a space, one "▁" is put in
    front of the whole text, the text is cut at the special tokens, and each
    piece is encoded by the model with add_dummy_prefix switched off; a
    piece that starts with a space or "▁" is encoded behind "<unk>" whose
    pieces are then dropped (so that its leading "▁" stays a piece of its
    own); a lone leading "▁" before a special token is dropped;
  * <s> (id 1) is put in front (add_bos_token true, add_eos_token false).

sentencepiece's BPE breaks ties between merges of equal score by position,
transformers' by merge rank; in the Llama vocabulary only the 16 pieces made
of "▁" alone share a score, and merging runs of them gives the same pieces
either way (the Go test checks every case, so a difference would show).
"""
import json
import os
import random
import sys
import tempfile

import sentencepiece as spm

SPECIALS_LLAVA = ["<unk>", "<s>", "</s>", "<image>", "<pad>"]
SPECIALS_LLAMA = ["<unk>", "<s>", "</s>"]


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(b, i):
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return n, i


def without_dummy_prefix(model):
    """Returns the serialized model with normalizer_spec.add_dummy_prefix
    set to false (field 3 of ModelProto, field 3 of NormalizerSpec)."""
    out = bytearray()
    i = 0
    while i < len(model):
        start = i
        tag, i = read_varint(model, i)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            _, i = read_varint(model, i)
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        elif wt == 2:
            n, j = read_varint(model, i)
            body = model[j:j + n]
            i = j + n
            if num == 3:
                body = body + bytes([0x18, 0x00])  # add_dummy_prefix: false
                out += varint(tag) + varint(len(body)) + body
                continue
        else:
            raise ValueError("unexpected wire type")
        out += model[start:i]
    return bytes(out)


def split_specials(text, specials):
    """Cuts text at the specials, leftmost-longest; returns (is_special, s)."""
    out = []
    i = seg = 0
    while i < len(text):
        hit = None
        for s in sorted(specials, key=len, reverse=True):
            if text.startswith(s, i):
                hit = s
                break
        if hit is None:
            i += 1
            continue
        if i > seg:
            out.append((False, text[seg:i]))
        out.append((True, hit))
        i += len(hit)
        seg = i
    if seg < len(text):
        out.append((False, text[seg:]))
    return out


def encode(sp_dummy, sp_plain, text, specials, legacy):
    """legacy=true: LlamaTokenizer and LlamaTokenizerFast agree. legacy=false:
    what a tokenizer.json with a Metaspace pre-tokenizer (prepend_scheme
    "first", split=False) gives, as LlamaTokenizerFast: spaces become "▁" and
    only the piece at offset 0 gets a "▁" in front, and only when it does
    not start with one."""
    ids = [1]
    for k, (special, s) in enumerate(split_specials(text, specials)):
        if special:
            ids.append(SPECIAL_IDS[s])
            continue
        if legacy:
            ids += sp_dummy.encode(s)
        else:
            s = s.replace(" ", "\u2581")
            if k == 0 and not s.startswith("\u2581"):
                s = "\u2581" + s
            ids += sp_plain.encode(s)
    return ids


def encode_slow(sp_plain, text, specials):
    """transformers 4.40 LlamaTokenizer(legacy=False).encode(text)."""
    if text == "":
        return [1]
    text = "\u2581" + text.replace("\u2581", " ")
    unk = sp_plain.encode("<unk>", out_type=str)
    tokens = []
    for special, s in split_specials(text, specials):
        if special:
            tokens.append(s)
            continue
        if not s.startswith(("\u2581", " ")):
            tokens += sp_plain.encode(s, out_type=str)
            continue
        t = sp_plain.encode("<unk>" + s, out_type=str)
        tokens += t[len(unk):] if len(t) >= len(unk) else t
    if len(tokens) > 1 and tokens[0] == "\u2581" and tokens[1] in specials:
        tokens = tokens[1:]
    return [1] + [SPECIAL_IDS[t] if t in specials else sp_plain.piece_to_id(t) for t in tokens]


SPECIAL_IDS = {"<unk>": 0, "<s>": 1, "</s>": 2, "<image>": 32000, "<pad>": 32001}

TRICKY = [
    "",
    " ",
    "  ",
    "Hello",
    " Hello",
    "  Hello",
    "Hello ",
    "Hello world",
    "Hello  world",
    "Hello   world    again     and      more",
    " " * 17 + "x" + " " * 33 + "y" + " " * 5,
    "    def f(x):\n        return x  # indented\n",
    "line one\nline two\r\nline three\n\n\nend",
    "tab\tseparated\t\tvalues\t",
    "\n",
    "\nleading newline",
    "trailing newline\n",
    "naïve café résumé — Ünïcödé",
    "e\u0301 a\u0308 combining marks",
    "中文字符，你好世界。",
    "日本語のテキストとカタカナ",
    "한국어 안녕하세요",
    "Привет, мир!",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "😀 👋🏽 👨\u200d👩\u200d👧 🇫🇷 emoji",
    "♪♫ € — – “quotes” … ¿¡ °",
    "\u00a0non-breaking\u2003em\u3000ideographic space",
    "zero\u200bwidth\ufeffbom",
    "\x00\x01\x1f\x7f controls",
    "\ufffd replacement",
    "\u2581 visible space mark \u2581\u2581",
    "▁Hello",
    "numbers 12345 3.14159 1,000,000",
    "code: if (a < b && c > d) { return a->b; }",
    "<unk> is a token",
    "<s>",
    "</s>",
    "<s> Hello",
    "<s>Hello",
    "Hello</s>",
    "Hello </s> world",
    "<image>",
    "<image>\n",
    "<image>What",
    "<image> What",
    "<image>  What",
    "USER: <image>\nWhat is shown? ASSISTANT:",
    "USER: <image>\nDescribe the image. ASSISTANT: A cat.</s>USER: And the colour? ASSISTANT:",
    "<image><image>",
    " <image> ",
    "a<image>b",
    "<pad><pad>text",
    "<imag> <image <image>> not quite",
    "A long word: " + "supercalifragilisticexpialidocious" * 3,
    "mixed 中文 and English with émojis 😀 in one",
]

ALPHABET = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    + [" "] * 14
    + list("\t\n\r")
    + list(".,;:!?'\"()[]{}<>|-_/\\@#$%^&*+=~`")
    + ["<s>", "</s>", "<image>", "<pad>", "<unk>", "\u2581"]
    + list("éèêëñüößçåøÉÑÜ") + ["e\u0301", "\u0308"]
    + list("中文字符你好世界，。！") + list("한국어") + list("こんにちは")
    + list("مرحبا") + ["नमस्ते"] + list("Ωαβ") + list("Привет")
    + ["😀", "👋🏽", "👨\u200d👩\u200d👧", "🇫🇷", "€", "—", "…", "\u00a0", "\u3000", "\x00", "\x7f", "𝔘", "𐍈"]
)


def random_strings(n, seed):
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        k = rnd.randint(1, 40)
        out.append("".join(rnd.choice(ALPHABET) for _ in range(k)))
    return out


def main():
    shared = sys.argv[1]
    path = os.path.join(shared, "fixtures", "llava", "model", "tokenizer.model")
    model = open(path, "rb").read()
    sp_dummy = spm.SentencePieceProcessor(model_proto=model)
    sp_plain = spm.SentencePieceProcessor(model_proto=without_dummy_prefix(model))
    assert sp_dummy.encode("Hello") == [15043], sp_dummy.encode("Hello")
    assert sp_plain.encode("Hello") == [10994], sp_plain.encode("Hello")
    assert sp_plain.encode("\u2581Hello") == [15043]
    cases = []
    for text in TRICKY + random_strings(300, 25):
        cases.append({
            "text": text,
            "llava_legacy_false": encode_slow(sp_plain, text, SPECIALS_LLAVA),
            "llava_legacy_false_fast": encode(sp_dummy, sp_plain, text, SPECIALS_LLAVA, False),
            "llava_legacy_true": encode(sp_dummy, sp_plain, text, SPECIALS_LLAVA, True),
            "llama_legacy_false": encode_slow(sp_plain, text, SPECIALS_LLAMA),
            "plain_legacy_false": encode_slow(sp_plain, text, []),
        })
    json.dump({
        "generator": "gen_llama_golden.py with sentencepiece " + spm.__version__,
        "model": "fixtures/llava/model/tokenizer.model (= vocab/llama/tokenizer.model)",
        "cases": cases,
    }, sys.stdout, ensure_ascii=True, indent=None)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
