package blip

import (
	"context"
	"fmt"
	"math"

	"github.com/goformer/goformer/tensor"
)

// This file holds decoding strategies that know nothing about BLIP: they
// drive any stepper and reproduce transformers v4.30 generate() (greedy
// search, and beam search with BeamSearchScorer/BeamHypotheses) together
// with the logits processors BLIP's generation uses.

// stepper is an autoregressive model over a batch of rows.
type stepper interface {
	// step feeds the next tokens of every row (the same number per row; the
	// whole prompt on the first call) and returns each row's logits for the
	// token that follows.
	step(ctx context.Context, tokens [][]int) ([][]float32, error)
	// reorder keeps rows in the order given: new row i continues old row
	// idx[i]. len(idx) may differ from the current number of rows.
	reorder(idx []int)
}

// searchConfig is a resolved generation configuration (transformers'
// GenerationConfig fields that greedy and beam search use).
type searchConfig struct {
	maxLength         int // total sequence length, prompt included
	minLength         int // total; EOS is banned below it
	minNewTokens      int // EOS is banned until this many tokens are new
	numBeams          int
	lengthPenalty     float64
	earlyStopping     EarlyStopping
	repetitionPenalty float64
	eos, pad          int
}

// processLogits applies, in transformers' order, the logits processors
// that BLIP generation can enable: repetition penalty, minimum length and
// minimum new tokens. seq is the row's sequence so far (prompt included),
// promptLen the prompt's length.
func (c *searchConfig) processLogits(seq []int, promptLen int, scores []float32) {
	if c.repetitionPenalty != 1 && c.repetitionPenalty > 0 {
		p := float32(c.repetitionPenalty)
		seen := make(map[int]bool, len(seq))
		for _, id := range seq {
			if seen[id] || id < 0 || id >= len(scores) {
				continue
			}
			seen[id] = true
			if s := scores[id]; s < 0 {
				scores[id] = s * p
			} else {
				scores[id] = s / p
			}
		}
	}
	if c.eos >= 0 && c.eos < len(scores) {
		if len(seq) < c.minLength || len(seq)-promptLen < c.minNewTokens {
			scores[c.eos] = float32(math.Inf(-1))
		}
	}
}

// greedySearch extends every prompt (all of the same length) by its most
// likely token until EOS or maxLength, as transformers' greedy_search.
// Each returned sequence holds its prompt, the generated tokens and the
// EOS token when one was produced. Finished rows are dropped from the
// batch, which does not change the other rows.
func greedySearch(ctx context.Context, s stepper, prompts [][]int, c searchConfig) ([][]int, error) {
	n := len(prompts)
	if n == 0 {
		return nil, nil
	}
	promptLen := len(prompts[0])
	seqs := make([][]int, n)
	for i, p := range prompts {
		seqs[i] = append([]int(nil), p...)
	}
	active := make([]int, n) // active[r] = index of the sequence row r decodes
	for i := range active {
		active[i] = i
	}
	feed := prompts
	for {
		logits, err := s.step(ctx, feed)
		if err != nil {
			return nil, err
		}
		var keep []int
		for r, row := range logits {
			seq := seqs[active[r]]
			c.processLogits(seq, promptLen, row)
			tok := tensor.Argmax(row)
			seqs[active[r]] = append(seq, tok)
			if tok != c.eos {
				keep = append(keep, r)
			}
		}
		cur := len(seqs[active[0]])
		if len(keep) == 0 || cur >= c.maxLength {
			return seqs, nil
		}
		if len(keep) < len(active) {
			s.reorder(keep)
			na := make([]int, len(keep))
			for i, r := range keep {
				na[i] = active[r]
			}
			active = na
		}
		feed = make([][]int, len(active))
		for r, a := range active {
			feed[r] = []int{seqs[a][len(seqs[a])-1]}
		}
	}
}

// hypothesis is a finished (or, at the end, still open) beam.
type hypothesis struct {
	score float64
	ids   []int
	eos   bool // ended by EOS (which ids does not include)
}

// beamHyps is transformers' BeamHypotheses: the n best hypotheses of one
// batch item, scored by sum of log-probabilities / length^lengthPenalty.
type beamHyps struct {
	n             int
	lengthPenalty float64
	early         EarlyStopping
	maxLength     int
	beams         []hypothesis
	worst         float64
}

func newBeamHyps(n int, c searchConfig) *beamHyps {
	return &beamHyps{n: n, lengthPenalty: c.lengthPenalty, early: c.earlyStopping, maxLength: c.maxLength, worst: 1e9}
}

// add offers a hypothesis; ids is copied.
func (h *beamHyps) add(ids []int, sumLogprobs float64, eos bool) {
	score := sumLogprobs / math.Pow(float64(len(ids)), h.lengthPenalty)
	if len(h.beams) < h.n || score > h.worst {
		h.beams = append(h.beams, hypothesis{score: score, ids: append([]int(nil), ids...), eos: eos})
		if len(h.beams) > h.n {
			// Drop the worst (the earliest on ties, as sorting (score, index)
			// pairs does); the new worst is the second-worst.
			wi, si := 0, -1
			for i := 1; i < len(h.beams); i++ {
				if h.beams[i].score < h.beams[wi].score {
					wi = i
				}
			}
			for i := range h.beams {
				if i != wi && (si < 0 || h.beams[i].score < h.beams[si].score) {
					si = i
				}
			}
			h.worst = h.beams[si].score
			h.beams = append(h.beams[:wi], h.beams[wi+1:]...)
		} else {
			h.worst = math.Min(score, h.worst)
		}
	}
}

