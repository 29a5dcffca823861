package gpt2

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/tensor"
)

// The searches themselves (greedy, beam, logits processors) are compared
// with literal ports of transformers' loops in the generate package. The
// tests here check the model side: that Model.Generate, decoding with a KV
// cache that beam search reorders, gives what the same searches give over
// a model that recomputes every sequence from scratch at each step.

// uncached is a generate.Stepper that keeps the sequences itself and runs
// the whole of each one through a fresh State at every step, so no cache
// and no reordering is involved.
type uncached struct {
	t    *testing.T
	m    *Model
	enc  *tensor.Tensor
	seqs [][]int
}

func (u *uncached) Step(ctx context.Context, tokens [][]int) ([][]float32, error) {
	if u.seqs == nil {
		u.seqs = make([][]int, len(tokens))
	}
	out := make([][]float32, len(tokens))
	for r, tk := range tokens {
		u.seqs[r] = append(u.seqs[r], tk...)
		st, err := u.m.NewState(1, u.enc)
		if err != nil {
			return nil, err
		}
		l, err := u.m.Logits(ctx, st, [][]int{u.seqs[r]})
		if err != nil {
			return nil, err
		}
		out[r] = slices.Clone(l.Index(0).Index(len(u.seqs[r]) - 1).Data())
	}
	return out, nil
}

func (u *uncached) Reorder(idx []int) error {
	ns := make([][]int, len(idx))
	for i, j := range idx {
		if u.seqs != nil {
			ns[i] = slices.Clone(u.seqs[j])
		}
	}
	u.seqs = ns
	return nil
}

// searchOptions translates SearchOptions as Model.Generate does.
func searchOptions(t *testing.T, o SearchOptions) generate.Options {
	early, err := generate.ParseEarlyStopping(o.EarlyStopping)
	if err != nil {
		t.Fatal(err)
	}
	return generate.Options{
		MaxLength: o.MaxLength, NumBeams: o.NumBeams, EOS: o.EOS, LengthPenalty: o.LengthPenalty,
		EarlyStopping: early, NoRepeatNgramSize: o.NoRepeatNgramSize, MinLength: o.MinLength,
		RepetitionPenalty: o.RepetitionPenalty, ForcedEOS: o.ForcedEOS,
	}
}

// boostedModel is a small cross-attention GPT-2 whose untied LM head
// favours the end token enough that beams finish at different lengths.
func boostedModel(t *testing.T, seed uint64) (*Model, *tensor.Tensor) {
	t.Helper()
	c := smallGPT2(true)
	c.VocabSize = 9
	s := randomGPT2(c, seed, true, true)
	head, _ := s.Get("lm_head.weight")
	row := head.Index(c.EOSTokenID)
	for j := 0; j < c.NEmbd; j++ {
		row.Set(row.At(j)*2.5, j)
	}
	m, err := New(c, s.Root())
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := randomEnc(seed, 6, c.NEmbd)
	return m, enc
}

func TestGreedyMatchesUncached(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		m, enc := boostedModel(t, seed)
		eos := m.cfg.EOSTokenID
		for _, opt := range []SearchOptions{
			{MaxLength: 12, EOS: []int{eos}},
			{MaxLength: 12, EOS: []int{eos}, NoRepeatNgramSize: 2},
			{MaxLength: 10, EOS: []int{eos, 5}, MinLength: 6, RepetitionPenalty: 1.4, ForcedEOS: []int{eos}},
			{MaxLength: 8},
		} {
			got := matchesUncached(t, "greedy", generate.Greedy, seed, m, enc, opt)
			if n := opt.NoRepeatNgramSize; n > 0 && hasRepeatedNgram(got[:len(got)-1], n) {
				t.Errorf("seed %d: %v repeats a %d-gram", seed, got, n)
			}
		}
	}
}

