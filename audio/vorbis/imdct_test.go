package vorbis

import (
	"math"
	"math/rand"
	"testing"
)

// TestIMDCT checks the FFT-based inverse MDCT against the direct sum for
// every Vorbis block size up to 4096.
func TestIMDCT(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for n := 64; n <= 4096; n *= 2 {
		x := make([]float32, n/2)
		for i := range x {
			x[i] = float32(rng.Float64()*2 - 1)
		}
		got := make([]float32, n)
		newIMDCT(n).inverse(x, got)
		var maxErr float64
		for i := 0; i < n; i++ {
			var s float64
			for k, v := range x {
				s += float64(v) * math.Cos(2*math.Pi/float64(n)*(float64(i)+0.5+float64(n)/4)*(float64(k)+0.5))
			}
			maxErr = math.Max(maxErr, math.Abs(s-float64(got[i])))
		}
		if maxErr > 1e-4 {
			t.Errorf("n=%d: max error %g", n, maxErr)
		}
	}
}
