package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
)

var threads atomic.Int32

func init() { threads.Store(int32(runtime.GOMAXPROCS(0))) }

// SetThreads sets how many goroutines kernels may use (at least 1). It
// returns the previous value. The default is GOMAXPROCS at start-up.
func SetThreads(n int) int {
	if n < 1 {
		n = 1
	}
	return int(threads.Swap(int32(n)))
}

// Threads returns the number of goroutines kernels may use.
func Threads() int { return int(threads.Load()) }

// Parallel splits [0, n) into contiguous chunks of at least grain items and
// runs fn on them across up to Threads() goroutines, returning when all are
// done. fn must be safe to call concurrently on disjoint ranges.
func Parallel(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	workers := Threads()
	if maxw := (n + grain - 1) / grain; workers > maxw {
		workers = maxw
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := chunk; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, hi)
	}
	fn(0, min(chunk, n))
	wg.Wait()
}
