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

// withQ8Set runs f with the int8 kernel set s (nil: the pure-Go path).
func withQ8Set(s *kern.Q8Set, f func()) {
	old := q8Set
	q8Set = s
	defer func() { q8Set = old }()
	f()
}

// q8Sets returns the kernel sets to test: the pure-Go path always, and the
// assembly kernels this CPU has.
func q8Sets() []*kern.Q8Set { return append([]*kern.Q8Set{nil}, kern.Q8Sets()...) }

func q8Name(s *kern.Q8Set) string {
	if s == nil {
		return "go"
	}
	return s.Name
}

// TestQ8GemmExact checks GemmPacked with Q8 weights, with every kernel set
// (assembly and pure Go) and threading, bit for bit against q8Want.
func TestQ8GemmExact(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	if len(kern.Q8Sets()) == 0 {
		t.Log("no int8 assembly kernels on this CPU (AVX512-VNNI absent): testing the pure-Go path only")
	}
	type tc struct {
		m, n, k    int
		alpha      float32
		beta       float32
		bias       bool
		threads    int
		lda, ldcAd int
	}
	cases := []tc{
		{1, 1, 1, 1, 0, false, 1, 0, 0},
		{1, 33, 3, 1, 0, true, 1, 0, 0},
		{1, 512, 512, 1, 0, true, 2, 0, 0},
		{1, 100, 700, 1, 1, true, 3, 0, 5},
		{2, 64, 256, 1, 0, false, 1, 3, 0},
		{3, 31, 257, 0.5, 1, true, 2, 0, 0},
		{5, 96, 600, 1, 0, true, 2, 0, 0},
		{14, 40, 130, 1, 0, false, 1, 0, 0},
		{15, 65, 513, 1, 1, false, 3, 7, 2},
		{29, 200, 96, 2, 0, true, 2, 0, 0},
		{113, 70, 300, 1, 0.5, true, 2, 0, 0},
		{260, 33, 1030, 1, 0, true, 3, 0, 0},
		{300, 8, 64, 1, 0, true, 4, 0, 0},
	}
	for _, c := range cases {
		lda := c.k + c.lda
		ldc := c.n + c.ldcAd
		a := randSlice(r, (c.m-1)*lda+c.k)
		w := randSlice(r, c.n*c.k)
		for i := range w { // uneven magnitudes across blocks and rows
			w[i] *= float32(1 + i%7)
		}
		var bias []float32
		if c.bias {
			bias = randSlice(r, c.n)
		}
		c0 := randSlice(r, (c.m-1)*ldc+c.n)
		want := q8Want(c.m, c.n, c.k, c.alpha, a, lda, w, c.beta, c0, ldc, bias)
		for _, s := range q8Sets() {
			t.Run(fmt.Sprintf("%s/m%d_n%d_k%d_t%d", q8Name(s), c.m, c.n, c.k, c.threads), func(t *testing.T) {
				withQ8Set(s, func() {
					p, err := PackWeightAs(MustFromData(w, c.n, c.k), WeightQ8)
					if err != nil {
						t.Fatal(err)
					}
					if p.Type() != WeightQ8 {
						t.Fatalf("packed as %v", p.Type())
					}
					got := slices.Clone(c0)
					gemmPacked(c.threads, c.m, c.alpha, a, lda, p, c.beta, got, ldc, bias, nil)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("C[%d] = %g, want %g (bit-exact)", i, got[i], want[i])
						}
					}
				})
			})
		}
	}
}

// TestQ8Accuracy bounds the quantization error of a product against the
// float64 product of the unquantized operands.
func TestQ8Accuracy(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	for _, sz := range [][3]int{{1, 512, 512}, {1, 2048, 512}, {7, 512, 2048}, {50, 384, 384}} {
		m, n, k := sz[0], sz[1], sz[2]
		a := make([]float32, m*k)
		for i := range a {
			a[i] = float32(r.NormFloat64())
		}
		w := make([]float32, n*k)
		for i := range w {
			w[i] = float32(r.NormFloat64() * 0.05)
		}
		x, wt := MustFromData(a, m, k), MustFromData(w, n, k)
		p, err := PackWeightAs(wt, WeightQ8)
		if err != nil {
			t.Fatal(err)
		}
		got, err := LinearPacked(x, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		ref := gemmWant(false, true, m, n, k, 1, a, k, w, k, 0, make([]float32, m*n), n, nil)
		var maxErr, maxRef, se, sr float64
		for i, v := range got.Data() {
			d := float64(v) - ref[i]
			maxErr = max(maxErr, math.Abs(d))
			maxRef = max(maxRef, math.Abs(ref[i]))
			se += d * d
			sr += ref[i] * ref[i]
		}
		rel := maxErr / maxRef
		rms := math.Sqrt(se / sr)
		t.Logf("%d×%d×%d: max|Δ|/max|ref| = %.4f, rms rel = %.4f (kernels %s)", m, n, k, rel, rms, Q8Kernel())
		// Gaussian operands: each int8 rounding adds ≈ 0.5% rms noise.
		if rel > 0.02 || rms > 0.02 {
			t.Fatalf("%d×%d×%d: relative error %.4f (rms %.4f) above 0.02", m, n, k, rel, rms)
		}
	}
}

// TestQ8PackLayout checks the packed codes and scales against the rows
// quantized directly, and the storage size.
func TestQ8PackLayout(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	n, k := 45, 515
	w := randSlice(r, n*k)
	var released int
	p, err := PackWeightWith(MustFromData(w, n, k), WeightQ8, func(rows []float32) { released += len(rows) })
	if err != nil {
		t.Fatal(err)
	}
	if released != n*k {
		t.Fatalf("done reported %d values, want %d", released, n*k)
	}
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
	r := rand.New(rand.NewSource(8))
	m, n, k := 20, 70, 300
	x := MustFromData(randSlice(r, m*k), 4, 5, k)
	w := MustFromData(randSlice(r, n*k), n, k)
	bias := MustFromData(randSlice(r, n), n)
	p, err := PackWeightAs(w, WeightQ8)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := LinearPacked(x, p, bias)
	if err != nil {
		t.Fatal(err)
	}
	gelu := func(v float32) float32 { return float32(0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2))) }
	act, err := LinearPackedAct(x, p, bias, gelu)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range plain.Data() {
		if d := math.Abs(float64(act.Data()[i] - gelu(v))); d > 1e-5*max(1, math.Abs(float64(v))) {
			t.Fatalf("act[%d] = %g, want gelu(%g) = %g", i, act.Data()[i], v, gelu(v))
		}
	}
	dst := MustFromData(randSlice(r, m*n), 4, 5, n)
	base := slices.Clone(dst.Data())
	if err := LinearPackedAdd(dst, x, p, bias); err != nil {
		t.Fatal(err)
	}
	for i, v := range dst.Data() {
		if d := math.Abs(float64(v - (base[i] + plain.Data()[i]))); d > 1e-5*max(1, math.Abs(float64(v))) {
			t.Fatalf("add[%d] = %g, want %g", i, v, base[i]+plain.Data()[i])
		}
	}
}
