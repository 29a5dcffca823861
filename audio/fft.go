package audio

import "math"

// realFFT is a forward FFT of a fixed even size n for real input, computed
// as a complex FFT of size n/2 (even samples as real parts, odd samples as
// imaginary parts) followed by the usual split step. The complex FFT is a
// Stockham autosort mixed-radix (4, 2, 3, 5, then any odd factor by a direct
// DFT) transform in float64 with exactly computed twiddles.
//
// Measured on the 400-point Whisper frame (BenchmarkFFT400) it takes about
// half the time of gonum's dsp/fourier (FFTPACK) real transform; TestRealFFT
// checks it against a direct DFT. It is not safe for concurrent use: MelExtractor keeps one per
// goroutine.
type realFFT struct {
	n      int
	cplx   *cplxFFT
	zr, zi []float64 // n/2 packed input / output
	// split-step twiddles: exp(-2πik/n), k = 0..n/2
	wr, wi []float64
}

func newRealFFT(n int) *realFFT {
	if n < 2 || n%2 != 0 {
		panic("audio: realFFT size must be even") // internal sizes only
	}
	m := n / 2
	f := &realFFT{n: n, cplx: newCplxFFT(m), zr: make([]float64, m), zi: make([]float64, m),
		wr: make([]float64, m+1), wi: make([]float64, m+1)}
	for k := 0; k <= m; k++ {
		s, c := math.Sincos(-2 * math.Pi * float64(k) / float64(n))
		f.wr[k], f.wi[k] = c, s
	}
	return f
}

// transform writes the n/2+1 non-negative-frequency coefficients of x
// (len n) to re and im (len n/2+1 each).
func (f *realFFT) transform(x, re, im []float64) {
	m := f.n / 2
	zr, zi := f.zr[:m], f.zi[:m]
	x = x[:2*m]
	for i := range zr {
		zr[i] = x[2*i]
		zi[i] = x[2*i+1]
	}
	f.finish(re, im)
}

// transformWindowed is transform of x[j]*win[j], x in float32, the window
// product computed in float64.
func (f *realFFT) transformWindowed(x []float32, win, re, im []float64) {
	m := f.n / 2
	zr, zi := f.zr[:m], f.zi[:m]
	x = x[:2*m]
	win = win[:2*m]
	for i := range zr {
		zr[i] = float64(x[2*i]) * win[2*i]
		zi[i] = float64(x[2*i+1]) * win[2*i+1]
	}
	f.finish(re, im)
}

// finish runs the half-size complex FFT on the packed input and splits it
// into the real transform.
func (f *realFFT) finish(re, im []float64) {
	m := f.n / 2
	zr, zi := f.zr[:m], f.zi[:m]
	f.cplx.transform(zr, zi)
	re, im = re[:m+1], im[:m+1]
	// X[k] = E[k] + W^k O[k], E = (Z[k] + conj Z[m-k])/2, O = (Z[k] - conj Z[m-k])/(2i)
	re[0] = zr[0] + zi[0]
	im[0] = 0
	re[m] = zr[0] - zi[0]
	im[m] = 0
	wr, wi := f.wr[:m+1], f.wi[:m+1]
	for k := 1; k < m; k++ {
		j := m - k
		ar, ai := zr[k], zi[k]
		br, bi := zr[j], -zi[j] // conj Z[m-k]
		er, ei := 0.5*(ar+br), 0.5*(ai+bi)
		// (a - b) / (2i) = (ai-bi)/2 - i (ar-br)/2
		or, oi := 0.5*(ai-bi), -0.5*(ar-br)
		c, s := wr[k], wi[k]
		re[k] = er + c*or - s*oi
		im[k] = ei + c*oi + s*or
	}
}

// cplxFFT is an in-place forward complex FFT of a fixed size.
type cplxFFT struct {
	n      int
	stages []fftStage
	tr, ti []float64 // ping-pong buffer
}

// fftStage is one Stockham pass: radix r over sub-transforms of size l
// (= r*m) with stride s; tw holds exp(-2πi p u / l) for p < m, 1 ≤ u < r.
type fftStage struct {
	r, m, s  int
	twr, twi []float64 // [p*(r-1) + u-1]
	dr, di   []float64 // generic radix: exp(-2πi t u / r)
}

