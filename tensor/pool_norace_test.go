//go:build !race

package tensor

import (
	"runtime"
	"testing"
)

// TestSteadyStateAllocations is built without the race detector only: under
// it sync.Pool drops items at random, so allocation counts mean nothing.
func TestSteadyStateAllocations(t *testing.T) {
	x := New(50, 64)
	for i := range x.data {
		x.data[i] = float32(i%7) * 0.1
	}
	w := New(96, 64)
	pw, _ := PackWeight(w)
	run := func() {
		y, _ := LinearPacked(x, pw, nil)
		z, _ := Attention(y.MustReshape(1, 50, 96), y.MustReshape(1, 50, 96), y.MustReshape(1, 50, 96), AttentionOptions{Heads: 2})
		Release(z)
		Release(y)
	}
	run()
	allocs := testing.AllocsPerRun(20, run)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const reps = 20
	for i := 0; i < reps; i++ {
		run()
	}
	runtime.ReadMemStats(&after)
	perRun := (after.TotalAlloc - before.TotalAlloc) / reps
	// Tensor headers, closures and goroutines are allocated; storage (the
	// 50×96 activations, packing and score buffers) is recycled.
	if perRun > 8<<10 {
		t.Fatalf("%d bytes in %v allocations per linear+attention step", perRun, allocs)
	}
	t.Logf("%d bytes in %v allocations per step", perRun, allocs)
}
