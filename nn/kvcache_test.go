package nn

import (
	"math/rand"
	"slices"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

func TestKVCacheAppend(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	rnd := func(shape ...int) *tensor.Tensor {
		x := tensor.New(shape...)
		for i, d := 0, x.Data(); i < len(d); i++ {
			d[i] = r.Float32()
		}
		return x
	}
	var c KVCache
	// Grow past the first capacity (16) in steps of different sizes.
	var ks, vs []*tensor.Tensor
	for _, n := range []int{5, 1, 14, 1, 3} {
		k, v := rnd(2, n, 6), rnd(2, n, 6)
		ks, vs = append(ks, k), append(vs, v)
		gk, gv, err := c.Append(k, v)
		if err != nil {
			t.Fatal(err)
		}
		wk, _ := tensor.Concat(1, ks...)
		wv, _ := tensor.Concat(1, vs...)
		if !tensor.SameShape(gk, wk) || !slices.Equal(gk.Contiguous().Data(), wk.Data()) || !slices.Equal(gv.Contiguous().Data(), wv.Data()) {
			t.Fatalf("after %d positions: cache %v differs from the appended keys/values %v", c.Len(), gk.Shape(), wk.Shape())
		}
		tensor.Release(gk)
		tensor.Release(gv)
	}
	if c.Len() != 24 {
		t.Fatalf("Len %d, want 24", c.Len())
	}
	// Reorder then append: rows follow the order given.
	c.Reorder([]int{1, 1, 0})
	gk, _, err := c.Append(rnd(3, 1, 6), rnd(3, 1, 6))
	if err != nil {
		t.Fatal(err)
	}
	all, _ := tensor.Concat(1, ks...)
	for i, src := range []int{1, 1, 0} {
		for p := 0; p < 24; p++ {
			for j := 0; j < 6; j++ {
				if gk.At(i, p, j) != all.At(src, p, j) {
					t.Fatalf("reordered row %d position %d differs from old row %d", i, p, src)
				}
			}
		}
	}
	// Mismatched shapes are errors and leave the cache alone.
	for _, kv := range [][2]*tensor.Tensor{
		{rnd(2, 1, 6), rnd(2, 1, 6)}, // batch 2, the cache holds 3 rows
		{rnd(3, 1, 4), rnd(3, 1, 4)}, // width 4, not 6
		{rnd(3, 1, 6), rnd(3, 2, 6)}, // keys and values differ
		{rnd(3, 6), rnd(3, 6)},       // not [B, T, D]
	} {
		if _, _, err := c.Append(kv[0], kv[1]); err == nil {
			t.Errorf("Append(%v, %v): no error", kv[0].Shape(), kv[1].Shape())
		}
	}
	if c.Len() != 25 {
		t.Fatalf("Len %d after rejected appends, want 25", c.Len())
	}
	c.Release()
	if c.Len() != 0 {
		t.Fatalf("Len %d after Release", c.Len())
	}
}

// TestSelfHalfKVCache decodes with self-attention whose KVType is 16-bit:
// the cache keeps its keys and values in that type (Append is refused),
// and every step stays within the rounding error of the float32 causal
// pass (but not equal to it: the keys and values are rounded), before and
// after a beam reorder that changes the batch size.
func TestSelfHalfKVCache(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	const d, B = 16, 2
	for _, c := range []struct {
		kind tensor.WeightType
		tol  float64
	}{{tensor.WeightF16, 4e-3}, {tensor.WeightBF16, 3e-2}} {
		blk := newTestDecoder(r, d, true)
		a := blk.SelfAttn
		a.Heads = 4
		x := tensor.New(B, 9, d)
		for i, dd := 0, x.Data(); i < len(dd); i++ {
			dd[i] = r.Float32()*2 - 1
		}
		full := a.Self(x, AttnOptions{Causal: true})
		a.KVType = c.kind
		var cache, ref KVCache
		var worst float64
		check := func(what string, got, want *tensor.Tensor) {
			t.Helper()
			diff := testdata.TensorDiff(t, what, got, want)
			if diff > c.tol {
				t.Fatalf("%v %s: differs from float32 by %g (tolerance %g)", c.kind, what, diff, c.tol)
			}
			worst = max(worst, diff)
		}
		steps := [][2]int{{0, 3}, {3, 4}, {4, 5}, {5, 6}}
		for _, s := range steps {
			got := a.Self(x.Slice(1, s[0], s[1]).Contiguous(), AttnOptions{Causal: true, Cache: &cache})
			check("step", got, full.Slice(1, s[0], s[1]).Contiguous())
		}
		if cache.half == nil || cache.half.Type() != c.kind || cache.Len() != 6 {
			t.Fatalf("%v: cache not kept 16-bit (%v), Len %d", c.kind, cache.half, cache.Len())
		}
		if _, _, err := cache.Append(tensor.New(B, 1, d), tensor.New(B, 1, d)); err == nil {
			t.Errorf("%v: Append to a 16-bit cache succeeded", c.kind)
		}
		// The float32 cache fed the same positions, reordered alike.
		f32 := &Attention{Q: a.Q, K: a.K, V: a.V, O: a.O, Heads: a.Heads}
		tensor.Release(f32.Self(x.Slice(1, 0, 6).Contiguous(), AttnOptions{Causal: true, Cache: &ref}))
		if ref.half != nil {
			t.Fatal("float32 attention made a 16-bit cache")
		}
		idx := []int{1, 1, 0}
		cache.Reorder(idx)
		ref.Reorder(idx)
		xs := must(tensor.Gather(x.Slice(1, 6, 9).Contiguous(), idx))
		for p := 0; p < 3; p++ {
			in := xs.Slice(1, p, p+1).Contiguous()
			check("after reorder", a.Self(in, AttnOptions{Causal: true, Cache: &cache}), f32.Self(in, AttnOptions{Causal: true, Cache: &ref}))
		}
		if worst == 0 {
			t.Errorf("%v: results equal float32's: keys and values not rounded", c.kind)
		}
		t.Logf("%v: max |Δ| against float32 %.3g", c.kind, worst)
		cache.Release()
		if cache.Len() != 0 || cache.half != nil {
			t.Fatal("Release left the cache")
		}
	}
}
