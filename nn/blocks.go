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
		e.Attn.O.ForwardAdd(e.Attn.selfHeads(e.LN1.Forward(x), opt), out)
		e.MLP.forwardAdd(e.LN2.Forward(out), out)
		return out
	}
	h := x.Clone()
	e.Attn.O.ForwardAdd(e.Attn.selfHeads(x, opt), h)
	e.LN1.inPlace(h)
	x = h
	h = x.Clone()
	e.MLP.forwardAdd(x, h)
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
		d.SelfAttn.O.ForwardAdd(d.SelfAttn.selfHeads(d.LN1.Forward(x), selfOpt), out)
		if d.CrossAttn != nil {
			d.CrossAttn.O.ForwardAdd(d.CrossAttn.crossHeads(d.LNCross.Forward(out), st.Cross, crossOpt), out)
		}
		d.MLP.forwardAdd(d.LN2.Forward(out), out)
		return out
	}
	h := x.Clone()
	d.SelfAttn.O.ForwardAdd(d.SelfAttn.selfHeads(x, selfOpt), h)
	d.LN1.inPlace(h)
	x = h
	if d.CrossAttn != nil {
		h = x.Clone()
		d.CrossAttn.O.ForwardAdd(d.CrossAttn.crossHeads(x, st.Cross, crossOpt), h)
		d.LNCross.inPlace(h)
		x = h
	}
	h = x.Clone()
	d.MLP.forwardAdd(x, h)
	d.LN2.inPlace(h)
	return h
}

// addTo adds b into a (a freshly computed contiguous tensor).
func addTo(a, b *tensor.Tensor) {
	if err := tensor.AddInPlace(a, b); err != nil {
		panic("nn: " + err.Error())
	}
}
