package imageproc

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"image"
	stdjpeg "image/jpeg"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
)

// TestParity_jpeg runs every vision fixture's processor on JPEG versions of
// the fixture images (testdata/jpegparity, made by make.py with Pillow) and
// requires the pixel values from our JPEG decoder to equal, exactly, those
// from the RGB bytes Pillow decodes the same files to. The processors are
// transformers-exact on decoded pixels (TestParity_<fixture>), so this is
// pixel_values parity with transformers on JPEG input. Go's image/jpeg is
// run beside it to show the test would see the difference.
func TestParity_jpeg(t *testing.T) {
	dir := filepath.Join("testdata", "jpegparity")
	raw, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		File          string
		Width, Height int
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	type input struct {
		name         string
		ours, pillow image.Image
		goDecoded    image.Image
	}
	var inputs []input
	for _, c := range cases {
		data, err := os.ReadFile(filepath.Join(dir, c.File))
		if err != nil {
			t.Fatal(err)
		}
		ours, err := Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", c.File, err)
		}
		f, err := os.Open(filepath.Join(dir, c.File+".rgb.gz"))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		rgb, err := io.ReadAll(zr)
		f.Close()
		if err != nil || len(rgb) != 3*c.Width*c.Height {
			t.Fatalf("%s: %d bytes of Pillow RGB (%v), want %d", c.File, len(rgb), err, 3*c.Width*c.Height)
		}
		pil := image.NewRGBA(image.Rect(0, 0, c.Width, c.Height))
		for i := 0; i < c.Width*c.Height; i++ {
			copy(pil.Pix[4*i:4*i+3], rgb[3*i:3*i+3])
			pil.Pix[4*i+3] = 255
		}
		g, err := stdjpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, input{c.File, ours, pil, g})
	}
	fixtures := []string{"vit", "clip", "blip-caption", "blip-vqa", "vit-gpt2", "blip2", "llava"}
	for _, fx := range fixtures {
		t.Run(fx, func(t *testing.T) {
			p, err := LoadProcessor(filepath.Join(testdata.Fixture(t, fx), "model"))
			if err != nil {
				t.Fatal(err)
			}
			worstGo := 0.0
			for _, in := range inputs {
				want, err := p.Preprocess(in.pillow)
				if err != nil {
					t.Fatal(err)
				}
				got, err := p.Preprocess(in.ours)
				if err != nil {
					t.Fatal(err)
				}
				if d := testdata.TensorDiff(t, in.name, got, want); d != 0 {
					t.Errorf("%s: pixel_values from our JPEG decoder differ from Pillow's by %g", in.name, d)
				}
				viaGo, err := p.Preprocess(in.goDecoded)
				if err != nil {
					t.Fatal(err)
				}
				worstGo = max(worstGo, testdata.TensorDiff(t, in.name, viaGo, want))
			}
			t.Logf("%d JPEGs: max|Δ| pixel_values 0 (Go's image/jpeg would give %.3g)", len(inputs), worstGo)
		})
	}
}
