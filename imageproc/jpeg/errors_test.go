package jpeg

import (
	"bytes"
	"errors"
	"image"
	"strings"
	"testing"
	"time"
)

// segments splits a JPEG's header into marker segments up to (excluding)
// the first SOS, returning them and the rest of the file from that SOS.
func segments(tb testing.TB, d []byte) (segs [][]byte, rest []byte) {
	tb.Helper()
	i := 2
	for i+4 <= len(d) {
		if d[i] != 0xff {
			tb.Fatalf("no marker at offset %d", i)
		}
		m := d[i+1]
		if m == mSOS {
			return segs, d[i:]
		}
		n := int(d[i+2])<<8 | int(d[i+3])
		segs = append(segs, d[i:i+2+n])
		i += 2 + n
	}
	tb.Fatal("no SOS")
	return nil, nil
}

// rebuild reassembles SOI + segments + rest.
func rebuild(segs [][]byte, rest []byte) []byte {
	out := []byte{0xff, mSOI}
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, rest...)
}

// patchSegment returns a copy of the file with f applied to a copy of the
// first segment whose marker is m.
func patchSegment(tb testing.TB, d []byte, m byte, f func(seg []byte) []byte) []byte {
	tb.Helper()
	segs, rest := segments(tb, d)
	for i, s := range segs {
		if s[1] == m {
			segs[i] = f(append([]byte(nil), s...))
			return rebuild(segs, rest)
		}
	}
	tb.Fatalf("no marker 0x%02x", m)
	return nil
}

// sentinels are the errors every failure must wrap (one of).
var sentinels = []error{ErrFormat, ErrUnsupported, ErrCorrupt, ErrTruncated, ErrTooLarge}

func checkSentinel(tb testing.TB, err error) {
	tb.Helper()
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		tb.Fatalf("error %q wraps %d of the package's sentinel errors, want exactly 1", err, n)
	}
}

