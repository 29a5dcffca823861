package imageproc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/image/bmp"

	"github.com/goformer/goformer/internal/testdata"
)

func readMedia(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(testdata.Path(t, "media", "images", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// checkRGBOf asserts that toRGB(img) equals want(x, y) everywhere.
func checkRGBOf(t *testing.T, img image.Image, want func(x, y int) [3]uint8) {
	t.Helper()
	rgb, err := toRGB(img)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if rgb.w != b.Dx() || rgb.h != b.Dy() {
		t.Fatalf("rgb %dx%d, image %v", rgb.w, rgb.h, b)
	}
	bad := 0
	for y := 0; y < rgb.h; y++ {
		for x := 0; x < rgb.w; x++ {
			got := [3]uint8(rgb.pix[3*(y*rgb.w+x) : 3*(y*rgb.w+x)+3])
			if w := want(b.Min.X+x, b.Min.Y+y); got != w {
				if bad < 5 {
					t.Errorf("pixel (%d,%d) = %v, want %v", x, y, got, w)
				}
				bad++
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d pixels differ", bad)
	}
}

// TestImageModes decodes every kind of image in media/images, checks the
// decoder's color model, the conversion to RGB that PIL's convert("RGB")
// performs for that mode, and that every processor family accepts it.
func TestImageModes(t *testing.T) {
	procs := map[string]*Processor{}
	for _, name := range []string{ViTImageProcessorType, CLIPImageProcessorType, BlipImageProcessorType} {
		p, err := NewProcessor(DefaultProcessorConfig(name))
		if err != nil {
			t.Fatal(err)
		}
		procs[name] = p
	}
	cases := []struct {
		file     string
		w, h     int
		wantType string
		check    func(t *testing.T, img image.Image)
	}{
		{"camera.png", 512, 512, "*image.Gray", checkGray},
		{"page.png", 384, 191, "*image.Gray", checkGray},
		{"palette_color.png", 10, 10, "*image.Paletted", checkPaletted},
		{"logo.png", 500, 500, "*image.NRGBA", checkStraightAlpha},
		{"no_time_for_that_tiny.gif", 14, 25, "*image.Paletted", checkPaletted},
		{"chelsea.png", 451, 300, "*image.RGBA", nil},
		// JPEGs come from the libjpeg-exact decoder as RGB (Pillow's
		// convert("RGB") bytes).
		{"rocket.jpg", 640, 427, "*image.RGBA", nil},
		{"hubble_deep_field.jpg", 1000, 872, "*image.RGBA", nil}, // EXIF orientation 1
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			img, err := Decode(bytes.NewReader(readMedia(t, c.file)))
			if err != nil {
				t.Fatal(err)
			}
			if got := typeName(img); got != c.wantType {
				t.Errorf("decoded as %s, want %s", got, c.wantType)
			}
			if b := img.Bounds(); b.Dx() != c.w || b.Dy() != c.h {
				t.Errorf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), c.w, c.h)
			}
			if c.check != nil {
				c.check(t, img)
			}
			for name, p := range procs {
				px, err := p.Preprocess(img)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				h, w := p.OutputSize(c.w, c.h)
				if s := px.Shape(); !slices.Equal(s, []int{3, h, w}) {
					t.Fatalf("%s: shape %v, want [3 %d %d]", name, s, h, w)
				}
				for _, v := range px.Data() {
					if math.IsNaN(float64(v)) || v < -3 || v > 3 {
						t.Fatalf("%s: pixel value %v out of the normalized range", name, v)
					}
				}
			}
		})
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *image.Gray:
		return "*image.Gray"
	case *image.Paletted:
		return "*image.Paletted"
	case *image.NRGBA:
		return "*image.NRGBA"
	case *image.RGBA:
		return "*image.RGBA"
	case *image.YCbCr:
		return "*image.YCbCr"
	}
	return "other"
}

// checkGray: L → RGB replicates the gray level.
func checkGray(t *testing.T, img image.Image) {
	g := img.(*image.Gray)
	checkRGBOf(t, img, func(x, y int) [3]uint8 {
		v := g.GrayAt(x, y).Y
		return [3]uint8{v, v, v}
	})
}

// checkPaletted: P → RGB looks up the palette.
func checkPaletted(t *testing.T, img image.Image) {
	p := img.(*image.Paletted)
	checkRGBOf(t, img, func(x, y int) [3]uint8 {
		c := color.NRGBAModel.Convert(p.Palette[p.ColorIndexAt(x, y)]).(color.NRGBA)
		return [3]uint8{c.R, c.G, c.B}
	})
}

// checkStraightAlpha: RGBA → RGB drops alpha and keeps the stored color
// (logo.png happens to be opaque; TestConvertModes covers translucency).
func checkStraightAlpha(t *testing.T, img image.Image) {
	m := img.(*image.NRGBA)
	checkRGBOf(t, img, func(x, y int) [3]uint8 {
		c := m.NRGBAAt(x, y)
		return [3]uint8{c.R, c.G, c.B}
	})
}

func TestDecodeTruncatedJPEG(t *testing.T) {
	data := readMedia(t, "truncated.jpg")
	img, err := Decode(bytes.NewReader(data))
	if err == nil {
		t.Fatalf("truncated.jpg decoded to %v", img.Bounds())
	}
	if !errors.Is(err, ErrInvalidImage) {
		t.Errorf("error %v does not wrap ErrInvalidImage", err)
	}
	if !strings.Contains(err.Error(), "JPEG") {
		t.Errorf("error %q does not name the format", err)
	}
	t.Logf("truncated.jpg: %v", err)
	// Every prefix of a valid JPEG fails cleanly too.
	full := readMedia(t, "rocket.jpg")
	for _, n := range []int{0, 1, 2, 3, 10, 100, 1000, len(full) / 2, len(full) - 1} {
		if _, err := Decode(bytes.NewReader(full[:n])); err == nil && n < len(full)/2 {
			t.Errorf("rocket.jpg cut at %d bytes: no error", n)
		}
	}
}

func TestDecodeUnsupported(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("not an image at all"), {0x00, 0x01}} {
		_, err := Decode(bytes.NewReader(data))
		if !errors.Is(err, ErrUnsupportedImage) {
			t.Errorf("%q: error %v, want ErrUnsupportedImage", data, err)
		}
	}
	if _, err := Decode(nil); !errors.Is(err, ErrUnsupportedImage) {
		t.Errorf("nil reader: %v", err)
	}
	if _, err := Decode(errReader{}); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("failing reader: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

func TestDecompressionBomb(t *testing.T) {
	_, err := Decode(bytes.NewReader(testdata.PNGHeader(100000, 100000)))
	if !errors.Is(err, ErrImageTooLarge) {
		t.Fatalf("10^10-pixel PNG header: %v, want ErrImageTooLarge", err)
	}
	t.Log(err)
	// A configurable limit applies to real images too.
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 100, 100)))
	if _, err := (DecodeOptions{MaxPixels: 9999}).Decode(bytes.NewReader(buf.Bytes())); !errors.Is(err, ErrImageTooLarge) {
		t.Errorf("MaxPixels 9999 on 100x100: %v", err)
	}
	if _, err := (DecodeOptions{MaxPixels: 10000}).Decode(bytes.NewReader(buf.Bytes())); err != nil {
		t.Errorf("MaxPixels 10000 on 100x100: %v", err)
	}
	if _, err := (DecodeOptions{MaxBytes: 10}).Decode(bytes.NewReader(buf.Bytes())); !errors.Is(err, ErrImageTooLarge) {
		t.Errorf("MaxBytes 10: %v", err)
	}
	// A header within the limit but no pixel data is an invalid image.
	if _, err := (DecodeOptions{MaxPixels: -1}).Decode(bytes.NewReader(testdata.PNGHeader(100, 100))); !errors.Is(err, ErrInvalidImage) {
		t.Errorf("header-only PNG: %v", err)
	}
}

