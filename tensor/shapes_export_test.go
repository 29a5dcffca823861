package tensor

import (
	"errors"
	"slices"
	"testing"
)

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

func TestBatchOffsets(t *testing.T) {
	got := BatchOffsets([]int{2, 3}, []int{1, 3}, []int{99, 10}, 7)
	want := []int{7, 17, 27, 7, 17, 27}
	for i := range want {
		if len(got) != len(want) || got[i] != want[i] {
			t.Fatalf("BatchOffsets = %v, want %v", got, want)
		}
	}
	if got := ContiguousStrides([]int{2, 3, 4}); len(got) != 3 || got[0] != 12 || got[1] != 4 || got[2] != 1 {
		t.Fatalf("ContiguousStrides = %v", got)
	}
}

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
