package nn

import (
	"math/rand"
	"slices"
	"testing"

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
