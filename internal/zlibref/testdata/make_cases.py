#!/usr/bin/env python3
"""Writes cases.json: inputs (literal texts, or generated from a seed by the
LCG below, which zlibref_test.go reproduces) and len(zlib.compress(input)) as
CPython's zlib (reference zlib 1.2.x, level 6) computes it.

    python3 make_cases.py   # in this directory
"""
import json
import zlib

MASK = (1 << 64) - 1


def lcg(seed):
    x = seed & MASK
    while True:
        x = (x * 6364136223846793005 + 1442695040888963407) & MASK
        yield x >> 33


def generate(c):
    """Bytes of a generated case: n items, each a word of vocab (joined by
    spaces) or, without vocab, a byte in [lo, hi]."""
    r = lcg(c["seed"])
    if "vocab" in c:
        words = [c["vocab"][next(r) % len(c["vocab"])] for _ in range(c["n"])]
        return " ".join(words).encode()
    lo, hi = c["lo"], c["hi"]
    return bytes(lo + next(r) % (hi - lo + 1) for _ in range(c["n"]))


literal = [
    "",
    "a",
    "aa",
    "abc",
    " Hello, world.",
    " And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
    " Thank you." * 60,
    " la la la la la la la la la la la la la la la la la la la la la",
    " Größe, 日本語のテキスト, emoji 🙂🙂🙂 and café au lait.",
    "x" * 300,
    "ab" * 2000,
]
few = ["the", "a", "cat", "sat", "on", "mat", "and", "then", "it", "ran"]
many = ("time person year way day thing man world life hand part child eye woman place work week case "
        "point government company number group problem fact be have do say get make go know take see come "
        "think look want give use find tell ask seem feel try leave call good new first last long great "
        "little own other old right big high different small large next early young important few public").split()
generated = []
for i, n in enumerate([5, 40, 300, 2000, 6000, 9000]):
    generated.append({"seed": 100 + i, "n": n, "vocab": few})
for i, n in enumerate([20, 500, 3000, 8000, 10500]):
    generated.append({"seed": 200 + i, "n": n, "vocab": many})
for i, (n, lo, hi) in enumerate([(50, 32, 126), (4000, 32, 126), (20000, 97, 100), (30000, 0, 255), (65000, 0, 255), (65274, 32, 126)]):
    generated.append({"seed": 300 + i, "n": n, "lo": lo, "hi": hi})

cases = []
for t in literal:
    b = t.encode()
    cases.append({"text": t, "len": len(b), "zlib_len": len(zlib.compress(b))})
for c in generated:
    b = generate(c)
    cases.append(dict(c, len=len(b), zlib_len=len(zlib.compress(b))))

with open("cases.json", "w") as f:
    json.dump({"zlib_version": zlib.ZLIB_RUNTIME_VERSION, "cases": cases}, f, ensure_ascii=False, indent=1)
    f.write("\n")
