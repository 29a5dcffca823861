package generate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by the errors that report bad options, prompts or
// token ids (as opposed to errors of the Stepper or the context).
var ErrInvalid = errors.New("generate: invalid input")

// Hard limits on the work one search may be asked for, checked before the
// first Step; requests over them fail with an error wrapping ErrInvalid
// that names the limit. Models bound the length further by their own
// positions.
const (
	// MaxBeams is the widest beam search Beam runs (num_beams). Beam
	// search costs a model step over every beam, and transformers users
	// rarely go past 16 or 32.
	MaxBeams = 64
	// MaxSequenceLength is the longest sequence, prompt included, a search
	// runs to (max_length, or the prompt length plus max_new_tokens).
	MaxSequenceLength = 1 << 17
)

// Stepper is an autoregressive model over a batch of rows, with its
// per-call state (KV caches, cross-attention keys and values). Before the
// first Step it has one row per prompt given to the search.
type Stepper interface {
	// Step feeds the next tokens of every row (the same number per row: the
	// whole prompt on the first call, one token afterwards) and returns each
	// row's logits for the token that follows, one row of vocabulary size
	// per input row. The search modifies the returned rows in place; they
	// must not be shared with anything the Stepper reads later. The search
	// is done with them when it calls Step or Reorder again, so a Stepper
	// may reuse their memory from then on.
	Step(ctx context.Context, tokens [][]int) ([][]float32, error)
	// Reorder keeps rows in the order given: new row i continues old row
	// idx[i]. len(idx) may differ from the current number of rows (beam
	// expansion, finished rows leaving the batch). It may be called before
	// the first Step.
	Reorder(idx []int) error
}

// EarlyStopping is transformers' beam-search stopping rule
// (generation_config.early_stopping). The zero value is transformers'
// default, false.
type EarlyStopping int

const (
	// EarlyStoppingHeuristic is early_stopping=False: a batch item stops
	// once NumBeams hypotheses are finished and the best candidate, scored
	// at the length it would have (the sequence so far plus its token, as
	// transformers v4.29 and later count it), cannot beat the worst of
	// them.
	EarlyStoppingHeuristic EarlyStopping = iota
	// EarlyStoppingFirst is early_stopping=True: a batch item stops as soon
	// as NumBeams hypotheses are finished.
	EarlyStoppingFirst
	// EarlyStoppingNever is early_stopping="never": a batch item stops only
	// when no open beam can still beat a finished hypothesis (with a
	// positive length penalty, scored at the maximum length).
	EarlyStoppingNever
)

// String returns the transformers spelling: false, true or never.
func (e EarlyStopping) String() string {
	switch e {
	case EarlyStoppingHeuristic:
		return "false"
	case EarlyStoppingFirst:
		return "true"
	case EarlyStoppingNever:
		return "never"
	}
	return fmt.Sprintf("EarlyStopping(%d)", int(e))
}

// ParseEarlyStopping reads the rule from its transformers spelling:
// "false" (or ""), "true" or "never".
func ParseEarlyStopping(s string) (EarlyStopping, error) {
	switch s {
	case "", "false":
		return EarlyStoppingHeuristic, nil
	case "true":
		return EarlyStoppingFirst, nil
	case "never":
		return EarlyStoppingNever, nil
	}
	return 0, fmt.Errorf("%w: early stopping %q (want true, false or never)", ErrInvalid, s)
}

// UnmarshalJSON reads generation_config.json's forms: true, false, "never",
// or null (the default, false).
func (e *EarlyStopping) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("early_stopping: %w", err)
	}
	switch x := v.(type) {
	case nil:
		*e = EarlyStoppingHeuristic
	case bool:
		*e = EarlyStoppingHeuristic
		if x {
			*e = EarlyStoppingFirst
		}
	case string:
		if x != "never" {
			return fmt.Errorf("%w: early_stopping %q (want true, false or \"never\")", ErrInvalid, x)
		}
		*e = EarlyStoppingNever
	default:
		return fmt.Errorf("%w: early_stopping %s (want true, false or \"never\")", ErrInvalid, b)
	}
	return nil
}

// MarshalJSON writes the transformers form: true, false or "never".
func (e EarlyStopping) MarshalJSON() ([]byte, error) {
	switch e {
	case EarlyStoppingHeuristic:
		return []byte("false"), nil
	case EarlyStoppingFirst:
		return []byte("true"), nil
	case EarlyStoppingNever:
		return []byte(`"never"`), nil
	}
	return nil, fmt.Errorf("%w: early stopping %d", ErrInvalid, int(e))
}

