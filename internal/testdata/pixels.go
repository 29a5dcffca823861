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

// CheckPixelValues checks the pixel values preprocess makes of imgs, as
// one batch, against want, a fixture's reference [N, C, H, W] for the same
// images: max|Δ| ≤ tol. It returns them.
func CheckPixelValues[T Tensor[T]](tb testing.TB, imgs []image.Image, preprocess func([]image.Image) (T, error), want T, tol float64) T {
	tb.Helper()
	if len(imgs) != want.Dim(0) {
		tb.Fatalf("%d images, %d in pixel_values", len(imgs), want.Dim(0))
	}
	px, err := preprocess(imgs)
	if err != nil {
		tb.Fatal(err)
	}
	CheckClose(tb, "pixel_values", px, want, tol)
	return px
}
