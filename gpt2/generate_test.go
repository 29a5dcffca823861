package gpt2

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"testing"

	"github.com/goformer/goformer/tensor"
)

// oracle returns the processed scores of the token after seq (log-softmaxed
// first when logSoftmax is set, as beam search does), recomputing the whole
// sequence without a cache.
func oracle(t *testing.T, m *Model, enc *tensor.Tensor, opt SearchOptions, logSoftmax bool) func(seq []int) []float32 {
	return func(seq []int) []float32 {
		st, err := m.NewState(1, enc)
		if err != nil {
			t.Fatal(err)
		}
		l, err := m.Logits(context.Background(), st, [][]int{seq})
		if err != nil {
			t.Fatal(err)
		}
		row := slices.Clone(l.Index(0).Index(len(seq) - 1).Data())
		if logSoftmax {
			tensor.LogSoftmaxRow(row)
		}
		refProcess(row, seq, opt)
		return row
	}
}

// refProcess applies transformers' processors in _get_logits_processor's
// order: repetition penalty (gather, rescale, scatter), no-repeat n-grams,
// minimum length, forced EOS.
func refProcess(scores []float32, seq []int, opt SearchOptions) {
	if p := float32(opt.RepetitionPenalty); p != 0 && p != 1 {
		gathered := make([]float32, len(seq))
		for i, id := range seq {
			gathered[i] = scores[id]
		}
		for i, id := range seq {
			if gathered[i] < 0 {
				scores[id] = gathered[i] * p
			} else {
				scores[id] = gathered[i] / p
			}
		}
	}
	banNgramsRef(scores, seq, opt.NoRepeatNgramSize)
	if len(seq) < opt.MinLength {
		for _, e := range opt.EOS {
			scores[e] = float32(math.Inf(-1))
		}
	}
	if len(opt.ForcedEOS) > 0 && len(seq) == opt.MaxLength-1 {
		for i := range scores {
			if !slices.Contains(opt.ForcedEOS, i) {
				scores[i] = float32(math.Inf(-1))
			} else {
				scores[i] = 0
			}
		}
	}
}

// banNgramsRef is NoRepeatNGramLogitsProcessor written after transformers:
// a dict from (n−1)-gram prefixes to the tokens that followed them.
func banNgramsRef(scores []float32, seq []int, n int) {
	if n <= 0 || len(seq)+1 < n {
		return
	}
	gen := map[string][]int{}
	for s := 0; s+n <= len(seq); s++ {
		key := fmt.Sprint(seq[s : s+n-1])
		gen[key] = append(gen[key], seq[s+n-1])
	}
	for _, tok := range gen[fmt.Sprint(seq[len(seq)+1-n:])] {
		scores[tok] = float32(math.Inf(-1))
	}
}

