package whisper

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/tensor"
)

// GenerateOptions configures Generate, which reproduces transformers'
// generate() on WhisperForConditionalGeneration when it is given explicit
// decoder_input_ids and no Whisper-specific logits processors: plain
// greedy search or plain beam search (BeamSearchScorer).
type GenerateOptions struct {
	// Prompt is the decoder input (for example [SOT, <|en|>, <|transcribe|>,
	// <|notimestamps|>]); empty means [SOT].
	Prompt []int
	// MaxNewTokens bounds the number of generated tokens; 0 means up to the
	// decoder context.
	MaxNewTokens int
	// NumBeams > 1 selects beam search; 0 or 1 is greedy. At most
	// generate.MaxBeams.
	NumBeams int
	// LengthPenalty is the exponent of the length in beam scores
	// (score = sum log-prob / length^LengthPenalty); nil means 1.0.
	LengthPenalty *float64
	// EOS ends a sequence; 0 means the tokenizer's <|endoftext|>, a negative
	// value disables it.
	EOS int
	// SuppressTokens are set to -inf at every step; BeginSuppressTokens at
	// the first generated position only.
	SuppressTokens, BeginSuppressTokens []int
}

// Generate decodes one 30-second window of log-mel features [n_mels,
// frames] as transformers' generate does (see GenerateOptions) and returns
// the prompt followed by the generated ids.
func (m *Model) Generate(ctx context.Context, mel *tensor.Tensor, opt GenerateOptions) ([]int, error) {
	if opt.NumBeams > generate.MaxBeams || opt.NumBeams < 0 || opt.MaxNewTokens < 0 {
		return nil, fmt.Errorf("%w: %d beams (want 0 to %d, the limit generate.MaxBeams) or %d new tokens", ErrInput, opt.NumBeams, generate.MaxBeams, opt.MaxNewTokens)
	}
	enc, err := m.Encode(ctx, mel)
	if err != nil {
		return nil, err
	}
	defer tensor.Release(enc)
	if enc.Dim(0) != 1 {
		return nil, fmt.Errorf("whisper: Generate takes one window, got a batch of %d", enc.Dim(0))
	}
	prompt := opt.Prompt
	if len(prompt) == 0 {
		prompt = []int{m.specials().SOT}
	}
	eos := opt.EOS
	if eos == 0 {
		eos = m.specials().EOT
	}
	maxLen := m.Config.MaxTargetPositions
	if opt.MaxNewTokens > 0 && len(prompt)+opt.MaxNewTokens < maxLen {
		maxLen = len(prompt) + opt.MaxNewTokens
	}
	if len(prompt) >= maxLen {
		return nil, fmt.Errorf("whisper: prompt of %d tokens leaves no room in %d", len(prompt), maxLen)
	}
	if opt.NumBeams > 1 {
		lp := 1.0
		if opt.LengthPenalty != nil {
			lp = *opt.LengthPenalty
		}
		return m.hfBeamSearch(ctx, enc, prompt, maxLen, opt.NumBeams, lp, eos, opt)
	}
	dec, err := m.NewDecoder(enc)
	if err != nil {
		return nil, err
	}
	defer dec.Release() // its keys and values serve the next decoder
	ids := append([]int(nil), prompt...)
	next := [][]int{prompt}
	for len(ids) < maxLen {
		h, err := dec.Forward(ctx, next, nil)
		if err != nil {
			return nil, err
		}
		last := h.Dim(1) - 1
		row := m.logitsRow(h.Index(0).Index(last).Contiguous().Data())
		hfSuppress(row, opt, len(ids) == len(prompt))
		tok := tensor.Argmax(row)
		ids = append(ids, tok)
		if tok == eos {
			break
		}
		next = [][]int{{tok}}
	}
	return ids, nil
}

func hfSuppress(row []float32, opt GenerateOptions, first bool) {
	ninf := float32(math.Inf(-1))
	for _, t := range opt.SuppressTokens {
		if t >= 0 && t < len(row) {
			row[t] = ninf
		}
	}
	if first {
		for _, t := range opt.BeginSuppressTokens {
			if t >= 0 && t < len(row) {
				row[t] = ninf
			}
		}
	}
}

type hfHyp struct {
	score float64
	ids   []int
}

// hfBeamHyps is transformers' BeamHypotheses.
type hfBeamHyps struct {
	n      int
	lp     float64
	beams  []hfHyp
	worst  float64
	isDone bool
}

