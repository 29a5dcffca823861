package imageproc

import (
	"fmt"
	"math"
)

// Resample is a resampling filter, numbered as PIL's Image.Resampling enum
// (the "resample" field of preprocessor_config.json).
type Resample int

// The PIL resampling filters.
const (
	Nearest  Resample = 0
	Lanczos  Resample = 1
	Bilinear Resample = 2
	Bicubic  Resample = 3
	Box      Resample = 4
	Hamming  Resample = 5
)

// resampleNames are PIL's names of the filters, by value.
var resampleNames = [...]string{Nearest: "NEAREST", Lanczos: "LANCZOS", Bilinear: "BILINEAR", Bicubic: "BICUBIC", Box: "BOX", Hamming: "HAMMING"}

// String returns PIL's name of the filter.
func (r Resample) String() string {
	if r.valid() {
		return resampleNames[r]
	}
	return fmt.Sprintf("Resample(%d)", int(r))
}

// valid reports whether r is one of the PIL filters.
func (r Resample) valid() bool { return r >= Nearest && r <= Hamming }

// resampleFilter is one of Pillow's convolution kernels and its support
// (half-width) at scale 1.
type resampleFilter struct {
	f       func(x float64) float64
	support float64
}

func boxFilter(x float64) float64 {
	if x > -0.5 && x <= 0.5 {
		return 1
	}
	return 0
}

func bilinearFilter(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

// Pillow writes the Hamming window's constants as C float literals.
var hammingA, hammingB = float64(float32(0.54)), float64(float32(0.46))

func hammingFilter(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x == 0 {
		return 1
	}
	if x >= 1 {
		return 0
	}
	x *= math.Pi
	return math.Sin(x) / x * (hammingA + hammingB*math.Cos(x))
}

// bicubicFilter is the Keys cubic convolution kernel with a = -0.5.
func bicubicFilter(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return ((a+2)*x-(a+3))*x*x + 1
	}
	if x < 2 {
		return (((x-5)*x+8)*x - 4) * a
	}
	return 0
}

func sincFilter(x float64) float64 {
	if x == 0 {
		return 1
	}
	x *= math.Pi
	return math.Sin(x) / x
}

func lanczosFilter(x float64) float64 {
	if -3 <= x && x < 3 {
		return sincFilter(x) * sincFilter(x/3)
	}
	return 0
}

func filterFor(r Resample) (resampleFilter, bool) {
	switch r {
	case Box:
		return resampleFilter{boxFilter, 0.5}, true
	case Bilinear:
		return resampleFilter{bilinearFilter, 1}, true
	case Hamming:
		return resampleFilter{hammingFilter, 1}, true
	case Bicubic:
		return resampleFilter{bicubicFilter, 2}, true
	case Lanczos:
		return resampleFilter{lanczosFilter, 3}, true
	}
	return resampleFilter{}, false
}

// precisionBits is Pillow's fixed-point precision for 8-bit images: 32 bits
// less 8 for the result and 2 for overflow of kernels with negative lobes.
const precisionBits = 32 - 8 - 2

// precomputeCoeffs computes, as Pillow's precompute_coeffs does, for every
// output sample along one axis the first input index, the number of inputs
// and the normalized kernel weights, converted to Pillow's 22-bit fixed point
// (normalize_coeffs_8bpc). On downscaling the kernel is stretched by the scale
// factor (antialiasing). in0 and in1 delimit the source box.
func precomputeCoeffs(inSize int, in0, in1 float32, outSize int, fl resampleFilter) (ksize int, bounds []int, kk []int32) {
	scale := float64(in1-in0) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := fl.support * filterscale
	ksize = int(math.Ceil(support))*2 + 1
	bounds = make([]int, 2*outSize)
	kk = make([]int32, outSize*ksize)
	w := make([]float64, ksize)
	for xx := 0; xx < outSize; xx++ {
		center := float64(in0) + (float64(xx)+0.5)*scale
		ww := 0.0
		ss := 1.0 / filterscale
		xmin := int(center - support + 0.5) // C truncation toward zero
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		if xmax > ksize { // cannot happen for valid filters; keep slices in range
			xmax = ksize
		}
		if xmax < 0 {
			xmax = 0
		}
		for x := 0; x < xmax; x++ {
			v := fl.f((float64(x+xmin) - center + 0.5) * ss)
			w[x] = v
			ww += v
		}
		k := kk[xx*ksize : (xx+1)*ksize]
		for x := 0; x < xmax; x++ {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				k[x] = int32(-0.5 + v*(1<<precisionBits))
			} else {
				k[x] = int32(0.5 + v*(1<<precisionBits))
			}
		}
		bounds[2*xx] = xmin
		bounds[2*xx+1] = xmax
	}
	return ksize, bounds, kk
}

// clipFixed converts an accumulated fixed-point sample to uint8 with
// clipping, like Pillow's clip8.
func clipFixed(ss int32) uint8 { return clip8(ss >> precisionBits) }

