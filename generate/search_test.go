package generate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Token ids of the hand-made models: 0 starts, 1 ends, 2 and 3 are words.
const (
	tStart = 0
	tEOS   = 1
	tA     = 2
	tB     = 3
)

// probs turns probabilities of EOS, A and B into log-probability logits
// (the start token is all but impossible).
func probs(eos, a, b float64) []float32 {
	return []float32{float32(math.Log(1e-9)), float32(math.Log(eos)), float32(math.Log(a)), float32(math.Log(b))}
}

// table is a model where the greedy choice (A, then EOS: p = 0.136) loses
// to the beam's (B, then EOS: p = 0.315).
func table(seq []int) []float32 {
	switch fmt.Sprint(seq) {
	case "[0]":
		return probs(0.25, 0.40, 0.35)
	case "[0 2]":
		return probs(0.34, 0.33, 0.33)
	case "[0 3]":
		return probs(0.90, 0.05, 0.05)
	}
	return probs(0.5, 0.3, 0.2)
}

func base() Options {
	return Options{MaxLength: 6, LengthPenalty: 1, EOS: []int{tEOS}}
}

// TestSearchHandWorked checks greedy and beam search on a model worked
// through by hand with transformers' rules.
func TestSearchHandWorked(t *testing.T) {
	ctx := context.Background()
	got, err := Greedy(ctx, &fakeModel{f: table}, [][]int{{tStart}}, base())
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 2, 1}; !slices.Equal(got[0], want) {
		t.Errorf("greedy: %v, want %v", got[0], want)
	}
	for _, es := range []EarlyStopping{EarlyStoppingHeuristic, EarlyStoppingFirst, EarlyStoppingNever} {
		for _, lp := range []float64{1, 0} {
			o := base()
			o.NumBeams, o.EarlyStopping, o.LengthPenalty = 2, es, lp
			got, err := Generate(ctx, &fakeModel{f: table}, [][]int{{tStart}}, o)
			if err != nil {
				t.Fatal(err)
			}
			if want := []int{0, 3, 1}; !slices.Equal(got[0], want) {
				t.Errorf("beam (early stopping %v, length penalty %g): %v, want %v", es, lp, got[0], want)
			}
		}
	}
	// With EOS banned until 3 new tokens, the text runs on.
	o := base()
	o.MinNewTokens = 3
	got, _ = Greedy(ctx, &fakeModel{f: table}, [][]int{{tStart}}, o)
	if want := []int{0, 2, 2, 2, 1}; !slices.Equal(got[0], want) {
		t.Errorf("greedy, min 3 new tokens: %v, want %v", got[0], want)
	}
	// The same through MinLength (whole sequence of 4 tokens).
	o = base()
	o.MinLength = 4
	got, _ = Greedy(ctx, &fakeModel{f: table}, [][]int{{tStart}}, o)
	if want := []int{0, 2, 2, 2, 1}; !slices.Equal(got[0], want) {
		t.Errorf("greedy, min length 4: %v, want %v", got[0], want)
	}
	// Maximum length: no EOS appended; MaxNewTokens overrides MaxLength.
	o = base()
	o.MaxLength, o.MinLength = 3, 3
	got, _ = Greedy(ctx, &fakeModel{f: table}, [][]int{{tStart}}, o)
	if want := []int{0, 2, 2}; !slices.Equal(got[0], want) {
		t.Errorf("greedy, max length 3: %v, want %v", got[0], want)
	}
	o.MaxLength, o.MaxNewTokens = 100, 2
	got, _ = Greedy(ctx, &fakeModel{f: table}, [][]int{{tStart}}, o)
	if want := []int{0, 2, 2}; !slices.Equal(got[0], want) {
		t.Errorf("greedy, 2 new tokens: %v, want %v", got[0], want)
	}
	// A second end token stops greedy search too.
	o = base()
	o.EOS = []int{tEOS, tA}
	got, _ = Greedy(ctx, &fakeModel{f: table}, [][]int{{tStart}}, o)
	if want := []int{0, 2}; !slices.Equal(got[0], want) {
		t.Errorf("greedy, A also ends: %v, want %v", got[0], want)
	}
	// Forced EOS at the last position, suppressed tokens.
	o = base()
	o.MaxLength, o.MinLength, o.ForcedEOS = 4, 4, []int{tEOS}
	got, _ = Greedy(ctx, &fakeModel{f: table}, [][]int{{tStart}}, o)
	if want := []int{0, 2, 2, 1}; !slices.Equal(got[0], want) {
		t.Errorf("greedy, forced EOS at 4: %v, want %v", got[0], want)
	}
	o = base()
	o.SuppressTokens = []int{tA}
	got, _ = Greedy(ctx, &fakeModel{f: table}, [][]int{{tStart}}, o)
	if want := []int{0, 3, 1}; !slices.Equal(got[0], want) {
		t.Errorf("greedy, A suppressed: %v, want %v", got[0], want)
	}
}

