package audio

import (
	"math"
	"math/rand"
	"testing"
)

// TestRealFFT checks the mixed-radix real FFT against a direct DFT for the
// Whisper size and sizes that exercise every radix.
func TestRealFFT(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, n := range []int{2, 4, 6, 8, 10, 16, 18, 30, 42, 50, 98, 400, 512, 1000} {
		x := make([]float64, n)
		for i := range x {
			x[i] = rng.Float64()*2 - 1
		}
		f := newRealFFT(n)
		re, im := make([]float64, n/2+1), make([]float64, n/2+1)
		f.transform(x, re, im)
		var maxErr float64
		for k := 0; k <= n/2; k++ {
			var sr, si float64
			for j, v := range x {
				s, c := math.Sincos(-2 * math.Pi * float64((j*k)%n) / float64(n))
				sr += v * c
				si += v * s
			}
			maxErr = math.Max(maxErr, math.Hypot(re[k]-sr, im[k]-si))
		}
		if maxErr > 1e-12*float64(n) {
			t.Errorf("n=%d: max error %g", n, maxErr)
		}
	}
}
