package generate_test

import (
	"context"
	"fmt"
	"math"

	"github.com/goformer/goformer/generate"
)

// bigram is a toy Stepper: the next token's log-probabilities depend on the
// last token only. Real models keep KV caches per row and reorder them.
type bigram struct {
	last []int // last token of each row
}

// next[t] gives the probabilities of tokens 0 (end), 1, 2, 3 after t.
var next = [][]float64{
	{1, 0, 0, 0},
	{0.30, 0.05, 0.35, 0.30},
	{0.90, 0.05, 0.03, 0.02},
	{0.40, 0.20, 0.20, 0.20},
}

func (m *bigram) Step(_ context.Context, tokens [][]int) ([][]float32, error) {
	m.last = make([]int, len(tokens))
	out := make([][]float32, len(tokens))
	for r, t := range tokens {
		m.last[r] = t[len(t)-1]
		out[r] = make([]float32, len(next))
		for i, p := range next[m.last[r]] {
			out[r][i] = float32(math.Log(p))
		}
	}
	return out, nil
}

func (m *bigram) Reorder(idx []int) error {
	last := make([]int, len(idx))
	for i, j := range idx {
		if m.last != nil {
			last[i] = m.last[j]
		}
	}
	m.last = last
	return nil
}

func Example() {
	ctx := context.Background()
	opt := generate.Options{MaxLength: 8, EOS: []int{0}, LengthPenalty: 1}
	greedy, err := generate.Greedy(ctx, &bigram{}, [][]int{{1}, {3}}, opt)
	if err != nil {
		fmt.Println(err)
		return
	}
	opt.NumBeams = 2
	beam, err := generate.Beam(ctx, &bigram{}, [][]int{{1}, {3}}, opt)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("greedy:", greedy)
	fmt.Println("beam:  ", beam)
	// After 3, greedy search ends at once (p = 0.4, score log 0.4 / 1 =
	// −0.92); beam search prefers 3 2 0 (p = 0.18, log 0.18 / 2 = −0.86).

	// Output:
	// greedy: [[1 2 0] [3 0]]
	// beam:   [[1 2 0] [3 2 0]]
}