// withEXIFOrientation inserts an APP1 EXIF segment holding only the
// orientation tag right after the JPEG's SOI marker.
func withEXIFOrientation(jpg []byte, orient uint16, bo binary.ByteOrder) []byte {
	var tiff bytes.Buffer
	if bo == binary.LittleEndian {
		tiff.WriteString("II")
	} else {
		tiff.WriteString("MM")
	}
	binary.Write(&tiff, bo, uint16(42))
	binary.Write(&tiff, bo, uint32(8))
	binary.Write(&tiff, bo, uint16(1))      // one entry
	binary.Write(&tiff, bo, uint16(0x0112)) // Orientation
	binary.Write(&tiff, bo, uint16(3))      // SHORT
	binary.Write(&tiff, bo, uint32(1))
	binary.Write(&tiff, bo, orient)
	binary.Write(&tiff, bo, uint16(0))
	binary.Write(&tiff, bo, uint32(0)) // no next IFD
	seg := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	var out bytes.Buffer
	out.Write(jpg[:2])
	out.Write([]byte{0xff, 0xe1})
	binary.Write(&out, binary.BigEndian, uint16(len(seg)+2))
	out.Write(seg)
	out.Write(jpg[2:])
	return out.Bytes()
}

// TestEXIFOrientation checks all eight EXIF orientations against the
// EXIF definition of each (as PIL's ImageOps.exif_transpose applies them).
func TestEXIFOrientation(t *testing.T) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testdata.Quadrants(), &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	const R, G, B, W = "R", "G", "B", "W"
	// Expected colors at the top-left, top-right, bottom-left and
	// bottom-right of the displayed image.
	want := map[uint16][4]string{
		1: {R, G, B, W},
		2: {G, R, W, B}, // mirrored horizontally
		3: {W, B, G, R}, // rotated 180°
		4: {B, W, R, G}, // mirrored vertically
		5: {R, B, G, W}, // transposed
		6: {B, R, W, G}, // rotated 90° clockwise
		7: {W, G, B, R}, // transversed
		8: {G, W, R, B}, // rotated 90° counter-clockwise
	}
	for orient := uint16(1); orient <= 8; orient++ {
		for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			data := withEXIFOrientation(buf.Bytes(), orient, bo)
			img, err := Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			b := img.Bounds()
			if orient >= 5 && (b.Dx() != 16 || b.Dy() != 32) || orient < 5 && (b.Dx() != 32 || b.Dy() != 16) {
				t.Errorf("orientation %d: size %dx%d", orient, b.Dx(), b.Dy())
				continue
			}
			w, h := b.Dx(), b.Dy()
			pts := [4]image.Point{{w / 4, h / 4}, {3 * w / 4, h / 4}, {w / 4, 3 * h / 4}, {3 * w / 4, 3 * h / 4}}
			for i, p := range pts {
				if got := colorName(img.At(b.Min.X+p.X, b.Min.Y+p.Y)); got != want[orient][i] {
					t.Errorf("orientation %d (%v): corner %d is %s, want %s", orient, bo, i, got, want[orient][i])
				}
			}
			// IgnoreOrientation keeps the stored layout.
			raw, err := DecodeOptions{IgnoreOrientation: true}.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if raw.Bounds().Dx() != 32 || colorName(raw.At(4, 4)) != R {
				t.Errorf("orientation %d with IgnoreOrientation: transposed", orient)
			}
		}
	}
}

