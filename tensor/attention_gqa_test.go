package tensor

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// repeatKV widens [B, T, kvh·dh] keys or values to [B, T, kvh·group·dh],
// each key/value head repeated for the group of query heads that reads it
// (transformers' repeat_kv).
func repeatKV(x *Tensor, kvh, group int) *Tensor {
	b, t, d := x.Dim(0), x.Dim(1), x.Dim(2)
	dh := d / kvh
	out := New(b, t, d*group)
	for bi := 0; bi < b; bi++ {
		for ti := 0; ti < t; ti++ {
			for h := 0; h < kvh*group; h++ {
				for j := 0; j < dh; j++ {
					out.Set(x.At(bi, ti, (h/group)*dh+j), bi, ti, h*dh+j)
				}
			}
		}
	}
	return out
}

func TestAttentionGroupedQuery(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	type tc struct {
		b, tq, tk, h, kvh, dh int
		causal                bool
		mask                  string
	}
	cases := []tc{
		{1, 1, 9, 4, 1, 16, true, ""},
		{2, 1, 37, 8, 2, 64, true, "key"},
		{1, 5, 5, 6, 3, 8, true, ""},
		{2, 70, 70, 4, 2, 32, true, "key"},
		{1, 3, 100, 4, 4, 16, false, "full"},
	}
	for _, c := range cases {
		d, dkv := c.h*c.dh, c.kvh*c.dh
		q, k, v := randT(r, c.b, c.tq, d), randT(r, c.b, c.tk, dkv), randT(r, c.b, c.tk, dkv)
		mask := testMask(r, c.mask, c.b, c.tq, c.tk)
		group := c.h / c.kvh
		want, _ := attnWant(q, repeatKV(k, c.kvh, group), repeatKV(v, c.kvh, group), c.h, 1/math.Sqrt(float64(c.dh)), c.causal, mask)
		for _, s := range kernelSets() {
			name := fmt.Sprintf("%+v/%s", c, setName(s))
			out := New(c.b, c.tq, d)
			job := testAttnJob(q, k, v, c.h, c.dh, c.causal, mask, out.data, nil)
			job.group = group
			job.run(s, 2)
			checkNear(t, name, "out", out.data, want, 2e-5)
		}
		got, err := Attention(q, k, v, AttentionOptions{Heads: c.h, KVHeads: c.kvh, Causal: c.causal, Mask: mask})
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			if d := math.Abs(float64(got.data[i]) - w); d > 2e-5 {
				t.Fatalf("%+v Attention: out[%d] = %g want %g", c, i, got.data[i], w)
			}
		}
	}
	// Shapes that do not group are errors, not panics.
	q, k := New(1, 2, 12), New(1, 2, 8)
	for _, o := range []AttentionOptions{
		{Heads: 3, KVHeads: 2}, // 3 query heads do not split into 2 groups
		{Heads: 2, KVHeads: 4}, // more key/value heads than query heads
		{Heads: 6, KVHeads: 3}, // k holds 4·2 columns, not 3·2
		{Heads: 4},             // without KVHeads k must be as wide as q
	} {
		if _, err := Attention(q, k, k, o); err == nil {
			t.Errorf("Attention(q %v, k %v, %+v): no error", q.Shape(), k.Shape(), o)
		}
	}
}

// TestAttentionHeads checks the head rule Attention and the device
// backends apply (AttentionHeads).
func TestAttentionHeads(t *testing.T) {
	for _, c := range []struct {
		name       string
		q, k, v    []int
		heads, kvh int
		wantH      int // < 0: an error wrapping ErrShape
		wantKV     int
		wantDh     int
	}{
		{"multi-head", []int{2, 3, 8}, []int{2, 5, 8}, []int{2, 5, 8}, 2, 0, 2, 2, 4},
		{"grouped", []int{1, 3, 8}, []int{1, 4, 4}, []int{1, 4, 4}, 4, 2, 4, 2, 2},
		{"no heads", []int{1, 3, 8}, []int{1, 4, 8}, []int{1, 4, 8}, 0, 0, -1, 0, 0},
		{"heads do not divide", []int{1, 3, 8}, []int{1, 4, 8}, []int{1, 4, 8}, 3, 0, -1, 0, 0},
		{"kv heads above heads", []int{1, 3, 8}, []int{1, 4, 8}, []int{1, 4, 8}, 2, 4, -1, 0, 0},
		{"kv heads do not divide", []int{1, 3, 12}, []int{1, 4, 8}, []int{1, 4, 8}, 3, 2, -1, 0, 0},
		{"batch of k", []int{2, 3, 8}, []int{1, 4, 8}, []int{2, 4, 8}, 2, 0, -1, 0, 0},
		{"batch of v", []int{2, 3, 8}, []int{2, 4, 8}, []int{1, 4, 8}, 2, 0, -1, 0, 0},
		{"width of k", []int{1, 3, 8}, []int{1, 4, 6}, []int{1, 4, 8}, 2, 0, -1, 0, 0},
		{"width of v", []int{1, 3, 8}, []int{1, 4, 8}, []int{1, 4, 6}, 2, 0, -1, 0, 0},
		{"length of v", []int{1, 3, 8}, []int{1, 4, 8}, []int{1, 5, 8}, 2, 0, -1, 0, 0},
	} {
		h, kvh, dh, err := AttentionHeads(New(c.q...), New(c.k...), New(c.v...), AttentionOptions{Heads: c.heads, KVHeads: c.kvh})
		if c.wantH < 0 {
			if !errors.Is(err, ErrShape) {
				t.Errorf("%s: err = %v, want ErrShape", c.name, err)
			}
			continue
		}
		if err != nil || h != c.wantH || kvh != c.wantKV || dh != c.wantDh {
			t.Errorf("%s: AttentionHeads = %d %d %d %v, want %d %d %d", c.name, h, kvh, dh, err, c.wantH, c.wantKV, c.wantDh)
		}
	}
}
