package generate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// Sampling configures Sample: transformers' logits warpers
// (generation_config temperature, top_k, top_p) and the random source.
// The zero value samples from the unmodified distribution with seed 0.
type Sampling struct {
	// Temperature divides the scores (TemperatureLogitsWarper) when it is
	// neither 0 nor 1; 0 stands for 1. Negative values are rejected.
	Temperature float64
	// TopK, when positive, keeps the TopK highest scores and the scores
	// equal to the lowest of them (TopKLogitsWarper). transformers'
	// generation-config default is 50: callers fill it in themselves.
	TopK int
	// TopP, when in (0, 1), keeps the smallest set of highest-scoring tokens
	// whose probabilities add up to more than TopP (TopPLogitsWarper). 0
	// and 1 keep everything; values outside [0, 1] are rejected.
	TopP float64
	// MinTokensToKeep is the fewest tokens TopK and TopP leave (their
	// min_tokens_to_keep); 0 stands for 1.
	MinTokensToKeep int
	// Seed seeds the random source (a PCG generator) when Rand is nil.
	Seed uint64
	// Rand, when non-nil, is the random source instead of one seeded by
	// Seed (it is not safe for concurrent use: give each call its own).
	Rand *rand.Rand
}

// Warpers returns the logits warpers s enables, in the order transformers'
// _get_logits_warper builds them: temperature, top-k, top-p.
func (s Sampling) Warpers() Processors {
	var ps Processors
	keep := max(s.MinTokensToKeep, 1)
	if s.Temperature != 0 && s.Temperature != 1 {
		ps = append(ps, Temperature(s.Temperature))
	}
	if s.TopK > 0 {
		ps = append(ps, TopK{K: s.TopK, MinKeep: keep})
	}
	if s.TopP > 0 && s.TopP < 1 {
		ps = append(ps, TopP{P: s.TopP, MinKeep: keep})
	}
	return ps
}

func (s Sampling) check() error {
	switch {
	case s.Temperature < 0 || math.IsNaN(s.Temperature) || math.IsInf(s.Temperature, 0):
		return fmt.Errorf("%w: temperature %g (want a positive value)", ErrInvalid, s.Temperature)
	case s.TopK < 0:
		return fmt.Errorf("%w: top-k %d (want a positive count, or 0 for none)", ErrInvalid, s.TopK)
	case !(s.TopP >= 0 && s.TopP <= 1):
		return fmt.Errorf("%w: top-p %g (want a value in [0, 1])", ErrInvalid, s.TopP)
	case s.MinTokensToKeep < 0:
		return fmt.Errorf("%w: min tokens to keep %d", ErrInvalid, s.MinTokensToKeep)
	}
	return nil
}

// Temperature is transformers' TemperatureLogitsWarper: every score is
// divided by the value.
type Temperature float64

// Process implements LogitsProcessor.
func (t Temperature) Process(_ []int, scores []float32) {
	f := float32(t)
	for i := range scores {
		scores[i] /= f
	}
}

// TopK is transformers' TopKLogitsWarper: the scores below the K-th
// highest (K at least MinKeep) get −Inf; ties with it are kept.
type TopK struct {
	K, MinKeep int
}

// Process implements LogitsProcessor.
func (t TopK) Process(_ []int, scores []float32) {
	k := min(max(t.K, t.MinKeep), len(scores))
	if k <= 0 || k == len(scores) {
		return
	}
	sorted := slices.Clone(scores)
	// The k-th highest: descending order, NaN (never produced by the
	// processors) last.
	slices.SortFunc(sorted, func(a, b float32) int {
		switch {
		case a > b:
			return -1
		case a < b:
			return 1
		}
		return 0
	})
	kth := sorted[k-1]
	for i, s := range scores {
		if s < kth {
			scores[i] = negInf
		}
	}
}

// TopP is transformers' TopPLogitsWarper (nucleus filtering): tokens are
// sorted by ascending score, and those whose cumulative probability stays
// at or below 1−P get −Inf, except the MinKeep highest.
type TopP struct {
	P       float64
	MinKeep int
}

// Process implements LogitsProcessor.
func (t TopP) Process(_ []int, scores []float32) {
	n := len(scores)
	if n == 0 {
		return
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	// torch.sort(descending=False); a stable sort keeps equal scores in
	// index order.
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	sorted := make([]float32, n)
	for i, j := range idx {
		sorted[i] = scores[j]
	}
	probs := softmax32(sorted)
	limit := float32(1 - t.P)
	keepFrom := n - max(t.MinKeep, 1) // the last MinKeep are always kept
	// torch's CPU cumsum accumulates float32 in double precision.
	var cum float64
	for i := 0; i < n; i++ {
		cum += float64(probs[i])
		if float32(cum) <= limit && i < keepFrom {
			scores[idx[i]] = negInf
		}
	}
}

// softmax32 returns softmax(x) in float32 (−Inf entries get 0).
func softmax32(x []float32) []float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	out := make([]float32, len(x))
	if math.IsInf(float64(m), -1) {
		return out
	}
	var z float64
	for i, v := range x {
		e := math.Exp(float64(v - m))
		out[i] = float32(e)
		z += e
	}
	for i := range out {
		out[i] = float32(float64(out[i]) / z)
	}
	return out
}

// SampleToken draws a token from the distribution softmax(scores) (−Inf
// scores are never drawn). It returns −1 when no score is finite.
func SampleToken(r *rand.Rand, scores []float32) int {
	m := math.Inf(-1)
	for _, v := range scores {
		if !math.IsNaN(float64(v)) {
			m = math.Max(m, float64(v))
		}
	}
	if math.IsInf(m, -1) || math.IsInf(m, 1) {
		if math.IsInf(m, 1) {
			// An infinite score takes all the probability.
			for i, v := range scores {
				if math.IsInf(float64(v), 1) {
					return i
				}
			}
		}
		return -1
	}
	var z float64
	for _, v := range scores {
		if !math.IsNaN(float64(v)) {
			z += math.Exp(float64(v) - m)
		}
	}
	u := r.Float64() * z
	last := -1
	var c float64
	for i, v := range scores {
		if math.IsNaN(float64(v)) {
			continue
		}
		p := math.Exp(float64(v) - m)
		if p == 0 {
			continue
		}
		c += p
		last = i
		if u < c {
			return i
		}
	}
	return last // rounding left u at the very top
}

// Sample is transformers' sample (generate with do_sample and one beam):
// every prompt (all of one length; the Stepper holds one row per prompt)
// is extended by a token drawn from softmax of its scores after the logits
// processors of opt and the warpers of sp, until an EOS token or the
// maximum length. Rows draw in order from one random source, so a seed
// gives the same texts on every run and machine.
//
// The processors and warpers, and their order, are transformers'; the
// random numbers are not torch's, so the texts differ from transformers'
// for the same seed (they follow the same distribution). opt.NumBeams is
// ignored. The context is checked before every Step and between rows, as
// in Greedy.
func Sample(ctx context.Context, s Stepper, prompts [][]int, opt Options, sp Sampling) ([][]int, error) {
	promptLen, maxLen, err := opt.check(prompts)
	if err != nil {
		return nil, err
	}
	if err := sp.check(); err != nil {
		return nil, err
	}
	rng := sp.Rand
	if rng == nil {
		rng = rand.New(rand.NewPCG(sp.Seed, 0x676f666f726d6572))
	}
	procs := append(opt.Processors(promptLen), sp.Warpers()...)
	return extend(ctx, s, prompts, opt, procs, maxLen, "sampling", func(row []float32) int { return SampleToken(rng, row) })
}
