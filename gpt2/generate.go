package gpt2

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/goformer/goformer/tensor"
)

// SearchOptions configure Model.Generate. Every field is used as given;
// GenerationConfig.Search fills them from a checkpoint's settings.
type SearchOptions struct {
	// MaxLength bounds the whole sequence, prompt included; it must exceed
	// the prompt's length.
	MaxLength int
	// NumBeams selects beam search with that many beams; 0 or 1 is greedy.
	NumBeams int
	// EOS lists the tokens that end a sequence (nil: none). The first one
	// is appended to a beam-search result that ended before MaxLength, as
	// transformers does.
	EOS []int
	// LengthPenalty is the exponent of the length normalisation of beam
	// hypotheses: score = Σ log p / length^LengthPenalty (transformers'
	// default is 1; 0 disables normalisation).
	LengthPenalty float64
	// EarlyStopping is transformers' beam-search stopping rule: "true"
	// (stop once NumBeams hypotheses are finished), "never" (stop only when
	// no better hypothesis is possible), or "false"/"" (the heuristic
	// default).
	EarlyStopping string
	// NoRepeatNgramSize, when positive, forbids generating a token that
	// would repeat an n-gram of that size already in the sequence.
	NoRepeatNgramSize int
	// MinLength keeps EOS from being chosen while the sequence (prompt
	// included) is shorter; 0 imposes nothing.
	MinLength int
	// RepetitionPenalty, when neither 0 nor 1, divides the positive scores
	// and multiplies the negative scores of tokens already in the sequence
	// (transformers' RepetitionPenaltyLogitsProcessor).
	RepetitionPenalty float64
	// ForcedEOS, when set, are the only tokens allowed at the last position
	// the length limit leaves (transformers' forced_eos_token_id).
	ForcedEOS []int
}

// process applies transformers' logits processors, in its order, to the
// scores of the token after seq.
func (opt *SearchOptions) process(scores []float32, seq []int) {
	if p := float32(opt.RepetitionPenalty); p != 0 && p != 1 {
		seen := make(map[int]bool, len(seq))
		for _, id := range seq {
			if seen[id] {
				continue
			}
			seen[id] = true
			if scores[id] < 0 {
				scores[id] *= p
			} else {
				scores[id] /= p
			}
		}
	}
	banNgrams(scores, seq, opt.NoRepeatNgramSize)
	if len(seq) < opt.MinLength {
		for _, id := range opt.EOS {
			scores[id] = float32(math.Inf(-1))
		}
	}
	if len(opt.ForcedEOS) > 0 && len(seq) == opt.MaxLength-1 {
		for i := range scores {
			scores[i] = float32(math.Inf(-1))
		}
		for _, id := range opt.ForcedEOS {
			scores[id] = 0
		}
	}
}

// Generate continues prompt (which must not be empty; for an
// encoder–decoder model it is the decoder start token) and returns the whole
// sequence, prompt included, with the end token when one was generated,
// exactly as transformers' generate returns it for one input. enc is the
// encoder output [1, T, n_embd] for cross-attention, or nil.
func (m *Model) Generate(ctx context.Context, enc *tensor.Tensor, prompt []int, opt SearchOptions) ([]int, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("%w: empty prompt", ErrInput)
	}
	if opt.MaxLength <= len(prompt) {
		return nil, fmt.Errorf("%w: max length %d leaves no room after a prompt of %d tokens", ErrInput, opt.MaxLength, len(prompt))
	}
	if opt.MaxLength > m.cfg.NPositions {
		return nil, fmt.Errorf("%w: max length %d exceeds n_positions %d", ErrInput, opt.MaxLength, m.cfg.NPositions)
	}
	switch opt.EarlyStopping {
	case "", "false", "true", "never":
	default:
		return nil, fmt.Errorf("%w: early stopping %q (want true, false or never)", ErrInput, opt.EarlyStopping)
	}
	for _, id := range slices.Concat(opt.EOS, opt.ForcedEOS) {
		if id < 0 || id >= m.cfg.VocabSize {
			return nil, fmt.Errorf("%w: end token %d outside vocabulary of %d", ErrInput, id, m.cfg.VocabSize)
		}
	}
	if enc != nil && enc.Rank() == 3 && enc.Dim(0) != 1 {
		return nil, fmt.Errorf("%w: Generate takes one encoder output [1, T, D], got %v", ErrInput, enc.Shape())
	}
	if opt.NumBeams > 1 {
		return m.beamSearch(ctx, enc, prompt, opt)
	}
	return m.greedy(ctx, enc, prompt, opt)
}

func (m *Model) greedy(ctx context.Context, enc *tensor.Tensor, prompt []int, opt SearchOptions) ([]int, error) {
	st, err := m.NewState(1, enc)
	if err != nil {
		return nil, err
	}
	seq := slices.Clone(prompt)
	input := seq
	for len(seq) < opt.MaxLength {
		logits, err := m.NextLogits(ctx, st, [][]int{input})
		if err != nil {
			return nil, err
		}
		row := logits.Data()
		opt.process(row, seq)
		next := tensor.Argmax(row)
		seq = append(seq, next)
		input = seq[len(seq)-1:]
		if slices.Contains(opt.EOS, next) {
			break
		}
	}
	return seq, nil
}

