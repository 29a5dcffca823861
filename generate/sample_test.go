package generate

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func logits(ps ...float64) []float32 {
	out := make([]float32, len(ps))
	for i, p := range ps {
		out[i] = float32(math.Log(p))
	}
	return out
}

func kept(scores []float32) []int {
	var out []int
	for i, s := range scores {
		if !math.IsInf(float64(s), -1) {
			out = append(out, i)
		}
	}
	return out
}

// TestWarpersHandWorked checks the warpers on distributions worked
// through by hand with transformers' rules.
func TestWarpersHandWorked(t *testing.T) {
	// Top-p 0.8 over probabilities .05 .5 .15 .3: ascending .05 .15 .3 .5
	// add up to .05 .2 .5 1; those at or below .2 go.
	s := logits(0.05, 0.5, 0.15, 0.3)
	TopP{P: 0.8, MinKeep: 1}.Process(nil, s)
	if got := kept(s); !slices.Equal(got, []int{1, 3}) {
		t.Errorf("top-p 0.8 keeps %v, want [1 3]", got)
	}
	// Top-p 0.1: only the best survives; with MinKeep 3 the best three.
	s = logits(0.05, 0.5, 0.15, 0.3)
	TopP{P: 0.1, MinKeep: 1}.Process(nil, s)
	if got := kept(s); !slices.Equal(got, []int{1}) {
		t.Errorf("top-p 0.1 keeps %v, want [1]", got)
	}
	s = logits(0.05, 0.5, 0.15, 0.3)
	TopP{P: 0.1, MinKeep: 3}.Process(nil, s)
	if got := kept(s); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("top-p 0.1, keep 3: %v, want [1 2 3]", got)
	}
	// Top-k 2 keeps ties with the second best.
	s = []float32{1, 3, 2, 2, 0}
	TopK{K: 2, MinKeep: 1}.Process(nil, s)
	if got := kept(s); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("top-k 2 keeps %v, want [1 2 3]", got)
	}
	s = []float32{1, 3, 2}
	TopK{K: 1, MinKeep: 2}.Process(nil, s)
	if got := kept(s); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("top-k 1, keep 2: %v, want [1 2]", got)
	}
	s = []float32{2, -4}
	Temperature(0.5).Process(nil, s)
	if s[0] != 4 || s[1] != -8 {
		t.Errorf("temperature 0.5: %v, want [4 -8]", s)
	}
	// Order: temperature before top-k and top-p.
	w := Sampling{Temperature: 0.7, TopK: 5, TopP: 0.9}.Warpers()
	if len(w) != 3 {
		t.Fatalf("warpers %v", w)
	}
	if _, ok := w[0].(Temperature); !ok {
		t.Errorf("first warper %T, want Temperature", w[0])
	}
	if _, ok := w[2].(TopP); !ok {
		t.Errorf("last warper %T, want TopP", w[2])
	}
	if w := (Sampling{Temperature: 1, TopP: 1}).Warpers(); len(w) != 0 {
		t.Errorf("temperature 1, top-p 1: warpers %v, want none", w)
	}
}

// TestSampleTokenDistribution draws many tokens and compares their
// frequencies with the probabilities.
func TestSampleTokenDistribution(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ps := []float64{0.1, 0, 0.45, 0.05, 0.4}
	s := logits(ps...)
	const n = 200000
	counts := make([]int, len(ps))
	for i := 0; i < n; i++ {
		tok := SampleToken(r, s)
		if tok < 0 {
			t.Fatal("no token drawn")
		}
		counts[tok]++
	}
	for i, p := range ps {
		f := float64(counts[i]) / n
		sd := math.Sqrt(p * (1 - p) / n)
		if math.Abs(f-p) > 5*sd+1e-9 {
			t.Errorf("token %d drawn with frequency %.4f, probability %.4f", i, f, p)
		}
	}
	if counts[1] != 0 {
		t.Errorf("a token of probability 0 was drawn %d times", counts[1])
	}
	if tok := SampleToken(r, []float32{float32(math.Inf(-1)), float32(math.Inf(-1))}); tok != -1 {
		t.Errorf("all −Inf: drew %d, want -1", tok)
	}
}

func TestSample(t *testing.T) {
	ctx := context.Background()
	f := randomModel(11, 12)
	o := Options{MaxNewTokens: 8, EOS: []int{1}, RepetitionPenalty: 1.2}
	prompts := [][]int{{0, 3}, {0, 4}, {0, 5}}
	// Top-k 1 is greedy search.
	greedy, err := Greedy(ctx, &fakeModel{f: f}, prompts, o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Sample(ctx, &fakeModel{f: f}, prompts, o, Sampling{TopK: 1, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	for i := range greedy {
		if !slices.Equal(got[i], greedy[i]) {
			t.Errorf("prompt %d: top-k 1 sampling %v, greedy %v", i, got[i], greedy[i])
		}
	}
	// One seed, one text; different seeds differ somewhere.
	sp := Sampling{Temperature: 1.5, TopP: 0.95, Seed: 42}
	a, err := Sample(ctx, &fakeModel{f: f}, prompts, o, sp)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Sample(ctx, &fakeModel{f: f}, prompts, o, sp)
	differ := false
	for seed := uint64(43); seed < 48 && !differ; seed++ {
		sp.Seed = seed
		c, _ := Sample(ctx, &fakeModel{f: f}, prompts, o, sp)
		for i := range a {
			if !slices.Equal(a[i], b[i]) {
				t.Fatalf("prompt %d: seed 42 gave %v then %v", i, a[i], b[i])
			}
			differ = differ || !slices.Equal(a[i], c[i])
		}
	}
	if !differ {
		t.Error("five other seeds all gave the texts of seed 42")
	}
	for i, s := range a {
		if len(s) > 2+8 || !slices.Equal(s[:2], prompts[i]) {
			t.Errorf("prompt %d: %v does not extend the prompt within 8 new tokens", i, s)
		}
		for _, tok := range s[2 : len(s)-1] {
			if tok == 1 {
				t.Errorf("prompt %d: %v goes on after the end token", i, s)
			}
		}
	}
	// Invalid settings.
	for _, bad := range []Sampling{{Temperature: -1}, {TopP: 1.5}, {TopK: -2}, {TopP: math.NaN()}} {
		if _, err := Sample(ctx, &fakeModel{f: f}, prompts, o, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: error %v, want ErrInvalid", bad, err)
		}
	}
	// Cancellation is seen at the next step.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Sample(cctx, &fakeModel{f: f}, prompts, o, Sampling{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
