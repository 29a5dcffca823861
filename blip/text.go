package blip

import (
	"context"
	"fmt"
	"math"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// textModel is BLIP's BERT-style text model (BlipTextModel): word and
// absolute position embeddings with a LayerNorm, then post-LN layers of
// self-attention, cross-attention to an encoder output, and an MLP. The
// caption/answer decoder (text_decoder) runs it causally with an LM head;
// the question encoder (text_encoder) runs it bidirectionally without one.
type textModel struct {
	cfg    TextConfig
	dev    *tensor.Device // where the weights live and the model computes
	words  *tensor.Tensor // [V, D] on dev
	pos    *tensor.Tensor // [P, D] on dev
	embLN  *nn.LayerNorm
	layers []*nn.DecoderBlock
	head   *lmHead // nil for the question encoder
}

// lmHead is BlipTextOnlyMLMHead: dense + activation + LayerNorm, then the
// vocabulary projection with its bias.
type lmHead struct {
	dense *nn.Linear
	act   func(float32) float32
	ln    *nn.LayerNorm
	dec   *nn.Linear
}

// newTextModel builds a text model from weights in the BlipTextModel layout
// (embeddings.*, encoder.layer.N.*) under w; head, when non-nil, is the
// weights view of the "cls" prediction head.
func newTextModel(w checkpoint.Weights, head *checkpoint.Weights, cfg TextConfig) (*textModel, error) {
	act, err := tensor.Activation(cfg.HiddenAct)
	if err != nil {
		return nil, fmt.Errorf("%w: text_config.hidden_act: %v", nn.ErrConfig, err)
	}
	d, eps := cfg.HiddenSize, float32(cfg.LayerNormEps)
	emb := w.Sub("embeddings")
	m := &textModel{
		cfg:   cfg,
		dev:   w.Device(),
		words: emb.Upload("word_embeddings.weight", cfg.VocabSize, d),
		pos:   emb.Upload("position_embeddings.weight", cfg.MaxPositionEmbeddings, d),
		embLN: nn.NewLayerNorm(emb.Sub("LayerNorm"), d, eps),
	}
	attn := func(a checkpoint.Weights, kvIn int) *nn.Attention {
		return nn.NewBERTAttention(a, "self", d, kvIn, cfg.NumAttentionHeads)
	}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		lw := w.Subf("encoder.layer.%d", i)
		m.layers = append(m.layers, &nn.DecoderBlock{
			// Self-attention's Q, K and V are packed side by side at load.
			SelfAttn:  attn(lw.Sub("attention"), d).FuseQKV(),
			CrossAttn: attn(lw.Sub("crossattention"), cfg.EncoderHiddenSize),
			LN1:       nn.NewLayerNorm(lw.Sub("attention.output.LayerNorm"), d, eps),
			LNCross:   nn.NewLayerNorm(lw.Sub("crossattention.output.LayerNorm"), d, eps),
			LN2:       nn.NewLayerNorm(lw.Sub("output.LayerNorm"), d, eps),
			MLP:       nn.NewMLP(lw.Sub("intermediate.dense"), lw.Sub("output.dense"), d, cfg.IntermediateSize, true, act),
		})
	}
	if head != nil {
		p := head.Sub("predictions")
		h := &lmHead{
			dense: nn.NewLinear(p.Sub("transform.dense"), d, d, true),
			act:   act,
			ln:    nn.NewLayerNorm(p.Sub("transform.LayerNorm"), d, eps),
		}
		// The decoder weight is stored in published checkpoints; it is tied
		// to the word embeddings, which stand in when it is absent.
		if p.Has("decoder.weight") {
			h.dec = nn.NewLinear(p.Sub("decoder"), d, cfg.VocabSize, false)
		} else {
			h.dec = nn.NewLinear(emb.Sub("word_embeddings"), d, cfg.VocabSize, false)
		}
		// The bias is "predictions.bias" (aliased as decoder.bias).
		if p.Has("bias") {
			h.dec.B = p.Upload("bias", cfg.VocabSize)
		} else {
			h.dec.B = p.Upload("decoder.bias", cfg.VocabSize)
		}
		m.head = h
	}
	return m, nil
}

