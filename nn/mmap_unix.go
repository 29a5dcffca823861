//go:build unix

package nn

import (
	"os"
	"syscall"
)

// mapFile maps a file read-only. Empty files map to an empty slice.
func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	if size == 0 {
		return []byte{}, nil, nil
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		// Fall back to reading (e.g. file systems without mmap support).
		return readAll(f, size)
	}
	return b, func() error { return syscall.Munmap(b) }, nil
}
