package testdata

import (
	"fmt"
	"math"
	"slices"
)

// Accuracy is how far the outputs of an approximate mode (int8 weights,
// say) are from the float32 reference: Rel is max|Δ| / max|want| over all
// values; Top1 the fraction of rows (positions, images, frames) whose
// argmax agrees, out of Rows.
type Accuracy struct {
	Rel  float64
	Top1 float64
	Rows int
}

// CompareLogits compares got with want, both rows of cols values stored
// one after the other (the last dimension of a logits tensor).
func CompareLogits(got, want []float32, cols int) Accuracy {
	if len(got) != len(want) || cols <= 0 || len(want)%cols != 0 {
		panic(fmt.Sprintf("testdata: comparing %d values with %d in rows of %d", len(got), len(want), cols))
	}
	var d, s float64
	for i, w := range want {
		d = max(d, math.Abs(float64(got[i])-float64(w)))
		s = max(s, math.Abs(float64(w)))
		if math.IsNaN(float64(got[i])) {
			d = math.Inf(1)
		}
	}
	rows := len(want) / cols
	agree := 0
	for r := 0; r < rows; r++ {
		if argmax(got[r*cols:(r+1)*cols]) == argmax(want[r*cols:(r+1)*cols]) {
			agree++
		}
	}
	a := Accuracy{Rel: d / s, Rows: rows}
	if rows > 0 {
		a.Top1 = float64(agree) / float64(rows)
	}
	return a
}

// String formats the figures as a test log line reads them.
func (a Accuracy) String() string {
	return fmt.Sprintf("max|Δ|/max|x| = %.4f, top-1 agreement %.3f over %d rows", a.Rel, a.Top1, a.Rows)
}

// SameIDs reports whether two token id sequences are identical, and the
// first position where they differ (-1 when identical).
func SameIDs(got, want []int) (bool, int) {
	if slices.Equal(got, want) {
		return true, -1
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return false, i
		}
	}
	return false, min(len(got), len(want))
}

func argmax(x []float32) int {
	b := 0
	for i, v := range x {
		if v > x[b] {
			b = i
		}
	}
	return b
}

// The accuracy budget of int8 weights (tensor.WeightQ8) on the fixtures,
// documented in tensor/PERFORMANCE.md: max|Δ|/max|x| of logits and
// embeddings against float32 at most Q8Rel, and top-1 agreement over
// teacher-forced positions (images, frames) at least Q8Top1. Measured on
// the shared fixtures: 1.4–4.7% and 0.85–1; the bounds leave room for
// other fixture sets of the same layout, and a wrongly quantized or
// packed weight gives errors of the order of the values themselves.
const (
	Q8Rel  = 0.08
	Q8Top1 = 0.75
)
