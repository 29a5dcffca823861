"""Makes the JPEG versions of the fixture images that imageproc's
TestParity_jpeg decodes, and the bytes Pillow decodes them to.

Run once from this folder with Debian's python3-pil (9.4 on libjpeg-turbo
2.1.5), the shared data at ../../../../shared:

    /usr/bin/python3 make.py ../../../../shared

For every image the fixtures use, a copy shrunk to 128 pixels wide is saved
as JPEG in two encodings (4:2:0 quality 75, progressive 4:4:4 quality 95),
and PIL.Image.open(jpeg).convert("RGB") is stored raw and gzip-compressed
beside it. No Python runs at test time.
"""
import gzip
import json
import os
import sys

from PIL import Image

NAMES = ["chelsea.png", "astronaut.png", "coffee.png", "page.png", "camera.png", "motorcycle_left.png"]


def main():
    shared = sys.argv[1]
    out = []
    for name in NAMES:
        src = Image.open(os.path.join(shared, "media", "images", name)).convert("RGB")
        w = 128
        h = max(1, round(src.height * w / src.width))
        small = src.resize((w, h), Image.BICUBIC)
        base = os.path.splitext(name)[0]
        for tag, kw in [("q75", dict(quality=75, subsampling=2)), ("q95p", dict(quality=95, subsampling=0, progressive=True))]:
            jpg = f"{base}_{tag}.jpg"
            small.save(jpg, "JPEG", **kw)
            rgb = Image.open(jpg).convert("RGB")
            with open(jpg + ".rgb.gz", "wb") as raw:
                with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
                    f.write(rgb.tobytes())
            out.append({"file": jpg, "width": rgb.width, "height": rgb.height})
    with open("cases.json", "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