func newCplxFFT(n int) *cplxFFT {
	var radices []int
	rest := n
	for _, p := range []int{4, 2, 3, 5} {
		for rest%p == 0 {
			radices = append(radices, p)
			rest /= p
		}
	}
	for p := 7; rest > 1; p += 2 {
		for rest%p == 0 {
			radices = append(radices, p)
			rest /= p
		}
	}
	f := &cplxFFT{n: n, tr: make([]float64, n), ti: make([]float64, n)}
	l, s := n, 1
	for _, r := range radices {
		m := l / r
		st := fftStage{r: r, m: m, s: s, twr: make([]float64, m*(r-1)), twi: make([]float64, m*(r-1))}
		for p := 0; p < m; p++ {
			for u := 1; u < r; u++ {
				sn, cs := math.Sincos(-2 * math.Pi * float64(p*u) / float64(l))
				st.twr[p*(r-1)+u-1], st.twi[p*(r-1)+u-1] = cs, sn
			}
		}
		if r > 5 || r == 3 {
			st.dr, st.di = make([]float64, r*r), make([]float64, r*r)
			for t := 0; t < r; t++ {
				for u := 0; u < r; u++ {
					sn, cs := math.Sincos(-2 * math.Pi * float64((t*u)%r) / float64(r))
					st.dr[t*r+u], st.di[t*r+u] = cs, sn
				}
			}
		}
		f.stages = append(f.stages, st)
		l, s = m, s*r
	}
	return f
}

// transform replaces (re, im) by its DFT.
func (f *cplxFFT) transform(re, im []float64) {
	xr, xi := re[:f.n], im[:f.n]
	yr, yi := f.tr, f.ti
	for i := range f.stages {
		f.stages[i].run(xr, xi, yr, yi)
		xr, xi, yr, yi = yr, yi, xr, xi
	}
	if len(f.stages)%2 == 1 {
		copy(re, xr)
		copy(im, xi)
	}
}

const (
	c5a = 0.30901699437494745 // cos(2π/5)
	c5b = -0.8090169943749475 // cos(4π/5)
	s5a = 0.9510565162951535  // sin(2π/5)
	s5b = 0.5877852522924731  // sin(4π/5)
	s3  = 0.86602540378443864676
)

// run performs one Stockham DIF pass from x to y:
// y[q + s(r p + u)] = w^{p u} Σ_t x[q + s(p + t m)] e^{-2πi t u / r}.
func (st *fftStage) run(xr, xi, yr, yi []float64) {
	r, m, s := st.r, st.m, st.s
	sm := s * m
	switch r {
	case 2:
		for p := 0; p < m; p++ {
			w1r, w1i := st.twr[p], st.twi[p]
			for q := 0; q < s; q++ {
				i0 := q + s*p
				i1 := i0 + sm
				ar, ai := xr[i0], xi[i0]
				br, bi := xr[i1], xi[i1]
				o := q + s*2*p
				yr[o], yi[o] = ar+br, ai+bi
				dr, di := ar-br, ai-bi
				yr[o+s], yi[o+s] = dr*w1r-di*w1i, dr*w1i+di*w1r
			}
		}
	case 4:
		for p := 0; p < m; p++ {
			tw := 3 * p
			w1r, w1i := st.twr[tw], st.twi[tw]
			w2r, w2i := st.twr[tw+1], st.twi[tw+1]
			w3r, w3i := st.twr[tw+2], st.twi[tw+2]
			for q := 0; q < s; q++ {
				i0 := q + s*p
				ar, ai := xr[i0], xi[i0]
				br, bi := xr[i0+sm], xi[i0+sm]
				cr, ci := xr[i0+2*sm], xi[i0+2*sm]
				dr, di := xr[i0+3*sm], xi[i0+3*sm]
				// DFT4: y0 = a+b+c+d, y1 = (a-c) - i(b-d), y2 = a-b+c-d, y3 = (a-c) + i(b-d)
				t0r, t0i := ar+cr, ai+ci
				t1r, t1i := ar-cr, ai-ci
				t2r, t2i := br+dr, bi+di
				t3r, t3i := br-dr, bi-di
				o := q + s*4*p
				yr[o], yi[o] = t0r+t2r, t0i+t2i
				y1r, y1i := t1r+t3i, t1i-t3r
				y2r, y2i := t0r-t2r, t0i-t2i
				y3r, y3i := t1r-t3i, t1i+t3r
				yr[o+s], yi[o+s] = y1r*w1r-y1i*w1i, y1r*w1i+y1i*w1r
				yr[o+2*s], yi[o+2*s] = y2r*w2r-y2i*w2i, y2r*w2i+y2i*w2r
				yr[o+3*s], yi[o+3*s] = y3r*w3r-y3i*w3i, y3r*w3i+y3i*w3r
			}
		}
	case 5:
		if m == 1 { // last stage: all twiddles are 1
			st.radix5NoTwiddle(xr, xi, yr, yi)
			return
		}
		for p := 0; p < m; p++ {
			tw := 4 * p
			w1r, w1i := st.twr[tw], st.twi[tw]
			w2r, w2i := st.twr[tw+1], st.twi[tw+1]
			w3r, w3i := st.twr[tw+2], st.twi[tw+2]
			w4r, w4i := st.twr[tw+3], st.twi[tw+3]
			for q := 0; q < s; q++ {
				i0 := q + s*p
				ar, ai := xr[i0], xi[i0]
				br, bi := xr[i0+sm], xi[i0+sm]
				cr, ci := xr[i0+2*sm], xi[i0+2*sm]
				dr, di := xr[i0+3*sm], xi[i0+3*sm]
				er, ei := xr[i0+4*sm], xi[i0+4*sm]
				s1r, s1i := br+er, bi+ei
				d1r, d1i := br-er, bi-ei
				s2r, s2i := cr+dr, ci+di
				d2r, d2i := cr-dr, ci-di
				o := q + s*5*p
				yr[o], yi[o] = ar+s1r+s2r, ai+s1i+s2i
				// real-ish parts
				p1r, p1i := ar+c5a*s1r+c5b*s2r, ai+c5a*s1i+c5b*s2i
				p2r, p2i := ar+c5b*s1r+c5a*s2r, ai+c5b*s1i+c5a*s2i
				// -i * (s5a d1 + s5b d2) and -i * (s5b d1 - s5a d2)
				q1r, q1i := s5a*d1i+s5b*d2i, -(s5a*d1r + s5b*d2r)
				q2r, q2i := s5b*d1i-s5a*d2i, -(s5b*d1r - s5a*d2r)
				y1r, y1i := p1r+q1r, p1i+q1i
				y4r, y4i := p1r-q1r, p1i-q1i
				y2r, y2i := p2r+q2r, p2i+q2i
				y3r, y3i := p2r-q2r, p2i-q2i
				yr[o+s], yi[o+s] = y1r*w1r-y1i*w1i, y1r*w1i+y1i*w1r
				yr[o+2*s], yi[o+2*s] = y2r*w2r-y2i*w2i, y2r*w2i+y2i*w2r
				yr[o+3*s], yi[o+3*s] = y3r*w3r-y3i*w3i, y3r*w3i+y3i*w3r
				yr[o+4*s], yi[o+4*s] = y4r*w4r-y4i*w4i, y4r*w4i+y4i*w4r
			}
		}
	default: // 3 and any other odd prime: direct DFT of size r
		var vr, vi [64]float64
		if r > len(vr) {
			panic("audio: FFT factor too large") // internal sizes only
		}
		for p := 0; p < m; p++ {
			for q := 0; q < s; q++ {
				i0 := q + s*p
				for t := 0; t < r; t++ {
					vr[t], vi[t] = xr[i0+t*sm], xi[i0+t*sm]
				}
				o := q + s*r*p
				for u := 0; u < r; u++ {
					var sr, si float64
					for t := 0; t < r; t++ {
						cr, ci := st.dr[t*r+u], st.di[t*r+u]
						sr += vr[t]*cr - vi[t]*ci
						si += vr[t]*ci + vi[t]*cr
					}
					if u > 0 {
						wr, wi := st.twr[p*(r-1)+u-1], st.twi[p*(r-1)+u-1]
						sr, si = sr*wr-si*wi, sr*wi+si*wr
					}
					yr[o+u*s], yi[o+u*s] = sr, si
				}
			}
		}
	}
}

