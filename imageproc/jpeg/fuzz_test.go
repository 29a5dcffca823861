package jpeg

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode checks on arbitrary input that decoding never panics, that
// every failure wraps exactly one of the package's sentinel errors, that
// DecodeConfig agrees with Decode on what it reports, and that Strict
// decoding either gives the same pixels or ErrCorrupt. Seeds are the whole
// corpus (testdata/corpus) plus the regression inputs in testdata/fuzz.
func FuzzDecode(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "corpus"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".jpg") {
			b, err := os.ReadFile(filepath.Join("testdata", "corpus", e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := DecodeOptions{MaxPixels: 1 << 16}
		img, md, err := opts.DecodeBytes(data)
		cfg, cmd, cerr := opts.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			checkSentinel(t, err)
			if cerr != nil {
				checkSentinel(t, cerr)
			}
			return
		}
		if cerr != nil {
			t.Fatalf("Decode succeeded but DecodeConfig failed: %v", cerr)
		}
		b := img.Bounds()
		if b.Min != (image.Point{}) || b.Dx() != cfg.Width || b.Dy() != cfg.Height || b.Empty() {
			t.Fatalf("bounds %v, DecodeConfig %dx%d", b, cfg.Width, cfg.Height)
		}
		switch img.(type) {
		case *image.Gray:
			if cfg.ColorModel != color.GrayModel {
				t.Fatalf("Gray image, config model %v", cfg.ColorModel)
			}
		case *image.RGBA:
			if cfg.ColorModel != color.RGBAModel {
				t.Fatalf("RGBA image, config model %v", cfg.ColorModel)
			}
		default:
			t.Fatalf("decoded to %T", img)
		}
		if md.Progressive != cmd.Progressive {
			t.Fatalf("Progressive %v, DecodeConfig says %v", md.Progressive, cmd.Progressive)
		}
		simg, _, serr := DecodeOptions{MaxPixels: 1 << 16, Strict: true}.DecodeBytes(data)
		if serr != nil {
			if !errors.Is(serr, ErrCorrupt) {
				t.Fatalf("Strict: %v, want ErrCorrupt", serr)
			}
			return
		}
		if !bytes.Equal(pixBytes(simg), pixBytes(img)) {
			t.Fatal("Strict decode gives other pixels")
		}
	})
}

func pixBytes(img image.Image) []byte {
	switch m := img.(type) {
	case *image.Gray:
		return m.Pix
	case *image.RGBA:
		return m.Pix
	}
	return nil
}
