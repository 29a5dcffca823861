package expected

import (
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/goformer/goformer/tensor"
)

// OnBoth runs call with host, a model on the host, and then (as OnDevice)
// with dev, the same model on device d, failing tb on an error. It returns
// the host's result (want), the device's (got) and the transfers the device
// call made, for the caller to compare as its results require.
func OnBoth[M, T any](tb testing.TB, d *tensor.Device, what string, host, dev M, call func(M) (T, error)) (want, got T, tr tensor.Transfers) {
	tb.Helper()
	want, err := call(host)
	if err != nil {
		tb.Fatalf("%s on the host: %v", what, err)
	}
	tr = OnDevice(tb, d, what, func() (err error) {
		got, err = call(dev)
		return err
	})
	return want, got, tr
}

// Same runs call with a and then with b, two models that must agree
// (built two ways, or before and after a change), failing tb on an error
// or unless the results are equal (reflect.DeepEqual). It returns a's.
func Same[M, T any](tb testing.TB, what string, a, b M, call func(M) (T, error)) T {
	tb.Helper()
	want, got := callBoth(tb, what, a, b, call)
	if !reflect.DeepEqual(got, want) {
		tb.Fatalf("%s: %v, want %v", what, got, want)
	}
	return want
}

// SameValues is Same for calls that return host tensors: the shapes and
// the values must be identical, bit for bit. It returns a's tensor.
func SameValues[M any](tb testing.TB, what string, a, b M, call func(M) (*tensor.Tensor, error)) *tensor.Tensor {
	tb.Helper()
	want, got := callBoth(tb, what, a, b, call)
	if !slices.Equal(got.Shape(), want.Shape()) {
		tb.Fatalf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
	}
	wd, gd := want.Contiguous().Data(), got.Contiguous().Data()
	for i := range wd {
		if math.Float32bits(wd[i]) != math.Float32bits(gd[i]) {
			tb.Fatalf("%s: element %d = %v, want %v", what, i, gd[i], wd[i])
		}
	}
	return want
}

func callBoth[M, T any](tb testing.TB, what string, a, b M, call func(M) (T, error)) (want, got T) {
	tb.Helper()
	want, err := call(a)
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	if got, err = call(b); err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	return want, got
}
