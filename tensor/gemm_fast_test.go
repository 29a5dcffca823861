package tensor

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor/internal/kern"
)

// gemmWant computes the float64 reference of C = alpha·op(A)·op(B) + beta·C
// (+ bias) with the same storage conventions as Gemm.
func gemmWant(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32) []float64 {
	out := make([]float64, len(c))
	for i := range c {
		out[i] = float64(c[i])
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if ta {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if tb {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			if bias != nil {
				v += float64(bias[j])
			}
			out[i*ldc+j] = v
		}
	}
	return out
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// gemmCase runs one product through gemmDrive with kernel set s and checks
// it, including that nothing outside the m×n window of C changed.
func gemmCase(t *testing.T, r *rand.Rand, s *kern.Set, threads int, ta, tb bool, m, n, k int, alpha, beta float32, withBias, packed bool) {
	t.Helper()
	ar, ac := m, k
	if ta {
		ar, ac = k, m
	}
	br, bc := k, n
	if tb {
		br, bc = n, k
	}
	lda, ldb, ldc := ac+3, bc+5, n+7
	a := randSlice(r, max(0, (ar-1)*lda+ac))
	b := randSlice(r, max(0, (br-1)*ldb+bc))
	c := randSlice(r, max(0, m*ldc))
	if beta == 0 {
		// C must not be read when beta is 0.
		for i := range c {
			if i%ldc < n {
				c[i] = float32(math.NaN())
			}
		}
	}
	var bias []float32
	if withBias {
		bias = randSlice(r, n)
	}
	want := gemmWant(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias)
	if packed {
		if ta {
			t.Fatal("packed products take a row-major A")
		}
		pb := packBWith(s, tb, k, n, b, ldb)
		gemmPacked(threads, m, alpha, a, lda, pb, beta, c, ldc, bias, nil)
	} else {
		gemmDrive(s, threads, ta, tb, m, n, k, alpha, a, lda, b, ldb, nil, beta, c, ldc, bias, nil)
	}
	for i := range c {
		tol := 1e-5 * (1 + math.Sqrt(float64(k))) * math.Max(1, math.Abs(want[i]))
		if d := math.Abs(float64(c[i]) - want[i]); !(d <= tol) {
			name := "?"
			if s != nil {
				name = s.Name
			}
			t.Fatalf("%s threads=%d ta=%v tb=%v m=%d n=%d k=%d alpha=%g beta=%g bias=%v packed=%v: c[%d,%d] = %g, want %g",
				name, threads, ta, tb, m, n, k, alpha, beta, withBias, packed, i/ldc, i%ldc, c[i], want[i])
		}
	}
}

// kernelSets returns every kernel set of this CPU plus nil (no kernels).
func kernelSets() []*kern.Set { return append(append([]*kern.Set(nil), kern.Sets()...), nil) }

func setName(s *kern.Set) string {
	if s == nil {
		return "none"
	}
	return s.Name
}

func TestGemmKernelSets(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	ms := []int{1, 3, 15, 65}
	ns := []int{1, 17, 63, 65}
	ks := []int{1, 17, 300}
	for _, s := range kern.Sets() {
		t.Run(s.Name, func(t *testing.T) {
			for _, m := range ms {
				for _, n := range ns {
					for _, k := range ks {
						for tr := 0; tr < 4; tr++ {
							ta, tb := tr&1 != 0, tr&2 != 0
							threads := 1 + (m+n+k+tr)%2
							gemmCase(t, r, s, threads, ta, tb, m, n, k, 1.5, 0.5, false, false)
						}
					}
				}
			}
			for tr := 0; tr < 4; tr++ {
				gemmCase(t, r, s, 2, tr&1 != 0, tr&2 != 0, 257, 257, 257, 1, 0.5, false, false)
			}
			// alpha/beta/bias variants, both thread counts.
			for _, ab := range [][2]float32{{1, 0}, {1, 1}, {-0.5, 2}, {0, 0.5}} {
				for _, threads := range []int{1, 2} {
					for _, bias := range []bool{false, true} {
						gemmCase(t, r, s, threads, false, true, 70, 100, 530, ab[0], ab[1], bias, false)
						gemmCase(t, r, s, threads, false, false, 3, 45, 40, ab[0], ab[1], bias, false)
						gemmCase(t, r, s, threads, false, true, 1, 45, 40, ab[0], ab[1], bias, false)
						gemmCase(t, r, s, threads, false, true, 29, 77, 513, ab[0], ab[1], bias, true)
						gemmCase(t, r, s, threads, false, false, 1, 77, 33, ab[0], ab[1], bias, true)
					}
				}
			}
			// k = 0 and empty shapes.
			gemmCase(t, r, s, 2, false, false, 5, 7, 0, 1, 0.5, true, false)
			gemmCase(t, r, s, 2, false, false, 0, 7, 5, 1, 0.5, false, false)
			gemmCase(t, r, s, 2, false, false, 5, 0, 5, 1, 0.5, false, false)
		})
	}
}

func TestGemmPackedAllSets(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	for _, s := range kernelSets() {
		t.Run(setName(s), func(t *testing.T) {
			for _, m := range []int{1, 2, 5, 8, 14, 15, 33, 200} {
				for _, nk := range [][2]int{{1, 1}, {31, 17}, {33, 300}, {100, 64}, {513, 257}} {
					for _, tb := range []bool{false, true} {
						gemmCase(t, r, s, 1+m%2, false, tb, m, nk[0], nk[1], 1, 0, m%3 == 0, true)
						gemmCase(t, r, s, 2, false, tb, m, nk[0], nk[1], 0.75, 1, m%2 == 0, true)
					}
				}
			}
		})
	}
}

func TestLinearPacked(t *testing.T) {
	r := rand.New(rand.NewSource(13))
	x, w, b := randT(r, 2, 9, 70), randT(r, 45, 70), randT(r, 45)
	want, err := Linear(x, w, b)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := PackWeight(w)
	if err != nil {
		t.Fatal(err)
	}
	if pw.K() != 70 || pw.N() != 45 {
		t.Fatalf("packed dims %d %d", pw.K(), pw.N())
	}
	got, err := LinearPacked(x, pw, b)
	if err != nil {
		t.Fatal(err)
	}
	if d := testdata.TensorDiff(t, "got", got, want); d > 1e-5 {
		t.Fatalf("LinearPacked differs from Linear by %g", d)
	}
	if _, err := LinearPacked(New(2, 3), pw, nil); err == nil {
		t.Fatal("LinearPacked accepted a wrong input width")
	}
	if _, err := LinearPacked(x, pw, New(3)); err == nil {
		t.Fatal("LinearPacked accepted a wrong bias")
	}
	if _, err := PackWeight(New(2, 3, 4)); err == nil {
		t.Fatal("PackWeight accepted a 3-D weight")
	}
}

func TestGemmShortOperandPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a short operand was not reported")
		}
	}()
	a := make([]float32, 10)
	gemmFastOr(false, false, 4, 4, 4, 1, a, 4, make([]float32, 16), 4, 0, make([]float32, 16), 4)
}

