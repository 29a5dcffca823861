package kern

import "math"

// Vectorised row primitives used by package tensor. Each dispatches to an
// AVX-512 kernel where the CPU has one and to portable Go otherwise; the
// kernels agree with the float64 reference to a few float32 ulps (see
// vec_test.go for the bounds).

var vec512 bool // set by select_amd64.go

// asm holds the AVX-512 row kernels (set by select_amd64.go where they
// exist; only called when vec512 is true).
var asm struct {
	max512, sum512                        func(x []float32) float32
	sqDev512, expSum512, expSumNoStore512 func(x []float32, v float32) float32
	scale512, sigmoidMul512               func(x []float32, v float32)
	geluErf512, geluTanh512               func(x []float32)
	norm512                               func(x, w, b []float32, mean, inv float32)
	add512                                func(x, y []float32)
	dotRows512                            func(x *float32, k int, w *float32, ldw int, n int, out *float32, alpha float32)
	dots512                               [9]func(q, k *float32, ldk, n int, scale float32, out *float32)
	f16ToF32, bf16ToF32                   func(dst []float32, src []uint16)
}

// HasVec512 reports whether the AVX-512 row kernels are in use.
func HasVec512() bool { return vec512 }

// VecMax returns the largest element of x (−Inf when x is empty).
func VecMax(x []float32) float32 {
	if vec512 {
		return asm.max512(x)
	}
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	return m
}

// VecSum returns Σ x.
func VecSum(x []float32) float32 {
	if vec512 {
		return asm.sum512(x)
	}
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	return float32(s)
}

// VecSqDev returns Σ (x − mean)².
func VecSqDev(x []float32, mean float32) float32 {
	if vec512 {
		return asm.sqDev512(x, mean)
	}
	var s float64
	for _, v := range x {
		d := float64(v - mean)
		s += d * d
	}
	return float32(s)
}

// VecExpSum sets x = exp(x − shift) and returns Σ x.
func VecExpSum(x []float32, shift float32) float32 {
	if vec512 {
		return asm.expSum512(x, shift)
	}
	var s float64
	for i, v := range x {
		e := float32(math.Exp(float64(v - shift)))
		x[i] = e
		s += float64(e)
	}
	return float32(s)
}

// VecSumExp returns Σ exp(x − shift) without changing x.
func VecSumExp(x []float32, shift float32) float32 {
	if vec512 {
		return asm.expSumNoStore512(x, shift)
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v - shift))
	}
	return float32(s)
}

// VecScale multiplies x by s.
func VecScale(x []float32, s float32) {
	if vec512 {
		asm.scale512(x, s)
		return
	}
	for i := range x {
		x[i] *= s
	}
}

// VecNorm sets x = (x − mean)·inv·w + b (w, b as long as x).
func VecNorm(x, w, b []float32, mean, inv float32) {
	if vec512 {
		asm.norm512(x, w[:len(x)], b[:len(x)], mean, inv)
		return
	}
	w, b = w[:len(x)], b[:len(x)]
	for i, v := range x {
		x[i] = (v-mean)*inv*w[i] + b[i]
	}
}

// VecAdd adds y into x (len(y) ≥ len(x)).
func VecAdd(x, y []float32) {
	if vec512 {
		asm.add512(x, y[:len(x)])
		return
	}
	y = y[:len(x)]
	for i := range x {
		x[i] += y[i]
	}
}

// VecGeluErf applies the exact GELU x·Φ(x) in place.
func VecGeluErf(x []float32) {
	if vec512 {
		asm.geluErf512(x)
		return
	}
	for i, v := range x {
		x[i] = float32(0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2)))
	}
}

// VecGeluTanh applies the tanh approximation of GELU in place.
func VecGeluTanh(x []float32) {
	if vec512 {
		asm.geluTanh512(x)
		return
	}
	for i, v := range x {
		f := float64(v)
		x[i] = float32(0.5 * f * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(f+0.044715*f*f*f))))
	}
}

// VecSigmoidMul sets x = x·σ(c·x) in place (QuickGELU: c = 1.702; SiLU: 1).
func VecSigmoidMul(x []float32, c float32) {
	if vec512 {
		asm.sigmoidMul512(x, c)
		return
	}
	for i, v := range x {
		x[i] = float32(float64(v) / (1 + math.Exp(-float64(c)*float64(v))))
	}
}

// VecDots sets out[j] = scale·Σ_p q[p]·k[j·ldk+p] for j < len(out), p <
// len(q): one query against many keys.
func VecDots(q, k []float32, ldk int, scale float32, out []float32) {
	d, n := len(q), len(out)
	if n == 0 {
		return
	}
	_ = k[(n-1)*ldk+d-1]
	if vec512 && d%16 == 0 && d <= 128 && d > 0 {
		asm.dots512[d/16](&q[0], &k[0], ldk, n, scale, &out[0])
		return
	}
	for j := range out {
		row := k[j*ldk : j*ldk+d]
		var s float32
		for p, v := range q {
			s += v * row[p]
		}
		out[j] = scale * s
	}
}

// VecDotRows sets out[j] = alpha·Σ_p x[p]·w[j·ldw+p] for j < len(out), p <
// len(x): a vector times the rows of a matrix (a GEMV with the matrix in
// PyTorch's [out, in] layout).
func VecDotRows(x, w []float32, ldw int, alpha float32, out []float32) {
	k, n := len(x), len(out)
	if n == 0 {
		return
	}
	if k == 0 {
		clear(out)
		return
	}
	_ = w[(n-1)*ldw+k-1]
	if vec512 {
		asm.dotRows512(&x[0], k, &w[0], ldw, n, &out[0], alpha)
		return
	}
	for j := range out {
		out[j] = alpha * dotGo(x, w[j*ldw:j*ldw+k])
	}
}

// VecDot returns Σ x[i]·y[i] (len(y) ≥ len(x)).
func VecDot(x, y []float32) float32 {
	if len(x) == 0 {
		return 0
	}
	if vec512 {
		var out float32
		asm.dotRows512(&x[0], len(x), &y[0], len(x), 1, &out, 1)
		return out
	}
	return dotGo(x, y)
}

func dotGo(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}
