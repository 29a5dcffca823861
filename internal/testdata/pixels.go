package testdata

import (
	"image"
	"slices"
	"testing"
)

// SamePixels fails tb unless got and want, two ways of preprocessing
// images (a model's and its processor's), give exactly the same pixel
// values for imgs.
func SamePixels[T Tensor[T]](tb testing.TB, what string, imgs []image.Image, got, want func([]image.Image) (T, error)) {
	tb.Helper()
	g, err := got(imgs)
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	w, err := want(imgs)
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	if !slices.Equal(g.Shape(), w.Shape()) || !slices.Equal(g.Contiguous().Data(), w.Contiguous().Data()) {
		tb.Errorf("%s: pixel values %v differ from its processor's %v", what, g.Shape(), w.Shape())
	}
}
