package tensor

import (
	"math/bits"
	"sync"
)

// Storage of large intermediate tensors is recycled: Release hands a
// tensor's buffer back, and operations that overwrite every element of
// their result draw from the recycled buffers instead of allocating (and
// zeroing) fresh memory. Steady-state inference through package nn then
// allocates little beyond its outputs.

// poolMin is the smallest buffer (in floats) worth recycling.
const poolMin = 1 << 12

// Buffers are pooled by capacity class: four classes per power of two
// (capacities 2^e·{1.25, 1.5, 1.75, 2}), so a recycled buffer wastes at
// most a quarter of its size.
var storePools [4 * 64]sync.Pool

// classFor returns the smallest class whose capacity holds n floats, and
// that capacity.
func classFor(n int) (int, int) {
	e := bits.Len(uint(max(n, 2) - 1)) // 2^(e-1) < n ≤ 2^e
	base := 1 << (e - 1)
	for q := 1; q < 4; q++ {
		if c := base + base*q/4; c >= n {
			return 4*(e-1) + q, c
		}
	}
	return 4 * e, 1 << e
}

// classOf returns the largest class whose capacity is at most c.
func classOf(c int) int {
	e := bits.Len(uint(c)) - 1 // 2^e ≤ c < 2^(e+1)
	base := 1 << e
	q := (c - base) * 4 / base // c ≥ base + base·q/4
	return 4*e + q
}

func poolGet(n int) (*[]float32, bool) {
	cls, _ := classFor(n)
	if p, ok := storePools[cls].Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p, true
	}
	return nil, false
}

func poolPut(p *[]float32) {
	d := (*p)[:cap(*p)]
	*p = d
	storePools[classOf(cap(d))].Put(p)
}

// newUninit returns a contiguous tensor whose elements are unspecified
// (recycled storage when available): for results that are fully written.
func newUninit(shape ...int) *Tensor {
	n := numel(shape)
	if n < poolMin {
		return New(shape...)
	}
	t := header(shape, nil)
	t.owned = true
	if p, ok := poolGet(n); ok {
		t.data = *p
		return t
	}
	_, c := classFor(n)
	t.data = make([]float32, n, c)
	return t
}

// Release returns t's storage for reuse by later results. Call it only
// when nothing refers to t any more: t and every view of it must not be used
// afterwards (t itself is emptied). Views, tensors wrapping caller memory
// (FromData) and small tensors are left alone. Releasing is optional;
// unreleased tensors are garbage collected as usual.
func Release(t *Tensor) {
	if t == nil || !t.owned || cap(t.data) < poolMin {
		return
	}
	t.owned = false
	d := t.data
	t.data = nil
	t.shape = nil
	poolPut(&d)
}

// FreeScratch drops the recycled storage held for reuse (it is otherwise
// kept until two garbage collections pass without it being used). Call it
// between phases that need different working memory, for example after an
// encoder has run and before a long decoding loop that will not reuse the
// encoder's large buffers, to keep peak memory down.
func FreeScratch() {
	for i := range storePools {
		for storePools[i].Get() != nil {
		}
	}
}
