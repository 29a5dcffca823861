#!/bin/sh
# make_corpus.sh regenerates the JPEG test corpus and its expected outputs.
#
# It needs Debian's encoders and Pillow (the expectations are what
# PIL.Image.open(f).convert("RGB") returns with Debian's python3-pil on
# libjpeg-turbo):
#
#	apt-get install -y python3-pil libjpeg-turbo-progs imagemagick \
#		libimage-exiftool-perl libjpeg62-turbo-dev gcc
#
# Run from this directory: ./make_corpus.sh [media-dir]
# media-dir defaults to the shared test data's media/images. Tests never run
# this script; they read corpus/ and corpus.json.
set -eu
cd "$(dirname "$0")"
MEDIA=${1:-../../../../shared/media/images}
OUT=corpus
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PY=/usr/bin/python3 # Debian's python3-pil, not a virtualenv's Pillow
rm -rf "$OUT"
mkdir -p "$OUT"
: >"$TMP/sources.tsv"

# crop NAME SOURCE GEOMETRY: $TMP/NAME.ppm and $TMP/NAME.png from a crop.
crop() {
	convert "$MEDIA/$2" -crop "$3" +repage -strip "$TMP/$1.png"
	convert "$TMP/$1.png" "$TMP/$1.ppm"
}
# note FILE DESCRIPTION: record how a corpus file was made.
note() { printf '%s\t%s\n' "$1" "$2" >>"$TMP/sources.tsv"; }

crop cat chelsea.png 64x48+150+60
crop coffee coffee.png 80x64+200+150
crop astro astronaut.png 96x72+180+80
crop moto motorcycle_left.png 72x96+300+150
crop cat96 chelsea.png 96x64+120+40
crop coffee48 coffee.png 48x48+260+120
crop astro96 astronaut.png 96x96+160+60
crop astro64 astronaut.png 64x64+200+100
crop moto80 motorcycle_left.png 80x80+250+120
crop cat64 chelsea.png 64x48+100+100
crop cam camera.png 96x96+200+100
crop cam45 camera.png 45x37+100+80
crop coffee90 coffee.png 90x70+150+100
crop odd17 chelsea.png 17x13+160+70
crop odd33 coffee.png 33x1+220+200
crop odd1 astronaut.png 1x1+250+120
crop odd1x33 motorcycle_left.png 1x33+320+200
crop mix50 astronaut.png 50x40+230+150
crop mix41 chelsea.png 41x29+170+90
crop h3 coffee.png 60x30+240+160
crop h4v2 motorcycle_left.png 70x50+280+170
crop rgb40 astronaut.png 40x40+210+90
crop small24 chelsea.png 24x24+180+80

cj() { # cj NAME SRC ARGS...: cjpeg into corpus/NAME.jpg
	name=$1
	src=$2
	shift 2
	cjpeg "$@" "$TMP/$src.ppm" >"$OUT/$name.jpg"
	note "$name.jpg" "cjpeg $*"
}

cj cjpeg_q10_420 cat -quality 10
cj cjpeg_q50_444 coffee -quality 50 -sample 1x1
cj cjpeg_q75_422 astro -quality 75 -sample 2x1
cj cjpeg_q90_440 moto -quality 90 -sample 1x2
cj cjpeg_q85_411 cat96 -quality 85 -sample 4x1
cj cjpeg_q100_420 coffee48 -quality 100
cj cjpeg_prog_420 astro96 -progressive
cj cjpeg_prog_444_q95 astro64 -progressive -sample 1x1 -quality 95
cj cjpeg_restart1_420 moto80 -restart 1 -quality 70
cj cjpeg_prog_restart3B_422 cat64 -progressive -restart 3B -sample 2x1
cj cjpeg_gray_q80 cam -grayscale -quality 80
cj cjpeg_gray_prog_restart2 cam45 -grayscale -progressive -restart 2
cj cjpeg_gray_sample_2x2 cam45 -grayscale -sample 2x2 -quality 85
cj cjpeg_gray_prog_sample_1x2 cam45 -grayscale -progressive -sample 1x2
cj cjpeg_optimize_q60 coffee90 -optimize -quality 60
cj cjpeg_odd_17x13 odd17 -quality 80
cj cjpeg_odd_33x1 odd33 -quality 80
cj cjpeg_odd_1x1 odd1 -quality 80
cj cjpeg_odd_1x33_422 odd1x33 -quality 80 -sample 2x1
cj cjpeg_sample_2x2_1x1_2x1 mix50 -quality 80 -sample 2x2,1x1,2x1
cj cjpeg_sample_2x1_1x2_1x1 mix41 -quality 80 -sample 2x1,1x2,1x1
cj cjpeg_sample_3x1 h3 -quality 80 -sample 3x1
cj cjpeg_sample_4x2 h4v2 -quality 80 -sample 4x2
cj cjpeg_rgb rgb40 -rgb -quality 90
cj cjpeg_dct_float_q70 small24 -dct float -quality 70

