//go:build linux

package tensor

import (
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// madvPopulateWrite is MADV_POPULATE_WRITE (Linux 5.14), which the syscall
// package does not name.
const madvPopulateWrite = 23

// allocWeights returns zeroed storage for n floats of constant data (packed
// weights). Large blocks are mapped outside the Go heap: they do not count
// towards the collector's heap goal (which would otherwise let garbage grow
// to the size of the model before a collection), and transparent huge pages
// are requested for them (fewer TLB misses while weights stream through the
// kernels). The block belongs to owner: owner.Free unmaps it (what a
// model's Close does); if Free is never called, owner's cleanup unmaps it
// when owner becomes unreachable.
func allocWeights[T float32 | uint16 | byte](n int, owner *PackedB) []T {
	var zero T
	size := n * int(unsafe.Sizeof(zero))
	if size < 64<<10 {
		return make([]T, n)
	}
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]T, n)
	}
	_ = syscall.Madvise(b, syscall.MADV_HUGEPAGE)
	// Fault the block in with one call (the weights are about to be
	// written whole): page by page, the faults cost packing several times
	// its copying work. Kernels before 5.14 lack MADV_POPULATE_WRITE and
	// fault the pages in as packing writes them.
	_ = syscall.Madvise(b, madvPopulateWrite)
	m := &mapping{b: b}
	owner.maps = append(owner.maps, m)
	runtime.AddCleanup(owner, (*mapping).unmap, m)
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
}

// mapping is a block of packed weights mapped outside the Go heap, unmapped
// once (by PackedB.Free or the owner's cleanup, whichever comes first).
type mapping struct {
	mu sync.Mutex
	b  []byte
}

func (m *mapping) unmap() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.b != nil {
		_ = syscall.Munmap(m.b)
		m.b = nil
	}
}