// banNgrams sets to −Inf the scores of tokens that would complete an n-gram
// already present in seq (transformers' NoRepeatNGramLogitsProcessor).
func banNgrams(scores []float32, seq []int, n int) {
	if n <= 0 || len(seq)+1 < n {
		return
	}
	prefix := seq[len(seq)-n+1:]
	for s := 0; s+n <= len(seq); s++ {
		if slices.Equal(seq[s:s+n-1], prefix) {
			scores[seq[s+n-1]] = float32(math.Inf(-1))
		}
	}
}

// hypothesis is a finished beam: its tokens and length-normalised score.
type hypothesis struct {
	score float64
	seq   []int
}

// beamHyps is transformers' BeamHypotheses: the n best finished
// hypotheses of one input.
type beamHyps struct {
	n         int
	lp        float64
	early     string
	maxLength int
	beams     []hypothesis
	worst     float64
}

func (h *beamHyps) add(seq []int, sumLogprobs float64) {
	score := sumLogprobs / math.Pow(float64(len(seq)), h.lp)
	if len(h.beams) < h.n || score > h.worst {
		h.beams = append(h.beams, hypothesis{score, slices.Clone(seq)})
		if len(h.beams) > h.n {
			order := make([]int, len(h.beams))
			for i := range order {
				order[i] = i
			}
			// Python sorts (score, index) tuples: ties by index.
			sort.SliceStable(order, func(a, b int) bool { return h.beams[order[a]].score < h.beams[order[b]].score })
			h.worst = h.beams[order[1]].score
			h.beams = slices.Delete(h.beams, order[0], order[0]+1)
		} else {
			h.worst = min(score, h.worst)
		}
	}
}

func (h *beamHyps) done(bestSumLogprobs float64, curLen int) bool {
	if len(h.beams) < h.n {
		return false
	}
	switch h.early {
	case "true":
		return true
	case "never":
		den := float64(curLen)
		if h.lp > 0 {
			den = float64(h.maxLength)
		}
		return h.worst >= bestSumLogprobs/math.Pow(den, h.lp)
	default:
		return h.worst >= bestSumLogprobs/math.Pow(float64(curLen), h.lp)
	}
}

// best returns the highest-scoring hypothesis; among equal scores the one
// added last, as Python's sorted(...).pop() picks it.
func (h *beamHyps) best() []int {
	bi := 0
	for i, b := range h.beams {
		if b.score >= h.beams[bi].score {
			bi = i
		}
	}
	return h.beams[bi].seq
}

// beamSearch is transformers' beam_search with BeamSearchScorer for one
// input (num_beam_hyps_to_keep = 1).
func (m *Model) beamSearch(ctx context.Context, enc *tensor.Tensor, prompt []int, opt SearchOptions) ([]int, error) {
	k := opt.NumBeams
	st, err := m.NewState(1, enc)
	if err != nil {
		return nil, err
	}
	if err := st.Reorder(make([]int, k)); err != nil {
		return nil, err
	}
	seqs := make([][]int, k)
	inputs := make([][]int, k)
	for i := range seqs {
		seqs[i] = slices.Clone(prompt)
		inputs[i] = seqs[i]
	}
	beamScores := make([]float32, k)
	for i := 1; i < k; i++ {
		beamScores[i] = -1e9
	}
	hyps := &beamHyps{n: k, lp: opt.LengthPenalty, early: opt.EarlyStopping, maxLength: opt.MaxLength, worst: 1e9}
	done := false
	for {
		logits, err := m.NextLogits(ctx, st, inputs)
		if err != nil {
			return nil, err
		}
		ld := logits.Data()
		v := m.cfg.VocabSize
		cand := make([]float32, k*v)
		for i := 0; i < k; i++ {
			row := cand[i*v : (i+1)*v]
			copy(row, ld[i*v:(i+1)*v])
			tensor.LogSoftmaxRow(row)
			opt.process(row, seqs[i])
			for j := range row {
				row[j] += beamScores[i]
			}
		}
		top := tensor.TopK(cand, 2*k)
		curLen := len(seqs[0])
		nextScores := make([]float32, 0, k)
		nextTokens := make([]int, 0, k)
		nextIdx := make([]int, 0, k)
		for rank, flat := range top {
			beam, tok := flat/v, flat%v
			if slices.Contains(opt.EOS, tok) {
				if rank >= k {
					continue
				}
				hyps.add(seqs[beam], float64(cand[flat]))
			} else {
				nextScores = append(nextScores, cand[flat])
				nextTokens = append(nextTokens, tok)
				nextIdx = append(nextIdx, beam)
			}
			if len(nextTokens) == k {
				break
			}
		}
		if len(nextTokens) < k {
			return nil, fmt.Errorf("gpt2: beam search found %d continuations for %d beams", len(nextTokens), k)
		}
		done = done || hyps.done(float64(cand[top[0]]), curLen+1)
		newSeqs := make([][]int, k)
		for i := range newSeqs {
			s := make([]int, curLen+1)
			copy(s, seqs[nextIdx[i]])
			s[curLen] = nextTokens[i]
			newSeqs[i] = s
			inputs[i] = s[curLen:]
		}
		seqs, beamScores = newSeqs, nextScores
		if err := st.Reorder(nextIdx); err != nil {
			return nil, err
		}
		if done || curLen+1 >= opt.MaxLength {
			break
		}
	}
	if !done {
		for i := range seqs {
			hyps.add(seqs[i], float64(beamScores[i]))
		}
	}
	best := slices.Clone(hyps.best())
	if len(best) < opt.MaxLength && len(opt.EOS) > 0 {
		best = append(best, opt.EOS[0])
	}
	return best, nil
}
