package tensor

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/goformer/goformer/tensor/internal/kern"
)

// q8Want computes C = act(alpha·A·Wᵀ + beta·C (+ bias)) the way WeightQ8
// products are defined, straight from the quantized rows (no packing, no
// blocking, no kernels): the bit-exact reference of every int8 path.
func q8Want(m, n, k int, alpha float32, a []float32, lda int, w []float32, beta float32, c []float32, ldc int, bias []float32) []float32 {
	nb := (k + kern.Q8Block - 1) / kern.Q8Block
	quant := func(x []float32) ([]int8, []float32) {
		q := make([]byte, len(x))
		s, corr := make([]float32, nb), make([]int32, nb)
		kern.QuantQ8Go(x, q, s, corr)
		out := make([]int8, len(q))
		for i, v := range q {
			out[i] = int8(v)
		}
		return out, s
	}
	out := slices.Clone(c)
	wq := make([][]int8, n)
	ws := make([][]float32, n)
	for j := 0; j < n; j++ {
		wq[j], ws[j] = quant(w[j*k : (j+1)*k])
	}
	for i := 0; i < m; i++ {
		aq, as := quant(a[i*lda : i*lda+k])
		for b := range as {
			as[b] *= alpha
		}
		for j := 0; j < n; j++ {
			cv := out[i*ldc+j]
			if beta != 0 && beta != 1 {
				cv *= beta
			}
			for b := 0; b < nb; b++ {
				var d int32
				for p := b * kern.Q8Block; p < min(k, (b+1)*kern.Q8Block); p++ {
					d += int32(aq[p]) * int32(wq[j][p])
				}
				f := float32(float32(float32(d)*ws[j][b]) * as[b])
				if b == 0 {
					if bias != nil {
						f = float32(f + bias[j])
					}
					if beta != 0 {
						f = float32(f + cv)
					}
				} else {
					f = float32(f + cv)
				}
				cv = f
			}
			out[i*ldc+j] = cv
		}
	}
	return out
}

// TestQ8GemmExact checks GemmPacked with Q8 weights, with every kernel set
// (assembly and pure Go) and threading, bit for bit against q8Want.
func TestQ8GemmExact(t *testing.T) {
	vs := kernelVariants(t, "AVX512-VNNI", &q8Set, kern.Q8Sets(), func(s *kern.Q8Set) string { return s.Name })
	testGemmExact(t, WeightQ8, 5, lowpCases, vs, q8Want)
}

// TestQ8Accuracy bounds the quantization error of a product against the
// float64 product of the unquantized operands.
func TestQ8Accuracy(t *testing.T) {
	testAccuracy(t, WeightQ8, 6, Q8Kernel(), func(rel, rms float64) error {
		// Gaussian operands: each int8 rounding adds ≈ 0.5% rms noise.
		if rel > 0.02 || rms > 0.02 {
			return fmt.Errorf("relative error %.4f (rms %.4f) above 0.02", rel, rms)
		}
		return nil
	})
}

// TestQ8PackLayout checks the packed codes and scales against the rows
// quantized directly, and the storage size.
func TestQ8PackLayout(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	n, k := 45, 515
	w := randSlice(r, n*k)
	p := testPackReleases(t, WeightQ8, w, n, k)
	kp := (k + 3) &^ 3
	nb := (k + q8Block - 1) / q8Block
	if got, want := p.Bytes(), 2*kp*q8NR+4*2*nb*q8NR; got != want {
		t.Fatalf("Bytes() = %d, want %d", got, want)
	}
	q := make([]byte, k)
	s, corr := make([]float32, nb), make([]int32, nb)
	for j := 0; j < n; j++ {
		kern.QuantQ8Go(w[j*k:(j+1)*k], q, s, corr)
		pan, jj := j/q8NR, j%q8NR
		for kk := 0; kk < kp; kk++ {
			got := p.q8[pan*kp*q8NR+kk/4*4*q8NR+4*jj+kk%4]
			want := byte(128)
			if kk < k {
				want = q[kk] + 128
			}
			if got != want {
				t.Fatalf("w[%d][%d]: packed byte %d, want %d", j, kk, got, want)
			}
		}
		for b := 0; b < nb; b++ {
			if got := p.qsc[(pan*nb+b)*q8NR+jj]; got != s[b] {
				t.Fatalf("scale of w[%d] block %d = %g, want %g", j, b, got, s[b])
			}
		}
	}
}

// TestQ8LinearAct checks the fused activation and accumulation entry
// points with a Q8 weight against their unfused form.
func TestQ8LinearAct(t *testing.T) {
	c := testLinearAct(t, WeightQ8, 8, 20, 70, 300)
	for i, v := range c.dst.Data() {
		want := c.base[i] + c.plain.Data()[i]
		if d := math.Abs(float64(v - want)); d > 1e-5*max(1, math.Abs(float64(v))) {
			t.Fatalf("add[%d] = %g, want %g", i, v, want)
		}
	}
}
