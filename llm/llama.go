package llm

import (
	"math"

	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// llamaLayer is one LlamaDecoderLayer: x += o(attn(rope(q(n1(x))),
// rope(k(n1(x))), v(n1(x)))); x += down(act(gate(n2(x))) · up(n2(x))),
// n1 and n2 RMSNorms.
type llamaLayer struct {
	q, k, v, o       *nn.Linear
	gate, up, down   *nn.Linear
	inNorm, postNorm *tensor.Tensor
}

// rmsNorm returns LlamaRMSNorm(x) [.., D]: x / sqrt(mean(x²) + eps) · w,
// the mean accumulated in float64 (transformers computes it in float32).
func rmsNorm(x, w *tensor.Tensor, eps float64) *tensor.Tensor {
	d := w.Dim(0)
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
	return out
}

// ropeInvFreq returns the rotary inverse frequencies as transformers v4.40
// computes them in float32: 1 / base^(2i/dim).
func ropeInvFreq(dim int, base float64) []float32 {
	inv := make([]float32, dim/2)
	b := float64(float32(base))
	for i := range inv {
		e := float32(2*i) / float32(dim)
		p := float32(math.Pow(b, float64(e)))
		inv[i] = float32(1 / float64(p))
	}
	return inv
}

// rope rotates, in place, the heads of x [B, T, heads·dim] (contiguous):
// row (b, t) is at position pos(b, t). It is transformers'
// apply_rotary_pos_emb with rotate_half: the first and second halves of
// each head form the pairs (x1, x2) → (x1·cos − x2·sin, x2·cos + x1·sin),
// angle = position · invFreq[i] in float32.
func rope(x *tensor.Tensor, heads int, invFreq []float32, scale float64, pos func(b, t int) int) {
	b, t, w := x.Dim(0), x.Dim(1), x.Dim(2)
	half := len(invFreq)
	dim := 2 * half
	xd := x.Data()
	cos := make([]float32, half)
	sin := make([]float32, half)
	for bi := 0; bi < b; bi++ {
		for ti := 0; ti < t; ti++ {
			p := float32(pos(bi, ti))
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
}

// forward runs the layer on x [B, T, D] (contiguous, updated in place).
func (l *llamaLayer) forward(m *Model, x *tensor.Tensor, cache *nn.KVCache, mask *tensor.Tensor, pos func(b, t int) int) error {
	c := &m.cfg
	h := rmsNorm(x, l.inNorm, c.RMSNormEps)
	q, k, v := l.q.Forward(h), l.k.Forward(h), l.v.Forward(h)
	tensor.Release(h)
	rope(q, c.NumHeads, m.invFreq, c.RopeScalingFactor, pos)
	rope(k, c.NumKVHeads, m.invFreq, c.RopeScalingFactor, pos)
	ka, va, err := cache.Append(k, v)
	tensor.Release(k)
	tensor.Release(v)
	if err != nil {
		tensor.Release(q)
		return err
	}
	o, err := tensor.Attention(q, ka, va, tensor.AttentionOptions{
		Heads: c.NumHeads, KVHeads: c.NumKVHeads, Causal: true, Mask: mask,
	})
	tensor.Release(q)
	tensor.Release(ka)
	tensor.Release(va)
	if err != nil {
		return err
	}
	l.o.ForwardAdd(o, x)
	tensor.Release(o)

	h = rmsNorm(x, l.postNorm, c.RMSNormEps)
	g := l.gate.ForwardAct(h, m.act)
	u := l.up.Forward(h)
	tensor.Release(h)
	gd, ud := g.Data(), u.Data()
	for i := range gd {
		gd[i] *= ud[i]
	}
	tensor.Release(u)
	l.down.ForwardAdd(g, x)
	tensor.Release(g)
	return nil
}