// embed returns the embeddings [B, T, D] of rows of token ids (all the
// same length) whose first token sits at position past: the rows of the
// word embeddings plus the position embeddings, layer-normalised.
func (m *textModel) embed(ids [][]int, past int) (*tensor.Tensor, error) {
	b := len(ids)
	if b == 0 || len(ids[0]) == 0 {
		return nil, fmt.Errorf("%w: no tokens to embed", ErrInput)
	}
	t, d := len(ids[0]), m.cfg.HiddenSize
	if past+t > m.cfg.MaxPositionEmbeddings {
		return nil, fmt.Errorf("%w: %d tokens exceed the text model's %d positions", ErrInput, past+t, m.cfg.MaxPositionEmbeddings)
	}
	flat := make([]int, 0, b*t)
	for _, row := range ids {
		if len(row) != t {
			return nil, fmt.Errorf("%w: token rows of different lengths (%d and %d)", ErrInput, t, len(row))
		}
		for _, id := range row {
			if id < 0 || id >= m.cfg.VocabSize {
				return nil, fmt.Errorf("%w: token id %d outside the vocabulary (%d)", ErrInput, id, m.cfg.VocabSize)
			}
		}
		flat = append(flat, row...)
	}
	w, err := tensor.Gather(m.words, flat)
	if err != nil {
		return nil, err
	}
	w3 := w.MustReshape(b, t, d)
	pos := m.pos.Slice(0, past, past+t)
	x, err := tensor.Add(w3, pos) // [B, T, D] + [T, D]
	tensor.Release(pos)
	tensor.Release(w3)
	tensor.Release(w)
	if err != nil {
		return nil, err
	}
	if err := tensor.LayerNormInPlace(x, m.embLN.W, m.embLN.B, m.embLN.Eps); err != nil {
		tensor.Release(x)
		return nil, err
	}
	return x, nil
}

// textState is the per-call state of a text model run: per-layer
// self-attention caches and cross-attention keys/values, and the additive
// masks of padded positions.
type textState struct {
	layers []nn.DecoderState
	// crossMask [rows, 1, Tk] masks padded encoder positions (nil: none).
	crossMask *tensor.Tensor
	past      int
}

// release hands the state's keys and values back for reuse by the next
// state (tensor.Release); st must not be used afterwards.
func (st *textState) release() {
	for i := range st.layers {
		st.layers[i].Release()
	}
	tensor.Release(st.crossMask)
	*st = textState{}
}

// newState projects the cross-attention keys and values of enc [B, Tk, De]
// for every layer. encLen, when non-nil, gives the number of valid encoder
// positions per row (the rest are padding and masked out).
func (m *textModel) newState(enc *tensor.Tensor, encLen []int) (*textState, error) {
	mask, err := paddingMask(m.dev, encLen, enc.Dim(1))
	if err != nil {
		return nil, err
	}
	st := &textState{layers: make([]nn.DecoderState, len(m.layers)), crossMask: mask}
	for i, l := range m.layers {
		st.layers[i].Cross = l.CrossAttn.ProjectKV(enc)
	}
	return st, nil
}

// paddingMask returns an additive [B, 1, T] mask on dev with −Inf past
// each row's length, or nil when no row is padded.
//
//goformer:host builds an input mask from the row lengths, then uploads it.
func paddingMask(dev *tensor.Device, lens []int, t int) (*tensor.Tensor, error) {
	padded := false
	for _, n := range lens {
		if n < t {
			padded = true
		}
	}
	if !padded {
		return nil, nil
	}
	mask := tensor.New(len(lens), 1, t)
	md := mask.Data()
	inf := float32(math.Inf(-1))
	for i, n := range lens {
		for j := n; j < t; j++ {
			md[i*t+j] = inf
		}
	}
	u, err := dev.Upload(mask)
	if u != mask {
		tensor.Release(mask)
	}
	return u, err
}

