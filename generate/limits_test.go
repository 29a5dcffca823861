package generate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// countingStepper is a Stepper with a fixed vocabulary whose every row's
// logits come from a seeded generator; it counts its calls and runs hook
// (when set) at the end of each Step, before returning.
type countingStepper struct {
	vocab    int
	rng      *rand.Rand
	rows     int
	steps    int
	reorders int
	hook     func(step int)
}

func (c *countingStepper) Step(_ context.Context, tokens [][]int) ([][]float32, error) {
	c.steps++
	out := make([][]float32, len(tokens))
	for r := range out {
		out[r] = make([]float32, c.vocab)
		for j := range out[r] {
			out[r][j] = float32(c.rng.NormFloat64())
		}
		out[r][tEOS] = -20 // the text never ends by itself
	}
	if c.hook != nil {
		c.hook(c.steps)
	}
	return out, nil
}

func (c *countingStepper) Reorder(idx []int) error {
	c.reorders++
	c.rows = len(idx)
	return nil
}

// TestLimitsRefusedBeforeWork checks that beams and lengths over the
// package's limits are refused with ErrInvalid naming the limit, before
// the Stepper is called.
func TestLimitsRefusedBeforeWork(t *testing.T) {
	ctx := context.Background()
	for name, c := range map[string]struct {
		o     Options
		limit int
	}{
		"1000 beams":            {Options{MaxLength: 20, NumBeams: 1000}, MaxBeams},
		"MaxBeams+1 beams":      {Options{MaxLength: 20, NumBeams: MaxBeams + 1}, MaxBeams},
		"too many new tokens":   {Options{MaxNewTokens: MaxSequenceLength + 1}, MaxSequenceLength},
		"huge max new tokens":   {Options{MaxNewTokens: int(^uint(0) >> 1)}, MaxSequenceLength},
		"max length over limit": {Options{MaxLength: MaxSequenceLength + 1}, MaxSequenceLength},
		"prompt plus new":       {Options{MaxNewTokens: MaxSequenceLength}, MaxSequenceLength},
	} {
		for _, search := range []struct {
			name string
			f    func(context.Context, Stepper, [][]int, Options) ([][]int, error)
		}{{"Generate", Generate}, {"Beam", Beam}} {
			if search.name == "Generate" && c.o.NumBeams <= 1 && c.limit == MaxBeams {
				continue
			}
			s := &countingStepper{vocab: 8, rng: rand.New(rand.NewPCG(1, 1))}
			_, err := search.f(ctx, s, [][]int{{0, 2}}, c.o)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s, %s: %v, want ErrInvalid", name, search.name, err)
				continue
			}
			if !strings.Contains(err.Error(), fmt.Sprint(c.limit)) {
				t.Errorf("%s, %s: %q does not name the limit %d", name, search.name, err, c.limit)
			}
			if s.steps != 0 || s.reorders != 0 {
				t.Errorf("%s, %s: %d steps and %d reorders before the refusal", name, search.name, s.steps, s.reorders)
			}
		}
	}
	// Greedy search ignores NumBeams; the limits themselves are accepted.
	if _, err := Greedy(ctx, &fakeModel{f: table}, [][]int{{tStart}}, Options{MaxLength: 4, NumBeams: 1000}); err != nil {
		t.Errorf("greedy with NumBeams 1000: %v", err)
	}
	if _, err := Beam(ctx, &countingStepper{vocab: 2 * MaxBeams, rng: rand.New(rand.NewPCG(1, 1))}, [][]int{{0}}, Options{MaxLength: 3, NumBeams: MaxBeams}); err != nil {
		t.Errorf("MaxBeams beams: %v", err)
	}
}

