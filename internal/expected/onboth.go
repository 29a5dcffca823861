package expected

import (
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
