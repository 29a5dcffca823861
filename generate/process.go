package generate

import (
	"math"
	"slices"
)

// LogitsProcessor adjusts, in place, the scores of the token that follows
// seq (the whole sequence so far, prompt included): one of transformers'
// LogitsProcessors applied to one row. Token ids outside scores are
// ignored (Greedy and Beam reject them beforehand).
type LogitsProcessor interface {
	Process(seq []int, scores []float32)
}

// Processors applies its processors in order.
type Processors []LogitsProcessor

// Process runs every processor on scores.
func (ps Processors) Process(seq []int, scores []float32) {
	for _, p := range ps {
		p.Process(seq, scores)
	}
}

var negInf = float32(math.Inf(-1))

// RepetitionPenalty is transformers' RepetitionPenaltyLogitsProcessor
// (CTRL's rule): the score of every token already in the sequence is
// divided by the penalty when positive and multiplied by it when negative.
// 0 and 1 leave scores alone.
type RepetitionPenalty float64

// Process implements LogitsProcessor.
func (p RepetitionPenalty) Process(seq []int, scores []float32) {
	if p == 0 || p == 1 {
		return
	}
	f := float32(p)
	// transformers gathers every score before writing any back, so a token
	// that occurs several times is penalised once.
	seen := make(map[int]bool, len(seq))
	for _, id := range seq {
		if seen[id] || id < 0 || id >= len(scores) {
			continue
		}
		seen[id] = true
		if s := scores[id]; s < 0 {
			scores[id] = s * f
		} else {
			scores[id] = s / f
		}
	}
}

// NoRepeatNGram is transformers' NoRepeatNGramLogitsProcessor: the tokens
// that would complete an n-gram (n the value) already in the sequence get
// score −Inf. Values below 1 do nothing.
type NoRepeatNGram int

// Process implements LogitsProcessor.
func (n NoRepeatNGram) Process(seq []int, scores []float32) {
	k := int(n)
	if k <= 0 || len(seq)+1 < k {
		return
	}
	prefix := seq[len(seq)-k+1:]
	for s := 0; s+k <= len(seq); s++ {
		if slices.Equal(seq[s:s+k-1], prefix) {
			if id := seq[s+k-1]; id >= 0 && id < len(scores) {
				scores[id] = negInf
			}
		}
	}
}

// MinLength is transformers' MinLengthLogitsProcessor: while the sequence,
// prompt included, is shorter than Min, the EOS tokens get score −Inf.
type MinLength struct {
	Min int
	EOS []int
}

// Process implements LogitsProcessor.
func (m MinLength) Process(seq []int, scores []float32) {
	if len(seq) < m.Min {
		setScores(scores, m.EOS, negInf)
	}
}

// MinNewTokens is transformers' MinNewTokensLengthLogitsProcessor: until
// Min tokens follow the prompt of PromptLength tokens, the EOS tokens get
// score −Inf.
type MinNewTokens struct {
	PromptLength, Min int
	EOS               []int
}

// Process implements LogitsProcessor.
func (m MinNewTokens) Process(seq []int, scores []float32) {
	if len(seq)-m.PromptLength < m.Min {
		setScores(scores, m.EOS, negInf)
	}
}

// ForcedEOS is transformers' ForcedEOSTokenLogitsProcessor: at the last
// position MaxLength leaves (a sequence of MaxLength−1 tokens), every
// token but the EOS tokens gets score −Inf and the EOS tokens get 0.
type ForcedEOS struct {
	MaxLength int
	EOS       []int
}

// Process implements LogitsProcessor.
func (f ForcedEOS) Process(seq []int, scores []float32) {
	if len(seq) != f.MaxLength-1 {
		return
	}
	for i := range scores {
		scores[i] = negInf
	}
	setScores(scores, f.EOS, 0)
}

// SuppressTokens is transformers' SuppressTokensLogitsProcessor: the
// listed tokens always get score −Inf.
type SuppressTokens []int

// Process implements LogitsProcessor.
func (s SuppressTokens) Process(_ []int, scores []float32) {
	setScores(scores, s, negInf)
}

// SuppressTokensAtBegin is transformers' SuppressTokensAtBeginLogitsProcessor:
// the listed tokens get score −Inf at the position that follows a sequence
// of Begin tokens (the first generated token when Begin is the prompt
// length).
type SuppressTokensAtBegin struct {
	Begin  int
	Tokens []int
}

// Process implements LogitsProcessor.
func (s SuppressTokensAtBegin) Process(seq []int, scores []float32) {
	if len(seq) == s.Begin {
		setScores(scores, s.Tokens, negInf)
	}
}

// setScores sets the scores of ids (those inside scores) to v.
func setScores(scores []float32, ids []int, v float32) {
	for _, id := range ids {
		if id >= 0 && id < len(scores) {
			scores[id] = v
		}
	}
}