// refBeamSearch transcribes transformers 4.30's beam_search and
// BeamSearchScorer (batch size 1, one returned sequence) over a cache-free
// oracle, keeping its tensor-shaped bookkeeping.
func refBeamSearch(next func([]int) []float32, vocab int, prompt []int, k, maxLen int, eosIDs []int, lp float64, early string) []int {
	inputIDs := make([][]int, k)
	for i := range inputIDs {
		inputIDs[i] = slices.Clone(prompt)
	}
	beamScores := make([]float32, k)
	for i := 1; i < k; i++ {
		beamScores[i] = -1e9
	}
	type hyp struct {
		score float64
		seq   []int
	}
	var hyps []hyp
	worst := 1e9
	add := func(seq []int, sum float64) {
		score := sum / math.Pow(float64(len(seq)), lp)
		if len(hyps) < k || score > worst {
			hyps = append(hyps, hyp{score, slices.Clone(seq)})
			if len(hyps) > k {
				type si struct {
					s float64
					i int
				}
				sorted := make([]si, len(hyps))
				for i, h := range hyps {
					sorted[i] = si{h.score, i}
				}
				sort.Slice(sorted, func(a, b int) bool {
					if sorted[a].s != sorted[b].s {
						return sorted[a].s < sorted[b].s
					}
					return sorted[a].i < sorted[b].i
				})
				hyps = append(hyps[:sorted[0].i], hyps[sorted[0].i+1:]...)
				worst = sorted[1].s
			} else {
				worst = math.Min(score, worst)
			}
		}
	}
	isDone := func(best float64, curLen int) bool {
		if len(hyps) < k {
			return false
		}
		switch early {
		case "true":
			return true
		case "never":
			if lp > 0 {
				return worst >= best/math.Pow(float64(maxLen), lp)
			}
		}
		return worst >= best/math.Pow(float64(curLen), lp)
	}
	done := false
	for {
		scores := make([]float32, k*vocab)
		for i := range inputIDs {
			lpRow := next(inputIDs[i])
			for v := range lpRow {
				scores[i*vocab+v] = lpRow[v] + beamScores[i]
			}
		}
		order := make([]int, len(scores))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
		top := order[:2*k]
		curLen := len(inputIDs[0])
		var nbScores []float32
		var nbTokens, nbIdx []int
		for rank, flat := range top {
			tok, beam := flat%vocab, flat/vocab
			if slices.Contains(eosIDs, tok) {
				if rank >= k {
					continue
				}
				add(inputIDs[beam], float64(scores[flat]))
			} else {
				nbScores = append(nbScores, scores[flat])
				nbTokens = append(nbTokens, tok)
				nbIdx = append(nbIdx, beam)
			}
			if len(nbTokens) == k {
				break
			}
		}
		done = done || isDone(float64(scores[top[0]]), curLen+1)
		newIDs := make([][]int, k)
		for i := range newIDs {
			newIDs[i] = append(slices.Clone(inputIDs[nbIdx[i]]), nbTokens[i])
		}
		inputIDs, beamScores = newIDs, nbScores
		if done || len(inputIDs[0]) >= maxLen {
			break
		}
	}
	if !done {
		for i := range inputIDs {
			add(inputIDs[i], float64(beamScores[i]))
		}
	}
	sort.SliceStable(hyps, func(a, b int) bool { return hyps[a].score < hyps[b].score })
	best := hyps[len(hyps)-1].seq
	if len(best) < maxLen && len(eosIDs) > 0 {
		best = append(best, eosIDs[0])
	}
	return best
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
	m, err := NewModel(c, s.Root())
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := randomEnc(seed, 6, c.NEmbd)
	return m, enc
}

func TestGreedyMatchesUncachedArgmax(t *testing.T) {
	ctx := context.Background()
	for seed := uint64(1); seed <= 6; seed++ {
		m, enc := boostedModel(t, seed)
		eos := m.cfg.EOSTokenID
		for _, opt := range []SearchOptions{
			{MaxLength: 12, EOS: []int{eos}},
			{MaxLength: 12, EOS: []int{eos}, NoRepeatNgramSize: 2},
			{MaxLength: 10, EOS: []int{eos, 5}, MinLength: 6, RepetitionPenalty: 1.4, ForcedEOS: []int{eos}},
			{MaxLength: 8},
		} {
			got, err := m.Generate(ctx, enc, []int{eos}, opt)
			if err != nil {
				t.Fatal(err)
			}
			next := oracle(t, m, enc, opt, false)
			want := []int{eos}
			for len(want) < opt.MaxLength {
				tok := tensor.Argmax(next(want))
				want = append(want, tok)
				if slices.Contains(opt.EOS, tok) {
					break
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("seed %d %+v: greedy %v, want %v", seed, opt, got, want)
			}
			if n := opt.NoRepeatNgramSize; n > 0 && hasRepeatedNgram(got[:len(got)-1], n) {
				t.Errorf("seed %d: %v repeats a %d-gram", seed, got, n)
			}
		}
	}
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

func TestBeamSearchMatchesReference(t *testing.T) {
	ctx := context.Background()
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
			early := opt.EarlyStopping
			if early == "" {
				early = "false"
			}
			got, err := m.Generate(ctx, enc, []int{eos}, opt)
			if err != nil {
				t.Fatal(err)
			}
			want := refBeamSearch(oracle(t, m, enc, opt, true), m.cfg.VocabSize, []int{eos}, opt.NumBeams, opt.MaxLength, opt.EOS, opt.LengthPenalty, early)
			if !slices.Equal(got, want) {
				t.Errorf("seed %d %+v: beam search %v, want %v", seed, opt, got, want)
			}
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

func TestBanNgrams(t *testing.T) {
	seqs := [][]int{{1, 2, 3, 1, 2}, {5, 5, 5}, {1}, {4, 1, 4, 1, 4}, {}}
	for _, seq := range seqs {
		for n := 1; n <= 4; n++ {
			got := make([]float32, 7)
			want := make([]float32, 7)
			banNgrams(got, seq, n)
			banNgramsRef(want, seq, n)
			if !slices.Equal(got, want) {
				t.Errorf("seq %v n %d: %v, want %v", seq, n, got, want)
			}
		}
	}
}
