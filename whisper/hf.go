package whisper

import (
	"context"
	"fmt"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/tensor"
)

// GenerateOptions configures Generate, which reproduces transformers'
// generate() on WhisperForConditionalGeneration when it is given explicit
// decoder_input_ids and no Whisper-specific logits processors: plain
// greedy search or plain beam search (BeamSearchScorer, early_stopping
// false, one hypothesis), as package generate implements them.
type GenerateOptions struct {
	// Prompt is the decoder input (for example [SOT, <|en|>, <|transcribe|>,
	// <|notimestamps|>]); empty means [SOT].
	Prompt []int
	// MaxNewTokens bounds the number of generated tokens; 0 means up to the
	// decoder context.
	MaxNewTokens int
	// NumBeams > 1 selects beam search; 0 or 1 is greedy. At most
	// generate.MaxBeams.
	NumBeams int
	// LengthPenalty is the exponent of the length in beam scores
	// (score = sum log-prob / length^LengthPenalty); nil means 1.0.
	LengthPenalty *float64
	// EOS ends a sequence; 0 means the tokenizer's <|endoftext|>, a negative
	// value disables it.
	EOS int
	// SuppressTokens are set to -inf at every step; BeginSuppressTokens at
	// the first generated position only.
	SuppressTokens, BeginSuppressTokens []int
}

// Generate decodes one 30-second window of log-mel features [n_mels,
// frames] as transformers' generate does (see GenerateOptions), through
// package generate's greedy and beam search, and returns the prompt
// followed by the generated ids (the end token included when one ended
// the text).
func (m *Model) Generate(ctx context.Context, mel *tensor.Tensor, opt GenerateOptions) ([]int, error) {
	if opt.NumBeams > generate.MaxBeams || opt.NumBeams < 0 || opt.MaxNewTokens < 0 {
		return nil, fmt.Errorf("%w: %d beams (want 0 to %d, the limit generate.MaxBeams) or %d new tokens", ErrInput, opt.NumBeams, generate.MaxBeams, opt.MaxNewTokens)
	}
	enc, err := m.Encode(ctx, mel)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(enc)
	if enc.Dim(0) != 1 {
		return nil, fmt.Errorf("whisper: Generate takes one window, got a batch of %d", enc.Dim(0))
	}
	prompt := opt.Prompt
	if len(prompt) == 0 {
		prompt = []int{m.specials().SOT}
	}
	maxLen := m.Config.MaxTargetPositions
	if opt.MaxNewTokens > 0 && len(prompt)+opt.MaxNewTokens < maxLen {
		maxLen = len(prompt) + opt.MaxNewTokens
	}
	if len(prompt) >= maxLen {
		return nil, fmt.Errorf("whisper: prompt of %d tokens leaves no room in %d", len(prompt), maxLen)
	}
	g := generate.Options{
		MaxLength:     maxLen,
		NumBeams:      max(opt.NumBeams, 1),
		LengthPenalty: 1,
		// Ids outside the vocabulary are ignored, as they always were here.
		SuppressTokens:      m.inVocab(opt.SuppressTokens),
		BeginSuppressTokens: m.inVocab(opt.BeginSuppressTokens),
	}
	if opt.LengthPenalty != nil {
		g.LengthPenalty = *opt.LengthPenalty
	}
	switch {
	case opt.EOS == 0:
		g.EOS = []int{m.specials().EOT}
	case opt.EOS > 0:
		g.EOS = []int{opt.EOS}
	}
	dec, err := m.NewDecoder(enc)
	if err != nil {
		return nil, err
	}
	defer dec.Release() // its keys and values serve the next decoder
	st := &hfStepper{dec: dec}
	defer st.release()
	ids, err := generate.Generate(ctx, st, [][]int{prompt}, g)
	if err != nil {
		return nil, fmt.Errorf("whisper: %w", err)
	}
	return ids[0], nil
}

// inVocab returns the ids of the vocabulary among ids.
func (m *Model) inVocab(ids []int) []int {
	var out []int
	for _, id := range ids {
		if id >= 0 && id < m.Config.VocabSize {
			out = append(out, id)
		}
	}
	return out
}

// hfStepper runs a Decoder for package generate: each row's logits at its
// last position, projected in one product on the model's device and
// downloaded for the search.
type hfStepper struct {
	dec  *Decoder
	prev *tensor.Tensor // the host logits the rows of the last Step show
}

// Step implements generate.Stepper.
//
//goformer:host package generate's search reads the downloaded logits.
func (s *hfStepper) Step(ctx context.Context, tokens [][]int) ([][]float32, error) {
	s.release() // the search is done with the previous rows
	h, err := s.dec.Forward(ctx, tokens, nil)
	if err != nil {
		return nil, err
	}
	l, err := s.dec.m.positionLogits(h, h.Dim(1)-1)
	tensor.Release(h)
	if err != nil {
		return nil, err
	}
	hl, err := download(l)
	if err != nil {
		return nil, err
	}
	s.prev = hl
	ld, v := hl.Data(), hl.Dim(1)
	rows := make([][]float32, len(tokens))
	for b := range rows {
		rows[b] = ld[b*v : (b+1)*v : (b+1)*v]
	}
	return rows, nil
}

// Reorder implements generate.Stepper.
func (s *hfStepper) Reorder(idx []int) error { return s.dec.Reorder(idx) }

// release hands the last Step's logits back for reuse.
func (s *hfStepper) release() {
	tensor.Release(s.prev)
	s.prev = nil
}

// specials returns the tokenizer (always non-nil: computed from the vocab
// size when the checkpoint came without tokenizer files).
func (m *Model) specials() *Tokenizer {
	if m.tok == nil {
		return specialsFromVocabSize(m.Config.VocabSize)
	}
	return m.tok
}
