package whisper

import (
	"context"
	"fmt"

	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// Decoder is one incremental decoding session over encoded audio: it holds
// the self-attention KV cache of every layer and the cross-attention keys
// and values, computed once from the audio features. Feeding tokens costs
// time independent of the history length except in attention. A Decoder
// belongs to one goroutine.
type Decoder struct {
	m      *Model
	states []nn.DecoderState
	batch  int
	pos    int
	// noCache makes every Forward recompute the whole history (for
	// benchmarks that show what the cache saves).
	noCache bool
	history [][]int
	// crossRow[i] is the audio row whose cross-attention keys/values
	// sequence i uses (shared rows need no copy when beams reorder).
	crossRow []int
	ids      []int // scratch: the token ids of one Forward, flattened
}

// NewDecoder starts a decoding session on audio features [batch, T, D]
// (Encode's output; features on the host are uploaded to the model's
// device).
func (m *Model) NewDecoder(audio *tensor.Tensor) (*Decoder, error) {
	if audio == nil || audio.Rank() != 3 || audio.Dim(2) != m.Config.DModel || audio.Dim(0) < 1 || audio.Dim(1) < 1 {
		var shape []int
		if audio != nil {
			shape = audio.Shape()
		}
		return nil, fmt.Errorf("whisper: %w: audio features %v, want [batch, T, %d]", tensor.ErrShape, shape, m.Config.DModel)
	}
	if audio.Device() != m.dev {
		up, err := m.dev.Upload(audio)
		if err != nil {
			return nil, fmt.Errorf("whisper: audio features to %s: %w", m.dev, err)
		}
		defer tensor.Release(up)
		audio = up
	}
	audio = audio.Contiguous()
	d := &Decoder{m: m, batch: audio.Dim(0), states: make([]nn.DecoderState, len(m.decBlocks))}
	d.crossRow = make([]int, d.batch)
	for i := range d.crossRow {
		d.crossRow[i] = i
	}
	for i, blk := range m.decBlocks {
		d.states[i].Cross = blk.CrossAttn.ProjectKV(audio)
	}
	return d, nil
}

// Release hands the decoder's keys and values back for reuse by later
// decoders (tensor.Release): a transcription releases each window's decoder
// once done, so that the next window allocates none. The decoder must not
// be used afterwards. Calling it is optional.
func (d *Decoder) Release() {
	for i := range d.states {
		d.states[i].Release()
	}
	d.states = nil
}

// Batch returns the number of sequences decoded together.
func (d *Decoder) Batch() int { return d.batch }

// Len returns the number of tokens fed so far (per sequence).
func (d *Decoder) Len() int { return d.pos }

// Forward feeds the next tokens of every sequence (tokens[b] has the same
// length T for all b) and returns the final hidden states [batch, T, D];
// project them with Logits. crossProbs, when non-nil, receives for every
// decoder layer the cross-attention probabilities [batch, heads, T, Tk].
// Results are on the model's device.
func (d *Decoder) Forward(ctx context.Context, tokens [][]int, crossProbs []*tensor.Tensor) (*tensor.Tensor, error) {
	if len(tokens) != d.batch {
		return nil, fmt.Errorf("whisper: decoder got %d token rows for a batch of %d", len(tokens), d.batch)
	}
	t := len(tokens[0])
	if t == 0 {
		return nil, fmt.Errorf("whisper: decoder got no tokens")
	}
	for _, row := range tokens {
		if len(row) != t {
			return nil, fmt.Errorf("whisper: decoder token rows of different lengths %d and %d", t, len(row))
		}
		for _, id := range row {
			if id < 0 || id >= d.m.Config.VocabSize {
				return nil, fmt.Errorf("whisper: token id %d outside the vocabulary [0, %d)", id, d.m.Config.VocabSize)
			}
		}
	}
	if d.pos+t > d.m.Config.MaxTargetPositions {
		return nil, fmt.Errorf("whisper: %d tokens exceed the decoder context of %d", d.pos+t, d.m.Config.MaxTargetPositions)
	}
	if crossProbs != nil && len(crossProbs) != len(d.m.decBlocks) {
		return nil, fmt.Errorf("whisper: crossProbs has %d entries for %d decoder layers", len(crossProbs), len(d.m.decBlocks))
	}
	if d.noCache {
		return d.forwardNoCache(ctx, tokens, crossProbs)
	}
	h, err := d.forward(ctx, tokens, d.pos, crossProbs)
	if err != nil {
		return nil, err
	}
	d.pos += t
	return h, nil
}

func (d *Decoder) forward(ctx context.Context, tokens [][]int, pos int, crossProbs []*tensor.Tensor) (*tensor.Tensor, error) {
	m := d.m
	b, t := len(tokens), len(tokens[0])
	x, owner, err := m.embedTokens(tokens, pos, &d.ids)
	if err != nil {
		return nil, err
	}
	for i, blk := range m.decBlocks {
		if err := ctx.Err(); err != nil {
			tensor.Release(x)
			tensor.Release(owner)
			return nil, err
		}
		st := &d.states[i]
		st.CrossProbs = nil
		if crossProbs != nil {
			tk := st.Cross.Len()
			p := m.dev.New(b, m.Config.DecoderHeads, t, tk)
			st.CrossProbs = p
			crossProbs[i] = p
		}
		y := blk.Forward(x, st, nn.AttnOptions{Causal: true}, nil)
		tensor.Release(x)
		tensor.Release(owner) // the embeddings' storage (x was a view of it)
		x, owner = y, nil
		st.CrossProbs = nil
	}
	y := m.decLN.Forward(x)
	tensor.Release(x)
	tensor.Release(owner) // still set when there are no layers
	return y, nil
}

// forwardNoCache recomputes the whole history (benchmark baseline).
func (d *Decoder) forwardNoCache(ctx context.Context, tokens [][]int, crossProbs []*tensor.Tensor) (*tensor.Tensor, error) {
	if d.history == nil {
		d.history = make([][]int, d.batch)
	}
	for i := range tokens {
		d.history[i] = append(d.history[i], tokens[i]...)
	}
	for i := range d.states {
		d.states[i].Self.Reset()
	}
	h, err := d.forward(ctx, d.history, 0, crossProbs)
	if err != nil {
		return nil, err
	}
	t := len(tokens[0])
	d.pos += t
	return h.Slice(1, h.Dim(1)-t, h.Dim(1)).Contiguous(), nil
}

// Logits projects hidden states [..., D] onto the vocabulary with the
// (tied) token embedding, returning [..., vocab] on the model's device.
func (d *Decoder) Logits(h *tensor.Tensor) (*tensor.Tensor, error) {
	return d.m.logits(h)
}

func (m *Model) logits(h *tensor.Tensor) (*tensor.Tensor, error) {
	if h.Dim(-1) != m.Config.DModel {
		return nil, fmt.Errorf("whisper: %w: hidden states %v, want [..., %d]", tensor.ErrShape, h.Shape(), m.Config.DModel)
	}
	return m.proj.Forward(h), nil
}

// positionLogits returns the logits [B, V] of position pos of every row
// of hidden states h [B, T, D], on the model's device.
func (m *Model) positionLogits(h *tensor.Tensor, pos int) (*tensor.Tensor, error) {
	last, err := tensor.Position(h, pos)
	if err != nil {
		return nil, err
	}
	l, err := m.logits(last)
	tensor.Release(last)
	return l, err
}

// download returns t's values in host memory (t itself on the host),
// releasing a device t.
//
//goformer:host moves results off the device for the host-side decoding rules.
func download(t *tensor.Tensor) (*tensor.Tensor, error) {
	h, err := tensor.ToHost(t)
	if h != t {
		tensor.Release(t)
	}
	return h, err
}

// Reorder keeps the sequences in the order given: sequence i continues old
// sequence idx[i] (beam search). len(idx) may differ from the batch size
// (to expand one audio into several beams).
func (d *Decoder) Reorder(idx []int) error {
	for _, j := range idx {
		if j < 0 || j >= d.batch {
			return fmt.Errorf("whisper: reorder index %d outside the batch of %d", j, d.batch)
		}
	}
	if len(idx) == 0 {
		return fmt.Errorf("whisper: reorder to an empty batch")
	}
	identity := len(idx) == d.batch
	for i, j := range idx {
		if i != j {
			identity = false
			break
		}
	}
	if identity {
		return nil
	}
	// cross-attention keys/values only move when a sequence changes audio
	sameAudio := len(idx) == d.batch
	newCross := make([]int, len(idx))
	for i, j := range idx {
		newCross[i] = d.crossRow[j]
		if sameAudio && newCross[i] != d.crossRow[i] {
			sameAudio = false
		}
	}
	for i := range d.states {
		d.states[i].Self.Reorder(idx)
		if !sameAudio {
			d.states[i].Cross.Reorder(idx)
		}
	}
	if !sameAudio {
		d.crossRow = newCross
	}
	if d.history != nil {
		h := make([][]int, len(idx))
		for i, j := range idx {
			h[i] = append([]int(nil), d.history[j]...)
		}
		d.history = h
	}
	d.batch = len(idx)
	return nil
}