// Options are a resolved generation configuration: the GenerationConfig
// fields that transformers' greedy and beam search read. Every field is
// used as given; zero values switch a feature off (or, for LengthPenalty,
// disable length normalisation), so callers fill in a checkpoint's
// defaults themselves.
type Options struct {
	// MaxLength bounds the whole sequence, prompt included (max_length).
	MaxLength int
	// MaxNewTokens, when positive, overrides MaxLength with the prompt
	// length plus MaxNewTokens (max_new_tokens).
	MaxNewTokens int
	// MinLength keeps the end tokens from being chosen while the sequence,
	// prompt included, is shorter (min_length). Zero: no minimum.
	MinLength int
	// MinNewTokens keeps the end tokens from being chosen until this many
	// tokens follow the prompt (min_new_tokens). Zero: no minimum.
	MinNewTokens int
	// NumBeams is the beam width for Beam; Generate runs beam search when
	// it exceeds 1 and greedy search otherwise (num_beams).
	NumBeams int
	// LengthPenalty is the exponent of the length that divides a beam
	// hypothesis's summed log-probabilities (length_penalty; transformers'
	// default is 1, zero disables normalisation, positive favours longer
	// texts).
	LengthPenalty float64
	// EarlyStopping is the beam-search stopping rule (early_stopping).
	EarlyStopping EarlyStopping
	// EOS lists the tokens that end a sequence (eos_token_id); nil: none,
	// every sequence runs to the maximum length. The first is appended to a
	// beam-search result that ended before the maximum length.
	EOS []int
	// RepetitionPenalty, when neither 0 nor 1, divides the positive scores
	// and multiplies the negative scores of every token already in the
	// sequence, prompt included (repetition_penalty, CTRL's rule).
	RepetitionPenalty float64
	// NoRepeatNgramSize, when positive, forbids a token that would repeat
	// an n-gram of that size already in the sequence (no_repeat_ngram_size).
	NoRepeatNgramSize int
	// ForcedEOS, when set, are the only tokens allowed at the last position
	// the maximum length leaves (forced_eos_token_id).
	ForcedEOS []int
	// SuppressTokens are never generated (suppress_tokens).
	SuppressTokens []int
	// BeginSuppressTokens are not generated right after the prompt, at
	// the first generated position (begin_suppress_tokens; Whisper's
	// blank and end tokens).
	BeginSuppressTokens []int
}

// MaxLengthFor returns the maximum sequence length for a prompt of
// promptLen tokens: promptLen + MaxNewTokens when MaxNewTokens is
// positive, MaxLength otherwise.
func (o Options) MaxLengthFor(promptLen int) int {
	if o.MaxNewTokens > 0 {
		return promptLen + o.MaxNewTokens
	}
	return o.MaxLength
}

// Processors returns the logits processors the options enable for prompts
// of promptLen tokens, in the order transformers' _get_logits_processor
// builds them. Empty: none.
func (o Options) Processors(promptLen int) Processors {
	var ps Processors
	if p := o.RepetitionPenalty; p != 0 && p != 1 {
		ps = append(ps, RepetitionPenalty(p))
	}
	if o.NoRepeatNgramSize > 0 {
		ps = append(ps, NoRepeatNGram(o.NoRepeatNgramSize))
	}
	if o.MinLength > 0 && len(o.EOS) > 0 {
		ps = append(ps, MinLength{Min: o.MinLength, EOS: o.EOS})
	}
	if o.MinNewTokens > 0 && len(o.EOS) > 0 {
		ps = append(ps, MinNewTokens{PromptLength: promptLen, Min: o.MinNewTokens, EOS: o.EOS})
	}
	if len(o.ForcedEOS) > 0 {
		ps = append(ps, ForcedEOS{MaxLength: o.MaxLengthFor(promptLen), EOS: o.ForcedEOS})
	}
	if len(o.SuppressTokens) > 0 {
		ps = append(ps, SuppressTokens(o.SuppressTokens))
	}
	if len(o.BeginSuppressTokens) > 0 {
		ps = append(ps, SuppressTokensAtBegin{Begin: promptLen, Tokens: o.BeginSuppressTokens})
	}
	return ps
}

