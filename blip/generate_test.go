package blip

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/goformer/goformer/tensor"
)

// fakeModel is a stepper over a language model given as a function of
// the whole sequence. It keeps each row's sequence itself, so any mistake
// in the search's row bookkeeping (expansion, reordering, dropping rows)
// shows up as different logits.
type fakeModel struct {
	f     func(seq []int) []float32
	seqs  [][]int
	steps int
}

func (m *fakeModel) step(ctx context.Context, tokens [][]int) ([][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if m.seqs == nil {
		m.seqs = make([][]int, len(tokens))
	}
	if len(tokens) != len(m.seqs) {
		return nil, fmt.Errorf("fake: %d token rows for %d rows", len(tokens), len(m.seqs))
	}
	out := make([][]float32, len(tokens))
	for r, t := range tokens {
		m.seqs[r] = append(m.seqs[r], t...)
		out[r] = m.f(m.seqs[r])
	}
	m.steps++
	return out, nil
}

func (m *fakeModel) reorder(idx []int) {
	if m.seqs == nil {
		m.seqs = make([][]int, len(idx))
		return
	}
	ns := make([][]int, len(idx))
	for i, j := range idx {
		ns[i] = slices.Clone(m.seqs[j])
	}
	m.seqs = ns
}

// table returns log-probabilities of a 4-token vocabulary (0: prompt
// token, 1: EOS, 2: A, 3: B) chosen by the sequence.
func table(seq []int) []float32 {
	p := map[string][3]float64{
		"[0]":   {0.25, 0.40, 0.35},
		"[0 2]": {0.34, 0.33, 0.33},
		"[0 3]": {0.90, 0.05, 0.05},
	}[fmt.Sprint(seq)]
	if p == [3]float64{} {
		p = [3]float64{0.5, 0.3, 0.2}
	}
	return []float32{float32(math.Log(1e-9)), float32(math.Log(p[0])), float32(math.Log(p[1])), float32(math.Log(p[2]))}
}

func baseSearch() searchConfig {
	return searchConfig{maxLength: 6, numBeams: 1, lengthPenalty: 1, earlyStopping: EarlyStoppingHeuristic, repetitionPenalty: 1, eos: 1, pad: 0}
}

// TestSearchHandWorked checks greedy and beam search on a model where the
// greedy choice (A, then EOS: p = 0.136) loses to the beam's (B, then EOS:
// p = 0.315), worked through by hand with transformers' rules.
func TestSearchHandWorked(t *testing.T) {
	ctx := context.Background()
	c := baseSearch()
	got, err := greedySearch(ctx, &fakeModel{f: table}, [][]int{{0}}, c)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 2, 1}; !slices.Equal(got[0], want) {
		t.Errorf("greedy: %v, want %v", got[0], want)
	}
	for _, es := range []EarlyStopping{EarlyStoppingHeuristic, EarlyStoppingFirst, EarlyStoppingNever} {
		for _, lp := range []float64{1, 0} {
			c := baseSearch()
			c.numBeams, c.earlyStopping, c.lengthPenalty = 2, es, lp
			got, err := beamSearch(ctx, &fakeModel{f: table}, [][]int{{0}}, c)
			if err != nil {
				t.Fatal(err)
			}
			if want := []int{0, 3, 1}; !slices.Equal(got[0], want) {
				t.Errorf("beam (early stopping %v, length penalty %g): %v, want %v", es, lp, got[0], want)
			}
		}
	}
	// With EOS banned until 3 new tokens, the texts run on.
	c = baseSearch()
	c.minNewTokens = 3
	got, _ = greedySearch(ctx, &fakeModel{f: table}, [][]int{{0}}, c)
	if want := []int{0, 2, 2, 2, 1}; !slices.Equal(got[0], want) {
		t.Errorf("greedy, min 3 new tokens: %v, want %v", got[0], want)
	}
	// Maximum length: no EOS appended.
	c = baseSearch()
	c.maxLength, c.minLength = 3, 3
	got, _ = greedySearch(ctx, &fakeModel{f: table}, [][]int{{0}}, c)
	if want := []int{0, 2, 2}; !slices.Equal(got[0], want) {
		t.Errorf("greedy, max length 3: %v, want %v", got[0], want)
	}
}

