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

// forward runs the layer on x [B, T, D] (contiguous, updated in place);
// row (b, t) is at position pos[b·T+t].
func (l *llamaLayer) forward(m *Model, x *tensor.Tensor, cache *nn.KVCache, mask *tensor.Tensor, pos []int) error {
	c := &m.cfg
	h, err := tensor.RMSNorm(x, l.inNorm, c.RMSNormEps)
	if err != nil {
		return err
	}
	q, k, v := l.q.Forward(h), l.k.Forward(h), l.v.Forward(h)
	tensor.Release(h)
	err = tensor.Rope(q, c.NumHeads, m.invFreq, c.RopeScalingFactor, pos)
	if err == nil {
		err = tensor.Rope(k, c.NumKVHeads, m.invFreq, c.RopeScalingFactor, pos)
	}
	var ka, va *tensor.Tensor
	if err == nil {
		ka, va, err = cache.Append(k, v)
	}
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

	if h, err = tensor.RMSNorm(x, l.postNorm, c.RMSNormEps); err != nil {
		return err
	}
	g := l.gate.ForwardAct(h, m.act)
	u := l.up.Forward(h)
	tensor.Release(h)
	err = tensor.GateInPlace(g, u)
	tensor.Release(u)
	if err == nil {
		l.down.ForwardAdd(g, x)
	}
	tensor.Release(g)
	return err
}
