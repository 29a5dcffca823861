package jpeg

import (
	"bytes"
	"image"
	"image/draw"
	stdjpeg "image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
)

// benchInput is one input set of BenchmarkDecode.
type benchInput struct {
	name  string
	files [][]byte
}

// benchInputs returns the inputs: the parity corpus as one batch (small
// images, where per-image overhead dominates) and, when the shared test
// data is present, its larger JPEGs.
func benchInputs(b *testing.B) []benchInput {
	corpus := benchInput{name: "corpus"}
	for _, e := range loadCorpus(b).Files {
		if e.Expected == "" {
			continue
		}
		d := readCorpusFile(b, e.File)
		if _, err := stdjpeg.Decode(bytes.NewReader(d)); err != nil {
			continue // image/jpeg must decode it too for a fair batch
		}
		corpus.files = append(corpus.files, d)
	}
	out := []benchInput{corpus}
	if root, ok := testdata.Root(); ok {
		for _, name := range []string{"rocket.jpg", "hubble_deep_field.jpg"} {
			if d, err := os.ReadFile(filepath.Join(root, "media", "images", name)); err == nil {
				out = append(out, benchInput{strings.TrimSuffix(name, ".jpg"), [][]byte{d}})
			}
		}
	}
	return out
}

// BenchmarkDecode compares this package with the standard library's
// image/jpeg on the same inputs in the same run. "imagejpeg" is
// image/jpeg's Decode alone (it returns YCbCr planes without color
// conversion or upsampling); "imagejpeg+rgba" adds the conversion to RGBA
// the model pipeline needs (image/draw); "goformer" is Decode, which
// returns upsampled, color-converted RGBA (or Gray).
func BenchmarkDecode(b *testing.B) {
	for _, f := range benchInputs(b) {
		inputs := f.files
		var size int64
		for _, in := range inputs {
			size += int64(len(in))
		}
		for _, d := range []struct {
			name   string
			decode func(in []byte) error
		}{
			{"goformer", func(in []byte) error { _, _, err := (DecodeOptions{}).DecodeBytes(in); return err }},
			{"imagejpeg", func(in []byte) error { _, err := stdjpeg.Decode(bytes.NewReader(in)); return err }},
			{"imagejpeg+rgba", func(in []byte) error {
				img, err := stdjpeg.Decode(bytes.NewReader(in))
				if err == nil {
					toRGBA(img)
				}
				return err
			}},
		} {
			b.Run(f.name+"/"+d.name, func(b *testing.B) {
				b.SetBytes(size)
				b.ReportAllocs()
				for b.Loop() {
					for _, in := range inputs {
						if err := d.decode(in); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}

// toRGBA converts a decoded image to RGBA with the fast paths image/draw
// has for YCbCr and Gray sources.
func toRGBA(img image.Image) *image.RGBA {
	out := image.NewRGBA(img.Bounds())
	draw.Draw(out, out.Rect, img, img.Bounds().Min, draw.Src)
	return out
}
