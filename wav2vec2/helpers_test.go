package wav2vec2

import "github.com/goformer/goformer/internal/testdata"

// maxAbs is the largest absolute difference (NaN counts as infinite).
func maxAbs(a, b []float32) float64 {
	d, _ := testdata.MaxAbsDiff(a, b)
	return d
}
