package tensor

import (
	"math"
	"math/rand"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
)

// randT returns a tensor of the given shape filled uniformly in [-1, 1)
// from r (a math/rand or math/rand/v2 source).
func randT(r interface{ Float32() float32 }, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.data {
		t.data[i] = r.Float32()*2 - 1
	}
	return t
}

func naiveMM(a, b *Tensor) *Tensor { // 2-D
	m, k, n := a.Dim(0), a.Dim(1), b.Dim(1)
	out := New(m, n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += float64(a.At(i, p)) * float64(b.At(p, j))
			}
			out.Set(float32(s), i, j)
		}
	}
	return out
}

func TestSmokeMatMul(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, s := range [][3]int{{1, 1, 1}, {3, 17, 5}, {17, 63, 65}, {65, 3, 257}} {
		m, k, n := s[0], s[1], s[2]
		a, b := randT(r, m, k), randT(r, k, n)
		want := naiveMM(a, b)
		got, err := MatMul(a, b)
		if err != nil || testdata.TensorDiff(t, "got", got, want) > 1e-4 {
			t.Fatalf("MatMul %v: err %v diff %g", s, err, testdata.TensorDiff(t, "got", got, want))
		}
		bt := randT(r, n, k)
		got, _ = MatMulT(a, bt)
		want = naiveMM(a, bt.Transpose(0, 1))
		if d := testdata.TensorDiff(t, "got", got, want); d > 1e-4 {
			t.Fatalf("MatMulT %v diff %g", s, d)
		}
		// transposed views as operands
		at := randT(r, k, m).Transpose(0, 1)
		got, _ = MatMul(at, bt.Transpose(0, 1))
		want = naiveMM(at, bt.Transpose(0, 1))
		if d := testdata.TensorDiff(t, "got", got, want); d > 1e-4 {
			t.Fatalf("MatMul views %v diff %g", s, d)
		}
	}
	// batched with broadcasting
	a := randT(r, 2, 3, 4, 5)
	b := randT(r, 3, 5, 6)
	got, err := MatMul(a, b)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			want := naiveMM(a.Index(i).Index(j), b.Index(j))
			if d := testdata.TensorDiff(t, "got", got.Index(i).Index(j).Contiguous(), want); d > 1e-4 {
				t.Fatalf("batched diff %g", d)
			}
		}
	}
}

func TestSmokeAttention(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	b, tq, tk, h, dh := 2, 5, 7, 3, 4
	d := h * dh
	q, k, v := randT(r, b, tq, d), randT(r, b, tk, d), randT(r, b, tk, d)
	mask := New(b, 1, tk)
	mask.Set(-1e9, 1, 0, 2)
	for _, causal := range []bool{false, true} {
		got, err := Attention(q, k, v, AttentionOptions{Heads: h, Causal: causal, Mask: mask})
		if err != nil {
			t.Fatal(err)
		}
		for bi := 0; bi < b; bi++ {
			for hh := 0; hh < h; hh++ {
				for i := 0; i < tq; i++ {
					sc := make([]float32, tk)
					for j := 0; j < tk; j++ {
						var s float64
						for x := 0; x < dh; x++ {
							s += float64(q.At(bi, i, hh*dh+x)) * float64(k.At(bi, j, hh*dh+x))
						}
						sc[j] = float32(s/math.Sqrt(float64(dh))) + mask.At(bi, 0, j)
						if causal && j > tk-tq+i {
							sc[j] = float32(math.Inf(-1))
						}
					}
					SoftmaxRow(sc)
					for x := 0; x < dh; x++ {
						var s float64
						for j := 0; j < tk; j++ {
							s += float64(sc[j]) * float64(v.At(bi, j, hh*dh+x))
						}
						if g := got.At(bi, i, hh*dh+x); math.Abs(float64(g)-s) > 1e-5 {
							t.Fatalf("attention causal=%v mismatch at %d %d %d %d: %g vs %g", causal, bi, hh, i, x, g, s)
						}
					}
				}
			}
		}
	}
}
