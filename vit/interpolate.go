package vit

import (
	"fmt"
	"math"

	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// interpolatePosEmbed resizes position embeddings pos [1+N, D] (class token
// first, N a square grid) to a gh×gw patch grid the way transformers'
// ViTEmbeddings.interpolate_pos_encoding does: unchanged when the patch
// count matches and the image is square, else the grid is resized with
// torch.nn.functional.interpolate(mode="bicubic", align_corners=False,
// scale_factor=((gh+0.1)/√N, (gw+0.1)/√N)). The 0.1 offset is transformers'
// (from DINO); PyTorch maps coordinates with the given scale factor, not the
// ratio of sizes, so the offset changes the result and is kept here.
func interpolatePosEmbed(pos *tensor.Tensor, gh, gw int, square bool) (*tensor.Tensor, error) {
	n, d := pos.Dim(0)-1, pos.Dim(1)
	if n == gh*gw && square {
		return pos, nil
	}
	g := int(math.Sqrt(float64(n)))
	if g*g != n {
		return nil, fmt.Errorf("%w: %d position embeddings do not form a square grid", nn.ErrConfig, n)
	}
	sqrtN := math.Sqrt(float64(n))
	sh := (float64(gh) + 0.1) / sqrtN
	sw := (float64(gw) + 0.1) / sqrtN
	oh := int(math.Floor(float64(g) * sh))
	ow := int(math.Floor(float64(g) * sw))
	if oh != gh || ow != gw {
		return nil, fmt.Errorf("%w: interpolated position grid %dx%d, want %dx%d", ErrInput, oh, ow, gh, gw)
	}
	hIdx, hW := cubicTaps(g, oh, sh)
	wIdx, wW := cubicTaps(g, ow, sw)
	src := pos.Data()
	grid := src[d:] // [g, g, D]
	out := tensor.New(1+oh*ow, d)
	od := out.Data()
	copy(od[:d], src[:d])
	tmp := make([]float32, d)
	acc := make([]float32, d)
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			// PyTorch's generic upsampling kernel: for each of the 4 rows,
			// the width taps are summed first, then weighted by the height
			// tap, accumulating in float32.
			for j := 0; j < 4; j++ {
				row := hIdx[4*y+j]
				for k := range tmp {
					tmp[k] = 0
				}
				for i := 0; i < 4; i++ {
					col := wIdx[4*x+i]
					wt := wW[4*x+i]
					s := grid[(row*g+col)*d : (row*g+col+1)*d]
					if i == 0 {
						for k, v := range s {
							tmp[k] = float32(v * wt)
						}
					} else {
						for k, v := range s {
							tmp[k] += float32(v * wt)
						}
					}
				}
				ht := hW[4*y+j]
				if j == 0 {
					for k, v := range tmp {
						acc[k] = float32(v * ht)
					}
				} else {
					for k, v := range tmp {
						acc[k] += float32(v * ht)
					}
				}
			}
			copy(od[(1+y*ow+x)*d:], acc)
		}
	}
	return out, nil
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
