package tensor

import (
	"errors"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

var oddSizes = []int{1, 3, 17, 63, 65, 257}

func TestGemmAgainstGonum(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, m := range oddSizes {
		for _, n := range []int{1, 17, 65} {
			for _, k := range []int{1, 63, 257} {
				for _, ta := range []bool{false, true} {
					for _, tb := range []bool{false, true} {
						checkGemm(t, r, ta, tb, m, n, k, 1.5, 0.5)
					}
				}
			}
		}
	}
}

func checkGemm(t *testing.T, r *rand.Rand, ta, tb bool, m, n, k int, alpha, beta float32) {
	t.Helper()
	// Leading dimensions with padding to exercise strides.
	ar, ac := m, k
	if ta {
		ar, ac = k, m
	}
	br, bc := k, n
	if tb {
		br, bc = n, k
	}
	lda, ldb, ldc := ac+2, bc+1, n+3
	a := make([]float32, ar*lda)
	b := make([]float32, br*ldb)
	c := make([]float32, m*ldc)
	for i := range a {
		a[i] = r.Float32()*2 - 1
	}
	for i := range b {
		b[i] = r.Float32()*2 - 1
	}
	for i := range c {
		c[i] = r.Float32()
	}
	want := append([]float32(nil), c...)
	tr := func(x bool) blas.Transpose {
		if x {
			return blas.Trans
		}
		return blas.NoTrans
	}
	blas32.Implementation().Sgemm(tr(ta), tr(tb), m, n, k, alpha, a, lda, b, ldb, beta, want, ldc)
	Gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	for i := 0; i < m; i++ {
		for j := 0; j < ldc; j++ {
			g, w := c[i*ldc+j], want[i*ldc+j]
			if math.Abs(float64(g-w)) > 1e-4*math.Max(1, math.Abs(float64(w))) {
				t.Fatalf("gemm ta=%v tb=%v m=%d n=%d k=%d: c[%d,%d] = %g, want %g", ta, tb, m, n, k, i, j, g, w)
			}
		}
	}
}

func TestLinearMatchesLoops(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, m := range oddSizes {
		for _, k := range []int{3, 65} {
			for _, n := range []int{1, 17, 257} {
				x, w, b := randT(r, 2, m, k), randT(r, n, k), randT(r, n)
				got, err := Linear(x, w, b)
				if err != nil {
					t.Fatal(err)
				}
				for bi := 0; bi < 2; bi++ {
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							s := float64(b.At(j))
							for p := 0; p < k; p++ {
								s += float64(x.At(bi, i, p)) * float64(w.At(j, p))
							}
							if d := math.Abs(s - float64(got.At(bi, i, j))); d > 1e-4 {
								t.Fatalf("linear %d %d %d: diff %g", m, k, n, d)
							}
						}
					}
				}
			}
		}
	}
	if _, err := Linear(New(2, 3), New(4, 5), nil); !errors.Is(err, ErrShape) {
		t.Fatalf("want ErrShape, got %v", err)
	}
}

