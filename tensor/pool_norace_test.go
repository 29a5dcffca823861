//go:build !race && !goformer_checkrelease

package tensor

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/goformer/goformer/internal/allocs"
)

// TestSteadyStateAllocations is built without the race detector (under it
// sync.Pool drops items at random) and without goformer_checkrelease (which
// poisons and drops released storage).
func TestSteadyStateAllocations(t *testing.T) {
	x := New(50, 64)
	for i := range x.data {
		x.data[i] = float32(i%7) * 0.1
	}
	w := New(96, 64)
	pw, _ := PackWeight(w)
	g := New(64)
	for i := range g.data {
		g.data[i] = 1
	}
	run := func() {
		y, _ := LinearPacked(x, pw, nil)
		y3 := y.MustReshape(1, 50, 96)
		z, _ := Attention(y3, y3, y3, AttentionOptions{Heads: 2})
		n, _ := LayerNorm(x, g, nil, 1e-5)
		SoftmaxInPlace(n)
		MapInPlace(n, GELUExact)
		Release(n)
		Release(z)
		Release(y3)
		Release(y)
	}
	// Tensor storage and the parallel loops' jobs are recycled; what a
	// step allocates is its tensor headers (never reused, see Release).
	// sync.Pool's own bookkeeping may add a rare allocation when buffers
	// released on one thread are taken on another (as AllocsPerRun's
	// truncated mean let pass before): less than one per step.
	perRun, large := allocs.Measure(50, run)
	if large >= 1 {
		t.Fatalf("%v allocations larger than a tensor header per linear+attention+layer norm+softmax+GELU step (of %v), want 0", large, perRun)
	}
	if perRun > 16 {
		t.Fatalf("%v allocations per step, want at most 16 (its result and view headers)", perRun)
	}
}

// TestLargeBuffersShared checks that a large buffer released on one
// goroutine (and thread) is what the next request of its size gets on
// another, that it stays through one garbage collection without use and
// is dropped after the second (the aging of bigPool), and that FreeScratch
// drops it at once.
func TestLargeBuffersShared(t *testing.T) {
	// No collection may age the pool behind the test's back.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	FreeScratch()
	const n = bigMin + 1000
	released := func() *float32 {
		ch := make(chan *float32)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			x := newUninit(n)
			p := &x.data[0]
			Release(x)
			ch <- p
		}()
		return <-ch
	}
	takes := func(p *float32) bool {
		y := newUninit(n)
		defer Release(y)
		return &y.data[0] == p
	}
	p := released()
	if !takes(p) {
		t.Fatal("a large buffer released on another thread was not reused")
	}
	p = released()
	ageBig()
	if !takes(p) {
		t.Fatal("a large buffer was dropped after one collection")
	}
	p = released()
	ageBig()
	ageBig()
	if takes(p) {
		t.Fatal("a large buffer unused for two collections was kept")
	}
	p = released()
	FreeScratch()
	if takes(p) {
		t.Fatal("FreeScratch kept a large buffer")
	}
}
