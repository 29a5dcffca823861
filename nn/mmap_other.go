//go:build !unix

package nn

import (
	"os"

	"github.com/goformer/goformer/tensor"
)

func mapFile(f *os.File, size int64) ([]byte, func() error, error) { return readAll(f, size) }

// releaseMapped is a no-op where files are read rather than mapped.
func releaseMapped(t *tensor.Tensor) {}

func releaseMappedSlice(d []float32) {}

func releaseMappedBytes(b []byte) {}

func isMapped(t *tensor.Tensor) bool { return false }