func TestBroadcastOps(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	a := randT(r, 3, 1, 5)
	b := randT(r, 4, 1)
	for name, op := range map[string]struct {
		f   func(a, b *Tensor) (*Tensor, error)
		ref func(x, y float32) float32
	}{
		"add": {Add, func(x, y float32) float32 { return x + y }},
		"sub": {Sub, func(x, y float32) float32 { return x - y }},
		"mul": {Mul, func(x, y float32) float32 { return x * y }},
		"div": {Div, func(x, y float32) float32 { return x / y }},
	} {
		got, err := op.f(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if s := got.Shape(); len(s) != 3 || s[0] != 3 || s[1] != 4 || s[2] != 5 {
			t.Fatalf("%s shape %v", name, s)
		}
		for i := 0; i < 3; i++ {
			for j := 0; j < 4; j++ {
				for k := 0; k < 5; k++ {
					if w := op.ref(a.At(i, 0, k), b.At(j, 0)); got.At(i, j, k) != w {
						t.Fatalf("%s mismatch", name)
					}
				}
			}
		}
	}
	// non-contiguous operand
	at := randT(r, 5, 3).Transpose(0, 1)
	bias := randT(r, 5)
	got, _ := Add(at, bias)
	for i := 0; i < 3; i++ {
		for j := 0; j < 5; j++ {
			if got.At(i, j) != at.At(i, j)+bias.At(j) {
				t.Fatal("add on transposed view")
			}
		}
	}
	if _, err := Add(New(2, 3), New(4, 3)); !errors.Is(err, ErrShape) {
		t.Fatalf("want broadcast error, got %v", err)
	}
}

func TestSoftmaxLayerNormActivations(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	for _, w := range oddSizes {
		x := randT(r, 3, w)
		for i := range x.data {
			x.data[i] *= 30 // large values: stability
		}
		sm := Softmax(x)
		ls := LogSoftmax(x)
		for i := 0; i < 3; i++ {
			m := math.Inf(-1)
			for j := 0; j < w; j++ {
				m = math.Max(m, float64(x.At(i, j)))
			}
			var z float64
			for j := 0; j < w; j++ {
				z += math.Exp(float64(x.At(i, j)) - m)
			}
			for j := 0; j < w; j++ {
				p := math.Exp(float64(x.At(i, j))-m) / z
				if math.Abs(p-float64(sm.At(i, j))) > 1e-6 {
					t.Fatalf("softmax w=%d", w)
				}
				if math.Abs(math.Log(p)-float64(ls.At(i, j))) > 1e-4 {
					t.Fatalf("log-softmax w=%d: %g vs %g", w, math.Log(p), ls.At(i, j))
				}
			}
		}
		gamma, beta := randT(r, w), randT(r, w)
		ln, err := LayerNorm(x, gamma, beta, 1e-5)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			var mean, v float64
			for j := 0; j < w; j++ {
				mean += float64(x.At(i, j))
			}
			mean /= float64(w)
			for j := 0; j < w; j++ {
				d := float64(x.At(i, j)) - mean
				v += d * d
			}
			v /= float64(w)
			for j := 0; j < w; j++ {
				want := (float64(x.At(i, j))-mean)/math.Sqrt(v+1e-5)*float64(gamma.At(j)) + float64(beta.At(j))
				if math.Abs(want-float64(ln.At(i, j))) > 1e-4 {
					t.Fatalf("layernorm w=%d: %g vs %g", w, want, ln.At(i, j))
				}
			}
		}
	}
	// masked softmax: -inf positions get zero probability
	x := randT(r, 2, 4)
	mask := MustFromData([]float32{0, float32(math.Inf(-1)), 0, -1e9}, 1, 4)
	p, err := SoftmaxMasked(x, mask)
	if err != nil {
		t.Fatal(err)
	}
	if p.At(0, 1) != 0 || p.At(1, 3) != 0 || math.Abs(float64(p.At(0, 0)+p.At(0, 2))-1) > 1e-6 {
		t.Fatalf("masked softmax %v", p)
	}
	// activations against closed forms
	for _, v := range []float32{-3, -0.5, 0, 0.7, 4} {
		x := float64(v)
		checks := map[string][2]float64{
			"gelu":       {float64(GELUExact(v)), x * 0.5 * (1 + math.Erf(x/math.Sqrt2))},
			"gelu_tanh":  {float64(GELUTanh(v)), 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))},
			"quick_gelu": {float64(QuickGELU(v)), x / (1 + math.Exp(-1.702*x))},
			"relu":       {float64(ReLU(v)), math.Max(0, x)},
			"tanh":       {float64(Tanh(v)), math.Tanh(x)},
		}
		for name, c := range checks {
			if math.Abs(c[0]-c[1]) > 1e-6 {
				t.Fatalf("%s(%g) = %g, want %g", name, v, c[0], c[1])
			}
		}
	}
	if _, err := Activation("nope"); err == nil {
		t.Fatal("unknown activation accepted")
	}
}

