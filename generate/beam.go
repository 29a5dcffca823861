package generate

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/goformer/goformer/tensor"
)

// hypothesis is a finished beam (or, at the maximum length, an open one).
type hypothesis struct {
	score float64 // sum of log-probabilities / length^lengthPenalty
	ids   []int   // prompt and generated tokens, without the EOS token
}

// beamHypotheses is transformers' BeamHypotheses: the n best hypotheses of
// one batch item.
type beamHypotheses struct {
	n             int
	lengthPenalty float64
	early         EarlyStopping
	maxLength     int
	beams         []hypothesis
	worst         float64
}

func newBeamHypotheses(n int, opt Options, maxLength int) *beamHypotheses {
	return &beamHypotheses{n: n, lengthPenalty: opt.LengthPenalty, early: opt.EarlyStopping, maxLength: maxLength, worst: 1e9}
}

// add offers a hypothesis; ids is copied.
func (h *beamHypotheses) add(ids []int, sumLogprobs float64) {
	score := sumLogprobs / math.Pow(float64(len(ids)), h.lengthPenalty)
	if len(h.beams) >= h.n && score <= h.worst {
		return
	}
	h.beams = append(h.beams, hypothesis{score: score, ids: slices.Clone(ids)})
	if len(h.beams) <= h.n {
		h.worst = math.Min(score, h.worst)
		return
	}
	// Python sorts (score, index) pairs: the worst is dropped (the earliest
	// on ties) and the second-worst becomes the new worst.
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
	h.beams = slices.Delete(h.beams, wi, wi+1)
}

// isDone reports whether no open beam can improve this batch item, given
// the best open score and the length it is scored at.
func (h *beamHypotheses) isDone(bestSumLogprobs float64, curLen int) bool {
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

// best returns the highest-scoring hypothesis: the last added among equal
// scores, as Python's stable sort followed by pop() picks it.
func (h *beamHypotheses) best() []int {
	bi := 0
	for i := range h.beams {
		if h.beams[i].score >= h.beams[bi].score {
			bi = i
		}
	}
	return h.beams[bi].ids
}

// candidate is one (beam, token) continuation of a batch item.
type candidate struct {
	score float32
	beam  int
	token int
}

// topK selects the k best (beam, token) continuations of one batch item
// in descending score order, ties broken by the flattened index
// beam·vocab+token as torch.topk over [num_beams·vocab] orders them on CPU;
// NaN scores are never selected. Rows are offered in beam order, so the
// flattened index only grows and an equal score never displaces a kept
// candidate. It keeps a min-heap of the k best seen so far: O(n log k) for
// n scores, and O(n) when, as usual, few scores beat the k-th best.
type topK struct {
	k    int
	heap []candidate // heap[0] is the worst kept candidate
}

// reset empties the selection for k candidates.
func (t *topK) reset(k int) {
	t.k = k
	t.heap = t.heap[:0]
}

// worse reports whether a ranks below b: a lower score, or an equal score
// and a later flattened index (a later beam, or the same beam and a later
// token).
func worse(a, b candidate) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	if a.beam != b.beam {
		return a.beam > b.beam
	}
	return a.token > b.token
}

// offer considers every token of one beam's row of scores.
func (t *topK) offer(beam int, row []float32) {
	if t.k <= 0 {
		return
	}
	h := t.heap
	for tok, v := range row {
		if v != v { // NaN
			continue
		}
		if len(h) < t.k {
			h = append(h, candidate{score: v, beam: beam, token: tok})
			// Sift up.
			for i := len(h) - 1; i > 0; {
				p := (i - 1) / 2
				if !worse(h[i], h[p]) {
					break
				}
				h[i], h[p] = h[p], h[i]
				i = p
			}
			continue
		}
		if v <= h[0].score {
			continue // not better than the worst kept (ties keep the earlier)
		}
		h[0] = candidate{score: v, beam: beam, token: tok}
		// Sift down.
		for i := 0; ; {
			l := 2*i + 1
			if l >= len(h) {
				break
			}
			c := l
			if r := l + 1; r < len(h) && worse(h[r], h[l]) {
				c = r
			}
			if !worse(h[c], h[i]) {
				break
			}
			h[i], h[c] = h[c], h[i]
			i = c
		}
	}
	t.heap = h
}

// sorted returns the kept candidates, best first, in dst's memory.
func (t *topK) sorted(dst []candidate) []candidate {
	dst = append(dst[:0], t.heap...)
	slices.SortFunc(dst, func(a, b candidate) int {
		switch {
		case worse(b, a):
			return -1
		case worse(a, b):
			return 1
		}
		return 0
	})
	return dst
}

