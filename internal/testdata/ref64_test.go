package testdata

import (
	"math"
	"testing"
)

// TestAttention checks Mat.Attention on two heads of one column each:
// softmax weights by hand, the causal mask aligned on the last key, and
// the heads kept apart.
func TestAttention(t *testing.T) {
	q := Mat{{1, 0}, {0, 2}}
	k := Mat{{0, 1}, {1, 0}, {2, 1}}
	v := Mat{{1, 10}, {2, 20}, {4, 40}}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	// softmax over the scores s: the weighted mean of the values x
	mean := func(s, x []float64) float64 {
		var z, m float64
		for j := range s {
			z += math.Exp(s[j])
			m += math.Exp(s[j]) * x[j]
		}
		return m / z
	}
	got := q.Attention(k, v, 2, 0.5, false)
	want := Mat{
		{mean([]float64{0, 0.5, 1}, []float64{1, 2, 4}), mean([]float64{0, 0, 0}, []float64{10, 20, 40})},
		{mean([]float64{0, 0, 0}, []float64{1, 2, 4}), mean([]float64{1, 0, 1}, []float64{10, 20, 40})},
	}
	// causal: query 0 sees keys 0 and 1, query 1 all three
	gotC := q.Attention(k, v, 2, 0.5, true)
	wantC := Mat{
		{mean([]float64{0, 0.5}, []float64{1, 2}), mean([]float64{0, 0}, []float64{10, 20})},
		want[1],
	}
	for _, c := range []struct {
		name      string
		got, want Mat
	}{{"full", got, want}, {"causal", gotC, wantC}} {
		for i := range c.want {
			for j := range c.want[i] {
				if !near(c.got[i][j], c.want[i][j]) {
					t.Errorf("%s: [%d][%d] = %v, want %v", c.name, i, j, c.got[i][j], c.want[i][j])
				}
			}
		}
	}
}