func TestViewsAndConcat(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	x := randT(r, 2, 3, 4)
	p := x.Permute(2, 0, 1)
	if p.IsContiguous() {
		t.Fatal("permuted view claims contiguity")
	}
	c := p.Contiguous()
	for i := 0; i < 4; i++ {
		for j := 0; j < 2; j++ {
			for k := 0; k < 3; k++ {
				if c.At(i, j, k) != x.At(j, k, i) {
					t.Fatal("permute")
				}
			}
		}
	}
	s := x.Slice(2, 1, 3)
	if s.At(1, 2, 0) != x.At(1, 2, 1) {
		t.Fatal("slice")
	}
	rs, err := s.Reshape(-1, 2)
	if err != nil || rs.Dim(0) != 6 || rs.At(5, 1) != x.At(1, 2, 2) {
		t.Fatalf("reshape of non-contiguous view: %v", err)
	}
	if _, err := x.Reshape(5, -1); !errors.Is(err, ErrShape) {
		t.Fatal("bad reshape accepted")
	}
	y := randT(r, 2, 5, 4)
	cat, err := Concat(1, x, y)
	if err != nil || cat.Dim(1) != 8 || cat.At(1, 3, 2) != y.At(1, 0, 2) || cat.At(1, 2, 2) != x.At(1, 2, 2) {
		t.Fatalf("concat: %v", err)
	}
	if _, err := Concat(0, x, y); err == nil {
		t.Fatal("mismatched concat accepted")
	}
	// MatMul on a permuted (non-contiguous) batch
	q := randT(r, 3, 2, 5).Permute(1, 0, 2) // [2,3,5]
	w := randT(r, 5, 4)
	got, err := MatMul(q, w)
	if err != nil {
		t.Fatal(err)
	}
	for b := 0; b < 2; b++ {
		if d := testdata.TensorDiff(t, "got", got.Index(b).Contiguous(), naiveMM(q.Index(b).Contiguous(), w)); d > 1e-5 {
			t.Fatalf("matmul on permuted view: %g", d)
		}
	}
}

func TestEmbeddingArgmaxTopK(t *testing.T) {
	table := MustFromData([]float32{0, 1, 2, 3, 4, 5}, 3, 2)
	e, err := Embedding(table, []int{2, 0, 2})
	if err != nil || e.At(0, 1) != 5 || e.At(1, 0) != 0 || e.At(2, 0) != 4 {
		t.Fatalf("embedding %v %v", e, err)
	}
	if _, err := Embedding(table, []int{3}); err == nil {
		t.Fatal("out-of-range id accepted")
	}
	x := []float32{1, 5, 3, 5, float32(math.NaN()), -2}
	if Argmax(x) != 1 {
		t.Fatal("argmax ties must pick first")
	}
	top := TopK(x, 3)
	if len(top) != 3 || top[0] != 1 || top[1] != 3 || top[2] != 2 {
		t.Fatalf("topk %v", top)
	}
	if len(TopK(x, 100)) != 5 {
		t.Fatal("topk should skip NaN and clip k")
	}
	rows := ArgmaxRows(MustFromData([]float32{1, 2, 9, 0}, 2, 2))
	if rows[0] != 1 || rows[1] != 0 {
		t.Fatal("argmax rows")
	}
}