// radix5NoTwiddle is the radix-5 pass with m == 1 (p = 0, unit twiddles).
func (st *fftStage) radix5NoTwiddle(xr, xi, yr, yi []float64) {
	s := st.s
	xr, xi = xr[:5*s], xi[:5*s]
	yr, yi = yr[:5*s], yi[:5*s]
	for q := 0; q < s; q++ {
		ar, ai := xr[q], xi[q]
		br, bi := xr[q+s], xi[q+s]
		cr, ci := xr[q+2*s], xi[q+2*s]
		dr, di := xr[q+3*s], xi[q+3*s]
		er, ei := xr[q+4*s], xi[q+4*s]
		s1r, s1i := br+er, bi+ei
		d1r, d1i := br-er, bi-ei
		s2r, s2i := cr+dr, ci+di
		d2r, d2i := cr-dr, ci-di
		yr[q], yi[q] = ar+s1r+s2r, ai+s1i+s2i
		p1r, p1i := ar+c5a*s1r+c5b*s2r, ai+c5a*s1i+c5b*s2i
		p2r, p2i := ar+c5b*s1r+c5a*s2r, ai+c5b*s1i+c5a*s2i
		q1r, q1i := s5a*d1i+s5b*d2i, -(s5a*d1r + s5b*d2r)
		q2r, q2i := s5b*d1i-s5a*d2i, -(s5b*d1r - s5a*d2r)
		yr[q+s], yi[q+s] = p1r+q1r, p1i+q1i
		yr[q+2*s], yi[q+2*s] = p2r+q2r, p2i+q2i
		yr[q+3*s], yi[q+3*s] = p2r-q2r, p2i-q2i
		yr[q+4*s], yi[q+4*s] = p1r-q1r, p1i-q1i
	}
}
