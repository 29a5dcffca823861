package audio

import "gonum.org/v1/gonum/dsp/fourier"

// realFFT is a forward real-input FFT of a fixed size. It is not safe for
// concurrent use; MelExtractor keeps one per goroutine.
type realFFT struct {
	n    int
	plan *fourier.FFT
	out  []complex128
}

func newRealFFT(n int) *realFFT {
	return &realFFT{n: n, plan: fourier.NewFFT(n), out: make([]complex128, n/2+1)}
}

// transform writes the n/2+1 non-negative-frequency coefficients of x
// (len n) to re and im.
func (f *realFFT) transform(x, re, im []float64) {
	f.plan.Coefficients(f.out, x)
	for k, c := range f.out {
		re[k], im[k] = real(c), imag(c)
	}
}
