package generate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/goformer/goformer/tensor"
)

// This file holds the test doubles and the reference implementations the
// searches are compared with: literal ports of transformers v4.30's
// logits processors, greedy_search and beam_search (BeamSearchScorer,
// BeamHypotheses) that keep its whole-batch, padded bookkeeping and share
// no code with the package.

// fakeModel is a Stepper over a language model given as a function of the
// whole sequence. It keeps each row's sequence itself, so any mistake in
// the search's row bookkeeping (expansion, reordering, dropping rows)
// shows up as different logits.
type fakeModel struct {
	f     func(seq []int) []float32
	seqs  [][]int
	steps int
}

func (m *fakeModel) Step(ctx context.Context, tokens [][]int) ([][]float32, error) {
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

func (m *fakeModel) Reorder(idx []int) error {
	if m.seqs == nil {
		m.seqs = make([][]int, len(idx))
		return nil
	}
	ns := make([][]int, len(idx))
	for i, j := range idx {
		if j < 0 || j >= len(m.seqs) {
			return fmt.Errorf("fake: reorder index %d outside %d rows", j, len(m.seqs))
		}
		ns[i] = slices.Clone(m.seqs[j])
	}
	m.seqs = ns
	return nil
}

// errRef is the reference's ValueError: too many end tokens among the
// best candidates.
var errRef = errors.New("reference: fewer non-EOS candidates than beams")

// refProcess applies transformers' logits processors in
// _get_logits_processor's order, each written after its __call__:
// repetition penalty (gather, rescale, scatter), no-repeat n-grams (a dict
// of prefixes), minimum length, minimum new tokens, forced EOS, suppressed
// tokens.
func refProcess(scores []float32, seq []int, promptLen, maxLen int, o Options) {
	if p := float32(o.RepetitionPenalty); p != 0 && p != 1 {
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
	banNgramsRef(scores, seq, o.NoRepeatNgramSize)
	if o.MinLength > 0 && len(seq) < o.MinLength {
		for _, e := range o.EOS {
			scores[e] = float32(math.Inf(-1))
		}
	}
	if o.MinNewTokens > 0 && len(seq)-promptLen < o.MinNewTokens {
		for _, e := range o.EOS {
			scores[e] = float32(math.Inf(-1))
		}
	}
	if len(o.ForcedEOS) > 0 && len(seq) == maxLen-1 {
		for i := range scores {
			if slices.Contains(o.ForcedEOS, i) {
				scores[i] = 0
			} else {
				scores[i] = float32(math.Inf(-1))
			}
		}
	}
	for _, id := range o.SuppressTokens {
		scores[id] = float32(math.Inf(-1))
	}
	if len(seq) == promptLen {
		for _, id := range o.BeginSuppressTokens {
			scores[id] = float32(math.Inf(-1))
		}
	}
}

// banNgramsRef is NoRepeatNGramLogitsProcessor as transformers writes it:
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

// refMaxLen is generate()'s max_length for the options.
func refMaxLen(o Options, promptLen int) int {
	if o.MaxNewTokens > 0 {
		return promptLen + o.MaxNewTokens
	}
	return o.MaxLength
}

// refGreedy is transformers' greedy_search over the whole batch: finished
// rows receive the pad token, the loop ends when all rows are finished or
// the maximum length is reached; rows are then cut after their EOS.
func refGreedy(f func([]int) []float32, prompts [][]int, o Options) [][]int {
	const pad = 0
	plen := len(prompts[0])
	maxLen := refMaxLen(o, plen)
	ids := make([][]int, len(prompts))
	unfinished := make([]bool, len(ids))
	for i := range ids {
		ids[i] = slices.Clone(prompts[i])
		unfinished[i] = true
	}
	for {
		any := false
		for i := range ids {
			s := f(ids[i])
			refProcess(s, ids[i], plen, maxLen, o)
			tok := pad
			if unfinished[i] {
				tok = argmaxRef(s)
			}
			ids[i] = append(ids[i], tok)
			if slices.Contains(o.EOS, tok) {
				unfinished[i] = false
			}
			any = any || unfinished[i]
		}
		if !any || len(ids[0]) >= maxLen {
			break
		}
	}
	for i := range ids {
		if k := slices.IndexFunc(ids[i][plen:], func(t int) bool { return slices.Contains(o.EOS, t) }); k >= 0 {
			ids[i] = ids[i][:plen+k+1]
		}
	}
	return ids
}

// argmaxRef is torch.argmax on a row without NaNs: the first maximum.
func argmaxRef(s []float32) int {
	best := 0
	for i, v := range s {
		if v > s[best] {
			best = i
		}
	}
	return best
}

// refHyps is BeamHypotheses.
type refHyps struct {
	numBeams  int
	lp        float64
	early     EarlyStopping
	maxLength int
	beams     []refHyp
	worst     float64
}

type refHyp struct {
	score float64
	seq   []int
}

func (h *refHyps) add(seq []int, sum float64) {
	score := sum / math.Pow(float64(len(seq)), h.lp)
	if len(h.beams) < h.numBeams || score > h.worst {
		h.beams = append(h.beams, refHyp{score, slices.Clone(seq)})
		if len(h.beams) > h.numBeams {
			// sorted([(s, idx) for idx, (s, _) in enumerate(self.beams)])
			type si struct {
				s float64
				i int
			}
			sorted := make([]si, len(h.beams))
			for i, b := range h.beams {
				sorted[i] = si{b.score, i}
			}
			sort.Slice(sorted, func(a, b int) bool {
				if sorted[a].s != sorted[b].s {
					return sorted[a].s < sorted[b].s
				}
				return sorted[a].i < sorted[b].i
			})
			h.beams = append(h.beams[:sorted[0].i], h.beams[sorted[0].i+1:]...)
			h.worst = sorted[1].s
		} else {
			h.worst = math.Min(score, h.worst)
		}
	}
}

func (h *refHyps) isDone(best float64, curLen int) bool {
	if len(h.beams) < h.numBeams {
		return false
	}
	switch h.early {
	case EarlyStoppingFirst:
		return true
	case EarlyStoppingHeuristic:
		return h.worst >= best/math.Pow(float64(curLen), h.lp)
	}
	if h.lp > 0 {
		return h.worst >= best/math.Pow(float64(h.maxLength), h.lp)
	}
	return h.worst >= best/math.Pow(float64(curLen), h.lp)
}

// refBeam is transformers v4.30's beam_search with BeamSearchScorer over
// the whole batch of batch×beams rows: finished items keep receiving pad
// tokens, nothing leaves the batch, topk runs over each item's flattened
// [beams·vocab] scores (stable: ties by index).
func refBeam(f func([]int) []float32, prompts [][]int, o Options) ([][]int, error) {
	const pad = 0
	nb, n := max(o.NumBeams, 1), len(prompts)
	plen := len(prompts[0])
	maxLen := refMaxLen(o, plen)
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
	hyps := make([]*refHyps, n)
	for i := range hyps {
		hyps[i] = &refHyps{numBeams: nb, lp: o.LengthPenalty, early: o.EarlyStopping, maxLength: maxLen, worst: 1e9}
	}
	done := make([]bool, n)
	for {
		var scores [][]float32
		for r := range ids {
			s := f(ids[r])
			tensor.LogSoftmaxRow(s) // the numeric kernel, shared on purpose: results must be identical
			refProcess(s, ids[r], plen, maxLen, o)
			for j := range s {
				s[j] += beamScores[r]
			}
			scores = append(scores, s)
		}
		vocab := len(scores[0])
		// BeamSearchScorer.process: cur_len is the length the candidate
		// scores are computed on (input_ids.shape[-1] + 1).
		curLen := len(ids[0]) + 1
		nextScores := make([]float32, n*nb)
		nextTokens := make([]int, n*nb)
		nextIdx := make([]int, n*nb)
		for b := 0; b < n; b++ {
			if done[b] {
				for k := 0; k < nb; k++ {
					nextScores[b*nb+k], nextTokens[b*nb+k], nextIdx[b*nb+k] = 0, pad, b*nb
				}
				continue
			}
			flat := slices.Concat(scores[b*nb : (b+1)*nb]...)
			order := make([]int, len(flat))
			for i := range order {
				order[i] = i
			}
			sort.SliceStable(order, func(x, y int) bool { return flat[order[x]] > flat[order[y]] })
			top := order[:2*nb]
			bi := 0
			for rank, fi := range top {
				tok, beam := fi%vocab, fi/vocab
				row := b*nb + beam
				if slices.Contains(o.EOS, tok) {
					if rank >= nb {
						continue
					}
					hyps[b].add(ids[row], float64(flat[fi]))
				} else {
					nextScores[b*nb+bi], nextTokens[b*nb+bi], nextIdx[b*nb+bi] = flat[fi], tok, row
					bi++
				}
				if bi == nb {
					break
				}
			}
			if bi < nb {
				return nil, errRef
			}
			done[b] = done[b] || hyps[b].isDone(float64(flat[top[0]]), curLen)
		}
		newIDs := make([][]int, len(ids))
		for r := range ids {
			newIDs[r] = append(slices.Clone(ids[nextIdx[r]]), nextTokens[r])
		}
		ids, beamScores = newIDs, nextScores
		if !slices.Contains(done, false) || len(ids[0]) >= maxLen {
			break
		}
	}
	// finalize
	out := make([][]int, n)
	for b := 0; b < n; b++ {
		if !done[b] {
			for k := 0; k < nb; k++ {
				hyps[b].add(ids[b*nb+k], float64(beamScores[b*nb+k]))
			}
		}
		sorted := slices.Clone(hyps[b].beams)
		sort.SliceStable(sorted, func(x, y int) bool { return sorted[x].score < sorted[y].score })
		best := sorted[len(sorted)-1].seq
		if len(best) < maxLen && len(o.EOS) > 0 {
			best = append(best, o.EOS[0])
		}
		out[b] = best
	}
	return out, nil
}
