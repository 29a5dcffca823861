//go:build !unix

package checkpoint

import (
	"os"

	"github.com/goformer/goformer/tensor"
)

// mapsFiles: checkpoint files are read into memory on this platform.
const mapsFiles = false

func mapFile(f *os.File, size int64) ([]byte, func() error, error) { return readAll(f, size) }

// ReleaseMapped is a no-op where files are read rather than mapped.
func ReleaseMapped(t *tensor.Tensor) {}

// ReleaseMappedFloats is a no-op where files are read rather than mapped.
func ReleaseMappedFloats(d []float32) {}

func releaseMappedBytes(b []byte) {}

// ReleaseMappedAround is a no-op where files are read rather than mapped.
func ReleaseMappedAround(d []float32) {}

func releaseAround(start, n uintptr) {}

func releaseMapping(b []byte) {}

// IsMapped reports false: files are read, not mapped, on this platform.
func IsMapped(t *tensor.Tensor) bool { return false }
