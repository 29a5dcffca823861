package llm

import (
	"context"
	"fmt"
	"math"

	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// State is the per-call decoding state of a Model: the key/value cache of
// every layer, the number of positions consumed and the left padding of
// each sequence. It belongs to one decoding call and is not safe for
// concurrent use; any number of States may run on one Model at once.
type State struct {
	m      *Model
	layers []nn.DecoderState // only Self is used
	batch  int
	past   int
	pad    []int // leading padding positions per row (nil: none)
}

// NewState starts a decoding call for batch sequences.
func (m *Model) NewState(batch int) (*State, error) {
	if batch < 1 || batch > 1<<16 {
		return nil, fmt.Errorf("%w: batch %d", ErrInput, batch)
	}
	n := len(m.blocks) + len(m.layers)
	return &State{m: m, layers: make([]nn.DecoderState, n), batch: batch}, nil
}

// Len returns the number of positions the state has consumed (padding
// included).
func (s *State) Len() int { return s.past }

// Batch returns the number of sequences the state decodes.
func (s *State) Batch() int { return s.batch }

// Release hands the cached keys and values back for reuse by later states
// (tensor.Release). The state must not be used afterwards; calling it is
// optional.
func (s *State) Release() {
	for i := range s.layers {
		s.layers[i].Release()
	}
	s.layers = nil
}

// Reorder keeps the sequences in the order given (beam search, finished
// sequences leaving the batch): sequence i afterwards is old sequence
// idx[i]; len(idx) becomes the batch size.
func (s *State) Reorder(idx []int) error {
	if len(idx) == 0 {
		return fmt.Errorf("%w: reorder to an empty batch", ErrInput)
	}
	for _, j := range idx {
		if j < 0 || j >= s.batch {
			return fmt.Errorf("%w: reorder index %d outside batch %d", ErrInput, j, s.batch)
		}
	}
	for i := range s.layers {
		s.layers[i].Self.Reorder(idx)
	}
	if s.pad != nil {
		np := make([]int, len(idx))
		for i, j := range idx {
			np[i] = s.pad[j]
		}
		s.pad = np
	}
	s.batch = len(idx)
	return nil
}

// Prefill feeds input embeddings embeds, [B, T, EmbedDim] (or [T,
// EmbedDim] for a batch of one) — token embeddings from Embed with image
// features spliced in, or anything else of that width — and returns the
// logits of the token that follows each sequence, [B, VocabSize], on the
// model's device (tensor.ToHost brings them to the host). The positions
// continue those already consumed, so Prefill may be called again to feed
// more of a prompt. Embeddings on the host are checked for NaN and
// infinite values and uploaded to a model on a device; embeddings already
// on the model's device are taken as they are.
//
// pad, on the first call only, gives each sequence's number of leading
// padding positions (left padding, as transformers' generate pads a
// batch): they are masked out of attention and the positions of each
// sequence start at 0 at its first real token, as transformers derives
// them from the attention mask. nil: no padding. At least one position of
// each sequence must be real.
func (s *State) Prefill(ctx context.Context, embeds *tensor.Tensor, pad []int) (*tensor.Tensor, error) {
	h, err := s.hidden(ctx, embeds, pad)
	if err != nil {
		return nil, err
	}
	last, err := tensor.LastPosition(h)
	if err != nil {
		return nil, err
	}
	out := s.m.logits(last)
	tensor.Release(last) // on a device, freed by Release only
	return out, nil
}

// Logits is Prefill returning the logits of every position fed,
// [B, T, VocabSize] on the model's device (teacher forcing, scoring a
// text).
func (s *State) Logits(ctx context.Context, embeds *tensor.Tensor, pad []int) (*tensor.Tensor, error) {
	h, err := s.hidden(ctx, embeds, pad)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(h)
	return s.m.logits(h), nil
}

// PrefillIDs is Prefill on the embeddings of token ids, one row per
// sequence, all of one length (padding tokens included when pad is set).
func (s *State) PrefillIDs(ctx context.Context, ids [][]int, pad []int) (*tensor.Tensor, error) {
	x, err := s.m.EmbedBatch(ids)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(x)
	return s.Prefill(ctx, x, pad)
}

// Step feeds one token per sequence and returns the logits of the token
// that follows each, [B, VocabSize] on the model's device.
func (s *State) Step(ctx context.Context, ids []int) (*tensor.Tensor, error) {
	if len(ids) != s.batch {
		return nil, fmt.Errorf("%w: %d tokens for a state of batch %d", ErrInput, len(ids), s.batch)
	}
	e, err := s.m.gather(ids)
	if err != nil {
		return nil, err
	}
	x := e.MustReshape(s.batch, 1, s.m.EmbedDim())
	defer tensor.Release(e)
	defer tensor.Release(x) // the view first, then its storage
	return s.Prefill(ctx, x, nil)
}

// logits applies the final norm (and OPT's project_out) and the LM head
// to hidden states [.., D].
func (m *Model) logits(h *tensor.Tensor) *tensor.Tensor {
	var n *tensor.Tensor
	if m.cfg.ModelType == Llama {
		n = must(tensor.RMSNorm(h, m.norm, m.cfg.RMSNormEps))
	} else {
		n = h
		if m.finalLN != nil {
			n = m.finalLN.Forward(h)
		}
		if m.projOut != nil {
			p := m.projOut.Forward(n)
			if n != h {
				tensor.Release(n)
			}
			n = p
		}
	}
	out := m.head.Forward(n)
	if n != h {
		tensor.Release(n)
	}
	return out
}

// checkInput validates embeddings and padding against the state and
// returns embeds as a [B, T, E] tensor on the model's device (a view,
// upload or copy that the caller releases when it differs from embeds).
func (s *State) checkInput(embeds *tensor.Tensor, pad []int) (*tensor.Tensor, error) {
	if s.layers == nil {
		return nil, fmt.Errorf("%w: the state was released", ErrInput)
	}
	if embeds == nil {
		return nil, fmt.Errorf("%w: nil embeddings", ErrInput)
	}
	e := s.m.EmbedDim()
	x := embeds
	if x.Rank() == 2 {
		x = x.MustReshape(1, x.Dim(0), x.Dim(1))
	}
	if x.Rank() != 3 || x.Dim(0) != s.batch || x.Dim(2) != e || x.Dim(1) < 1 {
		return nil, fmt.Errorf("%w: embeddings %v, want [%d, T, %d]", ErrInput, embeds.Shape(), s.batch, e)
	}
	t := x.Dim(1)
	if s.past+t > s.m.cfg.MaxPositions {
		return nil, fmt.Errorf("%w: %d positions exceed max_position_embeddings %d", ErrInput, s.past+t, s.m.cfg.MaxPositions)
	}
	if pad != nil {
		if s.past > 0 {
			return nil, fmt.Errorf("%w: padding can only be given with the first input", ErrInput)
		}
		if len(pad) != s.batch {
			return nil, fmt.Errorf("%w: %d padding counts for a batch of %d", ErrInput, len(pad), s.batch)
		}
		for b, p := range pad {
			if p < 0 || p >= t {
				return nil, fmt.Errorf("%w: sequence %d has %d padding positions of %d", ErrInput, b, p, t)
			}
		}
	}
	return s.m.onDevice(x)
}

// onDevice returns x on the model's device: x itself when it is there,
// else (x on the host) after checking its values are finite, uploaded.
// Embeddings on another device are an error.
//
//goformer:host validates caller-supplied host embeddings before they enter the model
func (m *Model) onDevice(x *tensor.Tensor) (*tensor.Tensor, error) {
	if x.Device() == m.dev && m.dev != nil {
		return x, nil
	}
	if !x.OnHost() {
		return nil, fmt.Errorf("%w: embeddings on %s for a model on %s", ErrInput, x.Device(), m.dev)
	}
	for _, v := range x.Data() {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%w: embeddings hold NaN or infinite values", ErrInput)
		}
	}
	return m.dev.Upload(x)
}

