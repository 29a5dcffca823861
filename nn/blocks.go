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
		h := e.Attn.Self(e.LN1.Forward(x), opt)
		x = addNew(x, h)
		h = e.MLP.Forward(e.LN2.Forward(x))
		addTo(x, h)
		return x
	}
	h := e.Attn.Self(x, opt)
	addTo(h, x)
	x = e.LN1.Forward(h)
	h = e.MLP.Forward(x)
	addTo(h, x)
	return e.LN2.Forward(h)
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
		x = addNew(x, d.SelfAttn.Self(d.LN1.Forward(x), selfOpt))
		if d.CrossAttn != nil {
			addTo(x, d.CrossAttn.Cross(d.LNCross.Forward(x), st.Cross, crossOpt))
		}
		addTo(x, d.MLP.Forward(d.LN2.Forward(x)))
		return x
	}
	h := d.SelfAttn.Self(x, selfOpt)
	addTo(h, x)
	x = d.LN1.Forward(h)
	if d.CrossAttn != nil {
		h = d.CrossAttn.Cross(x, st.Cross, crossOpt)
		addTo(h, x)
		x = d.LNCross.Forward(h)
	}
	h = d.MLP.Forward(x)
	addTo(h, x)
	return d.LN2.Forward(h)
}

// addNew returns a+b as a new tensor (a may be a caller's input).
func addNew(a, b *tensor.Tensor) *tensor.Tensor {
	out := a.Clone()
	addTo(out, b)
	return out
}

// addTo adds b into a (a freshly computed contiguous tensor).
func addTo(a, b *tensor.Tensor) {
	if err := tensor.AddInPlace(a, b); err != nil {
		panic("nn: " + err.Error())
	}
}
