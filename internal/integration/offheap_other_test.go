//go:build !unix

package integration

// offHeapFloats falls back to the Go heap where there is no mmap.
func offHeapFloats(n int) ([]float32, func(), error) {
	return make([]float32, n), func() {}, nil
}