// resizeRGB resizes an RGB image to w×h exactly as Pillow's Image.resize
// does for an 8-bit RGB image with the given filter and the default box
// (the whole image) and no reducing_gap.
func resizeRGB(src *rgbImage, w, h int, r Resample) (*rgbImage, error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("%w: resize to %dx%d", ErrUnsupportedImage, w, h)
	}
	if int64(w)*int64(h) > 1<<31/3 {
		return nil, fmt.Errorf("%w: resize to %dx%d", ErrImageTooLarge, w, h)
	}
	if w == src.w && h == src.h {
		out := newRGB(w, h)
		copy(out.pix, src.pix)
		return out, nil
	}
	if r == Nearest {
		return resizeNearest(src, w, h), nil
	}
	fl, ok := filterFor(r)
	if !ok {
		return nil, fmt.Errorf("%w: resampling filter %d", ErrUnsupportedImage, int(r))
	}
	needH := w != src.w
	needV := h != src.h

	ksizeV, boundsV, kkV := precomputeCoeffs(src.h, 0, float32(src.h), h, fl)
	cur := src
	if needH {
		// Only the rows the vertical pass reads are resampled horizontally.
		first := boundsV[0]
		last := boundsV[2*h-2] + boundsV[2*h-1]
		for i := 0; i < h; i++ {
			boundsV[2*i] -= first
		}
		ksizeH, boundsH, kkH := precomputeCoeffs(src.w, 0, float32(src.w), w, fl)
		tmp := newRGB(w, last-first)
		resampleHorizontal(tmp, src, first, ksizeH, boundsH, kkH)
		cur = tmp
	}
	if needV {
		out := newRGB(cur.w, h)
		resampleVertical(out, cur, ksizeV, boundsV, kkV)
		cur = out
	}
	return cur, nil
}

// resampleHorizontal is Pillow's ImagingResampleHorizontal_8bpc for 3 bands:
// out row y is computed from in row y+offset.
func resampleHorizontal(out, in *rgbImage, offset, ksize int, bounds []int, kk []int32) {
	const half = int32(1) << (precisionBits - 1)
	for yy := 0; yy < out.h; yy++ {
		row := in.pix[3*in.w*(yy+offset) : 3*in.w*(yy+offset+1)]
		o := out.pix[3*out.w*yy:]
		for xx := 0; xx < out.w; xx++ {
			xmin, xmax := bounds[2*xx], bounds[2*xx+1]
			k := kk[xx*ksize : xx*ksize+xmax]
			s := row[3*xmin : 3*(xmin+xmax)]
			ss0, ss1, ss2 := half, half, half
			for x, c := range k {
				ss0 += int32(s[3*x]) * c
				ss1 += int32(s[3*x+1]) * c
				ss2 += int32(s[3*x+2]) * c
			}
			o[3*xx], o[3*xx+1], o[3*xx+2] = clipFixed(ss0), clipFixed(ss1), clipFixed(ss2)
		}
	}
}

// resampleVertical is Pillow's ImagingResampleVertical_8bpc for 3 bands.
func resampleVertical(out, in *rgbImage, ksize int, bounds []int, kk []int32) {
	const half = int32(1) << (precisionBits - 1)
	stride := 3 * in.w
	acc := make([]int32, stride)
	for yy := 0; yy < out.h; yy++ {
		ymin, ymax := bounds[2*yy], bounds[2*yy+1]
		k := kk[yy*ksize : yy*ksize+ymax]
		for i := range acc {
			acc[i] = half
		}
		for y, c := range k {
			row := in.pix[stride*(y+ymin) : stride*(y+ymin+1)]
			for i, v := range row {
				acc[i] += int32(v) * c
			}
		}
		o := out.pix[stride*yy : stride*(yy+1)]
		for i, v := range acc {
			o[i] = clipFixed(v)
		}
	}
}

// resizeNearest is Pillow's NEAREST resize: an affine scaling that samples
// the source pixel under each output pixel's center (ImagingScaleAffine),
// with the coordinates accumulated in double precision as Pillow does.
func resizeNearest(src *rgbImage, w, h int) *rgbImage {
	out := newRGB(w, h)
	ax := float64(src.w) / float64(w)
	ay := float64(src.h) / float64(h)
	xin := make([]int, w)
	xo := ax * 0.5
	for x := 0; x < w; x++ {
		xin[x] = coord(xo)
		xo += ax
	}
	yo := ay * 0.5
	for y := 0; y < h; y++ {
		yi := coord(yo)
		yo += ay
		if yi < 0 || yi >= src.h {
			continue
		}
		row := src.pix[3*src.w*yi:]
		o := out.pix[3*w*y:]
		for x, xi := range xin {
			if xi < 0 || xi >= src.w {
				continue
			}
			o[3*x], o[3*x+1], o[3*x+2] = row[3*xi], row[3*xi+1], row[3*xi+2]
		}
	}
	return out
}

func coord(v float64) int {
	if v < 0 {
		return -1
	}
	return int(v)
}
