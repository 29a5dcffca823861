package tensor

import (
	"fmt"
	"math"
)

// UpsampleBicubic resizes a channels-last grid x [H, W, C] to
// [outH, outW, C] the way PyTorch's
// torch.nn.functional.interpolate(mode="bicubic", align_corners=False,
// scale_factor=(scaleH, scaleW)) does for float32 tensors: the source
// coordinate of output i is (i+0.5)/scale − 0.5 (the given scale factor, not
// the ratio of sizes), cubic convolution with A = −0.75 and clamped taps;
// for each of the four source rows the width taps are summed first, then
// weighted by the row's tap, accumulating in float32. It is how ViT-style
// encoders resize their position embeddings for another input size
// (transformers' interpolate_pos_encoding).
func UpsampleBicubic(x *Tensor, outH, outW int, scaleH, scaleW float64) (*Tensor, error) {
	if x == nil || x.Rank() != 3 || x.Len() == 0 || outH <= 0 || outW <= 0 ||
		!(scaleH > 0) || !(scaleW > 0) || math.IsInf(scaleH, 0) || math.IsInf(scaleW, 0) {
		var s []int
		if x != nil {
			s = cloneInts(x.shape)
		}
		return nil, fmt.Errorf("%w: bicubic resize of %v to %dx%d (scale %g, %g), want a non-empty [H, W, C] grid and positive sizes", ErrShape, s, outH, outW, scaleH, scaleW)
	}
	if d := dev1(x); d != nil {
		return d.be.UpsampleBicubic(x, outH, outW, scaleH, scaleW)
	}
	gh, gw, c := x.shape[0], x.shape[1], x.shape[2]
	hIdx, hW := cubicTaps(gh, outH, scaleH)
	wIdx, wW := cubicTaps(gw, outW, scaleW)
	grid := x.Contiguous().Data()
	out := newUninit(outH, outW, c)
	od := out.data
	tmp := make([]float32, c)
	acc := make([]float32, c)
	for y := 0; y < outH; y++ {
		for xo := 0; xo < outW; xo++ {
			for j := 0; j < 4; j++ {
				row := hIdx[4*y+j]
				for i := 0; i < 4; i++ {
					col := wIdx[4*xo+i]
					wt := wW[4*xo+i]
					scaleInto(tmp, grid[(row*gw+col)*c:(row*gw+col+1)*c], wt, i == 0)
				}
				scaleInto(acc, tmp, hW[4*y+j], j == 0)
			}
			copy(od[(y*outW+xo)*c:], acc)
		}
	}
	return out, nil
}

// scaleInto sets dst to src·w (first) or adds src·w to it, each product
// rounded to float32 before the sum.
func scaleInto(dst, src []float32, w float32, first bool) {
	if first {
		for k, v := range src {
			dst[k] = float32(v * w)
		}
		return
	}
	for k, v := range src {
		dst[k] += float32(v * w)
	}
}

// cubicTaps returns, for each of outSize outputs, the 4 clamped input
// indices and weights of PyTorch's bicubic upsampling (A = -0.75,
// align_corners=False) with the source coordinate
// (i+0.5)·(1/scaleFactor) − 0.5, computed in float32 as PyTorch does for
// float tensors.
func cubicTaps(inSize, outSize int, scaleFactor float64) ([]int, []float32) {
	scale := float32(1.0 / scaleFactor)
	idx := make([]int, 4*outSize)
	wts := make([]float32, 4*outSize)
	for i := 0; i < outSize; i++ {
		real := float32(float64(scale)*(float64(i)+0.5) - 0.5)
		in := int(math.Floor(float64(real)))
		t := real - float32(in)
		c := cubicCoeffs(t)
		for j := 0; j < 4; j++ {
			k := in - 1 + j
			if k > inSize-1 {
				k = inSize - 1
			}
			if k < 0 {
				k = 0
			}
			idx[4*i+j] = k
			wts[4*i+j] = c[j]
		}
	}
	return idx, wts
}

func cubicCoeffs(t float32) [4]float32 {
	const a = float32(-0.75)
	conv1 := func(x float32) float32 { return float32(float32(float32(float32((a+2)*x)-(a+3))*x)*x) + 1 }
	conv2 := func(x float32) float32 {
		return float32(float32(float32(float32(float32(a*x)-5*a)*x)+8*a)*x) - 4*a
	}
	x2 := 1 - t
	return [4]float32{conv2(t + 1), conv1(t), conv1(x2), conv2(x2 + 1)}
}

func (c *checkBackend) UpsampleBicubic(x *Tensor, outH, outW int, scaleH, scaleW float64) (*Tensor, error) {
	return c.devErr(UpsampleBicubic(c.host(x), outH, outW, scaleH, scaleW))
}