// matchesUncached generates from the end token with m.Generate and opt,
// and reports an error unless search (generate.Greedy or generate.Beam)
// on the uncached reference model gives the same ids; it returns
// Generate's.
func matchesUncached(t *testing.T, what string, search func(context.Context, generate.Stepper, [][]int, generate.Options) ([][]int, error), seed uint64, m *Model, enc *tensor.Tensor, opt SearchOptions) []int {
	t.Helper()
	ctx := context.Background()
	eos := m.cfg.EOSTokenID
	got, err := m.Generate(ctx, enc, []int{eos}, opt)
	if err != nil {
		t.Fatal(err)
	}
	want, err := search(ctx, &uncached{t: t, m: m, enc: enc}, [][]int{{eos}}, searchOptions(t, opt))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want[0]) {
		t.Errorf("seed %d %+v: %s %v, want %v", seed, opt, what, got, want[0])
	}
	return got
}

func hasRepeatedNgram(seq []int, n int) bool {
	seen := map[string]bool{}
	for s := 0; s+n <= len(seq); s++ {
		key := fmt.Sprint(seq[s : s+n])
		if seen[key] {
			return true
		}
		seen[key] = true
	}
	return false
}

func TestBeamSearchMatchesUncached(t *testing.T) {
	endedEarly := 0
	runs := 0
	for seed := uint64(1); seed <= 4; seed++ {
		m, enc := boostedModel(t, seed)
		eos := m.cfg.EOSTokenID
		E := []int{eos}
		for _, opt := range []SearchOptions{
			{NumBeams: 3, LengthPenalty: 1, EarlyStopping: "false", EOS: E},
			{NumBeams: 2, LengthPenalty: 1, EarlyStopping: "true", EOS: E},
			{NumBeams: 4, LengthPenalty: 0.5, EarlyStopping: "never", EOS: E},
			{NumBeams: 3, LengthPenalty: -1, EarlyStopping: "never", EOS: E, NoRepeatNgramSize: 2},
			{NumBeams: 3, LengthPenalty: 2, EOS: E, NoRepeatNgramSize: 3},
			{NumBeams: 3, LengthPenalty: 1, EOS: E, MinLength: 5, RepetitionPenalty: 1.5, ForcedEOS: E},
			{NumBeams: 2, LengthPenalty: 1, EOS: []int{eos, 6}},
			{NumBeams: 2, LengthPenalty: 1},
		} {
			opt.MaxLength = 9
			got := matchesUncached(t, "beam search", generate.Beam, seed, m, enc, opt)
			runs++
			if len(got) < opt.MaxLength {
				endedEarly++
			}
		}
	}
	t.Logf("%d of %d searches ended with the end token before the length limit", endedEarly, runs)
	if endedEarly == 0 || endedEarly == runs {
		t.Errorf("the cases do not exercise both finished and length-limited hypotheses (%d of %d ended early)", endedEarly, runs)
	}
}

func TestGenerateOptionErrors(t *testing.T) {
	ctx := context.Background()
	m, enc := boostedModel(t, 1)
	for name, opt := range map[string]SearchOptions{
		"early stopping":        {MaxLength: 5, NumBeams: 2, EarlyStopping: "sometimes"},
		"max length":            {MaxLength: 1},
		"EOS outside vocab":     {MaxLength: 5, EOS: []int{m.cfg.VocabSize}},
		"forced EOS negative":   {MaxLength: 5, ForcedEOS: []int{-1}},
		"negative penalty":      {MaxLength: 5, RepetitionPenalty: -2},
		"negative n-gram size":  {MaxLength: 5, NoRepeatNgramSize: -1},
		"negative min length":   {MaxLength: 5, MinLength: -1},
		"beam, EOS outside":     {MaxLength: 5, NumBeams: 2, EOS: []int{99}},
		"two encoder outputs":   {MaxLength: 5},
		"max length, two beams": {MaxLength: 1, NumBeams: 2},
		"1000 beams":            {MaxLength: 5, NumBeams: 1000},
		"negative beams":        {MaxLength: 5, NumBeams: -3},
	} {
		e := enc
		if name == "two encoder outputs" {
			var err error
			if e, err = tensor.Concat(0, enc, enc); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := m.Generate(ctx, e, []int{m.cfg.EOSTokenID}, opt); !errors.Is(err, ErrInput) {
			t.Errorf("%s: err = %v, want ErrInput", name, err)
		}
	}
}
