//go:build unix

package checkpoint

import (
	"os"
	"sync"
	"syscall"
	"unsafe"

	"github.com/goformer/goformer/tensor"
)

// mapsFiles: checkpoint files are memory-mapped on this platform.
const mapsFiles = true

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
	start := uintptr(unsafe.Pointer(&b[0]))
	mappings.Lock()
	mappings.m[start] = start + uintptr(len(b))
	mappings.Unlock()
	return b, func() error {
		mappings.Lock()
		defer mappings.Unlock()
		delete(mappings.m, start)
		return syscall.Munmap(b)
	}, nil
}

// mappings records the live file mappings (start → end address), so that
// the pages of a weight that has been packed into another layout can be
// dropped from memory (see ReleaseMapped).
var mappings = struct {
	sync.Mutex
	m map[uintptr]uintptr
}{m: map[uintptr]uintptr{}}

// ReleaseMapped tells the kernel that the pages of t's storage are not
// needed for now, when that storage is part of a file mapping (F32
// safetensors tensors are read zero-copy). The tensor stays valid: reading
// it again faults the pages back in from the file. It is how a layer that
// keeps its weight in packed form stops holding the checkpoint's copy in
// memory as well.
func ReleaseMapped(t *tensor.Tensor) {
	if t == nil || t.Len() == 0 || !t.IsContiguous() {
		return
	}
	ReleaseMappedFloats(t.Data())
}

// ReleaseMappedFloats is ReleaseMapped for a range of a tensor's storage
// (the signature of tensor.PackWeightWith's done callback).
func ReleaseMappedFloats(d []float32) {
	if len(d) == 0 {
		return
	}
	releaseRange(uintptr(unsafe.Pointer(&d[0])), uintptr(len(d))*4)
}

// releaseMappedBytes drops the pages of b if it lies in a file mapping.
func releaseMappedBytes(b []byte) {
	if len(b) == 0 {
		return
	}
	releaseRange(uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
}

// releaseRange drops the whole pages of [start, start+n) when the range lies
// in a live file mapping.
func releaseRange(start, n uintptr) {
	end := start + n
	page := uintptr(os.Getpagesize())
	s, e := (start+page-1)&^(page-1), end&^(page-1)
	if e <= s {
		return
	}
	mappings.Lock()
	defer mappings.Unlock()
	for ms, me := range mappings.m {
		if start >= ms && end <= me {
			syscall.Syscall(syscall.SYS_MADVISE, s, e-s, syscall.MADV_DONTNEED)
			return
		}
	}
}

// lookupBlock is the span around a looked-up row whose mapped pages
// ReleaseMappedAround drops. A fault maps more than the page it hits: the
// kernel maps the neighbours along (fault-around, 64 KiB by default), and
// with large folios in the page cache the whole folio, up to 2 MiB, aligned
// in the file. Dropping only the row's own pages would leave most of what
// the read brought in.
const lookupBlock = 2 << 20

// ReleaseMappedAround lets go of the mapped pages of the 2 MiB blocks (in
// file offsets) holding d, when d lies in a file mapping: for a few rows
// read from a large table (token embeddings looked up while decoding),
// which would otherwise accumulate in memory. The pages stay readable
// (they fault back in from the file); what else the blocks hold is only
// read again at the cost of a minor fault.
func ReleaseMappedAround(d []float32) {
	if len(d) == 0 {
		return
	}
	releaseAround(uintptr(unsafe.Pointer(&d[0])), uintptr(len(d))*4)
}

// releaseMapping drops every page of a file mapping b (the whole of it, as
// mapFile returned it).
func releaseMapping(b []byte) {
	if len(b) > 0 {
		releaseAround(uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	}
}

// releaseAround drops the lookupBlock-aligned blocks (counted from the
// start of the file) holding [start, start+n), clipped to the live mapping
// holding the range.
func releaseAround(start, n uintptr) {
	end := start + n
	page := uintptr(os.Getpagesize())
	mappings.Lock()
	defer mappings.Unlock()
	for ms, me := range mappings.m {
		if start >= ms && end <= me {
			s := ms + (start-ms)&^(lookupBlock-1)
			e := min(ms+(end-ms+lookupBlock-1)&^(lookupBlock-1), (me+page-1)&^(page-1))
			syscall.Syscall(syscall.SYS_MADVISE, s, e-s, syscall.MADV_DONTNEED)
			return
		}
	}
}

// IsMapped reports whether t's storage lies in a live file mapping, that is
// whether it was read from a checkpoint without copying.
func IsMapped(t *tensor.Tensor) bool {
	d := t.Data()
	if len(d) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(&d[0]))
	mappings.Lock()
	defer mappings.Unlock()
	for ms, me := range mappings.m {
		if start >= ms && start < me {
			return true
		}
	}
	return false
}