// gemmFastOr runs the fast GEMM, or the argument check alone where there are
// no kernels.
func gemmFastOr(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if fastSet == nil {
		gemmCheckArgs(ta, tb, m, n, k, a, lda, b, ldb, c, ldc)
		return
	}
	gemmFast(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func ExamplePackWeight() {
	w := MustFromData([]float32{1, 2, 3, 4, 5, 6}, 2, 3) // [out=2, in=3]
	pw, _ := PackWeight(w)
	x := MustFromData([]float32{1, 1, 1}, 1, 3)
	y, _ := LinearPacked(x, pw, nil)
	fmt.Println(y.Data())
	// Output: [6 15]
}

func TestLinearPackedActAdd(t *testing.T) {
	r := rand.New(rand.NewSource(14))
	for _, m := range []int{1, 3, 40} {
		x, w, b := randT(r, m, 70), randT(r, 45, 70), randT(r, 45)
		pw, _ := PackWeight(w)
		lin, _ := Linear(x, w, b)
		for _, act := range []func(float32) float32{GELUExact, GELUTanh, QuickGELU, SiLU, ReLU, Tanh} {
			want := Map(lin, act)
			for i, v := range lin.Data() {
				want.Data()[i] = act(v)
			}
			got, err := LinearPackedAct(x, pw, b, act)
			if err != nil {
				t.Fatal(err)
			}
			if d := testdata.TensorDiff(t, "got", got, want); d > 1e-5 {
				t.Fatalf("LinearPackedAct m=%d: diff %g", m, d)
			}
		}
		dst := randT(r, m, 45)
		want, _ := Add(dst, lin)
		if err := LinearPackedAdd(dst, x, pw, b); err != nil {
			t.Fatal(err)
		}
		if d := testdata.TensorDiff(t, "dst", dst, want); d > 1e-5 {
			t.Fatalf("LinearPackedAdd m=%d: diff %g", m, d)
		}
		if err := LinearPackedAdd(New(m, 44), x, pw, b); err == nil {
			t.Fatal("LinearPackedAdd accepted a mis-shaped destination")
		}
	}
}

func TestPackedHalf(t *testing.T) {
	r := rand.New(rand.NewSource(15))
	for _, s := range kernelSets() {
		for _, kind := range []WeightType{WeightF16, WeightBF16} {
			for _, m := range []int{1, 3, 14, 29, 100} {
				for _, nk := range [][2]int{{45, 70}, {64, 300}, {100, 513}} {
					n, k := nk[0], nk[1]
					w := randT(r, n, k)
					// Round the weight to the 16-bit grid so that results are exact.
					h := make([]uint16, len(w.data))
					if kind == WeightF16 {
						narrowF16ForTest(h, w.data)
						wideF16ForTest(w.data, h)
					} else {
						narrowBF16ForTest(h, w.data)
						wideBF16ForTest(w.data, h)
					}
					x, b := randT(r, m, k), randT(r, n)
					want, _ := Linear(x, w, b)
					ph := packBWith(s, true, k, n, w.data, k)
					if s != nil {
						ph16, _ := packAsFor(s, w, kind)
						ph = ph16
						if ph.Type() != kind || ph.Bytes() != 2*packedLen(s, k, n) {
							t.Fatalf("packed type %v bytes %d", ph.Type(), ph.Bytes())
						}
					}
					for _, threads := range []int{1, 2} {
						got := New(m, n)
						gemmPacked(threads, m, 1, x.data, k, ph, 0, got.data, n, b.data, nil)
						if d := testdata.TensorDiff(t, "got", got, want); d > 2e-5 {
							t.Fatalf("%s %v m=%d n=%d k=%d threads=%d: diff %g", setName(s), kind, m, n, k, threads, d)
						}
					}
				}
			}
		}
	}
}

// packAsFor is PackWeightAs with a given kernel set.
func packAsFor(s *kern.Set, w *Tensor, kind WeightType) (*PackedB, error) {
	saved := fastSet
	fastSet = s
	defer func() { fastSet = saved }()
	return PackWeightAs(w, kind)
}

func narrowF16ForTest(dst []uint16, src []float32)  { kern.NarrowF16(dst, src) }
func narrowBF16ForTest(dst []uint16, src []float32) { kern.NarrowBF16(dst, src) }
func wideF16ForTest(dst []float32, src []uint16)    { kern.WidenF16(dst, src) }
func wideBF16ForTest(dst []float32, src []uint16)   { kern.WidenBF16(dst, src) }

func TestPackWeightWithReportsRows(t *testing.T) {
	r := rand.New(rand.NewSource(16))
	for _, kind := range []WeightType{WeightF32, WeightF16, WeightBF16} {
		w := randT(r, 700, 513)
		var covered int
		p, err := PackWeightWith(w, kind, func(rows []float32) {
			if &rows[0] != &w.data[covered] || len(rows)%513 != 0 {
				t.Fatalf("%v: rows reported out of order or partial", kind)
			}
			covered += len(rows)
		})
		if err != nil || covered != len(w.data) {
			t.Fatalf("%v: err %v, reported %d of %d values", kind, err, covered, len(w.data))
		}
		x := randT(r, 3, 513)
		got, _ := LinearPacked(x, p, nil)
		want, _ := Linear(x, w, nil)
		tol := 1e-4 // k = 513: two summation orders
		if kind != WeightF32 {
			tol = 0.1 // rounded weights
		}
		if d := testdata.TensorDiff(t, "got", got, want); d > tol {
			t.Fatalf("%v: diff %g", kind, d)
		}
	}
}

func TestLinearPackedStridedAndPadded(t *testing.T) {
	r := rand.New(rand.NewSource(17))
	for _, dims := range [][3]int{{30, 64, 2048}, {5, 70, 768}, {1, 64, 1024}, {40, 33, 45}} {
		m, k, n := dims[0], dims[1], dims[2]
		w1, b1 := randT(r, n, k), randT(r, n)
		w2, b2 := randT(r, k, n), randT(r, k)
		p1, _ := PackWeight(w1)
		p2, _ := PackWeight(w2)
		x := randT(r, 2, m, k)
		h, err := LinearPackedActPadded(x, p1, b1, GELUExact)
		if err != nil {
			t.Fatal(err)
		}
		if h.Dim(-1) != n || h.Dim(0) != 2 || h.Dim(1) != m {
			t.Fatalf("padded result shape %v", h.Shape())
		}
		lin, _ := Linear(x, w1, b1)
		want := Map(lin, GELUExact)
		if d := testdata.TensorDiff(t, "h", h.Contiguous(), want); d > 1e-5 {
			t.Fatalf("%v: padded hidden differs by %g", dims, d)
		}
		if conflictStride(n) && m > 1 && h.IsContiguous() {
			t.Fatalf("%v: width %d not padded", dims, n)
		}
		// The padded (strided) result feeds the next product in place.
		y, err := LinearPacked(h, p2, b2)
		if err != nil {
			t.Fatal(err)
		}
		want2, _ := Linear(want, w2, b2)
		if d := testdata.TensorDiff(t, "y", y, want2); d > 1e-4 {
			t.Fatalf("%v: product of padded operand differs by %g", dims, d)
		}
		Release(h)
	}
	// A transposed view is not row-strided: it is copied.
	x := randT(r, 70, 5).Transpose(0, 1)
	w := randT(r, 9, 70)
	pw, _ := PackWeight(w)
	got, _ := LinearPacked(x, pw, nil)
	want, _ := Linear(x.Contiguous(), w, nil)
	if d := testdata.TensorDiff(t, "got", got, want); d > 1e-5 {
		t.Fatalf("transposed input: diff %g", d)
	}
	if !conflictStride(1024) || !conflictStride(2048) || conflictStride(768) || conflictStride(2064) || conflictStride(45) {
		t.Fatal("conflictStride misclassifies common widths")
	}
}

// TestPackWeightHalf checks that packing 16-bit values directly gives the
// very panels PackWeightAs makes from their float32 widening, with every
// kernel set, and that rows are reported in order.
func TestPackWeightHalf(t *testing.T) {
	r := rand.New(rand.NewSource(18))
	for _, s := range kernelSets() {
		for _, kind := range []WeightType{WeightF16, WeightBF16} {
			for _, nk := range [][2]int{{1, 1}, {45, 70}, {700, 513}} {
				n, k := nk[0], nk[1]
				w := randT(r, n, k)
				h := make([]uint16, len(w.data))
				if kind == WeightF16 {
					narrowF16ForTest(h, w.data)
				} else {
					narrowBF16ForTest(h, w.data)
				}
				WidenHalf(w.data, h, kind)
				saved := fastSet
				fastSet = s
				covered := 0
				got, err := PackWeightHalf(h, kind, n, k, func(rows []uint16) {
					if &rows[0] != &h[covered] || len(rows)%k != 0 {
						t.Fatalf("rows reported out of order or partial")
					}
					covered += len(rows)
				})
				want, _ := PackWeightAs(w, kind)
				fastSet = saved
				if err != nil || covered != n*k {
					t.Fatalf("%s %v [%d,%d]: err %v, reported %d of %d", setName(s), kind, n, k, err, covered, n*k)
				}
				if got.K() != k || got.N() != n {
					t.Fatalf("shape %d×%d", got.K(), got.N())
				}
				if s == nil {
					x := randT(r, 3, k)
					a, _ := LinearPacked(x, got, nil)
					b, _ := Linear(x, w, nil)
					if d := testdata.TensorDiff(t, "a", a, b); d > 1e-4 {
						t.Fatalf("purego %v: diff %g", kind, d)
					}
					continue
				}
				if got.Type() != kind || len(got.half) != len(want.half) {
					t.Fatalf("%s %v: type %v, %d values, want %d", setName(s), kind, got.Type(), len(got.half), len(want.half))
				}
				for i := range want.half {
					if got.half[i] != want.half[i] {
						t.Fatalf("%s %v [%d,%d]: packed value %d differs", setName(s), kind, n, k, i)
					}
				}
			}
		}
	}
	if _, err := PackWeightHalf(make([]uint16, 10), WeightF16, 3, 4, nil); err == nil {
		t.Error("too few values: no error")
	}
	if _, err := PackWeightHalf(make([]uint16, 12), WeightF32, 3, 4, nil); err == nil {
		t.Error("F32 type: no error")
	}
}
