package jpeg

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
)

// corpusEntry is one file of testdata/corpus.json (written by
// testdata/make_corpus.py with Debian's Pillow).
type corpusEntry struct {
	File        string `json:"file"`
	Source      string `json:"source"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	Mode        string `json:"mode"`
	Orientation int    `json:"orientation"`
	Progressive bool   `json:"progressive"`
	Expected    string `json:"expected"`
	PillowError string `json:"pillow_error"`
	Refused     bool   `json:"refused"`
}

type corpusManifest struct {
	Pillow       string        `json:"pillow"`
	LibjpegTurbo string        `json:"libjpeg_turbo"`
	Files        []corpusEntry `json:"files"`
}

func loadCorpus(tb testing.TB) corpusManifest {
	tb.Helper()
	var m corpusManifest
	testdata.ReadJSON(tb, filepath.Join("testdata", "corpus.json"), &m)
	if len(m.Files) < 30 {
		tb.Fatalf("corpus manifest lists %d files, want at least 30", len(m.Files))
	}
	return m
}

func readCorpusFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "corpus", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// readExpected reads a gzipped expected-pixels file of the corpus.
func readExpected(tb testing.TB, name string) []byte {
	tb.Helper()
	return testdata.DecodeFile(tb, filepath.Join("testdata", "corpus", name), func(r io.Reader) ([]byte, error) {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	})
}

// rgbBytes flattens a decoded image to the R,G,B bytes PIL's
// convert("RGB").tobytes() gives.
func rgbBytes(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	switch m := img.(type) {
	case *image.Gray:
		out := make([]byte, 0, 3*len(m.Pix))
		for y := 0; y < m.Rect.Dy(); y++ {
			for _, v := range m.Pix[y*m.Stride : y*m.Stride+m.Rect.Dx()] {
				out = append(out, v, v, v)
			}
		}
		return out
	case *image.RGBA:
		out := make([]byte, 0, 3*m.Rect.Dx()*m.Rect.Dy())
		for y := 0; y < m.Rect.Dy(); y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+4*m.Rect.Dx()]
			for x := 0; x < len(row); x += 4 {
				if row[x+3] != 255 {
					tb.Fatalf("pixel (%d,%d) has alpha %d, want opaque", x/4, y, row[x+3])
				}
				out = append(out, row[x], row[x+1], row[x+2])
			}
		}
		return out
	}
	tb.Fatalf("decoded image is %T, want *image.Gray or *image.RGBA", img)
	return nil
}

// firstDiff describes where two RGB buffers of a w-wide image differ.
func firstDiff(got, want []byte, w int) string {
	n, first := 0, -1
	maxd := 0
	for i := range want {
		if i >= len(got) {
			break
		}
		if got[i] != want[i] {
			if first < 0 {
				first = i
			}
			n++
			d := int(got[i]) - int(want[i])
			maxd = max(maxd, d, -d)
		}
	}
	if first < 0 {
		return fmt.Sprintf("lengths %d and %d", len(got), len(want))
	}
	p := first / 3
	return fmt.Sprintf("%d bytes differ (max |diff| %d), first at pixel (%d,%d) channel %d: got %d, want %d",
		n, maxd, p%w, p/w, first%3, got[first], want[first])
}

// TestParity_PillowCorpus decodes every corpus file and requires the bytes
// of PIL.Image.open(f).convert("RGB") exactly, Pillow's refusals as errors
// (truncation as ErrTruncated), and the refused_* files refused with
// ErrUnsupported.
func TestParity_PillowCorpus(t *testing.T) {
	m := loadCorpus(t)
	t.Logf("expectations from Pillow %s with libjpeg-turbo %s", m.Pillow, m.LibjpegTurbo)
	for _, e := range m.Files {
		t.Run(strings.TrimSuffix(e.File, ".jpg"), func(t *testing.T) {
			data := readCorpusFile(t, e.File)
			img, md, err := DecodeOptions{}.DecodeBytes(data)
			switch {
			case e.Refused:
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("got error %v, want ErrUnsupported (%s)", err, e.Source)
				}
				return
			case e.PillowError != "":
				if err == nil {
					t.Fatalf("decoded, but Pillow fails with %q", e.PillowError)
				}
				if strings.Contains(e.PillowError, "truncated") && !errors.Is(err, ErrTruncated) {
					t.Fatalf("got %v, want ErrTruncated (Pillow: %s)", err, e.PillowError)
				}
				return
			case err != nil:
				t.Fatalf("decode: %v (%s)", err, e.Source)
			}
			if b := img.Bounds(); b != image.Rect(0, 0, e.Width, e.Height) {
				t.Fatalf("bounds %v, want %dx%d", b, e.Width, e.Height)
			}
			if _, gray := img.(*image.Gray); gray != (e.Mode == "L") {
				t.Errorf("decoded to %T for Pillow mode %s", img, e.Mode)
			}
			got := rgbBytes(t, img)
			want := readExpected(t, e.Expected)
			if !bytes.Equal(got, want) {
				t.Fatalf("pixels differ from Pillow's (%s): %s", e.Source, firstDiff(got, want, e.Width))
			}
			if md.Orientation != e.Orientation {
				t.Errorf("Orientation %d, Pillow's EXIF orientation is %d", md.Orientation, e.Orientation)
			}
			if md.Progressive != e.Progressive {
				t.Errorf("Progressive %v, Pillow says %v", md.Progressive, e.Progressive)
			}

			// The io.Reader entry point and DecodeConfig agree.
			img2, err := Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !bytes.Equal(rgbBytes(t, img2), want) {
				t.Fatal("Decode(io.Reader) differs from DecodeBytes")
			}
			cfg, cmd, err := DecodeOptions{}.DecodeConfig(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("DecodeConfig: %v", err)
			}
			wantModel := color.RGBAModel
			if e.Mode == "L" {
				wantModel = color.GrayModel
			}
			if cfg.Width != e.Width || cfg.Height != e.Height || cfg.ColorModel != wantModel {
				t.Errorf("DecodeConfig = %dx%d %v, want %dx%d %v", cfg.Width, cfg.Height, cfg.ColorModel, e.Width, e.Height, wantModel)
			}
			if cmd.Orientation != e.Orientation {
				t.Errorf("DecodeConfig orientation %d, want %d", cmd.Orientation, e.Orientation)
			}

			// Strict refuses exactly the damaged files (those libjpeg
			// decodes with warnings).
			simg, _, serr := DecodeOptions{Strict: true}.DecodeBytes(data)
			damaged := strings.HasPrefix(e.File, "damaged_") || strings.HasPrefix(e.File, "padded_")
			if damaged {
				if !errors.Is(serr, ErrCorrupt) {
					t.Errorf("Strict: got %v, want ErrCorrupt", serr)
				}
			} else if serr != nil {
				t.Errorf("Strict: %v", serr)
			} else if !bytes.Equal(rgbBytes(t, simg), want) {
				t.Error("Strict decode differs")
			}
		})
	}
}
