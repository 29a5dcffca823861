package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// GenerateOptions configure Generate. The search settings are the
// generate package's, used as given (zero values switch features off, and
// a zero LengthPenalty disables length normalisation): start from
// Model.DefaultOptions, which holds transformers' defaults and the
// checkpoint's, and change what the call needs.
type GenerateOptions struct {
	// Options are the search settings: MaxNewTokens (or MaxLength, counted
	// in prompt ids as transformers counts input_ids) bounds the new
	// tokens, NumBeams > 1 selects beam search, EOS ends a sequence,
	// RepetitionPenalty, NoRepeatNgramSize, MinNewTokens, ... are
	// transformers' logits processors.
	generate.Options
	// Sample, when non-nil, draws each token at random after the
	// processors and its temperature/top-k/top-p warpers (transformers'
	// do_sample; NumBeams must then be 0 or 1). Its random source is
	// seeded, so a seed repeats a text, but it is not torch's: the texts
	// differ from transformers' for the same seed.
	Sample *generate.Sampling
	// OnToken, when non-nil, receives every generated token as soon as it
	// is chosen (the end token included), in order: for streaming text.
	// With beam search the tokens are only known at the end, and are
	// delivered then. Generate only (GenerateBatch rejects it).
	OnToken func(id int)
}

// DefaultOptions returns transformers' generation defaults for cfg
// (GenerationConfig: one beam, length penalty 1, early stopping false)
// with the config's end tokens, and at most 20 new tokens (transformers'
// max_length 20 counts the prompt; a bound on new tokens is what a caller
// with a long image prompt wants).
func DefaultOptions(cfg Config) GenerateOptions {
	return GenerateOptions{Options: generate.Options{
		MaxNewTokens: 20, NumBeams: 1, LengthPenalty: 1, EOS: slices.Clone(cfg.EOSTokenIDs),
	}}
}

// DefaultOptions returns the model's generation defaults: DefaultOptions
// of its config, updated by generation_config.json when Load found one.
// The slices are copies.
func (m *Model) DefaultOptions() GenerateOptions {
	return m.defaults.Clone()
}

// Clone returns a copy of o that shares no slice or Sampling with it.
func (o GenerateOptions) Clone() GenerateOptions {
	o.EOS = slices.Clone(o.EOS)
	o.SuppressTokens = slices.Clone(o.SuppressTokens)
	o.ForcedEOS = slices.Clone(o.ForcedEOS)
	if o.Sample != nil {
		s := *o.Sample
		o.Sample = &s
	}
	return o
}

// LoadGenerationConfig applies dir's generation_config.json to base
// (ParseGenerationConfig), returning base when the file is absent. Errors
// name the file.
func LoadGenerationConfig(dir string, base GenerateOptions) (GenerateOptions, error) {
	path := filepath.Join(dir, "generation_config.json")
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return base, nil
	}
	if err != nil {
		return base, fmt.Errorf("llm: %w", err)
	}
	o, err := ParseGenerationConfig(raw, base)
	if err != nil {
		return base, fmt.Errorf("%s: %w", path, err)
	}
	return o, nil
}

