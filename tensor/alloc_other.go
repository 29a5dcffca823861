//go:build !linux

package tensor

// allocWeights returns zeroed storage for n floats of constant data.
func allocWeights[T float32 | uint16 | byte](n int, owner *PackedB) []T { return make([]T, n) }

type mapping struct{}

func (m *mapping) unmap() {}