func colorName(c color.Color) string {
	r, g, b, _ := c.RGBA()
	hi := func(v uint32) bool { return v > 0x8000 }
	switch {
	case hi(r) && hi(g) && hi(b):
		return "W"
	case hi(r) && !hi(g) && !hi(b):
		return "R"
	case !hi(r) && hi(g) && !hi(b):
		return "G"
	case !hi(r) && !hi(g) && hi(b):
		return "B"
	}
	return "?"
}

// TestConvertModes checks the PIL convert("RGB") rules for color models
// the media files do not cover.
func TestConvertModes(t *testing.T) {
	t.Run("CMYK", func(t *testing.T) {
		m := image.NewCMYK(image.Rect(0, 0, 4, 1))
		vals := []color.CMYK{{0, 0, 0, 0}, {0, 0, 0, 255}, {255, 0, 0, 0}, {128, 10, 250, 64}}
		// Pillow's cmyk2rgb: nk - c*nk/255 with MULDIV255 rounding, nk = 255-k.
		want := [][3]uint8{{255, 255, 255}, {0, 0, 0}, {0, 255, 255}, {95, 184, 4}}
		for i, v := range vals {
			m.SetCMYK(i, 0, v)
		}
		checkRGBOf(t, m, func(x, _ int) [3]uint8 { return want[x] })
	})
	t.Run("Gray16", func(t *testing.T) {
		// PIL's I;16 → RGB clips to 255 rather than scaling.
		m := image.NewGray16(image.Rect(0, 0, 3, 1))
		for i, v := range []uint16{7, 255, 300} {
			m.SetGray16(i, 0, color.Gray16{Y: v})
		}
		want := []uint8{7, 255, 255}
		checkRGBOf(t, m, func(x, _ int) [3]uint8 { return [3]uint8{want[x], want[x], want[x]} })
	})
	t.Run("NRGBA64", func(t *testing.T) {
		m := image.NewNRGBA64(image.Rect(0, 0, 1, 1))
		m.SetNRGBA64(0, 0, color.NRGBA64{0x1234, 0xabcd, 0xff00, 0x10})
		checkRGBOf(t, m, func(_, _ int) [3]uint8 { return [3]uint8{0x12, 0xab, 0xff} })
	})
	t.Run("translucent NRGBA", func(t *testing.T) {
		// PIL's RGBA → RGB drops alpha without compositing: a fully
		// transparent red pixel stays red.
		var buf bytes.Buffer
		m := image.NewNRGBA(image.Rect(0, 0, 2, 1))
		m.SetNRGBA(0, 0, color.NRGBA{255, 0, 0, 0})
		m.SetNRGBA(1, 0, color.NRGBA{10, 200, 30, 77})
		png.Encode(&buf, m)
		img, err := Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		checkRGBOf(t, img, func(x, _ int) [3]uint8 {
			if x == 0 {
				return [3]uint8{255, 0, 0}
			}
			return [3]uint8{10, 200, 30}
		})
	})
	t.Run("premultiplied RGBA", func(t *testing.T) {
		m := image.NewRGBA(image.Rect(0, 0, 2, 1))
		m.SetRGBA(0, 0, color.RGBA{64, 0, 128, 128}) // straight (127, 0, 255)
		m.SetRGBA(1, 0, color.RGBA{10, 20, 30, 255})
		checkRGBOf(t, m, func(x, _ int) [3]uint8 {
			if x == 0 {
				return [3]uint8{127, 0, 255}
			}
			return [3]uint8{10, 20, 30}
		})
	})
	t.Run("sub-image", func(t *testing.T) {
		q := testdata.Quadrants()
		sub := q.SubImage(image.Rect(16, 8, 32, 16))
		checkRGBOf(t, sub, func(_, _ int) [3]uint8 { return [3]uint8{255, 255, 255} })
	})
	t.Run("malformed", func(t *testing.T) {
		bad := &image.Gray{Pix: make([]uint8, 10), Stride: 10, Rect: image.Rect(0, 0, 10, 10)}
		if _, err := toRGB(bad); !errors.Is(err, ErrUnsupportedImage) {
			t.Errorf("short Pix: %v", err)
		}
		pal := image.NewPaletted(image.Rect(0, 0, 2, 2), color.Palette{nil})
		if _, err := toRGB(pal); !errors.Is(err, ErrUnsupportedImage) {
			t.Errorf("nil palette entry: %v", err)
		}
		ycc := image.NewYCbCr(image.Rect(0, 0, 8, 8), image.YCbCrSubsampleRatio420)
		ycc.Cb = make([]uint8, 3)
		if _, err := toRGB(ycc); !errors.Is(err, ErrUnsupportedImage) {
			t.Errorf("short chroma plane: %v", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		if _, err := toRGB(image.NewRGBA(image.Rect(0, 0, 0, 5))); !errors.Is(err, ErrUnsupportedImage) {
			t.Errorf("empty image: %v", err)
		}
		if _, err := toRGB(nil); !errors.Is(err, ErrUnsupportedImage) {
			t.Errorf("nil image: %v", err)
		}
	})
}

func TestDecodeBMP(t *testing.T) {
	var buf bytes.Buffer
	if err := bmp.Encode(&buf, testdata.Quadrants()); err != nil {
		t.Fatal(err)
	}
	img, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	checkRGBOf(t, img, func(x, y int) [3]uint8 {
		c := testdata.Quadrants().RGBAAt(x, y)
		return [3]uint8{c.R, c.G, c.B}
	})
}

// losslessWebP builds a w×h single-color VP8L (lossless WebP) file: five
// one-symbol prefix codes, so the pixels take no bits at all.
func losslessWebP(w, h int, c color.NRGBA) []byte {
	var bits []bool
	put := func(v uint32, n int) {
		for i := 0; i < n; i++ {
			bits = append(bits, v>>i&1 == 1)
		}
	}
	put(uint32(w-1), 14)
	put(uint32(h-1), 14)
	put(0, 1) // alpha_is_used hint
	put(0, 3) // version
	put(0, 1) // no transform
	put(0, 1) // no color cache
	put(0, 1) // no meta prefix codes
	for _, sym := range []uint8{c.G, c.R, c.B, c.A} {
		put(1, 1) // simple code
		put(0, 1) // one symbol
		put(1, 1) // 8-bit symbol
		put(uint32(sym), 8)
	}
	put(1, 1) // distance code: simple,
	put(0, 1) // one symbol,
	put(0, 1) // 1-bit symbol
	put(0, 1) // = 0
	payload := []byte{0x2f}
	for i := 0; i < len(bits); i += 8 {
		var b byte
		for j := 0; j < 8 && i+j < len(bits); j++ {
			if bits[i+j] {
				b |= 1 << j
			}
		}
		payload = append(payload, b)
	}
	if len(payload)%2 == 1 {
		payload = append(payload, 0)
	}
	var out bytes.Buffer
	out.WriteString("RIFF")
	binary.Write(&out, binary.LittleEndian, uint32(4+8+len(payload)))
	out.WriteString("WEBPVP8L")
	binary.Write(&out, binary.LittleEndian, uint32(len(payload)))
	out.Write(payload)
	return out.Bytes()
}

func TestDecodeWebP(t *testing.T) {
	img, err := Decode(bytes.NewReader(losslessWebP(3, 2, color.NRGBA{200, 100, 50, 255})))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 3 || b.Dy() != 2 {
		t.Fatalf("size %v", b)
	}
	checkRGBOf(t, img, func(_, _ int) [3]uint8 { return [3]uint8{200, 100, 50} })
}

// TestDecodeGIF checks that the first frame of an animated GIF is returned
// on the logical screen, outside pixels holding the transparent index, and
// that the transparent entry keeps its palette color (PIL's P → RGB).
func TestDecodeGIF(t *testing.T) {
	pal := color.Palette{color.RGBA{10, 20, 30, 255}, color.RGBA{200, 0, 0, 255}, color.RGBA{0, 0, 200, 255}}
	frame := image.NewPaletted(image.Rect(2, 1, 4, 3), pal)
	for i := range frame.Pix {
		frame.Pix[i] = 1
	}
	frame2 := image.NewPaletted(image.Rect(0, 0, 5, 4), pal)
	anim := &gif.GIF{
		Image:  []*image.Paletted{frame, frame2},
		Delay:  []int{10, 10},
		Config: image.Config{ColorModel: pal, Width: 5, Height: 4},
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, anim); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	// Mark palette index 2 transparent in the first frame's graphic control
	// extension (Go's encoder writes one per frame).
	gce := bytes.Index(data, []byte{0x21, 0xf9, 0x04})
	if gce < 0 {
		t.Fatal("no graphic control extension")
	}
	data[gce+3] |= 1
	data[gce+6] = 2
	img, err := Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b != image.Rect(0, 0, 5, 4) {
		t.Fatalf("bounds %v, want the logical screen", b)
	}
	checkRGBOf(t, img, func(x, y int) [3]uint8 {
		if x >= 2 && x < 4 && y >= 1 && y < 3 {
			return [3]uint8{200, 0, 0}
		}
		return [3]uint8{0, 0, 200} // transparent index 2, with its palette color
	})
}

// FuzzDecode checks that no input makes decoding and preprocessing
// panic, and that a decoded image is either preprocessed or refused as too
// large (an extreme aspect ratio, e.g. 1×15873, whose shortest-edge resize
// would need millions of columns).
func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	png.Encode(&buf, testdata.Quadrants())
	f.Add(buf.Bytes())
	buf.Reset()
	jpeg.Encode(&buf, testdata.Quadrants(), nil)
	f.Add(withEXIFOrientation(buf.Bytes(), 6, binary.BigEndian))
	buf.Reset()
	gif.Encode(&buf, testdata.Quadrants(), nil)
	f.Add(buf.Bytes())
	f.Add(losslessWebP(2, 2, color.NRGBA{1, 2, 3, 4}))
	f.Add(testdata.PNGHeader(3, 3))
	p, err := NewProcessor(DefaultProcessorConfig(CLIPImageProcessorType))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := DecodeOptions{MaxPixels: 1 << 20}.Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		if _, err := p.Preprocess(img); err != nil && !errors.Is(err, ErrImageTooLarge) {
			t.Fatalf("decoded image rejected by Preprocess: %v", err)
		}
	})
}
