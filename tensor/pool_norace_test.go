//go:build !race && !goformer_checkrelease

package tensor

import (
	"runtime/debug"
	"testing"
)

// TestSteadyStateAllocations is built without the race detector (under it
// sync.Pool drops items at random) and without goformer_checkrelease (which
// stops released headers from being reused).
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
	// No garbage collection may empty the pools during the measurement.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	run()
	// Tensor storage, headers and the parallel loops' jobs are all
	// recycled. (A garbage collection empties the pools, which costs a few
	// allocations once; AllocsPerRun averages over the runs.)
	allocs := testing.AllocsPerRun(50, run)
	if allocs != 0 {
		t.Fatalf("%v allocations per linear+attention+layer norm+softmax+GELU step, want 0", allocs)
	}
}