// check validates the options and prompts, and returns the prompt length
// and maximum sequence length.
func (o Options) check(prompts [][]int) (promptLen, maxLen int, err error) {
	if len(prompts) == 0 {
		return 0, 0, fmt.Errorf("%w: no prompts", ErrInvalid)
	}
	promptLen = len(prompts[0])
	for i, p := range prompts {
		if len(p) == 0 {
			return 0, 0, fmt.Errorf("%w: prompt %d is empty", ErrInvalid, i)
		}
		if len(p) != promptLen {
			return 0, 0, fmt.Errorf("%w: prompts of different lengths (%d and %d tokens)", ErrInvalid, promptLen, len(p))
		}
	}
	switch {
	case o.MaxLength < 0, o.MaxNewTokens < 0, o.MinLength < 0, o.MinNewTokens < 0, o.NumBeams < 0, o.NoRepeatNgramSize < 0:
		return 0, 0, fmt.Errorf("%w: negative length, beam count or n-gram size in %+v", ErrInvalid, o)
	case o.RepetitionPenalty < 0:
		return 0, 0, fmt.Errorf("%w: repetition penalty %g (want a positive value, or 0 for none)", ErrInvalid, o.RepetitionPenalty)
	case o.EarlyStopping < EarlyStoppingHeuristic || o.EarlyStopping > EarlyStoppingNever:
		return 0, 0, fmt.Errorf("%w: early stopping %d", ErrInvalid, int(o.EarlyStopping))
	}
	switch {
	case o.MaxNewTokens > MaxSequenceLength:
		return 0, 0, fmt.Errorf("%w: %d new tokens is over the limit of %d (generate.MaxSequenceLength)", ErrInvalid, o.MaxNewTokens, MaxSequenceLength)
	case o.MaxNewTokens <= 0 && o.MaxLength > MaxSequenceLength:
		return 0, 0, fmt.Errorf("%w: a maximum length of %d tokens is over the limit of %d (generate.MaxSequenceLength)", ErrInvalid, o.MaxLength, MaxSequenceLength)
	}
	maxLen = o.MaxLengthFor(promptLen)
	if maxLen > MaxSequenceLength {
		return 0, 0, fmt.Errorf("%w: a prompt of %d tokens and %d new tokens make %d, over the limit of %d (generate.MaxSequenceLength)", ErrInvalid, promptLen, o.MaxNewTokens, maxLen, MaxSequenceLength)
	}
	if maxLen <= promptLen {
		return 0, 0, fmt.Errorf("%w: the prompt has %d tokens and the maximum length is %d: nothing left to generate", ErrInvalid, promptLen, maxLen)
	}
	return promptLen, maxLen, nil
}

// checkVocab validates the token ids of the options against the
// vocabulary size the first Step revealed.
func (o Options) checkVocab(vocab int) error {
	for _, set := range []struct {
		name string
		ids  []int
	}{{"end token", o.EOS}, {"forced end token", o.ForcedEOS}, {"suppressed token", o.SuppressTokens}, {"begin-suppressed token", o.BeginSuppressTokens}} {
		for _, id := range set.ids {
			if id < 0 || id >= vocab {
				return fmt.Errorf("%w: %s %d outside the vocabulary of %d", ErrInvalid, set.name, id, vocab)
			}
		}
	}
	return nil
}

// checked drives a Stepper for a search, validating what it returns.
type checked struct {
	s     Stepper
	opt   Options
	vocab int // 0 until the first Step
}

// step checks the context, feeds tokens and returns the logits after
// checking their shape (one row per input row, all of the vocabulary size)
// and, on the first call, the options' token ids against the vocabulary.
func (c *checked) step(ctx context.Context, tokens [][]int) ([][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	logits, err := c.s.Step(ctx, tokens)
	if err != nil {
		return nil, err
	}
	if len(logits) != len(tokens) {
		return nil, fmt.Errorf("generate: the model returned %d rows of logits for %d rows", len(logits), len(tokens))
	}
	if c.vocab == 0 {
		if len(logits[0]) == 0 {
			return nil, fmt.Errorf("generate: the model returned empty logits")
		}
		if err := c.opt.checkVocab(len(logits[0])); err != nil {
			return nil, err
		}
		c.vocab = len(logits[0])
	}
	for _, r := range logits {
		if len(r) != c.vocab {
			return nil, fmt.Errorf("generate: the model returned logits of %d and %d entries", c.vocab, len(r))
		}
	}
	return logits, nil
}

// Generate runs Beam when opt.NumBeams exceeds 1, Greedy otherwise.
func Generate(ctx context.Context, s Stepper, prompts [][]int, opt Options) ([][]int, error) {
	if opt.NumBeams > 1 {
		return Beam(ctx, s, prompts, opt)
	}
	return Greedy(ctx, s, prompts, opt)
}