func TestConv1dAndPatchEmbed(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	for _, tc := range []struct{ cin, cout, l, k, stride, pad, groups int }{
		{3, 4, 17, 3, 1, 1, 1}, // whisper conv1
		{4, 6, 17, 3, 2, 1, 1}, // whisper conv2
		{1, 5, 63, 10, 5, 0, 1},
		{8, 8, 65, 5, 1, 2, 4}, // grouped (wav2vec2 positional conv)
	} {
		x := randT(r, 2, tc.cin, tc.l)
		w := randT(r, tc.cout, tc.cin/tc.groups, tc.k)
		b := randT(r, tc.cout)
		got, err := Conv1d(x, w, b, tc.stride, tc.pad, tc.groups)
		if err != nil {
			t.Fatal(err)
		}
		lout := (tc.l+2*tc.pad-tc.k)/tc.stride + 1
		if got.Dim(2) != lout {
			t.Fatalf("conv1d length %d want %d", got.Dim(2), lout)
		}
		cg, og := tc.cin/tc.groups, tc.cout/tc.groups
		for bi := 0; bi < 2; bi++ {
			for co := 0; co < tc.cout; co++ {
				g := co / og
				for o := 0; o < lout; o++ {
					s := float64(b.At(co))
					for ci := 0; ci < cg; ci++ {
						for kk := 0; kk < tc.k; kk++ {
							p := o*tc.stride + kk - tc.pad
							if p >= 0 && p < tc.l {
								s += float64(x.At(bi, g*cg+ci, p)) * float64(w.At(co, ci, kk))
							}
						}
					}
					if math.Abs(s-float64(got.At(bi, co, o))) > 1e-4 {
						t.Fatalf("conv1d %+v mismatch", tc)
					}
				}
			}
		}
	}
	// patch embedding = conv2d with kernel = stride, flattened and transposed
	x := randT(r, 2, 3, 8, 12)
	w := randT(r, 5, 3, 4, 4)
	b := randT(r, 5)
	got, err := PatchEmbed(x, w, b)
	if err != nil || got.Dim(1) != 6 {
		t.Fatalf("patch embed: %v %v", err, got.Shape())
	}
	for bi := 0; bi < 2; bi++ {
		for py := 0; py < 2; py++ {
			for px := 0; px < 3; px++ {
				for d := 0; d < 5; d++ {
					s := float64(b.At(d))
					for c := 0; c < 3; c++ {
						for ky := 0; ky < 4; ky++ {
							for kx := 0; kx < 4; kx++ {
								s += float64(x.At(bi, c, py*4+ky, px*4+kx)) * float64(w.At(d, c, ky, kx))
							}
						}
					}
					if math.Abs(s-float64(got.At(bi, py*3+px, d))) > 1e-4 {
						t.Fatal("patch embed mismatch")
					}
				}
			}
		}
	}
	if _, err := Conv1d(randT(r, 1, 3, 2), randT(r, 4, 3, 5), nil, 1, 0, 1); err == nil {
		t.Fatal("conv1d with kernel longer than input accepted")
	}
}

func TestAttentionProbsAndStridedKV(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	b, tq, tk, h, dh := 1, 3, 65, 2, 8
	d := h * dh
	q := randT(r, b, tq, d)
	// keys/values as a view into a larger buffer (as a KV cache holds them)
	big := randT(r, b, tk+10, d)
	k := big.Slice(1, 0, tk)
	v := randT(r, b, tk, d)
	probs := New(b, h, tq, tk)
	got, err := Attention(q, k, v, AttentionOptions{Heads: h, Probs: probs})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Attention(q, k.Contiguous(), v, AttentionOptions{Heads: h})
	if testdata.TensorDiff(t, "got", got, want) > 1e-6 {
		t.Fatal("strided keys differ from contiguous")
	}
	for hh := 0; hh < h; hh++ {
		for i := 0; i < tq; i++ {
			var s float64
			for j := 0; j < tk; j++ {
				s += float64(probs.At(0, hh, i, j))
			}
			if math.Abs(s-1) > 1e-5 {
				t.Fatal("probabilities do not sum to 1")
			}
		}
	}
	if _, err := Attention(q, k, v, AttentionOptions{Heads: 3}); !errors.Is(err, ErrShape) {
		t.Fatal("heads not dividing the width accepted")
	}
}