// add records a hypothesis; n is the length used in the score (the ids
// before the end token, which ids may include).
func (b *hfBeamHyps) add(ids []int, n int, sumLogprobs float64) {
	score := sumLogprobs / math.Pow(float64(n), b.lp)
	if len(b.beams) < b.n || score > b.worst {
		b.beams = append(b.beams, hfHyp{score, append([]int(nil), ids...)})
		if len(b.beams) > b.n {
			idx := make([]int, len(b.beams))
			for i := range idx {
				idx[i] = i
			}
			sort.SliceStable(idx, func(i, j int) bool { return b.beams[idx[i]].score < b.beams[idx[j]].score })
			drop := idx[0]
			b.worst = b.beams[idx[1]].score
			b.beams = append(b.beams[:drop], b.beams[drop+1:]...)
		} else {
			b.worst = math.Min(score, b.worst)
		}
	}
}

func (b *hfBeamHyps) done(bestSum float64, curLen int) bool {
	if len(b.beams) < b.n {
		return false
	}
	return b.worst >= bestSum/math.Pow(float64(curLen), b.lp)
}

// hfBeamSearch is transformers' beam_search with BeamSearchScorer
// (early_stopping=False, one hypothesis returned).
func (m *Model) hfBeamSearch(ctx context.Context, enc *tensor.Tensor, prompt []int, maxLen, nb int, lp float64, eos int, opt GenerateOptions) ([]int, error) {
	dec, err := m.NewDecoder(enc)
	if err != nil {
		return nil, err
	}
	defer dec.Release() // its keys and values serve the next decoder
	if err := dec.Reorder(make([]int, nb)); err != nil {
		return nil, err
	}
	seqs := make([][]int, nb)
	feed := make([][]int, nb)
	for i := range seqs {
		seqs[i] = append([]int(nil), prompt...)
		feed[i] = prompt
	}
	beamScores := make([]float32, nb)
	for i := 1; i < nb; i++ {
		beamScores[i] = -1e9
	}
	hyps := &hfBeamHyps{n: nb, lp: lp, worst: 1e9}
	v := m.Config.VocabSize
	all := make([]float32, nb*v)
	for {
		h, err := dec.Forward(ctx, feed, nil)
		if err != nil {
			return nil, err
		}
		last := h.Dim(1) - 1
		for b := 0; b < nb; b++ {
			row := m.logitsRow(h.Index(b).Index(last).Contiguous().Data())
			tensor.LogSoftmaxRow(row)
			hfSuppress(row, opt, len(seqs[b]) == len(prompt))
			for k := range row {
				all[b*v+k] = row[k] + beamScores[b]
			}
		}
		k := 2 * nb
		top := tensor.TopK(all, k)
		curLen := len(seqs[0])
		var nextScores []float32
		var nextTokens, nextIdx []int
		for rank, flat := range top {
			src, tok := flat/v, flat%v
			score := all[flat]
			if eos >= 0 && tok == eos {
				if rank >= nb {
					continue
				}
				hyps.add(append(append([]int(nil), seqs[src]...), eos), len(seqs[src]), float64(score))
			} else {
				nextScores = append(nextScores, score)
				nextTokens = append(nextTokens, tok)
				nextIdx = append(nextIdx, src)
			}
			if len(nextTokens) == nb {
				break
			}
		}
		if !hyps.isDone {
			hyps.isDone = hyps.done(float64(all[top[0]]), curLen)
		}
		newSeqs := make([][]int, nb)
		for i := range newSeqs {
			newSeqs[i] = append(append([]int(nil), seqs[nextIdx[i]]...), nextTokens[i])
			feed[i] = []int{nextTokens[i]}
		}
		seqs = newSeqs
		copy(beamScores, nextScores)
		if err := dec.Reorder(nextIdx); err != nil {
			return nil, err
		}
		if hyps.isDone || len(seqs[0]) >= maxLen {
			break
		}
	}
	if !hyps.isDone {
		for b := 0; b < nb; b++ {
			hyps.add(seqs[b], len(seqs[b]), float64(beamScores[b]))
		}
	}
	best := 0
	for i := range hyps.beams {
		// sorted() is stable and pop() takes the last of equal scores
		if hyps.beams[i].score >= hyps.beams[best].score {
			best = i
		}
	}
	return hyps.beams[best].ids, nil
}

// specials returns the tokenizer (always non-nil: computed from the vocab
// size when the checkpoint came without tokenizer files).
func (m *Model) specials() *Tokenizer {
	if m.tok == nil {
		return specialsFromVocabSize(m.Config.VocabSize)
	}
	return m.tok
}
