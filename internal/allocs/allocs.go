// Package allocs measures what steady-state inference allocates, for the
// allocation tests: since tensor headers are not recycled (a released
// *tensor.Tensor is never handed out again, so a second Release cannot free
// a live tensor), a step allocates its result headers and nothing else.
package allocs

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// HeaderMax is the largest allocation a tensor header takes (its size
// class), in bytes.
const HeaderMax = 256

// Measure runs f runs times with garbage collection off and returns the
// allocations per run and how many of them, per run, were larger than
// HeaderMax bytes (storage, not headers).
func Measure(runs int, f func()) (perRun, largePerRun float64) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	f()
	// What the measurement itself allocates (reading the histogram) is
	// measured with nothing to run, and taken off.
	n0, l0 := measure(runs, func() {})
	n, l := measure(runs, f)
	return max(n-n0, 0), max(l-l0, 0)
}

func measure(runs int, f func()) (perRun, largePerRun float64) {
	var m0, m1 runtime.MemStats
	// ReadMemStats flushes the per-thread counts that the size histogram
	// is read from: read it after.
	runtime.ReadMemStats(&m0)
	s0 := large()
	for range runs {
		f()
	}
	runtime.ReadMemStats(&m1)
	s1 := large()
	return float64(m1.Mallocs-m0.Mallocs) / float64(runs), float64(s1-s0) / float64(runs)
}

// large returns the number of heap allocations so far above HeaderMax.
func large() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs-by-size:bytes"}}
	metrics.Read(s)
	h := s[0].Value.Float64Histogram()
	var n uint64
	for i, c := range h.Counts {
		// Bucket i holds sizes in [Buckets[i], Buckets[i+1]).
		if h.Buckets[i] >= HeaderMax {
			n += c
		}
	}
	return n
}