// forward runs the layers on embeddings x [B, T, D]: causal (the decoder,
// extending st's caches) or bidirectional (the question encoder, with
// selfMask masking padded tokens).
func (m *textModel) forward(ctx context.Context, x *tensor.Tensor, st *textState, causal bool, selfMask *tensor.Tensor) (*tensor.Tensor, error) {
	for i, l := range m.layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		y := l.Forward(x, &st.layers[i], nn.AttnOptions{Causal: causal, Mask: selfMask}, st.crossMask)
		tensor.Release(x) // x is ours: the embeddings or a layer's output
		x = y
	}
	st.past += x.Dim(1)
	return x, nil
}

// logits applies the LM head to hidden states [..., D], giving [..., V].
func (h *lmHead) logits(x *tensor.Tensor) *tensor.Tensor {
	y := h.dense.Forward(x)
	defer tensor.Release(y)
	tensor.MapInPlace(y, h.act) // a named activation (tensor.Activation)
	if err := tensor.LayerNormInPlace(y, h.ln.W, h.ln.B, h.ln.Eps); err != nil {
		panic("blip: " + err.Error())
	}
	return h.dec.Forward(y)
}

// rows returns the number of rows the state decodes.
func (st *textState) rows() int {
	if len(st.layers) == 0 {
		return 0
	}
	return st.layers[0].Cross.Batch()
}

// reorder keeps rows in the order given (row i continues old row idx[i]):
// beam expansion, beam selection, dropping finished rows.
func (st *textState) reorder(idx []int) {
	for i := range st.layers {
		st.layers[i].Self.Reorder(idx)
		st.layers[i].Cross.Reorder(idx)
	}
	if st.crossMask != nil {
		mask, err := tensor.Gather(st.crossMask, idx)
		if err != nil {
			panic("blip: " + err.Error()) // idx was checked by decoder.Reorder
		}
		tensor.Release(st.crossMask)
		st.crossMask = mask
	}
}

// decoder drives the text decoder one step at a time for the search: it
// implements generate.Stepper.
type decoder struct {
	m  *textModel
	st *textState
	// prev holds the logits returned by the last Step, recycled by the next
	// (generate.Stepper allows it); rows is their row slices.
	prev *tensor.Tensor
	rows [][]float32
}

// Step feeds tokens (the same number per row) and returns the next-token
// logits of every row.
//
//goformer:host the search reads the next-token logits, downloaded once per step.
func (d *decoder) Step(ctx context.Context, tokens [][]int) ([][]float32, error) {
	d.release()
	lg, err := d.next(ctx, tokens)
	if err != nil {
		return nil, err
	}
	// On the host, h is lg itself; on a device, a downloaded copy.
	h, rows, err := tensor.HostRows(lg, d.rows)
	if err != nil {
		return nil, err
	}
	d.prev, d.rows = h, rows
	return rows, nil
}

// next runs the decoder on tokens and returns the logits [rows, V] of the
// last position, on the model's device.
func (d *decoder) next(ctx context.Context, tokens [][]int) (*tensor.Tensor, error) {
	x, err := d.m.embed(tokens, d.st.past)
	if err != nil {
		return nil, err
	}
	x, err = d.m.forward(ctx, x, d.st, true, nil)
	if err != nil {
		return nil, err
	}
	last, err := tensor.LastPosition(x)
	if err != nil {
		return nil, err
	}
	lg := d.m.head.logits(last)
	tensor.Release(last)
	return lg, nil
}

// release recycles the logits of the last Step.
func (d *decoder) release() {
	tensor.Release(d.prev)
	d.prev = nil
}

// Reorder keeps the rows in the order given (beams, finished rows).
func (d *decoder) Reorder(idx []int) error {
	d.release()
	for _, j := range idx {
		if j < 0 || j >= d.st.rows() {
			return fmt.Errorf("blip: reorder index %d outside %d rows", j, d.st.rows())
		}
	}
	d.st.reorder(idx)
	return nil
}
