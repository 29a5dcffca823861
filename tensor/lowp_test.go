package tensor

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"
)

// The tests the low-precision weight types (WeightQ8, WeightBF16Dot) have
// in common.

// kernelVariant is one kernel set of a weight type under test: its name
// and how to run code with it selected.
type kernelVariant struct {
	name string
	with func(f func())
}

// kernelVariants are the kernel sets to test, selected through *cur: the
// pure-Go path (the zero set) always, and sets, the assembly kernels this
// CPU has (needing feature, which t's log says when there are none),
// named by name.
func kernelVariants[S comparable](t *testing.T, feature string, cur *S, sets []S, name func(S) string) []kernelVariant {
	if len(sets) == 0 {
		t.Logf("no assembly kernels on this CPU (%s absent): testing the pure-Go path only", feature)
	}
	var none S
	vs := []kernelVariant{}
	for _, s := range append([]S{none}, sets...) {
		n := "go"
		if s != none {
			n = name(s)
		}
		vs = append(vs, kernelVariant{n, func(f func()) {
			old := *cur
			*cur = s
			defer func() { *cur = old }()
			f()
		}})
	}
	return vs
}

// lowpWant is the bit-exact reference of a weight type's products: C =
// alpha·A·Wᵀ + beta·C (+ bias).
type lowpWant func(m, n, k int, alpha float32, a []float32, lda int, w []float32, beta float32, c []float32, ldc int, bias []float32) []float32

// lowpCase is a product shape and its options: alpha, beta, a bias, the
// threads, and padding of A's and C's rows.
type lowpCase struct {
	m, n, k    int
	alpha      float32
	beta       float32
	bias       bool
	threads    int
	lda, ldcAd int
}

// lowpCases are the products the low-precision types are checked on: a
// row (the wide kernels), few rows, more than a cache block; K below a
// block, odd, over several blocks; alpha, beta, bias, padded rows and
// threads.
var lowpCases = []lowpCase{
	{1, 1, 1, 1, 0, false, 1, 0, 0},
	{1, 33, 3, 1, 0, true, 1, 0, 0},
	{1, 512, 512, 1, 0, true, 2, 0, 0},
	{1, 160, 77, 1, 1, true, 1, 0, 3},
	{1, 100, 700, 1, 1, true, 3, 0, 5},
	{1, 290, 600, 0.5, 1, true, 2, 0, 0},
	{2, 64, 256, 1, 0, false, 1, 3, 0},
	{2, 130, 65, 1, 0, true, 2, 0, 0},
	{3, 31, 257, 0.5, 1, true, 2, 0, 0},
	{3, 200, 100, 1, 0.5, false, 1, 0, 0},
	{5, 96, 600, 1, 0, true, 2, 0, 0},
	{14, 40, 130, 1, 0, false, 1, 0, 0},
	{15, 65, 513, 1, 1, false, 3, 7, 2},
	{29, 200, 96, 2, 0, true, 2, 0, 0},
	{113, 70, 300, 1, 0.5, true, 2, 0, 0},
	{260, 33, 1030, 1, 0, true, 3, 0, 0},
	{260, 33, 1031, 1, 0, true, 3, 0, 0},
	{300, 8, 64, 1, 0, true, 4, 0, 0},
}

// testGemmExact checks GemmPacked with weights packed as typ, with every
// kernel variant and threading, bit for bit against want.
func testGemmExact(t *testing.T, typ WeightType, seed int64, cases []lowpCase, variants []kernelVariant, want lowpWant) {
	r := rand.New(rand.NewSource(seed))
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
		want := want(c.m, c.n, c.k, c.alpha, a, lda, w, c.beta, c0, ldc, bias)
		for _, v := range variants {
			t.Run(fmt.Sprintf("%s/m%d_n%d_k%d_t%d", v.name, c.m, c.n, c.k, c.threads), func(t *testing.T) {
				v.with(func() {
					p := mustP(PackWeightAs(MustFromData(w, c.n, c.k), typ))
					if p.Type() != typ {
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

// testAccuracy bounds the rounding error of products with weights packed
// as typ against the float64 product of the unrounded operands: check
// gets, for each shape, max|Δ|/max|ref| and the rms relative error.
func testAccuracy(t *testing.T, typ WeightType, seed int64, kernels string, check func(rel, rms float64) error) {
	r := rand.New(rand.NewSource(seed))
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
		p := mustP(PackWeightAs(MustFromData(w, n, k), typ))
		got := mustT(LinearPacked(MustFromData(a, m, k), p, nil))
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
		t.Logf("%d×%d×%d: max|Δ|/max|ref| = %.5f, rms rel = %.5f (kernels %s)", m, n, k, rel, rms, kernels)
		if err := check(rel, rms); err != nil {
			t.Fatalf("%d×%d×%d: %v", m, n, k, err)
		}
	}
}

// linearActCase is what testLinearAct leaves the callers to check further.
type linearActCase struct {
	x, w, bias *Tensor
	p          *PackedB
	plain, dst *Tensor // LinearPacked, and LinearPackedAdd into dst
	base       []float32
	m, n, k    int
}

// testLinearAct packs a random weight [n, k] as typ and checks the fused
// activation entry point against the unfused form; it then runs the
// accumulating one into a random dst, whose result (against base, dst
// before) the caller checks.
func testLinearAct(t *testing.T, typ WeightType, seed int64, m, n, k int) linearActCase {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	c := linearActCase{m: m, n: n, k: k}
	c.x = MustFromData(randSlice(r, m*k), 4, 5, k)
	c.w = MustFromData(randSlice(r, n*k), n, k)
	c.bias = MustFromData(randSlice(r, n), n)
	c.p = mustP(PackWeightAs(c.w, typ))
	c.plain = mustT(LinearPacked(c.x, c.p, c.bias))
	gelu := func(v float32) float32 { return float32(0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2))) }
	act := mustT(LinearPackedAct(c.x, c.p, c.bias, gelu))
	for i, v := range c.plain.Data() {
		if d := math.Abs(float64(act.Data()[i] - gelu(v))); d > 1e-5*max(1, math.Abs(float64(v))) {
			t.Fatalf("act[%d] = %g, want gelu(%g) = %g", i, act.Data()[i], v, gelu(v))
		}
	}
	c.dst = MustFromData(randSlice(r, m*n), 4, 5, n)
	c.base = slices.Clone(c.dst.Data())
	if err := LinearPackedAdd(c.dst, c.x, c.p, c.bias); err != nil {
		t.Fatal(err)
	}
	return c
}

// testPackReleases packs a weight w [n, k] as typ, checking that done saw
// every row.
func testPackReleases(t *testing.T, typ WeightType, w []float32, n, k int) *PackedB {
	t.Helper()
	var released int
	p := mustP(PackWeightWith(MustFromData(w, n, k), typ, func(rows []float32) { released += len(rows) }))
	if released != n*k {
		t.Fatalf("done reported %d values, want %d", released, n*k)
	}
	return p
}
