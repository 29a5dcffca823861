// Package expected reads the reference tensors of the shared fixtures
// (fixtures/<name>/expected.safetensors) for the parity tests, and compares
// what a model computes on a device with what it computes on the host for
// the device tests; it also makes the seeded random tensors of the tests'
// synthetic checkpoints (Uniform, Normal).
//
// It imports checkpoint and tensor, so the tests inside those two packages
// cannot use it; every package above them can.
package expected

import (
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// Path returns fixtures/<fixture>/expected.safetensors, skipping the test
// like testdata.Fixture when the fixture is missing.
func Path(tb testing.TB, fixture string) string {
	tb.Helper()
	return filepath.Join(testdata.Fixture(tb, fixture), "expected.safetensors")
}

// Tensor returns a copy of tensor name of the fixture's
// expected.safetensors, as float32.
func Tensor(tb testing.TB, fixture, name string) *tensor.Tensor {
	tb.Helper()
	return Read(tb, Path(tb, fixture), name)
}

// Read returns a copy of tensor name of the safetensors file at path, as
// float32 (the copy outlives the file's mapping).
func Read(tb testing.TB, path, name string) *tensor.Tensor {
	tb.Helper()
	s := open(tb, path)
	x, err := s.Tensor(name)
	if err != nil {
		tb.Fatal(err)
	}
	return x.Clone()
}

// Int64s returns the values and shape of integer tensor name of the
// safetensors file at path.
func Int64s(tb testing.TB, path, name string) ([]int64, []int) {
	tb.Helper()
	v, shape, err := open(tb, path).Int64s(name)
	if err != nil {
		tb.Fatal(err)
	}
	return v, shape
}

// Has reports whether the safetensors file at path holds tensor name.
func Has(tb testing.TB, path, name string) bool {
	tb.Helper()
	_, ok := open(tb, path).Info(name)
	return ok
}

// open opens a safetensors file for the rest of the test.
func open(tb testing.TB, path string) *checkpoint.Safetensors {
	tb.Helper()
	s, err := checkpoint.OpenSafetensors(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}
