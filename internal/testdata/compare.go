package testdata

import (
	"math"
	"slices"
	"testing"
)

// The comparison helpers of the parity tests. A NaN on either side counts
// as an infinite difference, so that a NaN output fails every tolerance
// check instead of slipping through a `d > tol` comparison.
//
// The tensor helpers are generic over Tensor, which *tensor.Tensor
// satisfies, so that this package does not import tensor and the tensor
// package's own tests can use it.

// Tensor is what the comparison helpers need of a tensor: *tensor.Tensor.
type Tensor[T any] interface {
	Shape() []int
	Rank() int
	Dim(i int) int
	// Contiguous returns the tensor itself or a row-major copy.
	Contiguous() T
	// Data returns the storage of a contiguous tensor, in row-major order.
	Data() []float32
}

// MaxAbsDiff returns max |a[i] − b[i]| (computed in float64) and the index
// where it occurs (-1 when both are empty). Slices of different lengths
// give +Inf and -1.
func MaxAbsDiff(a, b []float32) (float64, int) {
	if len(a) != len(b) {
		return math.Inf(1), -1
	}
	m, at := 0.0, -1
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(d) {
			return math.Inf(1), i
		}
		if d > m || at < 0 {
			m, at = d, i
		}
	}
	return m, at
}

// MaxAbsDiffRows is MaxAbsDiff over rows (of equal lengths); rows of
// different counts or lengths give +Inf.
func MaxAbsDiffRows(a, b [][]float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		d, _ := MaxAbsDiff(a[i], b[i])
		m = max(m, d)
	}
	return m
}

// TensorDiff returns max |got − want| over two tensors of the same shape
// (compared in row-major order, whatever their strides); a shape mismatch
// fails the test at once.
func TensorDiff[T Tensor[T]](tb testing.TB, name string, got, want T) float64 {
	tb.Helper()
	if !slices.Equal(got.Shape(), want.Shape()) {
		tb.Fatalf("%s: shape %v, want %v", name, got.Shape(), want.Shape())
	}
	d, _ := MaxAbsDiff(got.Contiguous().Data(), want.Contiguous().Data())
	return d
}

// RowsDiff returns max |got − want| between rows and a [N, D] tensor; a
// shape mismatch fails the test at once.
func RowsDiff[T Tensor[T]](tb testing.TB, name string, got [][]float32, want T) float64 {
	tb.Helper()
	if want.Rank() != 2 || len(got) != want.Dim(0) {
		tb.Fatalf("%s: got %d rows, want shape %v", name, len(got), want.Shape())
	}
	wd := want.Contiguous().Data()
	n := want.Dim(1)
	var m float64
	for i, row := range got {
		if len(row) != n {
			tb.Fatalf("%s: row %d has %d values, want %d", name, i, len(row), n)
		}
		d, _ := MaxAbsDiff(row, wd[i*n:(i+1)*n])
		m = max(m, d)
	}
	return m
}

// CheckClose logs max |got − want| and reports an error (the test goes
// on) when the shapes differ or the difference exceeds tol, naming where
// it is largest.
func CheckClose[T Tensor[T]](tb testing.TB, name string, got, want T, tol float64) {
	tb.Helper()
	if !slices.Equal(got.Shape(), want.Shape()) {
		tb.Errorf("%s: shape %v, want %v", name, got.Shape(), want.Shape())
		return
	}
	g, w := got.Contiguous().Data(), want.Contiguous().Data()
	m, at := MaxAbsDiff(g, w)
	tb.Logf("%s: max|Δ| = %.3g", name, m)
	if !(m <= tol) {
		tb.Errorf("%s: max|Δ| = %.3g at flat index %d (got %g, want %g), tolerance %g", name, m, at, g[at], w[at], tol)
	}
}

// MaxAbs returns max |x[i]| (+Inf when some x[i] is NaN).
func MaxAbs(x []float32) float64 {
	var m float64
	for _, v := range x {
		a := math.Abs(float64(v))
		if math.IsNaN(a) {
			return math.Inf(1)
		}
		m = max(m, a)
	}
	return m
}

// RelDiff returns max |got − want| / max |want| over two tensors of the
// same shape (a shape mismatch fails the test at once): the error relative
// to the scale of the reference.
func RelDiff[T Tensor[T]](tb testing.TB, name string, got, want T) float64 {
	tb.Helper()
	return TensorDiff(tb, name, got, want) / MaxAbs(want.Contiguous().Data())
}
