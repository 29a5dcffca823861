package imageproc

import (
	"image"
	"sync"
)

// JPEG color conversion as libjpeg(-turbo) performs it when PIL decodes a
// JPEG to RGB: chroma upsampled with the "fancy" triangle filter (the
// library default) and YCbCr converted with 16-bit fixed-point tables. Go's
// image/jpeg leaves chroma subsampled and its color.YCbCrToRGB replicates
// chroma samples and rounds differently; doing the conversion here brings
// decoded JPEG pixels to within the small IDCT differences of PIL's.

const yccScaleBits = 16

var (
	yccOnce        sync.Once
	crRTab, cbBTab [256]int32
	crGTab, cbGTab [256]int32
)

// buildYCCTables fills libjpeg's build_ycc_rgb_table tables.
func buildYCCTables() {
	fix := func(x float64) int32 { return int32(x*(1<<yccScaleBits) + 0.5) }
	const half = int32(1) << (yccScaleBits - 1)
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		crRTab[i] = (fix(1.40200)*x + half) >> yccScaleBits
		cbBTab[i] = (fix(1.77200)*x + half) >> yccScaleBits
		crGTab[i] = -fix(0.71414) * x
		cbGTab[i] = -fix(0.34414)*x + half
	}
}

// yccToRGB converts one sample triple as libjpeg's ycc_rgb_convert.
func yccToRGB(y, cb, cr uint8) (r, g, b uint8) {
	yy := int32(y)
	return clip8(yy + crRTab[cr]),
		clip8(yy + (cbGTab[cb]+crGTab[cr])>>yccScaleBits),
		clip8(yy + cbBTab[cb])
}

// ycbcrToRGB converts a YCbCr image into out (of the same size). Images
// whose rectangle starts at the origin (as decoders return them) get
// libjpeg's fancy upsampling for 4:2:0, 4:2:2 and 4:4:0 chroma; others,
// and the remaining ratios, replicate chroma samples as libjpeg's box
// upsampling does.
func ycbcrToRGB(m *image.YCbCr, out *rgbImage) {
	yccOnce.Do(buildYCCTables)
	w, h := out.w, out.h
	fancy := m.Rect.Min == (image.Point{})
	switch {
	case m.SubsampleRatio == image.YCbCrSubsampleRatio444 || !fancy:
		for y := 0; y < h; y++ {
			o := out.pix[3*w*y:]
			for x := 0; x < w; x++ {
				yi := m.YOffset(m.Rect.Min.X+x, m.Rect.Min.Y+y)
				ci := m.COffset(m.Rect.Min.X+x, m.Rect.Min.Y+y)
				o[3*x], o[3*x+1], o[3*x+2] = yccToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			}
		}
		return
	}
	cw, ch := chromaSize(m.SubsampleRatio, w, h)
	cb := make([]uint8, w)
	cr := make([]uint8, w)
	for y := 0; y < h; y++ {
		upsampleRow(m.SubsampleRatio, m.Cb, m.CStride, cw, ch, y, w, cb)
		upsampleRow(m.SubsampleRatio, m.Cr, m.CStride, cw, ch, y, w, cr)
		yrow := m.Y[y*m.YStride:]
		o := out.pix[3*w*y:]
		for x := 0; x < w; x++ {
			o[3*x], o[3*x+1], o[3*x+2] = yccToRGB(yrow[x], cb[x], cr[x])
		}
	}
}

// chromaSize returns libjpeg's downsampled width and height of a chroma
// component (the image size divided by the sampling factor, rounded up).
func chromaSize(r image.YCbCrSubsampleRatio, w, h int) (cw, ch int) {
	switch r {
	case image.YCbCrSubsampleRatio422:
		return (w + 1) / 2, h
	case image.YCbCrSubsampleRatio420:
		return (w + 1) / 2, (h + 1) / 2
	case image.YCbCrSubsampleRatio440:
		return w, (h + 1) / 2
	case image.YCbCrSubsampleRatio411:
		return (w + 3) / 4, h
	case image.YCbCrSubsampleRatio410:
		return (w + 3) / 4, (h + 1) / 2
	}
	return w, h
}

