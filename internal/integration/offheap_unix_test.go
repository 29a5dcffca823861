//go:build unix

package integration

import (
	"syscall"
	"unsafe"
)

// offHeapFloats returns n float32s in an anonymous memory mapping, outside
// the Go heap (as PCM a program memory-maps from a raw file would be), and
// the function that unmaps them.
func offHeapFloats(n int) ([]float32, func(), error) {
	b, err := syscall.Mmap(-1, 0, 4*n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, nil, err
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n), func() { syscall.Munmap(b) }, nil
}
