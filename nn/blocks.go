package nn

import (
	"github.com/goformer/goformer/tensor"
)

// EncoderBlock is a transformer encoder layer. With PreNorm (ViT, CLIP,
// Whisper): x += Attn(LN1(x)); x += MLP(LN2(x)). Without (BERT, wav2vec2
// base): x = LN1(x + Attn(x)); x = LN2(x + MLP(x)).
type EncoderBlock struct {
	PreNorm  bool
	Attn     *Attention
	LN1, LN2 *LayerNorm
	MLP      *MLP
}

// Forward applies the block to x [B, T, D]; opt is passed to self-attention.
func (e *EncoderBlock) Forward(x *tensor.Tensor, opt AttnOptions) *tensor.Tensor {
	if e.PreNorm {
		// The output projections accumulate into the residual stream.
		out := x.Clone()
		e.Attn.selfAdd(e.LN1, x, opt, out)
		mlpAdd(e.MLP, e.LN2, out, out)
		return out
	}
	h := x.Clone()
	e.Attn.selfAdd(nil, x, opt, h)
	e.LN1.inPlace(h)
	x = h
	h = x.Clone()
	mlpAdd(e.MLP, nil, x, h)
	tensor.Release(x)
	e.LN2.inPlace(h)
	return h
}

// DecoderBlock is a transformer decoder layer with causal self-attention,
// optional cross-attention and an MLP. With PreNorm (Whisper, GPT-2):
// x += Self(LN1(x)); x += Cross(LNCross(x)); x += MLP(LN2(x)). Without
// (BERT-style, BLIP): x = LN1(x + Self(x)); x = LNCross(x + Cross(x));
// x = LN2(x + MLP(x)).
type DecoderBlock struct {
	PreNorm   bool
	SelfAttn  *Attention
	CrossAttn *Attention // nil for decoder-only layers
	LN1       *LayerNorm
	LNCross   *LayerNorm
	LN2       *LayerNorm
	MLP       *MLP
}

// DecoderState is the per-call state of one DecoderBlock: its self-attention
// cache and the cross-attention keys/values of the current encoder output.
type DecoderState struct {
	Self  KVCache
	Cross *CrossKV
	// CrossProbs, when non-nil, receives cross-attention probabilities.
	CrossProbs *tensor.Tensor
}

// Release hands the cached keys and values back for reuse (tensor.Release)
// once decoding is done, so that the next session reuses their memory. The
// state is empty afterwards.
func (s *DecoderState) Release() {
	s.Self.Release()
	if s.Cross != nil {
		s.Cross.Release()
		s.Cross = nil
	}
}

// Forward applies the block to x [B, T, D]. selfOpt configures
// self-attention (Causal, Mask, Cache are taken from it, Cache defaulting to
// st.Self when st is non-nil); crossMask masks encoder positions.
func (d *DecoderBlock) Forward(x *tensor.Tensor, st *DecoderState, selfOpt AttnOptions, crossMask *tensor.Tensor) *tensor.Tensor {
	if st != nil && selfOpt.Cache == nil {
		selfOpt.Cache = &st.Self
	}
	crossOpt := AttnOptions{Mask: crossMask}
	if st != nil {
		crossOpt.Probs = st.CrossProbs
	}
	if d.PreNorm {
		out := x.Clone()
		d.SelfAttn.selfAdd(d.LN1, x, selfOpt, out)
		if d.CrossAttn != nil {
			d.CrossAttn.crossAdd(d.LNCross, out, st.Cross, crossOpt, out)
		}
		mlpAdd(d.MLP, d.LN2, out, out)
		return out
	}
	h := x.Clone()
	d.SelfAttn.selfAdd(nil, x, selfOpt, h)
	d.LN1.inPlace(h)
	x = h
	if d.CrossAttn != nil {
		h = x.Clone()
		d.CrossAttn.crossAdd(nil, x, st.Cross, crossOpt, h)
		tensor.Release(x)
		d.LNCross.inPlace(h)
		x = h
	}
	h = x.Clone()
	mlpAdd(d.MLP, nil, x, h)
	tensor.Release(x)
	d.LN2.inPlace(h)
	return h
}

// addTo adds b into a (a freshly computed contiguous tensor).
func addTo(a, b *tensor.Tensor) {
	if err := tensor.AddInPlace(a, b); err != nil {
		panic("nn: " + err.Error())
	}
}

// selfAdd adds self-attention of ln(x) (x itself when ln is nil) into dst,
// releasing the intermediates.
func (a *Attention) selfAdd(ln *LayerNorm, x *tensor.Tensor, opt AttnOptions, dst *tensor.Tensor) {
	in := x
	if ln != nil {
		in = ln.Forward(x)
		defer tensor.Release(in)
	}
	o := a.selfHeads(in, opt)
	defer tensor.Release(o)
	a.O.ForwardAdd(o, dst)
}

// crossAdd adds cross-attention of ln(x) (x when ln is nil) into dst.
func (a *Attention) crossAdd(ln *LayerNorm, x *tensor.Tensor, kv *CrossKV, opt AttnOptions, dst *tensor.Tensor) {
	in := x
	if ln != nil {
		in = ln.Forward(x)
		defer tensor.Release(in)
	}
	o := a.crossHeads(in, kv, opt)
	defer tensor.Release(o)
	a.O.ForwardAdd(o, dst)
}

// mlpAdd adds m(ln(x)) (m(x) when ln is nil) into dst.
func mlpAdd(m *MLP, ln *LayerNorm, x, dst *tensor.Tensor) {
	in := x
	if ln != nil {
		in = ln.Forward(x)
		defer tensor.Release(in)
	}
	m.forwardAdd(in, dst)
}