// chain is a model in which a first B (probability pB) starts a long,
// nearly certain run of B that ends with EOS after seven of them, while A
// (probability 0.5 − pB) ends at once with high probability and EOS alone
// has probability 0.5. Length-normalised, the run of B ends best (−0.38 for
// pB = 0.05, −0.32 for pB = 0.08, against −0.41 and −0.44 for A EOS), but
// only a search that keeps going after two hypotheses are finished finds
// it.
func chain(pB float64) func([]int) []float32 {
	return func(seq []int) []float32 {
		if len(seq) == 1 {
			return probs(0.5, 0.5-pB, pB)
		}
		if slices.Equal(seq, []int{tStart, tA}) {
			return probs(0.98, 0.01, 0.01)
		}
		if seq[1] == tB && !slices.ContainsFunc(seq[1:], func(t int) bool { return t != tB }) {
			if len(seq) < 8 {
				return probs(0.001, 0.001, 0.998)
			}
			return probs(0.998, 0.001, 0.001)
		}
		return probs(0.5, 0.25, 0.25)
	}
}

// TestEarlyStoppingModes checks each stopping rule on a case that fails
// without it. Two beams, length penalty 1, maximum length 10; after step 2
// the finished hypotheses are [0] (−0.69) and [0 A] (≈ −0.41/−0.44) and
// the open beam [0 B B] has summed log-probability S ≈ log pB.
//
//   - true stops at once with two hypotheses: [0 A EOS], whatever pB.
//   - false (heuristic) stops at step 3 when the worst hypothesis beats
//     the best candidate scored at the length it will have, S/4: for
//     pB = 0.05 (S/4 = −0.75 ≤ −0.69) it stops with [0 A EOS]; for
//     pB = 0.08 (S/4 = −0.63) it goes on and finds the run of B. Scoring
//     at the current length S/3 (transformers before v4.29) would stop
//     there too (−0.84).
//   - never, with a positive length penalty, scores the candidate at the
//     maximum length, S/10 ≈ −0.3, so it never stops early and finds the
//     run of B for both.
func TestEarlyStoppingModes(t *testing.T) {
	ctx := context.Background()
	run := []int{0, 3, 3, 3, 3, 3, 3, 3, 1}
	short := []int{0, 2, 1}
	for _, c := range []struct {
		pB   float64
		mode EarlyStopping
		want []int
	}{
		{0.05, EarlyStoppingFirst, short},
		{0.05, EarlyStoppingHeuristic, short},
		{0.05, EarlyStoppingNever, run},
		{0.08, EarlyStoppingFirst, short},
		{0.08, EarlyStoppingHeuristic, run},
		{0.08, EarlyStoppingNever, run},
	} {
		o := Options{MaxLength: 10, NumBeams: 2, LengthPenalty: 1, EarlyStopping: c.mode, EOS: []int{tEOS}}
		got, err := Beam(ctx, &fakeModel{f: chain(c.pB)}, [][]int{{tStart}}, o)
		if err != nil {
			t.Fatal(err)
		}
		want, err := refBeam(chain(c.pB), [][]int{{tStart}}, o)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got[0], c.want) || !slices.Equal(want[0], c.want) {
			t.Errorf("pB %g, early stopping %v: got %v, reference %v, want %v", c.pB, c.mode, got[0], want[0], c.want)
		}
	}
}

// randomModel returns a deterministic pseudo-random language model over
// vocab tokens in which EOS (1) is likely, so that beams finish at
// different steps.
func randomModel(seed uint64, vocab int) func([]int) []float32 {
	return func(seq []int) []float32 {
		h := seed
		for _, t := range seq {
			h = h*1000003 + uint64(t) + 1
		}
		r := rand.New(rand.NewPCG(h, seed))
		out := make([]float32, vocab)
		for i := range out {
			out[i] = float32(r.NormFloat64() * 2)
		}
		out[1] += float32(r.Float64() * 2)
		return out
	}
}

