package vorbis

import (
	"math"
	"math/bits"
)

// imdct computes Vorbis' inverse MDCT of size n (n/2 coefficients in, n
// samples out):
//
//	y[i] = Σ_k X[k] cos(2π/n (i + 1/2 + n/4)(k + 1/2))
//
// through a DCT-IV of size n/2, itself an n/4-point complex FFT with pre-
// and post-twiddles. TestIMDCT checks it against the direct sum.
type imdct struct {
	n      int
	m      int       // n/2
	twr    []float64 // DCT-IV twiddles exp(-iπ(8k+1)/(8m)), k < m/2
	twi    []float64
	fft    *fft
	zr, zi []float64
	u      []float64
}

func newIMDCT(n int) *imdct {
	m := n / 2
	t := &imdct{n: n, m: m, twr: make([]float64, m/2), twi: make([]float64, m/2),
		fft: newFFT(m / 2), zr: make([]float64, m/2), zi: make([]float64, m/2), u: make([]float64, m)}
	for k := range t.twr {
		s, c := math.Sincos(-math.Pi * float64(8*k+1) / float64(8*m))
		t.twr[k], t.twi[k] = c, s
	}
	return t
}

// dct4 computes u[j] = Σ_k x[k] cos(π/m (j+1/2)(k+1/2)), len(x) = m.
func (t *imdct) dct4(x []float32) {
	m := t.m
	h := m / 2
	zr, zi := t.zr, t.zi
	for k := 0; k < h; k++ {
		a, b := float64(x[2*k]), float64(x[m-1-2*k])
		c, s := t.twr[k], t.twi[k]
		zr[k] = a*c - b*s
		zi[k] = a*s + b*c
	}
	t.fft.transform(zr, zi)
	for j := 0; j < h; j++ {
		c, s := t.twr[j], t.twi[j]
		re := zr[j]*c - zi[j]*s
		im := zr[j]*s + zi[j]*c
		t.u[2*j] = re
		t.u[m-1-2*j] = -im
	}
}

// inverse writes the n output samples of coefficients x (len n/2) to out.
func (t *imdct) inverse(x []float32, out []float32) {
	m := t.m
	t.dct4(x[:m])
	u := t.u
	out = out[:2*m]
	h := m / 2
	for i := 0; i < h; i++ {
		out[i] = float32(u[i+h])
	}
	for i := h; i < 3*h; i++ {
		out[i] = float32(-u[3*h-1-i])
	}
	for i := 3 * h; i < 2*m; i++ {
		out[i] = float32(-u[i-3*h])
	}
}

// fft is an in-place radix-2 complex FFT (forward, exp(-2πi jk/n)).
type fft struct {
	n      int
	rev    []int
	wr, wi []float64
}

func newFFT(n int) *fft {
	f := &fft{n: n, rev: make([]int, n), wr: make([]float64, n/2), wi: make([]float64, n/2)}
	lg := bits.Len(uint(n)) - 1
	for i := range f.rev {
		f.rev[i] = int(bits.Reverse(uint(i)) >> (bits.UintSize - lg))
	}
	if n == 1 {
		f.rev[0] = 0
	}
	for k := range f.wr {
		s, c := math.Sincos(-2 * math.Pi * float64(k) / float64(n))
		f.wr[k], f.wi[k] = c, s
	}
	return f
}

func (f *fft) transform(re, im []float64) {
	n := f.n
	for i, j := range f.rev {
		if i < j {
			re[i], re[j] = re[j], re[i]
			im[i], im[j] = im[j], im[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		half := size / 2
		step := n / size
		for start := 0; start < n; start += size {
			for k := 0; k < half; k++ {
				c, s := f.wr[k*step], f.wi[k*step]
				a, b := start+k, start+k+half
				tr := re[b]*c - im[b]*s
				ti := re[b]*s + im[b]*c
				re[b], im[b] = re[a]-tr, im[a]-ti
				re[a], im[a] = re[a]+tr, im[a]+ti
			}
		}
	}
}