// TestBeamWideMatchesReference runs MaxBeams beams over a vocabulary of a
// few hundred tokens against the literal port of transformers' loop (which
// sorts every score of every beam), and checks that it is quick.
func TestBeamWideMatchesReference(t *testing.T) {
	ctx := context.Background()
	for trial := range 3 {
		vocab := 300 + 50*trial
		f := randomModel(uint64(100+trial), vocab)
		o := Options{MaxLength: 8, NumBeams: MaxBeams, LengthPenalty: 1, EOS: []int{1}, EarlyStopping: EarlyStopping(trial)}
		start := time.Now()
		got, err := Beam(ctx, &fakeModel{f: f}, [][]int{{2}, {3}}, o)
		elapsed := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		want, err := refBeam(f, [][]int{{2}, {3}}, o)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("trial %d: %v, want %v", trial, got, want)
		}
		t.Logf("%d beams, vocabulary %d, 2 prompts: %v (model included)", MaxBeams, vocab, elapsed)
	}
}

// TestTopKTies checks the candidate selection against a full stable sort
// on rows full of ties, NaN and infinities.
func TestTopKTies(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	values := []float32{0, 1, -1, 2, float32(negInf), float32(-negInf), nanF()}
	var sel topK
	for trial := 0; trial < 500; trial++ {
		beams, vocab := 1+r.IntN(5), 1+r.IntN(12)
		k := 1 + r.IntN(2*beams+1)
		rows := make([][]float32, beams)
		var all []candidate
		sel.reset(k)
		for b := range rows {
			rows[b] = make([]float32, vocab)
			for j := range rows[b] {
				rows[b][j] = values[r.IntN(len(values))]
				if v := rows[b][j]; v == v {
					all = append(all, candidate{score: v, beam: b, token: j})
				}
			}
			sel.offer(b, rows[b])
		}
		slices.SortStableFunc(all, func(a, b candidate) int {
			switch {
			case a.score > b.score:
				return -1
			case a.score < b.score:
				return 1
			}
			return 0
		})
		want := all[:min(k, len(all))]
		got := sel.sorted(nil)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d (k %d, rows %v):\n got %v\nwant %v", trial, k, rows, got, want)
		}
	}
}

func nanF() float32 {
	var z float32
	return z / z
}

// TestCancelStopsSearch cancels the context while the Stepper computes a
// step of a search that would otherwise run for thousands of steps, and
// checks that the search returns the context's error without another Step
// or Reorder: the rows of the cancelled step are not even ranked.
func TestCancelStopsSearch(t *testing.T) {
	for _, beams := range []int{1, 4, MaxBeams} {
		for _, at := range []int{1, 5} {
			ctx, cancel := context.WithCancel(context.Background())
			var reordersAtCancel int
			s := &countingStepper{vocab: 2*beams + 2, rng: rand.New(rand.NewPCG(5, 6))}
			s.hook = func(step int) {
				if step == at {
					reordersAtCancel = s.reorders
					cancel()
				}
			}
			o := Options{MaxLength: 100000, NumBeams: beams, LengthPenalty: 1, EOS: []int{tEOS}}
			_, err := Generate(ctx, s, [][]int{{0}, {2}}, o)
			cancel()
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%d beams, cancelled at step %d: %v, want context.Canceled", beams, at, err)
			}
			if s.steps != at || s.reorders != reordersAtCancel {
				t.Errorf("%d beams, cancelled at step %d: %d steps and %d more reorders after the cancellation, want none",
					beams, at, s.steps-at, s.reorders-reordersAtCancel)
			}
		}
	}
}

// BenchmarkBeamSelect measures one beam-search step's ranking (log-softmax,
// scores, candidate selection) of MaxBeams beams over a 50,257-token
// vocabulary, without a model.
func BenchmarkBeamSelect(b *testing.B) {
	const vocab = 50257
	r := rand.New(rand.NewPCG(7, 8))
	rows := make([][]float32, MaxBeams)
	for i := range rows {
		rows[i] = make([]float32, vocab)
		for j := range rows[i] {
			rows[i][j] = float32(r.NormFloat64())
		}
	}
	var sel topK
	var top []candidate
	b.ResetTimer()
	for range b.N {
		sel.reset(2 * MaxBeams)
		for k, row := range rows {
			sel.offer(k, row)
		}
		top = sel.sorted(top)
	}
}