// randomOptions draws options over every feature.
func randomOptions(r *rand.Rand, plen, vocab int) Options {
	o := Options{
		MaxLength:         plen + 1 + r.IntN(7),
		NumBeams:          []int{1, 1, 2, 3, 4}[r.IntN(5)],
		LengthPenalty:     []float64{1, 0.5, 2, -1, 0}[r.IntN(5)],
		EarlyStopping:     EarlyStopping(r.IntN(3)),
		RepetitionPenalty: []float64{0, 1, 1.3, 0.8}[r.IntN(4)],
		MinLength:         r.IntN(4),
		MinNewTokens:      r.IntN(3),
		EOS:               [][]int{{1}, {1}, {1, vocab - 1}, nil}[r.IntN(4)],
		NoRepeatNgramSize: []int{0, 0, 1, 2, 3}[r.IntN(5)],
	}
	if r.IntN(4) == 0 {
		o.MaxNewTokens = 1 + r.IntN(5)
	}
	if r.IntN(4) == 0 {
		o.ForcedEOS = []int{1}
	}
	if r.IntN(4) == 0 {
		o.SuppressTokens = []int{2}
	}
	o.NumBeams = min(o.NumBeams, vocab/2)
	if r.IntN(4) == 0 {
		o.BeginSuppressTokens = []int{r.IntN(vocab)}
	}
	return o
}

// TestSearchMatchesReference compares the searches with the literal ports
// of transformers' loops (whole batch, finished items padded, nothing
// dropped) on random models, batch sizes and settings, and checks that
// each batch item alone gives its result in the batch.
func TestSearchMatchesReference(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	var beams, greedy, refErrs, endedEarly int
	for trial := 0; trial < 600; trial++ {
		vocab := 4 + r.IntN(8)
		f := randomModel(uint64(trial), vocab)
		n := 1 + r.IntN(4)
		plen := 1 + r.IntN(3)
		prompts := make([][]int, n)
		for i := range prompts {
			for j := 0; j < plen; j++ {
				prompts[i] = append(prompts[i], 2+r.IntN(vocab-2))
			}
		}
		o := randomOptions(r, plen, vocab)
		search, ref := Generate, func() ([][]int, error) { return refBeam(f, prompts, o) }
		switch {
		case o.NumBeams > 1:
			beams++
		case r.IntN(2) == 0:
			// One beam is a search of its own, not greedy search.
			search = Beam
			beams++
		default:
			ref = func() ([][]int, error) { return refGreedy(f, prompts, o), nil }
			greedy++
		}
		got, err := search(ctx, &fakeModel{f: f}, prompts, o)
		want, refErr := ref()
		if refErr != nil {
			refErrs++
			if err == nil {
				t.Errorf("trial %d (%+v): no error where transformers raises %v", trial, o, refErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("trial %d (%+v): %v", trial, o, err)
		}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("trial %d (%+v, prompts %v):\n got %v\nwant %v", trial, o, prompts, got, want)
		}
		for i := range prompts {
			if len(got[i]) < refMaxLen(o, plen) {
				endedEarly++
			}
			one, err := search(ctx, &fakeModel{f: f}, prompts[i:i+1], o)
			if err != nil || !slices.Equal(one[0], got[i]) {
				t.Fatalf("trial %d item %d alone: %v %v, in batch %v", trial, i, one, err, got[i])
			}
		}
	}
	t.Logf("%d greedy and %d beam searches, %d ended by the reference's error, %d sequences ended before the maximum length", greedy, beams, refErrs, endedEarly)
	if greedy < 50 || beams < 200 || endedEarly < 200 {
		t.Errorf("the trials do not exercise the searches enough")
	}
}

// TestSearchErrors checks that bad options, prompts and model outputs are
// errors, never panics.
func TestSearchErrors(t *testing.T) {
	ctx := context.Background()
	bad := map[string]struct {
		prompts [][]int
		o       Options
	}{
		"no prompts":               {nil, base()},
		"empty prompt":             {[][]int{{}}, base()},
		"ragged prompts":           {[][]int{{0}, {0, 2}}, base()},
		"max length too short":     {[][]int{{0, 2}}, Options{MaxLength: 2}},
		"negative max new tokens":  {[][]int{{0}}, Options{MaxLength: 5, MaxNewTokens: -1}},
		"negative min length":      {[][]int{{0}}, Options{MaxLength: 5, MinLength: -1}},
		"negative beams":           {[][]int{{0}}, Options{MaxLength: 5, NumBeams: -2}},
		"negative n-gram size":     {[][]int{{0}}, Options{MaxLength: 5, NoRepeatNgramSize: -1}},
		"negative penalty":         {[][]int{{0}}, Options{MaxLength: 5, RepetitionPenalty: -1}},
		"bad early stopping":       {[][]int{{0}}, Options{MaxLength: 5, EarlyStopping: 7}},
		"EOS outside vocabulary":   {[][]int{{0}}, Options{MaxLength: 5, EOS: []int{4}}},
		"forced EOS outside":       {[][]int{{0}}, Options{MaxLength: 5, EOS: []int{1}, ForcedEOS: []int{-1}}},
		"suppressed outside":       {[][]int{{0}}, Options{MaxLength: 5, SuppressTokens: []int{9}}},
		"begin-suppressed outside": {[][]int{{0}}, Options{MaxLength: 5, BeginSuppressTokens: []int{-2}}},
	}
	for name, c := range bad {
		for _, beams := range []int{1, 2} {
			o := c.o
			if o.NumBeams == 0 {
				o.NumBeams = beams
			}
			if _, err := Generate(ctx, &fakeModel{f: table}, c.prompts, o); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s (%d beams): %v, want ErrInvalid", name, o.NumBeams, err)
			}
		}
	}
	// A model returning the wrong number of rows or of scores.
	for name, f := range map[string]func(context.Context, [][]int) ([][]float32, error){
		"rows":   func(context.Context, [][]int) ([][]float32, error) { return nil, nil },
		"scores": func(_ context.Context, tk [][]int) ([][]float32, error) { return make([][]float32, len(tk)), nil },
		"ragged": func(_ context.Context, tk [][]int) ([][]float32, error) {
			out := make([][]float32, len(tk))
			for i := range out {
				out[i] = make([]float32, 4+i)
			}
			return out, nil
		},
	} {
		for _, beams := range []int{1, 2} {
			o := base()
			o.NumBeams = beams
			if _, err := Generate(ctx, funcStepper(f), [][]int{{0}, {0}}, o); err == nil {
				t.Errorf("bad logits (%s), %d beams: no error", name, beams)
			}
		}
	}
	// Too many end tokens among the candidates: transformers' ValueError.
	o := Options{MaxLength: 5, NumBeams: 2, EOS: []int{1, 2, 3}}
	if _, err := Beam(ctx, &fakeModel{f: table}, [][]int{{0}}, o); err == nil {
		t.Errorf("three end tokens of four, two beams: no error")
	}
}

