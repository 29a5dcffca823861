//go:build linux

package tensor

import (
	"runtime"
	"syscall"
	"unsafe"
)

// allocWeights returns zeroed storage for n floats of constant data (packed
// weights). Large blocks are mapped outside the Go heap: they do not count
// towards the collector's heap goal (which would otherwise let garbage grow
// to the size of the model before a collection), and transparent huge pages
// are requested for them (fewer TLB misses while weights stream through the
// kernels). owner's cleanup unmaps the block when owner becomes unreachable.
func allocWeights[T float32 | uint16](n int, owner *PackedB) []T {
	var zero T
	size := n * int(unsafe.Sizeof(zero))
	if size < 1<<20 {
		return make([]T, n)
	}
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]T, n)
	}
	_ = syscall.Madvise(b, syscall.MADV_HUGEPAGE)
	runtime.AddCleanup(owner, func(b []byte) { _ = syscall.Munmap(b) }, b)
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
}
