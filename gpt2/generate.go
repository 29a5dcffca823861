package gpt2

import (
	"context"
	"errors"
	"fmt"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/tensor"
)

// SearchOptions configure Model.Generate (which translates them to
// generate.Options). Every field is used as given; Captioner.Search fills
// them from a checkpoint's settings.
type SearchOptions struct {
	// MaxLength bounds the whole sequence, prompt included; it must exceed
	// the prompt's length.
	MaxLength int
	// NumBeams selects beam search with that many beams; 0 or 1 is greedy.
	// More than generate.MaxBeams is refused.
	NumBeams int
	// EOS lists the tokens that end a sequence (nil: none). The first one
	// is appended to a beam-search result that ended before MaxLength, as
	// transformers does.
	EOS []int
	// LengthPenalty is the exponent of the length normalisation of beam
	// hypotheses: score = Σ log p / length^LengthPenalty (transformers'
	// default is 1; 0 disables normalisation).
	LengthPenalty float64
	// EarlyStopping is transformers' beam-search stopping rule: "true"
	// (stop once NumBeams hypotheses are finished), "never" (stop only when
	// no better hypothesis is possible), or "false"/"" (the heuristic
	// default).
	EarlyStopping string
	// NoRepeatNgramSize, when positive, forbids generating a token that
	// would repeat an n-gram of that size already in the sequence.
	NoRepeatNgramSize int
	// MinLength keeps EOS from being chosen while the sequence (prompt
	// included) is shorter; 0 imposes nothing.
	MinLength int
	// RepetitionPenalty, when neither 0 nor 1, divides the positive scores
	// and multiplies the negative scores of tokens already in the sequence
	// (transformers' RepetitionPenaltyLogitsProcessor); negative values are
	// rejected.
	RepetitionPenalty float64
	// ForcedEOS, when set, are the only tokens allowed at the last position
	// the length limit leaves (transformers' forced_eos_token_id).
	ForcedEOS []int
}

// Generate continues prompt (which must not be empty; for an
// encoder–decoder model it is the decoder start token) and returns the whole
// sequence, prompt included, with the end token when one was generated,
// exactly as transformers' generate returns it for one input. enc is the
// encoder output [1, T, n_embd] for cross-attention, or nil. The search is
// the generate package's Greedy (NumBeams 0 or 1) or Beam.
func (m *Model) Generate(ctx context.Context, enc *tensor.Tensor, prompt []int, opt SearchOptions) ([]int, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("%w: empty prompt", ErrInput)
	}
	if opt.NumBeams < 0 || opt.NumBeams > generate.MaxBeams {
		return nil, fmt.Errorf("%w: %d beams (want 0 to %d, the limit generate.MaxBeams)", ErrInput, opt.NumBeams, generate.MaxBeams)
	}
	if opt.MaxLength > m.cfg.NPositions {
		return nil, fmt.Errorf("%w: max length %d exceeds n_positions %d", ErrInput, opt.MaxLength, m.cfg.NPositions)
	}
	early, err := generate.ParseEarlyStopping(opt.EarlyStopping)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if enc != nil && enc.Rank() == 3 && enc.Dim(0) != 1 {
		return nil, fmt.Errorf("%w: Generate takes one encoder output [1, T, D], got %v", ErrInput, enc.Shape())
	}
	st, err := m.NewState(1, enc)
	if err != nil {
		return nil, err
	}
	defer st.Release()
	sp := &stepper{m: m, st: st}
	defer sp.release()
	ids, err := generate.Generate(ctx, sp, [][]int{prompt}, generate.Options{
		MaxLength: opt.MaxLength, NumBeams: opt.NumBeams, EOS: opt.EOS,
		LengthPenalty: opt.LengthPenalty, EarlyStopping: early, NoRepeatNgramSize: opt.NoRepeatNgramSize,
		MinLength: opt.MinLength, RepetitionPenalty: opt.RepetitionPenalty, ForcedEOS: opt.ForcedEOS,
	})
	if errors.Is(err, generate.ErrInvalid) {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if err != nil {
		return nil, err
	}
	return ids[0], nil
}

// stepper drives a Model, one State, for the generate package's searches.
type stepper struct {
	m  *Model
	st *State
	// prev holds the logits returned by the last Step, recycled by the next
	// (generate.Stepper allows it); rows is their row slices.
	prev *tensor.Tensor
	rows [][]float32
}

// Step returns the next-token logits of every sequence after feeding
// tokens.
//
//goformer:host the searches read the last position's logits, downloaded once per step
func (s *stepper) Step(ctx context.Context, tokens [][]int) ([][]float32, error) {
	s.release()
	dl, err := s.m.NextLogits(ctx, s.st, tokens)
	if err != nil {
		return nil, err
	}
	lg, rows, err := tensor.HostRows(dl, s.rows)
	if err != nil {
		return nil, err
	}
	s.prev, s.rows = lg, rows
	return rows, nil
}

// release recycles the logits of the last Step.
func (s *stepper) release() {
	tensor.Release(s.prev)
	s.prev = nil
}

// Reorder keeps the sequences in the order given.
func (s *stepper) Reorder(idx []int) error {
	s.release()
	return s.st.Reorder(idx)
}