// positions returns the position of every new row (b, i), b·t+i, of a
// state that has consumed past positions: counted from the sequence's
// first real token; padding positions get transformers' filler (OPT: −1,
// Llama: 1), whose outputs nothing attends to.
func (s *State) positions(past, t int) []int {
	pos := make([]int, s.batch*t)
	for b := range s.batch {
		for i := range t {
			p := past + i
			if s.pad != nil {
				p -= s.pad[b]
				if p < 0 {
					p = 1
					if s.m.cfg.ModelType == OPT {
						p = -1
					}
				}
			}
			pos[b*t+i] = p
		}
	}
	return pos
}

// keyMask returns the attention mask of a state with left padding, [B, 1,
// n] on the model's device: −Inf on every sequence's leading padding, 0
// elsewhere (nil without padding). It is built on the host from the
// padding counts and uploaded.
func (s *State) keyMask(n int) (*tensor.Tensor, error) {
	if s.pad == nil {
		return nil, nil
	}
	md := make([]float32, s.batch*n)
	ninf := float32(math.Inf(-1))
	for b, p := range s.pad {
		for j := 0; j < p; j++ {
			md[b*n+j] = ninf
		}
	}
	return s.m.dev.FromHost(md, s.batch, 1, n)
}

// hidden runs the decoder on embeds and returns the last layer's output
// [B, T, D] (before the final norm). It advances the state.
func (s *State) hidden(ctx context.Context, embeds *tensor.Tensor, pad []int) (*tensor.Tensor, error) {
	in, err := s.checkInput(embeds, pad)
	if err != nil {
		return nil, err
	}
	if in != embeds {
		// x below is a copy; an upload is ours to release (a view holds
		// no storage).
		defer tensor.Release(in)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if pad != nil {
		for _, p := range pad {
			if p > 0 {
				s.pad = append([]int(nil), pad...)
				break
			}
		}
	}
	m := s.m
	t := in.Dim(1)
	past := s.past
	pos := s.positions(past, t)
	mask, err := s.keyMask(past + t)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(mask)
	x := in.Clone() // the residual stream, ours to update
	if m.cfg.ModelType == OPT {
		if x, err = m.optEmbed(x, pos); err != nil {
			tensor.Release(x)
			return nil, err
		}
	}
	for i := range s.layers {
		if err := ctx.Err(); err != nil {
			tensor.Release(x)
			s.abandon()
			return nil, err
		}
		if m.cfg.ModelType == OPT {
			y := m.blocks[i].Forward(x, &s.layers[i], nn.AttnOptions{Causal: true, Mask: mask}, nil)
			tensor.Release(x)
			x = y
			continue
		}
		if err := m.layers[i].forward(m, x, &s.layers[i].Self, mask, pos); err != nil {
			tensor.Release(x)
			s.abandon()
			return nil, err
		}
	}
	s.past += t
	return x, nil
}

// abandon empties a state whose caches a failed or cancelled call left
// inconsistent (some layers advanced, others not): it must not be used
// again, and later calls say so.
func (s *State) abandon() {
	s.Release()
}

// optEmbed turns OPT input embeddings x [B, T, E] into the first layer's
// input: project_in when present, plus the learned positions (offset 2) of
// rows pos (b·T+t), gathered from the table and added in place.
func (m *Model) optEmbed(x *tensor.Tensor, pos []int) (*tensor.Tensor, error) {
	if m.projIn != nil {
		y := m.projIn.Forward(x)
		tensor.Release(x)
		x = y
	}
	rows := make([]int, len(pos))
	for i, p := range pos {
		rows[i] = p + 2
	}
	pe, err := tensor.Gather(m.pos, rows)
	if err != nil {
		return x, err
	}
	pv := pe.MustReshape(x.Shape()...)
	err = tensor.AddInPlace(x, pv)
	tensor.Release(pv)
	tensor.Release(pe)
	return x, err
}

// must panics on an error that shapes known correct by construction rule
// out.
func must(t *tensor.Tensor, err error) *tensor.Tensor {
	if err != nil {
		panic("llm: " + err.Error())
	}
	return t
}
