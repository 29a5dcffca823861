package testdata

import "math"

// The building blocks of the float64 references that model tests write
// from transformers' modeling code, to check the float32 kernels on
// configurations the fixtures do not cover.

// Mat is a row-major matrix of float64 rows.
type Mat [][]float64

// Add returns a + b, element by element.
func (a Mat) Add(b Mat) Mat {
	y := make(Mat, len(a))
	for i := range a {
		y[i] = make([]float64, len(a[i]))
		for j := range a[i] {
			y[i][j] = a[i][j] + b[i][j]
		}
	}
	return y
}

// Linear returns x·Wᵀ + b for W [out, in] stored row-major (b may be nil).
func (x Mat) Linear(w, b []float64, out int) Mat {
	in := len(w) / out
	y := make(Mat, len(x))
	for i, row := range x {
		y[i] = make([]float64, out)
		for o := 0; o < out; o++ {
			var s float64
			for j := 0; j < in; j++ {
				s += row[j] * w[o*in+j]
			}
			if b != nil {
				s += b[o]
			}
			y[i][o] = s
		}
	}
	return y
}

// LayerNorm normalises each row of x to zero mean and unit variance
// (biased, with eps added), then scales by w and shifts by b when w is not
// nil.
func (x Mat) LayerNorm(w, b []float64, eps float64) Mat {
	y := make(Mat, len(x))
	for i, row := range x {
		var mu, v float64
		for _, a := range row {
			mu += a
		}
		mu /= float64(len(row))
		for _, a := range row {
			v += (a - mu) * (a - mu)
		}
		v /= float64(len(row))
		y[i] = make([]float64, len(row))
		for j, a := range row {
			z := (a - mu) / math.Sqrt(v+eps)
			if w != nil {
				z = z*w[j] + b[j]
			}
			y[i][j] = z
		}
	}
	return y
}

// Attention returns multi-head softmax attention of the query rows q over
// the key rows k and value rows v (heads take equal slices of the
// columns): scores (q·k)·scale, softmax over the keys, the weighted sum of
// the values. With causal, query i sees only the keys up to
// i + len(k) − len(q) (the last query aligned with the last key).
func (q Mat) Attention(k, v Mat, heads int, scale float64, causal bool) Mat {
	d := len(q[0])
	dh := d / heads
	out := make(Mat, len(q))
	for i := range out {
		out[i] = make([]float64, d)
	}
	off := len(k) - len(q)
	for h := 0; h < heads; h++ {
		for i := range q {
			sc := make([]float64, len(k))
			mx := math.Inf(-1)
			for j := range k {
				if causal && j > i+off {
					sc[j] = math.Inf(-1)
					continue
				}
				for c := h * dh; c < (h+1)*dh; c++ {
					sc[j] += q[i][c] * k[j][c]
				}
				sc[j] *= scale
				mx = math.Max(mx, sc[j])
			}
			sum := 0.0
			for j := range sc {
				sc[j] = math.Exp(sc[j] - mx)
				sum += sc[j]
			}
			for j := range sc {
				for c := h * dh; c < (h+1)*dh; c++ {
					out[i][c] += sc[j] / sum * v[j][c]
				}
			}
		}
	}
	return out
}
