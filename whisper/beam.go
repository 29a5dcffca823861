package whisper

import (
	"fmt"
	"math"
	"sort"

	"github.com/goformer/goformer/tensor"
)

// beamSearch is OpenAI's BeamSearchDecoder (with patience).
type beamSearch struct {
	beamSize      int
	eot           int
	maxCandidates int
	// finished holds, per audio, finished sequences in insertion order.
	finished []*orderedSeqs
	scratch  []float32 // log-probabilities of one row
}

// orderedSeqs is an insertion-ordered map from sequence to score, like a
// Python dict keyed by token tuples.
type orderedSeqs struct {
	keys   []string
	seqs   [][]int
	scores map[string]float64
}

func newOrderedSeqs() *orderedSeqs { return &orderedSeqs{scores: map[string]float64{}} }

func (o *orderedSeqs) set(seq []int, score float64) {
	k := seqKey(seq)
	if _, ok := o.scores[k]; !ok {
		o.keys = append(o.keys, k)
		o.seqs = append(o.seqs, seq)
	}
	o.scores[k] = score
}

func (o *orderedSeqs) len() int { return len(o.keys) }

// sortedDesc returns the indices in descending score order, stable (as
// Python's sorted(..., reverse=True)).
func (o *orderedSeqs) sortedDesc() []int {
	idx := make([]int, len(o.keys))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		return o.scores[o.keys[idx[a]]] > o.scores[o.keys[idx[b]]]
	})
	return idx
}

func seqKey(seq []int) string {
	b := make([]byte, 0, 4*len(seq))
	for _, t := range seq {
		b = append(b, byte(t), byte(t>>8), byte(t>>16), byte(t>>24))
	}
	return string(b)
}

func newBeamSearch(beamSize, eot int, patience float64, nAudio int) *beamSearch {
	if patience == 0 {
		patience = 1
	}
	b := &beamSearch{beamSize: beamSize, eot: eot, maxCandidates: int(math.RoundToEven(float64(beamSize) * patience))}
	if b.maxCandidates < 1 {
		b.maxCandidates = 1
	}
	for i := 0; i < nAudio; i++ {
		b.finished = append(b.finished, newOrderedSeqs())
	}
	return b
}

func (b *beamSearch) update(rows [][]int, logits [][]float32, sumLogprobs []float32) ([][]int, bool, []int, error) {
	if len(rows)%b.beamSize != 0 {
		return nil, false, nil, fmt.Errorf("whisper: %d rows for beam size %d", len(rows), b.beamSize)
	}
	nAudio := len(rows) / b.beamSize
	var next [][]int
	var sources []int
	newSums := make([]float32, len(sumLogprobs))
	for i := 0; i < nAudio; i++ {
		scores := newOrderedSeqs()
		src := map[string]int{}
		for j := 0; j < b.beamSize; j++ {
			idx := i*b.beamSize + j
			lp := logSoftmax32(logits[idx], &b.scratch)
			for _, tokID := range tensor.TopK(lp, b.beamSize+1) {
				seq := append(append(make([]int, 0, len(rows[idx])+1), rows[idx]...), tokID)
				score := float64(sumLogprobs[idx] + lp[tokID]) // float32 sum, as torch
				scores.set(seq, score)
				src[seqKey(seq)] = idx
			}
		}
		finished := newOrderedSeqs()
		saved := 0
		for _, k := range scores.sortedDesc() {
			seq := scores.seqs[k]
			sc := scores.scores[scores.keys[k]]
			if seq[len(seq)-1] == b.eot {
				finished.set(seq, sc)
				continue
			}
			newSums[len(next)] = float32(sc)
			next = append(next, seq)
			sources = append(sources, src[scores.keys[k]])
			saved++
			if saved == b.beamSize {
				break
			}
		}
		if saved != b.beamSize {
			return nil, false, nil, fmt.Errorf("whisper: beam search kept %d of %d beams", saved, b.beamSize)
		}
		prev := b.finished[i]
		for _, k := range finished.sortedDesc() {
			if prev.len() >= b.maxCandidates {
				break
			}
			prev.set(finished.seqs[k], finished.scores[finished.keys[k]])
		}
	}
	copy(sumLogprobs, newSums)
	completed := true
	for _, f := range b.finished {
		if f.len() < b.maxCandidates {
			completed = false
		}
	}
	return next, completed, sources, nil
}

func (b *beamSearch) finalize(rows [][]int, sumLogprobs []float32, nAudio, nGroup int) ([][][]int, [][]float64) {
	cands := make([][][]int, nAudio)
	lps := make([][]float64, nAudio)
	for i, seqs := range b.finished {
		if seqs.len() < b.beamSize {
			// add unfinished beams, best first
			idx := make([]int, nGroup)
			for j := range idx {
				idx[j] = j
			}
			// np.argsort (ascending), then reversed
			sort.SliceStable(idx, func(x, y int) bool {
				return sumLogprobs[i*nGroup+idx[x]] < sumLogprobs[i*nGroup+idx[y]]
			})
			for r := len(idx) - 1; r >= 0; r-- {
				j := idx[r]
				seq := append(append([]int(nil), rows[i*nGroup+j]...), b.eot)
				seqs.set(seq, float64(sumLogprobs[i*nGroup+j]))
				if seqs.len() >= b.beamSize {
					break
				}
			}
		}
		for k, key := range seqs.keys {
			cands[i] = append(cands[i], seqs.seqs[k])
			lps[i] = append(lps[i], seqs.scores[key])
		}
	}
	return cands, lps
}
