//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"
)

// allocator is a device's caching allocator: freed blocks are kept in
// free lists by size class and handed out again, so that steady-state
// inference (which releases its intermediates) calls cuMemAlloc only at
// first. Reuse is safe without events because all of a device's work runs
// in order on one stream: a block's next user is queued after its last.
type allocator struct {
	c  ctx
	mu sync.Mutex
	// free holds cached blocks by size; live the size of every block
	// handed out, by address.
	free          map[int64][]uintptr
	live          map[uintptr]int64
	inUse, cached int64
	closed        bool
}

func newAllocator(c ctx) *allocator {
	return &allocator{c: c, free: map[int64][]uintptr{}, live: map[uintptr]int64{}}
}

// minBlock is the smallest block (and the granularity of exact sizes).
const minBlock = 512

// classSize rounds n bytes up to its size class: four classes per power of
// two, so a recycled block wastes at most a quarter of its size.
func classSize(n int64) int64 {
	if n <= minBlock {
		return minBlock
	}
	e := bits.Len64(uint64(n - 1)) // 2^(e-1) < n ≤ 2^e
	base := int64(1) << (e - 1)
	for q := int64(1); q < 4; q++ {
		if c := base + base*q/4; c >= n {
			return (c + minBlock - 1) / minBlock * minBlock
		}
	}
	return base * 2
}

// alloc returns a block of at least n bytes (n > 0). Intermediate tensors
// get size classes; exact (weights, allocated once) gets n rounded to
// minBlock only.
func (a *allocator) alloc(n int64, exact bool) (uintptr, error) {
	size := classSize(n)
	if exact {
		size = (n + minBlock - 1) / minBlock * minBlock
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return 0, ErrClosed
	}
	if l := a.free[size]; len(l) > 0 {
		p := l[len(l)-1]
		a.free[size] = l[:len(l)-1]
		a.cached -= size
		a.live[p] = size
		a.inUse += size
		a.mu.Unlock()
		return p, nil
	}
	a.mu.Unlock()
	p, err := a.c.memAlloc(size)
	if errors.Is(err, ErrOutOfMemory) {
		// Give the cache back to the driver and try once more.
		if terr := a.trim(); terr != nil {
			return 0, terr
		}
		p, err = a.c.memAlloc(size)
	}
	if err != nil {
		if errors.Is(err, ErrOutOfMemory) {
			free, total, _ := a.c.memInfo()
			a.mu.Lock()
			inUse := a.inUse
			a.mu.Unlock()
			return 0, fmt.Errorf("%w: allocating %s (%s in use by this device, %s of %s free on the GPU)",
				ErrOutOfMemory, byteSize(size), byteSize(inUse), byteSize(free), byteSize(total))
		}
		return 0, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		a.c.memFree(p)
		return 0, ErrClosed
	}
	a.live[p] = size
	a.inUse += size
	return p, nil
}

// release returns the block at p to the cache (0, addresses not handed
// out by alloc, and releases after close, are ignored).
func (a *allocator) release(p uintptr) {
	if p == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	size, ok := a.live[p]
	if !ok || a.closed {
		return
	}
	delete(a.live, p)
	a.inUse -= size
	a.free[size] = append(a.free[size], p)
	a.cached += size
}

// freeNow returns the block at p to the driver at once instead of to the
// cache (the memory of a packed weight, which is large, of its own size,
// and freed when a model closes), after the work queued before that may
// still read it. Addresses not handed out, and frees after close, are
// ignored.
func (a *allocator) freeNow(p uintptr) error {
	a.mu.Lock()
	_, ok := a.live[p]
	closed := a.closed
	a.mu.Unlock()
	if !ok || closed {
		return nil
	}
	err := a.c.sync()
	a.mu.Lock()
	defer a.mu.Unlock()
	size, ok := a.live[p]
	if !ok || a.closed {
		return err
	}
	delete(a.live, p)
	a.inUse -= size
	if e := a.c.memFree(p); err == nil {
		err = e
	}
	return err
}

// trim frees every cached block, after the work that may still use them.
func (a *allocator) trim() error {
	if err := a.c.sync(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var first error
	for size, l := range a.free {
		for _, p := range l {
			if err := a.c.memFree(p); err != nil && first == nil {
				first = err
			}
		}
		a.cached -= size * int64(len(l))
		delete(a.free, size)
	}
	return first
}

// close frees every block, cached or live; later allocations fail.
func (a *allocator) close() error {
	first := a.c.sync()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	for _, l := range a.free {
		for _, p := range l {
			if err := a.c.memFree(p); err != nil && first == nil {
				first = err
			}
		}
	}
	for p := range a.live {
		if err := a.c.memFree(p); err != nil && first == nil {
			first = err
		}
	}
	a.free, a.live = nil, nil
	a.inUse, a.cached = 0, 0
	return first
}

func (a *allocator) stats() (inUse, cached int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inUse, a.cached
}

// byteSize formats a byte count.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
