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
// done. fn must be safe to call concurrently on disjoint ranges. Chunks are
// handed out dynamically (a few per goroutine), so a goroutine slowed down
// by other load on the machine does not hold the others up.
func Parallel(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	workers := Threads()
	maxChunks := max(1, n/grain)
	if workers > maxChunks {
		workers = maxChunks
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	chunks := min(maxChunks, 4*workers)
	var next atomic.Int32
	work := func() {
		for {
			i := int(next.Add(1)) - 1
			if i >= chunks {
				return
			}
			fn(i*n/chunks, (i+1)*n/chunks)
		}
	}
	var wg sync.WaitGroup
	for t := 1; t < workers; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
}
