package imageproc

import (
	"bytes"
	"image"
	"image/color"
	stdjpeg "image/jpeg"
	"math"
	"reflect"
	"testing"
)

// TestYCCToRGB checks libjpeg's fixed-point conversion on values worked
// out by hand from its tables (FIX(x) = round(x·2¹⁶), arithmetic shifts).
func TestYCCToRGB(t *testing.T) {
	yccOnce.Do(buildYCCTables)
	for _, c := range []struct{ y, cb, cr, r, g, b uint8 }{
		{128, 128, 128, 128, 128, 128},
		{100, 128, 255, 255, 9, 100}, // R 100+178 clipped, G 100-91
		{200, 0, 128, 200, 244, 0},   // G 200+44, B 200-227 clipped
		{0, 128, 128, 0, 0, 0},
		{255, 128, 128, 255, 255, 255},
	} {
		r, g, b := yccToRGB(c.y, c.cb, c.cr)
		if r != c.r || g != c.g || b != c.b {
			t.Errorf("YCbCr(%d,%d,%d) = (%d,%d,%d), want (%d,%d,%d)", c.y, c.cb, c.cr, r, g, b, c.r, c.g, c.b)
		}
	}
}

// TestFancyUpsampling checks libjpeg's triangle-filter upsampling on a
// 3×2 chroma plane (values worked out by hand from h2v2_fancy_upsample,
// h2v1_fancy_upsample and h1v2_fancy_upsample).
func TestFancyUpsampling(t *testing.T) {
	plane := []uint8{0, 64, 128, 255, 255, 255}
	out := make([]uint8, 6)
	want420 := [][]uint8{{0, 16, 48, 80, 112, 128}, {64, 76, 100, 124, 148, 160}}
	for y, want := range want420 {
		upsampleRow(image.YCbCrSubsampleRatio420, plane, 3, 3, 2, y, 6, out)
		if !reflect.DeepEqual(out, want) {
			t.Errorf("4:2:0 row %d: %v, want %v", y, out, want)
		}
	}
	// The last row's lower neighbor is itself (libjpeg repeats edge rows).
	upsampleRow(image.YCbCrSubsampleRatio420, plane, 3, 3, 2, 3, 6, out)
	if !reflect.DeepEqual(out, []uint8{255, 255, 255, 255, 255, 255}) {
		t.Errorf("4:2:0 row 3: %v", out)
	}
	upsampleRow(image.YCbCrSubsampleRatio422, plane, 3, 3, 2, 0, 5, out[:5])
	if want := []uint8{0, 16, 48, 80, 112}; !reflect.DeepEqual(out[:5], want) {
		t.Errorf("4:2:2 row 0, odd width: %v, want %v", out[:5], want)
	}
	upsampleRow(image.YCbCrSubsampleRatio440, plane, 3, 3, 2, 1, 3, out[:3])
	if want := []uint8{64, 112, 160}; !reflect.DeepEqual(out[:3], want) {
		t.Errorf("4:4:0 row 1: %v, want %v", out[:3], want)
	}
	// Planes of at most 2 samples use box upsampling, as libjpeg does.
	upsampleRow(image.YCbCrSubsampleRatio420, []uint8{10, 20}, 2, 2, 1, 1, 4, out[:4])
	if want := []uint8{10, 10, 20, 20}; !reflect.DeepEqual(out[:4], want) {
		t.Errorf("narrow plane: %v, want %v", out[:4], want)
	}
}

// TestJPEGConversionClose compares the libjpeg-style conversion of a
// *image.YCbCr (what Go's image/jpeg returns; the pipeline's own JPEG
// decoder gives RGB directly) with Go's own: they differ only by the chroma
// filter and rounding, so the mean difference is small while neutral gray
// stays exact.
func TestJPEGConversionClose(t *testing.T) {
	for _, name := range []string{"rocket.jpg", "hubble_deep_field.jpg"} {
		img, err := stdjpeg.Decode(bytes.NewReader(readMedia(t, name)))
		if err != nil {
			t.Fatal(err)
		}
		m := img.(*image.YCbCr)
		rgb, err := toRGB(img)
		if err != nil {
			t.Fatal(err)
		}
		sum, maxd := 0.0, 0.0
		b := m.Bounds()
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				c := color.RGBAModel.Convert(m.At(x, y)).(color.RGBA)
				p := rgb.pix[3*(y*rgb.w+x):]
				for k, v := range []uint8{c.R, c.G, c.B} {
					d := math.Abs(float64(v) - float64(p[k]))
					sum += d
					maxd = math.Max(maxd, d)
				}
			}
		}
		mean := sum / float64(3*b.Dx()*b.Dy())
		t.Logf("%s (%v): libjpeg-style vs Go conversion: mean |Δ| %.3f, max %v", name, m.SubsampleRatio, mean, maxd)
		if mean > 2 {
			t.Errorf("%s: mean difference %.3f is too large for the same decoded planes", name, mean)
		}
	}
	gray := image.NewYCbCr(image.Rect(0, 0, 7, 5), image.YCbCrSubsampleRatio420)
	for i := range gray.Y {
		gray.Y[i] = uint8(i * 7)
	}
	for i := range gray.Cb {
		gray.Cb[i], gray.Cr[i] = 128, 128
	}
	checkRGBOf(t, gray, func(x, y int) [3]uint8 {
		v := gray.Y[y*gray.YStride+x]
		return [3]uint8{v, v, v}
	})
}