printf '0: 0 63 0 0;\n1: 0 63 0 0;\n2: 0 63 0 0;\n' >"$TMP/nonint.txt"
cj cjpeg_noninterleaved astro64 -scans "$TMP/nonint.txt" -quality 80
# Progressive scripts that never send some coefficients to full precision:
# libjpeg smooths those blocks (with DC interpolation when no AC at all).
printf '0,1,2: 0 0 0 0;\n' >"$TMP/dconly.txt"
cj cjpeg_prog_dc_only cat -scans "$TMP/dconly.txt"
printf '0,1,2: 0 0 0 1;\n0: 1 5 0 2;\n0: 1 5 2 1;\n1: 1 63 0 0;\n2: 1 63 0 0;\n0: 6 63 0 1;\n' >"$TMP/partial.txt"
cj cjpeg_prog_partial_ac cat64 -scans "$TMP/partial.txt"

# Motion-JPEG style: no DHT segments, the decoder uses the standard tables
# (cjpeg without -optimize writes exactly those).
cjpeg -quality 75 "$TMP/coffee48.ppm" >"$TMP/dht.jpg"
$PY - "$TMP/dht.jpg" "$OUT/mjpeg_no_dht.jpg" <<'PYEOF'
import sys
d = open(sys.argv[1], "rb").read()
out, i = bytearray(d[:2]), 2
while True:
    m = d[i + 1]
    if m == 0xDA:
        out += d[i:]
        break
    n = int.from_bytes(d[i + 2:i + 4], "big")
    if m != 0xC4:
        out += d[i:i + 2 + n]
    i += 2 + n
open(sys.argv[2], "wb").write(out)
PYEOF
note mjpeg_no_dht.jpg "cjpeg -quality 75, DHT segments removed"

# Refused: arithmetic coding (libjpeg-turbo decodes it, this package does not).
cj refused_arithmetic cat -arithmetic

# ImageMagick.
im() { # im NAME SRC ARGS...
	name=$1
	src=$2
	shift 2
	convert "$TMP/$src.png" "$@" "$OUT/$name.jpg"
	note "$name.jpg" "convert $*"
}
im magick_q70_420 cat64 -quality 70 -sampling-factor 2x2
im magick_q92_422 astro64 -quality 92 -sampling-factor 2x1
im magick_interlace_plane moto80 -quality 80 -interlace Plane
im magick_cmyk coffee48 -colorspace CMYK -quality 85
im magick_gray cam45 -colorspace Gray -quality 75

# libjpeg via a tiny C program: Adobe CMYK and YCCK.
gcc -O2 -o "$TMP/gen_ycck" gen_ycck.c -ljpeg
"$TMP/gen_ycck" "$TMP/mix50.ppm" "$OUT/libjpeg_ycck.jpg" 90 ycck
note libjpeg_ycck.jpg "gen_ycck.c: Adobe YCCK (transform 2), quality 90"
"$TMP/gen_ycck" "$TMP/rgb40.ppm" "$OUT/libjpeg_cmyk.jpg" 80 cmyk
note libjpeg_cmyk.jpg "gen_ycck.c: Adobe CMYK (transform 0), quality 80"

# Go's image/jpeg encoder.
go run gen_go.go "$TMP/astro.png" "$OUT/go_q75.jpg" 75
note go_q75.jpg "Go image/jpeg, quality 75"
go run gen_go.go "$TMP/cam45.png" "$OUT/go_gray_q90.jpg" 90 gray
note go_gray_q90.jpg "Go image/jpeg, Gray, quality 90"

# exiftool: big-endian EXIF with an orientation tag.
cjpeg -quality 80 "$TMP/cat.ppm" >"$OUT/exiftool_orient8.jpg"
exiftool -q -overwrite_original -n -Orientation=8 "$OUT/exiftool_orient8.jpg"
note exiftool_orient8.jpg "cjpeg -quality 80; exiftool -n -Orientation=8"

# Pillow encodings, then damaged files, then every expectation.
$PY make_corpus.py "$TMP" "$OUT"
