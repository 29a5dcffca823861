"""Second half of make_corpus.sh: Pillow-encoded and deliberately damaged
corpus files, then the expected output of every corpus file.

Usage: /usr/bin/python3 make_corpus.py TMPDIR CORPUSDIR

For each corpus/NAME.jpg it writes corpus/NAME.rgb.gz, the gzip-compressed
bytes of PIL.Image.open(f).convert("RGB").tobytes() (before any EXIF
orientation: Image.open does not apply it), and it describes every file in
corpus.json: size, Pillow mode, EXIF orientation, or the error Pillow
raises. Files named refused_* are ones this package refuses on purpose
(Pillow decodes them); no pixels are stored for them.
"""
import gzip
import io
import json
import os
import sys

import PIL
from PIL import Image, features

tmp, out = sys.argv[1], sys.argv[2]
sources = dict(l.rstrip("\n").split("\t", 1) for l in open(os.path.join(tmp, "sources.tsv")))


def png(name):
    return Image.open(os.path.join(tmp, name + ".png")).convert("RGB")


def save(name, im, desc, **kw):
    im.save(os.path.join(out, name + ".jpg"), "JPEG", **kw)
    sources[name + ".jpg"] = desc


save("pil_q75_420", png("astro96"), "Pillow quality=75 (4:2:0)", quality=75)
save("pil_q95_444", png("cat64"), "Pillow quality=95 subsampling=0", quality=95, subsampling=0)
save("pil_prog_422", png("moto80"), "Pillow progressive quality=80 subsampling=1",
     quality=80, progressive=True, subsampling=1)
save("pil_optimize_q30", png("cat96"), "Pillow quality=30 optimize", quality=30, optimize=True)
for name, src, o in [("pil_exif_orient6", "cat", 6), ("pil_exif_orient3", "coffee48", 3)]:
    ex = Image.Exif()
    ex[0x0112] = o
    save(name, png(src), "Pillow quality=85, EXIF Orientation=%d" % o, quality=85, exif=ex.tobytes())
save("pil_cmyk", png("coffee48").convert("CMYK"), "Pillow CMYK quality=90", quality=90)
save("pil_gray", png("cam45").convert("L"), "Pillow mode L quality=85", quality=85)


def read(name):
    return bytearray(open(os.path.join(out, name), "rb").read())


def write(name, data, desc):
    open(os.path.join(out, name), "wb").write(bytes(data))
    sources[name] = desc


def scan_start(d):
    return d.index(b"\xff\xda") + 2 + int.from_bytes(d[d.index(b"\xff\xda") + 2:][:2], "big")


# Damage that libjpeg only warns about (Pillow decodes it).
d = read("cjpeg_q75_422.jpg")
s = scan_start(d)
for off in (40, 41, 300, 777):
    if d[s + off] not in (0x00, 0xFF) and d[s + off] ^ 0x10 not in (0x00, 0xFF):
        d[s + off] ^= 0x10
# Sixteen 1 bits make a code no Huffman table holds ("bad Huffman code").
d[s + 500:s + 506] = b"\xff\x00\xff\x00\xff\x00"
write("damaged_bitflips.jpg", d, "cjpeg_q75_422.jpg with bits flipped and an invalid code in the scan data")

d = read("cjpeg_restart1_420.jpg")
i = d.index(b"\xff\xd2")
d[i + 1] = 0xD5
write("damaged_restart_marker.jpg", d, "cjpeg_restart1_420.jpg with RST2 changed to RST5")

d = read("cjpeg_q90_440.jpg")
s = scan_start(d)
write("damaged_premature_eoi.jpg", d[: s + (len(d) - s) * 6 // 10] + b"\xff\xd9",
      "cjpeg_q90_440.jpg cut at 60% of its scan data, EOI appended")

d = read("cjpeg_prog_420.jpg")
last = d.rindex(b"\xff\xda")
write("damaged_prog_premature_eoi.jpg", d[: last + (len(d) - last) // 2] + b"\xff\xd9",
      "cjpeg_prog_420.jpg cut halfway through its last scan, EOI appended")

d = read("cjpeg_q50_444.jpg")
i = d.index(b"\xff\xc0")
write("damaged_extraneous_bytes.jpg", d[:i] + b"\x12\x34\x56" + d[i:],
      "cjpeg_q50_444.jpg with 3 stray bytes before SOF")

d = read("cjpeg_q10_420.jpg")
write("padded_no_eoi.jpg", d[:-2] + bytes(16), "cjpeg_q10_420.jpg with EOI replaced by 16 zero bytes")

# Data that ends too early: Pillow raises "image file is truncated".
write("truncated_half.jpg", read("cjpeg_q85_411.jpg")[: len(read("cjpeg_q85_411.jpg")) // 2],
      "cjpeg_q85_411.jpg cut in half")
write("truncated_no_eoi.jpg", read("cjpeg_gray_q80.jpg")[:-2], "cjpeg_gray_q80.jpg without its EOI marker")
write("truncated_prog_no_eoi.jpg", read("pil_prog_422.jpg")[:-2], "pil_prog_422.jpg without its EOI marker")

files = []
for name in sorted(os.listdir(out)):
    if not name.endswith(".jpg"):
        continue
    path = os.path.join(out, name)
    entry = {"file": name, "source": sources[name], "bytes": os.path.getsize(path)}
    try:
        im = Image.open(path)
        entry.update(width=im.width, height=im.height, mode=im.mode,
                     orientation=im.getexif().get(0x0112, 0),
                     progressive=bool(im.info.get("progressive", 0)))
        rgb = im.convert("RGB").tobytes()
    except Exception as e:  # noqa: BLE001 - the error is the expectation
        entry["pillow_error"] = "%s: %s" % (type(e).__name__, e)
        files.append(entry)
        continue
    if name.startswith("refused_"):
        entry["refused"] = True
    else:
        entry["expected"] = name[:-4] + ".rgb.gz"
        with open(os.path.join(out, entry["expected"]), "wb") as f:
            f.write(gzip.compress(rgb, 9, mtime=0))
    files.append(entry)

manifest = {
    "description": "JPEG corpus for imageproc/jpeg; expected = PIL.Image.open(f).convert('RGB').tobytes(), gzip",
    "pillow": PIL.__version__,
    "libjpeg_turbo": features.version("jpg"),
    "files": files,
}
with open("corpus.json", "w") as f:
    json.dump(manifest, f, indent=1)
    f.write("\n")
print("%d files, %d bytes" % (len(files), sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))))
