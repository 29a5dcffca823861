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
// scale_factor=((gh+0.1)/√N, (gw+0.1)/√N)) (tensor.UpsampleBicubic, on
// pos's device). The 0.1 offset is transformers' (from DINO); PyTorch maps
// coordinates with the given scale factor, not the ratio of sizes, so the
// offset changes the result and is kept here. A new result is the caller's
// to release.
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
	grid, err := pos.Slice(0, 1, 1+n).Reshape(g, g, d)
	if err != nil {
		return nil, err
	}
	up, err := tensor.UpsampleBicubic(grid, oh, ow, sh, sw)
	tensor.Release(grid)
	if err != nil {
		return nil, err
	}
	cls := pos.Slice(0, 0, 1)
	flat := up.MustReshape(oh*ow, d)
	out, err := tensor.Concat(0, cls, flat)
	tensor.Release(cls)
	tensor.Release(flat)
	tensor.Release(up)
	return out, err
}