// ParseGenerationConfig applies a generation_config.json to base: the
// fields it sets (max_new_tokens, max_length, min_new_tokens, min_length,
// num_beams, length_penalty, early_stopping, eos_token_id,
// repetition_penalty, no_repeat_ngram_size, suppress_tokens,
// forced_eos_token_id, do_sample, temperature, top_k, top_p) replace
// base's. With do_sample, top_k defaults to 50 as in transformers. Errors
// wrap nn.ErrConfig.
func ParseGenerationConfig(raw []byte, base GenerateOptions) (GenerateOptions, error) {
	var g struct {
		MaxNewTokens      *int                    `json:"max_new_tokens"`
		MaxLength         *int                    `json:"max_length"`
		MinNewTokens      *int                    `json:"min_new_tokens"`
		MinLength         *int                    `json:"min_length"`
		NumBeams          *int                    `json:"num_beams"`
		LengthPenalty     *float64                `json:"length_penalty"`
		EarlyStopping     *generate.EarlyStopping `json:"early_stopping"`
		EOS               json.RawMessage         `json:"eos_token_id"`
		ForcedEOS         json.RawMessage         `json:"forced_eos_token_id"`
		RepetitionPenalty *float64                `json:"repetition_penalty"`
		NoRepeatNgramSize *int                    `json:"no_repeat_ngram_size"`
		SuppressTokens    []int                   `json:"suppress_tokens"`
		DoSample          *bool                   `json:"do_sample"`
		Temperature       *float64                `json:"temperature"`
		TopK              *int                    `json:"top_k"`
		TopP              *float64                `json:"top_p"`
	}
	if err := nn.DecodeJSON("generation_config.json", raw, &g); err != nil {
		return base, fmt.Errorf("llm: %w", err)
	}
	o := base
	if g.MaxNewTokens != nil {
		o.MaxNewTokens, o.MaxLength = *g.MaxNewTokens, 0
	} else if g.MaxLength != nil && *g.MaxLength != 20 {
		// transformers' default max_length (20) says nothing; another
		// value bounds the whole sequence.
		o.MaxLength, o.MaxNewTokens = *g.MaxLength, 0
	}
	nn.SetIf(&o.MinNewTokens, g.MinNewTokens)
	nn.SetIf(&o.MinLength, g.MinLength)
	nn.SetIf(&o.NumBeams, g.NumBeams)
	nn.SetIf(&o.NoRepeatNgramSize, g.NoRepeatNgramSize)
	nn.SetIf(&o.LengthPenalty, g.LengthPenalty)
	nn.SetIf(&o.EarlyStopping, g.EarlyStopping)
	nn.SetIf(&o.RepetitionPenalty, g.RepetitionPenalty)
	if len(g.EOS) > 0 {
		ids, err := nn.IntOrList(g.EOS)
		if err != nil {
			return base, fmt.Errorf("llm: generation_config.json: %w: eos_token_id: %v", nn.ErrConfig, err)
		}
		if ids != nil {
			o.EOS = ids
		}
	}
	if len(g.ForcedEOS) > 0 {
		ids, err := nn.IntOrList(g.ForcedEOS)
		if err != nil {
			return base, fmt.Errorf("llm: generation_config.json: %w: forced_eos_token_id: %v", nn.ErrConfig, err)
		}
		o.ForcedEOS = ids
	}
	if g.SuppressTokens != nil {
		o.SuppressTokens = g.SuppressTokens
	}
	if g.DoSample != nil && *g.DoSample {
		s := generate.Sampling{TopK: 50}
		nn.SetIf(&s.Temperature, g.Temperature)
		nn.SetIf(&s.TopK, g.TopK)
		nn.SetIf(&s.TopP, g.TopP)
		o.Sample = &s
	} else if g.DoSample != nil {
		o.Sample = nil
	}
	if o.MaxNewTokens < 0 || o.MaxLength < 0 || o.NumBeams < 0 || o.MinNewTokens < 0 || o.MinLength < 0 {
		return base, fmt.Errorf("llm: generation_config.json: %w: negative length or beam count", nn.ErrConfig)
	}
	return o, nil
}

// Prompt is one input to Generate.
type Prompt struct {
	// IDs are the prompt's token ids as transformers' generate sees them
	// (input_ids): the sequence the search extends, returned at the start
	// of the result, read by the processors (repetition penalty, minimum
	// new tokens) and counted by MaxLength. When Embeds is nil they are
	// what the model is fed. BLIP-2 passes its placeholder [bos] here,
	// LLaVA the prompt with its one <image> token.
	IDs []int
	// Embeds, when non-nil, are the input embeddings fed instead of the
	// embeddings of IDs, [T, EmbedDim] or [1, T, EmbedDim]: token
	// embeddings (Model.Embed) with image features spliced in. T need not
	// equal len(IDs).
	Embeds *tensor.Tensor
}