// upsampleRow writes full-resolution chroma row y (w samples) of a plane
// with cw×ch samples, as libjpeg's h2v1/h2v2/h1v2 fancy upsamplers (or its
// box upsampler where libjpeg uses that: 4:1:1, 4:1:0 and planes at most 2
// samples wide) compute it. Rows beyond the plane repeat its edge rows, as
// libjpeg's context rows do.
func upsampleRow(r image.YCbCrSubsampleRatio, plane []uint8, stride, cw, ch, y, w int, out []uint8) {
	row := func(i int) []uint8 {
		if i < 0 {
			i = 0
		}
		if i > ch-1 {
			i = ch - 1
		}
		return plane[i*stride : i*stride+cw]
	}
	switch {
	case r == image.YCbCrSubsampleRatio422 && cw > 2:
		in := row(y)
		var buf [2]uint8
		for c := 0; c < cw; c++ {
			v := int(in[c])
			switch c {
			case 0:
				buf[0] = uint8(v)
				buf[1] = uint8((v*3 + int(in[1]) + 2) >> 2)
			case cw - 1:
				buf[0] = uint8((v*3 + int(in[c-1]) + 1) >> 2)
				buf[1] = uint8(v)
			default:
				buf[0] = uint8((v*3 + int(in[c-1]) + 1) >> 2)
				buf[1] = uint8((v*3 + int(in[c+1]) + 2) >> 2)
			}
			put2(out, 2*c, w, buf)
		}
	case r == image.YCbCrSubsampleRatio420 && cw > 2:
		near, far := row(y/2), row(y/2-1)
		if y%2 == 1 {
			far = row(y/2 + 1)
		}
		colsum := func(c int) int { return int(near[c])*3 + int(far[c]) }
		var buf [2]uint8
		for c := 0; c < cw; c++ {
			this := colsum(c)
			switch c {
			case 0:
				buf[0] = uint8((this*4 + 8) >> 4)
				buf[1] = uint8((this*3 + colsum(1) + 7) >> 4)
			case cw - 1:
				buf[0] = uint8((this*3 + colsum(c-1) + 8) >> 4)
				buf[1] = uint8((this*4 + 7) >> 4)
			default:
				buf[0] = uint8((this*3 + colsum(c-1) + 8) >> 4)
				buf[1] = uint8((this*3 + colsum(c+1) + 7) >> 4)
			}
			put2(out, 2*c, w, buf)
		}
	case r == image.YCbCrSubsampleRatio440:
		near, far, bias := row(y/2), row(y/2-1), 1
		if y%2 == 1 {
			far, bias = row(y/2+1), 2
		}
		for c := 0; c < w && c < cw; c++ {
			out[c] = uint8((int(near[c])*3 + int(far[c]) + bias) >> 2)
		}
	default: // box: replicate each chroma sample over the pixels it covers
		hs, vs := 1, 1
		switch r {
		case image.YCbCrSubsampleRatio422:
			hs = 2
		case image.YCbCrSubsampleRatio420:
			hs, vs = 2, 2
		case image.YCbCrSubsampleRatio411:
			hs = 4
		case image.YCbCrSubsampleRatio410:
			hs, vs = 4, 2
		}
		in := row(y / vs)
		for x := 0; x < w; x++ {
			out[x] = in[min(x/hs, cw-1)]
		}
	}
}

// put2 stores two upsampled samples at out[i], out[i+1], dropping those
// beyond the image width.
func put2(out []uint8, i, w int, v [2]uint8) {
	if i < w {
		out[i] = v[0]
	}
	if i+1 < w {
		out[i+1] = v[1]
	}
}