// Beam is transformers' beam_search with a BeamSearchScorer keeping one
// hypothesis per prompt: max(opt.NumBeams, 1) beams per prompt (all prompts
// of one length), 2·beams candidates a step ranked by summed
// log-probabilities (after log-softmax and the logits processors of opt),
// hypotheses ended by an EOS token scored by length^LengthPenalty, batch
// items stopping by opt.EarlyStopping, open beams joining the hypotheses at
// the maximum length. It returns the best hypothesis of each prompt, prompt
// included, with opt.EOS[0] appended when it is shorter than the maximum
// length.
//
// The Stepper starts with one row per prompt; Beam expands each to its
// beams (rows b·beams … b·beams+beams−1 while item b is searching) and
// drops the rows of finished items.
//
// More than MaxBeams beams, or a maximum length over MaxSequenceLength, is
// refused with an error wrapping ErrInvalid before the first Step. Each
// step selects its candidates in O(beams·vocab·log beams) time at worst
// (a bounded heap, not a sort of every score), and the context is checked
// before every Step and between beam rows: a cancelled search returns
// ctx.Err() without calling the Stepper again.
func Beam(ctx context.Context, s Stepper, prompts [][]int, opt Options) ([][]int, error) {
	promptLen, maxLen, err := opt.check(prompts)
	if err != nil {
		return nil, err
	}
	if opt.NumBeams > MaxBeams {
		return nil, fmt.Errorf("%w: %d beams is over the limit of %d (generate.MaxBeams)", ErrInvalid, opt.NumBeams, MaxBeams)
	}
	procs := opt.Processors(promptLen)
	nb := max(opt.NumBeams, 1)
	n := len(prompts)
	expand := make([]int, 0, n*nb)
	seqs := make([][]int, 0, n*nb)
	scores := make([]float32, 0, n*nb)
	feed := make([][]int, 0, n*nb)
	for b, p := range prompts {
		for k := 0; k < nb; k++ {
			expand = append(expand, b)
			seqs = append(seqs, slices.Clone(p))
			// Only the first beam is live at the start: the others would
			// repeat its candidates.
			if k == 0 {
				scores = append(scores, 0)
			} else {
				scores = append(scores, -1e9)
			}
			feed = append(feed, p)
		}
	}
	if err := s.Reorder(expand); err != nil {
		return nil, err
	}
	hyps := make([]*beamHypotheses, n)
	items := make([]int, n) // batch items still searching, in row order
	for b := range hyps {
		hyps[b] = newBeamHypotheses(nb, opt, maxLen)
		items[b] = b
	}
	var sel topK
	top := make([]candidate, 0, 2*nb)
	m := &checked{s: s, opt: opt}
	for {
		logits, err := m.step(ctx, feed)
		if err != nil {
			return nil, err
		}
		curLen := len(seqs[0])
		var nextSeqs [][]int
		var nextScores []float32
		var rows, nextItems []int
		for ii, b := range items {
			sel.reset(2 * nb)
			for k := 0; k < nb; k++ {
				// A step over many beams and a large vocabulary is long
				// enough to look at the context between rows.
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				r := ii*nb + k
				row := logits[r]
				tensor.LogSoftmaxRow(row)
				procs.Process(seqs[r], row)
				for j := range row {
					row[j] += scores[r]
				}
				sel.offer(k, row)
			}
			top = sel.sorted(top)
			// BeamSearchScorer.process for this item.
			h := hyps[b]
			kept := 0
			for rank, c := range top {
				r := ii*nb + c.beam
				if slices.Contains(opt.EOS, c.token) {
					if rank >= nb {
						continue
					}
					h.add(seqs[r], float64(c.score))
				} else {
					next := make([]int, curLen+1)
					copy(next, seqs[r])
					next[curLen] = c.token
					nextSeqs = append(nextSeqs, next)
					nextScores = append(nextScores, c.score)
					rows = append(rows, r)
					kept++
				}
				if kept == nb {
					break
				}
			}
			if kept < nb {
				return nil, fmt.Errorf("generate: beam search: only %d of the %d best candidates do not end the text, fewer than the %d beams", kept, len(top), nb)
			}
			// transformers v4.30 scores the best candidate at the length it
			// will have: the sequence so far plus the candidate token.
			if h.isDone(float64(top[0].score), curLen+1) {
				// Finished: the item's rows leave the batch.
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
		if curLen+1 >= maxLen {
			// The maximum length is reached: open beams join the hypotheses.
			for ii, b := range nextItems {
				for k := 0; k < nb; k++ {
					hyps[b].add(nextSeqs[ii*nb+k], float64(nextScores[ii*nb+k]))
				}
			}
			break
		}
		if err := s.Reorder(rows); err != nil {
			return nil, err
		}
		seqs, scores, items = nextSeqs, nextScores, nextItems
		feed = make([][]int, len(seqs))
		for r, sq := range seqs {
			feed[r] = sq[len(sq)-1:]
		}
	}
	out := make([][]int, n)
	for b, h := range hyps {
		ids := slices.Clone(h.best())
		if len(ids) < maxLen && len(opt.EOS) > 0 {
			ids = append(ids, opt.EOS[0])
		}
		out[b] = ids
	}
	return out, nil
}
