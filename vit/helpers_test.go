package vit

import (
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// loadImageFile decodes an image of the shared media directory.
func loadImageFile(t testing.TB, name string) image.Image {
	t.Helper()
	f, err := os.Open(testdata.Path(t, "media", "images", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := imageproc.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return img
}

// readExpected returns a tensor of a fixture's expected.safetensors.
func readExpected(t testing.TB, fixture, name string) *tensor.Tensor {
	t.Helper()
	s, err := checkpoint.OpenSafetensors(filepath.Join(testdata.Fixture(t, fixture), "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x, err := s.Tensor(name)
	if err != nil {
		t.Fatalf("%s %s: %v", fixture, name, err)
	}
	return x.Clone()
}

// maxAbsDiff returns max|a-b| and the flat index where it occurs, or +Inf
// when the lengths differ.
func maxAbsDiff(a, b []float32) (float64, int) {
	if len(a) != len(b) {
		return math.Inf(1), -1
	}
	m, at := 0.0, 0
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if d > m || math.IsNaN(d) {
			m, at = d, i
		}
	}
	return m, at
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// quadrants returns a 32×16 image with red, green, blue and white quadrants
// (top-left, top-right, bottom-left, bottom-right).
func quadrants() *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, 32, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 32; x++ {
			c := [4]color.RGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}, {255, 255, 255, 255}}[(y/8)*2+x/16]
			m.SetRGBA(x, y, c)
		}
	}
	return m
}