func TestRepetitionPenalty(t *testing.T) {
	c := baseSearch()
	c.repetitionPenalty = 2
	s := []float32{-1, 2, 3, -4}
	c.processLogits([]int{0, 1, 1, 3}, 1, s)
	if want := []float32{-2, 1, 3, -8}; !slices.Equal(s, want) {
		t.Errorf("penalised scores %v, want %v", s, want)
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

// TestSearchMatchesReference compares the searches with a literal port of
// transformers' greedy_search and beam_search (whole batch, finished items
// padded, nothing dropped), on random models, batch sizes and settings.
func TestSearchMatchesReference(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 300; trial++ {
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
		c := searchConfig{
			maxLength:         plen + 1 + r.IntN(7),
			numBeams:          1 + r.IntN(4),
			lengthPenalty:     []float64{1, 0.5, 2, -1, 0}[r.IntN(5)],
			earlyStopping:     EarlyStopping(1 + r.IntN(3)),
			repetitionPenalty: []float64{1, 1.3, 0.8}[r.IntN(3)],
			minLength:         r.IntN(4),
			minNewTokens:      r.IntN(3),
			eos:               1,
		}
		if c.numBeams*2 > vocab {
			c.numBeams = vocab / 2
		}
		var got, want [][]int
		var err error
		fm := &fakeModel{f: f}
		if c.numBeams == 1 {
			got, err = greedySearch(ctx, fm, prompts, c)
			want = refGreedy(f, prompts, c)
		} else {
			got, err = beamSearch(ctx, fm, prompts, c)
			want = refBeam(f, prompts, c)
		}
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("trial %d (%+v, prompts %v):\n got %v\nwant %v", trial, c, prompts, got, want)
		}
		// Each batch item alone gives the same result.
		for i := range prompts {
			fm := &fakeModel{f: f}
			var one [][]int
			if c.numBeams == 1 {
				one, err = greedySearch(ctx, fm, prompts[i:i+1], c)
			} else {
				one, err = beamSearch(ctx, fm, prompts[i:i+1], c)
			}
			if err != nil || !slices.Equal(one[0], got[i]) {
				t.Fatalf("trial %d item %d alone: %v %v, in batch %v", trial, i, one, err, got[i])
			}
		}
	}
}

// refGreedy is transformers' greedy_search over the whole batch: finished
// rows receive the pad token, the loop ends when all rows are finished or
// the maximum length is reached; rows are then cut after their EOS.
func refGreedy(f func([]int) []float32, prompts [][]int, c searchConfig) [][]int {
	ids := make([][]int, len(prompts))
	for i := range ids {
		ids[i] = slices.Clone(prompts[i])
	}
	unfinished := make([]bool, len(ids))
	for i := range unfinished {
		unfinished[i] = true
	}
	plen := len(prompts[0])
	for {
		any := false
		for i := range ids {
			s := f(ids[i])
			c.processLogits(ids[i], plen, s)
			tok := c.pad
			if unfinished[i] {
				tok = tensor.Argmax(s)
			}
			ids[i] = append(ids[i], tok)
			if tok == c.eos {
				unfinished[i] = false
			}
			any = any || unfinished[i]
		}
		if !any || len(ids[0]) >= c.maxLength {
			break
		}
	}
	for i := range ids {
		if k := slices.Index(ids[i][plen:], c.eos); k >= 0 {
			ids[i] = ids[i][:plen+k+1]
		}
	}
	return ids
}

// refBeam is transformers' beam_search with BeamSearchScorer, over the
// whole batch of batch×beams rows.
func refBeam(f func([]int) []float32, prompts [][]int, c searchConfig) [][]int {
	nb, n := c.numBeams, len(prompts)
	plen := len(prompts[0])
	var ids [][]int
	var beamScores []float32
	for _, p := range prompts {
		for k := 0; k < nb; k++ {
			ids = append(ids, slices.Clone(p))
			if k == 0 {
				beamScores = append(beamScores, 0)
			} else {
				beamScores = append(beamScores, -1e9)
			}
		}
	}
	hyps := make([]*beamHyps, n)
	for i := range hyps {
		hyps[i] = newBeamHyps(nb, c)
	}
	done := make([]bool, n)
	for {
		curLen := len(ids[0])
		var scores [][]float32
		for r := range ids {
			s := f(ids[r])
			tensor.LogSoftmaxRow(s)
			c.processLogits(ids[r], plen, s)
			for j := range s {
				s[j] += beamScores[r]
			}
			scores = append(scores, s)
		}
		vocab := len(scores[0])
		nextScores := make([]float32, n*nb)
		nextTokens := make([]int, n*nb)
		nextIdx := make([]int, n*nb)
		for b := 0; b < n; b++ {
			flat := slices.Concat(scores[b*nb : (b+1)*nb]...)
			top := tensor.TopK(flat, 2*nb)
			if done[b] {
				for k := 0; k < nb; k++ {
					nextScores[b*nb+k], nextTokens[b*nb+k], nextIdx[b*nb+k] = 0, c.pad, b*nb
				}
				continue
			}
			bi := 0
			for rank, fi := range top {
				tok, beam := fi%vocab, fi/vocab
				row := b*nb + beam
				if tok == c.eos {
					if rank >= nb {
						continue
					}
					hyps[b].add(ids[row], float64(flat[fi]), true)
				} else {
					nextScores[b*nb+bi], nextTokens[b*nb+bi], nextIdx[b*nb+bi] = flat[fi], tok, row
					bi++
				}
				if bi == nb {
					break
				}
			}
			done[b] = done[b] || hyps[b].done(float64(flat[top[0]]), curLen)
		}
		newIDs := make([][]int, len(ids))
		for r := range ids {
			newIDs[r] = append(slices.Clone(ids[nextIdx[r]]), nextTokens[r])
		}
		ids, beamScores = newIDs, nextScores
		allDone := !slices.Contains(done, false)
		if allDone || len(ids[0]) >= c.maxLength {
			break
		}
	}
	out := make([][]int, n)
	for b := 0; b < n; b++ {
		if !done[b] {
			for k := 0; k < nb; k++ {
				hyps[b].add(ids[b*nb+k], float64(beamScores[b*nb+k]), false)
			}
		}
		best := hyps[b].best()
		o := best.ids
		if len(o) < c.maxLength {
			o = append(o, c.eos)
		}
		out[b] = o
	}
	return out
}

func TestSearchCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := baseSearch()
	if _, err := greedySearch(ctx, &fakeModel{f: table}, [][]int{{0}}, c); !errors.Is(err, context.Canceled) {
		t.Errorf("greedy on a cancelled context: %v", err)
	}
	c.numBeams = 2
	if _, err := beamSearch(ctx, &fakeModel{f: table}, [][]int{{0}}, c); !errors.Is(err, context.Canceled) {
		t.Errorf("beam on a cancelled context: %v", err)
	}
}
