package imageproc

import (
	"fmt"
	"image"
	"image/color"
)

// rgbImage is an 8-bit RGB image with interleaved pixels (r, g, b per
// pixel, rows top to bottom): the equivalent of a PIL "RGB" image.
type rgbImage struct {
	w, h int
	pix  []uint8 // len 3*w*h
}

func newRGB(w, h int) *rgbImage {
	return &rgbImage{w: w, h: h, pix: make([]uint8, 3*w*h)}
}

// toRGB converts img to 8-bit RGB the way PIL's Image.convert("RGB") does for
// the corresponding PIL mode:
//
//   - gray (L): the value is replicated to R, G and B;
//   - 16-bit gray (I;16): values above 255 are clipped to 255 (PIL clips,
//     it does not scale);
//   - paletted (P): the palette entry's RGB, whatever its transparency;
//   - RGBA, LA: the alpha channel is dropped (no compositing), keeping the
//     straight (non-premultiplied) color;
//   - 16-bit RGB(A): the high byte of each sample;
//   - CMYK: Pillow's cmyk2rgb, (255-k) - c*(255-k)/255 with its rounding;
//   - YCbCr (JPEG): libjpeg's fancy chroma upsampling and fixed-point
//     conversion, which PIL's JPEG decoder uses (see ycbcrToRGB).
//
// Premultiplied Go images (image.RGBA, image.RGBA64) are un-premultiplied
// first, so translucent pixels keep their color as in PIL's RGBA mode.
func toRGB(img image.Image) (out *rgbImage, err error) {
	// A malformed image value (pixel slices shorter than its bounds, a nil
	// palette entry) is reported rather than allowed to panic.
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("%w: malformed %T: %v", ErrUnsupportedImage, img, p)
		}
	}()
	if img == nil {
		return nil, fmt.Errorf("%w: nil image", ErrUnsupportedImage)
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("%w: empty image (bounds %v)", ErrUnsupportedImage, b)
	}
	if int64(w)*int64(h) > 1<<31/3 {
		return nil, fmt.Errorf("%w: %dx%d image", ErrImageTooLarge, w, h)
	}
	out = newRGB(w, h)
	p := out.pix
	// rows calls conv with each output row and the bytes of the same row of
	// the image's pixels, which start at pix[off] and are stride apart.
	rows := func(pix []uint8, stride, off int, conv func(o, s []uint8)) {
		for y := 0; y < h; y++ {
			conv(p[3*w*y:3*w*(y+1)], pix[off+y*stride:])
		}
	}
	switch m := img.(type) {
	case *image.Gray:
		rows(m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), func(o, s []uint8) {
			for x := range w {
				o[3*x], o[3*x+1], o[3*x+2] = s[x], s[x], s[x]
			}
		})
	case *image.Gray16:
		rows(m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), func(o, s []uint8) {
			for x := range w {
				v := uint8(255)
				if s[2*x] == 0 {
					v = s[2*x+1]
				}
				o[3*x], o[3*x+1], o[3*x+2] = v, v, v
			}
		})
	case *image.NRGBA:
		rows(m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), func(o, s []uint8) {
			for x := range w {
				o[3*x], o[3*x+1], o[3*x+2] = s[4*x], s[4*x+1], s[4*x+2]
			}
		})
	case *image.NRGBA64:
		rows(m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), func(o, s []uint8) {
			for x := range w {
				o[3*x], o[3*x+1], o[3*x+2] = s[8*x], s[8*x+2], s[8*x+4]
			}
		})
	case *image.RGBA:
		rows(m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), func(o, s []uint8) {
			for x := range w {
				c := s[4*x : 4*x+4]
				if c[3] == 255 {
					o[3*x], o[3*x+1], o[3*x+2] = c[0], c[1], c[2]
				} else {
					n := color.NRGBAModel.Convert(color.RGBA{c[0], c[1], c[2], c[3]}).(color.NRGBA)
					o[3*x], o[3*x+1], o[3*x+2] = n.R, n.G, n.B
				}
			}
		})
	case *image.Paletted:
		var pal [256][3]uint8
		for i, c := range m.Palette {
			if i >= 256 {
				break
			}
			pal[i] = straightRGB(c)
		}
		rows(m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), func(o, s []uint8) {
			for x := range w {
				c := pal[s[x]]
				o[3*x], o[3*x+1], o[3*x+2] = c[0], c[1], c[2]
			}
		})
	case *image.CMYK:
		rows(m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), func(o, s []uint8) {
			for x := range w {
				c := s[4*x : 4*x+4]
				nk := 255 - int(c[3])
				for i := range 3 {
					o[3*x+i] = clip8(nk - mulDiv255(int(c[i]), nk))
				}
			}
		})
	case *image.YCbCr:
		ycbcrToRGB(m, out)
	case *image.NYCbCrA:
		ycbcrToRGB(&m.YCbCr, out)
	default:
		for y := 0; y < h; y++ {
			o := p[3*w*y:]
			for x := 0; x < w; x++ {
				c := straightRGB(img.At(b.Min.X+x, b.Min.Y+y))
				o[3*x], o[3*x+1], o[3*x+2] = c[0], c[1], c[2]
			}
		}
	}
	return out, nil
}

// straightRGB returns the non-premultiplied 8-bit RGB of c, dropping alpha.
func straightRGB(c color.Color) [3]uint8 {
	switch v := c.(type) {
	case color.NRGBA:
		return [3]uint8{v.R, v.G, v.B}
	case color.RGBA:
		if v.A == 255 {
			return [3]uint8{v.R, v.G, v.B}
		}
	case color.Gray:
		return [3]uint8{v.Y, v.Y, v.Y}
	}
	n := color.NRGBA64Model.Convert(c).(color.NRGBA64)
	return [3]uint8{uint8(n.R >> 8), uint8(n.G >> 8), uint8(n.B >> 8)}
}

func mulDiv255(a, b int) int {
	t := a*b + 128
	return ((t >> 8) + t) >> 8
}

// clip8 converts v to uint8, clipping it to [0, 255] (Pillow's clip8,
// libjpeg's range limit).
func clip8[T int | int32](v T) uint8 { return uint8(min(max(v, 0), 255)) }
