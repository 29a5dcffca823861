package tensor

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor/internal/kern"
)

// TestAttentionPacked checks attention over packed keys and values against
// the float64 reference, with every kernel set: float32 packing within the
// tolerance of Attention, 16-bit packing against the reference on keys and
// values rounded to that type; with masks, causality, probabilities, query
// blocks larger than attnBlock, and beam reordering.
func TestAttentionPacked(t *testing.T) {
	r := rand.New(rand.NewSource(31))
	type tc struct {
		b, tq, tk, h, dh int
		causal           bool
		mask             string
	}
	for _, c := range []tc{
		{1, 1, 1500, 8, 64, false, ""},
		{2, 1, 37, 3, 64, false, "key"},
		{2, 4, 100, 2, 64, true, "full"},
		{1, 70, 131, 2, 64, false, ""},
		{3, 2, 33, 2, 20, false, "row"},
	} {
		d := c.h * c.dh
		q, k, v := randT(r, c.b, c.tq, d), randT(r, c.b, c.tk, d), randT(r, c.b, c.tk, d)
		mask := testMask(r, c.mask, c.b, c.tq, c.tk)
		want32, want32P := attnWant(q, k, v, c.h, 1/math.Sqrt(float64(c.dh)), c.causal, mask)
		for _, kind := range []WeightType{WeightF32, WeightF16, WeightBF16} {
			want16, want16P := want32, want32P
			if kind != WeightF32 {
				want16, want16P = attnWant(q, roundTo(k, kind), roundTo(v, kind), c.h, 1/math.Sqrt(float64(c.dh)), c.causal, mask)
			}
			for _, s := range kernelSets() {
				name := fmt.Sprintf("%+v/%v/%s", c, kind, setName(s))
				saved := fastSet
				fastSet = s
				kv, err := PackKV(k, v, c.h, kind)
				if err != nil {
					fastSet = saved
					t.Fatal(err)
				}
				probs := New(c.b, c.h, c.tq, c.tk)
				out, err := AttentionPacked(q, kv, AttentionOptions{Causal: c.causal, Mask: mask, Probs: probs})
				fastSet = saved
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				// Without assembly kernels packed data stays float32.
				want, wantP := want16, want16P
				if kv.Type() == WeightF32 {
					want, wantP = want32, want32P
				}
				checkNear(t, name, "out", out.data, want, 3e-5)
				checkNear(t, name, "probs", probs.data, wantP, 3e-6)
				if c.b > 1 {
					// Reversed batch: row i attends to the keys of row b−1−i.
					idx := make([]int, c.b)
					for i := range idx {
						idx[i] = c.b - 1 - i
					}
					rk, err := kv.Reorder(idx)
					if err != nil || rk.Batch() != c.b || rk.Len() != c.tk {
						t.Fatalf("%s: reorder: %v", name, err)
					}
					qr := New(c.b, c.tq, d)
					for i := range idx {
						copyInto(qr.Index(i), q.Index(idx[i]))
					}
					got, err := AttentionPacked(qr, rk, AttentionOptions{Causal: c.causal})
					if err != nil {
						t.Fatal(err)
					}
					plain, _ := AttentionPacked(q, kv, AttentionOptions{Causal: c.causal})
					for i := range idx {
						if d := testdata.TensorDiff(t, "got", got.Index(i), plain.Index(idx[i])); d > 1e-6 {
							t.Fatalf("%s: reordered row %d differs by %g", name, i, d)
						}
					}
				}
			}
		}
	}
	k := New(2, 5, 8)
	if _, err := PackKV(k, New(2, 5, 6), 2, WeightF16); err == nil {
		t.Error("keys and values of different shapes: no error")
	}
	if _, err := PackKV(k, k, 3, WeightF16); err == nil {
		t.Error("width not divisible by heads: no error")
	}
	kv, _ := PackKV(k, k, 2, WeightF16)
	if _, err := AttentionPacked(New(3, 1, 8), kv, AttentionOptions{}); err == nil {
		t.Error("batch mismatch: no error")
	}
	if _, err := AttentionPacked(New(2, 1, 8), kv, AttentionOptions{Heads: 4}); err == nil {
		t.Error("head count mismatch: no error")
	}
	if _, err := kv.Reorder([]int{2}); err == nil {
		t.Error("reorder out of range: no error")
	}
}

// roundTo returns x with every value rounded to the 16-bit type.
func roundTo(x *Tensor, kind WeightType) *Tensor {
	out := x.Contiguous().Clone()
	h := make([]uint16, out.Len())
	if kind == WeightF16 {
		kern.NarrowF16(h, out.data)
	} else {
		kern.NarrowBF16(h, out.data)
	}
	WidenHalf(out.data, h, kind)
	return out
}