func TestRefusedFeatures(t *testing.T) {
	base := readCorpusFile(t, "cjpeg_q50_444.jpg")
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"12-bit", patchSegment(t, base, mSOF0, func(s []byte) []byte { s[4] = 12; return s }), ErrUnsupported},
		{"16-bit", patchSegment(t, base, mSOF0, func(s []byte) []byte { s[4] = 16; return s }), ErrUnsupported},
		{"lossless SOF3", patchSegment(t, base, mSOF0, func(s []byte) []byte { s[1] = mSOF3; return s }), ErrUnsupported},
		{"arithmetic SOF9", patchSegment(t, base, mSOF0, func(s []byte) []byte { s[1] = mSOF9; return s }), ErrUnsupported},
		{"arithmetic progressive SOF10", patchSegment(t, base, mSOF0, func(s []byte) []byte { s[1] = mSOF10; return s }), ErrUnsupported},
		{"lossless arithmetic SOF11", patchSegment(t, base, mSOF0, func(s []byte) []byte { s[1] = mSOF11; return s }), ErrUnsupported},
		{"hierarchical SOF5", patchSegment(t, base, mSOF0, func(s []byte) []byte { s[1] = mSOF5; return s }), ErrUnsupported},
		{"hierarchical SOF13", patchSegment(t, base, mSOF0, func(s []byte) []byte { s[1] = mSOF13; return s }), ErrUnsupported},
		{"fractional sampling", patchSegment(t, base, mSOF0, func(s []byte) []byte {
			s[11] = 0x31 // Y 3x1
			s[14] = 0x21 // Cb 2x1
			return s
		}), ErrUnsupported},
		{"two components", []byte{0xff, 0xd8, 0xff, 0xc0, 0, 14, 8, 0, 8, 0, 8, 2, 1, 0x11, 0, 2, 0x11, 0, 0xff, 0xd9}, ErrUnsupported},
		{"zero sampling factor", patchSegment(t, base, mSOF0, func(s []byte) []byte { s[11] = 0x01; return s }), ErrCorrupt},
		{"missing quantization table", func() []byte {
			segs, rest := segments(t, base)
			var keep [][]byte
			for _, s := range segs {
				if s[1] != mDQT {
					keep = append(keep, s)
				}
			}
			return rebuild(keep, rest)
		}(), ErrCorrupt},
		{"two SOI", append([]byte{0xff, 0xd8}, base...), ErrCorrupt},
		// Pillow's header parser fails on these (libjpeg would not).
		{"short JFIF segment", append([]byte{0xff, 0xd8, 0xff, 0xe0, 0, 8, 'J', 'F', 'I', 'F', 0, 1}, base[2:]...), ErrCorrupt},
		{"short Adobe segment", append([]byte{0xff, 0xd8, 0xff, 0xee, 0, 8, 'A', 'd', 'o', 'b', 'e', 0}, base[2:]...), ErrCorrupt},
		{"TEM in header", append([]byte{0xff, 0xd8, 0xff, 0x01}, base[2:]...), ErrCorrupt},
		{"not JPEG", []byte("\x89PNG\r\n\x1a\n0000"), ErrFormat},
		{"empty", nil, ErrFormat},
		{"SOI only", []byte{0xff, 0xd8}, ErrFormat},
		{"SOI then junk", []byte{0xff, 0xd8, 0x00, 0xff, 0xd9}, ErrFormat},
		{"too large for JPEG", []byte{0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0xff, 0xf0, 0xff, 0xf0, 1, 1, 0x11, 0, 0xff, 0xd9}, ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := DecodeOptions{}.DecodeBytes(c.data)
			if !errors.Is(err, c.want) {
				t.Fatalf("Decode: got %v, want %v", err, c.want)
			}
			checkSentinel(t, err)
			// DecodeConfig reads only up to the frame header, so it sees the
			// refusals decided there.
			if c.want == ErrUnsupported || c.want == ErrFormat || c.want == ErrTooLarge {
				if _, _, err := (DecodeOptions{}).DecodeConfig(bytes.NewReader(c.data)); !errors.Is(err, c.want) {
					t.Fatalf("DecodeConfig: got %v, want %v", err, c.want)
				}
			}
		})
	}
}