// done reports whether no open beam can improve this batch item.
func (h *beamHyps) done(bestSumLogprobs float64, curLen int) bool {
	if len(h.beams) < h.n {
		return false
	}
	switch h.early {
	case EarlyStoppingFirst:
		return true
	case EarlyStoppingNever:
		l := curLen
		if h.lengthPenalty > 0 {
			l = h.maxLength
		}
		return h.worst >= bestSumLogprobs/math.Pow(float64(l), h.lengthPenalty)
	default:
		return h.worst >= bestSumLogprobs/math.Pow(float64(curLen), h.lengthPenalty)
	}
}

// best returns the highest-scoring hypothesis (the last added on ties, as
// transformers' stable sort then pop does).
func (h *beamHyps) best() hypothesis {
	bi := 0
	for i := range h.beams {
		if h.beams[i].score >= h.beams[bi].score {
			bi = i
		}
	}
	return h.beams[bi]
}

// candidate is one (beam, token) continuation.
type candidate struct {
	score float32
	beam  int
	token int
}

// beamSearch runs transformers' beam_search for each prompt (all of the
// same length) with c.numBeams beams and returns the best sequence of each,
// prompt included, with EOS appended when the hypothesis ended there. The
// stepper starts with one row per prompt; rows are expanded to beams and
// finished batch items are dropped (which does not change the others).
func beamSearch(ctx context.Context, s stepper, prompts [][]int, c searchConfig) ([][]int, error) {
	nb := c.numBeams
	n := len(prompts)
	if n == 0 {
		return nil, nil
	}
	promptLen := len(prompts[0])
	// Beam rows of batch item b are b*nb ... b*nb+nb-1 while it is active.
	expand := make([]int, 0, n*nb)
	seqs := make([][]int, 0, n*nb)
	scores := make([]float32, 0, n*nb)
	feed := make([][]int, 0, n*nb)
	for b, p := range prompts {
		for k := 0; k < nb; k++ {
			expand = append(expand, b)
			seqs = append(seqs, append([]int(nil), p...))
			// Only the first beam is live at the start: the others would
			// duplicate it.
			if k == 0 {
				scores = append(scores, 0)
			} else {
				scores = append(scores, -1e9)
			}
			feed = append(feed, p)
		}
	}
	s.reorder(expand)
	hyps := make([]*beamHyps, n)
	for b := range hyps {
		hyps[b] = newBeamHyps(nb, c)
	}
	items := make([]int, n) // batch items still searching, in row order
	for b := range items {
		items[b] = b
	}
	cands := make([]candidate, 0, 2*nb*nb)
	for {
		logits, err := s.step(ctx, feed)
		if err != nil {
			return nil, err
		}
		curLen := len(seqs[0])
		var nextSeqs [][]int
		var nextScores []float32
		var rows []int
		var nextItems []int
		for ii, b := range items {
			cands = cands[:0]
			for k := 0; k < nb; k++ {
				r := ii*nb + k
				row := logits[r]
				tensor.LogSoftmaxRow(row)
				c.processLogits(seqs[r], promptLen, row)
				for j := range row {
					row[j] += scores[r]
				}
				for _, tok := range tensor.TopK(row, 2*nb) {
					cands = append(cands, candidate{score: row[tok], beam: k, token: tok})
				}
			}
			top := topCandidates(cands, 2*nb, len(logits[0]))
			// BeamSearchScorer.process.
			h := hyps[b]
			kept := 0
			for rank, cd := range top {
				r := ii*nb + cd.beam
				if cd.token == c.eos {
					if rank >= nb {
						continue
					}
					h.add(seqs[r], float64(cd.score), true)
				} else {
					nextSeqs = append(nextSeqs, append(append(make([]int, 0, curLen+1), seqs[r]...), cd.token))
					nextScores = append(nextScores, cd.score)
					rows = append(rows, r)
					kept++
				}
				if kept == nb {
					break
				}
			}
			if kept < nb {
				return nil, fmt.Errorf("blip: beam search: fewer than %d non-EOS candidates", nb)
			}
			best := float64(top[0].score)
			for _, cd := range top {
				best = math.Max(best, float64(cd.score))
			}
			if h.done(best, curLen) {
				// Finished: its rows are dropped from the batch.
				nextSeqs = nextSeqs[:len(nextSeqs)-nb]
				nextScores = nextScores[:len(nextScores)-nb]
				rows = rows[:len(rows)-nb]
				continue
			}
			nextItems = append(nextItems, b)
		}
		if len(nextItems) == 0 {
			break
		}
		if curLen+1 >= c.maxLength {
			// Max length reached: the open beams join the hypotheses.
			for ii, b := range nextItems {
				for k := 0; k < nb; k++ {
					hyps[b].add(nextSeqs[ii*nb+k], float64(nextScores[ii*nb+k]), false)
				}
			}
			break
		}
		s.reorder(rows)
		seqs, scores, items = nextSeqs, nextScores, nextItems
		feed = make([][]int, len(seqs))
		for r, sq := range seqs {
			feed[r] = sq[len(sq)-1:]
		}
	}
	out := make([][]int, n)
	for b, h := range hyps {
		best := h.best()
		ids := best.ids
		if len(ids) < c.maxLength {
			ids = append(ids, c.eos)
		}
		out[b] = ids
	}
	return out, nil
}

// topCandidates returns the k best candidates in descending score order,
// ties broken by the flattened index beam*vocab+token as torch.topk on CPU
// does for equal values.
func topCandidates(cands []candidate, k, vocab int) []candidate {
	less := func(a, b candidate) bool { // a ranks before b
		if a.score != b.score {
			return a.score > b.score
		}
		return a.beam*vocab+a.token < b.beam*vocab+b.token
	}
	// Insertion sort: the list is short (2·beams²).
	out := append([]candidate(nil), cands...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && less(out[j], out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	if len(out) > k {
		out = out[:k]
	}
	return out
}