// funcStepper is a Stepper made of a step function; Reorder accepts
// anything.
type funcStepper func(context.Context, [][]int) ([][]float32, error)

func (f funcStepper) Step(ctx context.Context, tokens [][]int) ([][]float32, error) {
	return f(ctx, tokens)
}

func (funcStepper) Reorder([]int) error { return nil }

func TestSearchCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := base()
	if _, err := Greedy(ctx, &fakeModel{f: table}, [][]int{{0}}, o); !errors.Is(err, context.Canceled) {
		t.Errorf("greedy on a cancelled context: %v", err)
	}
	o.NumBeams = 2
	if _, err := Beam(ctx, &fakeModel{f: table}, [][]int{{0}}, o); !errors.Is(err, context.Canceled) {
		t.Errorf("beam on a cancelled context: %v", err)
	}
	// Errors of the model pass through.
	boom := errors.New("boom")
	step := funcStepper(func(context.Context, [][]int) ([][]float32, error) { return nil, boom })
	for _, nb := range []int{1, 2} {
		o.NumBeams = nb
		if _, err := Generate(context.Background(), step, [][]int{{0}}, o); !errors.Is(err, boom) {
			t.Errorf("%d beams, failing model: %v", nb, err)
		}
	}
}

func TestEarlyStoppingText(t *testing.T) {
	for _, c := range []struct {
		json, text string
		e          EarlyStopping
	}{{"false", "false", EarlyStoppingHeuristic}, {"true", "true", EarlyStoppingFirst}, {`"never"`, "never", EarlyStoppingNever}} {
		var e EarlyStopping
		if err := e.UnmarshalJSON([]byte(c.json)); err != nil || e != c.e {
			t.Errorf("UnmarshalJSON(%s) = %v, %v", c.json, e, err)
		}
		if b, err := c.e.MarshalJSON(); err != nil || string(b) != c.json {
			t.Errorf("MarshalJSON(%v) = %s, %v", c.e, b, err)
		}
		if p, err := ParseEarlyStopping(c.text); err != nil || p != c.e || c.e.String() != c.text {
			t.Errorf("ParseEarlyStopping(%q) = %v, %v; String %q", c.text, p, err, c.e.String())
		}
	}
	e := EarlyStoppingNever
	if err := e.UnmarshalJSON([]byte("null")); err != nil || e != EarlyStoppingHeuristic {
		t.Errorf("null: %v, %v", e, err)
	}
	for _, b := range []string{`"sometimes"`, `"true"`, `1`, `{`} {
		if err := e.UnmarshalJSON([]byte(b)); err == nil {
			t.Errorf("UnmarshalJSON(%s): no error", b)
		}
	}
	if _, err := ParseEarlyStopping("yes"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseEarlyStopping(yes): %v", err)
	}
	if _, err := EarlyStopping(5).MarshalJSON(); err == nil {
		t.Errorf("MarshalJSON(5): no error")
	}
}