// TestBatchOffsets checks the batch walk and strides MatMul and the device
// backends share.
func TestBatchOffsets(t *testing.T) {
	if got, want := BatchOffsets([]int{2, 3}, []int{1, 3}, []int{99, 10}, 7), []int{7, 17, 27, 7, 17, 27}; !slices.Equal(got, want) {
		t.Fatalf("BatchOffsets = %v, want %v", got, want)
	}
	if got, want := ContiguousStrides([]int{2, 3, 4}), []int{12, 4, 1}; !slices.Equal(got, want) {
		t.Fatalf("ContiguousStrides = %v, want %v", got, want)
	}
}

// TestMatMulShape checks the operand rule of MatMul and MatMulT.
func TestMatMulShape(t *testing.T) {
	for _, c := range []struct {
		name    string
		a, b    []int
		transB  bool
		batch   []int // nil with m < 0: an error wrapping ErrShape
		m, k, n int
	}{
		{"plain", []int{2, 3}, []int{3, 4}, false, []int{}, 2, 3, 4},
		{"transposed", []int{2, 3}, []int{4, 3}, true, []int{}, 2, 3, 4},
		{"broadcast batch", []int{5, 1, 2, 3}, []int{4, 3, 6}, false, []int{5, 4}, 2, 3, 6},
		{"inner dimensions", []int{2, 3}, []int{4, 4}, false, nil, -1, 0, 0},
		{"inner dimensions transposed", []int{2, 3}, []int{3, 4}, true, nil, -1, 0, 0},
		{"batch", []int{2, 2, 3}, []int{3, 3, 4}, false, nil, -1, 0, 0},
	} {
		batch, m, k, n, err := MatMulShape(New(c.a...), New(c.b...), c.transB)
		if c.m < 0 {
			if !errors.Is(err, ErrShape) {
				t.Errorf("%s: err = %v, want ErrShape", c.name, err)
			}
			continue
		}
		if err != nil || !slices.Equal(batch, c.batch) || m != c.m || k != c.k || n != c.n {
			t.Errorf("%s: MatMulShape = %v %d %d %d %v, want %v %d %d %d", c.name, batch, m, k, n, err, c.batch, c.m, c.k, c.n)
		}
	}
}

// TestPatches checks the patch rows PatchEmbed multiplies: their layout
// (channel, row, column within a patch; patches row-major; a partial
// border left out) and the errors for bad input.
func TestPatches(t *testing.T) {
	const b, c, h, w, p = 2, 3, 5, 7, 2
	x := New(b, c, h, w)
	for i := range x.data {
		x.data[i] = float32(i)
	}
	cols, err := Patches(x, p)
	if err != nil {
		t.Fatal(err)
	}
	gh, gw := h/p, w/p
	if !SameShape(cols, New(b, gh*gw, c*p*p)) {
		t.Fatalf("shape %v", cols.Shape())
	}
	for bi := 0; bi < b; bi++ {
		for py := 0; py < gh; py++ {
			for px := 0; px < gw; px++ {
				for ci := 0; ci < c; ci++ {
					for ky := 0; ky < p; ky++ {
						for kx := 0; kx < p; kx++ {
							got := cols.At(bi, py*gw+px, (ci*p+ky)*p+kx)
							if want := x.At(bi, ci, py*p+ky, px*p+kx); got != want {
								t.Fatalf("patch (%d,%d) of image %d, [%d,%d,%d] = %v, want %v", py, px, bi, ci, ky, kx, got, want)
							}
						}
					}
				}
			}
		}
	}
	for _, bad := range []struct {
		x *Tensor
		p int
	}{{nil, 2}, {New(3, 4, 4), 2}, {x, 0}, {x, 6}, {x, -1}} {
		if _, err := Patches(bad.x, bad.p); !errors.Is(err, ErrShape) {
			t.Errorf("Patches(%v, %d): %v, want ErrShape", bad.x.Shape(), bad.p, err)
		}
	}
	d := NewCheckingDevice()
	dx, _ := d.Upload(x)
	if _, err := Patches(dx, p); !errors.Is(err, ErrDevice) {
		t.Errorf("Patches on a device: %v, want ErrDevice", err)
	}
}