func TestMaxPixels(t *testing.T) {
	data := readCorpusFile(t, "cjpeg_q50_444.jpg") // 80x64
	for _, c := range []struct {
		max  int64
		fail bool
	}{{80*64 - 1, true}, {80 * 64, false}, {-1, false}, {0, false}} {
		_, _, err := DecodeOptions{MaxPixels: c.max}.DecodeBytes(data)
		_, _, cerr := DecodeOptions{MaxPixels: c.max}.DecodeConfig(bytes.NewReader(data))
		if c.fail {
			if !errors.Is(err, ErrTooLarge) || !errors.Is(cerr, ErrTooLarge) {
				t.Errorf("MaxPixels %d: got %v / %v, want ErrTooLarge", c.max, err, cerr)
			}
		} else if err != nil || cerr != nil {
			t.Errorf("MaxPixels %d: %v / %v", c.max, err, cerr)
		}
	}
	// A header declaring 65500x65500 is refused by the default limit before
	// any allocation.
	huge := []byte{0xff, 0xd8, 0xff, 0xc0, 0, 17, 8, 0xff, 0xdc, 0xff, 0xdc, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xff, 0xd9}
	start := time.Now()
	if _, err := Decode(bytes.NewReader(huge)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("huge header: got %v, want ErrTooLarge", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refusing a huge header took %v", d)
	}
}

// TestTruncatedPrefixes decodes every prefix of a few files: each must fail
// with a sentinel error (never panic), almost all with ErrTruncated.
func TestTruncatedPrefixes(t *testing.T) {
	for _, name := range []string{"cjpeg_q75_422.jpg", "cjpeg_prog_restart3B_422.jpg", "cjpeg_gray_prog_restart2.jpg", "pil_exif_orient6.jpg"} {
		data := readCorpusFile(t, name)
		for n := 0; n < len(data)-2; n++ {
			_, _, err := DecodeOptions{}.DecodeBytes(data[:n])
			if err == nil {
				t.Fatalf("%s cut to %d bytes decoded", name, n)
			}
			checkSentinel(t, err)
			if n >= 3 && !errors.Is(err, ErrTruncated) {
				t.Fatalf("%s cut to %d bytes: %v, want ErrTruncated", name, n, err)
			}
		}
	}
}

// TestTablesOnlyPrefix checks an abbreviated table-specification
// datastream before the image (libjpeg, and so Pillow, accept it).
func TestTablesOnlyPrefix(t *testing.T) {
	data := readCorpusFile(t, "cjpeg_q75_422.jpg")
	segs, rest := segments(t, data)
	var tables, keep [][]byte
	for _, s := range segs {
		if s[1] == mDQT || s[1] == mDHT {
			tables = append(tables, s)
		} else {
			keep = append(keep, s)
		}
	}
	abbrev := append(rebuild(tables, []byte{0xff, mEOI}), rebuild(keep, rest)...)
	want, err := Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(bytes.NewReader(abbrev))
	if err != nil {
		t.Fatalf("tables-only prefix: %v", err)
	}
	if !bytes.Equal(got.(*image.RGBA).Pix, want.(*image.RGBA).Pix) {
		t.Fatal("tables-only prefix decodes differently")
	}
}

// TestScanBomb repeats a progressive refinement scan thousands of times:
// the work bound must refuse it quickly.
func TestScanBomb(t *testing.T) {
	data := readCorpusFile(t, "cjpeg_prog_420.jpg")
	last := bytes.LastIndex(data, []byte{0xff, mSOS})
	scan := data[last : len(data)-2]
	bomb := append([]byte(nil), data[:len(data)-2]...)
	for i := 0; i < 5000; i++ {
		bomb = append(bomb, scan...)
	}
	bomb = append(bomb, 0xff, mEOI)
	start := time.Now()
	_, _, err := DecodeOptions{}.DecodeBytes(bomb)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "revisit") {
		t.Fatalf("got %v, want ErrCorrupt from the work bound", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("refusing the scan bomb took %v", d)
	}
}

func TestNilReader(t *testing.T) {
	if _, err := Decode(nil); !errors.Is(err, ErrFormat) {
		t.Fatalf("Decode(nil) = %v", err)
	}
	if _, err := DecodeConfig(nil); !errors.Is(err, ErrFormat) {
		t.Fatalf("DecodeConfig(nil) = %v", err)
	}
}

type failingReader struct{}

var errBoom = errors.New("boom")

func (failingReader) Read([]byte) (int, error) { return 0, errBoom }

func TestReaderError(t *testing.T) {
	if _, err := Decode(failingReader{}); !errors.Is(err, errBoom) {
		t.Fatalf("Decode = %v, want the reader's error", err)
	}
	if _, err := DecodeConfig(failingReader{}); !errors.Is(err, errBoom) {
		t.Fatalf("DecodeConfig = %v, want the reader's error", err)
	}
}

// TestColorSpace checks libjpeg's color space guess on files whose
// encoding is known.
func TestColorSpace(t *testing.T) {
	for file, want := range map[string]string{
		"cjpeg_q50_444.jpg":  "YCbCr",
		"cjpeg_rgb.jpg":      "RGB",
		"cjpeg_gray_q80.jpg": "Gray",
		"libjpeg_cmyk.jpg":   "CMYK",
		"libjpeg_ycck.jpg":   "YCCK",
		"magick_cmyk.jpg":    "YCCK", // ImageMagick keeps libjpeg's default for CMYK input
		"pil_cmyk.jpg":       "CMYK",
		"go_q75.jpg":         "YCbCr",
	} {
		_, md, err := DecodeOptions{}.DecodeBytes(readCorpusFile(t, file))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if md.ColorSpace != want {
			t.Errorf("%s: ColorSpace %q, want %q", file, md.ColorSpace, want)
		}
	}
}
