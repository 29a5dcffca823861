package tensor

import (
	"fmt"
	"math"
)

// Operations of the decoder-only language models (package llm): Llama's
// RMSNorm, rotary position embeddings and SwiGLU product. Their host
// kernels are the loops the llm package ran on host memory, unchanged.

// RMSNorm returns LlamaRMSNorm(x) as a new contiguous tensor: each row of
// the last dimension divided by √(mean(x²) + eps) and scaled by w (its
// width), x / sqrt(mean(x²) + eps) · w, the mean of squares accumulated in
// float64 (transformers computes it in float32).
func RMSNorm(x, w *Tensor, eps float64) (*Tensor, error) {
	if x == nil || w == nil || x.Rank() < 1 || w.Len() != x.Dim(-1) {
		return nil, fmt.Errorf("%w: RMS norm of %v with weight %v", ErrShape, llmShape(x), llmShape(w))
	}
	if d := dev2(x, w); d != nil {
		return d.be.RMSNorm(x, w, eps)
	}
	d := w.Len()
	out := x.Clone()
	od := out.Data()
	wd := w.Data()
	for r := 0; r+d <= len(od); r += d {
		row := od[r : r+d]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		inv := float32(1 / math.Sqrt(ss/float64(d)+eps))
		for j := range row {
			row[j] = wd[j] * (row[j] * inv)
		}
	}
	return out, nil
}

// Rope applies rotary position embeddings in place to the heads of x [B,
// T, heads·dim] (contiguous), row (b, t) being at position pos[b·T+t]:
// transformers' apply_rotary_pos_emb with rotate_half, the first and
// second halves of each head forming the pairs (x1, x2) → (x1·cos −
// x2·sin, x2·cos + x1·sin), the angle position/scale · invFreq[i] in
// float32 (scale 0 or 1: none; linear rope_scaling otherwise) and its
// cosine and sine in float64. invFreq holds dim/2 inverse frequencies.
func Rope(x *Tensor, heads int, invFreq []float32, scale float64, pos []int) error {
	if x == nil || x.Rank() != 3 || !x.IsContiguous() || heads < 1 || len(invFreq) == 0 ||
		x.Dim(2) != heads*2*len(invFreq) || len(pos) != x.Dim(0)*x.Dim(1) {
		return fmt.Errorf("%w: rotary embedding of %v with %d heads of %d frequencies at %d positions",
			ErrShape, llmShape(x), heads, len(invFreq), len(pos))
	}
	if x.dev != nil {
		return x.dev.be.Rope(x, heads, invFreq, scale, pos)
	}
	b, t, w := x.Dim(0), x.Dim(1), x.Dim(2)
	half := len(invFreq)
	dim := 2 * half
	xd := x.Data()
	cos := make([]float32, half)
	sin := make([]float32, half)
	for bi := 0; bi < b; bi++ {
		for ti := 0; ti < t; ti++ {
			p := float32(pos[bi*t+ti])
			if scale != 0 && scale != 1 {
				p /= float32(scale)
			}
			for i, f := range invFreq {
				a := float64(f * p)
				cos[i] = float32(math.Cos(a))
				sin[i] = float32(math.Sin(a))
			}
			row := xd[(bi*t+ti)*w : (bi*t+ti+1)*w]
			for h := 0; h < heads; h++ {
				hd := row[h*dim : (h+1)*dim]
				for i := 0; i < half; i++ {
					x1, x2 := hd[i], hd[i+half]
					hd[i] = x1*cos[i] - x2*sin[i]
					hd[i+half] = x2*cos[i] + x1*sin[i]
				}
			}
		}
	}
	return nil
}

// GateInPlace multiplies g by u elementwise, in place: the gated product
// of a GLU feed-forward (Llama's act(gate(x)) · up(x)). g must be
// contiguous and u of g's shape.
func GateInPlace(g, u *Tensor) error {
	if g == nil || u == nil || !g.IsContiguous() || !SameShape(g, u) {
		return fmt.Errorf("%w: in-place gate %v *= %v", ErrShape, llmShape(g), llmShape(u))
	}
	if d := dev2(g, u); d != nil {
		return d.be.GateInPlace(g, u)
	}
	gd, ud := g.Data(), u.Data()
	for i := range gd {
		gd[i] *= ud[i]
	}
	return nil
}

// llmShape is t's shape, nil for a nil tensor (for error messages).
func llmShape(t *Tensor) []int {
	if t == nil {
		return nil
	}
	return cloneInts(t.shape)
}

func (c *checkBackend) RMSNorm(x, w *Tensor, eps float64) (*Tensor, error) {
	return c.devErr(RMSNorm(c.host(x), c.host(w), eps))
}

func (c *checkBackend) Rope(x *Tensor, heads int, invFreq []float32, scale float64, pos []int) error {
	return Rope(c.host(x), heads, invFreq, scale, pos)
}

func (c *checkBackend) GateInPlace(g, u *Tensor) error {
	return GateInPlace(c.host(g), c.host(u))
}
