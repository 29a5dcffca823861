package tensor

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// TestGemv1 checks the wide one-row kernels against the general driver
// (gemmDrive, panel by panel): bit-identical results for float32 and F16
// weights, with and without bias, beta and activation, widths with a
// partial last group of panels, depths with a partial last K block and a
// k not a multiple of the unrolling.
func TestGemv1(t *testing.T) {
	if fastSet == nil {
		t.Skip("skipping: missing CPU instruction: no AVX-512 assembly kernels on this CPU or build (purego); one-row products then use the reference GEMM, tested by the GEMM tests")
	}
	r := rand.New(rand.NewSource(7))
	for _, typ := range []WeightType{WeightF32, WeightF16} {
		for _, sh := range [][2]int{{512, 512}, {2048, 512}, {512, 2048}, {1000, 300}, {4100, 257}, {5187, 64}, {96, 40}} {
			n, k := sh[0], sh[1]
			w := New(n, k)
			for i, d := 0, w.Data(); i < len(d); i++ {
				d[i] = float32(r.NormFloat64())
			}
			p, err := PackWeightAs(w, typ)
			if err != nil {
				t.Fatal(err)
			}
			a := make([]float32, k)
			for i := range a {
				a[i] = float32(r.NormFloat64())
			}
			bias := make([]float32, n)
			c0 := make([]float32, n)
			for i := range bias {
				bias[i] = float32(r.NormFloat64())
				c0[i] = float32(r.NormFloat64())
			}
			for _, c := range []struct {
				bias  []float32
				beta  float32
				alpha float32
				act   func([]float32)
			}{{nil, 0, 1, nil}, {bias, 0, 1, nil}, {bias, 1, 1, nil}, {nil, 0.5, 0.75, nil}, {bias, 1, 1, sliceAct(func(x float32) float32 { return x * x })}} {
				name := fmt.Sprintf("%v/%dx%d/bias=%v/beta=%v/act=%v", typ, n, k, c.bias != nil, c.beta, c.act != nil)
				for _, threads := range []int{1, 2, 3} {
					want := append([]float32(nil), c0...)
					gemmDrive(p.set, threads, false, false, 1, n, k, c.alpha, a, k, nil, 0, p, c.beta, want, n, c.bias, c.act)
					got := append([]float32(nil), c0...)
					if !gemv1(threads, c.alpha, a, p, c.beta, got, c.bias, c.act) {
						if n >= 512 && threads <= 2 {
							t.Errorf("%s: wide one-row kernels not used", name)
						}
						continue
					}
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s threads %d: column %d = %v, want %v (bit-identical)", name, threads, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestGemv1Strided checks the strided one-row kernels (attention's values
// of one head) against gemmBlock reading the matrix in place: bit-identical.
func TestGemv1Strided(t *testing.T) {
	if fastSet == nil {
		t.Skip("skipping: missing CPU instruction: no AVX-512 assembly kernels on this CPU or build (purego); attention then uses the reference GEMM")
	}
	r := rand.New(rand.NewSource(9))
	for _, n := range []int{64, 128} {
		for _, k := range []int{1, 5, 255, 256, 257, 1500} {
			ldb := 512 + n
			b := make([]float32, k*ldb)
			for i := range b {
				b[i] = float32(r.NormFloat64())
			}
			a := make([]float32, k)
			for i := range a {
				a[i] = float32(r.NormFloat64())
			}
			want := make([]float32, n)
			got := make([]float32, n)
			for i := range got {
				got[i] = float32(math.NaN()) // beta 0: never read
			}
			gemmBlock(fastSet, false, false, 0, 1, 0, n, k, 0.3, a, k, b, ldb, nil, 0, want, n, nil, nil)
			if !gemv1Strided(fastSet, k, n, 0.3, a, b, ldb, got) {
				t.Fatalf("n %d: strided kernel not used", n)
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n %d k %d: column %d = %v, want %v (bit-identical)", n, k, i, got[i], want[i])
				}
			}
		}
	}
	if gemv1Strided(fastSet, 10, 96, 1, make([]float32, 10), make([]float32, 960), 96, make([]float32, 96)) {
		t.Error("a width without a strided kernel was accepted")
	}
}
