package tensor

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// attnWant is the float64 reference of Attention for token-layout operands.
func attnWant(q, k, v *Tensor, heads int, scale float64, causal bool, mask *Tensor) (out, probs []float64) {
	b, tq, d := q.Dim(0), q.Dim(1), q.Dim(2)
	tk := k.Dim(1)
	dh := d / heads
	out = make([]float64, b*tq*d)
	probs = make([]float64, b*heads*tq*tk)
	var mb *Tensor
	if mask != nil {
		mb, _ = Add(New(b, tq, tk), mask)
	}
	for bi := 0; bi < b; bi++ {
		for h := 0; h < heads; h++ {
			for i := 0; i < tq; i++ {
				sc := make([]float64, tk)
				m := math.Inf(-1)
				for j := 0; j < tk; j++ {
					var s float64
					for x := 0; x < dh; x++ {
						s += float64(q.At(bi, i, h*dh+x)) * float64(k.At(bi, j, h*dh+x))
					}
					s = float64(float32(s * scale))
					if mb != nil {
						s += float64(mb.At(bi, i, j))
					}
					if causal && j > tk-tq+i {
						s = math.Inf(-1)
					}
					sc[j] = s
					m = math.Max(m, s)
				}
				var z float64
				for j := range sc {
					if !math.IsInf(m, -1) {
						sc[j] = math.Exp(sc[j] - m)
					} else {
						sc[j] = 0
					}
					z += sc[j]
				}
				for j := range sc {
					if z > 0 {
						sc[j] /= z
					}
					probs[((bi*heads+h)*tq+i)*tk+j] = sc[j]
				}
				for x := 0; x < dh; x++ {
					var s float64
					for j := 0; j < tk; j++ {
						s += sc[j] * float64(v.At(bi, j, h*dh+x))
					}
					out[(bi*tq+i)*d+h*dh+x] = s
				}
			}
		}
	}
	return out, probs
}

// testMask returns an attention mask of the given kind: "key" (−Inf on
// every third key of the last batch row), "full" [B, Tq, Tk], "row" [Tk]
// (broadcast), or nil for "".
func testMask(r *rand.Rand, kind string, b, tq, tk int) *Tensor {
	switch kind {
	case "key":
		mask := New(b, 1, tk)
		for j := 0; j < tk; j += 3 {
			mask.Set(float32(math.Inf(-1)), b-1, 0, j)
		}
		return mask
	case "full":
		return randT(r, b, tq, tk)
	case "row":
		return randT(r, tk)
	}
	return nil
}

func TestAttentionFastPaths(t *testing.T) {
	r := rand.New(rand.NewSource(21))
	type tc struct {
		b, tq, tk, h, dh int
		causal           bool
		mask             string
	}
	cases := []tc{
		{1, 1, 1, 1, 64, false, ""},
		{2, 1, 37, 3, 64, true, "key"},
		{1, 3, 100, 2, 64, false, "full"},
		{2, 5, 5, 2, 16, true, ""},
		{1, 70, 70, 1, 64, true, ""},
		{1, 150, 131, 2, 64, false, "key"},
		{3, 17, 33, 2, 20, false, "full"},
		{1, 129, 200, 1, 32, false, "row"},
		{2, 66, 66, 4, 8, true, "key"},
	}
	for _, c := range cases {
		d := c.h * c.dh
		q, k, v := randT(r, c.b, c.tq, d), randT(r, c.b, c.tk, d), randT(r, c.b, c.tk, d)
		for _, x := range [][]float32{q.data, k.data} {
			for i := range x {
				x[i] *= 3
			}
		}
		mask := testMask(r, c.mask, c.b, c.tq, c.tk)
		want, wantP := attnWant(q, k, v, c.h, 1/math.Sqrt(float64(c.dh)), c.causal, mask)
		for _, s := range kernelSets() {
			for _, threads := range []int{1, 2, 3} {
				name := fmt.Sprintf("%+v/%s/threads%d", c, setName(s), threads)
				probs := New(c.b, c.h, c.tq, c.tk)
				out := New(c.b, c.tq, d)
				job := testAttnJob(q, k, v, c.h, c.dh, c.causal, mask, out.data, probs.data)
				job.run(s, threads)
				checkNear(t, name, "out", out.data, want, 2e-5)
				checkNear(t, name, "probs", probs.data, wantP, 2e-6)
			}
		}
		// Public entry point, views as operands (a KV cache with spare room).
		kbig, vbig := randT(r, c.b, c.tk+5, d), randT(r, c.b, c.tk+5, d)
		copyInto(kbig.Slice(1, 0, c.tk), k)
		copyInto(vbig.Slice(1, 0, c.tk), v)
		got, err := Attention(q, kbig.Slice(1, 0, c.tk), vbig.Slice(1, 0, c.tk), AttentionOptions{Heads: c.h, Causal: c.causal, Mask: mask})
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			if d := math.Abs(float64(got.data[i]) - w); d > 2e-5 {
				t.Fatalf("%+v Attention on views: out[%d] = %g want %g", c, i, got.data[i], w)
			}
		}
	}
}

// copyInto copies src into the (possibly strided) view dst of equal shape.
func copyInto(dst, src *Tensor) {
	s := src.Contiguous().Data()
	i := 0
	dst.each(func(off int) { dst.data[off] = s[i]; i++ })
}

// testAttnJob is the attnJob of attention over q [b, tq, h·dh] and k, v
// [b, tk, ·] with h heads of dh, causal or masked (mask [b|1, tq|1, tk]
// or nil), writing out (and probs when not nil).
func testAttnJob(q, k, v *Tensor, h, dh int, causal bool, mask *Tensor, out, probs []float32) attnJob {
	qc, qb, qld := rowMajor3(q)
	kc, kb, kld := rowMajor3(k)
	vc, vb, vld := rowMajor3(v)
	b, tq, tk := q.Dim(0), q.Dim(1), k.Dim(1)
	job := attnJob{q: qc, qb: qb, qld: qld, k: kc, kb: kb, kld: kld, v: vc, vb: vb, vld: vld,
		b: b, tq: tq, tk: tk, h: h, dh: dh, d: h * dh, scale: float32(1 / math.Sqrt(float64(dh))),
		causal: causal, probs: probs, out: out}
	if mask != nil {
		mc := mask.Contiguous()
		st := broadcastStrides(mc, []int{b, tq, tk})
		job.mask, job.msb, job.msq, job.msk = mc.Data(), st[0], st[1], st[2]
	}
	return job
}

// checkNear fails t unless each got[i] is within tol of want[i], the
// float64 reference; name and what say which result it is.
func checkNear(t *testing.T, name, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	for i, w := range want {
		if d := math.Abs(float64(got[i]) - w); d > tol {
			t.Fatalf("%s: %s[%d] = %g want %g", name, what, i, got[i], w)
		}
	}
}