// Generate continues one prompt and returns the whole sequence as
// transformers' generate returns it: the prompt ids, the new tokens, and
// the end token when one ended the text (beam search appends the first
// end token to a hypothesis that finished early). Greedy search, beam
// search (NumBeams > 1) and sampling (opt.Sample) follow transformers
// v4.30; ctx is checked before every step, and opt.OnToken streams the new
// tokens.
func (m *Model) Generate(ctx context.Context, p Prompt, opt GenerateOptions) ([]int, error) {
	out, err := m.generate(ctx, []Prompt{p}, opt)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// GenerateBatch continues several prompts in one batch. Prompts of
// different lengths are padded on the left (ids with the config's
// pad_token_id, or its first end token, or 0; embeddings with zeros) and
// the padding is masked out of attention, positions counted from each
// prompt's first real token, as transformers' generate runs a
// left-padded batch; the results are returned without the padding. Each
// result is the one the prompt gets alone, up to rounding (sampling aside:
// the rows draw from one random source in turn). opt.OnToken must be nil.
func (m *Model) GenerateBatch(ctx context.Context, prompts []Prompt, opt GenerateOptions) ([][]int, error) {
	if opt.OnToken != nil && len(prompts) != 1 {
		return nil, fmt.Errorf("%w: OnToken streams one prompt's tokens; GenerateBatch got %d prompts", ErrInput, len(prompts))
	}
	return m.generate(ctx, prompts, opt)
}

func (m *Model) generate(ctx context.Context, prompts []Prompt, opt GenerateOptions) ([][]int, error) {
	if len(prompts) == 0 {
		return nil, fmt.Errorf("%w: no prompts", ErrInput)
	}
	if opt.Sample != nil && opt.NumBeams > 1 {
		return nil, fmt.Errorf("%w: sampling with %d beams (beam sampling) is not supported", ErrInput, opt.NumBeams)
	}
	e := m.EmbedDim()
	// Pad ids and embeddings on the left to common lengths.
	maxIDs, maxT := 0, 0
	embeds := make([]*tensor.Tensor, len(prompts))
	for i, p := range prompts {
		if len(p.IDs) == 0 {
			return nil, fmt.Errorf("%w: prompt %d has no ids", ErrInput, i)
		}
		for _, id := range p.IDs {
			if id < 0 || id >= m.cfg.VocabSize {
				return nil, fmt.Errorf("%w: prompt %d: token id %d outside the vocabulary of %d", ErrInput, i, id, m.cfg.VocabSize)
			}
		}
		maxIDs = max(maxIDs, len(p.IDs))
		x := p.Embeds
		if x != nil {
			if x.Rank() == 3 && x.Dim(0) == 1 {
				x = x.MustReshape(x.Dim(1), x.Dim(2))
			}
			if x.Rank() != 2 || x.Dim(1) != e || x.Dim(0) < 1 {
				return nil, fmt.Errorf("%w: prompt %d: embeddings %v, want [T, %d]", ErrInput, i, p.Embeds.Shape(), e)
			}
		}
		embeds[i] = x
		if x != nil {
			maxT = max(maxT, x.Dim(0))
		} else {
			maxT = max(maxT, len(p.IDs))
		}
	}
	padID := m.cfg.PadTokenID
	if padID < 0 || padID >= m.cfg.VocabSize {
		padID = 0
		if len(m.cfg.EOSTokenIDs) > 0 {
			padID = m.cfg.EOSTokenIDs[0]
		}
	}
	ids := make([][]int, len(prompts))
	idPad := make([]int, len(prompts))
	pad := make([]int, len(prompts))
	padded := false
	for i, p := range prompts {
		idPad[i] = maxIDs - len(p.IDs)
		row := make([]int, 0, maxIDs)
		for range idPad[i] {
			row = append(row, padID)
		}
		ids[i] = append(row, p.IDs...)
		if x := embeds[i]; x != nil {
			pad[i] = maxT - x.Dim(0)
		} else {
			pad[i] = maxT - len(p.IDs)
		}
		padded = padded || pad[i] > 0
	}
	if !padded {
		pad = nil
	}
	// Bound the work: every position the search may feed must exist.
	maxLen := opt.MaxLengthFor(maxIDs)
	if newTok := maxLen - maxIDs; newTok > 0 && maxT+newTok-1 > m.cfg.MaxPositions {
		return nil, fmt.Errorf("%w: %d prompt positions and up to %d new tokens exceed max_position_embeddings %d", ErrInput, maxT, newTok, m.cfg.MaxPositions)
	}
	st, err := m.NewState(len(prompts))
	if err != nil {
		return nil, err
	}
	in, err := m.promptInputs(prompts, embeds, pad, maxT)
	if err != nil {
		st.Release()
		return nil, err
	}
	sp := &stepper{st: st, in: in, pad: pad, onToken: opt.OnToken}
	defer sp.release()
	var out [][]int
	switch {
	case opt.Sample != nil:
		out, err = generate.Sample(ctx, sp, ids, opt.Options, *opt.Sample)
	default:
		out, err = generate.Generate(ctx, sp, ids, opt.Options)
	}
	if errors.Is(err, generate.ErrInvalid) {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if err != nil {
		return nil, err
	}
	if opt.OnToken != nil {
		for _, id := range out[0][maxIDs+sp.streamed:] {
			opt.OnToken(id)
		}
	}
	for i := range out {
		out[i] = out[i][idPad[i]:]
	}
	return out, nil
}

// promptInputs returns the input embeddings of the prompts, [B, maxT, E]
// on the model's device: row i holds pad[i] zero rows (nil pad: none),
// then embeds[i] or, when that is nil, the embeddings of prompts[i].IDs.
// Every row is copied into its place in the batch.
func (m *Model) promptInputs(prompts []Prompt, embeds []*tensor.Tensor, pad []int, maxT int) (*tensor.Tensor, error) {
	in := m.dev.New(len(prompts), maxT, m.EmbedDim())
	for i, p := range prompts {
		var x *tensor.Tensor
		var err error
		if embeds[i] != nil {
			x, err = m.onDevice(embeds[i])
		} else {
			x, err = m.gather(p.IDs)
		}
		if err != nil {
			tensor.Release(in)
			return nil, err
		}
		lo := 0
		if pad != nil {
			lo = pad[i]
		}
		row := in.Index(i)
		dst := row.Slice(0, lo, maxT)
		err = tensor.Copy(dst, x)
		tensor.Release(dst)
		tensor.Release(row)
		if x != embeds[i] {
			tensor.Release(x)
		}
		if err != nil {
			tensor.Release(in)
			return nil, err
		}
	}
	return in, nil
}

// stepper drives a State for the generate package's searches.
type stepper struct {
	st *State
	// in holds the prompts' input embeddings [B, T, E] and pad their
	// left padding, fed by the first Step; expand is a reordering asked
	// for before it (beam search expanding each prompt to its beams).
	in     *tensor.Tensor
	pad    []int
	expand []int
	// prev holds the logits returned by the last Step, recycled by the
	// next (generate.Stepper allows it); rows is their row slices.
	prev *tensor.Tensor
	rows [][]float32
	// onToken streams the tokens chosen by a single-row greedy or sampling
	// search: each Step after the first feeds the token just chosen.
	onToken  func(id int)
	streamed int
	beams    bool
}

// Step implements generate.Stepper.
func (s *stepper) Step(ctx context.Context, tokens [][]int) ([][]float32, error) {
	tensor.Release(s.prev)
	s.prev = nil
	var lg *tensor.Tensor
	var err error
	if s.in != nil {
		// The prompt: run it once per prompt, then give each beam its
		// prompt's cache and logits.
		lg, err = s.st.Prefill(ctx, s.in, s.pad)
		tensor.Release(s.in)
		s.in = nil
		if err == nil && s.expand != nil {
			if err = s.st.Reorder(s.expand); err == nil {
				var g *tensor.Tensor
				g, err = tensor.Gather(lg, s.expand)
				tensor.Release(lg)
				lg = g
			}
		}
	} else {
		if s.onToken != nil && !s.beams && len(tokens) == 1 {
			s.onToken(tokens[0][0])
			s.streamed++
		}
		ids := make([]int, len(tokens))
		for i, t := range tokens {
			if len(t) != 1 {
				return nil, fmt.Errorf("llm: the search fed %d tokens to one sequence after the prompt", len(t))
			}
			ids[i] = t[0]
		}
		lg, err = s.st.Step(ctx, ids)
	}
	if err != nil {
		return nil, err
	}
	return s.hostRows(lg)
}

// hostRows downloads the logits lg [B, V] (releasing a device tensor) and
// returns their rows for the search, keeping them until the next step.
//
//goformer:host the search turns the last position's logits into tokens on the host
func (s *stepper) hostRows(lg *tensor.Tensor) ([][]float32, error) {
	h, rows, err := tensor.HostRows(lg, s.rows)
	if err != nil {
		return nil, err
	}
	s.prev, s.rows = h, rows
	return rows, nil
}

// Reorder implements generate.Stepper.
func (s *stepper) Reorder(idx []int) error {
	tensor.Release(s.prev)
	s.prev = nil
	if s.in != nil {
		// Before the prompt: remember the expansion (applied once the
		// prompt has run, so each prompt runs once, not once per beam).
		for _, j := range idx {
			if j < 0 || j >= s.in.Dim(0) {
				return fmt.Errorf("%w: reorder index %d outside batch %d", ErrInput, j, s.in.Dim(0))
			}
		}
		if s.expand != nil {
			composed := make([]int, len(idx))
			for i, j := range idx {
				composed[i] = s.expand[j]
			}
			idx = composed
		}
		s.expand = slices.Clone(idx)
		s.beams = true
		return nil
	}
	return s.st.Reorder(idx)
}

// release hands back the state and the last logits.
func (s *stepper) release() {
	tensor.Release(s.prev)
	s.prev = nil
	tensor.Release(s.in)
	s.in = nil
	s.st.Release()
}
